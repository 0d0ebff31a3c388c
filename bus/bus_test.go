package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/bus"
)

// echo resolves with the call's options.
func echo(_ context.Context, call *bus.Call) (any, error) {
	return json.RawMessage(call.Options), nil
}

// newTestPlugin returns an unstarted bus and a plugin registered on it.
func newTestPlugin(t testing.TB, name string) (*bus.Bus, *bus.Plugin) {
	t.Helper()
	b := bus.New()
	t.Cleanup(b.Close)
	p, err := b.RegisterPlugin(name)
	if err != nil {
		t.Fatalf("RegisterPlugin(%q): %v", name, err)
	}
	return b, p
}

func mustRegister(t testing.TB, p *bus.Plugin, name string, h bus.HandlerFunc, opts ...bus.CommandOption) {
	t.Helper()
	if err := p.RegisterCommand(name, h, opts...); err != nil {
		t.Fatalf("RegisterCommand(%q): %v", name, err)
	}
}

// mustReject checks that err is a *Rejection with the given code and
// returns it.
func mustReject(t testing.TB, err error, code string) *bus.Rejection {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want a rejection with code %q", code)
	}
	var r *bus.Rejection
	if !errors.As(err, &r) {
		t.Fatalf("err = %v (%T), want a *bus.Rejection", err, err)
	}
	if r.Code != code {
		t.Fatalf("code = %q (%v), want %q", r.Code, err, code)
	}
	return r
}

var visitor = bus.Caller{Kind: bus.KindVisitor, ID: "c1", Deployment: "demo"}

func TestRegister(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		b, p := newTestPlugin(t, "WebChatService")
		if got, want := p.Name(), "WebChatService"; got != want {
			t.Errorf("Name() = %q, want %q", got, want)
		}
		mustRegister(t, p, "sendMessage", echo)
		mustRegister(t, p, "endChat", echo, bus.Private())
		p.RegisterEvents("messageReceived", "ended")
		if _, err := b.RegisterPlugin("AgentService"); err != nil {
			t.Fatal(err)
		}
		reg := b.Registry()
		if got, want := len(reg), 2; got != want {
			t.Fatalf("len(Registry()) = %d, want %d", got, want)
		}
		info := reg["WebChatService"]
		if got, want := strings.Join(info.Commands, ","), "sendMessage,endChat"; got != want {
			t.Errorf("commands = %q, want %q", got, want)
		}
		if got, want := strings.Join(info.Events, ","), "messageReceived,ended"; got != want {
			t.Errorf("events = %q, want %q", got, want)
		}
		// Registry returns copies.
		info.Commands[0] = "changed"
		if got := b.Registry()["WebChatService"].Commands[0]; got != "sendMessage" {
			t.Errorf("Registry shares its slices: got %q after modifying a copy", got)
		}
	})

	t.Run("ErrNameTaken", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		if _, err := b.RegisterPlugin("P"); !errors.Is(err, bus.ErrNameTaken) {
			t.Errorf("second RegisterPlugin(P) = %v, want ErrNameTaken", err)
		}
		mustRegister(t, p, "c", echo)
		if err := p.RegisterCommand("c", echo); !errors.Is(err, bus.ErrNameTaken) {
			t.Errorf("second RegisterCommand(c) = %v, want ErrNameTaken", err)
		}
		feed := func(context.Context, bus.Caller, uint64, int) ([]bus.Event, error) { return nil, nil }
		if err := p.RegisterFeed(bus.KindVisitor, feed); err != nil {
			t.Fatal(err)
		}
		if err := p.RegisterFeed(bus.KindVisitor, feed); !errors.Is(err, bus.ErrNameTaken) {
			t.Errorf("second RegisterFeed(visitor) = %v, want ErrNameTaken", err)
		}
	})

	t.Run("ErrBadName", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		for _, name := range []string{"", "a.b", "a b", "a*", "é", strings.Repeat("x", 65), "*", "a/b"} {
			if _, err := b.RegisterPlugin(name); !errors.Is(err, bus.ErrBadName) {
				t.Errorf("RegisterPlugin(%q) = %v, want ErrBadName", name, err)
			}
			if err := p.RegisterCommand(name, echo); !errors.Is(err, bus.ErrBadName) {
				t.Errorf("RegisterCommand(%q) = %v, want ErrBadName", name, err)
			}
		}
		if err := p.RegisterCommand("ok", nil); !errors.Is(err, bus.ErrBadName) {
			t.Errorf("RegisterCommand with a nil handler = %v, want ErrBadName", err)
		}
		if _, err := b.RegisterPlugin(strings.Repeat("x", 64)); err != nil {
			t.Errorf("RegisterPlugin(64 chars) = %v, want nil", err)
		}
	})

	t.Run("ErrStarted", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		b.Start()
		if _, err := b.RegisterPlugin("Q"); !errors.Is(err, bus.ErrStarted) {
			t.Errorf("RegisterPlugin = %v, want ErrStarted", err)
		}
		if err := p.RegisterCommand("c", echo); !errors.Is(err, bus.ErrStarted) {
			t.Errorf("RegisterCommand = %v, want ErrStarted", err)
		}
		if err := p.RegisterEvents("e"); !errors.Is(err, bus.ErrStarted) {
			t.Errorf("RegisterEvents = %v, want ErrStarted", err)
		}
		if err := p.RegisterFeed(bus.KindVisitor, nil); !errors.Is(err, bus.ErrStarted) {
			t.Errorf("RegisterFeed = %v, want ErrStarted", err)
		}
		if err := p.RegisterAuth(nil); !errors.Is(err, bus.ErrStarted) {
			t.Errorf("RegisterAuth = %v, want ErrStarted", err)
		}
		if err := b.Before("P.c", nil); !errors.Is(err, bus.ErrStarted) {
			t.Errorf("Before = %v, want ErrStarted", err)
		}
		if got := len(b.Registry()["P"].Commands) + len(b.Registry()["P"].Events); got != 0 {
			t.Errorf("registry changed after Start: %+v", b.Registry())
		}
	})
}

