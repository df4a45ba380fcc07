package proxy

import (
	"bytes"
	"net"
	"strings"
	"time"
)

// psWriteTimeout bounds a write of (un)subscribe commands to a server.
const psWriteTimeout = 5 * time.Second

// psConn is one subscription connection of a session to one server. The
// session's reader and keeper write to it under the pubsub lock; its
// reader goroutine reads the pushes: messages go to the client,
// confirmations count down what is awaited.
//
// Goroutines: readLoop, started when the connection is made, ends when
// it breaks or is closed (closeLocked).
type psConn struct {
	ps  *pubsub
	srv *server
	nc  net.Conn

	// Under ps.mu.
	chans map[string]bool // channels subscribed on the server (as sent)
	pats  map[string]bool // patterns subscribed on the server
	ops   []psOp          // commands awaiting their confirmations, in order
	wbuf  []byte
	dead  bool // closed on purpose: no resubscription needed
}

// psOp is one (un)subscribe command sent: as many confirmations as names
// come back, or one error.
type psOp struct {
	left  int
	wait  *psWait // the client's request, nil for the keeper's commands
	kind  string
	names []string
}

// connLocked returns the session's subscription connection to sv,
// dialing it if there is none. ps.mu is held (a dial blocks this session
// only).
func (ps *pubsub) connLocked(sv *server) (*psConn, error) {
	if c := ps.conns[sv]; c != nil {
		return c, nil
	}
	nc, err := sv.dial()
	if err != nil {
		return nil, err
	}
	return ps.installLocked(sv, nc), nil
}

// installLocked makes nc the subscription connection to sv and starts its
// reader.
func (ps *pubsub) installLocked(sv *server, nc net.Conn) *psConn {
	c := &psConn{ps: ps, srv: sv, nc: nc, chans: map[string]bool{}, pats: map[string]bool{}}
	ps.conns[sv] = c
	sv.dedicated.subs.Add(1)
	sv.pool.proxy.stats.serverConnOpened()
	p := ps.pool
	p.wg.Add(1)
	go func() { // owned by the subscription; ends when the connection closes
		defer p.wg.Done()
		c.readLoop()
	}()
	return c
}

// sendLocked queues an (un)subscribe command for names and records what
// the server will have. w, if set, waits for its confirmations.
func (c *psConn) sendLocked(kind string, names []string, w *psWait) {
	args := make([][]byte, 0, 1+len(names))
	args = append(args, []byte(strings.ToUpper(kind)))
	set := c.chans
	if kind == "psubscribe" || kind == "punsubscribe" {
		set = c.pats
	}
	for _, n := range names {
		args = append(args, []byte(n))
		if kind == "subscribe" || kind == "psubscribe" {
			set[n] = true
		} else {
			delete(set, n)
		}
	}
	c.wbuf = appendCommand(c.wbuf, args...)
	c.ops = append(c.ops, psOp{left: len(names), wait: w, kind: kind, names: names})
	if w != nil {
		w.left++
	}
}

// flushLocked writes the queued commands. A failed write closes the
// connection; its reader then reports it broken.
func (c *psConn) flushLocked() {
	if len(c.wbuf) == 0 || c.dead {
		c.wbuf = c.wbuf[:0]
		return
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(psWriteTimeout))
	n, err := c.nc.Write(c.wbuf)
	c.srv.stats.requestBytes.Add(int64(n))
	c.wbuf = c.wbuf[:0]
	if err != nil {
		c.nc.Close()
	}
}

// closeLocked closes the connection on purpose.
func (c *psConn) closeLocked() {
	c.dead = true
	c.nc.Close()
}

// readLoop reads the server's pushes until the connection closes.
func (c *psConn) readLoop() {
	var (
		buf  = make([]byte, dedicatedBufSize)
		r, w int
		sc   replyScanner
		st   = c.srv.stats
	)
	s := c.ps.s
	for {
		woke := false
		for r < w {
			n, err := sc.scan(buf[r:w])
			if err != nil {
				st.err.Add(1)
				c.broken()
				return
			}
			if n == 0 {
				break
			}
			st.responses.Add(1)
			st.responseBytes.Add(int64(n))
			if c.handle(buf[r : r+n]) {
				woke = true
			}
			r += n
		}
		if woke {
			s.writeReady()
		}
		buf, r, w = sc.makeRoom(buf, r, w, dedicatedBufSize)
		n, err := c.nc.Read(buf[w:])
		w += n
		if err != nil && n == 0 {
			if isEOF(err) {
				st.eof.Add(1)
			}
			c.broken()
			return
		}
	}
}

