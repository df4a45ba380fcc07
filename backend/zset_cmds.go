package backend

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// Sorted set commands (t_zset.c), part 1: writes, point reads, pops,
// random members and ZSCAN. Ranges are in zset_range.go, the set
// operations in zset_setops.go. ZADD, ZINCRBY and ZREM are emitted as
// sent (deterministic); pops as ZPOPMIN/ZPOPMAX with the count.

const (
	errNotFloat2     = "ERR value is not a valid float"
	errNaNScore      = "ERR resulting score is not a number (NaN)"
	errMinMaxFloat   = "ERR min or max is not a float"
	errMinMaxLex     = "ERR min or max not valid string range item"
	errValueOutRange = "ERR value is out of range"
)

func zsetCommands() []*cmdSpec {
	const g = "sorted_set"
	acl := []string{"@sortedset"}
	return append([]*cmdSpec{
		{name: "zadd", handler: cmdZAdd, arity: -4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.2.0", summary: "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set."},
		{name: "zincrby", handler: cmdZIncrBy, arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.2.0", summary: "Increments the score of a member in a sorted set.", complexity: "O(log(N)) where N is the number of elements in the sorted set."},
		{name: "zrem", handler: cmdZRem, arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.2.0", summary: "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed."},
		{name: "zscore", handler: cmdZScore, arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.2.0", summary: "Returns the score of a member in a sorted set.", complexity: "O(1)"},
		{name: "zmscore", handler: cmdZMScore, arity: -3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "6.2.0", summary: "Returns the score of one or more members in a sorted set.", complexity: "O(N) where N is the number of members being requested."},
		{name: "zcard", handler: cmdZCard, arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.2.0", summary: "Returns the number of members in a sorted set.", complexity: "O(1)"},
		{name: "zrank", handler: zrankCmd(false), arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Returns the index of a member in a sorted set ordered by ascending scores.", complexity: "O(log(N))"},
		{name: "zrevrank", handler: zrankCmd(true), arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Returns the index of a member in a sorted set ordered by descending scores.", complexity: "O(log(N))"},
		{name: "zpopmin", handler: zpopCmd(zsetMin), arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "5.0.0", summary: "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."},
		{name: "zpopmax", handler: zpopCmd(zsetMax), arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "5.0.0", summary: "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."},
		{name: "zmpop", handler: cmdZMPop, arity: -4, flags: flagWrite | flagMovableKeys, keys: numkeysAt(1), group: g, acl: acl, since: "7.0.0", summary: "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."},
		{name: "zrandmember", handler: cmdZRandMember, arity: -2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "6.2.0", summary: "Returns one or more random members from a sorted set.", complexity: "O(N) where N is the number of members returned"},
		{name: "zscan", handler: cmdZScan, arity: -3, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.8.0", summary: "Iterates over members and scores of a sorted set.", complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."},
	}, append(zsetRangeCommands(), zsetSetopCommands()...)...)
}

// ZADD flags.
const (
	zaddNX = 1 << iota
	zaddXX
	zaddGT
	zaddLT
	zaddIncr
	zaddCH
)

func cmdZAdd(c *Client, args [][]byte) { zaddGeneric(c, args, 0) }

func cmdZIncrBy(c *Client, args [][]byte) { zaddGeneric(c, args, zaddIncr) }

// zaddGeneric is Redis' zaddGenericCommand (ZADD and ZINCRBY).
func zaddGeneric(c *Client, args [][]byte, flags int) {
	key := args[1]
	i := 2
	if flags&zaddIncr == 0 {
	opts:
		for ; i < len(args); i++ {
			switch {
			case eqFold(args[i], "nx"):
				flags |= zaddNX
			case eqFold(args[i], "xx"):
				flags |= zaddXX
			case eqFold(args[i], "ch"):
				flags |= zaddCH
			case eqFold(args[i], "incr"):
				flags |= zaddIncr
			case eqFold(args[i], "gt"):
				flags |= zaddGT
			case eqFold(args[i], "lt"):
				flags |= zaddLT
			default:
				break opts
			}
		}
	}
	pairs := len(args) - i
	if pairs%2 != 0 || pairs == 0 {
		c.err(errSyntax)
		return
	}
	pairs /= 2
	nx, xx, gt, lt, incr := flags&zaddNX != 0, flags&zaddXX != 0, flags&zaddGT != 0, flags&zaddLT != 0, flags&zaddIncr != 0
	if nx && xx {
		c.err("ERR XX and NX options at the same time are not compatible")
		return
	}
	if (gt && nx) || (lt && nx) || (gt && lt) {
		c.err("ERR GT, LT, and/or NX options at the same time are not compatible")
		return
	}
	if incr && pairs > 1 {
		c.err("ERR INCR option supports a single increment-element pair")
		return
	}
	scores := make([]float64, pairs)
	for j := range scores {
		s, ok := parseScore(args[i+2*j])
		if !ok {
			c.err(errNotFloat2)
			return
		}
		scores[j] = s
	}
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	z, e, sh, found, wrong := lookupObject[*zsetObj](tx, key, false)
	if wrong {
		c.err(errWrongType)
		return
	}
	lim := &c.s.limits
	added, updated, processed := 0, 0, 0
	score := 0.0
	if !found {
		if xx {
			goto reply
		}
		z = newZsetObj(lim.zsetEntries.Load() != 0 && int64(len(args[i+1])) <= lim.zsetValue.Load())
		tx.putObject(key, z, false)
	} else {
		z = mutable[*zsetObj](tx, sh, e)
	}
	for j, s := range scores {
		m := args[i+1+2*j]
		x, at, exists := z.lookup(m)
		cur := x.score
		if exists {
			if nx {
				continue
			}
			if incr {
				s += cur
				if math.IsNaN(s) {
					c.err(errNaNScore)
					goto done
				}
			}
			if (lt && s >= cur) || (gt && s <= cur) {
				continue
			}
			score = s
			processed++
			if s != cur {
				z.updateAt(at, x, s)
				updated++
			}
			continue
		}
		if xx {
			continue
		}
		z.noteAdd(lim, m)
		z.insert(string(m), s)
		added++
		processed++
		score = s
	}
reply:
	switch {
	case incr && processed > 0:
		c.bulk(appendScore(nil, score))
	case incr:
		c.null()
	case flags&zaddCH != 0:
		c.int(int64(added + updated))
	default:
		c.int(int64(added))
	}
done:
	if added+updated > 0 {
		if found {
			tx.modified(sh, key)
		}
		tx.notify(notifyZset, zaddEvent[b2i(incr)], key)
		c.emitSelf(tx)
	}
	if !found && z != nil && z.Len() == 0 {
		dropIfEmpty(tx, key, z)
	}
}

func cmdZRem(c *Client, args [][]byte) {
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
	z = mutable[*zsetObj](tx, sh, e)
	n := 0
	for _, m := range args[2:] {
		if z.remove(m) {
			n++
			if z.Len() == 0 {
				break
			}
		}
	}
	if n > 0 {
		tx.notify(notifyZset, "zrem", key)
		if !tx.notifyDel(dropIfEmpty(tx, key, z), key) {
			tx.modified(sh, key)
		}
		c.emitSelf(tx)
	}
	c.int(int64(n))
}

// readZset looks a sorted set up for a read command; on WRONGTYPE it
// replies and returns ok false (the caller just returns).
func readZset(c *Client, key []byte) (*zsetObj, bool, bool) {
	tx := c.begin()
	tx.lockKey(key)
	z, _, _, found, wrong := lookupObject[*zsetObj](tx, key, true)
	if wrong {
		c.commit()
		c.err(errWrongType)
		return nil, false, false
	}
	return z, found, true
}

func cmdZScore(c *Client, args [][]byte) {
	z, found, ok := readZset(c, args[1])
	if !ok {
		return
	}
	var s float64
	have := false
	if found {
		s, have = z.score(args[2])
	}
	c.commit()
	if !have {
		c.null()
		return
	}
	c.bulk(appendScore(nil, s))
}

func cmdZMScore(c *Client, args [][]byte) {
	z, found, ok := readZset(c, args[1])
	if !ok {
		return
	}
	out := make([][]byte, len(args)-2)
	if found {
		for i, m := range args[2:] {
			if s, ok := z.score(m); ok {
				out[i] = appendScore(nil, s)
			}
		}
	}
	c.commit()
	c.array(len(out))
	for _, b := range out {
		if b == nil {
			c.null()
		} else {
			c.bulk(b)
		}
	}
}

func cmdZCard(c *Client, args [][]byte) {
	z, found, ok := readZset(c, args[1])
	if !ok {
		return
	}
	n := 0
	if found {
		n = z.Len()
	}
	c.commit()
	c.int(int64(n))
}

func zrankCmd(rev bool) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		z, found, ok := readZset(c, args[1])
		if !ok {
			return
		}
		r, have := 0, false
		if found {
			if r, have = z.rank(args[2]); have && rev {
				r = z.Len() - 1 - r
			}
		}
		c.commit()
		if !have {
			c.null()
			return
		}
		c.int(int64(r))
	}
}

func zpopCmd(where int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		if len(args) > 3 {
			c.err(errArity(c.cmdName()))
			return
		}
		count := int64(-1)
		if len(args) == 3 {
			var msg string
			if count, msg = countArg(args[2]); msg != "" {
				c.err(msg)
				return
			}
		}
		key := args[1]
		tx := c.begin()
		tx.lockKey(key)
		defer c.commit()
		_, e, sh, found, wrong := lookupObject[*zsetObj](tx, key, false)
		switch {
		case wrong:
			c.err(errWrongType)
			return
		case !found || count == 0:
			c.array(0)
			return
		}
		items := zsetPop(tx, sh, e, key, where, int(min(max(count, 1), 1<<31)))
		tx.emit(zpopName(where), key, itoa(len(items)))
		c.array(2 * len(items))
		for _, it := range items {
			c.bulkString(it.m)
			c.bulk(appendScore(nil, it.score))
		}
	}
}

func cmdZMPop(c *Client, args [][]byte) {
	m, msg := parseMpop(args, 1, parseMinMax)
	if msg != "" {
		c.err(msg)
		return
	}
	tx := c.begin()
	tx.lockKeys(m.keys...)
	defer c.commit()
	for _, k := range m.keys {
		_, e, sh, found, wrong := lookupObject[*zsetObj](tx, k, false)
		if wrong {
			c.err(errWrongType)
			return
		}
		if !found {
			continue
		}
		items := zsetPop(tx, sh, e, k, m.where, int(min(m.count, 1<<31)))
		tx.emit(zpopName(m.where), k, itoa(len(items)))
		writeZMPop(c.w, k, items)
		return
	}
	c.nullArray()
}

// randCountArg parses the count of HRANDFIELD/SRANDMEMBER/ZRANDMEMBER:
// any long but LONG_MIN.
func randCountArg(b []byte) (int64, string) {
	n, ok := parseInt(b)
	if !ok {
		return 0, errNotInteger
	}
	if n == math.MinInt64 {
		return 0, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
	}
	return n, ""
}

// randomPositions picks positions in [0, n) for a random-members command:
// count < 0 allows repeats (|count| picks), count >= n is everything in
// order, else count distinct positions.
func randomPositions(n int, count int64) []int {
	if count < 0 {
		k := -count
		out := make([]int, 0, min(k, 1<<20))
		for i := int64(0); i < k; i++ {
			out = append(out, rand.IntN(n))
		}
		return out
	}
	if count >= int64(n) {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	k := int(count)
	if k*3 > n {
		p := rand.Perm(n)[:k]
		return p
	}
	seen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for len(out) < k {
		i := rand.IntN(n)
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

func cmdZRandMember(c *Client, args [][]byte) {
	count, withScores, hasCount := int64(0), false, len(args) >= 3
	if hasCount {
		var msg string
		if count, msg = randCountArg(args[2]); msg != "" {
			c.err(msg)
			return
		}
		if len(args) > 4 || (len(args) == 4 && !eqFold(args[3], "withscores")) {
			c.err(errSyntax)
			return
		}
		if len(args) == 4 {
			withScores = true
			if count < -math.MaxInt64/2 || count > math.MaxInt64/2 {
				c.err(errValueOutRange)
				return
			}
		}
	}
	z, found, ok := readZset(c, args[1])
	if !ok {
		return
	}
	var items []zitem
	if found && (!hasCount || count != 0) {
		if !hasCount {
			items = []zitem{z.ord.At(rand.IntN(z.Len()))}
		} else {
			for _, p := range randomPositions(z.Len(), count) {
				items = append(items, z.ord.At(p))
			}
		}
	}
	c.commit()
	if !hasCount {
		if len(items) == 0 {
			c.null()
		} else {
			c.bulkString(items[0].m)
		}
		return
	}
	if withScores {
		c.array(2 * len(items))
	} else {
		c.array(len(items))
	}
	for _, it := range items {
		c.bulkString(it.m)
		if withScores {
			c.bulk(appendScore(nil, it.score))
		}
	}
}

// collectionScan is HSCAN/SSCAN/ZSCAN's argument handling: the cursor,
// then the key (a missing key replies an empty scan), then the options.
// scan returns the next cursor and the flat reply elements.
func collectionScan[T Object](c *Client, args [][]byte, scan func(o T, cursor uint64, count int, match func(string) bool) (uint64, []string)) {
	cursor, ok := parseScanCursor(args[2])
	if !ok {
		c.err(errInvalidCursor)
		return
	}
	tx := c.begin()
	tx.lockKey(args[1])
	o, _, _, found, wrong := lookupObject[T](tx, args[1], true)
	if !found || wrong {
		c.commit()
		if wrong {
			c.err(errWrongType)
			return
		}
		c.array(2)
		c.bulkString("0")
		c.array(0)
		return
	}
	opts, msg := parseScanOptions(args[3:], false)
	if msg != "" {
		c.commit()
		c.err(msg)
		return
	}
	match := func(s string) bool { return !opts.match || globMatch(opts.pattern, s, false) }
	next, out := scan(o, cursor, int(min(opts.count, 1<<31)), match)
	c.commit()
	c.array(2)
	c.bulkString(strconv.FormatUint(next, 10))
	c.array(len(out))
	for _, s := range out {
		c.bulkString(s)
	}
}

func cmdZScan(c *Client, args [][]byte) {
	collectionScan(c, args, func(z *zsetObj, cursor uint64, count int, match func(string) bool) (uint64, []string) {
		var out []string
		emit := func(m string, s float64) {
			if match(m) {
				out = append(out, m, formatScore(s))
			}
		}
		if z.listpack {
			z.ord.Ascend(0, func(_ int, it zitem) bool {
				if match(it.m) {
					out = append(out, it.m, listpackScore(it.score))
				}
				return true
			})
			return 0, out
		}
		next := scanTree(z.dict, zmember{h: cursor}, cmpZmember, func(x zmember) uint64 { return x.h }, count,
			func(x zmember) { emit(x.m, x.score) })
		return next, out
	})
}
