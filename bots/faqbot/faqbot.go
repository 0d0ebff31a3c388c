package faqbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cxgate/cxgate/plugins/webhooks"
)

// Answer is one FAQ entry: any keyword in the visitor's message selects it.
type Answer struct {
	Keywords []string
	Reply    string
}

// Config configures a bot.
type Config struct {
	Gateway       string // base URL of the gateway, e.g. http://127.0.0.1:8080
	Token         string // the bot agent's token
	WebhookSecret string // the secret of the webhook subscription that calls the bot
	Queue         string // the queue whose chats the bot takes
	HumanQueue    string // where a visitor asking for a person is transferred
	Greeting      string // "" for the default
	Answers       []Answer
	Client        *http.Client // nil for a client with a 10 s timeout
	Logger        *slog.Logger
}

// DefaultAnswers is a small FAQ for the demo and the tests.
var DefaultAnswers = []Answer{
	{Keywords: []string{"shipping", "delivery", "deliver"}, Reply: "Orders ship within 24 hours and arrive in 2–4 business days."},
	{Keywords: []string{"return", "refund"}, Reply: "You can return any item within 30 days for a full refund: start from 'My orders'."},
	{Keywords: []string{"hours", "open"}, Reply: "Our team is here Monday to Friday, 9:00–18:00."},
}

// Bot answers chats of one queue.
type Bot struct {
	cfg Config

	mu    sync.Mutex
	chats map[string]bool // chats the bot holds
	seen  map[string]bool // webhook ids handled
}

// New returns a bot.
func New(cfg Config) *Bot {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Greeting == "" {
		cfg.Greeting = "Hi! I'm the FAQ bot. Ask me about shipping, returns or opening hours, or type 'agent' to talk to a person."
	}
	if cfg.Answers == nil {
		cfg.Answers = DefaultAnswers
	}
	cfg.Gateway = strings.TrimSuffix(cfg.Gateway, "/")
	return &Bot{cfg: cfg, chats: map[string]bool{}, seen: map[string]bool{}}
}

// ServeHTTP receives the gateway's webhooks.
func (b *Bot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if err := webhooks.Verify(b.cfg.WebhookSecret, r.Header, body, time.Now(), 0); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p webhooks.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	dup := b.seen[p.ID]
	b.mu.Unlock()
	if dup {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := b.handle(r.Context(), p); err != nil {
		b.cfg.Logger.Error("faqbot: handle webhook", "id", p.ID, "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable) // the outbox retries
		return
	}
	b.mu.Lock()
	b.seen[p.ID] = true
	b.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (b *Bot) holds(chatID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.chats[chatID]
}

func (b *Bot) setHolds(chatID string, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on {
		b.chats[chatID] = true
	} else {
		delete(b.chats, chatID)
	}
}

func (b *Bot) handle(ctx context.Context, p webhooks.Payload) error {
	switch p.Event {
	case webhooks.EventThreadCreated:
		if p.Chat.Queue != b.cfg.Queue || b.holds(p.Chat.ID) || p.Chat.State != "queued" {
			return nil
		}
		return b.take(ctx, p.Chat.ID)
	case webhooks.EventMessageCreated:
		if p.Message == nil || p.Message.From.Type != "Client" || !b.holds(p.Chat.ID) {
			return nil
		}
		return b.answer(ctx, p.Chat.ID, p.Message.Text)
	case webhooks.EventChatEnded, webhooks.EventChatTransferred:
		b.setHolds(p.Chat.ID, false)
	}
	return nil
}

// take fetches the conversation, accepts the chat and greets; a question
// asked before the bot arrived is answered at once.
func (b *Bot) take(ctx context.Context, chatID string) error {
	var tr struct {
		Messages []struct {
			Type string
			Text string
			From struct{ Type string }
		}
	}
	if err := b.command(ctx, "AgentService.getTranscript", map[string]string{"chatId": chatID}, &tr); err != nil {
		return err
	}
	err := b.command(ctx, "AgentService.acceptChat", map[string]string{"chatId": chatID}, nil)
	var rej *rejection
	if errors.As(err, &rej) && (rej.Code == "already_assigned" || rej.Code == "chat_ended") {
		return nil // someone else has it, or it is over
	}
	if err != nil {
		return err
	}
	b.setHolds(chatID, true)
	if err := b.say(ctx, chatID, b.cfg.Greeting); err != nil {
		return err
	}
	for i := len(tr.Messages) - 1; i >= 0; i-- {
		if m := tr.Messages[i]; m.Type == "Message" && m.From.Type == "Client" {
			return b.answer(ctx, chatID, m.Text)
		}
	}
	return nil
}

// answer replies to one visitor message.
func (b *Bot) answer(ctx context.Context, chatID, text string) error {
	lower := strings.ToLower(text)
	switch {
	case containsAny(lower, "agent", "human", "person", "someone"):
		if err := b.say(ctx, chatID, "Connecting you with a person; one moment please."); err != nil {
			return err
		}
		b.setHolds(chatID, false)
		return b.command(ctx, "AgentService.transferChat", map[string]string{"chatId": chatID, "queue": b.cfg.HumanQueue}, nil)
	case containsAny(lower, "bye", "thanks", "thank you"):
		if err := b.say(ctx, chatID, "Glad I could help. Goodbye!"); err != nil {
			return err
		}
		b.setHolds(chatID, false)
		return b.command(ctx, "AgentService.resolveChat", map[string]string{"chatId": chatID, "disposition": "answered by bot"}, nil)
	}
	for _, a := range b.cfg.Answers {
		if containsAny(lower, a.Keywords...) {
			return b.say(ctx, chatID, a.Reply)
		}
	}
	return b.say(ctx, chatID, "I can help with shipping, returns and opening hours, or type 'agent' to talk to a person.")
}

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func (b *Bot) say(ctx context.Context, chatID, text string) error {
	return b.command(ctx, "AgentService.sendMessage", map[string]string{"chatId": chatID, "message": text}, nil)
}

// rejection is a command the gateway rejected.
type rejection struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (r *rejection) Error() string { return "rejected: " + r.Code + ": " + r.Message }

// command runs one AgentService command over the native wire.
func (b *Bot) command(ctx context.Context, name string, options any, out any) error {
	body, err := json.Marshal(map[string]any{"command": name, "options": options})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.Gateway+"/v1/command", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.cfg.Token)
	resp, err := b.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("faqbot: %s: %w", name, err)
	}
	defer resp.Body.Close()
	var reply struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  *rejection      `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&reply); err != nil {
		return fmt.Errorf("faqbot: %s: HTTP %d: %w", name, resp.StatusCode, err)
	}
	if reply.Status != "resolved" {
		if reply.Error == nil {
			return fmt.Errorf("faqbot: %s: HTTP %d", name, resp.StatusCode)
		}
		return reply.Error
	}
	if out != nil {
		return json.Unmarshal(reply.Data, out)
	}
	return nil
}
