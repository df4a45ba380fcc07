package proxy

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Dedicated connections. Transactions (WATCH/MULTI ... EXEC) and blocking
// commands (BLPOP, ...) change the state of the server connection they
// run on, so they cannot share the pipelined connections every client
// uses: a BLPOP waiting 30 s there would hold up every reply queued
// behind it. Each server keeps a small pool of dedicated connections; a
// session leases one, uses it alone, and hands it back once every reply
// it waits for has arrived and the server-side state is clean again, so a
// transaction costs no dial.

const (
	// maxIdleDedicated is how many unused dedicated connections a server
	// keeps for later leases; more are closed when handed back.
	maxIdleDedicated = 16
	// dedicatedIdleTTL: an unused dedicated connection older than this is
	// closed instead of leased (the server may have timed it out).
	dedicatedIdleTTL = 5 * time.Minute
)

// ErrDedicatedClosed: the session gave up its dedicated connection while
// requests were still waiting on it (the client disconnected).
var ErrDedicatedClosed = errors.New("connection closed: client gone")

// dedicatedPool is a server's pool of dedicated connections.
type dedicatedPool struct {
	mu     sync.Mutex
	idle   []*dedicatedConn
	leased map[*dedicatedConn]struct{}
	closed error // set by closeAll: no more leases

	leases atomic.Int64 // leases served (for metrics)
	dials  atomic.Int64 // connections dialed
	subs   atomic.Int64 // subscription connections open (pubsub_conn.go)
}

// dedicatedEntry is one request awaiting its reply on a dedicated
// connection.
type dedicatedEntry struct {
	// req receives the reply; nil for a command the proxy sent itself
	// (MULTI before the first queued command, DISCARD at a reset).
	req *request
	// wait is how long the command may legitimately block on top of the
	// pool's timeout (a blocking command's own timeout); < 0 forever.
	wait time.Duration
	// then, if set, is called with the reply before it is delivered and
	// returns the reply to deliver (EXEC splices in the proxy's own
	// replies of queued local commands).
	then func(reply []byte) []byte
	// notify, if set, gets a token once req is complete (a blocking
	// command's session waits for it; see session.waitUnblocked).
	notify chan struct{}
}

// notified sends e's token, if it has a channel.
func (e *dedicatedEntry) notified() {
	if e.notify != nil {
		select {
		case e.notify <- struct{}{}:
		default:
		}
	}
}

// dedicatedConn is one dedicated connection, leased by one session at a
// time. The session's reader goroutine queues commands (queue) and writes
// them at the end of its batch (flush); the connection's reader goroutine
// matches replies to them in order and hands each to the session.
//
// Goroutines: lease starts the reader; it ends when the connection is
// handed back (release, once nothing is awaited) or breaks (then every
// request waiting fails and the connection is closed).
type dedicatedConn struct {
	srv     *server
	nc      net.Conn
	idleAt  time.Time // when it was last handed back
	timeout time.Duration

	mu        sync.Mutex
	wbuf      []byte // commands queued, not written yet
	unflushed int    // commands in wbuf
	fifo      []dedicatedEntry
	headSince time.Time // when the head entry started to wait
	release   bool      // hand back once fifo is empty
	owner     *session  // the session leasing it, nil once handed back
	broken    error     // the connection is closed; new commands fail with it
	dirty     bool      // server-side state is unknown: close instead of reuse
}

func newDedicatedPool() *dedicatedPool {
	return &dedicatedPool{leased: map[*dedicatedConn]struct{}{}}
}

// counts returns the leased and idle connections.
func (dp *dedicatedPool) counts() (leased, idle int) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return len(dp.leased), len(dp.idle)
}

// leaseDedicated returns a dedicated connection to sv for session s, from
// the idle pool or newly dialed, with its reader goroutine running. It
// runs on the session's reader goroutine (a dial blocks only that client).
func (sv *server) leaseDedicated(s *session) (*dedicatedConn, error) {
	dp := sv.dedicated
	for {
		dp.mu.Lock()
		if dp.closed != nil {
			err := dp.closed
			dp.mu.Unlock()
			return nil, err
		}
		n := len(dp.idle)
		if n == 0 {
			dp.mu.Unlock()
			break
		}
		d := dp.idle[n-1]
		dp.idle[n-1] = nil
		dp.idle = dp.idle[:n-1]
		dp.mu.Unlock()
		if time.Since(d.idleAt) > dedicatedIdleTTL || !connAlive(d.nc) {
			d.nc.Close()
			sv.pool.proxy.stats.serverConnClosed()
			continue
		}
		if dp.start(d, s) {
			return d, nil
		}
		return nil, dp.closedErr()
	}
	nc, err := sv.dial()
	if err != nil {
		return nil, err
	}
	dp.dials.Add(1)
	sv.pool.proxy.stats.serverConnOpened()
	d := &dedicatedConn{srv: sv, nc: nc}
	if !dp.start(d, s) {
		return nil, dp.closedErr()
	}
	return d, nil
}

