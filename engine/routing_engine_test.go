package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// agentCfg is a human agent with a token of its own.
func agentCfg(id string, maxChats int, skills, languages []string) config.Agent {
	return config.Agent{ID: id, Name: id, Token: id + "-token-1", MaxChats: maxChats, Skills: skills, Languages: languages}
}

// engineConfig: a live deployment "web" on queue "support" (no skills), an
// asynchronous one "async" on the same queue, queue "vip" (skill vip),
// queue "de" (German), queue "manual" (agents accept themselves) and the
// agents given.
func engineConfig(agents ...config.Agent) config.Config {
	return config.Config{
		Deployments: []config.Deployment{
			{Key: "web", Mode: config.ModeLive, Queue: "support", Origins: []string{"*"}, IdleTimeout: 10 * time.Minute},
			{Key: "async", Mode: config.ModeAsync, Queue: "support", Origins: []string{"*"}, IdleTimeout: 10 * time.Minute,
				ThreadInactivity: time.Hour},
		},
		Queues: []config.Queue{
			{Name: "support"},
			{Name: "vip", Skills: []string{"vip"}},
			{Name: "de", Language: "de"},
			{Name: "manual", ManualAccept: true},
		},
		Agents: agents,
	}
}

// TestEngineRoutingBySkill: a chat goes only to an agent with its queue's
// skills and its own; one nobody online can serve waits, and a manual
// accept by an agent without the skills is refused.
func TestEngineRoutingBySkill(t *testing.T) {
	te := newTestEngine(t, engineConfig(
		agentCfg("ann", 5, nil, nil),
		agentCfg("bob", 5, []string{"vip"}, nil),
	))
	te.online(t, "ann")
	// Urgent chats that need vip (by their queue, by their own skills),
	// then a probe anyone can take: every routing pass looks at the urgent
	// ones first, so once Ann has the probe she was not given them.
	byQueue := te.start(t, engine.StartRequest{Deployment: "web", Queue: "vip", Priority: 9})
	bySkill := te.start(t, engine.StartRequest{Deployment: "web", Skills: []string{"vip"}, Priority: 9})
	probe := te.start(t, engine.StartRequest{Deployment: "web"})
	if got := te.waitHeld(t, probe.ID); got != "ann" {
		t.Fatalf("probe went to %s, want ann", got)
	}
	for _, c := range []model.Chat{byQueue, bySkill} {
		if got := te.chat(t, c.ID); got.State != model.StateQueued || len(te.holders(t, c.ID)) != 0 {
			t.Errorf("chat needing vip: state %s, agents %v; want it queued for nobody", got.State, te.holders(t, c.ID))
		}
		if err := te.Assign(context.Background(), c.ID, "ann"); !errors.Is(err, engine.ErrNotEligible) {
			t.Errorf("Ann accepting a chat needing vip: %v, want ErrNotEligible", err)
		}
		if slices.ContainsFunc(te.Queued("ann"), func(q model.Chat) bool { return q.ID == c.ID }) {
			t.Errorf("Ann's list of waiting chats holds a chat needing vip")
		}
	}
	if te.CanServeNow("vip", nil, "") || te.CanServeNow("support", []string{"vip"}, "") {
		t.Error("CanServeNow says yes to vip with only Ann online")
	}
	if !te.CanServeNow("support", nil, "") {
		t.Error("CanServeNow says no to support with Ann online and free")
	}
	te.online(t, "bob")
	for _, c := range []model.Chat{byQueue, bySkill} {
		if got := te.waitHeld(t, c.ID); got != "bob" {
			t.Errorf("chat needing vip went to %s, want bob", got)
		}
	}
}

