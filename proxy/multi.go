package proxy

// Transactions (MULTI/EXEC/DISCARD/WATCH/UNWATCH) when every key of the
// transaction maps to one shard.
//
// WATCH, or the first command with a key inside MULTI, pins the session
// to that key's shard: it leases a dedicated connection to the shard's
// master (blocking_conn.go) and sends everything of the transaction
// there (between WATCH and MULTI, the session's other commands for that
// server go there too, so that they reach it in order with the WATCH:
// a write of the client's own after WATCH makes EXEC fail, as in Redis), MULTI first (the client's MULTI is answered +OK by the proxy,
// which does not know the shard yet). The first key decides: a later key
// of another shard gets -CROSSSLOT and, as for any command refused while
// queuing in Redis, makes EXEC answer -EXECABORT (the proxy then sends
// DISCARD to the shard). Commands the proxy answers itself (PING, ECHO,
// INFO, ...) are queued by the proxy, their replies computed at once and
// spliced into EXEC's array at their place. EXEC, DISCARD and UNWATCH end
// the pin: the connection goes back to the server's pool of dedicated
// connections once their replies are in. A client that goes away while
// pinned has its connection reset (DISCARD or UNWATCH) and handed back,
// or closed if it still waited for replies.

const (
	msgExecAbort      = "EXECABORT Transaction discarded because of previous errors."
	msgExecNoMulti    = "ERR EXEC without MULTI"
	msgDiscardNoMulti = "ERR DISCARD without MULTI"
	msgMultiNested    = "ERR MULTI calls can not be nested"
	msgWatchInMulti   = "ERR WATCH inside MULTI is not allowed"
)

// msgNotInMulti is the reply to a command the proxy cannot run inside a
// transaction (it spans shards or changes the connection's mode).
func msgNotInMulti(name string) string {
	return "ERR '" + name + "' is not supported inside MULTI by shardis-proxy"
}

var (
	cmdMulti   = []byte("*1\r\n$5\r\nMULTI\r\n")
	cmdExec    = []byte("*1\r\n$4\r\nEXEC\r\n")
	cmdDiscard = []byte("*1\r\n$7\r\nDISCARD\r\n")
	cmdUnwatch = []byte("*1\r\n$7\r\nUNWATCH\r\n")

	replyOK     = []byte("+OK\r\n")
	replyQueued = []byte("+QUEUED\r\n")
)

// sessionExt is a session's state beyond request/reply: its transaction,
// the connections of its blocking commands and its subscriptions. A
// session creates it on first use; it belongs to the session's reader
// goroutine (the pub/sub part has its own lock, pubsub.go).
type sessionExt struct {
	tx       txState
	blocking map[*server]*dedicatedConn // the last dedicated connection of blocking commands, per server
	touched  []*dedicatedConn           // dedicated connections to flush at the end of the batch
	ps       *pubsub                    // nil until the first (P)SUBSCRIBE

	// blockedOn is the connection of the blocking command the batch just
	// sent; the reader waits for its reply before going on (blocking.go).
	blockedOn *dedicatedConn
	unblocked chan struct{} // cap 1: a blocking command was answered
	// settleNext: a transaction just ended; the next command waits for
	// its replies (session.settle), so that it cannot reach the server
	// on a pipelined connection before them.
	settleNext bool
}

// txState is the session's transaction.
type txState struct {
	multi bool // the client sent MULTI
	dirty bool // a command was refused while queuing: EXEC aborts

	// The pin: the table and shard the first key chose, and the leased
	// connection to its master. conn is nil while not pinned.
	conn  *dedicatedConn
	tbl   *RouteTable
	shard int

	backendMulti bool // MULTI was sent on conn
	watching     bool // WATCH was sent on conn

	// Queued commands in order: -1 for one sent to the shard, else the
	// index in local of a reply the proxy computed.
	order []int
	local [][]byte
}

// ext returns the session's extension, creating it.
func (s *session) ext() *sessionExt {
	if s.x == nil {
		s.x = &sessionExt{}
	}
	return s.x
}

