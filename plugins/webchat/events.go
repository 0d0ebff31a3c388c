package webchat

import (
	"encoding/json"

	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/webchat/contract"

	"github.com/cxgate/cxgate/bus"
)

// Event names, as CXBus publishes them.
const (
	EventStarted            = "started"
	EventMessageReceived    = "messageReceived"
	EventEnded              = "ended"
	EventClientConnected    = "clientConnected"
	EventClientDisconnected = "clientDisconnected"
	EventAgentConnected     = "agentConnected"
	EventAgentDisconnected  = "agentDisconnected"
	EventAgentTypingStarted = "agentTypingStarted"
	EventAgentTypingStopped = "agentTypingStopped"
	EventError              = "error"
	// EventQueuePosition tells a waiting visitor its place in the queue
	// (ephemeral; not a Genesys event).
	EventQueuePosition = "queuePosition"
)

var allEvents = []string{
	"ready", EventStarted, "restored", "restoreTimeout", "restoreFailed", "reconnected", "disconnected",
	EventMessageReceived, EventError, EventEnded, "clientTypingStarted", "clientTypingStopped",
	EventClientConnected, EventClientDisconnected, "agentTypingTimeout", EventAgentTypingStarted,
	EventAgentTypingStopped, EventAgentConnected, EventAgentDisconnected,
	"supervisorConnected", "supervisorDisconnected", "botConnected", "botDisconnected",
}

// AgentInfo is one entry of the agents map of *Connected events.
type AgentInfo = contract.AgentInfo

// agentsOf is the agents map of *Connected events as it stood at time at, so
// a replayed event says what the live one said.
func agentsOf(c *model.Chat, at int64) (map[string]AgentInfo, int) {
	agents := make(map[string]AgentInfo, len(c.Participants))
	n := 0
	for _, p := range c.Participants {
		if p.JoinedAt > at {
			continue
		}
		connected := p.LeftAt == 0 || p.LeftAt > at
		left := p.LeftAt
		if connected {
			left = 0
		}
		agents[p.ID] = AgentInfo{Name: p.Name, Connected: connected, Supervisor: p.Supervisor,
			ConnectedTime: p.JoinedAt, DisconnectedTime: left}
		if connected {
			n++
		}
	}
	return agents, n
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own plain structs are marshalled here.
		panic("webchat: marshal: " + err.Error())
	}
	return b
}

// toBus maps one event of chat c to the unit of WebChatService events a
// visitor receives, or false when visitors see nothing of it.
func toBus(c *model.Chat, ev model.Event) (bus.Event, bool) {
	topic := bus.ChatTopic(c.ID)
	name := func(n string) string { return "WebChatService." + n }
	var unit []bus.Event
	add := func(n string, data []byte) {
		unit = append(unit, bus.Event{Name: name(n), Topic: topic, Seq: ev.Seq, Data: data})
	}
	if ev.Internal {
		return bus.Event{}, false // for agents only
	}
	msg := engine.ToMessage(ev)
	switch ev.Type {
	case engine.EventQueuePosition:
		add(EventQueuePosition, ev.Data)
	case model.EventTypingStarted, model.EventTypingStopped:
		if ev.From.Type == model.PartyClient {
			return bus.Event{}, false
		}
		if ev.Type == model.EventTypingStarted {
			add(EventAgentTypingStarted, mustJSON(msg))
		} else {
			add(EventAgentTypingStopped, mustJSON(msg))
		}
	case model.EventChatEnded:
		var d struct {
			By string `json:"by"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		add(EventEnded, mustJSON(map[string]any{"chatId": c.ID, "by": d.By, "timestamp": ev.Time}))
	default:
		if !engine.Visible(ev) {
			return bus.Event{}, false
		}
		if ev.Seq == 1 && ev.Type == model.EventParticipantJoined {
			add(EventStarted, mustJSON(map[string]string{"chatId": c.ID, "mode": string(c.Mode), "participantId": c.IdentityID}))
		}
		add(EventMessageReceived, mustJSON(contract.MessageReceived{Messages: []contract.Message{msg}}))
		// Asynchronous conversations have no connected/disconnected life cycle.
		if c.Mode != model.ModeAsync && (ev.Type == model.EventParticipantJoined || ev.Type == model.EventParticipantLeft) {
			agents, n := agentsOf(c, ev.Time)
			data := mustJSON(map[string]any{"message": msg, "agents": agents, "numAgentsConnected": n})
			add(participantEvent(ev), data)
		}
	}
	first := unit[0]
	first.With = unit[1:]
	return first, true
}

func participantEvent(ev model.Event) string {
	joined := ev.Type == model.EventParticipantJoined
	var who string
	switch ev.From.Type {
	case model.PartyClient:
		who = "client"
	case model.PartyBot:
		who = "bot"
	case model.PartySupervisor:
		who = "supervisor"
	default:
		who = "agent"
	}
	if joined {
		return who + "Connected"
	}
	return who + "Disconnected"
}
