package proxy

import (
	"math/rand/v2"
	"strconv"
)

// SCAN over the whole pool, and the commands that go to every shard
// (KEYS, DBSIZE, RANDOMKEY, FLUSHALL, FLUSHDB).
//
// SCAN walks the shards one after the other, in table order: the proxy's
// cursor holds the index of the shard being scanned and that shard's own
// cursor. A call scans only that shard (MATCH, COUNT and TYPE passed
// through); when the shard's cursor comes back 0 the proxy's cursor moves
// to the next shard with cursor 0, and it is 0 after the last shard, so a
// complete iteration visits every shard exactly once and keeps Redis'
// guarantee (every key present during the whole iteration is returned).
// A call may return no keys with a non-zero cursor, as Redis' may. SCAN
// always reads the shard's master: a cursor is only meaningful on the
// server that made it.
//
// Cursor layout (a decimal uint64, as clients expect): the top 10 bits
// are the shard index (so at most 1024 shards); bit 53 says how the low 53
// bits hold the shard's cursor: exactly (0), or shifted right by 11 (1),
// for servers whose cursors use all 64 bits (shardis-server's cursor is a
// key hash; resuming from a smaller hash only risks a duplicate, never a
// miss, and only for a key whose hash lies within 2048 of the cursor).
// Redis' cursors are below its table size and always fit exactly.
//
// The shards visited are those the table routes keys to: a master
// ejected by auto_eject_hosts in a ketama, modula or random pool is
// skipped (its keys live elsewhere meanwhile), and a server that two
// shards share is visited once. A shard without a master answers its
// error (-CLUSTERDOWN); retrying with the same cursor resumes there.
//
// KEYS, DBSIZE, RANDOMKEY, FLUSHALL and FLUSHDB are sent to every shard
// visited and the replies merged: KEYS' arrays concatenated, DBSIZE's
// counts added, one of the non-nil RANDOMKEY replies picked at random,
// FLUSH* +OK once every shard said OK. Any shard's error is the reply.
// KEYS, FLUSHALL and FLUSHDB are refused unless the pool sets
// allow_admin_commands.

const (
	scanShardShift = 54 // the shard index is in the top 10 bits
	scanMaxShards  = 1 << (64 - scanShardShift)
	scanCoarse     = uint64(1) << 53         // the shard cursor is shifted
	scanPayload    = scanCoarse - 1          // the low 53 bits
	scanCoarseBits = 64 - scanShardShift + 1 // bits dropped from a coarse shard cursor
)

const msgInvalidCursor = "ERR invalid cursor"

// msgAdminRefused is the reply to an admin command (KEYS, FLUSHALL,
// FLUSHDB) in a pool without allow_admin_commands.
func msgAdminRefused(name string) string {
	return "ERR command '" + name + "' is disabled in this pool (allow_admin_commands is false)"
}

// encodeScanCursor returns the proxy's cursor for shard and the shard's
// own cursor.
func encodeScanCursor(shard int, cursor uint64) uint64 {
	v := uint64(shard) << scanShardShift
	if cursor <= scanPayload {
		return v | cursor
	}
	return v | scanCoarse | cursor>>scanCoarseBits
}

// decodeScanCursor returns the shard and the shard's cursor of a proxy
// cursor (rounded down for a coarse one).
func decodeScanCursor(v uint64) (shard int, cursor uint64) {
	shard = int(v >> scanShardShift)
	cursor = v & scanPayload
	if v&scanCoarse != 0 {
		cursor <<= scanCoarseBits
	}
	return shard, cursor
}

// visited reports whether SCAN and the fan-out commands visit shard i:
// the table routes keys to it, and no earlier visited shard has its
// master.
func (t *RouteTable) visited(i int) bool {
	if !t.Live(i) {
		return false
	}
	m := t.shards[i].master
	if m == nil {
		return true // it answers its error
	}
	for j := 0; j < i; j++ {
		if t.shards[j].master == m && t.Live(j) {
			return false
		}
	}
	return true
}

// nextVisited returns the first visited shard after i, or -1.
func (t *RouteTable) nextVisited(i int) int {
	for j := i + 1; j < len(t.shards); j++ {
		if t.visited(j) {
			return j
		}
	}
	return -1
}

// scan serves SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
func (s *session) scan(req *request, ci *cmdInfo, c *command) {
	args := c.args
	tbl := s.tbl
	v, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		req.setError(msgInvalidCursor)
		return
	}
	shard, cursor := decodeScanCursor(v)
	if tbl.Len() > scanMaxShards {
		req.setError("ERR SCAN is not supported by shardis-proxy over more than " + strconv.Itoa(scanMaxShards) + " shards")
		return
	}
	if shard >= tbl.Len() {
		req.setError(msgInvalidCursor)
		return
	}
	switch {
	case v == 0:
		shard = tbl.nextVisited(-1)
	case !tbl.visited(shard):
		// A shard the table no longer visits: go on with the next one,
		// from its start.
		shard, cursor = tbl.nextVisited(shard), 0
	}
	if shard < 0 {
		req.setReply([]byte("*2\r\n$1\r\n0\r\n*0\r\n"))
		return
	}
	b := appendArrayLen(s.scratch[:0], len(args))
	b = appendBulk(b, args[0])
	b = appendBulkString(b, strconv.FormatUint(cursor, 10))
	for _, a := range args[2:] {
		b = appendBulk(b, a)
	}
	s.scratch = b
	req.scanShard, req.scanNext = int32(shard), int32(tbl.nextVisited(shard))
	req.pending.Store(1)
	sub := s.pool.proxy.reqs.get(s, req.start)
	sub.parent, sub.cmd = req, ci
	req.subs = append(req.subs, sub)
	s.forwardMaster(sub, tbl.Shard(shard), b)
}

