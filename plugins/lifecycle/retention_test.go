package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/lifecycle"
	"github.com/cxgate/cxgate/server/servertest"
	"github.com/cxgate/cxgate/store"
)

// testClock is a clock the test moves by hand.
type testClock struct{ ms atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ms.Store(time.Now().UnixMilli())
	return c
}

func (c *testClock) Now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// retentionConfig is the demo with retention on both deployments.
func retentionConfig(chats, files time.Duration) *config.Config {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	for i := range cfg.Deployments {
		cfg.Deployments[i].Retention = config.Retention{Chats: config.Period(chats), Files: config.Period(files)}
	}
	return &cfg
}

// startGateway runs the demo with retention and a hand-moved clock; sweeps
// run when the test calls them (and once at start).
func startGateway(t testing.TB, clock *testClock, cfg *config.Config, noSync bool) *servertest.Gateway {
	return servertest.Start(t, servertest.Options{Config: cfg, Now: clock.Now, NoSync: noSync,
		Lifecycle: lifecycle.Options{Interval: 24 * time.Hour}})
}

func sweep(t testing.TB, gw *servertest.Gateway) store.Removed {
	t.Helper()
	r, err := gw.Data().Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRetention moves the clock past a deployment's retention: a live chat
// and an async conversation older than it disappear with everything that
// referred to them, a recent chat stays, and a file older than the files
// retention loses its content but keeps its event.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	gw := startGateway(t, clock, retentionConfig(time.Hour, 30*time.Minute), false)
	guest := wiretest.NewHTTP(t, gw.URL)
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	empty, _ := gw.Store().KeyCounts()

	// t0: a live chat with a file, ended; an async conversation, resolved.
	var a, b, c started
	guest.WithDeployment("demo").Command("WebChatService.startChat", map[string]any{"nickname": "Ada"}).Into(t, &a)
	va := guest.WithToken(a.Token)
	va.Command("WebChatService.sendMessage", map[string]string{"message": "hello"}).Resolved(t)
	fileA := uploadFile(t, gw, a.Token, []byte("Ada's file"))
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		ch, _ := gw.Store().Chat(ctx, a.ChatID)
		return ch.State == model.StateActive
	})
	va.Command("WebChatService.endChat", nil).Resolved(t)
	guest.WithDeployment("demo-async").Command("WebChatService.startChat", map[string]any{"nickname": "Ben"}).Into(t, &b)
	guest.WithToken(b.Token).Command("WebChatService.sendMessage", map[string]string{"message": "my parcel"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		ch, _ := gw.Store().Chat(ctx, b.ChatID)
		return ch.State == model.StateActive
	})
	ann.Command("AgentService.resolveChat", map[string]string{"chatId": b.ChatID, "disposition": "answered"}).Resolved(t)

	// t0+45m: the async thread closes; the file is past its retention, the
	// chats are not.
	clock.Advance(45 * time.Minute)
	gw.Engine().SweepIdle(ctx)
	if r := sweep(t, gw); r.Chats != 0 || r.Expired != 1 {
		t.Errorf("sweep at +45m removed %+v, want one file's content only", r)
	}
	if _, _, err := gw.Store().FileContent(ctx, fileA); !errors.Is(err, model.ErrExpired) {
		t.Errorf("file after its retention: %v, want ErrExpired", err)
	}
	status, body := get(t, gw.URL+"/v1/files/"+fileA+"?chatId="+a.ChatID, gw.AgentToken)
	if status != http.StatusGone || !contains(body, "file_expired") {
		t.Errorf("download of an expired file: HTTP %d %s", status, body)
	}
	evs, _ := gw.Store().EventsAfter(ctx, a.ChatID, 0, 100)
	if !hasType(evs, model.EventFileUploaded) {
		t.Errorf("the expired file's event is gone: %+v", evs)
	}
	// The ended chat's token expired with the restore window (60 s).
	if r := va.Command("WebChatService.getTranscript", nil); r.HTTPStatus != http.StatusUnauthorized {
		t.Errorf("token of a chat ended 45 min ago: HTTP %d %s", r.HTTPStatus, r.Body)
	}

	// t0+100m: a new chat, ended at once.
	clock.Advance(55 * time.Minute)
	guest.WithDeployment("demo").Command("WebChatService.startChat", map[string]any{"nickname": "Cy"}).Into(t, &c)
	guest.WithToken(c.Token).Command("WebChatService.endChat", nil).Resolved(t)

	// t0+120m: the first two are past retention, the new one is not.
	clock.Advance(20 * time.Minute)
	r := sweep(t, gw)
	if r.Chats != 2 || r.Files != 1 || r.Identities != 2 || r.Tokens != 2 {
		t.Errorf("sweep at +120m removed %+v, want 2 chats, their file and identities, 2 tokens (one of them the new chat's, expired)", r)
	}
	for _, id := range []string{a.ChatID, b.ChatID} {
		if _, err := gw.Store().Chat(ctx, id); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("chat %s past retention: %v", id, err)
		}
		if r := ann.Command("AgentService.getTranscript", map[string]string{"chatId": id}); r.HTTPStatus != http.StatusNotFound {
			t.Errorf("agent transcript of %s: HTTP %d %s", id, r.HTTPStatus, r.Body)
		}
	}
	for _, id := range []string{a.ParticipantID, b.ParticipantID} {
		if r := rest(t, gw, http.MethodGet, "/v1/admin/identities/"+id+"/export"); r.HTTPStatus != http.StatusNotFound {
			t.Errorf("export of %s: HTTP %d %s", id, r.HTTPStatus, r.Body)
		}
	}
	cc, err := gw.Store().Chat(ctx, c.ChatID)
	if err != nil {
		t.Fatalf("recent chat: %v", err)
	}
	// What is left is the recent chat; its token expired too.
	counts, _ := gw.Store().KeyCounts()
	for name, n := range map[string]int{"chats": 1, "log": int(cc.LastSeq), "open": 0, "files": 0, "file_data": 0,
		"tokens": 0, "chat_refs": 0, "starts": 0, "identities": 1, "identity_chats": 1, "purge": 0} {
		if got := counts[name] - empty[name]; got != n {
			t.Errorf("bucket %s: %d keys, want %d", name, got, n)
		}
	}
	if st := gw.Data().Stats(); st.Retention.Chats != 2 {
		t.Errorf("stats: %+v", st)
	}
	status, body = get(t, gw.URL+"/metrics", "")
	if status != http.StatusOK || !contains(body, `cxgate_retention_deleted_total{kind="chats"} 2`) || !contains(body, "cxgate_store_bytes ") {
		t.Errorf("metrics: HTTP %d, no retention or store size series", status)
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

func hasType(evs []model.Event, typ model.EventType) bool {
	for _, ev := range evs {
		if ev.Type == typ {
			return true
		}
	}
	return false
}

// TestSoak starts and ends chats round after round under a one-minute
// retention, the clock moving 30 s a round, sweeping after each: the keys
// of every bucket stay bounded. It drives the engine directly (no HTTP) to
// stay short: 10,000 chats by default; CXGATE_SOAK_CHATS=100000 runs the
// issue's full count.
func TestSoak(t *testing.T) {
	total := 10_000
	if v := os.Getenv("CXGATE_SOAK_CHATS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("CXGATE_SOAK_CHATS=%q: a number of chats, at least 1000", v)
		}
		total = n
	}
	if testing.Short() {
		total = 2000
	}
	const perRound = 500
	ctx := context.Background()
	clock := newTestClock()
	gw := startGateway(t, clock, retentionConfig(time.Minute, 0), true)
	e := gw.Engine()
	var peak map[string]int // the most keys of each bucket in the first rounds
	var worst map[string]int
	var sizeEarly, sizeLate int64 // the store file's size
	rounds := total / perRound
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, perRound)
		jobs := make(chan int)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					st, err := e.Start(ctx, engine.StartRequest{Deployment: "demo", Visitor: model.Profile{Nickname: fmt.Sprint("v", i)}})
					if err == nil && i%4 == 0 {
						_, err = e.IssueToken(ctx, st.Chat) // a restore on another device
					}
					if err == nil {
						_, err = e.End(ctx, st.Chat.ID, model.Party{Type: model.PartyClient}, "visitor")
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		for i := range perRound {
			jobs <- round*perRound + i
		}
		close(jobs)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
		sweep(t, gw)
		counts, err := gw.Store().KeyCounts()
		if err != nil {
			t.Fatal(err)
		}
		target, size := &worst, &sizeLate
		if round < 4 {
			target, size = &peak, &sizeEarly
		}
		if n, err := gw.Store().Size(); err == nil {
			*size = max(*size, n)
		}
		if *target == nil {
			*target = map[string]int{}
		}
		for name, n := range counts {
			(*target)[name] = max((*target)[name], n)
		}
	}
	t.Logf("%d chats in %d rounds; keys per bucket, most in the first 4 rounds %v, most after %v", rounds*perRound, rounds, peak, worst)
	t.Logf("store file: at most %d bytes in the first 4 rounds, %d after (freed pages are reused)", sizeEarly, sizeLate)
	for name, n := range worst {
		if n > peak[name] {
			t.Errorf("bucket %s grew: %d keys after the first rounds, at most %d in them", name, n, peak[name])
		}
	}
	if worst["chats"] > 3*perRound {
		t.Errorf("chats bucket: %d keys, want at most the last minute's (%d)", worst["chats"], 3*perRound)
	}
}

