package faqbot_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxgate/cxgate/bots/faqbot"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

const hookSecret = "bot-hook-secret"

// TestBotAnswersThenHandsOverToHuman runs the RingCX bot flow end to end on
// a real gateway: the bot is told of the new thread by a signed webhook,
// fetches the conversation, accepts the chat, answers from its FAQ, and on
// request transfers to the human queue, where Ann continues with the whole
// history.
func TestBotAnswersThenHandsOverToHuman(t *testing.T) {
	// The bot's address goes into the gateway's config, and the gateway's
	// into the bot: start the listener first, plug the bot in after.
	var bot atomic.Pointer[faqbot.Bot]
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b := bot.Load(); b != nil {
			b.ServeHTTP(w, r)
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hooks.Close)

	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Queues = []config.Queue{
		{Name: "frontdesk", Skills: []string{"faq"}, ManualAccept: true},
		{Name: "support"},
	}
	cfg.Deployments = []config.Deployment{{Key: "demo", Mode: config.ModeLive, Queue: "frontdesk", Origins: []string{"*"}}}
	cfg.Agents = []config.Agent{
		{ID: "ann", Name: "Ann", Token: "ann-secret", Kind: config.KindHuman, MaxChats: 5},
		{ID: "faq", Name: "FAQ bot", Token: "faq-bot-token", Kind: config.KindBot, Skills: []string{"faq"}, MaxChats: 50},
	}
	cfg.Webhooks = []config.Webhook{{ID: "bot", URL: hooks.URL, Secret: hookSecret,
		Events: []string{"thread.created", "message.created", "chat.transferred", "chat.ended"}}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	bot.Store(faqbot.New(faqbot.Config{Gateway: gw.URL, Token: "faq-bot-token", WebhookSecret: hookSecret,
		Queue: "frontdesk", HumanQueue: "support"}))

	ann := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	ann.MustAuth("ann-secret", 0)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)

	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Tom"}).Into(t, &st)
	visitor := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	visitor.MustAuth(st.Token, 0)
	v := guest.WithToken(st.Token)

	var seen []wiretest.Message
	waitText := func(from, contains string) {
		t.Helper()
		visitor.Until(10*time.Second, func(ev wiretest.Event) bool {
			if ev.Name != "WebChatService.messageReceived" {
				return false
			}
			for _, m := range ev.Messages(t) {
				seen = append(seen, m)
				if m.Type == "Message" && m.From.Name == from && strings.Contains(m.Text, contains) {
					return true
				}
			}
			return false
		})
	}
	waitText("FAQ bot", "I'm the FAQ bot")
	v.Command("WebChatService.sendMessage", map[string]string{"message": "How long does shipping take?"}).Resolved(t)
	waitText("FAQ bot", "2–4 business days")
	v.Command("WebChatService.sendMessage", map[string]string{"message": "Can I talk to an agent?"}).Resolved(t)
	waitText("FAQ bot", "Connecting you with a person")

	// Ann is routed the chat and sees everything the bot and visitor said.
	ann.Until(10*time.Second, func(ev wiretest.Event) bool { return ev.Name == "AgentService.chatAssigned" })
	var tr struct{ Messages []wiretest.Message }
	ann.Command("AgentService.getTranscript", map[string]string{"chatId": st.ChatID}).Into(t, &tr)
	var texts []string
	for _, m := range tr.Messages {
		if m.Type == "Message" {
			texts = append(texts, m.From.Name+": "+m.Text)
		}
	}
	joined := strings.Join(texts, "\n")
	for _, want := range []string{"FAQ bot: Hi! I'm the FAQ bot", "Tom: How long does shipping take?",
		"FAQ bot: Orders ship within 24 hours", "Tom: Can I talk to an agent?", "FAQ bot: Connecting you with a person"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("Ann's transcript lacks %q:\n%s", want, joined)
		}
	}
	// The visitor was told of the transfer to the queue.
	told := false
	for _, ev := range v.Poll(0, 0).Events {
		if ev.Name == "WebChatService.messageReceived" {
			for _, m := range ev.Messages(t) {
				told = told || m.Type == "Notice" && strings.Contains(m.Text, "transferred")
			}
		}
	}
	if !told {
		t.Fatal("the visitor saw no notice of the transfer to the human queue")
	}
	ann.Command("AgentService.sendMessage", map[string]string{"chatId": st.ChatID, "message": "Hi Tom, Ann here. How can I help?"}).Resolved(t)
	waitText("Ann", "Ann here")

	// The bot no longer answers in a chat it handed over.
	v.Command("WebChatService.sendMessage", map[string]string{"message": "What are your opening hours?"}).Resolved(t)
	ann.Until(10*time.Second, func(ev wiretest.Event) bool {
		return ev.Name == "AgentService.messageReceived" && strings.Contains(string(ev.Data), "opening hours")
	})
	// The bot answers a webhook only once it has done what it meant to: once
	// the outbox is empty, any answer to that message is in the transcript.
	wiretest.WaitFor(t, 10*time.Second, func() bool {
		pending, _, err := gw.Webhooks().Depth(context.Background())
		return err == nil && pending == 0
	})
	ann.Command("AgentService.getTranscript", map[string]string{"chatId": st.ChatID}).Into(t, &tr)
	for _, m := range tr.Messages {
		if m.From.Name == "FAQ bot" && strings.Contains(m.Text, "Monday to Friday") {
			t.Fatalf("the bot answered after the handover: %+v", m)
		}
	}
	if last := tr.Messages[len(tr.Messages)-1]; last.Text != "What are your opening hours?" {
		t.Fatalf("the last message is %+v, want the visitor's question to Ann", last)
	}
}

// TestBotResolves: a visitor who is done gets a goodbye and the chat is
// resolved (a live chat ends).
func TestBotResolves(t *testing.T) {
	var bot atomic.Pointer[faqbot.Bot]
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b := bot.Load(); b != nil {
			b.ServeHTTP(w, r)
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hooks.Close)
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Queues = []config.Queue{{Name: "frontdesk", ManualAccept: true}}
	cfg.Deployments = []config.Deployment{{Key: "demo", Mode: config.ModeLive, Queue: "frontdesk", Origins: []string{"*"}}}
	cfg.Agents = []config.Agent{{ID: "faq", Name: "FAQ bot", Token: "faq-bot-token", Kind: config.KindBot, MaxChats: 50}}
	cfg.Webhooks = []config.Webhook{{ID: "bot", URL: hooks.URL, Secret: hookSecret}}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	bot.Store(faqbot.New(faqbot.Config{Gateway: gw.URL, Token: "faq-bot-token", WebhookSecret: hookSecret,
		Queue: "frontdesk", HumanQueue: "frontdesk"}))

	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo")
	var st struct{ ChatID, Token string }
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Zoe"}).Into(t, &st)
	visitor := wiretest.Dial(t, gw.WSURL, wiretest.DialOptions{})
	visitor.MustAuth(st.Token, 0)
	visitor.Until(10*time.Second, func(ev wiretest.Event) bool {
		return strings.Contains(string(ev.Data), "FAQ bot") && ev.Name == "WebChatService.messageReceived" && strings.Contains(string(ev.Data), "Hi!")
	})
	guest.WithToken(st.Token).Command("WebChatService.sendMessage", map[string]string{"message": "ok thanks, bye"}).Resolved(t)
	visitor.Until(10*time.Second, func(ev wiretest.Event) bool { return ev.Name == "WebChatService.ended" })
}
