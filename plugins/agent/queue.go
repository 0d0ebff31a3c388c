package agent

import (
	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/model"
)

// The waiting list, pushed: when a chat starts waiting (new, requeued,
// transferred to a queue, an asynchronous conversation the visitor wrote to
// again), every agent who could take it hears
//
//	AgentService.chatQueued   Assignment
//
// and when it stops waiting (taken, ended) the same agents hear
//
//	AgentService.chatDequeued {chatId, state}
//
// so a console keeps its queue without polling listChats. Both are events of
// the agent stream, resumable like the others. Chats already waiting when
// the gateway started are announced with their next change; a console
// reloads listChats on the resync a restart brings anyway.

// Events of the waiting list.
const (
	EventChatQueued   = "chatQueued"
	EventChatDequeued = "chatDequeued"
)

// announceQueue publishes chatQueued or chatDequeued when c's commit moved
// it into or out of the waiting list. It runs on the store's writer
// goroutine (observe), so a chat's announcements keep commit order.
func (s *Service) announceQueue(c *model.Chat) {
	s.qmu.Lock()
	told, was := s.announced[c.ID]
	waiting := c.State == model.StateQueued
	switch {
	case waiting && !was:
		told = nil
		for _, a := range s.engine.Config().Agents {
			if s.engine.MayTake(a.ID, c) {
				told = append(told, a.ID)
			}
		}
		s.announced[c.ID] = told
	case !waiting && was:
		delete(s.announced, c.ID)
	default:
		s.qmu.Unlock()
		return
	}
	s.qmu.Unlock()
	var ev bus.Event
	if waiting {
		ev = bus.Event{Name: name(EventChatQueued), Data: mustJSON(assignment(c))}
	} else {
		ev = bus.Event{Name: name(EventChatDequeued), Data: mustJSON(map[string]string{"chatId": c.ID, "state": string(c.State)})}
	}
	for _, id := range told {
		s.stream(id).publish(s.bus, ev)
	}
}
