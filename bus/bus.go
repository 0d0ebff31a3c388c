package bus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned while wiring the bus. They are programming errors, found at
// startup.
var (
	ErrStarted   = errors.New("bus: registry is locked after Start")
	ErrNameTaken = errors.New("bus: name is already taken")
	ErrBadName   = errors.New("bus: invalid name")
	ErrClosed    = errors.New("bus: closed")
)

// A HandlerFunc resolves a command by returning its result, or rejects it by
// returning an error. Return a *Rejection (or wrap one) for outcomes the
// client should see; any other error reaches the client as code "internal".
// The result is encoded as JSON by the transport; a json.RawMessage or []byte
// result is sent as is.
type HandlerFunc func(ctx context.Context, call *Call) (any, error)

// A BeforeFunc inspects a command before its handler runs. It may replace
// call.Options, or veto the command by returning an error (a *Rejection to
// choose the client's message, otherwise ErrVetoed is sent).
type BeforeFunc func(ctx context.Context, call *Call) error

// A FeedFunc reads the stored events of a caller's stream after position
// after, oldest first, at most limit of them.
type FeedFunc func(ctx context.Context, caller Caller, after uint64, limit int) ([]Event, error)

// Call is one command invocation: its full name, who issued it, and its
// options. Options is JSON owned by the handler.
type Call struct {
	Name    string // "WebChatService.sendMessage"
	Caller  Caller
	Options []byte
	// File is binary content handed over beside the options (an upload),
	// owned by the handler; nil for most commands. See CommandWithFile.
	File *File
}

// Event is something published on the bus. Data is JSON shared by every
// subscriber: nobody may modify it.
type Event struct {
	Name  string // "WebChatService.messageReceived"
	Topic string // "chat/<id>", "agent/<id>", or "" for global events
	Seq   uint64 // position in the topic's stream; 0 for ephemeral events
	Data  []byte
	// With lists further events that share this one's topic and seq and are
	// delivered with it, in order: one stored event may mean several (a
	// ParticipantJoined is both messageReceived and agentConnected). A unit
	// is delivered whole or not at all, so resuming by seq never splits it.
	With []Event
	// Restart marks a feed's answer to a position it cannot serve (a resync):
	// the stream goes on from Seq, which may be below the position asked
	// for (another node's or process's stream), and a subscriber takes it as
	// its new position instead of skipping it as seen.
	Restart bool
}

type command struct {
	handler HandlerFunc
	private bool
}

// Bus dispatches commands to plugins and events to subscribers.
type Bus struct {
	plugins  map[string]*Plugin
	commands map[string]command
	before   map[string][]BeforeFunc
	feeds    map[CallerKind]FeedFunc
	auths    []AuthFunc
	started  bool
	stopped  atomic.Bool // set by Close: commands are refused
	observe  CommandObserver
	authFail func(err error)

	published atomic.Uint64
	dropped   atomic.Uint64

	mu     sync.RWMutex // guards subs and closed
	subs   map[string]map[*Subscription]struct{}
	closed bool
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{
		plugins:  make(map[string]*Plugin),
		commands: make(map[string]command),
		before:   make(map[string][]BeforeFunc),
		feeds:    make(map[CallerKind]FeedFunc),
		subs:     make(map[string]map[*Subscription]struct{}),
	}
}

// Plugin is a plugin's handle on the bus.
type Plugin struct {
	bus      *Bus
	name     string
	commands []string
	events   []string
}

// RegisterPlugin claims a name. Names are plain identifiers without dots.
func (b *Bus) RegisterPlugin(name string) (*Plugin, error) {
	if b.started {
		return nil, ErrStarted
	}
	if !validName(name) {
		return nil, fmt.Errorf("%w: plugin %q", ErrBadName, name)
	}
	if _, ok := b.plugins[name]; ok {
		return nil, fmt.Errorf("%w: plugin %q", ErrNameTaken, name)
	}
	p := &Plugin{bus: b, name: name}
	b.plugins[name] = p
	return p, nil
}

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.name }

// CommandOption changes how a command is registered.
type CommandOption func(*command)

// Private makes a command callable only by its own plugin; anyone else is
// rejected with the CXBus text "Access Denied to private command. Only <P> is
// allowed to invoke this command."
func Private() CommandOption { return func(c *command) { c.private = true } }

// RegisterCommand registers "<plugin>.<name>".
func (p *Plugin) RegisterCommand(name string, h HandlerFunc, opts ...CommandOption) error {
	b := p.bus
	if b.started {
		return ErrStarted
	}
	if !validName(name) || h == nil {
		return fmt.Errorf("%w: command %q", ErrBadName, name)
	}
	full := p.name + "." + name
	if _, ok := b.commands[full]; ok {
		return fmt.Errorf("%w: command %q", ErrNameTaken, full)
	}
	c := command{handler: h}
	for _, o := range opts {
		o(&c)
	}
	b.commands[full] = c
	p.commands = append(p.commands, name)
	return nil
}

// RegisterEvents records the names of the plugin's events for Registry.
// As in CXBus, unregistered events may still be published.
func (p *Plugin) RegisterEvents(names ...string) error {
	if p.bus.started {
		return ErrStarted
	}
	p.events = append(p.events, names...)
	return nil
}

