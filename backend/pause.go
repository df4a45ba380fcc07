package backend

import (
	"sync"
	"sync/atomic"
	"time"
)

// CLIENT PAUSE <ms> [WRITE|ALL] and CLIENT UNPAUSE, as Redis 6.2+.
//
// While a pause lasts, clients' write commands (and may_replicate ones) —
// every command with ALL — wait in admission (admitCommand) and run when
// it ends; reads go on under WRITE. The replication link is never paused.
// A paused server also stops changing its stream on its own: expired keys
// are hidden instead of deleted and the master's PINGs are not sent, so
// the offset replicas must reach stays put (the failover use case). A
// second pause extends the first: the later end and the stricter mode
// win. The pause ends at its deadline (a timer) or on CLIENT UNPAUSE.

// pauseState is the server's CLIENT PAUSE state.
type pauseState struct {
	mu     sync.Mutex
	active atomic.Bool // read without mu on every command
	all    bool        // ALL rather than WRITE
	end    time.Time
	done   chan struct{} // closed when the current pause ends
	timer  *time.Timer   // ends the pause at end (owned by the runtime)
}

func (p *pauseState) writesPaused() bool { return p.active.Load() }

// pauseClients starts or extends a pause.
func (r *replication) pauseClients(d time.Duration, all bool) {
	p := &r.pause
	p.mu.Lock()
	end := time.Now().Add(d)
	if !p.active.Load() {
		p.all, p.end, p.done = all, end, make(chan struct{})
		p.active.Store(true)
	} else {
		p.all = p.all || all
		if end.After(p.end) {
			p.end = end
		}
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timer = time.AfterFunc(time.Until(p.end), r.unpauseIfDue)
	p.mu.Unlock()
	r.updateExpiry()
}

func (r *replication) unpauseIfDue() {
	p := &r.pause
	p.mu.Lock()
	if p.active.Load() && time.Now().Before(p.end) {
		p.timer = time.AfterFunc(time.Until(p.end), r.unpauseIfDue)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	r.unpauseClients()
}

// unpauseClients ends the pause: the waiting commands run.
func (r *replication) unpauseClients() {
	p := &r.pause
	p.mu.Lock()
	if !p.active.Load() {
		p.mu.Unlock()
		return
	}
	p.active.Store(false)
	close(p.done)
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	r.updateExpiry()
}

// wait blocks c while the pause applies to its command (write: a write or
// may_replicate command); meanwhile c counts in INFO blocked_clients. The replies of the commands c sent before are
// written first, as Redis does before postponing a client. It returns
// false if the server is shutting down.
func (p *pauseState) wait(c *Client, write bool) bool {
	flushed := false
	for {
		p.mu.Lock()
		if !p.active.Load() || !p.all && !write {
			p.mu.Unlock()
			return true
		}
		ch := p.done
		p.mu.Unlock()
		if !flushed {
			flushed = true
			c.flushBeforeBlocking()
		}
		// A paused client counts in INFO's blocked_clients, as in Redis
		// (blocked with BLOCKED_POSTPONE).
		c.s.blockedClients.Add(1)
		select {
		case <-ch:
		case <-c.s.repl.stopping:
			c.s.blockedClients.Add(-1)
			return false
		}
		c.s.blockedClients.Add(-1)
	}
}

// flushBeforeBlocking writes the replies c has buffered (after their
// durability and acknowledgement waits) before its goroutine blocks.
func (c *Client) flushBeforeBlocking() {
	if c.nc == nil {
		return
	}
	c.s.endBatch(c)
	_ = c.w.Flush()
	c.repl.flushes++
}

func cmdClientPause(c *Client, args [][]byte) {
	ms, ok := parseInt(args[2])
	if !ok {
		c.err("ERR timeout is not an integer or out of range")
		return
	}
	if ms < 0 {
		c.err("ERR timeout is negative")
		return
	}
	all := true
	if len(args) == 4 {
		switch {
		case eqFold(args[3], "write"):
			all = false
		case eqFold(args[3], "all"):
		default:
			c.err("ERR CLIENT PAUSE mode must be WRITE or ALL")
			return
		}
	} else if len(args) > 4 {
		c.err(errSyntax)
		return
	}
	c.s.repl.pauseClients(time.Duration(ms)*time.Millisecond, all)
	c.ok()
}

func cmdClientUnpause(c *Client, _ [][]byte) {
	c.s.repl.unpauseClients()
	c.ok()
}

// clientPauseCommand is CLIENT PAUSE (a subcommand in clientcmd.go).
func clientPauseCommand() *cmdSpec {
	return &cmdSpec{name: "pause", handler: cmdClientPause, arity: -3, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: "connection", since: "3.0.0", summary: "Suspends commands processing.", complexity: "O(1)"}
}

// clientUnpauseCommand is CLIENT UNPAUSE.
func clientUnpauseCommand() *cmdSpec {
	return &cmdSpec{name: "unpause", handler: cmdClientUnpause, arity: 2, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: "connection", since: "6.2.0", summary: "Resumes processing commands from paused clients.", complexity: "O(N) Where N is the number of paused clients"}
}
