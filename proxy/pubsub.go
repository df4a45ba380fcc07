package proxy

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Pub/Sub. A channel lives on the shard its name hashes to (as a key
// would, hash tag included): PUBLISH goes there through the ordinary
// pipelined path, and SUBSCRIBE subscribes there. A pattern may match
// channels of any shard, so PSUBSCRIBE subscribes on every shard. A
// subscribed session holds one subscription connection per server it
// needs (pubsub_conn.go), dialed for it alone.
//
// The proxy keeps the client's subscriptions itself and answers the
// (un)subscribe confirmations with its own counts (channels plus
// patterns of this client, as Redis counts them), after the servers
// confirmed a subscription, so a message published after the client saw
// its confirmation reaches it. Messages from all the session's
// connections are queued with its replies, so they interleave with them
// in order; a message for a channel (or pattern) the client no longer
// subscribes to is dropped, so none follows the last unsubscribe
// confirmation.
//
// A keeper goroutine per subscribed session follows the pool's route
// table: when a new table moves a channel to another server (a new
// master after a failover), it subscribes there and unsubscribes from the
// old one; when a subscription connection breaks, it dials again (with
// backoff) and subscribes everything anew. Messages published meanwhile
// are lost, as they are with Redis itself across a reconnect.

const msgPubSubContext = "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"

// pubsub is a session's subscriptions.
type pubsub struct {
	s    *session
	pool *Pool

	mu     sync.Mutex
	closed bool
	chans  nameSet // the client's channels
	pats   nameSet // the client's patterns
	conns  map[*server]*psConn

	shut     atomic.Bool   // closed, for waiters that do not hold mu
	resyncCh chan struct{} // cap 1: wakes the keeper
	done     chan struct{} // closed by close: ends the keeper
}

// nameSet is a set of channel or pattern names that remembers the order
// they were added in (UNSUBSCRIBE without arguments answers in it).
type nameSet struct {
	m   map[string]uint64
	seq uint64
}

func (n *nameSet) add(name string) bool {
	if _, ok := n.m[name]; ok {
		return false
	}
	if n.m == nil {
		n.m = map[string]uint64{}
	}
	n.seq++
	n.m[name] = n.seq
	return true
}

func (n *nameSet) has(name string) bool { _, ok := n.m[name]; return ok }

func (n *nameSet) remove(name string) bool {
	if _, ok := n.m[name]; !ok {
		return false
	}
	delete(n.m, name)
	return true
}

func (n *nameSet) len() int { return len(n.m) }

// list returns the names in the order they were added.
func (n *nameSet) list() []string {
	out := make([]string, 0, len(n.m))
	for k := range n.m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int { return int(n.m[a]) - int(n.m[b]) })
	return out
}

// psWait is a client (P)SUBSCRIBE waiting for the servers' confirmations.
type psWait struct {
	req   *request
	left  int    // server commands not confirmed yet
	reply []byte // the confirmations, as the proxy counts
	err   []byte // an error a server answered instead; replaces reply
}

// pubsub returns the session's subscriptions, creating them (and their
// keeper goroutine).
func (x *sessionExt) pubsub(s *session) *pubsub {
	if x.ps != nil {
		return x.ps
	}
	ps := &pubsub{
		s: s, pool: s.pool, conns: map[*server]*psConn{},
		resyncCh: make(chan struct{}, 1), done: make(chan struct{}),
	}
	x.ps = ps
	s.pool.subscribers.add(ps)
	s.pool.wg.Add(1)
	go func() { // the keeper: owned by the session, ends when it closes ps
		defer s.pool.wg.Done()
		ps.keep()
	}()
	return ps
}

// active reports whether the client is in subscribed mode (it has a
// channel or a pattern).
func (ps *pubsub) active() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.chans.len()+ps.pats.len() > 0
}

func (ps *pubsub) countLocked() int64 { return int64(ps.chans.len() + ps.pats.len()) }

// resync wakes the keeper. Safe from any goroutine.
func (ps *pubsub) resync() {
	select {
	case ps.resyncCh <- struct{}{}:
	default:
	}
}

