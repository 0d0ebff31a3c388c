package native

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/cxgate/cxgate/bus"
)

// ErrBadFrame rejects a body or frame that is not what the wire allows.
var ErrBadFrame = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "The request is not valid JSON of the documented shape.")

func badFrame(why string) *bus.Rejection {
	return bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "The request is not valid: "+why+".")
}

// Command is a decoded POST /v1/command body or socket command frame. Every
// byte slice is a copy owned by the Command.
type Command struct {
	ID         []byte // the socket frame's id, raw JSON (number or string); nil over HTTP
	Deployment string
	Name       string
	Options    []byte // raw JSON object, or nil
}

// Auth is the first socket frame.
type Auth struct {
	Token string
	After uint64
}

// Frame is one decoded client socket frame: exactly one of Command, Auth or
// Ping is set.
type Frame struct {
	Command *Command
	Auth    *Auth
	Ping    []byte // raw JSON value to echo in the pong
	ID      []byte
}

const maxNameLen = 128

// errNotJSON is the cause of a frame that fastjson parses but JSON forbids.
var errNotJSON = errors.New("native: not strict JSON")

// parse parses data as strict JSON. fastjson's parser alone also takes NaN,
// Inf, malformed numbers, raw control characters and unknown escapes in
// strings, which we would echo back (ids, pings) or forward to plugins
// (options) as they came.
func parse(p *fastjson.Parser, data []byte) (*fastjson.Value, error) {
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, ErrBadFrame.Wrap(err)
	}
	if !strictJSON(data) {
		return nil, ErrBadFrame.Wrap(errNotJSON)
	}
	return v, nil
}

// strictJSON reports whether data is JSON as RFC 8259 defines it.
// fastjson.Validate is fast but misses a control character that precedes an
// escape in the same string, so data holding both a control byte and a
// backslash gets encoding/json's slower check. Browsers send neither.
func strictJSON(data []byte) bool {
	if bytes.IndexByte(data, '\\') >= 0 {
		for _, c := range data {
			if c < 0x20 {
				return json.Valid(data)
			}
		}
	}
	return fastjson.ValidateBytes(data) == nil
}

// decodeCommand decodes an HTTP command body.
func decodeCommand(p *fastjson.Parser, data []byte) (Command, error) {
	v, err := parse(p, data)
	if err != nil {
		return Command{}, err
	}
	if v.Type() != fastjson.TypeObject {
		return Command{}, badFrame("the body must be a JSON object")
	}
	return commandOf(v)
}

func commandOf(v *fastjson.Value) (Command, error) {
	var c Command
	name := v.Get("command")
	if name == nil || name.Type() != fastjson.TypeString {
		return c, badFrame(`"command" must be a string like "WebChatService.sendMessage"`)
	}
	c.Name = string(name.GetStringBytes())
	if c.Name == "" || len(c.Name) > maxNameLen || bytes.Count([]byte(c.Name), []byte(".")) != 1 {
		return c, badFrame(`"command" must be a string like "WebChatService.sendMessage"`)
	}
	if d := v.Get("deployment"); d != nil {
		if d.Type() != fastjson.TypeString || len(d.GetStringBytes()) > maxNameLen {
			return c, badFrame(`"deployment" must be a string`)
		}
		c.Deployment = string(d.GetStringBytes())
	}
	if o := v.Get("options"); o != nil && o.Type() != fastjson.TypeNull {
		if o.Type() != fastjson.TypeObject {
			return c, badFrame(`"options" must be an object`)
		}
		c.Options = o.MarshalTo(nil)
	}
	return c, nil
}

