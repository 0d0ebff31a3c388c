package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
)

// ChatWriter writes chats and their files, as LifecycleChat does.
type ChatWriter interface {
	CreateChat(ctx context.Context, n model.NewChat) (c model.Chat, existing bool, err error)
	Mutate(ctx context.Context, id, requestID string, fn model.MutateFunc) (c model.Chat, evs []model.Event, replayed bool, err error)
	AddFile(ctx context.Context, chatID, requestID string, f model.File, content []byte, fn model.MutateFunc) (model.Chat, []model.Event, bool, error)
}

// SweepNow is the clock of the sweep tests: chats are written relative to it.
var SweepNow = time.UnixMilli(1_800_000_000_000)

// Ago is d before SweepNow, in unix ms.
func Ago(d time.Duration) int64 { return SweepNow.Add(-d).UnixMilli() }

// LifecycleChat writes a chat of deployment dep whose events are all at
// time at, with an identity, a token, a start key, n messages and files
// files; end ends it at that time.
func LifecycleChat(t testing.TB, s ChatWriter, id, dep string, mode model.Mode, at int64, n, files int, end bool) {
	t.Helper()
	ctx := context.Background()
	c := model.Chat{ID: id, Deployment: dep, Mode: mode, State: model.StateQueued, IdentityID: "idn-" + id,
		CreatedAt: at, LastActivity: at}
	_, _, err := s.CreateChat(ctx, model.NewChat{Chat: c, TokenHash: model.HashToken("tok-" + id), StartKey: "start-" + id,
		Identity: &model.Identity{ID: "idn-" + id, CreatedAt: at},
		Events:   []model.Event{{Type: model.EventParticipantJoined, From: model.Party{Type: model.PartyClient}, Time: at}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 500 {
		var evs []model.Event
		for j := i; j < min(n, i+500); j++ {
			evs = append(evs, model.Event{Type: model.EventMessage, From: model.Party{Type: model.PartyClient}, Text: fmt.Sprint(j), Time: at})
		}
		if _, _, _, err := s.Mutate(ctx, id, "", appendFn(evs...)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range files {
		fid := fmt.Sprintf("%s-file%d", id, i)
		data, _ := json.Marshal(map[string]any{"file-id": fid, "file-name": "a.txt"})
		_, _, _, err := s.AddFile(ctx, id, "", model.File{ID: fid, Name: "a.txt", Time: at}, []byte("content of "+fid),
			appendFn(model.Event{Type: model.EventFileUploaded, From: model.Party{Type: model.PartyClient}, Time: at, Data: data}))
		if err != nil {
			t.Fatal(err)
		}
	}
	if end {
		_, _, _, err := s.Mutate(ctx, id, "", func(c *model.Chat) ([]model.Event, error) {
			c.State, c.EndedAt = model.StateEnded, at
			return []model.Event{{Type: model.EventChatEnded, Time: at}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// sweepAll runs SweepChats and ExpireFiles passes until one removes nothing.
func sweepAll(t testing.TB, s Store, p model.SweepPolicy, scan int) model.Removed {
	t.Helper()
	ctx := context.Background()
	var total model.Removed
	for {
		var pass model.Removed
		for after := ""; ; {
			next, r, err := s.SweepChats(ctx, p, after, scan)
			if err != nil {
				t.Fatal(err)
			}
			pass.Add(r)
			if after = next; after == "" {
				break
			}
		}
		for after := ""; ; {
			next, r, err := s.ExpireFiles(ctx, p, after, scan)
			if err != nil {
				t.Fatal(err)
			}
			pass.Add(r)
			if after = next; after == "" {
				break
			}
		}
		total.Add(pass)
		if pass.IsZero() {
			return total
		}
	}
}

func policy(ret map[string]model.Retention) model.SweepPolicy {
	return model.SweepPolicy{Now: SweepNow, Retention: func(dep string) model.Retention { return ret[dep] }}
}

func mustGone(t testing.TB, s Store, id string, files int) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Chat(ctx, id); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("chat %s: err = %v, want ErrNotFound", id, err)
	}
	if _, err := s.EventsAfter(ctx, id, 0, 10); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("events of %s: err = %v, want ErrNotFound", id, err)
	}
	if _, err := s.LookupToken(ctx, model.HashToken("tok-"+id)); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("token of %s: err = %v, want ErrNotFound", id, err)
	}
	if _, err := s.Identity(ctx, "idn-"+id); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("identity of %s: err = %v, want ErrNotFound", id, err)
	}
	if cs, err := s.ChatsOfIdentity(ctx, "idn-"+id); err != nil || len(cs) != 0 {
		t.Errorf("chats of identity of %s: %v, %v", id, cs, err)
	}
	for i := range files {
		if _, _, err := s.FileContent(ctx, fmt.Sprintf("%s-file%d", id, i)); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("file %d of %s: err = %v, want ErrNotFound", i, id, err)
		}
	}
	// A retried start with the chat's start key makes a new chat.
	_, existing, err := s.CreateChat(ctx, model.NewChat{Chat: model.Chat{ID: id + "-again", Deployment: "d", Mode: "live",
		State: model.StateEnded}, StartKey: "start-" + id})
	if err != nil || existing {
		t.Errorf("start key of %s still known: existing=%v err=%v", id, existing, err)
	}
}

func testSweepChats(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	ret := map[string]model.Retention{"d": {Chats: time.Hour, Files: 30 * time.Minute, Restore: time.Minute},
		"o": {Restore: 24 * time.Hour}}
	LifecycleChat(t, s, "old", "d", "live", Ago(2*time.Hour), 3, 2, true)       // deleted
	LifecycleChat(t, s, "big", "d", "live", Ago(2*time.Hour), 9000, 1, true)    // deleted
	LifecycleChat(t, s, "dormant", "d", "async", Ago(2*time.Hour), 2, 0, false) // deleted: async, idle since
	_, _, _, err := s.Mutate(ctx, "dormant", "", func(c *model.Chat) ([]model.Event, error) { c.State = model.StateIdle; return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	LifecycleChat(t, s, "waiting", "d", "async", Ago(2*time.Hour), 2, 0, false) // stays: queued
	LifecycleChat(t, s, "recent", "d", "live", Ago(40*time.Minute), 2, 1, true) // stays; token expired, file expired
	LifecycleChat(t, s, "other", "o", "live", Ago(2*time.Hour), 2, 1, true)     // stays: no retention
	LifecycleChat(t, s, "open", "d", "live", Ago(2*time.Hour), 1, 0, false)     // stays: open; 20 tokens → 16
	for i := range 20 {
		err := s.IssueToken(ctx, model.HashToken(fmt.Sprint("open-", i)), model.Token{Kind: "visitor", ChatID: "open", CreatedAt: Ago(time.Hour) + int64(i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := sweepAll(t, s, policy(ret), 2)
	want := model.Removed{Chats: 3, Events: 7 + 9003 + 3, Files: 3, Expired: 1, Identities: 3,
		Tokens: 3 + 1 + 5, FileBytes: int64(3*len("content of old-file0") + len("content of recent-file0"))}
	if got != want {
		t.Errorf("removed %+v\nwant    %+v", got, want)
	}
	mustGone(t, s, "old", 2)
	mustGone(t, s, "big", 1)
	mustGone(t, s, "dormant", 0)
	for _, id := range []string{"waiting", "recent", "other", "open"} {
		c, err := s.Chat(ctx, id)
		if err != nil {
			t.Fatalf("chat %s: %v", id, err)
		}
		if evs, err := s.EventsAfter(ctx, id, 0, 100); err != nil || len(evs) != int(c.LastSeq) {
			t.Errorf("chat %s: %d events (%v), last seq %d", id, len(evs), err, c.LastSeq)
		}
	}
	if _, err := s.LookupToken(ctx, model.HashToken("tok-recent")); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("expired token of recent: %v, want ErrNotFound", err)
	}
	if _, err := s.LookupToken(ctx, model.HashToken("tok-other")); err != nil {
		t.Errorf("token of other (no retention, restore 0): %v", err)
	}
	for i := range 20 {
		_, err := s.LookupToken(ctx, model.HashToken(fmt.Sprint("open-", i)))
		if superseded := i < 21-b.KeepTokens-1; superseded != errors.Is(err, model.ErrNotFound) {
			t.Errorf("token %d of open: %v, superseded = %v", i, err, superseded)
		}
	}
	f, _, err := s.FileContent(ctx, "recent-file0")
	if !errors.Is(err, model.ErrExpired) || f.Expired != SweepNow.UnixMilli() || f.Name != "a.txt" {
		t.Errorf("expired file: %+v, %v", f, err)
	}
	if _, content, err := s.FileContent(ctx, "other-file0"); err != nil || len(content) == 0 {
		t.Errorf("file of other: %q, %v", content, err)
	}
	// What is left in storage is what the chats that stay hold (and the
	// chats the start keys' checks made).
	if b.SweptChats != nil {
		b.SweptChats(t, s)
	}
	// A second sweep finds only the ended chats the start keys' checks
	// made.
	if r := sweepAll(t, s, policy(ret), 100); r != (model.Removed{Chats: 3}) {
		t.Errorf("a second sweep removed %+v, want the 3 chats of the start keys' checks", r)
	}
}

// testSweepChatsSteps: a pass of steps of one chat ends with the step
// that read the last chat.
func testSweepChatsSteps(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	ret := map[string]model.Retention{"d": {Chats: time.Hour}}
	for _, id := range []string{"a", "b", "c"} {
		LifecycleChat(t, s, id, "d", "live", Ago(2*time.Hour), 0, 0, true)
	}
	steps := 0
	for after := ""; ; steps++ {
		next, _, err := s.SweepChats(ctx, policy(ret), after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if after = next; after == "" {
			break
		}
	}
	if steps != 2 {
		t.Errorf("%d steps of one chat over three, want 2 (the last one knows it reached the end)", steps)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.Chat(ctx, id); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("chat %s: %v, want ErrNotFound", id, err)
		}
	}
}

func testEraseIdentity(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := openOutbox(t, b)
	outbox := func(c *model.Chat, evs []model.Event) []model.OutboxEntry {
		var out []model.OutboxEntry
		for _, ev := range evs {
			out = append(out, model.OutboxEntry{Subscription: "w", Event: "e", EventID: fmt.Sprintf("%s:%d:e", c.ID, ev.Seq), Body: json.RawMessage(`{}`)})
		}
		return out
	}
	LifecycleChat(t, s, "a1", "d", "async", Ago(time.Hour), 3, 1, false)
	LifecycleChat(t, s, "b1", "d", "async", Ago(time.Hour), 3, 1, false)
	// a2: a second conversation of a1's identity.
	_, _, err := s.CreateChat(ctx, model.NewChat{Chat: model.Chat{ID: "a2", Deployment: "d", Mode: "async", State: model.StateQueued,
		IdentityID: "idn-a1"}, TokenHash: model.HashToken("tok-a2"),
		Events: []model.Event{{Type: model.EventParticipantJoined, From: model.Party{Type: model.PartyClient}}}})
	if err != nil {
		t.Fatal(err)
	}
	PumpWith(t, s, outbox)
	// Some of them dead: erasure deletes those too.
	for _, e := range MustList(t, s, model.OutboxPending)[:2] {
		if err := s.MoveToDead(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	pending, dead, _ := s.OutboxDepth(ctx)
	var told model.Erasure
	got, err := s.EraseIdentity(ctx, "idn-a1", func(e model.Erasure) []model.OutboxEntry {
		told = e
		return []model.OutboxEntry{{Subscription: "w", Event: "identity.erased", EventID: "idn-a1:erased", Body: json.RawMessage(`{}`)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := model.Removed{Chats: 2, Events: 5 + 1, Files: 1, FileBytes: int64(len("content of a1-file0")), Tokens: 2, Identities: 1, Deliveries: 6}
	if got.Removed != want || told.Removed != want || len(got.ChatIDs) != 2 || got.ChatIDs[0] != "a1" {
		t.Errorf("erased %+v\nwant   %+v", got, want)
	}
	mustGone(t, s, "a1", 1)
	if _, err := s.Chat(ctx, "a2"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("a2: %v", err)
	}
	if _, _, _, err := s.Mutate(ctx, "a1", "", appendFn(message("late"))); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("write to an erased chat: %v, want ErrNotFound", err)
	}
	if _, err := s.EraseIdentity(ctx, "idn-a1", nil); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("second erasure: %v, want ErrNotFound", err)
	}
	if _, err := s.EraseIdentity(ctx, "", nil); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("erasure of no identity: %v, want ErrNotFound", err)
	}
	afterPending, afterDead, _ := s.OutboxDepth(ctx)
	if afterPending+afterDead != pending+dead-6+1 {
		t.Errorf("outbox: %d pending and %d dead, want %d in all", afterPending, afterDead, pending+dead-6+1)
	}
	for _, state := range []model.OutboxState{model.OutboxPending, model.OutboxDead} {
		list, _ := s.ListOutbox(ctx, state, 0, 100)
		for _, e := range list {
			if e.EventID[:3] == "a1:" || e.EventID[:3] == "a2:" {
				t.Errorf("delivery of an erased chat left: %+v", e)
			}
		}
	}
	if evs, err := s.EventsAfter(ctx, "b1", 0, 100); err != nil || len(evs) != 5 {
		t.Errorf("b1 has %d events (%v), want 5", len(evs), err)
	}
	if _, content, err := s.FileContent(ctx, "b1-file0"); err != nil || len(content) == 0 {
		t.Errorf("b1's file: %v", err)
	}
}

// leftMessage stores a left message of identity idn at time at, with one
// webhook delivery; a new identity record when newIdn.
func leftMessage(t testing.TB, s Store, id, idn string, at int64, newIdn bool) {
	t.Helper()
	var rec *model.Identity
	if newIdn {
		rec = &model.Identity{ID: idn, CreatedAt: at}
	}
	err := s.LeaveMessage(context.Background(), model.LeftMessage{ID: id, Deployment: "d", IdentityID: idn, Email: id + "@example.com",
		Message: "text of " + id, CreatedAt: at}, rec,
		[]model.OutboxEntry{{Subscription: "w", Event: "message.left", EventID: id + ":message.left", Body: json.RawMessage(`{}`)}})
	if err != nil {
		t.Fatal(err)
	}
}

// testLeftMessagesLifecycle: the sweep deletes left messages past
// retention, counting from the answer, one step of scan at a time, and an
// identity with its last message when it has no chat; erasure deletes an
// identity's messages with their deliveries.
func testLeftMessagesLifecycle(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	leftMessage(t, s, "m-old", "idn-x", Ago(3*time.Hour), true)      // unanswered, past retention
	leftMessage(t, s, "m-answered", "idn-y", Ago(3*time.Hour), true) // answered an hour ago
	leftMessage(t, s, "m-new", "idn-y", Ago(time.Hour), false)
	leftMessage(t, s, "m-z", "idn-z", Ago(3*time.Hour), true)
	leftMessage(t, s, "m-z2", "idn-z", Ago(time.Hour), false)
	if _, err := s.AnswerMessage(ctx, "m-answered", model.Answer{Text: "hi", AnsweredAt: Ago(time.Hour)}, nil); err != nil {
		t.Fatal(err)
	}
	// idn-y also has a chat, older than retention and ended.
	LifecycleChat(t, s, "y", "d", "live", Ago(3*time.Hour), 1, 0, true)
	p := model.SweepPolicy{Now: SweepNow, Retention: func(string) model.Retention { return model.Retention{Chats: 2 * time.Hour} }}
	var total model.Removed
	steps := 0
	for after := ""; ; steps++ {
		next, r, err := s.SweepLeftMessages(ctx, p, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		total.Add(r)
		if after = next; after == "" {
			break
		}
	}
	if want := (model.Removed{LeftMessages: 2, Identities: 1}); total != want || steps != 4 {
		t.Errorf("sweep removed %+v in %d steps, want %+v in 4 (one message each)", total, steps, want)
	}
	for id, gone := range map[string]bool{"m-old": true, "m-z": true, "m-answered": false, "m-new": false, "m-z2": false} {
		if _, err := s.LeftMessage(ctx, id); errors.Is(err, model.ErrNotFound) != gone {
			t.Errorf("%s: %v, want gone %v", id, err, gone)
		}
	}
	if _, err := s.Identity(ctx, "idn-x"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("identity of the swept message: %v", err)
	}
	open, _ := s.LeftMessages(ctx, false, 10)
	answered, _ := s.LeftMessages(ctx, true, 10)
	if len(open) != 2 || len(answered) != 1 {
		t.Errorf("after the sweep: %d open, %d answered, want 2 and 1", len(open), len(answered))
	}
	// The chat sweep deletes idn-y's chat but keeps idn-y: it has messages.
	if r := sweepAll(t, s, p, 16); r.Chats != 1 || r.Identities != 0 {
		t.Errorf("chat sweep removed %+v, want the chat and not its identity", r)
	}
	if _, err := s.Identity(ctx, "idn-y"); err != nil {
		t.Errorf("identity with messages left: %v", err)
	}
	pending, _, _ := s.OutboxDepth(ctx)
	e, err := s.EraseIdentity(ctx, "idn-y", nil)
	if want := (model.Removed{LeftMessages: 2, Identities: 1, Deliveries: 2}); err != nil || e.Removed != want {
		t.Errorf("erasure: %+v, %v, want %+v", e.Removed, err, want)
	}
	if after, _, _ := s.OutboxDepth(ctx); after != pending-2 {
		t.Errorf("outbox depth %d after erasure, want %d", after, pending-2)
	}
	list, _ := s.ListOutbox(ctx, model.OutboxPending, 0, 100)
	for _, d := range list {
		if d.EventID == "m-answered:message.left" || d.EventID == "m-new:message.left" {
			t.Errorf("delivery of an erased message left: %+v", d)
		}
	}
	if err := s.LeaveMessage(ctx, model.LeftMessage{ID: "m-late", IdentityID: "idn-y", CreatedAt: Ago(0)}, nil, nil); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("a message as an erased identity: %v, want ErrNotFound", err)
	}
	if ms, _ := s.LeftMessagesOf(ctx, "idn-y", 10); len(ms) != 0 {
		t.Errorf("messages of the erased identity: %+v", ms)
	}
	if ms, _ := s.LeftMessagesOf(ctx, "idn-z", 10); len(ms) != 1 || ms[0].ID != "m-z2" {
		t.Errorf("messages of another identity: %+v", ms)
	}
	if b.SweptLeftMessages != nil {
		b.SweptLeftMessages(t, s)
	}
}

// testEraseIdentityConcurrentLeave leaves messages as an identity while it
// is erased, round after round, through two gateways: whichever write comes
// first, nothing of the identity is left afterwards, neither a message nor
// a delivery.
func testEraseIdentityConcurrentLeave(t *testing.T, b Backend) {
	ctx := context.Background()
	s, dir := open(t, b)
	other := s // a second store on the same data, where the backend allows one
	if b.Shared {
		other = b.Open(t, dir)
	}
	for round := range 50 {
		idn := fmt.Sprint("idn-", round)
		leftMessage(t, s, fmt.Sprint("first-", round), idn, Ago(0), true)
		done := make(chan error, 1)
		late := fmt.Sprint("late-", round)
		go func() {
			done <- other.LeaveMessage(ctx, model.LeftMessage{ID: late, Deployment: "d", IdentityID: idn, CreatedAt: Ago(0)}, nil,
				[]model.OutboxEntry{{Subscription: "w", Event: "message.left", EventID: late + ":message.left", Body: json.RawMessage(`{}`)}})
		}()
		if _, err := s.EraseIdentity(ctx, idn, nil); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil && !errors.Is(err, model.ErrNotFound) {
			t.Fatal(err)
		}
		if ms, _ := s.LeftMessagesOf(ctx, idn, 10); len(ms) != 0 {
			// The late message committed after the erasure read: it must
			// have been refused, or erased with the rest.
			t.Fatalf("round %d: messages of the erased identity: %+v", round, ms)
		}
	}
	list, _ := s.ListOutbox(ctx, model.OutboxPending, 0, 1000)
	if pending, _, _ := s.OutboxDepth(ctx); len(list) != 0 || pending != 0 {
		t.Errorf("deliveries of erased identities left: %d listed, %d counted", len(list), pending)
	}
}

// testEraseIdentityChangeConsumedAfter: a change row read before an
// erasure and consumed after it writes no delivery of the erased chat
// (ConsumeChanges skips chats that are gone), so no body of it outlives the
// erasure in the outbox.
func testEraseIdentityChangeConsumedAfter(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := openOutbox(t, b)
	LifecycleChat(t, s, "a1", "d", "async", Ago(time.Hour), 1, 0, false)
	Pump(t, s)
	if _, _, _, err := s.Mutate(ctx, "a1", "", appendFn(message("late"))); err != nil {
		t.Fatal(err)
	}
	changes, events, err := s.Changes(ctx, 10)
	if err != nil || len(changes) != 1 {
		t.Fatalf("rows %+v, %v", changes, err)
	}
	if _, err := s.EraseIdentity(ctx, "idn-a1", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeChanges(ctx, changes[0].ID, OutboxPerEvent(&changes[0].Chat, events[0])); err != nil {
		t.Fatal(err)
	}
	for _, state := range []model.OutboxState{model.OutboxPending, model.OutboxDead} {
		if list := MustList(t, s, state); len(list) != 0 {
			t.Errorf("%s deliveries after the erasure: %+v", state, list)
		}
	}
}