func (dp *dedicatedPool) closedErr() error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.closed
}

// start marks d leased and starts its reader; false if the pool is closed
// (d is then closed).
func (dp *dedicatedPool) start(d *dedicatedConn, s *session) bool {
	dp.mu.Lock()
	if dp.closed != nil {
		dp.mu.Unlock()
		d.nc.Close()
		d.srv.pool.proxy.stats.serverConnClosed()
		return false
	}
	dp.leased[d] = struct{}{}
	dp.leases.Add(1)
	dp.mu.Unlock()
	d.mu.Lock()
	d.release, d.broken, d.dirty, d.owner = false, nil, false, s
	d.timeout = d.srv.pool.config().Timeout // at each lease: a reload may change it
	d.mu.Unlock()
	p := d.srv.pool
	p.wg.Add(1)
	go func() { // owned by the lease; ends at release or when the connection breaks
		defer p.wg.Done()
		d.readLoop(s)
	}()
	return true
}

// giveBack returns a released connection to the idle pool, or closes it.
func (dp *dedicatedPool) giveBack(d *dedicatedConn, reuse bool) {
	d.mu.Lock()
	d.owner = nil
	d.mu.Unlock()
	dp.mu.Lock()
	delete(dp.leased, d)
	if reuse && dp.closed == nil && len(dp.idle) < maxIdleDedicated {
		d.idleAt = time.Now()
		_ = d.nc.SetDeadline(time.Time{})
		dp.idle = append(dp.idle, d)
		dp.mu.Unlock()
		return
	}
	dp.mu.Unlock()
	d.nc.Close()
	d.srv.pool.proxy.stats.serverConnClosed()
}

// closeAll closes every dedicated connection (the server is closed):
// requests waiting on leased ones fail with err.
func (dp *dedicatedPool) closeAll(err error) {
	dp.mu.Lock()
	if dp.closed == nil {
		dp.closed = err
	}
	idle := dp.idle
	dp.idle = nil
	var leased []*dedicatedConn
	for d := range dp.leased {
		leased = append(leased, d)
	}
	dp.mu.Unlock()
	for _, d := range idle {
		d.nc.Close()
		d.srv.pool.proxy.stats.serverConnClosed()
	}
	for _, d := range leased {
		d.abort(err)
	}
}

// queue appends a command for e.req (nil: the proxy's own) and reports
// whether it was queued; if the connection is broken or handed back,
// e.req is completed with the error and false returned. The caller
// flushes at the end of its batch.
func (d *dedicatedConn) queue(e dedicatedEntry, raw []byte) bool {
	d.mu.Lock()
	if d.broken != nil || d.release {
		err := d.broken
		if err == nil {
			err = ErrDedicatedClosed
		}
		d.mu.Unlock()
		if e.req != nil {
			d.srv.pool.stats.forwardError.Add(1)
			e.req.setError(backendErrText(d.srv.addr, err))
		}
		return false
	}
	d.pushLocked(e, raw)
	d.mu.Unlock()
	return true
}

// pushLocked queues e and its command's bytes.
func (d *dedicatedConn) pushLocked(e dedicatedEntry, raw []byte) {
	if len(d.fifo) == 0 {
		d.headSince = time.Now()
	}
	d.fifo = append(d.fifo, e)
	if e.req != nil {
		e.req.forwarded = true
	}
	d.wbuf = append(d.wbuf, raw...)
	d.unflushed++
}

// flush writes what queue accumulated. A write error closes the
// connection; the reader then fails the waiting requests. The bytes are
// taken under mu: once they are written, the replies may come, the
// connection be handed back and leased by another session before Write
// even returns here.
func (d *dedicatedConn) flush() {
	d.mu.Lock()
	buf, n := d.wbuf, d.unflushed
	d.wbuf, d.unflushed = nil, 0
	d.mu.Unlock()
	if len(buf) == 0 {
		return
	}
	_ = d.nc.SetWriteDeadline(time.Now().Add(psWriteTimeout))
	w, err := d.nc.Write(buf)
	d.srv.stats.requests.Add(int64(n))
	d.srv.stats.requestBytes.Add(int64(w))
	if err != nil {
		d.abort(err)
		return
	}
	if cap(buf) <= 64<<10 {
		d.mu.Lock()
		if d.wbuf == nil {
			d.wbuf = buf[:0]
		}
		d.mu.Unlock()
	}
}

// handBack asks for the connection to go back to the pool once every
// awaited reply is in (or to be closed, if dirty). Safe from any
// goroutine.
func (d *dedicatedConn) handBack() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handBackLocked()
}

func (d *dedicatedConn) handBackLocked() {
	if d.release {
		return
	}
	d.release = true
	if len(d.fifo) == 0 {
		_ = d.nc.SetReadDeadline(time.Now()) // wake the reader
	}
}

