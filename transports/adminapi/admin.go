package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/transports/native"
)

// Config tunes the transport. Zero fields take the defaults noted.
type Config struct {
	CommandTimeout time.Duration // one command; 15 s
	Logger         *slog.Logger
}

// Transport serves the admin REST API.
type Transport struct {
	bus *bus.Bus
	cfg Config
}

// New returns the admin transport over b.
func New(b *bus.Bus, cfg Config) *Transport {
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Transport{bus: b, cfg: cfg}
}

// Rejections of the transport itself.
var (
	ErrNotAdmin = bus.Reject(http.StatusForbidden, bus.CodeForbidden, "The admin API needs the admin token.")
	ErrBadBody  = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "The body must be a JSON object.")
)

// collection is one kind of the directory as REST: its path, the field that
// names an entry in commands, and the commands' names.
type collection struct {
	path    string // "deployments"
	idField string // "key"
	name    string // "Deployment", as in AdminService.getDeployment
	option  string // "deployment": the field of updateDeployment holding the new entry
}

var collections = []collection{
	{"deployments", "key", "Deployment", "deployment"},
	{"queues", "name", "Queue", "queue"},
	{"agents", "id", "Agent", "agent"},
	{"webhooks", "id", "Webhook", "webhook"},
}

// Commands the transport forwards to WebhookService.
const (
	CommandListDeliveries = "WebhookService.listDeliveries"
	CommandRetryDelivery  = "WebhookService.retryDelivery"
)

// Mount adds the routes to r.
func (t *Transport) Mount(r fiber.Router) {
	g := r.Group("/v1/admin")
	// Before /webhooks/:id, which would take "deliveries" for an id.
	g.Get("/webhooks/deliveries", t.handle(t.listDeliveries))
	g.Post("/webhooks/deliveries/:id/retry", t.handle(t.retryDelivery))
	t.mountData(g)
	for _, c := range collections {
		plural := strings.ToUpper(c.path[:1]) + c.path[1:]
		g.Get("/"+c.path, t.handle(func(fc *fiber.Ctx) (string, []byte, error) {
			return "AdminService.list" + plural, nil, nil
		}))
		g.Post("/"+c.path, t.handle(func(fc *fiber.Ctx) (string, []byte, error) {
			body, err := object(fc.Body())
			return "AdminService.create" + c.name, body, err
		}))
		g.Get("/"+c.path+"/:id", t.handle(func(fc *fiber.Ctx) (string, []byte, error) {
			return "AdminService.get" + c.name, mustJSON(map[string]string{c.idField: fc.Params("id")}), nil
		}))
		g.Put("/"+c.path+"/:id", t.handle(func(fc *fiber.Ctx) (string, []byte, error) {
			body, err := object(fc.Body())
			if err != nil {
				return "", nil, err
			}
			return "AdminService.update" + c.name,
				mustJSON(map[string]any{c.idField: fc.Params("id"), c.option: json.RawMessage(body)}), nil
		}))
		g.Delete("/"+c.path+"/:id", t.handle(func(fc *fiber.Ctx) (string, []byte, error) {
			return "AdminService.delete" + c.name, mustJSON(map[string]string{c.idField: fc.Params("id")}), nil
		}))
	}
}

// Close has nothing to end: every request is short.
func (t *Transport) Close(context.Context) error { return nil }

func (t *Transport) listDeliveries(c *fiber.Ctx) (string, []byte, error) {
	opts := map[string]any{"state": c.Query("state", "pending")}
	for _, name := range []string{"limit", "after"} {
		if v := c.Query(name); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 && name == "limit" {
				return "", nil, bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest,
					fmt.Sprintf("%q must be a positive whole number.", name))
			}
			opts[name] = n
		}
	}
	return CommandListDeliveries, mustJSON(opts), nil
}

// retryDelivery passes the delivery id on as the string of the path: the
// plugin reads ids as numbers or strings of digits.
func (t *Transport) retryDelivery(c *fiber.Ctx) (string, []byte, error) {
	return CommandRetryDelivery, mustJSON(map[string]string{"id": c.Params("id")}), nil
}

// A route turns a request into a command name and its options.
type route func(c *fiber.Ctx) (command string, options []byte, err error)

// handle authenticates the admin, runs the route's command and answers in
// the native wire's envelope.
func (t *Transport) handle(rt route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), t.cfg.CommandTimeout)
		defer cancel()
		data, err := t.serve(ctx, c, rt)
		if err != nil {
			return native.Reply(c, err)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Set(fiber.HeaderCacheControl, "no-store")
		out := append(make([]byte, 0, len(data)+32), `{"status":"resolved","data":`...)
		return c.Send(append(append(out, data...), '}'))
	}
}

func (t *Transport) serve(ctx context.Context, c *fiber.Ctx, rt route) ([]byte, error) {
	caller, err := t.admin(ctx, c)
	if err != nil {
		return nil, err
	}
	name, opts, err := rt(c)
	if err != nil {
		return nil, err
	}
	res, err := t.bus.Command(ctx, caller, name, opts)
	if err != nil {
		if rej := bus.AsRejection(err); rej.Code == bus.CodeInternal {
			t.cfg.Logger.Error("admin command failed", "command", name, "err", err)
		}
		return nil, err
	}
	return bus.EncodeResult(res)
}

// admin authenticates the bearer token: none or an unknown one is 401, a
// token that is not the admin's is 403.
func (t *Transport) admin(ctx context.Context, c *fiber.Ctx) (bus.Caller, error) {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return bus.Caller{}, bus.ErrUnauthorized
	}
	caller, err := t.bus.Authenticate(ctx, strings.TrimSpace(h[7:]))
	if err != nil {
		return bus.Caller{}, err
	}
	if caller.Kind != bus.KindAdmin {
		return bus.Caller{}, ErrNotAdmin
	}
	caller.Remote = c.IP()
	return caller, nil
}

// object checks that body is one JSON object and copies it out of fiber's
// buffer.
func object(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, ErrBadBody
	}
	return append([]byte(nil), body...), nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("admin: marshal: " + err.Error())
	}
	return b
}