// handle processes one push and reports whether the client has a new
// reply.
func (c *psConn) handle(reply []byte) bool {
	if isErrorReply(reply) {
		return c.refused(reply)
	}
	kind, name, ok := pushHead(reply)
	if !ok {
		return false
	}
	switch string(kind) {
	case "message":
		return c.ps.deliver(reply, name, false)
	case "pmessage":
		return c.ps.deliver(reply, name, true)
	case "subscribe", "unsubscribe", "psubscribe", "punsubscribe":
		return c.confirmed()
	}
	return false
}

// confirmed counts one confirmation of the oldest command.
func (c *psConn) confirmed() bool {
	ps := c.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(c.ops) == 0 {
		return false
	}
	op := &c.ops[0]
	op.left--
	if op.left > 0 {
		return false
	}
	w := op.wait
	c.ops[0] = psOp{}
	c.ops = c.ops[1:]
	return w != nil && w.done()
}

// refused handles an error the server answered to the oldest command
// (e.g. a server without pub/sub): its names are not subscribed, and the
// client's request gets the error.
func (c *psConn) refused(reply []byte) bool {
	ps := c.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(c.ops) == 0 {
		return false
	}
	op := c.ops[0]
	c.ops[0] = psOp{}
	c.ops = c.ops[1:]
	if op.kind == "subscribe" || op.kind == "psubscribe" {
		set, mine := c.chans, &ps.chans
		if op.kind == "psubscribe" {
			set, mine = c.pats, &ps.pats
		}
		for _, n := range op.names {
			delete(set, n)
			mine.remove(n)
		}
	}
	w := op.wait
	if w == nil {
		ps.pool.log.Warn("subscription refused by server", "server", c.srv.addr, "reply", clip(reply, 80))
		return false
	}
	if w.err == nil {
		w.err = append([]byte(nil), reply...)
	}
	return w.done()
}

// done counts one confirmed command of the wait and completes the
// client's request after the last. ps.mu is held.
func (w *psWait) done() bool {
	w.left--
	if w.left > 0 {
		return false
	}
	reply := w.reply
	if w.err != nil {
		reply = w.err
	}
	w.req.setReply(reply)
	return true
}

// broken ends a connection: the commands awaiting confirmations are
// answered (the keeper subscribes again on a new connection, unless the
// connection was closed on purpose).
func (c *psConn) broken() {
	c.nc.Close()
	c.srv.dedicated.subs.Add(-1)
	c.srv.pool.proxy.stats.serverConnClosed()
	ps := c.ps
	ps.mu.Lock()
	if ps.conns[c.srv] == c {
		delete(ps.conns, c.srv)
	}
	ops := c.ops
	c.ops = nil
	dead := c.dead
	woke := false
	for _, op := range ops {
		if op.wait != nil && op.wait.done() {
			woke = true
		}
	}
	ps.mu.Unlock()
	if woke {
		ps.s.writeReady()
	}
	if !dead {
		ps.pool.log.Debug("subscription connection broken", "server", c.srv.addr)
		ps.resync()
	}
}

// pushHead returns the kind of a pushed array (its first element) and its
// second element (the channel or pattern; nil if it is a nil bulk).
func pushHead(b []byte) (kind, name []byte, ok bool) {
	n, pos, ok := arrayReply(b)
	if !ok || n < 2 {
		return nil, nil, false
	}
	kind, pos, ok = bulkAt(b, pos)
	if !ok {
		return nil, nil, false
	}
	name, _, ok = bulkAt(b, pos)
	return kind, name, ok
}

