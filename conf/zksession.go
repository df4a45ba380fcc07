package conf

import (
	"fmt"
	"sync"
)

// SessionEventKind is what happened to the ZooKeeper session.
type SessionEventKind int

// The session events.
const (
	// SessionConnected: a session is established (after the first
	// connect, a reconnect, or an expiry: see SessionEvent.NewSession).
	SessionConnected SessionEventKind = iota + 1
	// SessionDisconnected: the connection was lost; the session may still
	// be alive on the server (its ephemeral znodes too) until it expires.
	SessionDisconnected
	// SessionExpired: the server expired the session: its ephemeral znodes
	// and watches are gone. The client opens a new session by itself; a
	// SessionConnected with NewSession follows.
	SessionExpired
)

func (k SessionEventKind) String() string {
	switch k {
	case SessionConnected:
		return "connected"
	case SessionDisconnected:
		return "disconnected"
	case SessionExpired:
		return "expired"
	}
	return fmt.Sprintf("SessionEventKind(%d)", int(k))
}

// SessionEvent is one change of the ZooKeeper session.
type SessionEvent struct {
	Kind       SessionEventKind
	SessionID  int64  // the session concerned
	NewSession bool   // SessionConnected only: a session other than the previous one
	Server     string // the server, when known
}

// Subscribe returns a channel of session events and a function that
// cancels the subscription (and closes the channel). The first event is
// the current state (SessionConnected or SessionDisconnected); events are
// never dropped and arrive in order, however slowly the channel is read.
// The channel is closed when the ZK is closed.
func (z *ZK) Subscribe() (<-chan SessionEvent, func()) {
	s := &subscription{signal: make(chan struct{}, 1), out: make(chan SessionEvent), done: make(chan struct{})}
	z.mu.Lock()
	select {
	case <-z.closed:
		z.mu.Unlock()
		close(s.out)
		return s.out, func() {}
	default:
	}
	first := SessionEvent{Kind: SessionDisconnected, SessionID: z.lastSID}
	if z.connected.Load() {
		first = SessionEvent{Kind: SessionConnected, SessionID: z.lastSID}
	}
	s.push(first)
	z.subs[s] = struct{}{}
	z.mu.Unlock()
	go s.run()
	return s.out, func() {
		z.mu.Lock()
		delete(z.subs, s)
		z.mu.Unlock()
		s.stop()
	}
}

func (z *ZK) broadcast(ev SessionEvent) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for s := range z.subs {
		s.push(ev)
	}
}

func (z *ZK) closeSubscriptions() {
	z.mu.Lock()
	defer z.mu.Unlock()
	for s := range z.subs {
		s.stop()
		delete(z.subs, s)
	}
	for l := range z.listeners {
		delete(z.listeners, l)
	}
}

// subscription is one Subscribe: an unbounded queue drained by its own
// goroutine (run), which ends when stop is called.
type subscription struct {
	mu       sync.Mutex
	queue    []SessionEvent
	signal   chan struct{}
	out      chan SessionEvent
	done     chan struct{}
	stopOnce sync.Once
}

func (s *subscription) push(ev SessionEvent) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *subscription) stop() { s.stopOnce.Do(func() { close(s.done) }) }

func (s *subscription) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.signal:
				continue
			case <-s.done:
				return
			}
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.done:
			return
		}
	}
}

// nodeListener is told the (chroot-relative) path of every watch event,
// including the EventNotWatching that go-zookeeper sends for each watch a
// session expiry or Close cancels. fn runs on the dispatcher: it must not
// block.
type nodeListener struct{ fn func(path string) }

func (z *ZK) addNodeListener(fn func(path string)) func() {
	l := &nodeListener{fn}
	z.mu.Lock()
	z.listeners[l] = struct{}{}
	z.mu.Unlock()
	return func() {
		z.mu.Lock()
		delete(z.listeners, l)
		z.mu.Unlock()
	}
}

func (z *ZK) notifyListeners(path string) {
	z.mu.Lock()
	ls := make([]*nodeListener, 0, len(z.listeners))
	for l := range z.listeners {
		ls = append(ls, l)
	}
	z.mu.Unlock()
	for _, l := range ls {
		l.fn(path)
	}
}
