package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// maxSessionPending is how many requests of one client may be in
	// flight before the proxy stops reading from it (backpressure).
	maxSessionPending = 16384
	// flushThreshold: the writer sends its buffer when it holds this
	// much, even if more replies are ready.
	flushThreshold = 64 << 10
)

// session is one client connection (Codis' model). Its reader goroutine
// parses each batch of commands the client pipelined, routes them and
// queues them in arrival order. Replies go out strictly in that order,
// written by whoever makes them ready: the goroutine completing a request
// (a backend connection's reader, or the session reader for a local reply)
// becomes the owner of the output (busy), writes every reply ready at the
// head of the queue in one write without blocking, and re-checks the head
// before giving ownership up, so that replies completed meanwhile by
// others go out too (flat combining). If the client's socket is full the
// owner hands the rest to the session's writer goroutine, which may
// block. Backends work on the requests in parallel.
//
// Goroutines: serve starts both; the reader ends at EOF, QUIT, a protocol
// error or when the pool stops reading (drain, idle timeout); the writer
// ends once the reader has ended and every queued request is answered (or
// dropped, if the client is gone), then closes the connection.
type session struct {
	id     uint64
	pool   *Pool
	nc     net.Conn
	rc     syscall.RawConn
	rw     *rawWriter // the output owner's non-blocking writes
	rr     *reqReader
	remote string

	// Reader goroutine state.
	authed  bool // AUTH succeeded, or the pool had no redis_auth when the client connected (see authOK)
	name    string
	tbl     *RouteTable
	touched []*backendConn
	scratch []byte
	keyIdx  []int
	subOf   []int32
	batch   []*request
	x       *sessionExt // transactions, blocking commands, pub/sub (multi.go); nil until used
	slowOn  bool        // the pool keeps a slowlog: requests note their command (slowlog.go)

	// Shared, under mu.
	mu            sync.Mutex
	queue         []*request // queue[qh:] await their turn, in arrival order
	qh            int
	outstanding   int // requests queued and not yet answered
	readerDone    bool
	readerWaiting bool
	spaceWaiters  int // other goroutines waiting for room (pub/sub deliveries)
	space         *sync.Cond
	settling      bool   // the reader waits for every queued request to be done (settle)
	busy          bool   // an owner is writing replies
	handoff       []byte // unwritten output the writer goroutine must send
	handoffClose  bool   // ... and then close the connection (QUIT)

	// Owner state: only the goroutine holding busy touches these.
	out   []byte
	ready []*request
	dead  bool // the client is gone or was closed: replies are dropped
	stats *sessionStats

	wake       chan struct{} // wakes the writer goroutine
	lastActive atomic.Int64  // UnixNano of the last batch read
	stopping   atomic.Bool   // the pool asked the reader to stop
	done       chan struct{} // closed when the writer has ended
}

func newSession(p *Pool, id uint64, nc net.Conn) *session {
	s := &session{
		id: id, pool: p, nc: nc, rc: rawConn(nc), rr: newReqReader(nc),
		remote: nc.RemoteAddr().String(),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		authed: p.config().RedisAuth == "",
		stats:  newSessionStats(p),
		slowOn: p.slowlog.enabled(),
	}
	s.rw = newRawWriter(s.rc)
	s.space = sync.NewCond(&s.mu)
	s.lastActive.Store(time.Now().UnixNano())
	return s
}

// serve runs the session until both goroutines end. It is called in its
// own goroutine by the pool and returns once the writer has closed the
// connection.
func (s *session) serve() {
	go s.writeLoop() // ends after the reader, see session
	s.readLoop()
	<-s.done
}

// authOK reports whether the client may run commands: it authenticated,
// or the pool requires no password now. A reload that sets or changes
// redis_auth leaves authenticated clients authenticated and makes the
// others AUTH with the new password; one that removes it lets every
// client in, as Redis does when requirepass changes. It costs nothing
// for an authenticated client.
func (s *session) authOK() bool {
	return s.authed || s.pool.config().RedisAuth == ""
}

// stopReading makes the reader stop after the commands it has read (drain
// on shutdown, idle timeout). Replies already due are still sent.
func (s *session) stopReading() {
	s.stopping.Store(true)
	_ = s.nc.SetReadDeadline(time.Now())
}