// pubsubCommand serves SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE.
func (s *session) pubsubCommand(req *request, ci *cmdInfo, c *command) {
	x := s.ext()
	ps := x.pubsub(s)
	names := c.args[1:]
	switch ci.name {
	case "subscribe":
		ps.subscribe(req, names, false)
	case "psubscribe":
		ps.subscribe(req, names, true)
	case "unsubscribe":
		ps.unsubscribe(req, names, false)
	case "punsubscribe":
		ps.unsubscribe(req, names, true)
	}
}

// subscribedCommand serves a command in subscribed mode: PING answers the
// pub/sub way, the (un)subscribe commands, QUIT and RESET are served as
// usual, anything else is refused with Redis' error. It reports whether
// it served the command (unknown commands and wrong arities are left to
// the usual path, which Redis checks first too).
func (s *session) subscribedCommand(req *request, ci *cmdInfo, c *command) bool {
	if ci == nil || !ci.arityOK(len(c.args)) || !s.authOK() {
		return false
	}
	switch ci.name {
	case "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "quit", "reset":
		return false
	case "ping":
		req.cmd = ci
		b := appendArrayLen(req.reply[:0], 2)
		b = appendBulkString(b, "pong")
		if len(c.args) > 1 {
			b = appendBulk(b, c.args[1])
		} else {
			b = appendBulkString(b, "")
		}
		req.reply = b
		req.complete()
		return true
	}
	req.cmd = ci
	name := ci.name
	switch name {
	case "client", "command", "slowlog", "object", "xinfo", "xgroup":
		if len(c.args) > 1 {
			name += "|" + strings.ToLower(string(c.args[1]))
		}
	}
	req.setError("ERR Can't execute '" + name + "': " + msgPubSubContext)
	return true
}

// subscribe serves (P)SUBSCRIBE: the names go to their servers (a pattern
// to every server), and the client's confirmations are answered once the
// servers confirmed.
func (ps *pubsub) subscribe(req *request, names [][]byte, pattern bool) {
	s := ps.s
	tbl := s.tbl
	ps.mu.Lock()
	defer ps.mu.Unlock()
	// Where each name goes; refuse the whole command if a channel's shard
	// cannot be reached (no master): nothing changes then.
	targets := make(map[*server][]string)
	var masters []*server
	if pattern {
		masters = tableMasters(tbl)
	}
	for _, nb := range names {
		name := string(nb)
		if pattern {
			for _, sv := range masters {
				targets[sv] = append(targets[sv], name)
			}
			continue
		}
		sh := tbl.Lookup(nb)
		if sh.errReply != nil {
			req.setReply(sh.errReply)
			return
		}
		targets[sh.master] = append(targets[sh.master], name)
	}
	conns := make(map[*server]*psConn, len(targets))
	for sv := range targets {
		c, err := ps.connLocked(sv)
		if err != nil {
			s.pool.stats.forwardError.Add(1)
			req.setError(backendErrText(sv.addr, err))
			return
		}
		conns[sv] = c
	}
	// The client's view, and the confirmations it gets.
	kind := "subscribe"
	set := &ps.chans
	if pattern {
		kind, set = "psubscribe", &ps.pats
	}
	req.forwarded = true
	w := &psWait{req: req}
	b := w.reply
	for _, nb := range names {
		set.add(string(nb))
		b = appendArrayLen(b, 3)
		b = appendBulkString(b, kind)
		b = appendBulk(b, nb)
		b = appendInt(b, ps.countLocked())
	}
	w.reply = b
	for sv, list := range targets {
		c := conns[sv]
		var send []string
		have := c.chans
		if pattern {
			have = c.pats
		}
		for _, name := range list {
			if !have[name] && !slices.Contains(send, name) {
				send = append(send, name)
			}
		}
		if len(send) > 0 {
			c.sendLocked(kind, send, w)
		}
	}
	if w.left == 0 {
		req.reply = append(req.reply[:0], w.reply...)
		req.complete()
	}
}