// intercept serves a command when the session is in a mode that changes
// what commands mean (inside MULTI, or subscribed); it reports whether it
// did. ci is nil for an unknown command.
func (s *session) intercept(req *request, ci *cmdInfo, c *command) bool {
	x := s.x
	if x.tx.multi {
		s.queueInMulti(req, ci, c)
		return true
	}
	if x.ps != nil && x.ps.active() {
		return s.subscribedCommand(req, ci, c)
	}
	return false
}

// touchDedicated remembers a dedicated connection to flush at the end of
// the batch.
func (x *sessionExt) touchDedicated(d *dedicatedConn) {
	for _, t := range x.touched {
		if t == d {
			return
		}
	}
	x.touched = append(x.touched, d)
}

// flush writes what the batch queued on dedicated connections and
// subscription connections. The session reader calls it after the batch
// is queued for replies (so a reply can never precede its request).
func (x *sessionExt) flush() {
	for i, d := range x.touched {
		d.flush()
		x.touched[i] = nil
	}
	x.touched = x.touched[:0]
	if x.ps != nil {
		x.ps.flush()
	}
}

// end releases what the session holds when its reader ends. abrupt: the
// client went away (or broke the protocol), so requests still waiting on
// dedicated connections are abandoned: those connections are closed
// (for a blocking command the server would otherwise hand a popped
// element to nobody). Otherwise (drain, idle timeout) they finish first.
func (x *sessionExt) end(s *session, abrupt bool) {
	if x.ps != nil {
		x.ps.close()
	}
	if x.tx.conn != nil {
		if abrupt && x.tx.conn.pending() > 0 {
			x.tx.conn.abortOwned(s) // pinned: still s's until txRelease
		} else {
			s.txReset()
		}
		x.tx = txState{}
	}
	for sv, d := range x.blocking {
		d.leave(s, abrupt)
		delete(x.blocking, sv)
	}
	x.flush()
}

// txCommand serves MULTI, EXEC, DISCARD, WATCH, UNWATCH and RESET outside
// a transaction (inside one, queueInMulti does).
func (s *session) txCommand(req *request, ci *cmdInfo, c *command) {
	x := s.ext()
	tx := &x.tx
	switch ci.name {
	case "multi":
		tx.multi, tx.dirty = true, false
		req.setReply(replyOK)
	case "exec":
		req.setError(msgExecNoMulti)
	case "discard":
		req.setError(msgDiscardNoMulti)
	case "watch":
		s.watch(req, c)
	case "unwatch":
		if tx.conn == nil {
			req.setReply(replyOK)
			return
		}
		s.sendPinned(req, c.raw, nil)
		tx.watching = false
		s.txRelease()
	case "reset":
		s.reset(req)
	}
}

// watch pins the session to the shard of WATCH's keys and sends it there.
func (s *session) watch(req *request, c *command) {
	tx := &s.x.tx
	tbl := s.tbl
	if tx.conn != nil {
		tbl = tx.tbl
	}
	shard := tbl.lookupIndex(c.args[1])
	for _, k := range c.args[2:] {
		if tbl.lookupIndex(k) != shard {
			s.pool.stats.crossSlot.Add(1)
			req.setError(msgCrossSlot)
			return
		}
	}
	if tx.conn != nil && shard != tx.shard {
		s.pool.stats.crossSlot.Add(1)
		req.setError(msgCrossSlot)
		return
	}
	if tx.conn == nil && !s.pin(req, tbl, shard) {
		return
	}
	s.sendPinned(req, c.raw, nil)
	tx.watching = true
}

// pin leases a dedicated connection to the master of shard and pins the
// transaction to it; on failure req gets the error and pin returns false.
func (s *session) pin(req *request, tbl *RouteTable, shard int) bool {
	sh := tbl.Shard(shard)
	if sh.errReply != nil {
		req.setReply(sh.errReply)
		return false
	}
	s.settle()
	d, err := sh.master.leaseDedicated(s)
	if err != nil {
		s.pool.stats.forwardError.Add(1)
		req.setError(backendErrText(sh.master.addr, err))
		return false
	}
	tx := &s.x.tx
	tx.conn, tx.tbl, tx.shard = d, tbl, shard
	return true
}

