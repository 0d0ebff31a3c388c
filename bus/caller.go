package bus

import "github.com/cxgate/cxgate/model"

// CallerKind says who issued a command.
type CallerKind uint8

// Caller kinds. Values are stable: they appear in logs and metrics by name.
const (
	KindSystem  CallerKind = iota // the gateway itself: timers, routing
	KindVisitor                   // a visitor session, bound to one chat
	KindAgent                     // a human agent or a bot
	KindAdmin                     // the admin token
	KindGuest                     // a visitor without a chat yet (startChat, restore)
)

func (k CallerKind) String() string {
	switch k {
	case KindSystem:
		return "system"
	case KindVisitor:
		return "visitor"
	case KindAgent:
		return "agent"
	case KindAdmin:
		return "admin"
	case KindGuest:
		return "guest"
	}
	return "unknown"
}

// Wires a visitor may speak (Caller.Wire, and the chat's record of it).
const (
	WireNative    = model.WireNative
	WireGMS       = model.WireGMS
	WirePureCloud = model.WirePureCloud // Genesys Cloud guest chat
)

// Caller is part of every call: who asks, for which deployment, and which
// stream of events belongs to them.
type Caller struct {
	Kind       CallerKind
	ID         string // visitor: chat id; agent: agent id; others: empty
	Deployment string // the deployment key a visitor or guest speaks for
	Plugin     string // set when a plugin calls on its own behalf (private commands)
	Remote     string // client address, for logs and limits
	// Wire names the protocol the client speaks when it is not the native
	// one (WireGMS, WirePureCloud); a chat started by the call keeps it.
	Wire model.Wire
}

// Topic is the name of the caller's own event stream: the events of its chat
// for a visitor, of its assigned chats for an agent. Empty for the others.
func (c Caller) Topic() string {
	switch c.Kind {
	case KindVisitor:
		return ChatTopic(c.ID)
	case KindAgent:
		return AgentTopic(c.ID)
	}
	return ""
}

// ChatTopic is the topic of the visitor-facing events of one chat.
func ChatTopic(chatID string) string { return "chat/" + chatID }

// AgentTopic is the topic of the events addressed to one agent.
func AgentTopic(agentID string) string { return "agent/" + agentID }
