package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
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
// queues them in arrival order; its writer goroutine sends the replies in
// that order as they complete, flushing whenever the next reply is not
// ready yet. Backends work on the requests in parallel.
//
// Goroutines: serve starts both; the reader ends at EOF, QUIT, a protocol
// error or when the pool stops reading (drain, idle timeout); the writer
// ends once the reader has ended and every queued request is answered (or
// dropped, if the client is gone), then closes the connection.
type session struct {
	id     uint64
	pool   *Pool
	nc     net.Conn
	rr     *reqReader
	remote string

	// Reader goroutine state.
	authed  bool
	name    string
	tbl     *RouteTable
	touched []*backendConn
	scratch []byte
	keyIdx  []int
	subOf   []int32
	batch   []*request

	// Shared by reader and writer, under mu.
	mu            sync.Mutex
	queue         []*request
	outstanding   int
	readerDone    bool
	readerWaiting bool
	space         *sync.Cond

	wake       chan struct{} // wakes the writer: new requests or a reply ready
	lastActive atomic.Int64  // UnixNano of the last batch read
	stopping   atomic.Bool   // the pool asked the reader to stop
	done       chan struct{} // closed when the writer has ended
}

func newSession(p *Pool, id uint64, nc net.Conn) *session {
	s := &session{
		id: id, pool: p, nc: nc, rr: newReqReader(nc),
		remote: nc.RemoteAddr().String(),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		authed: p.cfg.RedisAuth == "",
	}
	s.space = sync.NewCond(&s.mu)
	s.lastActive.Store(time.Now().UnixNano())
	return s
}

// serve runs the session until both goroutines end. It is called in its
// own goroutine by the pool; the writer runs in another.
func (s *session) serve() {
	go s.writeLoop() // ends after the reader, see session
	s.readLoop()
}

// stopReading makes the reader stop after the commands it has read (drain
// on shutdown, idle timeout). Replies already due are still sent.
func (s *session) stopReading() {
	s.stopping.Store(true)
	_ = s.nc.SetReadDeadline(time.Now())
}

func (s *session) readLoop() {
	defer func() {
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
		s.kickBackends()
		s.push(s.batch)
		s.tbl = nil
		if stop {
			return
		}
	}
}

// push queues a batch for the writer, then waits while the client has too
// many requests in flight.
func (s *session) push(batch []*request) {
	if len(batch) == 0 {
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, batch...)
	s.outstanding += len(batch)
	s.mu.Unlock()
	s.wakeWriter()
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
// on, to kick its writer once at the end of the batch.
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

func (s *session) kickBackends() {
	for i, c := range s.touched {
		c.kick()
		s.touched[i] = nil
	}
	s.touched = s.touched[:0]
}

func (s *session) writeLoop() {
	var (
		out      []byte
		q        []*request
		released int
		dead     bool // the client is gone or was closed: drop replies
	)
	flush := func() {
		if len(out) > 0 && !dead {
			if _, err := s.nc.Write(out); err != nil {
				dead = true
				s.pool.stats.clientErr.Add(1)
				_ = s.nc.Close() // unblocks the reader
			}
		}
		if cap(out) > 4*flushThreshold {
			out = nil
		}
		out = out[:0]
	}
	defer func() {
		_ = s.nc.Close()
		s.pool.removeSession(s)
		close(s.done)
	}()
	st := newSessionStats(s.pool)
	defer st.flush()
	for {
		s.mu.Lock()
		s.outstanding -= released
		released = 0
		if s.readerWaiting && s.outstanding < maxSessionPending {
			s.space.Signal()
		}
		q, s.queue = s.queue, q[:0]
		readerDone := s.readerDone
		s.mu.Unlock()
		if len(q) == 0 {
			flush()
			st.flush()
			if readerDone {
				return
			}
			<-s.wake
			continue
		}
		for i, r := range q {
			if !r.done.Load() {
				flush()
				for !r.done.Load() {
					<-s.wake
				}
			}
			if !dead {
				out = append(out, r.reply...)
			}
			st.count(r)
			if r.closeAfter {
				flush()
				dead = true
				_ = s.nc.Close()
			}
			s.pool.proxy.reqs.put(r)
			q[i] = nil
			released++
			if len(out) >= flushThreshold {
				flush()
			}
		}
	}
}