// RegisterFeed makes fn the reader of the streams of callers of kind k.
func (p *Plugin) RegisterFeed(k CallerKind, fn FeedFunc) error {
	if p.bus.started {
		return ErrStarted
	}
	if _, ok := p.bus.feeds[k]; ok {
		return fmt.Errorf("%w: feed for %s", ErrNameTaken, k)
	}
	p.bus.feeds[k] = fn
	return nil
}

// Before adds a hook to the full command name; hooks run in registration
// order.
func (b *Bus) Before(fullName string, fn BeforeFunc) error {
	if b.started {
		return ErrStarted
	}
	b.before[fullName] = append(b.before[fullName], fn)
	return nil
}

// A CommandObserver hears of every command: its name ("unknown" for names
// nobody registered), how long it took, and its outcome code ("" when it
// resolved). It must be cheap: it runs on the caller's goroutine.
type CommandObserver func(name string, d time.Duration, code string)

// ObserveCommands sets the observer, for metrics. Call before Start.
func (b *Bus) ObserveCommands(fn CommandObserver) error {
	if b.started {
		return ErrStarted
	}
	b.observe = fn
	return nil
}

// Stats are the bus's counters since New.
type Stats struct {
	Published     uint64 // units published
	Dropped       uint64 // subscriptions dropped for falling behind
	Subscriptions int    // live now
}

// Stats reads the counters.
func (b *Bus) Stats() Stats {
	b.mu.RLock()
	n := 0
	for _, set := range b.subs {
		n += len(set)
	}
	b.mu.RUnlock()
	return Stats{Published: b.published.Load(), Dropped: b.dropped.Load(), Subscriptions: n}
}

// Start locks the registry. Commands issued before Start or after Close are
// rejected with ErrUnavailable.
func (b *Bus) Start() { b.started = true }

// Command runs the named command for caller. It returns the handler's result,
// or an error that is always a *Rejection (unknown command, private command,
// vetoed, or the handler's own).
func (b *Bus) Command(ctx context.Context, caller Caller, name string, options []byte) (any, error) {
	return b.CommandWithFile(ctx, caller, name, options, nil)
}

// CommandWithFile runs the named command as Command does, handing f to its
// handler as Call.File: binary content travels beside the JSON options, never
// inside them. f belongs to the handler from then on.
func (b *Bus) CommandWithFile(ctx context.Context, caller Caller, name string, options []byte, f *File) (any, error) {
	if b.observe == nil {
		return b.command(ctx, caller, name, options, f)
	}
	start := time.Now()
	res, err := b.command(ctx, caller, name, options, f)
	label := name
	if _, ok := b.commands[name]; !ok {
		label = "unknown" // client-chosen names must not become label values
	}
	code := ""
	if err != nil {
		code = CodeOf(err)
	}
	b.observe(label, time.Since(start), code)
	return res, err
}

func (b *Bus) command(ctx context.Context, caller Caller, name string, options []byte, f *File) (any, error) {
	if !b.started || b.stopped.Load() {
		return nil, ErrUnavailable
	}
	cmd, ok := b.commands[name]
	if !ok {
		return nil, ErrUnknownCommand
	}
	plugin, _, _ := strings.Cut(name, ".")
	if cmd.private && caller.Plugin != plugin {
		return nil, Reject(http.StatusForbidden, CodeAccessDenied,
			"Access Denied to private command. Only "+plugin+" is allowed to invoke this command.")
	}
	call := &Call{Name: name, Caller: caller, Options: options, File: f}
	for _, hook := range b.before[name] {
		if err := hook(ctx, call); err != nil {
			var r *Rejection
			if errors.As(err, &r) {
				return nil, r
			}
			return nil, ErrVetoed.Wrap(err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, ErrTimeout.Wrap(err)
	}
	res, err := cmd.handler(ctx, call)
	if err != nil {
		return nil, AsRejection(err)
	}
	return res, nil
}

// Command runs a command as this plugin, which may call its own private
// commands.
func (p *Plugin) Command(ctx context.Context, caller Caller, name string, options []byte) (any, error) {
	caller.Plugin = p.name
	return p.bus.Command(ctx, caller, name, options)
}

// Feed reads the caller's stream after position after. Callers of a kind
// without a feed get ErrForbidden.
func (b *Bus) Feed(ctx context.Context, caller Caller, after uint64, limit int) ([]Event, error) {
	fn, ok := b.feeds[caller.Kind]
	if !ok {
		return nil, ErrForbidden
	}
	evs, err := fn(ctx, caller, after, limit)
	if err != nil {
		return nil, AsRejection(err)
	}
	return evs, nil
}

// PluginInfo lists what one plugin registered.
type PluginInfo struct {
	Commands []string `json:"commands"`
	Events   []string `json:"events"`
}

// Registry returns what every plugin registered, as CXBus' registry() does.
func (b *Bus) Registry() map[string]PluginInfo {
	out := make(map[string]PluginInfo, len(b.plugins))
	for name, p := range b.plugins {
		out[name] = PluginInfo{
			Commands: append([]string(nil), p.commands...),
			Events:   append([]string(nil), p.events...),
		}
	}
	return out
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
