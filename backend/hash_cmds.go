package backend

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// Hash commands (t_hash.c). Writes are emitted as sent, except
// HINCRBYFLOAT, which becomes HSET of the result (as in Redis).

func hashCommands() []*cmdSpec {
	const g = "hash"
	acl := []string{"@hash"}
	return []*cmdSpec{
		{name: "hset", handler: cmdHSet, arity: -4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Creates or modifies the value of a field in a hash.", complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs."},
		{name: "hmset", handler: cmdHSet, arity: -4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Sets the values of multiple fields.", complexity: "O(N) where N is the number of fields being set."},
		{name: "hsetnx", handler: cmdHSetNX, arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Sets the value of a field in a hash only when the field doesn't exist.", complexity: "O(1)"},
		{name: "hget", handler: cmdHGet, arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Returns the value of a field in a hash.", complexity: "O(1)"},
		{name: "hmget", handler: cmdHMGet, arity: -3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Returns the values of all fields in a hash.", complexity: "O(N) where N is the number of fields being requested."},
		{name: "hdel", handler: cmdHDel, arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", complexity: "O(N) where N is the number of fields to be removed."},
		{name: "hexists", handler: cmdHExists, arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Determines whether a field exists in a hash.", complexity: "O(1)"},
		{name: "hlen", handler: cmdHLen, arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Returns the number of fields in a hash.", complexity: "O(1)"},
		{name: "hstrlen", handler: cmdHStrlen, arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "3.2.0", summary: "Returns the length of the value of a field.", complexity: "O(1)"},
		{name: "hkeys", handler: hgetallCmd(true, false), arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Returns all fields in a hash.", complexity: "O(N) where N is the size of the hash."},
		{name: "hvals", handler: hgetallCmd(false, true), arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Returns all values in a hash.", complexity: "O(N) where N is the size of the hash."},
		{name: "hgetall", handler: hgetallCmd(true, true), arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Returns all fields and values in a hash.", complexity: "O(N) where N is the size of the hash."},
		{name: "hincrby", handler: cmdHIncrBy, arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.0.0", summary: "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", complexity: "O(1)"},
		{name: "hincrbyfloat", handler: cmdHIncrByFloat, arity: 4, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.6.0", summary: "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", complexity: "O(1)"},
		{name: "hrandfield", handler: cmdHRandField, arity: -2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "6.2.0", summary: "Returns one or more random fields from a hash.", complexity: "O(N) where N is the number of fields returned"},
		{name: "hscan", handler: cmdHScan, arity: -3, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.8.0", summary: "Iterates over fields and values of a hash.", complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."},
	}
}

// hashForWrite is hashTypeLookupWriteOrCreate: the hash at key for
// modification, created (and stored) when missing; nil on WRONGTYPE
// (replied).
func hashForWrite(c *Client, tx *Tx, key []byte) (*hashObj, *shard) {
	h, e, sh, found, wrong := lookupObject[*hashObj](tx, key, false)
	if wrong {
		c.err(errWrongType)
		return nil, nil
	}
	if !found {
		h = newHashObj()
		tx.putObject(key, h, false)
		return h, sh
	}
	return mutable[*hashObj](tx, sh, e), sh
}

func cmdHSet(c *Client, args [][]byte) {
	if len(args)%2 == 1 {
		c.err(errArity(c.cmdName()))
		return
	}
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	h, sh := hashForWrite(c, tx, key)
	if h == nil {
		return
	}
	lim := &c.s.limits
	for _, a := range args[2:] {
		h.checkValue(lim, len(a))
	}
	created := 0
	for i := 2; i < len(args); i += 2 {
		if h.set(args[i], args[i+1]) {
			created++
		}
		h.checkLen(lim)
	}
	tx.modified(sh, key)
	tx.notify(notifyHash, "hset", key)
	c.emitSelf(tx)
	if a := args[0]; a[1] == 's' || a[1] == 'S' {
		c.int(int64(created))
	} else {
		c.ok()
	}
}

func cmdHSetNX(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	h, e, sh, found, wrong := lookupObject[*hashObj](tx, key, false)
	if wrong {
		c.err(errWrongType)
		return
	}
	if found {
		if _, ok := h.get(args[2]); ok {
			c.int(0)
			return
		}
		h = mutable[*hashObj](tx, sh, e)
	} else {
		h = newHashObj()
		tx.putObject(key, h, false)
	}
	lim := &c.s.limits
	h.checkValue(lim, len(args[2]))
	h.checkValue(lim, len(args[3]))
	h.set(args[2], args[3])
	h.checkLen(lim)
	tx.modified(sh, key)
	tx.notify(notifyHash, "hset", key)
	c.emitSelf(tx)
	c.int(1)
}

// readHash looks a hash up for a read command; on WRONGTYPE it replies
// and returns ok false.
func readHash(c *Client, key []byte) (*hashObj, bool, bool) {
	tx := c.begin()
	tx.lockKey(key)
	h, _, _, found, wrong := lookupObject[*hashObj](tx, key, true)
	if wrong {
		c.commit()
		c.err(errWrongType)
		return nil, false, false
	}
	return h, found, true
}

func cmdHGet(c *Client, args [][]byte) {
	h, found, ok := readHash(c, args[1])
	if !ok {
		return
	}
	v, have := "", false
	if found {
		v, have = h.get(args[2])
	}
	c.commit()
	if !have {
		c.null()
		return
	}
	c.bulkString(v)
}

func cmdHMGet(c *Client, args [][]byte) {
	h, found, ok := readHash(c, args[1])
	if !ok {
		return
	}
	vals := make([]string, len(args)-2)
	have := make([]bool, len(vals))
	if found {
		for i, f := range args[2:] {
			vals[i], have[i] = h.get(f)
		}
	}
	c.commit()
	c.array(len(vals))
	for i, v := range vals {
		if have[i] {
			c.bulkString(v)
		} else {
			c.null()
		}
	}
}

func cmdHDel(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	h, e, sh, found, wrong := lookupObject[*hashObj](tx, key, false)
	switch {
	case !found:
		c.int(0)
		return
	case wrong:
		c.err(errWrongType)
		return
	}
	n := 0
	var mut *hashObj
	for _, f := range args[2:] {
		if mut == nil {
			if _, ok := h.get(f); !ok {
				continue
			}
			mut = mutable[*hashObj](tx, sh, e)
		}
		if mut.del(f) {
			n++
			if mut.Len() == 0 {
				break
			}
		}
	}
	if n > 0 {
		tx.notify(notifyHash, "hdel", key)
		if !tx.notifyDel(dropIfEmpty(tx, key, mut), key) {
			tx.modified(sh, key)
		}
		c.emitSelf(tx)
	}
	c.int(int64(n))
}

func cmdHExists(c *Client, args [][]byte) {
	h, found, ok := readHash(c, args[1])
	if !ok {
		return
	}
	have := false
	if found {
		_, have = h.get(args[2])
	}
	c.commit()
	c.int(b2i(have))
}

func cmdHLen(c *Client, args [][]byte) {
	h, found, ok := readHash(c, args[1])
	if !ok {
		return
	}
	n := 0
	if found {
		n = h.Len()
	}
	c.commit()
	c.int(int64(n))
}

func cmdHStrlen(c *Client, args [][]byte) {
	h, found, ok := readHash(c, args[1])
	if !ok {
		return
	}
	n := 0
	if found {
		v, _ := h.get(args[2])
		n = len(v)
	}
	c.commit()
	c.int(int64(n))
}

func hgetallCmd(fields, values bool) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		h, found, ok := readHash(c, args[1])
		if !ok {
			return
		}
		out := c.gather(0)
		if found {
			per := 1
			if fields && values {
				per = 2
			}
			out = c.gather(per * h.Len())
			h.each(func(f, v string) bool {
				if fields {
					out = append(out, f)
				}
				if values {
					out = append(out, v)
				}
				return true
			})
		}
		c.commit()
		c.bulkStrings(out)
	}
}

func cmdHIncrBy(c *Client, args [][]byte) {
	incr, ok := parseInt(args[3])
	if !ok {
		c.err(errNotInteger)
		return
	}
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	h, sh := hashForWrite(c, tx, key)
	if h == nil {
		return
	}
	cur := int64(0)
	if v, ok := h.get(args[2]); ok {
		if cur, ok = parseIntString(v); !ok {
			c.err("ERR hash value is not an integer")
			dropIfEmpty(tx, key, h)
			return
		}
	}
	if (incr < 0 && cur < 0 && incr < math.MinInt64-cur) || (incr > 0 && cur > 0 && incr > math.MaxInt64-cur) {
		c.err(errOverflow)
		dropIfEmpty(tx, key, h)
		return
	}
	cur += incr
	val := strconv.AppendInt(nil, cur, 10)
	lim := &c.s.limits
	h.checkValue(lim, len(args[2]))
	h.set(args[2], val)
	h.checkLen(lim)
	tx.modified(sh, key)
	tx.notify(notifyHash, "hincrby", key)
	c.emitSelf(tx)
	c.int(cur)
}

func cmdHIncrByFloat(c *Client, args [][]byte) {
	incr, ok := parseLongDouble(args[3])
	if !ok {
		c.err(errNotFloat)
		return
	}
	if incr.isInf() {
		c.err("ERR value is NaN or Infinity")
		return
	}
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	h, sh := hashForWrite(c, tx, key)
	if h == nil {
		return
	}
	cur, _ := parseLongDouble([]byte("0"))
	if v, ok := h.get(args[2]); ok {
		if cur, ok = parseLongDouble([]byte(v)); !ok {
			c.err("ERR hash value is not a float")
			dropIfEmpty(tx, key, h)
			return
		}
	}
	sum, ok := addLongDouble(cur, incr)
	if !ok || sum.isInf() {
		c.err(errNaNOrInf)
		dropIfEmpty(tx, key, h)
		return
	}
	out := formatLongDoubleHuman(sum)
	lim := &c.s.limits
	h.checkValue(lim, len(args[2]))
	h.checkValue(lim, len(out))
	h.set(args[2], []byte(out))
	h.checkLen(lim)
	tx.modified(sh, key)
	tx.notify(notifyHash, "hincrbyfloat", key)
	tx.emit([]byte("HSET"), key, args[2], []byte(out))
	c.bulkString(out)
}

func cmdHRandField(c *Client, args [][]byte) {
	count, withValues, hasCount := int64(0), false, len(args) >= 3
	if hasCount {
		var msg string
		if count, msg = randCountArg(args[2]); msg != "" {
			c.err(msg)
			return
		}
		if len(args) > 4 || (len(args) == 4 && !eqFold(args[3], "withvalues")) {
			c.err(errSyntax)
			return
		}
		if len(args) == 4 {
			withValues = true
			if count < -math.MaxInt64/2 || count > math.MaxInt64/2 {
				c.err(errValueOutRange)
				return
			}
		}
	}
	h, found, ok := readHash(c, args[1])
	if !ok {
		return
	}
	var out []hashPair
	if found && (!hasCount || count != 0) {
		if !hasCount {
			f, v := h.at(rand.IntN(h.Len()))
			out = []hashPair{{f, v}}
		} else {
			for _, p := range randomPositions(h.Len(), count) {
				f, v := h.at(p)
				out = append(out, hashPair{f, v})
			}
		}
	}
	c.commit()
	if !hasCount {
		if len(out) == 0 {
			c.null()
		} else {
			c.bulkString(out[0].f)
		}
		return
	}
	if withValues {
		c.array(2 * len(out))
	} else {
		c.array(len(out))
	}
	for _, p := range out {
		c.bulkString(p.f)
		if withValues {
			c.bulkString(p.v)
		}
	}
}

func cmdHScan(c *Client, args [][]byte) {
	collectionScan(c, args, func(h *hashObj, cursor uint64, count int, match func(string) bool) (uint64, []string) {
		var out []string
		next := h.scan(cursor, count, func(f, v string) {
			if match(f) {
				out = append(out, f, v)
			}
		})
		return next, out
	})
}