// forwardMaster sends raw to sh's master whatever read_from says (for a
// command that must stay on the server it started on).
func (s *session) forwardMaster(req *request, sh *Shard, raw []byte) {
	if sh.errReply != nil {
		req.setReply(sh.errReply)
		return
	}
	req.forwarded = true
	conn := sh.master.connFor(s.id)
	if conn.enqueue(req, raw) {
		s.touch(conn)
	}
}

// mergeScan rewrites a shard's SCAN reply with the proxy's cursor.
func (r *request) mergeScan() {
	sub := r.subs[0]
	n, pos, ok := arrayReply(sub.reply)
	if !ok || n != 2 {
		r.unexpected(sub)
		return
	}
	cb, rest, ok := bulkAt(sub.reply, pos)
	if !ok || cb == nil {
		r.unexpected(sub)
		return
	}
	cursor, err := strconv.ParseUint(string(cb), 10, 64)
	if _, _, ok := arrayReply(sub.reply[rest:]); err != nil || !ok {
		r.unexpected(sub)
		return
	}
	var next uint64
	switch {
	case cursor != 0:
		next = encodeScanCursor(int(r.scanShard), cursor)
	case r.scanNext >= 0:
		next = encodeScanCursor(int(r.scanNext), 0)
	}
	b := appendArrayLen(r.reply[:0], 2)
	b = appendBulkString(b, strconv.FormatUint(next, 10))
	r.reply = append(b, sub.reply[rest:]...)
}

// fanout serves the commands sent to every shard (KEYS, DBSIZE,
// RANDOMKEY, FLUSHALL, FLUSHDB).
func (s *session) fanout(req *request, ci *cmdInfo, c *command) {
	if ci.admin && !s.pool.config().AllowAdminCommands {
		req.setError(msgAdminRefused(ci.name))
		return
	}
	tbl := s.tbl
	var shardList [16]int
	shards := shardList[:0]
	for i := tbl.nextVisited(-1); i >= 0; i = tbl.nextVisited(i) {
		shards = append(shards, i)
	}
	switch len(shards) {
	case 0:
		req.reply = appendFanoutEmpty(req.reply[:0], ci.fan, c.args)
		req.complete()
		return
	case 1:
		s.forward(req, tbl.Shard(shards[0]), c.raw)
		return
	}
	req.pending.Store(int32(len(shards)))
	for range shards {
		sub := s.pool.proxy.reqs.get(s, req.start)
		sub.parent, sub.cmd = req, ci
		req.subs = append(req.subs, sub)
	}
	s.pool.stats.fragments.Add(int64(len(shards)))
	for i, sh := range shards {
		s.forward(req.subs[i], tbl.Shard(sh), c.raw)
	}
}

// appendFanoutEmpty is the reply of a fan-out command over no shard.
func appendFanoutEmpty(b []byte, fan fanKind, args [][]byte) []byte {
	switch fan {
	case fanSum:
		return appendInt(b, 0)
	case fanConcat:
		return appendArrayLen(b, 0)
	case fanRandom:
		return appendNil(b)
	case fanMax:
		return appendInt(b, 0)
	case fanUnion:
		return appendArrayLen(b, 0)
	case fanNumsub: // PUBSUB NUMSUB channel...: each with no subscriber
		b = appendArrayLen(b, 2*(len(args)-2))
		for _, ch := range args[2:] {
			b = appendInt(appendBulk(b, ch), 0)
		}
		return b
	}
	return append(b, replyOK...)
}

// mergeFanout merges the replies of a fan-out command's shards.
func (r *request) mergeFanout() {
	switch r.cmd.fan {
	case fanSum:
		r.mergeSum()
	case fanConcat:
		total := 0
		for _, sub := range r.subs {
			n, _, ok := arrayReply(sub.reply)
			if !ok || n < 0 {
				r.unexpected(sub)
				return
			}
			total += n
		}
		b := appendArrayLen(r.reply[:0], total)
		for _, sub := range r.subs {
			_, first, _ := arrayReply(sub.reply)
			b = append(b, sub.reply[first:]...)
		}
		r.reply = b
	case fanAllOK:
		for _, sub := range r.subs {
			if string(sub.reply) != "+OK\r\n" {
				r.unexpected(sub)
				return
			}
		}
		r.reply = append(r.reply[:0], replyOK...)
	case fanRandom:
		var keys [16]*request
		found := keys[:0]
		for _, sub := range r.subs {
			if len(sub.reply) == 0 || sub.reply[0] != '$' {
				r.unexpected(sub)
				return
			}
			if string(sub.reply) != "$-1\r\n" {
				found = append(found, sub)
			}
		}
		if len(found) == 0 {
			r.reply = appendNil(r.reply[:0])
			return
		}
		r.reply = append(r.reply[:0], found[rand.IntN(len(found))].reply...)
	case fanUnion:
		r.mergeUnion()
	case fanNumsub:
		r.mergeNumsub()
	case fanMax:
		r.mergeMax()
	}
}