func (s *session) readLoop() {
	defer func() {
		if s.x != nil {
			s.x.end(s, !s.stopping.Load())
		}
		s.mu.Lock()
		s.readerDone = true
		s.mu.Unlock()
		s.wakeWriter()
	}()
	for {
		cmds, err := s.rr.next()
		now := time.Now()
		if len(cmds) > 0 {
			s.lastActive.Store(now.UnixNano())
		}
		s.tbl = s.pool.table.Load()
		s.slowOn = s.pool.slowlog.enabled() // a reload may turn the slowlog on or off
		s.batch = s.batch[:0]
		stop := false
		for i := range cmds {
			req := s.pool.proxy.reqs.get(s, now)
			s.dispatch(req, &cmds[i])
			s.batch = append(s.batch, req)
			if req.closeAfter {
				stop = true
				break
			}
			if s.x != nil && s.x.blockedOn != nil {
				// A blocking command: what follows waits for its reply.
				s.push(s.batch)
				s.batch = s.batch[:0]
				s.flushBackends()
				s.writeReady()
				s.waitUnblocked()
				s.tbl = s.pool.table.Load()
				now = time.Now()
			}
		}
		if err != nil && !stop {
			stop = true
			var pe *ProtocolError
			switch {
			case errors.As(err, &pe):
				req := s.pool.proxy.reqs.get(s, now)
				req.closeAfter = true
				req.setError("ERR " + pe.Error())
				s.batch = append(s.batch, req)
				s.pool.stats.clientErr.Add(1)
				s.pool.log.Debug("client protocol error", "client", s.remote, "err", pe.Error())
			case errors.Is(err, io.EOF):
				s.pool.stats.clientEOF.Add(1)
			case s.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded):
			default:
				s.pool.stats.clientErr.Add(1)
			}
		}
		s.push(s.batch)
		s.flushBackends()
		s.tbl = nil
		s.writeReady()
		s.waitForRoom()
		if stop {
			return
		}
	}
}

// push queues a batch in arrival order.
func (s *session) push(batch []*request) {
	if len(batch) == 0 {
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, batch...)
	s.outstanding += len(batch)
	s.mu.Unlock()
	for i := range batch {
		batch[i] = nil
	}
}

// waitForRoom blocks the reader while the client has too many requests
// in flight (backpressure).
func (s *session) waitForRoom() {
	s.mu.Lock()
	for s.outstanding >= maxSessionPending {
		s.readerWaiting = true
		s.space.Wait()
	}
	s.readerWaiting = false
	s.mu.Unlock()
}

// wakeWriter wakes the writer goroutine if it waits. Safe from any
// goroutine.
func (s *session) wakeWriter() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// touch remembers a backend connection the current batch queued requests
// on, to flush it once at the end of the batch.
func (s *session) touch(c *backendConn) {
	n := len(s.touched)
	if n > 0 && s.touched[n-1] == c {
		return
	}
	if n <= 16 {
		for _, t := range s.touched {
			if t == c {
				return
			}
		}
	}
	s.touched = append(s.touched, c)
}

func (s *session) flushBackends() {
	for i, c := range s.touched {
		c.flush()
		s.touched[i] = nil
	}
	s.touched = s.touched[:0]
	if s.x != nil {
		s.x.flush()
	}
}

// writeReady sends the replies ready at the head of the queue, without
// blocking, unless another goroutine already does (it will send these
// too). Whoever completes a request calls it.
func (s *session) writeReady() {
	s.mu.Lock()
	if s.settling {
		s.space.Broadcast()
	}
	if s.busy {
		s.mu.Unlock()
		return
	}
	s.busy = true
	s.own(false)
}

