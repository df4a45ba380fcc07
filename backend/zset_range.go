package backend

import (
	"slices"
	"strings"
)

// Sorted set ranges (t_zset.c zrangeGenericCommand and friends): by rank,
// by score (zslParseRange) and by member (zslParseLexRange), forward or
// reversed, with LIMIT, WITHSCORES, or stored (ZRANGESTORE); ZCOUNT,
// ZLEXCOUNT and ZREMRANGEBY*.

func zsetRangeCommands() []*cmdSpec {
	const g = "sorted_set"
	acl := []string{"@sortedset"}
	return []*cmdSpec{
		{name: "zrange", handler: zrangeCmd(rangeAuto, dirAuto), arity: -4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.2.0", summary: "Returns members in a sorted set within a range of indexes.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."},
		{name: "zrangestore", handler: cmdZRangeStore, arity: -5, flags: flagWrite | flagDenyOOM, first: 1, last: 2, step: 1, group: g, acl: acl, since: "6.2.0", summary: "Stores a range of members from sorted set in a key.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key."},
		{name: "zrevrange", handler: zrangeCmd(rangeRank, dirReverse), arity: -4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.2.0", summary: "Returns members in a sorted set within a range of indexes in reverse order.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."},
		{name: "zrangebyscore", handler: zrangeCmd(rangeScore, dirForward), arity: -4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.5", summary: "Returns members in a sorted set within a range of scores.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."},
		{name: "zrevrangebyscore", handler: zrangeCmd(rangeScore, dirReverse), arity: -4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.2.0", summary: "Returns members in a sorted set within a range of scores in reverse order.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."},
		{name: "zrangebylex", handler: zrangeCmd(rangeLex, dirForward), arity: -4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.8.9", summary: "Returns members in a sorted set within a lexicographical range.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."},
		{name: "zrevrangebylex", handler: zrangeCmd(rangeLex, dirReverse), arity: -4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.8.9", summary: "Returns members in a sorted set within a lexicographical range in reverse order.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."},
		{name: "zcount", handler: cmdZCount, arity: 4, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Returns the count of members in a sorted set that have scores within a range.", complexity: "O(log(N)) with N being the number of elements in the sorted set."},
		{name: "zlexcount", handler: cmdZLexCount, arity: 4, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.8.9", summary: "Returns the number of members in a sorted set within a lexicographical range.", complexity: "O(log(N)) with N being the number of elements in the sorted set."},
		{name: "zremrangebyrank", handler: zremrangeCmd(rangeRank), arity: 4, flags: flagWrite, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."},
		{name: "zremrangebyscore", handler: zremrangeCmd(rangeScore), arity: 4, flags: flagWrite, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.2.0", summary: "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."},
		{name: "zremrangebylex", handler: zremrangeCmd(rangeLex), arity: 4, flags: flagWrite, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.8.9", summary: "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."},
	}
}

// Range kinds and directions (zrange_type, zrange_direction).
const (
	rangeAuto = iota
	rangeRank
	rangeScore
	rangeLex
)

const (
	dirAuto = iota
	dirForward
	dirReverse
)

// scoreRange is zrangespec.
type scoreRange struct {
	min, max     float64
	minex, maxex bool
}

func parseScoreRange(minArg, maxArg []byte) (scoreRange, bool) {
	var r scoreRange
	var ok bool
	if r.min, r.minex, ok = parseScoreBound(string(minArg)); !ok {
		return r, false
	}
	if r.max, r.maxex, ok = parseScoreBound(string(maxArg)); !ok {
		return r, false
	}
	return r, true
}

func parseScoreBound(s string) (float64, bool, bool) {
	ex := false
	if strings.HasPrefix(s, "(") {
		ex, s = true, s[1:]
	}
	f, ok := parseRangeScore(s)
	return f, ex, ok
}

// empty is zslIsInRange's quick rejection.
func (r scoreRange) empty() bool {
	return r.min > r.max || (r.min == r.max && (r.minex || r.maxex))
}

func (r scoreRange) gteMin(s float64) bool {
	if r.minex {
		return s > r.min
	}
	return s >= r.min
}

func (r scoreRange) lteMax(s float64) bool {
	if r.maxex {
		return s < r.max
	}
	return s <= r.max
}

// lexRange is zlexrangespec; a bound is -inf/+inf or a string.
type lexRange struct {
	min, max       string
	minInf, maxInf int // -1: "-", +1: "+", 0: a string
	minex, maxex   bool
}

func parseLexBound(b []byte) (s string, inf int, ex bool, ok bool) {
	if len(b) == 0 {
		return "", 0, false, false
	}
	switch b[0] {
	case '+':
		return "", 1, true, len(b) == 1
	case '-':
		return "", -1, true, len(b) == 1
	case '(':
		return string(b[1:]), 0, true, true
	case '[':
		return string(b[1:]), 0, false, true
	}
	return "", 0, false, false
}

func parseLexRange(minArg, maxArg []byte) (lexRange, bool) {
	var r lexRange
	var ok1, ok2 bool
	r.min, r.minInf, r.minex, ok1 = parseLexBound(minArg)
	r.max, r.maxInf, r.maxex, ok2 = parseLexBound(maxArg)
	return r, ok1 && ok2
}

// cmpLex is sdscmplex: "-" sorts before every string, "+" after.
func cmpLex(a string, ainf int, b string, binf int) int {
	if ainf != 0 || binf != 0 {
		if ainf == binf {
			return 0
		}
		if ainf == -1 || binf == 1 {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func (r lexRange) empty() bool {
	c := cmpLex(r.min, r.minInf, r.max, r.maxInf)
	return c > 0 || (c == 0 && (r.minex || r.maxex))
}

func (r lexRange) gteMin(m string) bool {
	c := cmpLex(m, 0, r.min, r.minInf)
	if r.minex {
		return c > 0
	}
	return c >= 0
}

func (r lexRange) lteMax(m string) bool {
	c := cmpLex(m, 0, r.max, r.maxInf)
	if r.maxex {
		return c < 0
	}
	return c <= 0
}

// firstWhere returns the first rank whose item is not "before" (before
// must be true for a prefix of the order and false afterwards).
func (z *zsetObj) firstWhere(before func(zitem) bool) int {
	i, _ := z.ord.Search(zitem{}, func(a, _ zitem) int {
		if before(a) {
			return -1
		}
		return 1
	})
	return i
}

// scoreSpan returns the ranks [from, to) of the members within r.
func (z *zsetObj) scoreSpan(r scoreRange) (int, int) {
	if r.empty() {
		return 0, 0
	}
	from := z.firstWhere(func(a zitem) bool { return !r.gteMin(a.score) })
	to := z.firstWhere(func(a zitem) bool { return r.lteMax(a.score) })
	return from, max(from, to)
}

// lexSpan returns the ranks [from, to) of the members within r (all
// members are assumed to have one score, as Redis requires).
func (z *zsetObj) lexSpan(r lexRange) (int, int) {
	if r.empty() {
		return 0, 0
	}
	from := z.firstWhere(func(a zitem) bool { return !r.gteMin(a.m) })
	to := z.firstWhere(func(a zitem) bool { return r.lteMax(a.m) })
	return from, max(from, to)
}

// zrangeQuery is a parsed ZRANGE-family request.
type zrangeQuery struct {
	kind, dir     int
	withScores    bool
	offset, limit int64
	start, end    int64
	score         scoreRange
	lex           lexRange
}

// parseZrange is steps 1 and 2 of zrangeGenericCommand: args[at] is the
// source key, then min and max, then options.
func parseZrange(args [][]byte, at int, store bool, kind, dir int) (zrangeQuery, string) {
	q := zrangeQuery{kind: kind, dir: dir, limit: -1}
	minIdx, maxIdx := at+1, at+2
	for j := at + 3; j < len(args); j++ {
		left := len(args) - j - 1
		a := args[j]
		switch {
		case !store && eqFold(a, "withscores"):
			q.withScores = true
		case eqFold(a, "limit") && left >= 2:
			var ok1, ok2 bool
			q.offset, ok1 = parseInt(args[j+1])
			if !ok1 {
				return q, errNotInteger
			}
			q.limit, ok2 = parseInt(args[j+2])
			if !ok2 {
				return q, errNotInteger
			}
			j += 2
		case q.dir == dirAuto && eqFold(a, "rev"):
			q.dir = dirReverse
		case kind == rangeAuto && eqFold(a, "bylex"):
			kind, q.kind = rangeLex, rangeLex
		case kind == rangeAuto && eqFold(a, "byscore"):
			kind, q.kind = rangeScore, rangeScore
		default:
			return q, errSyntax
		}
	}
	if q.dir == dirAuto {
		q.dir = dirForward
	}
	if q.kind == rangeAuto {
		q.kind = rangeRank
	}
	if q.limit != -1 && q.kind == rangeRank {
		return q, "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
	}
	if q.withScores && q.kind == rangeLex {
		return q, "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
	}
	if q.dir == dirReverse && q.kind != rangeRank {
		minIdx, maxIdx = maxIdx, minIdx
	}
	switch q.kind {
	case rangeRank:
		var ok1, ok2 bool
		q.start, ok1 = parseInt(args[minIdx])
		q.end, ok2 = parseInt(args[maxIdx])
		if !ok1 || !ok2 {
			return q, errNotInteger
		}
	case rangeScore:
		var ok bool
		if q.score, ok = parseScoreRange(args[minIdx], args[maxIdx]); !ok {
			return q, errMinMaxFloat
		}
	case rangeLex:
		var ok bool
		if q.lex, ok = parseLexRange(args[minIdx], args[maxIdx]); !ok {
			return q, errMinMaxLex
		}
	}
	return q, ""
}

// run appends the selected members to out in reply order.
func (q *zrangeQuery) run(z *zsetObj, out []zitem) []zitem {
	n := z.Len()
	rev := q.dir == dirReverse
	if q.kind == rangeRank {
		s, e, ok := rangeBounds(q.start, q.end, n)
		if !ok {
			return out
		}
		out = slices.Grow(out, e-s+1)
		if rev {
			z.ord.Descend(n-1-s, func(i int, it zitem) bool {
				out = append(out, it)
				return i > n-1-e
			})
		} else {
			z.ord.Ascend(s, func(i int, it zitem) bool {
				out = append(out, it)
				return i < e
			})
		}
		return out
	}
	if q.offset > 0 && q.offset >= int64(n) {
		return out
	}
	var from, to int
	if q.kind == rangeScore {
		from, to = z.scoreSpan(q.score)
	} else {
		from, to = z.lexSpan(q.lex)
	}
	if from >= to || q.offset < 0 {
		// A negative offset walks off the end in Redis: nothing.
		return out
	}
	if rev {
		from, to = to-1-int(min(q.offset, int64(to-from))), from-1
		if from <= to {
			return out
		}
		z.ord.Descend(from, func(i int, it zitem) bool {
			if i <= to || (q.limit >= 0 && int64(len(out)) >= q.limit) {
				return false
			}
			out = append(out, it)
			return true
		})
		return out
	}
	from += int(min(q.offset, int64(to-from)))
	z.ord.Ascend(from, func(i int, it zitem) bool {
		if i >= to || (q.limit >= 0 && int64(len(out)) >= q.limit) {
			return false
		}
		out = append(out, it)
		return true
	})
	return out
}

func zrangeCmd(kind, dir int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		q, msg := parseZrange(args, 1, false, kind, dir)
		if msg != "" {
			c.err(msg)
			return
		}
		z, found, ok := readZset(c, args[1])
		if !ok {
			return
		}
		// Gathered in the client's reused slice (see Client.strs).
		out := c.zitems[:0]
		if found {
			out = q.run(z, out)
		}
		c.commit()
		if q.withScores {
			c.array(2 * len(out))
		} else {
			c.array(len(out))
		}
		for _, it := range out {
			c.bulkString(it.m)
			if q.withScores {
				c.num = appendScore(c.num[:0], it.score)
				c.bulk(c.num)
			}
		}
		c.zitems = reuse(out)
	}
}

func cmdZRangeStore(c *Client, args [][]byte) {
	q, msg := parseZrange(args, 2, true, rangeAuto, dirAuto)
	if msg != "" {
		c.err(msg)
		return
	}
	dst, src := args[1], args[2]
	tx := c.begin()
	tx.lockKeys(dst, src)
	defer c.commit()
	z, _, _, found, wrong := lookupObject[*zsetObj](tx, src, true)
	if wrong {
		c.err(errWrongType)
		return
	}
	var out []zitem
	if found {
		out = q.run(z, nil)
	}
	storeZset(c, tx, dst, out, "zrangestore")
	c.emitSelf(tx)
	c.int(int64(len(out)))
}

// storeZset replaces dst with a sorted set of items (any order), or
// deletes it when items is empty (Redis' setKey / dbDelete).
func storeZset(c *Client, tx *Tx, dst []byte, items []zitem, event string) {
	if len(items) == 0 {
		if e, sh, ok := tx.lookup(dst); ok {
			tx.remove(sh, e)
			tx.notify(notifyGeneric, "del", dst)
		}
		return
	}
	sorted := append([]zitem(nil), items...)
	maxLen := 0
	for _, it := range sorted {
		maxLen = max(maxLen, len(it.m))
	}
	sortZitems(sorted)
	z := zsetFromSorted(sorted, fitsListpack(&c.s.limits, len(sorted), maxLen))
	tx.lookup(dst) // an expired destination is deleted first, as Redis' setKey
	tx.putObject(dst, z, false)
	tx.notify(notifyZset, event, dst)
}

func cmdZCount(c *Client, args [][]byte) {
	r, ok := parseScoreRange(args[2], args[3])
	if !ok {
		c.err(errMinMaxFloat)
		return
	}
	z, found, ok := readZset(c, args[1])
	if !ok {
		return
	}
	n := 0
	if found {
		from, to := z.scoreSpan(r)
		n = to - from
	}
	c.commit()
	c.int(int64(n))
}

func cmdZLexCount(c *Client, args [][]byte) {
	r, ok := parseLexRange(args[2], args[3])
	if !ok {
		c.err(errMinMaxLex)
		return
	}
	z, found, ok := readZset(c, args[1])
	if !ok {
		return
	}
	n := 0
	if found {
		from, to := z.lexSpan(r)
		n = to - from
	}
	c.commit()
	c.int(int64(n))
}

func zremrangeCmd(kind int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		var start, end int64
		var sr scoreRange
		var lr lexRange
		switch kind {
		case rangeRank:
			var ok1, ok2 bool
			start, ok1 = parseInt(args[2])
			end, ok2 = parseInt(args[3])
			if !ok1 || !ok2 {
				c.err(errNotInteger)
				return
			}
		case rangeScore:
			var ok bool
			if sr, ok = parseScoreRange(args[2], args[3]); !ok {
				c.err(errMinMaxFloat)
				return
			}
		case rangeLex:
			var ok bool
			if lr, ok = parseLexRange(args[2], args[3]); !ok {
				c.err(errMinMaxLex)
				return
			}
		}
		key := args[1]
		tx := c.begin()
		tx.lockKey(key)
		defer c.commit()
		z, e, sh, found, wrong := lookupObject[*zsetObj](tx, key, false)
		switch {
		case !found:
			c.int(0)
			return
		case wrong:
			c.err(errWrongType)
			return
		}
		var from, to int
		switch kind {
		case rangeRank:
			s, last, ok := rangeBounds(start, end, z.Len())
			if !ok {
				c.int(0)
				return
			}
			from, to = s, last+1
		case rangeScore:
			from, to = z.scoreSpan(sr)
		case rangeLex:
			from, to = z.lexSpan(lr)
		}
		if from < to {
			z = mutable[*zsetObj](tx, sh, e)
			z.deleteRanks(from, to)
			tx.notify(notifyZset, zremrangeEvent[kind], key)
			if !tx.notifyDel(dropIfEmpty(tx, key, z), key) {
				tx.modified(sh, key)
			}
			c.emitSelf(tx)
		}
		c.int(int64(to - from))
	}
}