// unsubscribe serves (P)UNSUBSCRIBE: the client's view changes at once
// (messages for the names are dropped from now on), the servers are told,
// and the confirmations are answered without waiting for them.
func (ps *pubsub) unsubscribe(req *request, names [][]byte, pattern bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	kind := "unsubscribe"
	set := &ps.chans
	if pattern {
		kind, set = "punsubscribe", &ps.pats
	}
	var list []string
	if len(names) == 0 {
		list = set.list()
	} else {
		list = make([]string, len(names))
		for i, nb := range names {
			list[i] = string(nb)
		}
	}
	b := req.reply[:0]
	if len(list) == 0 {
		b = appendArrayLen(b, 3)
		b = appendBulkString(b, kind)
		b = appendNil(b)
		b = appendInt(b, ps.countLocked())
	}
	for _, name := range list {
		set.remove(name)
		b = appendArrayLen(b, 3)
		b = appendBulkString(b, kind)
		b = appendBulkString(b, name)
		b = appendInt(b, ps.countLocked())
	}
	req.reply = b
	// Tell the servers that have the names.
	for _, c := range ps.conns {
		have := c.chans
		if pattern {
			have = c.pats
		}
		var send []string
		for _, name := range list {
			if have[name] && !set.has(name) && !slices.Contains(send, name) {
				send = append(send, name)
			}
		}
		if len(send) > 0 {
			c.sendLocked(kind, send, nil)
		}
	}
	req.complete()
	ps.resync() // the keeper closes the connections no longer needed
}

// tableMasters returns the masters of tbl's shards that have one.
func tableMasters(tbl *RouteTable) []*server {
	var out []*server
	for i := range tbl.shards {
		sh := &tbl.shards[i]
		if sh.errReply == nil && sh.master != nil && !slices.Contains(out, sh.master) {
			out = append(out, sh.master)
		}
	}
	return out
}

// flush writes the commands queued on the subscription connections
// (the session reader calls it at the end of each batch).
func (ps *pubsub) flush() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, c := range ps.conns {
		c.flushLocked()
	}
}

// deliver queues a message for the client if it still subscribes to
// name (a channel, or the pattern that matched). It runs on a
// subscription connection's reader and waits while the client has too
// many replies pending (backpressure reaches the server).
func (ps *pubsub) deliver(msg []byte, name []byte, pattern bool) bool {
	s := ps.s
	s.mu.Lock()
	for s.outstanding >= maxSessionPending && !ps.shut.Load() {
		s.spaceWaiters++
		s.space.Wait()
		s.spaceWaiters--
	}
	s.mu.Unlock()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	set := &ps.chans
	if pattern {
		set = &ps.pats
	}
	if ps.closed || !set.has(string(name)) {
		return false
	}
	r := s.pool.proxy.reqs.get(s, time.Now())
	r.push = true
	r.reply = append(r.reply[:0], msg...)
	r.done.Store(true)
	one := [1]*request{r}
	s.push(one[:])
	return true
}

// close drops every subscription when the session's reader ends: the
// connections close, the keeper ends, nothing is delivered any more.
func (ps *pubsub) close() {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return
	}
	ps.closed = true
	ps.shut.Store(true)
	for sv, c := range ps.conns {
		c.closeLocked()
		delete(ps.conns, sv)
	}
	ps.mu.Unlock()
	close(ps.done)
	ps.pool.subscribers.remove(ps)
	s := ps.s
	s.mu.Lock()
	s.space.Broadcast()
	s.mu.Unlock()
}

// reset drops every subscription and connection (RESET).
func (ps *pubsub) reset() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.chans, ps.pats = nameSet{}, nameSet{}
	for sv, c := range ps.conns {
		c.closeLocked()
		delete(ps.conns, sv)
	}
}

// subscriberSet is a pool's subscribed sessions, told when the route
// table changes.
type subscriberSet struct {
	mu sync.Mutex
	m  map[*pubsub]struct{}
}

func (ss *subscriberSet) add(ps *pubsub) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = map[*pubsub]struct{}{}
	}
	ss.m[ps] = struct{}{}
}

func (ss *subscriberSet) remove(ps *pubsub) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, ps)
}

// has reports whether s has subscriptions (sessions in subscribed mode
// are not closed for being idle, as in Redis).
func (ss *subscriberSet) has(s *session) bool {
	ss.mu.Lock()
	var list []*pubsub
	for ps := range ss.m {
		if ps.s == s {
			list = append(list, ps)
		}
	}
	ss.mu.Unlock()
	for _, ps := range list {
		if ps.active() {
			return true
		}
	}
	return false
}

// tableChanged wakes every keeper to follow a new route table. It does
// not block.
func (ss *subscriberSet) tableChanged() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for ps := range ss.m {
		ps.resync()
	}
}

func (ss *subscriberSet) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}