// TestRetention_AdminAPI sets a deployment's retention over the admin API:
// it reads back in days, is in force for the next sweep, and a bad period
// is refused.
func TestRetention_AdminAPI(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	admin := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AdminToken)
	put := func(body string) wiretest.Reply {
		req, _ := http.NewRequest(http.MethodPut, gw.URL+"/v1/admin/deployments/demo", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return admin.Do(req)
	}
	var d map[string]any
	rest(t, gw, http.MethodGet, "/v1/admin/deployments/demo").Into(t, &d)
	if _, ok := d["retention"]; ok {
		t.Errorf("a deployment without retention shows %v", d["retention"])
	}
	put(`{"queue":"support","origins":["*"],"retention":{"chats":"365d","files":"36h"}}`).Into(t, &d)
	if r, _ := d["retention"].(map[string]any); r["chats"] != "365d" || r["files"] != "36h0m0s" {
		t.Errorf("retention reads back as %v", d["retention"])
	}
	if got := gw.Engine().Retention("demo"); got.Chats != 365*24*time.Hour || got.Files != 36*time.Hour || got.Restore != time.Minute {
		t.Errorf("retention in force: %+v", got)
	}
	if r := put(`{"queue":"support","retention":{"chats":"a year"}}`); r.HTTPStatus != http.StatusBadRequest {
		t.Errorf("a bad period: HTTP %d %s", r.HTTPStatus, r.Body)
	}
}

