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
	uploads         *ratelimit.Slots   // limits.uploadsPerIP, limits.uploadsTotal
	chatSockets     *ratelimit.Slots   // limits.socketsPerChat
}

func newLimits(l config.Limits) *limits {
	return &limits{
		perIP:       ratelimit.New(l.RatePerIP, time.Second),
		perToken:    ratelimit.New(l.RatePerToken, time.Second),
		chatStarts:  ratelimit.New(l.ChatsPerIPPerMinute, time.Minute),
		uploads:     ratelimit.NewSlots(l.UploadsPerIP, l.UploadsTotal),
		chatSockets: ratelimit.NewSlots(l.SocketsPerChat, 0),
	}
}

// chatStartCommands are the commands that may start a chat.
var chatStartCommands = []string{"WebChatService.startChat", "WebChatService.identify"}

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
