package proxy

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

type connState uint8

const (
	connIdle       connState = iota // not started yet
	connConnecting                  // dialing: requests queue
	connUp                          // connected: requests are written and answered
	connDown                        // failed: requests fail at once with err
	connClosed                      // server closed: requests fail at once
)

// backendConn is one pipelined connection to a server (Codis' model): any
// number of sessions append requests (their bytes to wbuf, the requests to
// fifo) under mu; a writer goroutine writes wbuf in batches, as much as
// accumulated while it was writing, and a reader goroutine matches the
// replies to fifo in order and hands each session its replies. Sessions
// kick the writer once per batch, so requests from many clients share one
// write.
//
// Goroutines: run (started on first use or by preconnect) owns the
// connection: it dials, then writes while a reader goroutine it starts
// reads, and when the connection breaks it fails every waiting request,
// backs off and dials again. It ends when the server is closed.
type backendConn struct {
	srv *server

	mu      sync.Mutex
	nc      net.Conn // while connected (serve), for wakeReader
	state   connState
	err     error // why the connection is down
	wbuf    []byte
	fifo    reqRing // requests awaiting a reply, in wire order
	unsent  int     // requests at the tail of fifo whose bytes are in wbuf
	ubytes  int     // their bytes
	sbytes  int     // bytes of the sent requests awaiting replies
	waiters int     // sessions waiting for room in fifo
	space   *sync.Cond
	spare   []byte // the writer's other buffer

	kickCh chan struct{} // cap 1: wakes the writer
}

func newBackendConn(sv *server) *backendConn {
	c := &backendConn{srv: sv, kickCh: make(chan struct{}, 1)}
	c.space = sync.NewCond(&c.mu)
	return c
}

// enqueue queues req, whose command is raw (copied), and reports whether
// the caller must kick the writer (at the end of its batch). If the
// connection is down, req is completed at once with the error.
func (c *backendConn) enqueue(req *request, raw []byte) bool {
	c.mu.Lock()
	for c.fifo.len() >= maxConnPending && (c.state == connUp || c.state == connConnecting) {
		c.waiters++
		c.kick()
		c.space.Wait()
		c.waiters--
	}
	switch c.state {
	case connIdle:
		c.startLocked()
	case connDown, connClosed:
		err := c.err
		c.mu.Unlock()
		c.srv.pool.stats.forwardError.Add(1)
		req.setError(backendErrText(c.srv.addr, err))
		return false
	}
	c.wbuf = append(c.wbuf, raw...)
	c.fifo.push(req, len(raw))
	c.unsent++
	c.ubytes += len(raw)
	c.mu.Unlock()
	return true
}

// flush asks the writer goroutine to write what the sessions queued.
// Sessions call it once at the end of each batch.
func (c *backendConn) flush() { c.kick() }

// takeLocked takes the queued bytes for writing and the number of
// requests they hold.
func (c *backendConn) takeLocked() ([]byte, int) {
	buf, n := c.wbuf, c.unsent
	c.wbuf = c.spare
	c.spare = nil
	c.sbytes += c.ubytes
	c.unsent, c.ubytes = 0, 0
	return buf, n
}

// kick wakes the writer.
func (c *backendConn) kick() {
	select {
	case c.kickCh <- struct{}{}:
	default:
	}
}

// startLocked starts the run goroutine of an idle connection.
func (c *backendConn) startLocked() {
	if c.state != connIdle {
		return
	}
	c.state = connConnecting
	p := c.srv.pool
	p.wg.Add(1)
	go func() { // owned by the server; ends when it is closed
		defer p.wg.Done()
		c.run()
	}()
}