// TestRetention_LeftMessages moves the clock past retention.chats: a left
// message goes when its answer, or its creation while unanswered, is older,
// one message per sweep step; an identity stays while it has a message
// left, even once its chats are gone, and goes with its last one.
func TestRetention_LeftMessages(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	gw := servertest.Start(t, servertest.Options{Config: retentionConfig(time.Hour, 0), Now: clock.Now,
		Lifecycle: lifecycle.Options{Interval: 24 * time.Hour, Scan: 1}})
	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	empty, _ := gw.Store().KeyCounts()

	// t0: Ada leaves a message; Ben has an async conversation, resolved.
	ada := leave(t, guest, "", "Ada's message")
	var ben started
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Ben"}).Into(t, &ben)
	guest.WithToken(ben.Token).Command("WebChatService.sendMessage", map[string]string{"message": "my parcel"}).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		ch, _ := gw.Store().Chat(ctx, ben.ChatID)
		return ch.State == model.StateActive
	})
	ann.Command("AgentService.resolveChat", map[string]string{"chatId": ben.ChatID, "disposition": "answered"}).Resolved(t)

	// t0+30m: Ben, as the same identity, and Cy leave one each. t0+45m:
	// Ben's thread closes.
	clock.Advance(30 * time.Minute)
	benLeft := leave(t, guest, ben.IdentityToken, "Ben's message")
	cy := leave(t, guest, "", "Cy's message")
	clock.Advance(15 * time.Minute)
	gw.Engine().SweepIdle(ctx)

	// t0+70m: Ada's message, unanswered for longer than an hour, goes
	// with her identity; the others stay.
	clock.Advance(25 * time.Minute)
	if r := sweep(t, gw); r.LeftMessages != 1 || r.Identities != 1 || r.Chats != 0 {
		t.Errorf("sweep at +70m removed %+v, want Ada's message and identity", r)
	}
	if _, err := gw.Store().LeftMessage(ctx, ada.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Ada's message past retention: %v", err)
	}
	if ids := leftIDs(t, guest, ada.IdentityToken); len(ids) != 0 {
		t.Errorf("Ada's list past retention: %v", ids)
	}
	if got := agentListed(t, ann, ada.ID, benLeft.ID, cy.ID); got[ada.ID] || !got[benLeft.ID] || !got[cy.ID] {
		t.Errorf("AgentService.listMessages at +70m shows %v, want Ben's and Cy's", got)
	}

	// t0+80m: Ben's message is answered. t0+125m: Ben's conversation and
	// Cy's message (left at +30m) are past retention; Ben's message, left
	// at +30m too but answered at +80m, is not, and keeps his identity.
	clock.Advance(10 * time.Minute)
	ann.Command("AgentService.answerMessage", map[string]string{"id": benLeft.ID, "message": "On its way"}).Resolved(t)
	clock.Advance(45 * time.Minute)
	if r := sweep(t, gw); r.Chats != 1 || r.LeftMessages != 1 || r.Identities != 1 {
		t.Errorf("sweep at +125m removed %+v, want Ben's chat, Cy's message and identity", r)
	}
	if _, err := gw.Store().Chat(ctx, ben.ChatID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Ben's chat past retention: %v", err)
	}
	if ids := leftIDs(t, guest, ben.IdentityToken); len(ids) != 1 || ids[0] != benLeft.ID {
		t.Errorf("Ben's list with his chat gone: %v", ids)
	}
	var ex lifecycle.Export
	rest(t, gw, http.MethodGet, "/v1/admin/identities/"+ben.ParticipantID+"/export").Into(t, &ex)
	if ex.Identity == nil || len(ex.Chats) != 0 || len(ex.LeftMessages) != 1 {
		t.Errorf("Ben's export with his chat gone: %+v", ex)
	}

	// t0+150m: Ben's answer is older than an hour: his message and
	// identity go, and nothing of them is left in any bucket.
	clock.Advance(25 * time.Minute)
	if r := sweep(t, gw); r.LeftMessages != 1 || r.Identities != 1 {
		t.Errorf("sweep at +150m removed %+v, want Ben's message and identity", r)
	}
	if ids := leftIDs(t, guest, ben.IdentityToken); len(ids) != 0 {
		t.Errorf("Ben's list past retention: %v", ids)
	}
	counts, _ := gw.Store().KeyCounts()
	for _, name := range []string{"left_messages", "left_open", "left_answered", "identity_left", "identities", "chats"} {
		if counts[name] != empty[name] {
			t.Errorf("bucket %s: %d keys, %d before any message", name, counts[name], empty[name])
		}
	}
	if st := gw.Data().Stats(); st.Retention.LeftMessages != 3 {
		t.Errorf("stats: %+v", st.Retention)
	}
	if status, body := get(t, gw.URL+"/metrics", ""); !contains(body, `cxgate_retention_deleted_total{kind="left_messages"} 3`) {
		t.Errorf("metrics: HTTP %d, no left_messages series", status)
	}
}