// decodeFrame decodes one client socket frame.
func decodeFrame(p *fastjson.Parser, data []byte) (Frame, error) {
	v, err := parse(p, data)
	if err != nil {
		return Frame{}, err
	}
	if v.Type() != fastjson.TypeObject {
		return Frame{}, badFrame("a frame must be a JSON object")
	}
	var f Frame
	if id := v.Get("id"); id != nil {
		switch id.Type() {
		case fastjson.TypeNumber:
			f.ID = id.MarshalTo(nil)
		case fastjson.TypeString:
			// Not MarshalTo: it quotes special characters Go's way (\x01).
			f.ID = appendString(nil, string(id.GetStringBytes()))
		}
		if f.ID == nil || len(f.ID) > 64 {
			return Frame{}, badFrame(`"id" must be a number or a short string`)
		}
	}
	switch {
	case v.Exists("auth"):
		a := v.Get("auth")
		if a.Type() != fastjson.TypeObject {
			return Frame{}, badFrame(`"auth" must be an object`)
		}
		tok := a.Get("token")
		if tok == nil || tok.Type() != fastjson.TypeString || len(tok.GetStringBytes()) > 512 {
			return Frame{}, badFrame(`"auth.token" must be a string`)
		}
		f.Auth = &Auth{Token: string(tok.GetStringBytes())}
		if after := a.Get("after"); after != nil && after.Type() != fastjson.TypeNull {
			n, err := after.Uint64()
			if err != nil {
				return Frame{}, badFrame(`"auth.after" must be a seq: a whole number`)
			}
			f.Auth.After = n
		}
	case v.Exists("ping"):
		f.Ping = v.Get("ping").MarshalTo(nil)
		if len(f.Ping) > 64 {
			return Frame{}, badFrame(`"ping" must be a short value`)
		}
	default:
		c, err := commandOf(v)
		if err != nil {
			// Keep the id: the client matches the rejection to its command.
			return Frame{ID: f.ID}, err
		}
		c.ID = f.ID
		f.Command = &c
	}
	return f, nil
}

// AppendJSON encodes the frame as the client would send it. Decoding what it
// appends yields the same frame: the fuzz tests hold it to that.
func (f Frame) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	if f.ID != nil {
		dst = append(dst, `"id":`...)
		dst = append(dst, f.ID...)
		dst = append(dst, ',')
	}
	switch {
	case f.Auth != nil:
		dst = append(dst, `"auth":{"token":`...)
		dst = appendString(dst, f.Auth.Token)
		dst = append(dst, `,"after":`...)
		dst = strconv.AppendUint(dst, f.Auth.After, 10)
		dst = append(dst, '}')
	case f.Ping != nil:
		dst = append(dst, `"ping":`...)
		dst = append(dst, f.Ping...)
	case f.Command != nil:
		dst = append(dst, `"command":`...)
		dst = appendString(dst, f.Command.Name)
		if f.Command.Deployment != "" {
			dst = append(dst, `,"deployment":`...)
			dst = appendString(dst, f.Command.Deployment)
		}
		if f.Command.Options != nil {
			dst = append(dst, `,"options":`...)
			dst = append(dst, f.Command.Options...)
		}
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendEvent appends one event frame: {"event":…,"seq":…,"data":…}.
func appendEvent(dst []byte, ev bus.Event) []byte {
	dst = append(dst, `{"event":`...)
	dst = appendString(dst, ev.Name)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	dst = append(dst, `,"data":`...)
	if len(ev.Data) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, ev.Data...)
	}
	return append(dst, '}')
}

// appendUnits appends every event of the units, comma-separated.
func appendUnits(dst []byte, units []bus.Event) []byte {
	first := true
	for _, u := range units {
		for _, ev := range append([]bus.Event{u}, u.With...) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendEvent(dst, ev)
		}
	}
	return dst
}

// appendReply appends {"id":…,"status":"resolved","data":…} or the rejected
// form; id may be nil (HTTP).
func appendReply(dst, id, data []byte, rej *bus.Rejection) []byte {
	dst = append(dst, '{')
	if id != nil {
		dst = append(dst, `"id":`...)
		dst = append(dst, id...)
		dst = append(dst, ',')
	}
	if rej != nil {
		dst = append(dst, `"status":"rejected","error":{"code":`...)
		dst = appendString(dst, rej.Code)
		dst = append(dst, `,"message":`...)
		dst = appendString(dst, rej.Message)
		if n := rej.RetrySeconds(); n > 0 {
			dst = strconv.AppendInt(append(dst, `,"retryAfter":`...), int64(n), 10)
		}
		return append(dst, "}}"...)
	}
	dst = append(dst, `"status":"resolved","data":`...)
	dst = append(dst, data...)
	return append(dst, '}')
}