// TestEngineRoutingByLanguage: a queue's language and a chat's own go only to
// agents listing it, compared without case; a chat in a language nobody
// speaks waits.
func TestEngineRoutingByLanguage(t *testing.T) {
	te := newTestEngine(t, engineConfig(
		agentCfg("ann", 5, nil, []string{"en"}),
		agentCfg("bob", 5, nil, []string{"de", "en"}),
	))
	te.online(t, "ann")
	german := te.start(t, engine.StartRequest{Deployment: "web", Queue: "de", Priority: 9})
	french := te.start(t, engine.StartRequest{Deployment: "web", Language: "fr", Priority: 9})
	english := te.start(t, engine.StartRequest{Deployment: "web", Language: "EN", Priority: 9})
	probe := te.start(t, engine.StartRequest{Deployment: "web"})
	if got := te.waitHeld(t, english.ID); got != "ann" {
		t.Errorf("chat in EN went to %s, want ann (en)", got)
	}
	if got := te.waitHeld(t, probe.ID); got != "ann" {
		t.Fatalf("probe went to %s, want ann", got)
	}
	for _, c := range []model.Chat{german, french} {
		if h := te.holders(t, c.ID); len(h) != 0 {
			t.Errorf("chat in %q/%q given to %v, who does not speak it", c.Queue, c.Language, h)
		}
	}
	if err := te.Assign(context.Background(), german.ID, "ann"); !errors.Is(err, engine.ErrNotEligible) {
		t.Errorf("Ann accepting a German chat: %v, want ErrNotEligible", err)
	}
	if te.CanServeNow("de", nil, "") || !te.CanServeNow("support", nil, "en") {
		t.Error("CanServeNow with only Ann (en) online: want no for de, yes for en")
	}

	te.online(t, "bob")
	if got := te.waitHeld(t, german.ID); got != "bob" {
		t.Errorf("German chat went to %s, want bob", got)
	}
	// Nobody speaks French: a second probe, taken by whoever has a seat,
	// shows the router passed the French chat over with both online.
	probe2 := te.start(t, engine.StartRequest{Deployment: "web"})
	te.waitHeld(t, probe2.ID)
	if c := te.chat(t, french.ID); c.State != model.StateQueued || len(te.holders(t, french.ID)) != 0 {
		t.Errorf("French chat: state %s, agents %v; want it queued", c.State, te.holders(t, french.ID))
	}
}

// TestEngineCapacity: routing never gives an agent more than its maxChats;
// the chat beyond waits until a seat frees, and a manual accept beyond it is
// refused, also when several arrive at once.
func TestEngineCapacity(t *testing.T) {
	te := newTestEngine(t, engineConfig(
		agentCfg("ann", 2, nil, nil),
		agentCfg("bob", 1, nil, nil),
	))
	te.online(t, "ann")
	c1 := te.start(t, engine.StartRequest{Deployment: "web"})
	c2 := te.start(t, engine.StartRequest{Deployment: "web"})
	c3 := te.start(t, engine.StartRequest{Deployment: "web"})
	te.waitHeld(t, c1.ID)
	te.waitHeld(t, c2.ID)
	if got := te.agentChats(t, "ann"); len(got) != 2 {
		t.Fatalf("Ann has %v, want 2 chats", got)
	}
	if err := te.Assign(context.Background(), c3.ID, "ann"); !errors.Is(err, engine.ErrAtCapacity) {
		t.Errorf("a third accept by Ann (max 2): %v, want ErrAtCapacity", err)
	}
	if te.CanServeNow("support", nil, "") {
		t.Error("CanServeNow says yes with the only agent online full")
	}
	if _, err := te.End(context.Background(), c1.ID, model.Party{Type: "Client"}, "visitor"); err != nil {
		t.Fatal(err)
	}
	if got := te.waitHeld(t, c3.ID); got != "ann" {
		t.Errorf("the waiting chat went to %s once Ann's seat freed, want ann", got)
	}
	if got := sorted(te.agentChats(t, "ann")); !slices.Equal(got, sorted([]string{c2.ID, c3.ID})) {
		t.Errorf("Ann's chats %v, want c2 and c3", got)
	}

	// Concurrent manual accepts: Bob (max 1) accepts four waiting chats at
	// once; exactly one succeeds.
	var ids []string
	for range 4 {
		ids = append(ids, te.start(t, engine.StartRequest{Deployment: "web", Queue: "manual"}).ID)
	}
	errs := make([]error, len(ids))
	parallelDo(len(ids), func(i int) { errs[i] = te.Assign(context.Background(), ids[i], "bob") })
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, engine.ErrAtCapacity):
			t.Errorf("accept %d: %v, want nil or ErrAtCapacity", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of 4 concurrent accepts by Bob (max 1) succeeded, want 1", won)
	}
	if got := te.agentChats(t, "bob"); len(got) != 1 {
		t.Errorf("Bob holds %v, want one chat", got)
	}
}

