package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cxgate/cxgate/model"
)

func mustCreate(t testing.TB, s Store, n model.NewChat) model.Chat {
	t.Helper()
	c, existing, err := s.CreateChat(context.Background(), n)
	if err != nil || existing {
		t.Fatalf("create %s: existing %v, err %v", n.Chat.ID, existing, err)
	}
	return c
}

func mustMutate(t testing.TB, s Store, id string, fn model.MutateFunc) []model.Event {
	t.Helper()
	_, evs, _, err := s.Mutate(context.Background(), id, "", fn)
	if err != nil {
		t.Fatalf("mutate %s: %v", id, err)
	}
	return evs
}

// OpenChatIDs are the ids of the store's open chats, sorted.
func OpenChatIDs(t testing.TB, s interface {
	OpenChats(ctx context.Context, fn func(model.Chat) error) error
}) []string {
	t.Helper()
	var ids []string
	err := s.OpenChats(context.Background(), func(c model.Chat) error {
		ids = append(ids, c.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("open chats: %v", err)
	}
	slices.Sort(ids)
	return ids
}

func endChat(c *model.Chat) ([]model.Event, error) {
	c.State, c.EndedAt = model.StateEnded, 1_700_000_100_000
	return []model.Event{{Type: model.EventChatEnded, Time: 1_700_000_100_000}}, nil
}

func chatIDs(cs []model.Chat) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// testIdentitiesAndTokens: a start writes its identity and visitor token
// with the chat; a start that writes no chat (a retry, a taken id) writes
// neither; tokens issued later need the chat, and go with it.
func testIdentitiesAndTokens(t *testing.T, b Backend) {
	s, _ := open(t, b)
	ctx := context.Background()
	idn := &model.Identity{ID: "idn-1", Profile: model.Profile{Nickname: "Ann"}, CreatedAt: 7}
	n := chat("c1", "start-1")
	n.Chat.IdentityID, n.Identity, n.TokenHash = "idn-1", idn, model.HashToken("secret-1")
	mustCreate(t, s, n)

	tok, err := s.LookupToken(ctx, model.HashToken("secret-1"))
	if want := (model.Token{Kind: "visitor", ChatID: "c1", IdentityID: "idn-1", CreatedAt: 1_700_000_000_000}); err != nil || tok != want {
		t.Fatalf("token = %+v, %v; want %+v", tok, err, want)
	}
	if _, err := s.LookupToken(ctx, model.HashToken("secret-2")); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	if got, err := s.Identity(ctx, "idn-1"); err != nil || got.Profile.Nickname != "Ann" || got.CreatedAt != 7 {
		t.Errorf("identity = %+v, %v; want Ann", got, err)
	}
	if _, err := s.Identity(ctx, "idn-2"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown identity: %v, want ErrNotFound", err)
	}

	// A retried start (same key) and a start on a taken id write nothing.
	retry := chat("c2", "start-1")
	retry.Identity, retry.TokenHash = &model.Identity{ID: "idn-retry"}, model.HashToken("secret-retry")
	if c, existing, err := s.CreateChat(ctx, retry); err != nil || !existing || c.ID != "c1" {
		t.Fatalf("retried start: %s, existing %v, %v", c.ID, existing, err)
	}
	taken := chat("c1", "")
	taken.Identity, taken.TokenHash = &model.Identity{ID: "idn-taken"}, model.HashToken("secret-taken")
	if _, _, err := s.CreateChat(ctx, taken); !errors.Is(err, model.ErrExists) {
		t.Fatalf("start on a taken id: %v, want ErrExists", err)
	}
	for _, h := range []string{"secret-retry", "secret-taken"} {
		if _, err := s.LookupToken(ctx, model.HashToken(h)); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("token %s of a start that wrote nothing: %v", h, err)
		}
	}
	for _, id := range []string{"idn-retry", "idn-taken"} {
		if _, err := s.Identity(ctx, id); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("identity %s of a start that wrote nothing: %v", id, err)
		}
	}

	// A start replaces the identity it carries; PutIdentity too.
	again := chat("c3", "")
	again.Chat.IdentityID, again.Chat.CreatedAt = "idn-1", 1_600_000_000_000 // created before c1
	again.Identity = &model.Identity{ID: "idn-1", Profile: model.Profile{Nickname: "Ann B."}, CreatedAt: 7}
	mustCreate(t, s, again)
	if got, _ := s.Identity(ctx, "idn-1"); got.Profile.Nickname != "Ann B." {
		t.Errorf("identity after a second start = %q, want replaced", got.Profile.Nickname)
	}
	if err := s.PutIdentity(ctx, model.Identity{ID: "idn-1", Profile: model.Profile{Nickname: "Ann C."}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Identity(ctx, "idn-1"); got.Profile.Nickname != "Ann C." {
		t.Errorf("identity after PutIdentity = %q", got.Profile.Nickname)
	}
	if err := s.PutIdentity(ctx, model.Identity{}); err == nil {
		t.Error("PutIdentity without an id succeeded")
	}
	mustCreate(t, s, chat("c4", "")) // no identity
	chats, err := s.ChatsOfIdentity(ctx, "idn-1")
	if err != nil || len(chats) != 2 || chats[0].ID != "c3" || chats[1].ID != "c1" {
		t.Fatalf("chats of idn-1 = %v, %v; want c3 then c1 (oldest first)", chatIDs(chats), err)
	}
	if chats, err := s.ChatsOfIdentity(ctx, ""); err != nil || len(chats) != 0 {
		t.Errorf("chats of no identity = %v, %v", chatIDs(chats), err)
	}

	// Issued tokens: for a known chat only, replacing what the hash stood for.
	if err := s.IssueToken(ctx, model.HashToken("issued"), model.Token{Kind: "visitor", ChatID: "nope"}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("token for an unknown chat: %v, want ErrNotFound", err)
	}
	if err := s.IssueToken(ctx, nil, model.Token{ChatID: "c1"}); err == nil {
		t.Error("token without a hash accepted")
	}
	for _, id := range []string{"c3", "c4"} {
		if err := s.IssueToken(ctx, model.HashToken("issued"), model.Token{Kind: "visitor", ChatID: id, IdentityID: "idn-1", CreatedAt: 9}); err != nil {
			t.Fatal(err)
		}
	}
	if tok, err := s.LookupToken(ctx, model.HashToken("issued")); err != nil || tok.ChatID != "c4" || tok.CreatedAt != 9 {
		t.Errorf("issued token = %+v, %v; want the second one", tok, err)
	}

}

// testOpenChats: a chat is open from its start until it ends, and again
// once reopened; a chat started ended is not open. Pages of open chats
// follow each other.
func testOpenChats(t *testing.T, b Backend) {
	s, _ := open(t, b)
	ctx := context.Background()
	for _, id := range []string{"c1", "c2", "c3"} {
		mustCreate(t, s, chat(id, ""))
	}
	ended := chat("c0", "")
	ended.Chat.State = model.StateEnded
	mustCreate(t, s, ended)
	mustMutate(t, s, "c2", endChat)
	if got, want := OpenChatIDs(t, s), []string{"c1", "c3"}; !slices.Equal(got, want) {
		t.Fatalf("open chats = %v, want %v", got, want)
	}
	mustMutate(t, s, "c2", func(c *model.Chat) ([]model.Event, error) {
		c.State, c.EndedAt = model.StateActive, 0
		return nil, nil
	})
	if got, want := OpenChatIDs(t, s), []string{"c1", "c2", "c3"}; !slices.Equal(got, want) {
		t.Fatalf("open chats after reopening c2 = %v, want %v", got, want)
	}
	// More chats than a page.
	for i := range 1100 {
		mustCreate(t, s, chat(fmt.Sprintf("p%04d", i), ""))
	}
	if got := OpenChatIDs(t, s); len(got) != 1103 {
		t.Fatalf("%d open chats, want 1103", len(got))
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.OpenChats(ctx, func(model.Chat) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("OpenChats with fn failing: %v after %d calls", err, calls)
	}
}

// testAgentStatuses: statuses are stored per agent, the last one set wins.
func testAgentStatuses(t *testing.T, b Backend) {
	s, _ := open(t, b)
	ctx := context.Background()
	if m, err := s.AgentStatuses(ctx); err != nil || len(m) != 0 {
		t.Fatalf("statuses of a new store = %v, %v", m, err)
	}
	for _, set := range []struct {
		id string
		st model.AgentStatus
	}{{"ann", model.StatusOnline}, {"bob", model.StatusAway}, {"ann", model.StatusOffline}} {
		if err := s.SetAgentStatus(ctx, set.id, set.st); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.AgentStatuses(ctx)
	if err != nil || len(m) != 2 || m["ann"] != model.StatusOffline || m["bob"] != model.StatusAway {
		t.Fatalf("statuses = %v, %v", m, err)
	}
	if err := s.SetAgentStatus(ctx, "", model.StatusOnline); err == nil {
		t.Error("a status without an agent was stored")
	}
}
