package server

import (
	"context"
	"time"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/ratelimit"
)

// limits are the budgets every wire spends together (config limits):
// the gateway's HTTP middleware, the native socket's command frames, the
// guest chat stream and the chat starts of every wire.
type limits struct {
	perIP, perToken *ratelimit.Limiter // limits.ratePerIP, limits.ratePerToken, per second
	chatStarts      *ratelimit.Limiter // limits.chatsPerIPPerMinute
	storeBytes      *ratelimit.Limiter // limits.storeBytesPerMinute
	userDataBytes   int                // limits.userDataBytes
	uploads         *ratelimit.Slots   // limits.uploadsPerIP, limits.uploadsTotal
	chatSockets     *ratelimit.Slots   // limits.socketsPerChat
}

func newLimits(l config.Limits) *limits {
	return &limits{
		perIP:         ratelimit.New(l.RatePerIP, time.Second),
		perToken:      ratelimit.New(l.RatePerToken, time.Second),
		chatStarts:    ratelimit.New(l.ChatsPerIPPerMinute, time.Minute),
		storeBytes:    ratelimit.New(l.StoreBytesPerMinute, time.Minute),
		userDataBytes: l.UserDataBytes,
		uploads:       ratelimit.NewSlots(l.UploadsPerIP, l.UploadsTotal),
		chatSockets:   ratelimit.NewSlots(l.SocketsPerChat, 0),
	}
}

// chatStartCommands are the commands that may start a chat.
var chatStartCommands = []string{"WebChatService.startChat", "WebChatService.identify"}

// guard puts every budget spent through the bus on b.
func (l *limits) guard(b *bus.Bus) error {
	if err := l.guardChatStarts(b); err != nil {
		return err
	}
	return l.guardStoreBytes(b)
}

// guardChatStarts spends the client IP's chat-start budget on each command
// that may start a chat, whatever wire it came by (every transport sets
// Caller.Remote); in-process callers without an address are not limited.
func (l *limits) guardChatStarts(b *bus.Bus) error {
	if l.chatStarts == nil {
		return nil
	}
	for _, name := range chatStartCommands {
		err := b.Before(name, func(_ context.Context, call *bus.Call) error {
			if call.Caller.Remote == "" {
				return nil
			}
			if ok, retry := l.chatStarts.Allow(call.Caller.Remote); !ok {
				return bus.ErrRateLimited.Retry(retry)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// storedOverhead is what a stored event adds to the bytes a command sent:
// its key, seq, time, sender and JSON framing, rounded up.
const storedOverhead = 512

// storingCommands are the visitor commands that add to the store.
var storingCommands = []string{
	"WebChatService.startChat", "WebChatService.identify", "WebChatService.endChat",
	"WebChatService.sendMessage", "WebChatService.sendCustomNotice", "WebChatService.sendFilteredMessage",
	"WebChatService.addPrefilter", "WebChatService.updateUserData", "WebChatService.sendFile",
	"WebChatService.markRead", "WebChatService.switchConversation",
}

// guardStoreBytes charges each storing command of a client (a visitor or a
// guest with an address) to its IP's bytes budget, before it runs: its
// options and an event's overhead; a file, its size; userData, the most a
// chat's merged userData may weigh (each update stores the merged whole).
// What one IP adds to the store per minute through visitor commands is then
// at most limits.storeBytesPerMinute, or one command's weight when that
// alone is more.
func (l *limits) guardStoreBytes(b *bus.Bus) error {
	if l.storeBytes == nil {
		return nil
	}
	for _, name := range storingCommands {
		err := b.Before(name, func(_ context.Context, call *bus.Call) error {
			k := call.Caller.Kind
			if call.Caller.Remote == "" || (k != bus.KindVisitor && k != bus.KindGuest) {
				return nil
			}
			cost := len(call.Options) + storedOverhead
			switch {
			case call.File != nil:
				cost += int(call.File.Size)
			case call.Name == "WebChatService.updateUserData" || call.Name == "WebChatService.startChat":
				cost += l.userDataBytes
			}
			if ok, retry := l.storeBytes.AllowN(call.Caller.Remote, cost); !ok {
				return bus.ErrRateLimited.Retry(retry)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