// own sends ready replies while it holds busy; mu is held on entry and
// released on return. If the socket would block (and mayBlock is false),
// the rest is handed to the writer goroutine along with ownership.
func (s *session) own(mayBlock bool) {
	for {
		// The ready prefix of the queue.
		k := s.qh
		for k < len(s.queue) && s.queue[k].done.Load() {
			k++
		}
		if k == s.qh {
			break
		}
		if !mayBlock && k < len(s.queue) {
			// Only part of the replies are ready: the rest are on their way
			// from other servers. Let the writer goroutine send them a
			// moment later, most likely together with the rest (one write
			// instead of two; a goroutine switch costs less than a write).
			s.busy = false
			s.mu.Unlock()
			s.wakeWriter()
			return
		}
		s.ready = append(s.ready[:0], s.queue[s.qh:k]...)
		clear(s.queue[s.qh:k])
		s.qh = k
		if s.qh == len(s.queue) {
			s.queue, s.qh = s.queue[:0], 0
		} else if s.qh > 1024 && s.qh > len(s.queue)/2 {
			n := copy(s.queue, s.queue[s.qh:])
			clear(s.queue[n:])
			s.queue, s.qh = s.queue[:n], 0
		}
		s.mu.Unlock()

		closeAfter := false
		out := s.out[:0]
		now := time.Now()
		for i, r := range s.ready {
			if !s.dead {
				out = append(out, r.reply...)
			}
			s.stats.count(r, now)
			closeAfter = closeAfter || r.closeAfter
			s.pool.proxy.reqs.put(r)
			s.ready[i] = nil
		}
		n := len(s.ready)
		var rest []byte
		if len(out) > 0 && !s.dead {
			if mayBlock {
				if _, err := s.nc.Write(out); err != nil {
					s.clientGone()
				}
			} else {
				w, err := s.rw.writeNow(out)
				switch {
				case err != nil:
					s.clientGone()
				case w < len(out):
					rest = out[w:]
				}
			}
		}
		if closeAfter && rest == nil {
			s.dead = true
			_ = s.nc.Close()
		}
		if cap(out) <= 4*flushThreshold {
			s.out = out[:0]
		} else {
			s.out = nil
		}

		s.mu.Lock()
		s.outstanding -= n
		if (s.readerWaiting || s.spaceWaiters > 0) && s.outstanding < maxSessionPending {
			s.space.Broadcast()
		}
		if rest != nil {
			// Keep busy: the writer goroutine takes over.
			s.handoff = append([]byte(nil), rest...)
			s.handoffClose = closeAfter
			s.mu.Unlock()
			s.wakeWriter()
			return
		}
	}
	s.busy = false
	s.stats.flush()
	finished := s.readerDone && s.qh == len(s.queue)
	s.mu.Unlock()
	if finished {
		s.wakeWriter()
	}
}

func (s *session) clientGone() {
	s.dead = true
	s.pool.stats.clientErr.Add(1)
	_ = s.nc.Close() // unblocks the reader
}

// writeLoop is the session's writer goroutine: it sends output the
// owners could not send without blocking, and closes the connection when
// the session is over.
func (s *session) writeLoop() {
	defer func() {
		_ = s.nc.Close()
		s.pool.removeSession(s)
		close(s.done)
	}()
	for range s.wake {
		s.mu.Lock()
		if s.handoff != nil {
			out, closeAfter := s.handoff, s.handoffClose
			s.handoff, s.handoffClose = nil, false
			s.mu.Unlock()
			if !s.dead {
				if _, err := s.nc.Write(out); err != nil {
					s.clientGone()
				}
			}
			if closeAfter {
				s.dead = true
				_ = s.nc.Close()
			}
			s.mu.Lock()
			s.own(true) // still busy: send what became ready meanwhile
			s.mu.Lock()
		}
		if !s.busy && s.qh < len(s.queue) && s.queue[s.qh].done.Load() {
			s.busy = true
			s.own(true)
			s.mu.Lock()
		}
		finished := s.readerDone && !s.busy && s.qh == len(s.queue)
		s.mu.Unlock()
		if finished {
			return
		}
	}
}

// settle sends what the current batch queued so far and waits until every
// earlier request of the session has its reply (the replies may not be
// written yet). A command that leaves the pipelined connections (WATCH,
// the first command of a transaction, a blocking command) calls it, so
// that it reaches its server after the client's earlier commands, as on
// one Redis connection. Reader goroutine only.
func (s *session) settle() {
	s.push(s.batch)
	s.batch = s.batch[:0]
	s.flushBackends()
	s.writeReady()
	s.mu.Lock()
	s.settling = true
	for {
		done := true
		for _, r := range s.queue[s.qh:] {
			if !r.done.Load() {
				done = false
				break
			}
		}
		if done {
			break
		}
		s.space.Wait()
	}
	s.settling = false
	s.mu.Unlock()
}
