package native

import (
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/cxgate/cxgate/bus"
)

// benchFrame is a sendMessage frame whose message has n bytes.
func benchFrame(n int) []byte {
	return fmt.Appendf(nil, `{"id":7,"command":"WebChatService.sendMessage","options":{"message":%q,"requestId":"0b5c6f2e-8a1d-4e3b-9c7f-2d4a6b8c0e1f"}}`,
		strings.Repeat("x", n))
}

func BenchmarkDecodeFrame(b *testing.B) {
	for _, size := range []int{16, 1024, 60 << 10} {
		b.Run(fmt.Sprintf("msg=%dB", size), func(b *testing.B) {
			data := benchFrame(size)
			var p fastjson.Parser // one per socket, as in session.read
			var rejected int
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := decodeFrame(&p, data); err != nil {
					rejected++
				}
			}
			b.ReportMetric(float64(rejected), "rejects")
		})
	}
	b.Run("auth", func(b *testing.B) {
		data := []byte(`{"id":0,"auth":{"token":"3f1c9b7a2e5d4c8b9a1f0e6d7c5b4a39","after":12}}`)
		var p fastjson.Parser
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := decodeFrame(&p, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFrame_AppendJSON(b *testing.B) {
	var p fastjson.Parser
	f, err := decodeFrame(&p, benchFrame(1024))
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = f.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendEvent(b *testing.B) {
	for _, size := range []int{16, 1024, 60 << 10} {
		b.Run(fmt.Sprintf("text=%dB", size), func(b *testing.B) {
			ev := bus.Event{
				Name: "WebChatService.messageReceived",
				Seq:  123456,
				Data: fmt.Appendf(nil, `{"messages":[{"index":123456,"type":"Message","from":{"name":"Ann","type":"Agent","participantId":"ann"},"text":%q,"timestamp":1763730000000}],"restoring":false}`,
					strings.Repeat("x", size)),
			}
			var buf []byte // reused, as in session.write
			b.ReportAllocs()
			for b.Loop() {
				buf = appendEvent(buf[:0], ev)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
