package backend

import (
	"strconv"
	"sync"
	"time"

	"github.com/tidwall/redcon"
)

// WAIT and synchronous acknowledgement (repl-ack-replicas).
//
// Replicas acknowledge (REPLCONF ACK <offset>) as soon as they have
// applied what they read, and every second. WAIT numreplicas timeout
// answers with the number of online replicas whose acknowledged offset
// reached the client's last write, waiting up to timeout ms for
// numreplicas of them (Redis' semantics, 0 = forever).
//
// With repl-ack-replicas N > 0 a master holds the replies of a batch that
// wrote until N replicas acknowledged the batch's last write (endBatch →
// awaitAcks), so a client never sees OK for a write only the master has.
// After repl-ack-timeout ms the writes still unacknowledged are answered
// -NOREPLICAS Write not acknowledged by N replicas within T ms instead
// (their fate is unknown, as after a WAIT timeout); the others keep their
// replies, in order. A batch without writes is never held.

// clientRepl is a client's replication state, owned by its goroutine.
type clientRepl struct {
	woff    int64       // stream offset after the client's last write (WAIT)
	held    []heldReply // this batch's write replies awaiting acknowledgement
	flushes int         // replies flushed before blocking (replyMark)

	// The handshake of a replica connecting (REPLCONF before PSYNC).
	port                int
	ip                  string
	capaEOF, capaPSync2 bool
	replica             *replicaConn // set by PSYNC/SYNC
}

// heldReply is the reply of one write command in the client's reply
// buffer, [start, end), and the stream offset after the write.
type heldReply struct {
	start, end int
	off        int64
}

// replyMark is the position in the reply buffer where a command's reply
// starts. flushes counts the early flushes (flushBeforeBlocking): after
// one, the reply starts at 0.
type replyMark struct{ n, flushes int }

func (c *Client) replyMark() replyMark { return replyMark{c.w.Len(), c.repl.flushes} }

// noteWrite records a command that advanced the client's stream offset
// (dispatch calls it after the handler with the mark taken before).
func (s *Server) noteWrite(c *Client, cmd *cmdSpec, mark replyMark) {
	if c.internal {
		return
	}
	start := mark.n
	if mark.flushes != c.repl.flushes {
		start = 0
	}
	c.repl.woff = c.pendingOff
	if cmd.flags&flagReadonly != 0 || s.repl.ackReplicas.Load() <= 0 {
		return
	}
	h := c.repl.held
	// A command that ran others (EXEC) covers their replies.
	for len(h) > 0 && h[len(h)-1].start >= start {
		h = h[:len(h)-1]
	}
	c.repl.held = append(h, heldReply{start: start, end: c.w.Len(), off: c.pendingOff})
}

// awaitAcks is endBatch's second half: it holds the batch's write replies
// until repl-ack-replicas replicas acknowledged them, or replaces the
// replies of the unacknowledged ones with NOREPLICAS at the timeout.
func (s *Server) awaitAcks(c *Client) {
	h := c.repl.held
	if len(h) == 0 {
		return
	}
	c.repl.held = h[:0]
	r := s.repl
	n := r.ackReplicas.Load()
	if n <= 0 || r.isReplica.Load() {
		return
	}
	ms := r.ackTimeout.Load()
	last := h[len(h)-1].off
	acked := r.waitAckedN(last, time.Now().Add(time.Duration(ms)*time.Millisecond))
	if acked >= last {
		return
	}
	msg := "NOREPLICAS Write not acknowledged by " + strconv.FormatInt(n, 10) + " replicas within " +
		strconv.FormatInt(ms, 10) + " ms"
	var out []byte
	pos := 0
	b := c.w.b
	for _, hr := range h {
		if hr.off <= acked || hr.end > len(b) {
			continue
		}
		out = append(out, b[pos:hr.start]...)
		out = redcon.AppendError(out, msg)
		pos = hr.end
		s.errs.add(msg)
	}
	out = append(out, b[pos:]...)
	c.w.b = out
}

// waitAckedN waits until ackReplicas replicas acknowledged off, or the
// deadline, or the server stops being a master; it returns the offset
// acknowledged by that many replicas.
func (r *replication) waitAckedN(off int64, deadline time.Time) int64 {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		ch := r.acks.wait()
		acked := r.ackedN.Load()
		if acked >= off || r.isReplica.Load() {
			return acked
		}
		d := time.Until(deadline)
		if d <= 0 {
			return acked
		}
		if timer == nil {
			timer = time.NewTimer(d)
		}
		select {
		case <-ch:
		case <-timer.C:
			return r.ackedN.Load()
		case <-r.stopping:
			return r.ackedN.Load()
		}
	}
}

func cmdWait(c *Client, args [][]byte) {
	r := c.s.repl
	if r.isReplica.Load() {
		c.err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
		return
	}
	num, ok := parseInt(args[1])
	if !ok {
		c.err(errNotInteger)
		return
	}
	ms, ok := parseInt(args[2])
	if !ok {
		c.err("ERR timeout is not an integer or out of range")
		return
	}
	if ms < 0 {
		c.err("ERR timeout is negative")
		return
	}
	off := c.repl.woff
	if n := int64(r.countAcked(off)); n >= num || c.atomic {
		c.int(n)
		return
	}
	c.flushBeforeBlocking()
	var deadline <-chan time.Time
	if ms > 0 {
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		deadline = t.C
	}
	for {
		ch := r.acks.wait()
		if r.isReplica.Load() {
			c.err("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)")
			return
		}
		n := int64(r.countAcked(off))
		if n >= num {
			c.int(n)
			return
		}
		select {
		case <-ch:
		case <-deadline:
			c.int(int64(r.countAcked(off)))
			return
		case <-r.stopping:
			c.int(n)
			return
		}
	}
}

// countAcked is the number of online replicas that acknowledged off.
func (r *replication) countAcked(off int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rc := range r.replicas {
		if rc.state.Load() == replicaOnline && rc.ackOff.Load() >= off {
			n++
		}
	}
	return n
}

// refreshAcks recomputes ackedN — the highest offset at least
// repl-ack-replicas online replicas acknowledged — and wakes the waiters
// when it changed.
func (r *replication) refreshAcks() {
	n := int(r.ackReplicas.Load())
	r.mu.Lock()
	var offs []int64
	if n > 0 {
		for _, rc := range r.replicas {
			if rc.state.Load() == replicaOnline {
				offs = append(offs, rc.ackOff.Load())
			}
		}
	}
	r.mu.Unlock()
	v := int64(-1)
	if n > 0 && len(offs) >= n {
		// The n-th largest (few replicas: selection by sorting).
		for i := 1; i < len(offs); i++ {
			for j := i; j > 0 && offs[j] > offs[j-1]; j-- {
				offs[j], offs[j-1] = offs[j-1], offs[j]
			}
		}
		v = offs[n-1]
	}
	r.ackedN.Store(v)
	r.acks.broadcast()
}

// ackNotifier wakes every waiter at once: wait returns a channel closed
// by the next broadcast. No allocation when nobody waits.
type ackNotifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *ackNotifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *ackNotifier) broadcast() {
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}