// bulkAt parses the bulk string at b[pos:] and returns it and the offset
// after it.
func bulkAt(b []byte, pos int) ([]byte, int, bool) {
	if pos >= len(b) || b[pos] != '$' {
		return nil, 0, false
	}
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 2 {
		return nil, 0, false
	}
	n, ok := parseLen(b[pos+1 : pos+i-1])
	if !ok {
		return nil, 0, false
	}
	start := pos + i + 1
	if n < 0 {
		return nil, start, true
	}
	end := start + int(n)
	if end+2 > len(b) {
		return nil, 0, false
	}
	return b[start:end], end + 2, true
}

// keep is the keeper goroutine: it reconciles the subscriptions with the
// route table when woken (new table, broken connection), and again with
// backoff until every subscription is in place.
func (ps *pubsub) keep() {
	var (
		backoff time.Duration
		retry   <-chan time.Time
	)
	for {
		select {
		case <-ps.done:
			return
		case <-ps.resyncCh:
		case <-retry:
		}
		retry = nil
		if ps.reconcile() {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		retry = time.After(backoff)
	}
}

// psWant is what a server should have subscribed.
type psWant struct{ chans, pats map[string]bool }

// wantLocked computes where every subscription of the client belongs in
// tbl.
func (ps *pubsub) wantLocked(tbl *RouteTable) map[*server]*psWant {
	want := map[*server]*psWant{}
	get := func(sv *server) *psWant {
		w := want[sv]
		if w == nil {
			w = &psWant{chans: map[string]bool{}, pats: map[string]bool{}}
			want[sv] = w
		}
		return w
	}
	for ch := range ps.chans.m {
		if sh := tbl.Lookup([]byte(ch)); sh.errReply == nil && sh.master != nil {
			get(sh.master).chans[ch] = true
		}
	}
	if ps.pats.len() > 0 {
		for _, sv := range tableMasters(tbl) {
			w := get(sv)
			for pat := range ps.pats.m {
				w.pats[pat] = true
			}
		}
	}
	return want
}

// reconcile brings the subscription connections in line with the route
// table: connections to servers that should have none close, missing
// ones are dialed, and each server gets the (un)subscribes it lacks. It
// reports whether everything is in place.
func (ps *pubsub) reconcile() bool {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return true
	}
	var dial []*server
	for sv := range ps.wantLocked(ps.pool.table.Load()) {
		if ps.conns[sv] == nil {
			dial = append(dial, sv)
		}
	}
	ps.mu.Unlock()
	ok := true
	dialed := map[*server]net.Conn{}
	for _, sv := range dial {
		nc, err := sv.dial()
		if err != nil {
			ps.pool.log.Debug("cannot subscribe", "server", sv.addr, "err", errReason(err))
			ok = false
			continue
		}
		dialed[sv] = nc
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		for _, nc := range dialed {
			nc.Close()
		}
		return true
	}
	for sv, nc := range dialed {
		if ps.conns[sv] == nil {
			ps.installLocked(sv, nc)
		} else {
			nc.Close()
		}
	}
	want := ps.wantLocked(ps.pool.table.Load())
	for sv, c := range ps.conns {
		w := want[sv]
		if w == nil {
			c.closeLocked()
			delete(ps.conns, sv)
			continue
		}
		if add, drop := setDiff(w.chans, c.chans); len(add)+len(drop) > 0 {
			if len(drop) > 0 {
				c.sendLocked("unsubscribe", drop, nil)
			}
			if len(add) > 0 {
				c.sendLocked("subscribe", add, nil)
			}
		}
		if add, drop := setDiff(w.pats, c.pats); len(add)+len(drop) > 0 {
			if len(drop) > 0 {
				c.sendLocked("punsubscribe", drop, nil)
			}
			if len(add) > 0 {
				c.sendLocked("psubscribe", add, nil)
			}
		}
		c.flushLocked()
	}
	for sv := range want {
		if ps.conns[sv] == nil {
			ok = false
		}
	}
	return ok
}

// setDiff returns what want has and have lacks, and the reverse.
func setDiff(want, have map[string]bool) (add, drop []string) {
	for k := range want {
		if !have[k] {
			add = append(add, k)
		}
	}
	for k := range have {
		if !want[k] {
			drop = append(drop, k)
		}
	}
	return add, drop
}