func TestBus_Command(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		b, p := newTestPlugin(t, "WebChatService")
		var got *bus.Call
		mustRegister(t, p, "sendMessage", func(_ context.Context, call *bus.Call) (any, error) {
			got = call
			return "sent", nil
		})
		b.Start()
		res, err := b.Command(t.Context(), visitor, "WebChatService.sendMessage", []byte(`{"message":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		if res != "sent" {
			t.Errorf("result = %v, want sent", res)
		}
		if got.Name != "WebChatService.sendMessage" || got.Caller != visitor || string(got.Options) != `{"message":"hi"}` {
			t.Errorf("handler got %+v", got)
		}
	})

	t.Run("Rejected", func(t *testing.T) {
		b, p := newTestPlugin(t, "WebChatService")
		noSession := bus.Reject(http.StatusConflict, "no_active_session", "There is no active chat session.")
		mustRegister(t, p, "sendMessage", func(context.Context, *bus.Call) (any, error) {
			return nil, fmt.Errorf("webchat: send: %w", noSession.Wrap(errors.New("chat c1 ended")))
		})
		b.Start()
		res, err := b.Command(t.Context(), visitor, "WebChatService.sendMessage", nil)
		if res != nil {
			t.Errorf("result = %v, want nil", res)
		}
		r := mustReject(t, err, "no_active_session")
		if r.Message != "There is no active chat session." || r.Status != http.StatusConflict {
			t.Errorf("rejection = %+v", r)
		}
		if !errors.Is(err, noSession) {
			t.Errorf("errors.Is(err, noSession) = false")
		}
	})

	t.Run("UnknownCommand", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		mustRegister(t, p, "c", echo)
		b.Start()
		for _, name := range []string{"P.d", "Q.c", "P", "", "P.c.d", "p.c"} {
			_, err := b.Command(t.Context(), visitor, name, nil)
			r := mustReject(t, err, bus.CodeUnknownCommand)
			if r.Status != http.StatusNotFound {
				t.Errorf("%q: status = %d, want 404", name, r.Status)
			}
			if !errors.Is(err, bus.ErrUnknownCommand) {
				t.Errorf("%q: errors.Is(err, ErrUnknownCommand) = false", name)
			}
		}
	})

	t.Run("Internal", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		cause := errors.New("bbolt: database not open: /srv/secret/path")
		mustRegister(t, p, "c", func(context.Context, *bus.Call) (any, error) { return nil, cause })
		b.Start()
		_, err := b.Command(t.Context(), visitor, "P.c", nil)
		r := mustReject(t, err, bus.CodeInternal)
		if got, want := r.Message, "Internal error."; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
		if strings.Contains(r.Message, "secret") {
			t.Errorf("message leaks the cause: %q", r.Message)
		}
		if r.Status != http.StatusInternalServerError {
			t.Errorf("status = %d, want 500", r.Status)
		}
		if !errors.Is(err, cause) {
			t.Errorf("the cause is not kept for the logs: %v", err)
		}
		if got := bus.CodeOf(cause); got != bus.CodeInternal {
			t.Errorf("CodeOf(plain error) = %q, want internal", got)
		}
	})

	t.Run("NotStarted", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		mustRegister(t, p, "c", echo)
		_, err := b.Command(t.Context(), visitor, "P.c", nil)
		mustReject(t, err, bus.CodeUnavailable)
	})

	t.Run("Closed", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		mustRegister(t, p, "c", echo)
		b.Start()
		b.Close()
		_, err := b.Command(t.Context(), visitor, "P.c", nil)
		mustReject(t, err, bus.CodeUnavailable)
	})

	t.Run("Timeout", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		called := false
		mustRegister(t, p, "c", func(context.Context, *bus.Call) (any, error) { called = true; return nil, nil })
		b.Start()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := b.Command(ctx, visitor, "P.c", nil)
		mustReject(t, err, bus.CodeTimeout)
		if called {
			t.Error("handler ran with a done context")
		}
	})
}

func TestBus_Command_Private(t *testing.T) {
	b, p := newTestPlugin(t, "WebChatService")
	mustRegister(t, p, "_sendSystem", echo, bus.Private())
	mustRegister(t, p, "sendMessage", echo)
	other, err := b.RegisterPlugin("AgentService")
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	const want = "Access Denied to private command. Only WebChatService is allowed to invoke this command."

	t.Run("AccessDenied", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			run  func() (any, error)
		}{
			{"visitor", func() (any, error) { return b.Command(t.Context(), visitor, "WebChatService._sendSystem", nil) }},
			{"system", func() (any, error) {
				return b.Command(t.Context(), bus.Caller{Kind: bus.KindSystem}, "WebChatService._sendSystem", nil)
			}},
			{"other plugin", func() (any, error) {
				return other.Command(t.Context(), bus.Caller{Kind: bus.KindSystem}, "WebChatService._sendSystem", nil)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := tc.run()
				r := mustReject(t, err, bus.CodeAccessDenied)
				if r.Message != want {
					t.Errorf("message = %q, want %q", r.Message, want)
				}
				if r.Status != http.StatusForbidden {
					t.Errorf("status = %d, want 403", r.Status)
				}
			})
		}
	})

	t.Run("OwnPlugin", func(t *testing.T) {
		res, err := p.Command(t.Context(), visitor, "WebChatService._sendSystem", []byte(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(res.(json.RawMessage)); got != `{"a":1}` {
			t.Errorf("result = %s", got)
		}
	})

	t.Run("PublicFromOtherPlugin", func(t *testing.T) {
		if _, err := other.Command(t.Context(), visitor, "WebChatService.sendMessage", nil); err != nil {
			t.Errorf("public command from another plugin: %v", err)
		}
	})
}

func TestBus_Before(t *testing.T) {
	t.Run("OrderAndOptions", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		var order []string
		mustRegister(t, p, "c", func(_ context.Context, call *bus.Call) (any, error) {
			order = append(order, "handler")
			return string(call.Options), nil
		})
		for _, name := range []string{"first", "second", "third"} {
			err := b.Before("P.c", func(_ context.Context, call *bus.Call) error {
				order = append(order, name)
				call.Options = append(call.Options[:len(call.Options):len(call.Options)], name[0])
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		b.Start()
		res, err := b.Command(t.Context(), visitor, "P.c", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(order, ","), "first,second,third,handler"; got != want {
			t.Errorf("order = %s, want %s", got, want)
		}
		if got, want := res, "xfst"; got != want {
			t.Errorf("handler saw options %q, want %q", got, want)
		}
	})

	t.Run("ErrVetoed", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		ran := map[string]bool{}
		mustRegister(t, p, "c", func(context.Context, *bus.Call) (any, error) { ran["handler"] = true; return nil, nil })
		cause := errors.New("not today")
		_ = b.Before("P.c", func(context.Context, *bus.Call) error { ran["veto"] = true; return cause })
		_ = b.Before("P.c", func(context.Context, *bus.Call) error { ran["later"] = true; return nil })
		b.Start()
		_, err := b.Command(t.Context(), visitor, "P.c", nil)
		r := mustReject(t, err, bus.CodeVetoed)
		if got, want := r.Message, "Command was cancelled by a 'before' function."; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
		if !errors.Is(err, bus.ErrVetoed) || !errors.Is(err, cause) {
			t.Errorf("err = %v, want ErrVetoed wrapping the cause", err)
		}
		if ran["handler"] || ran["later"] {
			t.Errorf("ran after a veto: %v", ran)
		}
	})

	t.Run("Rejection", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		mustRegister(t, p, "c", echo)
		tooLong := bus.Reject(http.StatusRequestEntityTooLarge, bus.CodeTooLarge, "The message is too long.")
		_ = b.Before("P.c", func(context.Context, *bus.Call) error { return fmt.Errorf("limit: %w", tooLong) })
		b.Start()
		_, err := b.Command(t.Context(), visitor, "P.c", nil)
		r := mustReject(t, err, bus.CodeTooLarge)
		if r.Message != tooLong.Message || r.Status != tooLong.Status {
			t.Errorf("rejection = %+v, want %+v", r, tooLong)
		}
	})

	t.Run("OtherCommand", func(t *testing.T) {
		b, p := newTestPlugin(t, "P")
		mustRegister(t, p, "c", echo)
		mustRegister(t, p, "d", echo)
		_ = b.Before("P.d", func(context.Context, *bus.Call) error { return errors.New("no") })
		b.Start()
		if _, err := b.Command(t.Context(), visitor, "P.c", nil); err != nil {
			t.Errorf("a hook of P.d ran for P.c: %v", err)
		}
	})
}

func TestBus_Feed(t *testing.T) {
	b, p := newTestPlugin(t, "WebChatService")
	type feedCall struct {
		caller bus.Caller
		after  uint64
		limit  int
	}
	var got feedCall
	err := p.RegisterFeed(bus.KindVisitor, func(_ context.Context, c bus.Caller, after uint64, limit int) ([]bus.Event, error) {
		got = feedCall{c, after, limit}
		if after > 100 {
			return nil, errors.New("store: closed")
		}
		return []bus.Event{{Name: "WebChatService.messageReceived", Topic: c.Topic(), Seq: after + 1}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Start()

	t.Run("OK", func(t *testing.T) {
		evs, err := b.Feed(t.Context(), visitor, 7, 50)
		if err != nil {
			t.Fatal(err)
		}
		if want := (feedCall{visitor, 7, 50}); got != want {
			t.Errorf("feed called with %+v, want %+v", got, want)
		}
		if len(evs) != 1 || evs[0].Seq != 8 || evs[0].Topic != "chat/c1" {
			t.Errorf("events = %+v", evs)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		_, err := b.Feed(t.Context(), bus.Caller{Kind: bus.KindAgent, ID: "ann"}, 0, 10)
		mustReject(t, err, bus.CodeForbidden)
	})
	t.Run("Internal", func(t *testing.T) {
		_, err := b.Feed(t.Context(), visitor, 101, 10)
		mustReject(t, err, bus.CodeInternal)
	})
}

func TestBus_Authenticate(t *testing.T) {
	b, p := newTestPlugin(t, "P")
	q, err := b.RegisterPlugin("Q")
	if err != nil {
		t.Fatal(err)
	}
	var tried []string
	ann := bus.Caller{Kind: bus.KindAgent, ID: "ann"}
	_ = p.RegisterAuth(func(_ context.Context, tok string) (bus.Caller, error) {
		tried = append(tried, "P")
		switch tok {
		case "visitor-token":
			return visitor, nil
		case "broken":
			return bus.Caller{}, errors.New("store: closed")
		case "revoked":
			return bus.Caller{}, bus.Reject(http.StatusUnauthorized, "token_revoked", "The token was revoked.")
		}
		return bus.Caller{}, bus.ErrNoMatch
	})
	_ = q.RegisterAuth(func(_ context.Context, tok string) (bus.Caller, error) {
		tried = append(tried, "Q")
		if tok == "ann-secret" {
			return ann, nil
		}
		return bus.Caller{}, fmt.Errorf("agents: %w", bus.ErrNoMatch)
	})
	b.Start()

	for _, tc := range []struct {
		token, code string
		want        bus.Caller
		tried       string
	}{
		{token: "visitor-token", want: visitor, tried: "P"},
		{token: "ann-secret", want: ann, tried: "P,Q"},
		{token: "nobody", code: bus.CodeUnauthorized, tried: "P,Q"},
		{token: "", code: bus.CodeUnauthorized, tried: ""},
		{token: "broken", code: bus.CodeInternal, tried: "P"},
		{token: "revoked", code: "token_revoked", tried: "P"},
	} {
		t.Run(tc.token, func(t *testing.T) {
			tried = nil
			c, err := b.Authenticate(t.Context(), tc.token)
			if tc.code != "" {
				mustReject(t, err, tc.code)
			} else if err != nil {
				t.Fatal(err)
			}
			if c != tc.want {
				t.Errorf("caller = %+v, want %+v", c, tc.want)
			}
			if got := strings.Join(tried, ","); got != tc.tried {
				t.Errorf("tried %q, want %q", got, tc.tried)
			}
		})
	}
}

func TestCaller(t *testing.T) {
	for _, tc := range []struct {
		c           bus.Caller
		topic, kind string
	}{
		{bus.Caller{Kind: bus.KindVisitor, ID: "c1"}, "chat/c1", "visitor"},
		{bus.Caller{Kind: bus.KindAgent, ID: "ann"}, "agent/ann", "agent"},
		{bus.Caller{Kind: bus.KindSystem}, "", "system"},
		{bus.Caller{Kind: bus.KindAdmin}, "", "admin"},
		{bus.Caller{Kind: bus.KindGuest, Deployment: "demo"}, "", "guest"},
		{bus.Caller{Kind: 99}, "", "unknown"},
	} {
		if got := tc.c.Topic(); got != tc.topic {
			t.Errorf("%+v.Topic() = %q, want %q", tc.c, got, tc.topic)
		}
		if got := tc.c.Kind.String(); got != tc.kind {
			t.Errorf("Kind(%d).String() = %q, want %q", tc.c.Kind, got, tc.kind)
		}
	}
}

func TestRejection(t *testing.T) {
	cause := errors.New("disk full")
	r := bus.ErrInternal.Wrap(cause)
	if bus.ErrInternal.Err != nil {
		t.Fatal("Wrap modified the sentinel")
	}
	if got, want := r.Error(), "internal: Internal error.: disk full"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := bus.ErrVetoed.Error(), "vetoed: Command was cancelled by a 'before' function."; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(r, bus.ErrInternal) || !errors.Is(r, cause) || errors.Is(r, bus.ErrVetoed) {
		t.Error("errors.Is does not match by code and cause")
	}
	if got := bus.AsRejection(fmt.Errorf("ctx: %w", bus.ErrVetoed)); got != bus.ErrVetoed {
		t.Errorf("AsRejection(wrapped) = %v, want ErrVetoed", got)
	}
}
