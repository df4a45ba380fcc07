package backend

import (
	"errors"
	"math"
	"math/big"
	"os"
	"sync/atomic"
	"time"
)

// Blocking pops: BLPOP, BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN,
// BZPOPMAX, BZMPOP (blocked.c).
//
// A command that finds all its keys empty registers a waiter on each key
// in the shard's hooks — under the same shard locks as the check, so no
// push can slip between them — and its connection goroutine waits. A
// write that creates one of those keys (every creation goes through
// Tx.put) records it in Tx.ready; the writing client, right after
// releasing its locks and before its reply goes out, serves the key's
// waiters in the order they blocked (Redis' fairness order) while the key
// has elements: it pops on the waiter's behalf under the key's lock (and
// the destination's, for BLMOVE), emits the pop as LPOP/RPOP/LMOVE/
// ZPOPMIN/ZPOPMAX to the write stream, and hands the reply over. A
// BLMOVE's push can make another key ready: those are served in the same
// loop (chained BLMOVEs). Serving runs after a whole EXEC, so a
// transaction's intermediate states are never served.
//
// A waiter ends exactly once, by whoever wins its state: served, timed
// out (its own timer), unblocked (CLIENT UNBLOCK) or disconnected. While
// blocked, a helper goroutine reads the connection, so that a client that
// goes away is noticed (its waiter withdrawn) and pipelined commands sent
// meanwhile are kept for after the block.
//
// Inside EXEC (c.atomic) blocking commands never block: they answer as
// on a timeout when no key has data, as Redis does.

// waiter states
const (
	waitBlocked int32 = iota
	waitDone
)

// waiter is one blocked client.
type waiter struct {
	c    *Client
	keys []string
	zset bool   // waits for a sorted set (else a list)
	dst  string // BLMOVE/BRPOPLPUSH destination, or ""
	// serve pops for the waiter with the shards of key (and dst) locked;
	// the key holds the waiter's type. It returns the reply.
	serve    func(tx *Tx, key []byte) []byte
	timedOut string // the reply on timeout

	state atomic.Int32
	done  chan struct{} // closed by the winner of state, after reply/off
	reply []byte
	off   int64 // stream offset of the pop (durability of the reply)
}

// Replies of a waiter that is not served.
const (
	nullArrayReply = "*-1\r\n"
	nullBulkReply  = "$-1\r\n"
	unblockedError = "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
)

