package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server"
	"github.com/cxgate/cxgate/store"
)

const retentionConfig = `
adminToken: "test-admin-token"
limits: {ratePerToken: -1, ratePerIP: -1}
deployments:
  - {key: demo, mode: live, queue: support, origins: ["*"], retention: {chats: 1h, files: 1d}}
queues:
  - {name: support}
agents:
  - {id: ann, name: Ann, token: "ann-secret"}
`

// seededChat is what the test wrote of one chat.
type seededChat struct {
	id    string
	old   bool // past retention
	file  string
	big   bool
	event int // events written
}

// seedStore writes old ended chats (past a 1-hour retention) and recent
// open ones straight into a store file, as a gateway would have.
func seedStore(t *testing.T, path string, old, recent int) []seededChat {
	t.Helper()
	s, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	then, now := time.Now().Add(-3*time.Hour).UnixMilli(), time.Now().UnixMilli()
	chats := make([]seededChat, 0, old+recent)
	for i := range old + recent {
		c := seededChat{id: fmt.Sprintf("chat-%05d", i), old: i < old}
		if c.old && i%10 == 0 {
			c.file = "file-" + c.id
		}
		c.big = i == 7 // beyond what one sweep write deletes
		chats = append(chats, c)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := seedChat(ctx, s, &chats[i], then, now); err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range chats {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return chats
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func seedChat(ctx context.Context, s *store.Store, c *seededChat, then, now int64) error {
	at := now
	if c.old {
		at = then
	}
	client := model.Party{ID: "idn-" + c.id, Type: model.PartyClient}
	_, _, err := s.CreateChat(ctx, model.NewChat{
		Chat: model.Chat{ID: c.id, Deployment: "demo", Mode: "live", State: model.StateQueued, IdentityID: "idn-" + c.id,
			CreatedAt: at, LastActivity: at},
		Identity:  &model.Identity{ID: "idn-" + c.id, Profile: model.Profile{Nickname: "v" + c.id}, CreatedAt: at},
		TokenHash: model.HashToken("tok-" + c.id), StartKey: "start-" + c.id,
		Events: []model.Event{{Type: model.EventParticipantJoined, From: client, Time: at}},
	})
	if err != nil {
		return err
	}
	c.event = 1
	n := 8
	if c.big {
		n = 6000
	}
	for i := 0; i < n; i += 1000 {
		var evs []model.Event
		for j := i; j < min(n, i+1000); j++ {
			evs = append(evs, model.Event{Type: model.EventMessage, From: client, Text: "message " + strconv.Itoa(j), Time: at})
		}
		if _, _, _, err := s.Mutate(ctx, c.id, "", func(*model.Chat) ([]model.Event, error) { return evs, nil }); err != nil {
			return err
		}
		c.event += len(evs)
	}
	if c.file != "" {
		data, _ := json.Marshal(map[string]string{"file-id": c.file, "file-name": "a.txt"})
		_, _, _, err := s.AddFile(ctx, c.id, "", model.File{ID: c.file, Name: "a.txt", Type: "text/plain", Time: at}, []byte("content of "+c.file),
			func(*model.Chat) ([]model.Event, error) {
				return []model.Event{{Type: model.EventFileUploaded, From: client, Time: at, Data: data}}, nil
			})
		if err != nil {
			return err
		}
		c.event++
	}
	if c.old {
		_, _, _, err := s.Mutate(ctx, c.id, "", func(ch *model.Chat) ([]model.Event, error) {
			ch.State, ch.EndedAt = model.StateEnded, at
			return []model.Event{{Type: model.EventChatEnded, Time: at}}, nil
		})
		if err != nil {
			return err
		}
		c.event++
	}
	return nil
}

// metric reads one sample of the gateway's /metrics; -1 when absent.
func metric(base, series string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// checkChats checks that every seeded chat is whole or gone, and returns
// how many of the old ones are whole and how many events the whole ones
// hold.
func checkChats(t *testing.T, s *store.Store, chats []seededChat) (oldWhole, events int) {
	t.Helper()
	ctx := context.Background()
	for _, c := range chats {
		ch, err := s.Chat(ctx, c.id)
		_, tokErr := s.LookupToken(ctx, model.HashToken("tok-"+c.id))
		_, idnErr := s.Identity(ctx, "idn-"+c.id)
		list, _ := s.ChatsOfIdentity(ctx, "idn-"+c.id)
		var fileErr error
		if c.file != "" {
			_, _, fileErr = s.FileContent(ctx, c.file)
		}
		switch {
		case err == nil:
			evs, err := s.EventsAfter(ctx, c.id, 0, 10_000)
			if err != nil || len(evs) != c.event || ch.LastSeq != uint64(c.event) || tokErr != nil || idnErr != nil ||
				len(list) != 1 || fileErr != nil {
				t.Errorf("chat %s is not whole: %d events of %d, last seq %d, token %v, identity %v, index %d, file %v",
					c.id, len(evs), c.event, ch.LastSeq, tokErr, idnErr, len(list), fileErr)
			}
			if c.old {
				oldWhole++
			}
			events += c.event
		case errors.Is(err, model.ErrNotFound):
			if !c.old {
				t.Errorf("recent chat %s was deleted", c.id)
			}
			if !errors.Is(tokErr, model.ErrNotFound) || !errors.Is(idnErr, model.ErrNotFound) || len(list) != 0 ||
				c.file != "" && !errors.Is(fileErr, model.ErrNotFound) {
				t.Errorf("chat %s is half gone: token %v, identity %v, index %d, file %v", c.id, tokErr, idnErr, len(list), fileErr)
			}
			if _, err := s.EventsAfter(ctx, c.id, 0, 1); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("events of deleted chat %s: %v", c.id, err)
			}
		default:
			t.Fatalf("chat %s: %v", c.id, err)
		}
	}
	return oldWhole, events
}

// TestKill9MidSweep kills the real binary with SIGKILL in the middle of a
// retention sweep: every chat is then whole or gone, the file passes
// bbolt's consistency check, and a restarted gateway finishes the job,
// leaving only the recent chats.
func TestKill9MidSweep(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	path := filepath.Join(data, server.DBFile)
	start := time.Now()
	chats := seedStore(t, path, 3000, 200)
	t.Logf("seeded in %v", time.Since(start).Round(time.Millisecond))

	// The pause between sweep steps (test only) makes the pass last long
	// enough to be caught in the middle.
	g := startBinaryWith(t, bin, data, retentionConfig, "CXGATE_TEST_SWEEP_PAUSE=40ms")
	deadline := time.Now().Add(30 * time.Second)
	for metric(g.base, `cxgate_retention_deleted_total{kind="chats"}`) < 1000 {
		if time.Now().After(deadline) {
			t.Fatal("the sweep deleted fewer than 1000 chats within 30 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = g.cmd.Wait()

	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("bbolt consistency after kill -9: %v", err)
	}
	oldWhole, events := checkChats(t, s, chats)
	counts, _ := s.KeyCounts()
	t.Logf("after the kill: %d of 3000 old chats whole; keys %v", oldWhole, counts)
	if oldWhole == 0 || oldWhole == 3000 {
		t.Fatalf("%d old chats whole: the kill did not land in the middle of the sweep", oldWhole)
	}
	// Events of a deleted chat are left only under a purge marker (a chat
	// too long for one write).
	if counts["purge"] == 0 && counts["log"] != events {
		t.Errorf("log holds %d events, the whole chats %d, and no purge is pending", counts["log"], events)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart sweeps at once and finishes.
	start = time.Now()
	g = startBinaryWith(t, bin, data, retentionConfig)
	deadline = time.Now().Add(30 * time.Second)
	for metric(g.base, "cxgate_retention_passes_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no sweep pass completed within 30 s of the restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("restarted and swept in %v", time.Since(start).Round(time.Millisecond))
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = g.cmd.Wait()
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("bbolt consistency after the sweep: %v", err)
	}
	if oldWhole, _ := checkChats(t, s, chats); oldWhole != 0 {
		t.Errorf("%d old chats left after a full pass", oldWhole)
	}
	counts, _ = s.KeyCounts()
	for name, n := range map[string]int{"chats": 200, "log": 200 * 9, "tokens": 200, "starts": 200, "chat_refs": 400,
		"identities": 200, "identity_chats": 200, "open": 200, "files": 0, "file_data": 0, "purge": 0} {
		if counts[name] != n {
			t.Errorf("bucket %s: %d keys, want %d", name, counts[name], n)
		}
	}
}
