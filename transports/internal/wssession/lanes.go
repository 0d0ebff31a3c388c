package wssession

import "sync"

// maxPending bounds the commands one socket may have waiting or running; past
// it the reader stops reading, which pushes back on the client.
const maxPending = 256

// lanes runs a socket's commands off the reader, so a client can pipeline
// them: commands of one lane run in order, lanes run side by side. A lane
// has a goroutine only while a command of it waits or runs.
type lanes struct {
	mu      sync.Mutex
	queued  map[string][]func() []byte // lane → commands waiting behind the running one
	pending chan struct{}              // one slot per command waiting or running
	wg      sync.WaitGroup             // lane goroutines
}

// Dispatch queues job on lane; the frame it returns is sent as the reply
// (nil: none). It blocks while 256 commands are in flight and returns false
// if the session stopped meanwhile. The reader alone calls it.
func (s *Session) Dispatch(lane string, job func() []byte) bool {
	l := s.lanes
	if l == nil {
		// Made on the first command: a socket that never sends one (a
		// stream, an idle visitor) holds none.
		l = &lanes{queued: map[string][]func() []byte{}, pending: make(chan struct{}, maxPending)}
		s.lanes = l
	}
	select {
	case l.pending <- struct{}{}:
	case <-s.stopping:
		return false
	}
	l.mu.Lock()
	if q, running := l.queued[lane]; running {
		l.queued[lane] = append(q, job)
		l.mu.Unlock()
		return true
	}
	l.queued[lane] = nil // running, nothing behind it yet
	l.mu.Unlock()
	l.wg.Add(1)
	go s.runLane(lane, job)
	return true
}

// runLane is a lane's goroutine: it runs job and whatever queues behind it,
// then ends. It touches the socket only through the writer's queue.
func (s *Session) runLane(lane string, job func() []byte) {
	l := s.lanes
	defer l.wg.Done()
	for {
		out := job()
		<-l.pending
		if out != nil {
			s.Send(out)
		}
		l.mu.Lock()
		q := l.queued[lane]
		if len(q) == 0 {
			delete(l.queued, lane)
			l.mu.Unlock()
			return
		}
		job, l.queued[lane] = q[0], q[1:]
		l.mu.Unlock()
	}
}
