package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/cxgate/cxgate/model"
)

// testLeftMessagesOrder: open messages list oldest first, answered ones the
// most recently answered first, an identity's oldest first within its
// limit; an answer moves a message between the lists once, and the outbox
// entries written with it are counted.
func testLeftMessagesOrder(t *testing.T, b Backend) {
	ctx := context.Background()
	s, _ := open(t, b)
	leave := func(id, identity string, at int64) {
		t.Helper()
		idn := &model.Identity{ID: identity}
		m := model.LeftMessage{ID: id, Deployment: "shop", IdentityID: identity, Message: "m " + id, CreatedAt: at}
		if err := s.LeaveMessage(ctx, m, idn, []model.OutboxEntry{{Subscription: "site", Event: "message.left", EventID: id + ":message.left"}}); err != nil {
			t.Fatal(err)
		}
	}
	leave("c", "ida", 300)
	leave("a", "max", 100)
	leave("b", "ida", 200)
	if err := s.LeaveMessage(ctx, model.LeftMessage{ID: "a", IdentityID: "max"}, nil, nil); !errors.Is(err, model.ErrExists) {
		t.Errorf("a second message a: %v", err)
	}
	if err := s.LeaveMessage(ctx, model.LeftMessage{ID: "a", IdentityID: "nobody"}, nil, nil); !errors.Is(err, model.ErrExists) {
		t.Errorf("a second message a of an unknown identity: %v, want ErrExists first", err)
	}
	if err := s.LeaveMessage(ctx, model.LeftMessage{ID: "d", IdentityID: "nobody"}, nil, nil); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("a message of an unknown identity: %v", err)
	}
	if err := s.LeaveMessage(ctx, model.LeftMessage{ID: "e"}, nil, nil); err == nil {
		t.Error("a message without identity was stored")
	}
	ids := func(ms []model.LeftMessage) (out []string) {
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	list := func(answered bool, limit int) []string {
		t.Helper()
		ms, err := s.LeftMessages(ctx, answered, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ids(ms)
	}
	if got := list(false, 10); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Errorf("open = %v, want a b c", got)
	}
	if got := list(false, 2); len(got) != 2 || got[1] != "b" {
		t.Errorf("open, 2 = %v", got)
	}
	for _, a := range []struct {
		id string
		at int64
	}{{"c", 1000}, {"a", 2000}} {
		m, err := s.AnswerMessage(ctx, a.id, model.Answer{Text: "ok", AgentID: "ann", AgentName: "Ann", AnsweredAt: a.at},
			func(m model.LeftMessage) []model.OutboxEntry {
				return []model.OutboxEntry{{Subscription: "site", Event: "message.answered", EventID: m.ID + ":message.answered"}}
			})
		if err != nil || m.Answer == nil || m.Answer.AnsweredAt != a.at || m.Message != "m "+a.id {
			t.Fatalf("answer %s: %+v %v", a.id, m, err)
		}
	}
	if _, err := s.AnswerMessage(ctx, "c", model.Answer{Text: "again"}, nil); !errors.Is(err, model.ErrAnswered) {
		t.Errorf("answer c again: %v", err)
	}
	if _, err := s.AnswerMessage(ctx, "zz", model.Answer{Text: "x"}, nil); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("answer zz: %v", err)
	}
	if got := list(false, 10); len(got) != 1 || got[0] != "b" {
		t.Errorf("open after answers = %v, want b", got)
	}
	if got := list(true, 10); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("answered = %v, want a c (latest answer first)", got)
	}
	ms, err := s.LeftMessagesOf(ctx, "ida", 10)
	if err != nil || len(ms) != 2 || ms[0].ID != "b" || ms[1].ID != "c" || ms[1].Answer == nil {
		t.Errorf("ida's = %+v %v", ms, err)
	}
	if ms, _ := s.LeftMessagesOf(ctx, "ida", 1); len(ms) != 1 || ms[0].ID != "c" {
		t.Errorf("ida's newest = %+v", ms)
	}
	if ms, err := s.LeftMessagesOf(ctx, "id", 10); err != nil || ms == nil || len(ms) != 0 {
		t.Errorf("a prefix of ida's id lists %+v, %v", ms, err)
	}
	if m, err := s.LeftMessage(ctx, "c"); err != nil || m.Answer == nil || m.Deployment != "shop" {
		t.Errorf("LeftMessage(c) = %+v, %v", m, err)
	}
	if _, err := s.LeftMessage(ctx, "zz"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("LeftMessage(zz) = %v", err)
	}
	if pending, _, err := s.OutboxDepth(ctx); err != nil || pending != 5 {
		t.Errorf("outbox pending = %d %v, want 5 (3 left, 2 answered)", pending, err)
	}
	for _, id := range []string{"ida", "max"} {
		if _, err := s.Identity(ctx, id); err != nil {
			t.Errorf("identity %s written with its messages: %v", id, err)
		}
	}
	// A refused message writes neither its identity nor its deliveries.
	err = s.LeaveMessage(ctx, model.LeftMessage{ID: "a", IdentityID: "new"}, &model.Identity{ID: "new"},
		[]model.OutboxEntry{{Subscription: "site", EventID: "a:again"}})
	if !errors.Is(err, model.ErrExists) {
		t.Fatalf("a second message a with a new identity: %v", err)
	}
	if pending, _, _ := s.OutboxDepth(ctx); pending != 5 {
		t.Errorf("a refused message wrote deliveries: %d pending", pending)
	}
	if _, err := s.Identity(ctx, "new"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("a refused message wrote its identity: %v", err)
	}
}
