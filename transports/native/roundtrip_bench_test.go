package native_test

import (
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// BenchmarkSocketRoundTrip is one visitor's sendMessage over its socket: the
// frame decoded, the command run, the event appended and committed, the
// reply and the messageReceived event read back by the client. "ping" is
// the same socket's bare round trip, the baseline; "nosync" the command
// without fsync, which shows what durability costs.
func BenchmarkSocketRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name   string
		noSync bool
		ping   bool
	}{{"ping", false, true}, {"sendMessage", false, false}, {"sendMessage-nosync", true, false}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := config.Demo()
			cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
			gw := servertest.Start(b, servertest.Options{Config: &cfg, NoSync: tc.noSync})
			var st struct {
				Token string `json:"token"`
			}
			wiretest.NewHTTP(b, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", map[string]any{"nickname": "Bench"}).Into(b, &st)
			sock := wiretest.Dial(b, gw.WSURL, wiretest.DialOptions{})
			sock.MustAuth(st.Token, 0)
			for { // the start's events
				if _, ok := sock.Next(100e6); !ok {
					break
				}
			}
			opts := map[string]string{"message": "hello, where is my order?"}
			b.ReportAllocs()
			for b.Loop() {
				if tc.ping {
					sock.Ping(1)
					continue
				}
				sock.Command("WebChatService.sendMessage", opts).Resolved(b)
				if _, ok := sock.Next(wiretest.Timeout); !ok {
					b.Fatal("no messageReceived for the message sent")
				}
			}
		})
	}
}