// sendPinned queues raw for req (nil: the proxy's own command) on the
// pinned connection.
func (s *session) sendPinned(req *request, raw []byte, then func([]byte) []byte) {
	x := s.x
	if x.tx.conn.queue(dedicatedEntry{req: req, then: then}, raw) {
		x.touchDedicated(x.tx.conn)
	}
}

// txRelease ends the pin: the connection goes back to its pool once the
// replies awaited are in.
func (s *session) txRelease() {
	tx := &s.x.tx
	if tx.conn != nil {
		tx.conn.handBack()
		s.x.settleNext = true
	}
	*tx = txState{}
}

// txReset leaves the pinned connection clean (no MULTI, nothing watched)
// and releases it.
func (s *session) txReset() {
	tx := &s.x.tx
	if tx.conn == nil {
		*tx = txState{}
		return
	}
	switch {
	case tx.backendMulti:
		s.sendPinned(nil, cmdDiscard, nil)
	case tx.watching:
		s.sendPinned(nil, cmdUnwatch, nil)
	}
	s.txRelease()
}

// reset serves RESET: the transaction is discarded, watched keys and
// subscriptions dropped, the name cleared and, with redis_auth, the
// client must authenticate again.
func (s *session) reset(req *request) {
	x := s.ext()
	s.txReset()
	if x.ps != nil {
		x.ps.reset()
	}
	s.name = ""
	s.authed = s.pool.config().RedisAuth == ""
	req.setReply([]byte("+RESET\r\n"))
}

// queueInMulti serves a command inside MULTI: queued on the pinned shard
// (or computed by the proxy), or refused, which makes EXEC abort.
func (s *session) queueInMulti(req *request, ci *cmdInfo, c *command) {
	tx := &s.x.tx
	args := c.args
	if ci == nil {
		s.pool.stats.unknown.Add(1)
		tx.dirty = true
		req.setError(msgUnknown(lowerName(args[0])))
		return
	}
	req.cmd = ci
	if !ci.arityOK(len(args)) {
		tx.dirty = true
		req.setError(msgArity(ci.name))
		return
	}
	switch ci.name {
	case "multi":
		req.setError(msgMultiNested)
		return
	case "watch":
		req.setError(msgWatchInMulti)
		return
	case "exec":
		s.exec(req)
		return
	case "discard":
		s.discard(req)
		return
	case "quit":
		s.local(req, ci, args)
		return
	case "reset":
		s.reset(req)
		return
	case "unwatch":
		if tx.conn != nil {
			s.queueOnShard(req, c.raw)
		} else {
			s.queueLocalReply(req, replyOK)
		}
		return
	}
	switch ci.kind {
	case kindLocal:
		tmp := s.pool.proxy.reqs.get(s, req.start)
		s.local(tmp, ci, args)
		s.queueLocalReply(req, tmp.reply)
		s.pool.proxy.reqs.put(tmp)
	case kindSingle, kindSameShard, kindMGet, kindMSet, kindSum, kindBlocking, kindPublish:
		s.queueKeyed(req, ci, c)
	default: // pub/sub, SCAN and the commands sent to every shard
		tx.dirty = true
		req.setError(msgNotInMulti(ci.name))
	}
}

// queueLocalReply queues a reply the proxy computed and answers QUEUED.
func (s *session) queueLocalReply(req *request, reply []byte) {
	tx := &s.x.tx
	tx.local = append(tx.local, append([]byte(nil), reply...))
	tx.order = append(tx.order, len(tx.local)-1)
	req.setReply(replyQueued)
}