// TestEnginePriority: the chat with the higher priority is routed first, and
// between equal priorities the older; a waiting chat's place follows the
// same order.
func TestEnginePriority(t *testing.T) {
	te := newTestEngine(t, engineConfig(agentCfg("ann", 1, nil, nil)))
	p1 := te.start(t, engine.StartRequest{Deployment: "web", Priority: 1})
	p5a := te.start(t, engine.StartRequest{Deployment: "web", Priority: 5})
	p3 := te.start(t, engine.StartRequest{Deployment: "web", Priority: 3})
	p5b := te.start(t, engine.StartRequest{Deployment: "web", Priority: 5})
	want := []string{p5a.ID, p5b.ID, p3.ID, p1.ID}
	var listed []string
	for _, c := range te.Queued("ann") {
		listed = append(listed, c.ID)
	}
	if !slices.Equal(listed, want) {
		t.Errorf("Queued order %v, want %v (priority, then oldest)", listed, want)
	}
	for i, id := range want {
		if pos, q := te.QueuePosition(id); pos != i+1 || q != "support" {
			t.Errorf("chat %d: position %d in %q, want %d in support", i, pos, q, i+1)
		}
	}
	// Ann takes one chat at a time: each end frees her seat for the next.
	te.online(t, "ann")
	for i, id := range want {
		var got []string
		waitFor(t, "Ann given a chat", func() bool { got = te.agentChats(t, "ann"); return len(got) > 0 })
		if !slices.Equal(got, []string{id}) {
			t.Fatalf("Ann was given %v, want chat %d of the order (%s)", got, i, id)
		}
		if _, err := te.End(context.Background(), id, model.Party{Type: "Client"}, "visitor"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEngineTieToLongestIdle: between agents with as many free seats, a chat
// goes to the one free the longest: the earliest online at first, then the
// one whose last chat ended first.
func TestEngineTieToLongestIdle(t *testing.T) {
	te := newTestEngine(t, engineConfig(agentCfg("ann", 1, nil, nil), agentCfg("bob", 1, nil, nil)))
	ctx := context.Background()
	end := func(id string) {
		t.Helper()
		if _, err := te.End(ctx, id, model.Party{Type: "Client"}, "visitor"); err != nil {
			t.Fatal(err)
		}
	}
	te.online(t, "bob", "ann") // Bob first
	c1 := te.start(t, engine.StartRequest{Deployment: "web"})
	if got := te.waitHeld(t, c1.ID); got != "bob" {
		t.Fatalf("c1 went to %s, want bob (online first)", got)
	}
	te.clock.Add(time.Minute)
	end(c1.ID) // Bob free from now: later than Ann
	c2 := te.start(t, engine.StartRequest{Deployment: "web"})
	if got := te.waitHeld(t, c2.ID); got != "ann" {
		t.Fatalf("c2 went to %s, want ann (free since she came online, before Bob's chat ended)", got)
	}
	c3 := te.start(t, engine.StartRequest{Deployment: "web"})
	if got := te.waitHeld(t, c3.ID); got != "bob" {
		t.Fatalf("c3 went to %s, want bob (the only free one)", got)
	}
	te.clock.Add(time.Minute)
	end(c3.ID) // Bob free first
	te.clock.Add(time.Minute)
	end(c2.ID) // then Ann
	c4 := te.start(t, engine.StartRequest{Deployment: "web"})
	if got := te.waitHeld(t, c4.ID); got != "bob" {
		t.Errorf("c4 went to %s, want bob (his chat ended a minute before Ann's)", got)
	}
}

// TestEngineTransfer: a transfer to an agent moves the chat to it at once;
// one to a queue queues it for that queue's agents. Transfers to an
// offline, full or unknown agent, to oneself or to an unknown queue are
// refused and change nothing.
func TestEngineTransfer(t *testing.T) {
	te := newTestEngine(t, engineConfig(
		agentCfg("ann", 2, nil, nil),
		agentCfg("bob", 1, []string{"vip"}, nil),
		agentCfg("cleo", 1, []string{"vip"}, nil),
	))
	ctx := context.Background()
	te.online(t, "ann")
	c1 := te.start(t, engine.StartRequest{Deployment: "web"})
	te.waitHeld(t, c1.ID)
	ann := te.participant(t, c1.ID, "ann")
	before := te.chat(t, c1.ID).LastSeq
	for _, tc := range []struct {
		to, queue string
		want      error
	}{
		{"bob", "", engine.ErrAgentOffline},
		{"ann", "", engine.ErrUnknownAgent},
		{"nobody", "", engine.ErrUnknownAgent},
		{"", "nowhere", engine.ErrUnknownQueue},
	} {
		if _, err := te.Transfer(ctx, c1.ID, ann, tc.to, tc.queue); !errors.Is(err, tc.want) {
			t.Errorf("transfer to %q/%q: %v, want %v", tc.to, tc.queue, err, tc.want)
		}
	}
	if c := te.chat(t, c1.ID); c.LastSeq != before || !slices.Equal(te.holders(t, c1.ID), []string{"ann"}) {
		t.Fatalf("refused transfers changed the chat: seq %d→%d, agents %v", before, c.LastSeq, te.holders(t, c1.ID))
	}

	te.online(t, "bob", "cleo")
	c, err := te.Transfer(ctx, c1.ID, ann, "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != model.StateActive || !slices.Equal(te.holders(t, c1.ID), []string{"bob"}) {
		t.Errorf("after the transfer to Bob: state %s, agents %v", c.State, te.holders(t, c1.ID))
	}
	if got := te.eventTypes(t, c1.ID); !slices.Equal(got[len(got)-4:], []model.EventType{model.EventParticipantLeft,
		model.EventTransferred, model.EventNotice, model.EventParticipantJoined}) {
		t.Errorf("transfer events %v", got)
	}
	if a, b := te.agentChats(t, "ann"), te.agentChats(t, "bob"); len(a) != 0 || !slices.Equal(b, []string{c1.ID}) {
		t.Errorf("seats after the transfer: Ann %v, Bob %v", a, b)
	}

	c2 := te.start(t, engine.StartRequest{Deployment: "web"})
	if got := te.waitHeld(t, c2.ID); got != "ann" {
		t.Fatalf("c2 went to %s, want ann (Cleo has no more free seats: 1 vs 2)", got)
	}
	ann = te.participant(t, c2.ID, "ann")
	if _, err := te.Transfer(ctx, c2.ID, ann, "bob", ""); !errors.Is(err, engine.ErrAtCapacity) {
		t.Errorf("transfer to Bob (full): %v, want ErrAtCapacity", err)
	}
	// To the vip queue: Ann lacks vip, Bob is full, Cleo takes it.
	if c, err = te.Transfer(ctx, c2.ID, ann, "", "vip"); err != nil {
		t.Fatal(err)
	}
	if c.Queue != "vip" {
		t.Errorf("transferred chat's queue %q, want vip", c.Queue)
	}
	if got := te.waitHeld(t, c2.ID); got != "cleo" {
		t.Errorf("chat transferred to vip went to %s, want cleo", got)
	}
	if _, err := te.Transfer(ctx, c2.ID, ann, "", "support"); !errors.Is(err, engine.ErrNotParticipant) {
		t.Errorf("a second transfer by Ann, who left: %v, want ErrNotParticipant", err)
	}
}

// TestEngineRequeue: an agent going offline leaves its chats, which are
// queued again with a notice to the visitor and routed to the next agent;
// one away keeps them; one online without a connection for the presence
// grace turns away and loses them.
func TestEngineRequeue(t *testing.T) {
	te := newTestEngine(t, engineConfig(agentCfg("ann", 5, nil, nil), agentCfg("bob", 5, nil, nil), agentCfg("cleo", 5, nil, nil)))
	ctx := context.Background()
	te.online(t, "ann")
	c1 := te.start(t, engine.StartRequest{Deployment: "web"})
	c2 := te.start(t, engine.StartRequest{Deployment: "web"})
	te.waitHeld(t, c1.ID)
	te.waitHeld(t, c2.ID)

	if err := te.SetStatus(ctx, "ann", engine.StatusOffline); err != nil {
		t.Fatal(err)
	}
	// The requeue is written before SetStatus returns, and nobody else is
	// online to take the chats.
	for _, id := range []string{c1.ID, c2.ID} {
		c := te.chat(t, id)
		if c.State != model.StateQueued || len(te.holders(t, id)) != 0 {
			t.Errorf("after Ann went offline: state %s, agents %v; want queued for nobody", c.State, te.holders(t, id))
		}
		if got := te.eventTypes(t, id); !slices.Equal(got[len(got)-2:], []model.EventType{model.EventParticipantLeft, model.EventNotice}) {
			t.Errorf("requeue events %v, want ParticipantLeft, Notice last", got)
		}
	}
	if got := te.agentChats(t, "ann"); len(got) != 0 {
		t.Errorf("offline Ann still counts %v", got)
	}
	te.online(t, "bob")
	te.waitHeld(t, c1.ID)
	te.waitHeld(t, c2.ID)

	if err := te.SetStatus(ctx, "bob", engine.StatusAway); err != nil {
		t.Fatal(err)
	}
	if got := sorted(te.agentChats(t, "bob")); !slices.Equal(got, sorted([]string{c1.ID, c2.ID})) {
		t.Errorf("away Bob has %v, want his two chats kept", got)
	}
	if err := te.SetStatus(ctx, "bob", engine.StatusOnline); err != nil {
		t.Fatal(err)
	}

	// Bob loses his connection: away after the grace (60 s by default),
	// counted from the first sweep that sees him absent.
	te.setPresent("bob", false)
	te.SweepPresence()
	te.clock.Add(59 * time.Second)
	te.SweepPresence()
	if info, _ := te.Agent("bob"); info.Status != engine.StatusOnline || len(info.Chats) != 2 {
		t.Fatalf("Bob within the grace: %s with %v, want online with 2 chats", info.Status, info.Chats)
	}
	te.clock.Add(time.Second)
	te.SweepPresence()
	info, _ := te.Agent("bob")
	if info.Status != engine.StatusAway || len(info.Chats) != 0 || info.Note == "" {
		t.Errorf("Bob past the grace: %s with %v, note %q; want away, no chats, a note", info.Status, info.Chats, info.Note)
	}
	te.online(t, "cleo")
	for _, id := range []string{c1.ID, c2.ID} {
		if got := te.waitHeld(t, id); got != "cleo" {
			t.Errorf("requeued chat went to %s, want cleo", got)
		}
	}
}

// TestEngineRemovedAgentRequeued: an agent dropped from the configuration at
// run time leaves its chats, which are queued again and routed to the
// others; an invalid configuration changes nothing.
func TestEngineRemovedAgentRequeued(t *testing.T) {
	cfg := engineConfig(agentCfg("ann", 5, nil, nil), agentCfg("bob", 5, nil, nil))
	te := newTestEngine(t, cfg)
	ctx := context.Background()
	te.online(t, "ann")
	c1 := te.start(t, engine.StartRequest{Deployment: "web"})
	te.waitHeld(t, c1.ID)

	bad := engineConfig(agentCfg("bob", 5, nil, nil))
	bad.Deployments[0].Queue = "nowhere"
	if err := te.SetConfig(ctx, bad); err == nil {
		t.Fatal("SetConfig accepted a deployment on an unknown queue")
	}
	if h := te.holders(t, c1.ID); !slices.Equal(h, []string{"ann"}) {
		t.Fatalf("a refused configuration moved the chat to %v", h)
	}

	if err := te.SetConfig(ctx, engineConfig(agentCfg("bob", 5, nil, nil))); err != nil {
		t.Fatal(err)
	}
	if _, err := te.Agent("ann"); !errors.Is(err, engine.ErrUnknownAgent) {
		t.Errorf("removed Ann: %v, want ErrUnknownAgent", err)
	}
	if c := te.chat(t, c1.ID); c.State != model.StateQueued {
		t.Errorf("Ann's chat after her removal: %s, want queued", c.State)
	}
	te.online(t, "bob")
	if got := te.waitHeld(t, c1.ID); got != "bob" {
		t.Errorf("requeued chat went to %s, want bob", got)
	}
}

// TestEngineTransferCountsAsGiven: a chat transferred to an agent counts for
// the tie-break like one routed or accepted: between agents with as many
// free seats, the next chat goes to the one given a chat longer ago, not to
// the one that came online first but has just received a transfer.
func TestEngineTransferCountsAsGiven(t *testing.T) {
	te := newTestEngine(t, engineConfig(agentCfg("ann", 2, nil, nil), agentCfg("bob", 2, nil, nil), agentCfg("cleo", 1, nil, nil)))
	ctx := context.Background()
	te.online(t, "ann", "bob") // Ann first
	te.clock.Add(time.Minute)
	y := te.start(t, engine.StartRequest{Deployment: "web", Queue: "manual"})
	if err := te.Assign(ctx, y.ID, "bob"); err != nil { // Bob given a chat at 1 min
		t.Fatal(err)
	}
	te.clock.Add(time.Minute)
	x := te.start(t, engine.StartRequest{Deployment: "web", Queue: "manual"})
	if err := te.Assign(ctx, x.ID, "cleo"); err != nil {
		t.Fatal(err)
	}
	if _, err := te.Transfer(ctx, x.ID, te.participant(t, x.ID, "cleo"), "ann", ""); err != nil { // Ann given one at 2 min
		t.Fatal(err)
	}
	te.clock.Add(time.Minute)
	c := te.start(t, engine.StartRequest{Deployment: "web"})
	if got := te.waitHeld(t, c.ID); got != "bob" {
		t.Errorf("the next chat went to %s, want bob: both have one free seat, Bob was given his chat a minute before Ann hers", got)
	}
}

// TestEngineQueuedOrderIsRoutingOrder: chats started in the same millisecond
// with the same priority are listed to agents in the order routing gives
// them out, every time.
func TestEngineQueuedOrderIsRoutingOrder(t *testing.T) {
	te := newTestEngine(t, engineConfig(agentCfg("ann", 1, nil, nil)))
	ctx := context.Background()
	for range 6 {
		if _, err := te.Start(ctx, engine.StartRequest{Deployment: "web", Visitor: model.Profile{Nickname: "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	for _, c := range te.Queued("ann") {
		listed = append(listed, c.ID)
	}
	for range 5 {
		var again []string
		for _, c := range te.Queued("ann") {
			again = append(again, c.ID)
		}
		if !slices.Equal(again, listed) {
			t.Fatalf("Queued lists ties in another order each time: %v, then %v", listed, again)
		}
	}
	for i, id := range listed {
		if pos, _ := te.QueuePosition(id); pos != i+1 {
			t.Errorf("chat %d of the list has position %d", i+1, pos)
		}
	}
	te.online(t, "ann")
	for i, id := range listed {
		var got []string
		waitFor(t, "Ann given a chat", func() bool { got = te.agentChats(t, "ann"); return len(got) > 0 })
		if !slices.Equal(got, []string{id}) {
			t.Fatalf("routing gave %v, want chat %d of the list (%s)", got, i+1, id)
		}
		if _, err := te.End(ctx, id, model.Party{Type: "Client"}, "visitor"); err != nil {
			t.Fatal(err)
		}
	}
}
