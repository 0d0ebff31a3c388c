package storetest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/model"
)

func outboxPerEvent(c *model.Chat, evs []model.Event) []model.OutboxEntry {
	var out []model.OutboxEntry
	for _, ev := range evs {
		out = append(out, model.OutboxEntry{Subscription: "hook-1", Event: string(ev.Type),
			EventID: fmt.Sprintf("%s:%d", c.ID, ev.Seq), Body: []byte(`{"text":"` + ev.Text + `"}`),
			CreatedAt: ev.Time, NextAt: ev.Time})
	}
	return out
}

func pump(t testing.TB, s Store) { t.Helper(); pumpWith(t, s, outboxPerEvent) }

func pumpWith(t testing.TB, s Store, outbox func(c *model.Chat, evs []model.Event) []model.OutboxEntry) {
	t.Helper()
	ctx := context.Background()
	for {
		changes, events, err := s.Changes(ctx, 100)
		if err != nil {
			t.Fatalf("changes: %v", err)
		}
		if len(changes) == 0 {
			return
		}
		var entries []model.OutboxEntry
		for i := range changes {
			entries = append(entries, outbox(&changes[i].Chat, events[i])...)
		}
		if err := s.ConsumeChanges(ctx, changes[len(changes)-1].ID, entries); err != nil {
			t.Fatalf("consume changes: %v", err)
		}
	}
}

func mustList(t testing.TB, s Store, state model.OutboxState) []model.OutboxEntry {
	t.Helper()
	pump(t, s)
	list, err := s.ListOutbox(context.Background(), state, 0, 1000)
	if err != nil {
		t.Fatalf("list %s: %v", state, err)
	}
	return list
}

func eventIDs(list []model.OutboxEntry) []string {
	out := []string{}
	for _, e := range list {
		out = append(out, e.EventID)
	}
	return out
}

func entryIDs(list []model.OutboxEntry) []uint64 {
	out := []uint64{}
	for _, e := range list {
		out = append(out, e.ID)
	}
	return out
}

func mustDepth(t testing.TB, s Store) (pending, dead int) {
	t.Helper()
	pump(t, s)
	pending, dead, err := s.OutboxDepth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pending, dead
}

func outboxAt(t testing.TB, s Store, chatID string, times ...int64) {
	t.Helper()
	var add []model.Event
	for _, at := range times {
		ev := message(fmt.Sprint(at))
		ev.Time = at
		add = append(add, ev)
	}
	if _, _, _, err := s.Mutate(context.Background(), chatID, "", appendFn(add...)); err != nil {
		t.Fatal(err)
	}
	pump(t, s)
}

func openWithChat(t testing.TB, b Backend) (Store, string) {
	t.Helper()
	s, dir := openOutbox(t, b)
	mustCreateChat(t, s, "c1")
	pump(t, s)
	if err := s.DeleteOutbox(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func upTo(n int) func(string) int { return func(string) int { return n } }

func outboxTo(c *model.Chat, evs []model.Event) []model.OutboxEntry {
	var out []model.OutboxEntry
	for _, ev := range evs {
		sub, at, ok := strings.Cut(ev.Text, "@")
		if !ok {
			continue
		}
		ms, _ := strconv.ParseInt(at, 10, 64)
		out = append(out, model.OutboxEntry{Subscription: sub, Event: string(ev.Type),
			EventID: fmt.Sprintf("%s:%d:%s", c.ID, ev.Seq, sub), CreatedAt: ms, NextAt: ms})
	}
	return out
}

func appendTo(t testing.TB, s Store, chatID string, entries ...string) {
	t.Helper()
	var add []model.Event
	for _, e := range entries {
		add = append(add, message(e))
	}
	if _, _, _, err := s.Mutate(context.Background(), chatID, "", appendFn(add...)); err != nil {
		t.Fatal(err)
	}
	pumpWith(t, s, outboxTo)
}