// queueKeyed queues a command with keys on the pinned shard, pinning the
// transaction to the shard of its first key if it is not yet.
func (s *session) queueKeyed(req *request, ci *cmdInfo, c *command) {
	tx := &s.x.tx
	args := c.args
	tbl := s.tbl
	if tx.conn != nil {
		tbl = tx.tbl
	}
	var idx []int
	switch ci.kind {
	case kindSingle:
		if ci.keys == keysSubcommand {
			idx = append(s.keyIdx[:0], 2)
		} else {
			idx = append(s.keyIdx[:0], ci.first)
		}
	case kindPublish:
		idx = append(s.keyIdx[:0], 1)
	case kindMGet, kindSum, kindMSet:
		step := 1
		if ci.kind == kindMSet {
			step = 2
			if (len(args)-1)%2 != 0 {
				tx.dirty = true
				req.setError(msgArity(ci.name))
				return
			}
		}
		idx = s.keyIdx[:0]
		for i := 1; i < len(args); i += step {
			idx = append(idx, i)
		}
	default:
		var msg string
		idx, msg = keyIndexes(ci, args, s.keyIdx[:0])
		if msg != "" {
			s.keyIdx = idx
			tx.dirty = true
			req.setError(msg)
			return
		}
	}
	s.keyIdx = idx
	shard := tx.shard
	switch {
	case len(idx) > 0:
		shard = tbl.lookupIndex(args[idx[0]])
	case tx.conn == nil:
		shard = tbl.lookupIndex(nil) // a script without keys: the empty key's shard
	}
	for _, i := range idx {
		if tbl.lookupIndex(args[i]) != shard {
			shard = -1
			break
		}
	}
	if shard < 0 || (tx.conn != nil && shard != tx.shard) {
		s.pool.stats.crossSlot.Add(1)
		tx.dirty = true
		req.setError(msgCrossSlot)
		return
	}
	if tx.conn == nil && !s.pin(req, tbl, shard) {
		tx.dirty = true
		return
	}
	s.queueOnShard(req, c.raw)
}

// queueOnShard sends a command of the transaction to the pinned shard,
// MULTI first if it was not sent yet.
func (s *session) queueOnShard(req *request, raw []byte) {
	tx := &s.x.tx
	if !tx.backendMulti {
		s.sendPinned(nil, cmdMulti, nil)
		tx.backendMulti = true
	}
	s.sendPinned(req, raw, nil)
	tx.order = append(tx.order, -1)
}

// exec serves EXEC inside MULTI.
func (s *session) exec(req *request) {
	tx := &s.x.tx
	switch {
	case tx.dirty:
		req.setError(msgExecAbort)
		s.txReset()
	case tx.conn == nil:
		// Nothing went to a shard: the proxy's own replies are the result.
		b := appendArrayLen(req.reply[:0], len(tx.order))
		for _, k := range tx.order {
			b = append(b, tx.local[k]...)
		}
		req.reply = b
		req.complete()
		s.txRelease()
	default:
		if !tx.backendMulti {
			// Only WATCH went to the shard: EXEC there still checks it.
			s.sendPinned(nil, cmdMulti, nil)
		}
		var then func([]byte) []byte
		if len(tx.local) > 0 {
			order, local := tx.order, tx.local
			then = func(reply []byte) []byte { return spliceExec(reply, order, local) }
		}
		s.sendPinned(req, cmdExec, then)
		s.txRelease()
	}
}

// discard serves DISCARD inside MULTI.
func (s *session) discard(req *request) {
	tx := &s.x.tx
	switch {
	case tx.backendMulti:
		s.sendPinned(req, cmdDiscard, nil)
	case tx.conn != nil: // only watching: DISCARD unwatches too
		s.sendPinned(req, cmdUnwatch, nil)
	default:
		req.setReply(replyOK)
	}
	s.txRelease()
}

// spliceExec merges the shard's EXEC reply with the replies the proxy
// computed for its own queued commands, in queuing order. A nil array
// (a watched key changed) or an error is returned as is.
func spliceExec(reply []byte, order []int, local [][]byte) []byte {
	n, first, ok := arrayReply(reply)
	if !ok || n < 0 {
		return reply
	}
	b := appendArrayLen(nil, len(order))
	pos, used := first, 0
	for _, k := range order {
		if k >= 0 {
			b = append(b, local[k]...)
			continue
		}
		if used == n {
			return appendError(nil, "ERR unexpected reply to exec from a shard: "+clip(reply, 40))
		}
		m := replyLen(reply[pos:])
		if m < 0 {
			return appendError(nil, "ERR unexpected reply to exec from a shard: "+clip(reply, 40))
		}
		b = append(b, reply[pos:pos+m]...)
		pos += m
		used++
	}
	return b
}
