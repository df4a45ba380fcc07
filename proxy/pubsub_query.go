package proxy

import "strings"

// PUBSUB's introspection subcommands over the pool. Through the proxy a
// channel lives on the shard its name hashes to, but a client connected
// to a server directly may subscribe anywhere, so every shard is asked
// and the answers merged:
//   - CHANNELS [pattern], SHARDCHANNELS [pattern]: the union of the
//     shards' lists, each name once, in the order first seen;
//   - NUMSUB / SHARDNUMSUB channel...: each channel's counts added;
//   - NUMPAT: the largest shard's count. Proxies subscribe every pattern
//     on every shard, so each shard counts the same patterns; a pattern
//     subscribed on one server directly counts only where it is.
//
// HELP, an unknown subcommand or a wrong number of arguments goes to one
// shard, which answers with Redis' text or error.

// pubsubFan is how the replies of each PUBSUB subcommand are merged.
var pubsubFan = map[string]fanKind{
	"channels":      fanUnion,
	"shardchannels": fanUnion,
	"numsub":        fanNumsub,
	"shardnumsub":   fanNumsub,
	"numpat":        fanMax,
}

// pubsubQuery serves PUBSUB <subcommand> [args].
func (s *session) pubsubQuery(req *request, ci *cmdInfo, c *command) {
	args := c.args
	sub := lowerName(args[1])
	fan, ok := pubsubFan[sub]
	switch {
	case !ok:
	case fan == fanMax:
		ok = len(args) == 2
	case fan == fanUnion:
		ok = len(args) <= 3
	}
	if !ok {
		if i := s.tbl.nextVisited(-1); i >= 0 {
			s.forward(req, s.tbl.Shard(i), c.raw)
			return
		}
		req.setError("ERR Unknown subcommand or wrong number of arguments for '" + strings.ToUpper(sub) + "'. Try PUBSUB HELP.")
		return
	}
	q := *ci // merged as a fan-out command (multikey.go)
	q.kind, q.fan = kindFanout, fan
	req.cmd = &q
	s.fanout(req, &q, c)
}

// replyElems returns the elements of an array reply; ok is false unless
// reply is exactly one complete, non-nil array.
func replyElems(reply []byte) (elems [][]byte, ok bool) {
	n, off, ok := arrayReply(reply)
	if !ok || n < 0 {
		return nil, false
	}
	elems = make([][]byte, 0, n)
	for range n {
		l := replyLen(reply[off:])
		if l < 0 {
			return nil, false
		}
		elems = append(elems, reply[off:off+l])
		off += l
	}
	return elems, off == len(reply)
}

// mergeUnion merges the shards' arrays of names (bulk strings), each name
// once, in the order first seen.
func (r *request) mergeUnion() {
	seen := map[string]bool{}
	var names [][]byte
	for _, sub := range r.subs {
		elems, ok := replyElems(sub.reply)
		if !ok {
			r.unexpected(sub)
			return
		}
		for _, e := range elems {
			if e[0] != '$' {
				r.unexpected(sub)
				return
			}
			if !seen[string(e)] {
				seen[string(e)] = true
				names = append(names, e)
			}
		}
	}
	b := appendArrayLen(r.reply[:0], len(names))
	for _, e := range names {
		b = append(b, e...)
	}
	r.reply = b
}

// mergeNumsub adds up the shards' counts of PUBSUB NUMSUB's
// [name, count, name, count...] arrays, which list the same names.
func (r *request) mergeNumsub() {
	var names [][]byte
	var counts []int64
	for i, sub := range r.subs {
		elems, ok := replyElems(sub.reply)
		if !ok || len(elems)%2 != 0 || (i > 0 && len(elems) != len(names)) {
			r.unexpected(sub)
			return
		}
		if i == 0 {
			names, counts = elems, make([]int64, len(elems)/2)
		}
		for j := 0; j < len(elems); j += 2 {
			n, ok := intReply(elems[j+1])
			if !ok || string(elems[j]) != string(names[j]) {
				r.unexpected(sub)
				return
			}
			counts[j/2] += n
		}
	}
	b := appendArrayLen(r.reply[:0], len(names))
	for j := 0; j < len(names); j += 2 {
		b = append(b, names[j]...)
		b = appendInt(b, counts[j/2])
	}
	r.reply = b
}

// mergeMax replies with the largest of the shards' integer replies.
func (r *request) mergeMax() {
	r.mergeInts(func(acc, n int64) int64 { return max(acc, n) })
}