// leave gives up s's hold on d as s ends: with replies still awaited and
// abrupt (the client is gone), d is closed; otherwise it is handed back.
// It does nothing if d is no longer s's: once handed back, d may already
// serve another session.
func (d *dedicatedConn) leave(s *session, abrupt bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.owner != s {
		return
	}
	if abrupt && len(d.fifo) > 0 {
		if d.broken == nil {
			d.broken = ErrDedicatedClosed
		}
		d.nc.Close() // the reader fails what waits and ends
		return
	}
	d.handBackLocked()
}

// abortOwned closes d if s still holds it and awaits a reply on it (see
// leave).
func (d *dedicatedConn) abortOwned(s *session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.owner == s && len(d.fifo) > 0 {
		if d.broken == nil {
			d.broken = ErrDedicatedClosed
		}
		d.nc.Close()
	}
}

// markDirty makes the connection close instead of going back to the pool.
func (d *dedicatedConn) markDirty() {
	d.mu.Lock()
	d.dirty = true
	d.mu.Unlock()
}

// abort closes the connection: every waiting request fails with err
// (completed by the reader goroutine as it ends).
func (d *dedicatedConn) abort(err error) {
	d.mu.Lock()
	if d.broken == nil {
		d.broken = err
	}
	d.mu.Unlock()
	d.nc.Close()
}

// pending reports how many replies the connection awaits.
func (d *dedicatedConn) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.fifo)
}

// deadlineLocked is the read deadline: the head entry times out after the
// pool's timeout plus its own wait; zero means none.
func (d *dedicatedConn) deadlineLocked() time.Time {
	if d.release && len(d.fifo) == 0 {
		return time.Now()
	}
	if len(d.fifo) == 0 || d.timeout <= 0 {
		return time.Time{}
	}
	w := d.fifo[0].wait
	if w < 0 {
		return time.Time{}
	}
	return d.headSince.Add(d.timeout + w)
}

// readLoop matches replies to the queued entries until the connection is
// handed back or breaks.
func (d *dedicatedConn) readLoop(s *session) {
	var (
		buf  = make([]byte, dedicatedBufSize)
		r, w int
		sc   replyScanner
		st   = d.srv.stats
	)
	fail := func(err error) {
		d.mu.Lock()
		if d.broken == nil {
			d.broken = err
		}
		err = d.broken
		fifo := d.fifo
		d.fifo = nil
		d.mu.Unlock()
		d.nc.Close()
		d.srv.dedicated.giveBack(d, false)
		if len(fifo) == 0 {
			return
		}
		msg := backendErrText(d.srv.addr, err)
		woke := false
		for _, e := range fifo {
			if e.req != nil {
				d.srv.pool.stats.forwardError.Add(1)
				e.req.setError(msg)
				woke = true
			}
		}
		if woke {
			s.writeReady()
		}
		for i := range fifo {
			fifo[i].notified()
		}
	}
	var notify []dedicatedEntry
	for {
		delivered := false
		for r < w {
			n, err := sc.scan(buf[r:w])
			if err != nil {
				st.err.Add(1)
				fail(err)
				return
			}
			if n == 0 {
				break
			}
			d.mu.Lock()
			if len(d.fifo) == 0 {
				d.mu.Unlock()
				st.err.Add(1)
				fail(ErrUnexpectedReply)
				return
			}
			e := d.fifo[0]
			d.fifo[0] = dedicatedEntry{}
			d.fifo = d.fifo[1:]
			d.headSince = time.Now()
			d.mu.Unlock()
			reply := buf[r : r+n]
			st.responses.Add(1)
			st.responseBytes.Add(int64(n))
			if e.then != nil {
				reply = e.then(reply)
			}
			if e.req != nil {
				e.req.setReply(reply)
				delivered = true
			}
			if e.notify != nil {
				notify = append(notify, e)
			}
			r += n
		}
		if delivered {
			s.writeReady()
		}
		for i := range notify {
			notify[i].notified()
			notify[i] = dedicatedEntry{}
		}
		notify = notify[:0]
		buf, r, w = sc.makeRoom(buf, r, w, dedicatedBufSize)
		d.mu.Lock()
		if d.release && len(d.fifo) == 0 && r == w && d.broken == nil {
			reuse := !d.dirty
			d.mu.Unlock()
			d.srv.dedicated.giveBack(d, reuse)
			return
		}
		_ = d.nc.SetReadDeadline(d.deadlineLocked())
		d.mu.Unlock()
		n, err := d.nc.Read(buf[w:])
		w += n
		if err != nil && n == 0 {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				d.mu.Lock()
				dl := d.deadlineLocked()
				handBack := d.release && len(d.fifo) == 0
				d.mu.Unlock()
				if handBack || dl.IsZero() || time.Now().Before(dl) {
					continue
				}
				st.timedout.Add(1)
				fail(ErrTimeout)
				return
			}
			switch {
			case isEOF(err):
				st.eof.Add(1)
			case !errors.Is(err, net.ErrClosed):
				st.err.Add(1)
			}
			fail(err)
			return
		}
	}
}