// run connects, serves and reconnects until the server is closed.
func (c *backendConn) run() {
	sv := c.srv
	backoff := minBackoff
	for {
		if sv.isClosed() {
			c.fail(sv.closedErr(), connClosed)
			return
		}
		nc, err := sv.dial()
		if err == nil {
			sv.stats.connections.Add(1)
			sv.pool.proxy.stats.serverConnOpened()
			err = c.serve(nc)
			sv.stats.connections.Add(-1)
			sv.pool.proxy.stats.serverConnClosed()
			backoff = minBackoff
		}
		if sv.isClosed() {
			c.fail(sv.closedErr(), connClosed)
			return
		}
		sv.noteBroken(err)
		c.fail(err, connDown)
		if backoff == minBackoff {
			sv.pool.log.Warn("backend connection failed", "server", sv.addr, "err", errReason(err))
		} else {
			sv.pool.log.Debug("backend connection failed again", "server", sv.addr, "err", errReason(err))
		}
		// Wait before dialing again; an ejected server waits until its
		// health check brings it back.
		select {
		case <-time.After(backoff):
		case <-sv.closed:
			continue
		}
		backoff = min(2*backoff, maxBackoff)
		if sv.ejected() {
			select {
			case <-sv.revivedChan():
			case <-sv.closed:
				continue
			}
		}
		c.mu.Lock()
		if c.state == connDown {
			c.state = connConnecting
		}
		c.mu.Unlock()
	}
}

// fail ends every waiting request with err and sets the state (connDown or
// connClosed), in which new requests fail at once.
func (c *backendConn) fail(err error, st connState) {
	c.mu.Lock()
	c.state, c.err = st, err
	reqs := c.fifo.drain()
	c.wbuf = c.wbuf[:0]
	c.unsent, c.ubytes, c.sbytes = 0, 0, 0
	if c.waiters > 0 {
		c.space.Broadcast()
	}
	c.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	c.srv.pool.stats.forwardError.Add(int64(len(reqs)))
	msg := backendErrText(c.srv.addr, err)
	// Complete them all first, then let each session write: a session
	// must see all of its requests done, not only the first.
	var sessions []*session
	for _, r := range reqs {
		if s := r.setError(msg); s != nil && (len(sessions) == 0 || sessions[len(sessions)-1] != s) {
			sessions = append(sessions, s)
		}
	}
	for _, s := range sessions {
		s.writeReady()
	}
}

// serve runs a connected nc until it breaks and returns why. Its loop is
// the connection's writer goroutine.
func (c *backendConn) serve(nc net.Conn) error {
	c.mu.Lock()
	c.state = connUp
	c.nc = nc
	pending := len(c.wbuf) > 0
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.nc = nil
		c.mu.Unlock()
	}()
	readErr := make(chan error, 1)
	go func() { // owned by serve; ends when nc breaks or is closed
		err := c.readLoop(nc)
		nc.Close() // unblocks a writer stuck on a hung server
		readErr <- err
	}()
	if pending {
		c.kick()
	}
	for {
		select {
		case <-c.kickCh:
		case err := <-readErr:
			return err
		case <-c.srv.closed:
			nc.Close()
			<-readErr
			return c.srv.closedErr()
		}
		// Let the other sessions made runnable by the same network poll
		// append their requests first: one write then carries them all,
		// as one turn of nutcracker's event loop does. Syscalls dominate
		// the cost of a request; a yield costs far less than a write.
		runtime.Gosched()
		if err := c.write(nc); err != nil {
			nc.Close()
			if rerr := <-readErr; errors.Is(err, net.ErrClosed) && rerr != nil {
				// The reader closed nc first (the server closed the
				// connection, a timeout...): its error says why, the
				// write's only that nc was closed.
				err = rerr
			}
			return err
		}
	}
}

// write writes everything queued, until the queue is empty.
func (c *backendConn) write(nc net.Conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.wbuf) > 0 {
		buf, n := c.takeLocked()
		c.mu.Unlock()
		_, err := nc.Write(buf)
		c.mu.Lock()
		if err != nil {
			return err
		}
		c.srv.stats.requests.Add(int64(n))
		c.srv.stats.requestBytes.Add(int64(len(buf)))
		if cap(buf) <= 4<<20 {
			c.spare = buf[:0]
		}
	}
	return nil
}