// blockingCommands are the blocking list and sorted set pops.
func blockingCommands() []*cmdSpec {
	list := []string{"@list", "@blocking"}
	zset := []string{"@sortedset", "@blocking"}
	return []*cmdSpec{
		{name: "blpop", handler: bpopCmd(listHead), arity: -3, flags: flagWrite | flagNoScript | flagBlocking, first: 1, last: -2, step: 1, group: "list", acl: list, since: "2.0.0", summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", complexity: "O(N) where N is the number of provided keys."},
		{name: "brpop", handler: bpopCmd(listTail), arity: -3, flags: flagWrite | flagNoScript | flagBlocking, first: 1, last: -2, step: 1, group: "list", acl: list, since: "2.0.0", summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", complexity: "O(N) where N is the number of provided keys."},
		{name: "brpoplpush", handler: cmdBRPopLPush, arity: 4, flags: flagWrite | flagDenyOOM | flagNoScript | flagBlocking, first: 1, last: 2, step: 1, group: "list", acl: list, since: "2.2.0", summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", complexity: "O(1)"},
		{name: "blmove", handler: cmdBLMove, arity: 6, flags: flagWrite | flagDenyOOM | flagNoScript | flagBlocking, first: 1, last: 2, step: 1, group: "list", acl: list, since: "6.2.0", summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", complexity: "O(1)"},
		{name: "blmpop", handler: cmdBLMPop, arity: -5, flags: flagWrite | flagBlocking | flagMovableKeys, keys: numkeysAt(2), group: "list", acl: list, since: "7.0.0", summary: "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned."},
		{name: "bzpopmin", handler: bzpopCmd(zsetMin), arity: -3, flags: flagWrite | flagNoScript | flagFast | flagBlocking, first: 1, last: -2, step: 1, group: "sorted_set", acl: zset, since: "5.0.0", summary: "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", complexity: "O(log(N)) with N being the number of elements in the sorted set."},
		{name: "bzpopmax", handler: bzpopCmd(zsetMax), arity: -3, flags: flagWrite | flagNoScript | flagFast | flagBlocking, first: 1, last: -2, step: 1, group: "sorted_set", acl: zset, since: "5.0.0", summary: "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", complexity: "O(log(N)) with N being the number of elements in the sorted set."},
		{name: "bzmpop", handler: cmdBZMPop, arity: -5, flags: flagWrite | flagBlocking | flagMovableKeys, keys: numkeysAt(2), group: "sorted_set", acl: zset, since: "7.0.0", summary: "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."},
	}
}

// parseBlockTimeout is Redis' getTimeoutFromObjectOrReply in seconds (a
// long double, rounded up to milliseconds): the deadline, or the zero
// time for "forever". A deadline past what time.Time holds waits forever.
func parseBlockTimeout(b []byte, now time.Time) (time.Time, string) {
	ld, ok := parseLongDouble(b)
	if !ok {
		return time.Time{}, "ERR timeout is not a float or out of range"
	}
	if ld.inf != 0 {
		// (long long) of an infinite or huge value is LLONG_MIN on x86:
		// Redis 7.0 then calls it negative.
		return time.Time{}, "ERR timeout is negative"
	}
	ms := new(big.Float).SetPrec(ldPrec).Mul(ld.f, big.NewFloat(1000))
	if ms.Cmp(big.NewFloat(math.MaxInt64)) >= 0 {
		return time.Time{}, "ERR timeout is negative"
	}
	iv, acc := ms.Int(nil)
	if acc == big.Below {
		iv.Add(iv, big.NewInt(1)) // ceil
	}
	if iv.Sign() < 0 {
		return time.Time{}, "ERR timeout is negative"
	}
	if iv.Sign() == 0 {
		return time.Time{}, ""
	}
	tval := iv.Int64()
	if tval > int64(math.MaxInt64/time.Millisecond)/2 {
		return time.Time{}, ""
	}
	return now.Add(time.Duration(tval) * time.Millisecond), ""
}

// replyBytes builds a reply outside the client's buffer (a waiter's).
func replyBytes(fn func(w *replyWriter)) []byte {
	w := newReplyWriter(nil)
	fn(w)
	return w.b
}

func bpopCmd(where int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		deadline, msg := parseBlockTimeout(args[len(args)-1], c.clock)
		if msg != "" {
			c.err(msg)
			return
		}
		keys := args[1 : len(args)-1]
		serve := func(tx *Tx, key []byte) []byte {
			_, e, sh, _, _ := lookupObject[*listObj](tx, key, false)
			v := listPop(tx, sh, e, key, where, 1)[0]
			tx.emit(lpopName(where), key)
			return replyBytes(func(w *replyWriter) {
				w.WriteArray(2)
				w.WriteBulk(key)
				w.WriteBulkString(v)
			})
		}
		c.blockingPop(keys, false, "", serve, nullArrayReply, deadline)
	}
}

func cmdBRPopLPush(c *Client, args [][]byte) {
	blmoveGeneric(c, args[1], args[2], listTail, listHead, args[3])
}

func cmdBLMove(c *Client, args [][]byte) {
	from, ok1 := parseWhere(args[3])
	to, ok2 := parseWhere(args[4])
	if !ok1 || !ok2 {
		c.err(errSyntax)
		return
	}
	blmoveGeneric(c, args[1], args[2], from, to, args[5])
}

func blmoveGeneric(c *Client, src, dst []byte, from, to int, timeout []byte) {
	deadline, msg := parseBlockTimeout(timeout, c.clock)
	if msg != "" {
		c.err(msg)
		return
	}
	dstKey := string(dst)
	serve := func(tx *Tx, key []byte) []byte {
		v, _, msg := listMove(tx, key, []byte(dstKey), from, to)
		if msg != "" {
			return replyBytes(func(w *replyWriter) { w.WriteError(msg) })
		}
		tx.emitStrings("LMOVE", string(key), dstKey, whereName(from), whereName(to))
		return replyBytes(func(w *replyWriter) { w.WriteBulkString(v) })
	}
	c.blockingPop([][]byte{src}, false, dstKey, serve, nullBulkReply, deadline)
}

func cmdBLMPop(c *Client, args [][]byte) {
	m, msg := parseMpop(args, 2, parseWhere)
	if msg != "" {
		c.err(msg)
		return
	}
	deadline, msg := parseBlockTimeout(args[1], c.clock)
	if msg != "" {
		c.err(msg)
		return
	}
	serve := func(tx *Tx, key []byte) []byte {
		_, e, sh, _, _ := lookupObject[*listObj](tx, key, false)
		vals := listPop(tx, sh, e, key, m.where, int(min(m.count, 1<<31)))
		tx.emit(lpopName(m.where), key, itoa(len(vals)))
		return replyBytes(func(w *replyWriter) {
			w.WriteArray(2)
			w.WriteBulk(key)
			w.WriteArray(len(vals))
			for _, v := range vals {
				w.WriteBulkString(v)
			}
		})
	}
	c.blockingPop(m.keys, false, "", serve, nullArrayReply, deadline)
}

func bzpopCmd(where int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		deadline, msg := parseBlockTimeout(args[len(args)-1], c.clock)
		if msg != "" {
			c.err(msg)
			return
		}
		serve := func(tx *Tx, key []byte) []byte {
			_, e, sh, _, _ := lookupObject[*zsetObj](tx, key, false)
			items := zsetPop(tx, sh, e, key, where, 1)
			tx.emit(zpopName(where), key)
			return replyBytes(func(w *replyWriter) {
				w.WriteArray(3)
				w.WriteBulk(key)
				w.WriteBulkString(items[0].m)
				w.WriteBulk(appendScore(nil, items[0].score))
			})
		}
		c.blockingPop(args[1:len(args)-1], true, "", serve, nullArrayReply, deadline)
	}
}

func cmdBZMPop(c *Client, args [][]byte) {
	m, msg := parseMpop(args, 2, parseMinMax)
	if msg != "" {
		c.err(msg)
		return
	}
	deadline, msg := parseBlockTimeout(args[1], c.clock)
	if msg != "" {
		c.err(msg)
		return
	}
	serve := func(tx *Tx, key []byte) []byte {
		_, e, sh, _, _ := lookupObject[*zsetObj](tx, key, false)
		items := zsetPop(tx, sh, e, key, m.where, int(min(m.count, 1<<31)))
		tx.emit(zpopName(m.where), key, itoa(len(items)))
		return replyBytes(func(w *replyWriter) { writeZMPop(w, key, items) })
	}
	c.blockingPop(m.keys, true, "", serve, nullArrayReply, deadline)
}

// blockingPop serves the first of keys that has data, or blocks until one
// gets data (or deadline; zero = forever).
// Inside EXEC, where it cannot block, it replies denied (BLMOVE's null
// bulk; the others' null array); a timeout is always a null array.
func (c *Client) blockingPop(keys [][]byte, zset bool, dst string, serve func(tx *Tx, key []byte) []byte, denied string, deadline time.Time) {
	lockset := keys
	if dst != "" {
		lockset = append(append([][]byte(nil), keys...), []byte(dst))
	}
	tx := c.begin()
	tx.lockKeys(lockset...)
	for _, k := range keys {
		var found, wrong bool
		if zset {
			_, _, _, found, wrong = lookupObject[*zsetObj](tx, k, false)
		} else {
			_, _, _, found, wrong = lookupObject[*listObj](tx, k, false)
		}
		if wrong {
			c.commit()
			c.err(errWrongType)
			return
		}
		if found {
			reply := serve(tx, k)
			c.commit()
			if len(reply) > 0 && reply[0] == '-' {
				c.failed = true
			}
			c.w.WriteRaw(reply)
			return
		}
	}
	if c.atomic || c.nc == nil {
		// Inside EXEC (or an internal client): never block.
		c.commit()
		c.w.WriteRaw([]byte(denied))
		return
	}
	w := &waiter{c: c, zset: zset, dst: dst, serve: serve, timedOut: nullArrayReply, done: make(chan struct{})}
	for _, k := range keys {
		ks := string(k)
		dup := false
		for _, x := range w.keys {
			dup = dup || x == ks
		}
		if dup {
			continue
		}
		w.keys = append(w.keys, ks)
		sh := tx.shardOf(hashKey(k))
		h := sh.hooksFor()
		if h.blocked == nil {
			h.blocked = map[string][]*waiter{}
		}
		h.blocked[ks] = append(h.blocked[ks], w)
	}
	c.commit()
	c.wait(w, deadline)
}

// wait blocks the client's goroutine until w ends, then writes its reply.
func (c *Client) wait(w *waiter, deadline time.Time) {
	s := c.s
	c.bl.Store(w)
	s.blockedClients.Add(1)
	// The replies before this command go out now, as Redis sends them
	// while the client is blocked.
	s.endBatch(c)
	_ = c.w.Flush()
	cw := c.watchConn()
	var timer <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timer = t.C
	}
	gone := false
	select {
	case <-w.done:
	case <-timer:
		if w.state.CompareAndSwap(waitBlocked, waitDone) {
			w.reply = []byte(w.timedOut)
			close(w.done)
		}
	case <-cw.done:
		if w.state.CompareAndSwap(waitBlocked, waitDone) {
			w.reply = nil
			gone = true
			close(w.done)
		}
	}
	<-w.done
	s.blockedClients.Add(-1)
	c.bl.Store(nil)
	c.withdraw(w)
	if c.stopWatch(cw) || gone {
		c.quit = true
	}
	if len(w.reply) > 0 && w.reply[0] == '-' {
		c.failed = true
	}
	c.w.WriteRaw(w.reply)
	if w.off > c.pendingOff {
		c.pendingOff = w.off
	}
}

// withdraw removes w from the queues of its keys.
func (c *Client) withdraw(w *waiter) {
	keys := make([][]byte, len(w.keys))
	for i, k := range w.keys {
		keys[i] = []byte(k)
	}
	tx := c.begin()
	tx.lockKeys(keys...)
	for _, k := range w.keys {
		dropWaiter(tx.shardOf(hashKeyString(k)), k, w)
	}
	c.commit()
}

func dropWaiter(sh *shard, key string, w *waiter) {
	h := sh.hooks
	if h == nil {
		return
	}
	list := h.blocked[key]
	for i, x := range list {
		if x == w {
			list = removeAt(list, i)
			break
		}
	}
	if len(list) == 0 {
		delete(h.blocked, key)
	} else {
		h.blocked[key] = list
	}
	sh.dropHooks()
}

// serveBlocked serves the clients blocked on the keys this client's last
// Tx created (see the file comment); called by commit after unlocking.
func (c *Client) serveBlocked() {
	queue := append([]string(nil), c.tx.ready...)
	c.tx.ready = c.tx.ready[:0]
	for i := 0; i < len(queue); i++ {
		key := queue[i]
		seen := false
		for _, k := range queue[:i] {
			seen = seen || k == key
		}
		if seen {
			continue
		}
		for {
			served, more := c.serveOne(key)
			queue = append(queue, more...)
			if !served {
				break
			}
		}
	}
}

// serveOne serves the first eligible waiter of key. It reports whether
// it should be called again, and the keys its pops made ready.
func (c *Client) serveOne(key string) (bool, []string) {
	kb := []byte(key)
	tx := c.begin()
	tx.lockKey(kb)
	w := firstWaiter(tx, kb)
	if w == nil {
		tx.unlock()
		return false, nil
	}
	if w.dst != "" && !tx.isLocked(shardIndex(hashKeyString(w.dst))) {
		tx.unlock()
		tx = c.begin()
		tx.lockKeys(kb, []byte(w.dst))
		if w2 := firstWaiter(tx, kb); w2 != w {
			tx.unlock()
			return w2 != nil, nil
		}
	}
	sh := tx.shardOf(hashKey(kb))
	dropWaiter(sh, key, w)
	if !w.state.CompareAndSwap(waitBlocked, waitDone) {
		tx.unlock()
		return true, nil // timed out meanwhile: next
	}
	reply := w.serve(tx, kb)
	more := append([]string(nil), tx.ready...)
	off := tx.unlock()
	w.reply, w.off = reply, off
	close(w.done)
	return true, more
}

// firstWaiter returns the longest-waiting client blocked on key for the
// type key now holds, or nil (no such client, or no data).
func firstWaiter(tx *Tx, key []byte) *waiter {
	e, sh, ok := tx.lookup(key)
	if !ok || sh.hooks == nil || !e.isObject() {
		return nil
	}
	var zset bool
	switch e.rec().obj.(type) {
	case *listObj:
	case *zsetObj:
		zset = true
	default:
		return nil
	}
	for _, w := range sh.hooks.blocked[bstr(key)] {
		if w.zset == zset && w.state.Load() == waitBlocked {
			return w
		}
	}
	return nil
}

// unblock is CLIENT UNBLOCK: it ends the client's block as a timeout, or
// with an UNBLOCKED error; it reports whether the client was blocked.
func (s *Server) unblock(id int64, withError bool) bool {
	var target *Client
	for _, c := range s.clients.list() {
		if c.id == id {
			target = c
			break
		}
	}
	if target == nil {
		return false
	}
	w := target.bl.Load()
	if w == nil || !w.state.CompareAndSwap(waitBlocked, waitDone) {
		return false
	}
	if withError {
		w.reply = []byte(unblockedError)
	} else {
		w.reply = []byte(w.timedOut)
	}
	close(w.done)
	return true
}

func cmdClientUnblock(c *Client, args [][]byte) {
	id, ok := parseInt(args[2])
	if !ok {
		c.err(errNotInteger)
		return
	}
	withError := false
	if len(args) == 4 {
		switch {
		case eqFold(args[3], "timeout"):
		case eqFold(args[3], "error"):
			withError = true
		default:
			c.err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
			return
		}
	}
	if c.s.unblock(id, withError) {
		c.int(1)
	} else {
		c.int(0)
	}
}

// connWatch reads a blocked client's connection: bytes that arrive are
// kept for after the block; the goroutine ends on a read error (the
// client went away) or when stopWatch interrupts it.
type connWatch struct {
	buf  []byte
	err  error
	done chan struct{}
}

// watchConn starts the reader. The goroutine is owned by the blocked
// command and ends before stopWatch returns.
func (c *Client) watchConn() *connWatch {
	cw := &connWatch{done: make(chan struct{})}
	_ = c.nc.SetReadDeadline(time.Time{})
	go func() {
		defer close(cw.done)
		var tmp [4096]byte
		for {
			n, err := c.nc.Read(tmp[:])
			cw.buf = append(cw.buf, tmp[:n]...)
			if err != nil {
				cw.err = err
				return
			}
			if len(cw.buf) > queryBufferLimit/4 {
				return // stop reading; the rest waits in the socket
			}
		}
	}()
	return cw
}

// stopWatch ends the reader and hands what it read to the request parser;
// it reports whether the connection is gone.
func (c *Client) stopWatch(cw *connWatch) bool {
	_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	<-cw.done
	_ = c.nc.SetReadDeadline(time.Time{})
	c.rd.feed(cw.buf)
	return cw.err != nil && !errors.Is(cw.err, os.ErrDeadlineExceeded)
}

// feed appends bytes read elsewhere to the input buffer.
func (r *reader) feed(b []byte) {
	for len(b) > 0 {
		if r.end == len(r.buf) {
			nb := make([]byte, max(2*len(r.buf), readBufferSize))
			copy(nb, r.buf[:r.end])
			r.buf = nb
		}
		n := copy(r.buf[r.end:], b)
		r.end += n
		b = b[n:]
	}
}

// blocked reports whether c is blocked (CLIENT LIST flags).
func (c *Client) blocked() bool { return c.bl.Load() != nil }
