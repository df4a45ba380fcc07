package backend

import (
	"math"
	"strconv"
)

// String commands (t_string.c). Writes emit their replayable form: the
// command itself when deterministic, SET ... PXAT for relative expiries,
// SET ... KEEPTTL for INCRBYFLOAT, PEXPIREAT/DEL/PERSIST for GETEX, DEL for
// GETDEL.

func stringCommands() []*cmdSpec {
	const g = "string"
	return []*cmdSpec{
		{name: "get", handler: cmdGet, arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Returns the string value of a key.", complexity: "O(1)"},
		{name: "set", handler: cmdSet, arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", complexity: "O(1)"},
		{name: "setnx", handler: cmdSetNX, arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Set the string value of a key only when the key doesn't exist.", complexity: "O(1)"},
		{name: "setex", handler: cmdSetEX, arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", complexity: "O(1)"},
		{name: "psetex", handler: cmdPSetEX, arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, since: "2.6.0", summary: "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", complexity: "O(1)"},
		{name: "getset", handler: cmdGetSet, arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Returns the previous string value of a key after setting it to a new value.", complexity: "O(1)"},
		{name: "getdel", handler: cmdGetDel, arity: 2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, since: "6.2.0", summary: "Returns the string value of a key after deleting the key.", complexity: "O(1)"},
		{name: "getex", handler: cmdGetEX, arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, since: "6.2.0", summary: "Returns the string value of a key after setting its expiration time.", complexity: "O(1)"},
		{name: "mget", handler: cmdMGet, arity: -2, flags: flagReadonly | flagFast, first: 1, last: -1, step: 1, group: g, since: "1.0.0", summary: "Atomically returns the string values of one or more keys.", complexity: "O(N) where N is the number of keys to retrieve."},
		{name: "mset", handler: cmdMSet, arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 2, group: g, since: "1.0.1", summary: "Atomically creates or modifies the string values of one or more keys.", complexity: "O(N) where N is the number of keys to set."},
		{name: "msetnx", handler: cmdMSetNX, arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 2, group: g, since: "1.0.1", summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.", complexity: "O(N) where N is the number of keys to set."},
		{name: "incr", handler: cmdIncr, arity: 2, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", complexity: "O(1)"},
		{name: "decr", handler: cmdDecr, arity: 2, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", complexity: "O(1)"},
		{name: "incrby", handler: cmdIncrBy, arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", complexity: "O(1)"},
		{name: "decrby", handler: cmdDecrBy, arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", complexity: "O(1)"},
		{name: "incrbyfloat", handler: cmdIncrByFloat, arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.6.0", summary: "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", complexity: "O(1)"},
		{name: "append", handler: cmdAppend, arity: 3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.0.0", summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.", complexity: "O(1)."},
		{name: "strlen", handler: cmdStrlen, arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.2.0", summary: "Returns the length of a string value.", complexity: "O(1)"},
		{name: "getrange", handler: cmdGetRange, arity: 4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, since: "2.4.0", summary: "Returns a substring of the string stored at a key.", complexity: "O(N) where N is the length of the returned string."},
		{name: "substr", handler: cmdGetRange, arity: 4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Returns a substring from a string value.", complexity: "O(N) where N is the length of the returned string."},
		{name: "setrange", handler: cmdSetRange, arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, since: "2.2.0", summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", complexity: "O(1), not counting the time taken to copy the new string in place."},
	}
}

// readString looks key up for a read command: (value, found, wrongType).
func readString(tx *Tx, key []byte) (string, bool, bool) {
	e, _, ok := tx.lookupRead(key)
	if !ok {
		return "", false, false
	}
	if e.isObject() {
		return "", true, true
	}
	return e.str(), true, false
}

func cmdGet(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKey(args[1])
	v, found, wrong := readString(tx, args[1])
	c.commit()
	switch {
	case wrong:
		c.err(errWrongType)
	case !found:
		c.null()
	default:
		c.bulkString(v)
	}
}

// Expiry option kinds shared by SET and GETEX.
const (
	expNone = iota
	expEX
	expPX
	expEXAT
	expPXAT
)

type setOptions struct {
	nx, xx, get, keepTTL, persist bool
	kind                          int
	expire                        []byte
}

// parseSetOptions is Redis' parseExtendedStringArgumentsOrReply for SET
// (isSet) or GETEX. It returns false on a syntax error.
func parseSetOptions(args [][]byte, isSet bool) (setOptions, bool) {
	var o setOptions
	for j := 0; j < len(args); j++ {
		a := args[j]
		hasNext := j+1 < len(args)
		switch {
		case eqFold(a, "nx") && isSet && !o.xx:
			o.nx = true
		case eqFold(a, "xx") && isSet && !o.nx:
			o.xx = true
		case eqFold(a, "get") && isSet:
			o.get = true
		case eqFold(a, "keepttl") && isSet && !o.persist && o.kind == expNone:
			o.keepTTL = true
		case eqFold(a, "persist") && !isSet && o.kind == expNone && !o.keepTTL:
			o.persist = true
		case eqFold(a, "ex") && !o.keepTTL && !o.persist && (o.kind == expNone || o.kind == expEX) && hasNext:
			o.kind, o.expire = expEX, args[j+1]
			j++
		case eqFold(a, "px") && !o.keepTTL && !o.persist && (o.kind == expNone || o.kind == expPX) && hasNext:
			o.kind, o.expire = expPX, args[j+1]
			j++
		case eqFold(a, "exat") && !o.keepTTL && !o.persist && (o.kind == expNone || o.kind == expEXAT) && hasNext:
			o.kind, o.expire = expEXAT, args[j+1]
			j++
		case eqFold(a, "pxat") && !o.keepTTL && !o.persist && (o.kind == expNone || o.kind == expPXAT) && hasNext:
			o.kind, o.expire = expPXAT, args[j+1]
			j++
		default:
			return o, false
		}
	}
	return o, true
}

// expireMillis is Redis' getExpireMillisecondsOrReply: the absolute expiry
// in unix ms, or an error text.
func expireMillis(kind int, v []byte, now int64, cmd string) (int64, string) {
	ms, ok := parseInt(v)
	if !ok {
		return 0, errNotInteger
	}
	seconds := kind == expEX || kind == expEXAT
	if ms <= 0 || (seconds && ms > math.MaxInt64/1000) {
		return 0, errInvalidExpire(cmd)
	}
	if seconds {
		ms *= 1000
	}
	if kind == expEX || kind == expPX {
		if ms > math.MaxInt64-now {
			return 0, errInvalidExpire(cmd)
		}
		ms += now
	}
	return ms, ""
}

func cmdSet(c *Client, args [][]byte) {
	key, val := args[1], args[2]
	if len(args) == 3 {
		// Fast path: plain SET.
		h := hashKey(key)
		e := newStringEntry(h, key, val)
		tx := c.begin()
		tx.lockKey(key)
		tx.put(tx.shardOf(h), e, false)
		tx.notify(notifyString, "set", key)
		tx.emitRaw(c.raw)
		c.commit()
		c.ok()
		return
	}
	o, ok := parseSetOptions(args[3:], true)
	if !ok {
		c.err(errSyntax)
		return
	}
	setGeneric(c, "set", key, val, args[3:], o, false)
}

// setGeneric is Redis' setGenericCommand. nxReply selects SETNX's integer
// replies.
func setGeneric(c *Client, cmd string, key, val []byte, rest [][]byte, o setOptions, nxReply bool) {
	tx := c.begin()
	at := int64(-1)
	if o.kind != expNone {
		var msg string
		if at, msg = expireMillis(o.kind, o.expire, tx.now, cmd); msg != "" {
			c.err(msg)
			return
		}
	}
	tx.lockKey(key)
	defer c.commit()
	var old entry
	var sh *shard
	var found bool
	if o.get {
		old, sh, found = tx.lookupRead(key)
	} else {
		old, sh, found = tx.lookup(key)
	}
	if o.get {
		if found && old.isObject() {
			c.err(errWrongType)
			return
		}
		if found {
			c.bulkString(old.str())
		} else {
			c.null()
		}
	}
	if (o.nx && found) || (o.xx && !found) {
		if nxReply {
			c.int(0)
		} else if !o.get {
			c.null()
		}
		return
	}
	e := newStringEntry(hashKey(key), key, val)
	if at >= 0 {
		e = e.withExp(at)
	}
	tx.put(sh, e, o.keepTTL)
	tx.notify(notifyString, "set", key)
	if at >= 0 {
		tx.notify(notifyGeneric, "expire", key)
	}
	switch {
	case at >= 0:
		tx.emit([]byte("SET"), key, val, []byte("PXAT"), strconv.AppendInt(nil, at, 10))
	case o.get:
		// Without the GET tokens (the reply is not replayed).
		out := make([][]byte, 0, 3+len(rest))
		out = append(out, []byte("SET"), key, val)
		for _, a := range rest {
			if !eqFold(a, "get") {
				out = append(out, a)
			}
		}
		tx.emit(out...)
	case nxReply:
		tx.emit([]byte("SETNX"), key, val)
	default:
		tx.emit(append([][]byte{[]byte("SET"), key, val}, rest...)...)
	}
	if nxReply {
		c.int(1)
	} else if !o.get {
		c.ok()
	}
}

func cmdSetNX(c *Client, args [][]byte) {
	setGeneric(c, "setnx", args[1], args[2], nil, setOptions{nx: true}, true)
}

func cmdSetEX(c *Client, args [][]byte) {
	setGeneric(c, "setex", args[1], args[3], nil, setOptions{kind: expEX, expire: args[2]}, false)
}

func cmdPSetEX(c *Client, args [][]byte) {
	setGeneric(c, "psetex", args[1], args[3], nil, setOptions{kind: expPX, expire: args[2]}, false)
}

func cmdGetSet(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	old, sh, found := tx.lookupRead(key)
	if found && old.isObject() {
		c.err(errWrongType)
		return
	}
	if found {
		c.bulkString(old.str())
	} else {
		c.null()
	}
	tx.put(sh, newStringEntry(hashKey(key), key, args[2]), false)
	tx.notify(notifyString, "set", key)
	tx.emit([]byte("SET"), key, args[2])
}

func cmdGetDel(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, found := tx.lookupRead(key)
	switch {
	case !found:
		c.null()
	case e.isObject():
		c.err(errWrongType)
	default:
		c.bulkString(e.str())
		tx.remove(sh, e)
		tx.notify(notifyGeneric, "del", key)
		tx.emit([]byte("DEL"), key)
	}
}

func cmdGetEX(c *Client, args [][]byte) {
	o, ok := parseSetOptions(args[2:], false)
	if !ok {
		c.err(errSyntax)
		return
	}
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, found := tx.lookupRead(key)
	if !found {
		c.null()
		return
	}
	if e.isObject() {
		c.err(errWrongType)
		return
	}
	at := int64(-1)
	if o.kind != expNone {
		var msg string
		if at, msg = expireMillis(o.kind, o.expire, tx.now, "getex"); msg != "" {
			c.err(msg)
			return
		}
	}
	c.bulkString(e.str())
	switch {
	case (o.kind == expEXAT || o.kind == expPXAT) && at <= tx.now && !tx.hideExpired:
		tx.remove(sh, e)
		tx.notify(notifyGeneric, "del", key)
		tx.emit([]byte("DEL"), key)
	case at >= 0:
		tx.setExpire(sh, e, at)
		tx.notify(notifyGeneric, "expire", key)
		tx.emit([]byte("PEXPIREAT"), key, strconv.AppendInt(nil, at, 10))
	case o.persist:
		if tx.persist(sh, e) {
			tx.notify(notifyGeneric, "persist", key)
			tx.emit([]byte("PERSIST"), key)
		}
	}
}

func cmdMGet(c *Client, args [][]byte) {
	keys := args[1:]
	tx := c.begin()
	tx.lockKeys(keys...)
	c.array(len(keys))
	for _, k := range keys {
		v, found, wrong := readString(tx, k)
		if !found || wrong {
			c.null()
		} else {
			c.bulkString(v)
		}
	}
	c.commit()
}

func msetKeys(args [][]byte) [][]byte {
	keys := make([][]byte, 0, len(args)/2)
	for i := 1; i < len(args); i += 2 {
		keys = append(keys, args[i])
	}
	return keys
}

func cmdMSet(c *Client, args [][]byte) {
	if len(args)%2 == 0 {
		c.err(errArity("mset"))
		return
	}
	tx := c.begin()
	tx.lockKeys(msetKeys(args)...)
	for i := 1; i < len(args); i += 2 {
		h := hashKey(args[i])
		tx.put(tx.shardOf(h), newStringEntry(h, args[i], args[i+1]), false)
		tx.notify(notifyString, "set", args[i])
	}
	tx.emit(args...)
	c.commit()
	c.ok()
}

func cmdMSetNX(c *Client, args [][]byte) {
	if len(args)%2 == 0 {
		c.err(errArity("msetnx"))
		return
	}
	tx := c.begin()
	tx.lockKeys(msetKeys(args)...)
	defer c.commit()
	for i := 1; i < len(args); i += 2 {
		if _, _, found := tx.lookup(args[i]); found {
			c.int(0)
			return
		}
	}
	for i := 1; i < len(args); i += 2 {
		h := hashKey(args[i])
		tx.put(tx.shardOf(h), newStringEntry(h, args[i], args[i+1]), false)
		tx.notify(notifyString, "set", args[i])
	}
	tx.emit(args...)
	c.int(1)
}

func cmdIncr(c *Client, args [][]byte) { incrDecr(c, args[1], 1) }
func cmdDecr(c *Client, args [][]byte) { incrDecr(c, args[1], -1) }
func cmdIncrBy(c *Client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		c.err(errNotInteger)
		return
	}
	incrDecr(c, args[1], n)
}

func cmdDecrBy(c *Client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		c.err(errNotInteger)
		return
	}
	if n == math.MinInt64 {
		c.err("ERR decrement would overflow")
		return
	}
	incrDecr(c, args[1], -n)
}

func incrDecr(c *Client, key []byte, incr int64) {
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, found := tx.lookup(key)
	var v int64
	if found {
		if e.isObject() {
			c.err(errWrongType)
			return
		}
		var ok bool
		if v, ok = parseIntString(e.str()); !ok {
			c.err(errNotInteger)
			return
		}
	}
	if (incr < 0 && v < 0 && incr < math.MinInt64-v) || (incr > 0 && v > 0 && incr > math.MaxInt64-v) {
		c.err(errOverflow)
		return
	}
	v += incr
	var buf [24]byte
	num := strconv.AppendInt(buf[:0], v, 10)
	tx.put(sh, newStringEntry(hashKey(key), key, num), true)
	tx.notify(notifyString, "incrby", key)
	c.emitSelf(tx)
	c.int(v)
}

func cmdIncrByFloat(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, found := tx.lookup(key)
	cur := longDouble{}
	if found {
		if e.isObject() {
			c.err(errWrongType)
			return
		}
		var ok bool
		if cur, ok = parseLongDouble([]byte(e.str())); !ok {
			c.err(errNotFloat)
			return
		}
	} else {
		cur, _ = parseLongDouble([]byte("0"))
	}
	incr, ok := parseLongDouble(args[2])
	if !ok {
		c.err(errNotFloat)
		return
	}
	sum, ok := addLongDouble(cur, incr)
	if !ok || sum.isInf() {
		c.err(errNaNOrInf)
		return
	}
	s := formatLongDoubleHuman(sum)
	tx.put(sh, newStringEntryS(hashKey(key), string(key), s), true)
	tx.notify(notifyString, "incrbyfloat", key)
	tx.emitStrings("SET", string(key), s, "KEEPTTL")
	c.bulkString(s)
}

func cmdAppend(c *Client, args [][]byte) {
	key, add := args[1], args[2]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, found := tx.lookup(key)
	if found && e.isObject() {
		c.err(errWrongType)
		return
	}
	old := ""
	if found {
		old = e.str()
		if int64(len(old))+int64(len(add)) > c.s.protoMaxBulkLen.Load() {
			c.err(errStringTooLong)
			return
		}
	}
	h := hashKey(key)
	ne := newStringEntry(h, key, []byte(old), add)
	tx.put(sh, ne, true)
	tx.notify(notifyString, "append", key)
	c.emitSelf(tx)
	c.int(int64(ne.strLen()))
}

func cmdStrlen(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKey(args[1])
	v, found, wrong := readString(tx, args[1])
	c.commit()
	switch {
	case wrong:
		c.err(errWrongType)
	case !found:
		c.int(0)
	default:
		c.int(int64(len(v)))
	}
}

func cmdGetRange(c *Client, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.err(errNotInteger)
		return
	}
	tx := c.begin()
	tx.lockKey(args[1])
	v, found, wrong := readString(tx, args[1])
	c.commit()
	switch {
	case !found:
		c.bulkString("")
		return
	case wrong:
		c.err(errWrongType)
		return
	}
	n := int64(len(v))
	if start < 0 && end < 0 && start > end {
		c.bulkString("")
		return
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start = max(start, 0)
	end = max(end, 0)
	if uint64(end) >= uint64(n) {
		end = n - 1
	}
	if start > end || n == 0 {
		c.bulkString("")
		return
	}
	c.bulkString(v[start : end+1])
}

func cmdSetRange(c *Client, args [][]byte) {
	key, val := args[1], args[3]
	off, ok := parseInt(args[2])
	if !ok {
		c.err(errNotInteger)
		return
	}
	if off < 0 {
		c.err(errOffsetRange)
		return
	}
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, found := tx.lookup(key)
	if found && e.isObject() {
		c.err(errWrongType)
		return
	}
	old := ""
	if found {
		old = e.str()
	}
	if len(val) == 0 {
		c.int(int64(len(old)))
		return
	}
	if off+int64(len(val)) > c.s.protoMaxBulkLen.Load() || off+int64(len(val)) < off {
		c.err(errStringTooLong)
		return
	}
	n := max(int64(len(old)), off+int64(len(val)))
	nv := make([]byte, n)
	copy(nv, old)
	copy(nv[off:], val)
	ne := newStringEntry(hashKey(key), key, nv)
	tx.put(sh, ne, true)
	tx.notify(notifyString, "setrange", key)
	c.emitSelf(tx)
	c.int(n)
}

// eqFold reports whether b equals the lower-case ASCII word s, ignoring
// case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
