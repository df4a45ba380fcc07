package proxy

import "github.com/shardis/shardis/hashring"

// split serves MGET, MSET, DEL, UNLINK, TOUCH and EXISTS: keys that all
// map to one shard are forwarded unchanged; otherwise the command becomes
// one sub-command per shard (keys in their original order) and the replies
// are merged in key order when the last one arrives (see merge).
func (s *session) split(req *request, ci *cmdInfo, c *command) {
	args := c.args
	step := 1
	if ci.kind == kindMSet {
		step = 2
		if (len(args)-1)%2 != 0 {
			req.setError(msgArity(ci.name))
			return
		}
	}
	nkeys := (len(args) - 1) / step
	tbl := s.tbl
	if tbl.topo.Distribution == hashring.Random {
		s.forward(req, tbl.Lookup(args[1]), c.raw)
		return
	}
	// Shard of each key; sub-request index of each shard.
	if cap(req.keySub) < nkeys {
		req.keySub = make([]int32, nkeys)
	}
	req.keySub = req.keySub[:nkeys]
	first := tbl.lookupIndex(args[1])
	same := true
	for k := 0; k < nkeys; k++ {
		sh := tbl.lookupIndex(args[1+k*step])
		req.keySub[k] = int32(sh)
		same = same && sh == first
	}
	if same {
		s.forward(req, tbl.Shard(first), c.raw)
		return
	}
	if cap(s.subOf) < tbl.Len() {
		s.subOf = make([]int32, tbl.Len())
	}
	subOf := s.subOf[:tbl.Len()]
	for i := range subOf {
		subOf[i] = -1
	}
	nsubs := 0
	var shardOfSub [16]int32
	subShards := shardOfSub[:0]
	for k := range req.keySub {
		sh := req.keySub[k]
		if subOf[sh] < 0 {
			subOf[sh] = int32(nsubs)
			subShards = append(subShards, sh)
			nsubs++
		}
		req.keySub[k] = subOf[sh]
	}
	req.pending.Store(int32(nsubs))
	for i := 0; i < nsubs; i++ {
		sub := s.pool.proxy.reqs.get(s, req.start)
		sub.parent, sub.cmd = req, ci
		req.subs = append(req.subs, sub)
	}
	s.pool.stats.fragments.Add(int64(nsubs))
	// Encode and send each sub-command. A sub-request may complete (with
	// an error) during the loop; the parent completes with the last one.
	for i, sh := range subShards {
		n := 0
		for k := range req.keySub {
			if int(req.keySub[k]) == i {
				n++
			}
		}
		b := appendArrayLen(s.scratch[:0], 1+n*step)
		b = appendBulk(b, args[0])
		for k := range req.keySub {
			if int(req.keySub[k]) == i {
				for j := 0; j < step; j++ {
					b = appendBulk(b, args[1+k*step+j])
				}
			}
		}
		s.scratch = b
		s.forward(req.subs[i], tbl.Shard(int(sh)), b)
	}
	if cap(s.scratch) > flushThreshold {
		s.scratch = nil
	}
}

// merge builds a split command's reply from its sub-requests' replies.
// It runs once, on the goroutine completing the last sub-request. Any
// error reply of a sub-request is the reply of the whole command.
func (r *request) merge() {
	for _, sub := range r.subs {
		if isErrorReply(sub.reply) {
			r.reply = append(r.reply[:0], sub.reply...)
			return
		}
	}
	switch r.cmd.kind {
	case kindMSet:
		for _, sub := range r.subs {
			if string(sub.reply) != "+OK\r\n" {
				r.unexpected(sub)
				return
			}
		}
		r.reply = append(r.reply[:0], "+OK\r\n"...)
	case kindSum:
		r.mergeSum()
	case kindMGet:
		r.mergeArrays()
	case kindScan:
		r.mergeScan()
	case kindFanout:
		r.mergeFanout()
	}
}

// mergeArrays interleaves the MGET replies of the sub-requests in key
// order. Each sub-request's reply must be an array with one element per
// key it was given.
func (r *request) mergeArrays() {
	var cursors [16]int
	cur := cursors[:0]
	for _, sub := range r.subs {
		n, first, ok := arrayReply(sub.reply)
		if !ok || n < 0 {
			r.unexpected(sub)
			return
		}
		want := 0
		for _, k := range r.keySub {
			if int(k) == len(cur) {
				want++
			}
		}
		if n != want {
			r.unexpected(sub)
			return
		}
		cur = append(cur, first)
	}
	b := appendArrayLen(r.reply[:0], len(r.keySub))
	for _, k := range r.keySub {
		sub := r.subs[k]
		n := replyLen(sub.reply[cur[k]:])
		if n < 0 {
			r.unexpected(sub)
			return
		}
		b = append(b, sub.reply[cur[k]:cur[k]+n]...)
		cur[k] += n
	}
	r.reply = b
}

// unexpected replaces the reply with an error naming a sub-request's
// reply that does not fit the command.
func (r *request) unexpected(sub *request) {
	r.reply = appendError(r.reply[:0], "ERR unexpected reply to "+r.cmd.name+" from a shard: "+clip(sub.reply, 40))
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// mergeSum replies with the sum of the shards' integer replies (DEL,
// EXISTS, ... split per shard; DBSIZE over every shard).
func (r *request) mergeSum() {
	r.mergeInts(func(acc, n int64) int64 { return acc + n })
}

// mergeInts replies with the shards' integer replies folded by f, from
// the first one.
func (r *request) mergeInts(f func(acc, n int64) int64) {
	var acc int64
	for i, sub := range r.subs {
		n, ok := intReply(sub.reply)
		if !ok {
			r.unexpected(sub)
			return
		}
		if i == 0 {
			acc = n
		} else {
			acc = f(acc, n)
		}
	}
	r.reply = appendInt(r.reply[:0], acc)
}