// readLoop reads replies and completes the requests in fifo order. It
// enforces the pool's timeout (read before each read, so that a reload's
// new timeout applies at once): the read deadline follows the oldest
// waiting request.
func (c *backendConn) readLoop(nc net.Conn) error {
	var (
		buf   = make([]byte, readBufSize)
		r, w  int
		sc    replyScanner
		wakes []*session
		armed bool // a read deadline is set
		st    = c.srv.stats
	)
	for {
		nrep, nbytes := 0, 0
		for r < w {
			n, err := sc.scan(buf[r:w])
			if err != nil {
				st.err.Add(1)
				return err
			}
			if n == 0 {
				break
			}
			req := c.pop()
			if req == nil {
				st.err.Add(1)
				return ErrUnexpectedReply
			}
			if s := req.setReply(buf[r : r+n]); s != nil {
				if len(wakes) == 0 || wakes[len(wakes)-1] != s {
					wakes = append(wakes, s)
				}
			}
			r += n
			nrep++
			nbytes += n
		}
		if nrep > 0 {
			st.responses.Add(int64(nrep))
			st.responseBytes.Add(int64(nbytes))
			c.srv.noteOK()
		}
		for i, s := range wakes {
			s.writeReady() // sends the replies now ready, in order
			wakes[i] = nil
		}
		wakes = wakes[:0]
		// Make room for the rest of a partial reply.
		buf, r, w = sc.makeRoom(buf, r, w, readBufSize)
		// The pool's timeout now: a reload may change it.
		timeout := c.srv.pool.config().Timeout
		if timeout > 0 {
			_ = nc.SetReadDeadline(c.deadline(timeout))
			armed = true
		} else if armed {
			_ = nc.SetReadDeadline(time.Time{})
			armed = false
		}
		n, err := nc.Read(buf[w:])
		w += n
		if err != nil && n == 0 {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The deadline armed above, or wakeReader after a reload.
				if timeout := c.srv.pool.config().Timeout; timeout > 0 && c.expired(timeout) {
					st.timedout.Add(1)
					return ErrTimeout
				}
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			if isEOF(err) {
				st.eof.Add(1)
			} else {
				st.err.Add(1)
			}
			return err
		}
	}
}

// wakeReader interrupts the reader's wait for a reply, so that it arms
// its read deadline again with the pool's timeout now in force (a reload
// changed it).
func (c *backendConn) wakeReader() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil {
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// pop removes the oldest request that was sent.
func (c *backendConn) pop() *request {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fifo.len()-c.unsent <= 0 {
		return nil
	}
	req, n := c.fifo.pop()
	c.sbytes -= n
	if c.waiters > 0 {
		c.space.Signal()
	}
	return req
}

// deadline is when the oldest waiting request times out, or a timeout
// from now if none waits.
func (c *backendConn) deadline(timeout time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fifo.len() == 0 {
		return time.Now().Add(timeout)
	}
	return c.fifo.head().start.Add(timeout)
}

// expired reports whether the oldest waiting request is past the timeout.
func (c *backendConn) expired(timeout time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fifo.len() > 0 && time.Since(c.fifo.head().start) >= timeout
}

// queues returns the twemproxy in/out queue gauges of the connection.
func (c *backendConn) queues() (in, inBytes, out, outBytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unsent, c.ubytes, c.fifo.len() - c.unsent, c.sbytes
}

// reqRing is a growable FIFO of requests with their wire sizes.
type reqRing struct {
	buf   []ringEntry
	first int
	n     int
}

type ringEntry struct {
	req  *request
	size int
}

func (q *reqRing) len() int { return q.n }

func (q *reqRing) push(r *request, size int) {
	if q.n == len(q.buf) {
		nb := make([]ringEntry, max(64, 2*len(q.buf)))
		for i := 0; i < q.n; i++ {
			nb[i] = q.buf[(q.first+i)%len(q.buf)]
		}
		q.buf, q.first = nb, 0
	}
	q.buf[(q.first+q.n)%len(q.buf)] = ringEntry{r, size}
	q.n++
}

func (q *reqRing) head() *request { return q.buf[q.first].req }

func (q *reqRing) pop() (*request, int) {
	e := q.buf[q.first]
	q.buf[q.first] = ringEntry{}
	q.first = (q.first + 1) % len(q.buf)
	q.n--
	return e.req, e.size
}

// drain removes and returns every request.
func (q *reqRing) drain() []*request {
	out := make([]*request, 0, q.n)
	for q.n > 0 {
		r, _ := q.pop()
		out = append(out, r)
	}
	if len(q.buf) > 1024 {
		q.buf, q.first = nil, 0
	}
	return out
}
