package backend

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// Generic key commands (db.c, expire.c).

func keyCommands() []*cmdSpec {
	const g = "generic"
	return []*cmdSpec{
		{name: "del", handler: cmdDel, arity: -2, flags: flagWrite, first: 1, last: -1, step: 1, group: g, since: "1.0.0", summary: "Deletes one or more keys.", complexity: "O(N) where N is the number of keys that will be removed."},
		{name: "unlink", handler: cmdDel, arity: -2, flags: flagWrite | flagFast, first: 1, last: -1, step: 1, group: g, since: "4.0.0", summary: "Asynchronously deletes one or more keys.", complexity: "O(1) for each key removed regardless of its size."},
		{name: "exists", handler: cmdExists, arity: -2, flags: flagReadonly | flagFast, first: 1, last: -1, step: 1, group: g, since: "1.0.0", summary: "Determines whether one or more keys exist.", complexity: "O(N) where N is the number of keys to check."},
		{name: "touch", handler: cmdExists, arity: -2, flags: flagReadonly | flagFast, first: 1, last: -1, step: 1, group: g, since: "3.2.1", summary: "Returns the number of existing keys out of those specified after updating the time they were last accessed.", complexity: "O(N) where N is the number of keys that will be touched."},
		{name: "type", handler: cmdType, arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Determines the type of value stored at a key.", complexity: "O(1)"},
		{name: "expire", handler: expireCmd(0, false, "expire"), arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Sets the expiration time of a key in seconds.", complexity: "O(1)"},
		{name: "pexpire", handler: expireCmd(0, true, "pexpire"), arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.6.0", summary: "Sets the expiration time of a key in milliseconds.", complexity: "O(1)"},
		{name: "expireat", handler: expireCmd(1, false, "expireat"), arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.2.0", summary: "Sets the expiration time of a key to a Unix timestamp.", complexity: "O(1)"},
		{name: "pexpireat", handler: expireCmd(1, true, "pexpireat"), arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.6.0", summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.", complexity: "O(1)"},
		{name: "ttl", handler: ttlCmd(false, false), arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, since: "1.0.0", summary: "Returns the expiration time in seconds of a key.", complexity: "O(1)"},
		{name: "pttl", handler: ttlCmd(true, false), arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.6.0", summary: "Returns the expiration time in milliseconds of a key.", complexity: "O(1)"},
		{name: "expiretime", handler: ttlCmd(false, true), arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, since: "7.0.0", summary: "Returns the expiration time of a key as a Unix timestamp.", complexity: "O(1)"},
		{name: "pexpiretime", handler: ttlCmd(true, true), arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, since: "7.0.0", summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.", complexity: "O(1)"},
		{name: "persist", handler: cmdPersist, arity: 2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.2.0", summary: "Removes the expiration time of a key.", complexity: "O(1)"},
		{name: "rename", handler: renameCmd(false), arity: 3, flags: flagWrite, first: 1, last: 2, step: 1, group: g, since: "1.0.0", summary: "Renames a key and overwrites the destination.", complexity: "O(1)"},
		{name: "renamenx", handler: renameCmd(true), arity: 3, flags: flagWrite | flagFast, first: 1, last: 2, step: 1, group: g, since: "1.0.0", summary: "Renames a key only when the target key name doesn't exist.", complexity: "O(1)"},
		{name: "randomkey", handler: cmdRandomKey, arity: 1, flags: flagReadonly, group: g, since: "1.0.0", summary: "Returns a random key name from the database.", complexity: "O(1)"},
		{name: "keys", handler: cmdKeys, arity: 2, flags: flagReadonly, group: g, since: "1.0.0", summary: "Returns all key names that match a pattern.", complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length."},
		{name: "scan", handler: cmdScan, arity: -2, flags: flagReadonly, group: g, since: "2.8.0", summary: "Iterates over the key names in the database.", complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."},
		{name: "dbsize", handler: cmdDBSize, arity: 1, flags: flagReadonly | flagFast, group: "server", since: "1.0.0", summary: "Returns the number of keys in the database.", complexity: "O(1)"},
		{name: "flushdb", handler: cmdFlush, arity: -1, flags: flagWrite, group: "server", since: "1.0.0", summary: "Remove all keys from the current database.", complexity: "O(N) where N is the number of keys in the selected database", acl: []string{"@keyspace", "@dangerous"}},
		{name: "flushall", handler: cmdFlush, arity: -1, flags: flagWrite, group: "server", since: "1.0.0", summary: "Removes all keys from all databases.", complexity: "O(N) where N is the total number of keys in all databases", acl: []string{"@keyspace", "@dangerous"}},
		{name: "object", arity: -2, group: g, since: "2.2.3", summary: "A container for object introspection commands.", complexity: "Depends on subcommand.",
			subs: subcommands("object",
				&cmdSpec{name: "encoding", handler: cmdObjectEncoding, arity: 3, flags: flagReadonly, first: 2, last: 2, step: 1, group: g, since: "2.2.3", summary: "Returns the internal encoding of a Redis object.", complexity: "O(1)"},
				&cmdSpec{name: "help", handler: helpCmd("OBJECT", objectHelp), arity: 2, flags: flagLoading | flagStale, group: g, since: "6.2.0", summary: "Returns helpful text about the different subcommands.", complexity: "O(1)"},
			)},
	}
}

var objectHelp = []string{
	"ENCODING <key>",
	"    Return the kind of internal representation used in order to store the value",
	"    associated with a <key>.",
}

func cmdDel(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKeys(args[1:]...)
	n := int64(0)
	for _, k := range args[1:] {
		if e, sh, ok := tx.lookup(k); ok {
			tx.remove(sh, e)
			tx.notify(notifyGeneric, "del", k)
			n++
		}
	}
	if n > 0 {
		c.emitSelf(tx)
	}
	c.commit()
	c.int(n)
}

// cmdExists serves EXISTS and TOUCH: the number of keys that exist.
func cmdExists(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKeys(args[1:]...)
	n := int64(0)
	for _, k := range args[1:] {
		if _, _, ok := tx.lookupRead(k); ok {
			n++
		}
	}
	c.commit()
	c.int(n)
}

func cmdType(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKey(args[1])
	e, _, ok := tx.lookupRead(args[1])
	t := "none"
	if ok {
		t = e.typeName()
	}
	c.commit()
	c.status(t)
}

// Expire option flags.
const (
	expireNX = 1 << iota
	expireXX
	expireGT
	expireLT
)

// expireCmd builds EXPIRE (abs=false, ms=false), PEXPIRE, EXPIREAT and
// PEXPIREAT: Redis' expireGenericCommand.
func expireCmd(abs int, ms bool, name string) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		flags := 0
		for _, a := range args[3:] {
			switch {
			case eqFold(a, "nx"):
				flags |= expireNX
			case eqFold(a, "xx"):
				flags |= expireXX
			case eqFold(a, "gt"):
				flags |= expireGT
			case eqFold(a, "lt"):
				flags |= expireLT
			default:
				c.err("ERR Unsupported option " + cstr(a))
				return
			}
		}
		if flags&expireNX != 0 && flags&(expireXX|expireGT|expireLT) != 0 {
			c.err("ERR NX and XX, GT or LT options at the same time are not compatible")
			return
		}
		if flags&expireGT != 0 && flags&expireLT != 0 {
			c.err("ERR GT and LT options at the same time are not compatible")
			return
		}
		when, ok := parseInt(args[2])
		if !ok {
			c.err(errNotInteger)
			return
		}
		if !ms {
			if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
				c.err(errInvalidExpire(name))
				return
			}
			when *= 1000
		}
		key := args[1]
		tx := c.begin()
		base := int64(0)
		if abs == 0 {
			base = tx.now
		}
		if when > math.MaxInt64-base {
			c.err(errInvalidExpire(name))
			return
		}
		when += base
		tx.lockKey(key)
		defer c.commit()
		e, sh, found := tx.lookup(key)
		if !found {
			c.int(0)
			return
		}
		if flags != 0 {
			cur := tx.expireAt(sh, e)
			if (flags&expireNX != 0 && cur != -1) ||
				(flags&expireXX != 0 && cur == -1) ||
				(flags&expireGT != 0 && (when <= cur || cur == -1)) ||
				(flags&expireLT != 0 && cur != -1 && when >= cur) {
				c.int(0)
				return
			}
		}
		if when <= tx.now && !tx.noExpire && !tx.hideExpired {
			tx.remove(sh, e)
			tx.notify(notifyGeneric, "del", key)
			tx.emit([]byte("DEL"), key)
			c.int(1)
			return
		}
		tx.setExpire(sh, e, when)
		tx.notify(notifyGeneric, "expire", key)
		tx.emit([]byte("PEXPIREAT"), key, strconv.AppendInt(nil, when, 10))
		c.int(1)
	}
}

// ttlCmd builds TTL, PTTL, EXPIRETIME and PEXPIRETIME.
func ttlCmd(ms, abs bool) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		tx := c.begin()
		tx.lockKey(args[1])
		e, sh, found := tx.lookupRead(args[1])
		at := int64(-1)
		if found {
			at = tx.expireAt(sh, e)
		}
		now := tx.now
		c.commit()
		if !found {
			c.int(-2)
			return
		}
		if at == -1 {
			c.int(-1)
			return
		}
		ttl := at
		if !abs {
			ttl = at - now
		}
		ttl = max(ttl, 0)
		if ms {
			c.int(ttl)
		} else {
			c.int((ttl + 500) / 1000)
		}
	}
}

func cmdPersist(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKey(args[1])
	defer c.commit()
	e, sh, found := tx.lookup(args[1])
	if found && tx.persist(sh, e) {
		tx.notify(notifyGeneric, "persist", args[1])
		c.emitSelf(tx)
		c.int(1)
		return
	}
	c.int(0)
}

func renameCmd(nx bool) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		src, dst := args[1], args[2]
		tx := c.begin()
		tx.lockKeys(src, dst)
		defer c.commit()
		e, sh, found := tx.lookup(src)
		if !found {
			c.err(errNoSuchKey)
			return
		}
		if string(src) == string(dst) {
			if nx {
				c.int(0)
			} else {
				c.ok()
			}
			return
		}
		at := tx.expireAt(sh, e)
		old, dsh, exists := tx.lookup(dst)
		if exists {
			if nx {
				c.int(0)
				return
			}
			tx.remove(dsh, old)
		}
		h := hashKey(dst)
		var ne entry
		if e.isObject() {
			r := e.rec()
			// Keep the generation: a snapshot may share the object.
			ne = newObjectEntry(h, string(dst), r.obj, r.gen)
		} else {
			ne = newStringEntry(h, dst, []byte(e.str()))
		}
		tx.remove(sh, e)
		tx.put(dsh, ne, false)
		if at >= 0 {
			tx.setExpire(dsh, ne, at)
		}
		tx.notify(notifyGeneric, "rename_from", src)
		tx.notify(notifyGeneric, "rename_to", dst)
		c.emitSelf(tx)
		if nx {
			c.int(1)
		} else {
			c.ok()
		}
	}
}

func cmdRandomKey(c *Client, args [][]byte) {
	ks := c.s.ks
	for tries := 0; tries < 100; tries++ {
		var sizes [numShards]int
		total := 0
		for i := range ks.shards {
			sh := &ks.shards[i]
			sh.mu.Lock()
			sizes[i] = sh.keys.Len()
			sh.mu.Unlock()
			total += sizes[i]
		}
		if total == 0 {
			c.null()
			return
		}
		r := rand.IntN(total)
		i := 0
		for ; r >= sizes[i]; i++ {
			r -= sizes[i]
		}
		tx := c.begin()
		tx.lockShard(i)
		sh := &ks.shards[i]
		e, ok := sh.keys.GetAt(r)
		if !ok {
			c.commit()
			continue
		}
		if tx.expired(sh, e) {
			if tx.hideExpired && tries < 99 {
				c.commit()
				continue
			}
			if !tx.hideExpired {
				tx.deleteExpired(sh, e)
				c.commit()
				continue
			}
		}
		k := e.key()
		c.commit()
		c.bulkString(k)
		return
	}
	c.null()
}

func cmdKeys(c *Client, args [][]byte) {
	pat := string(args[1])
	all := pat == "*"
	snap := c.s.ks.Snapshot(false)
	defer snap.Release()
	now := c.now()
	var keys []string
	snap.Range(0, func(it snapItem) bool {
		if it.at >= 0 && now > it.at && !c.tx.noExpire {
			return true
		}
		k := it.e.key()
		if all || globMatch(pat, k, false) {
			keys = append(keys, k)
		}
		return true
	})
	c.array(len(keys))
	for _, k := range keys {
		c.bulkString(k)
	}
}

// parseScanCursor is Redis 7.0's parseScanCursorOrReply: strtoul, no
// leading space, no trailing garbage, no overflow.
func parseScanCursor(b []byte) (uint64, bool) {
	if len(b) > 0 && isSpace(b[0]) {
		return 0, false
	}
	i := 0
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	if i == len(b) {
		// strtoul made no conversion: valid only for the empty string.
		return 0, len(b) == 0
	}
	var v uint64
	for ; i < len(b); i++ {
		if !isDigit(b[i]) {
			return 0, false
		}
		d := uint64(b[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		v = -v
	}
	return v, true
}

// scanOptions are SCAN's (and later HSCAN/SSCAN/ZSCAN's) options.
type scanOptions struct {
	count   int64
	pattern string
	match   bool
	typ     string
}

// parseScanOptions parses MATCH/COUNT/TYPE from args; withType allows TYPE.
func parseScanOptions(args [][]byte, withType bool) (scanOptions, string) {
	o := scanOptions{count: 10}
	for i := 0; i < len(args); i += 2 {
		left := len(args) - i
		a := args[i]
		switch {
		case eqFold(a, "count") && left >= 2:
			n, ok := parseInt(args[i+1])
			if !ok {
				return o, errNotInteger
			}
			if n < 1 {
				return o, errSyntax
			}
			o.count = n
		case eqFold(a, "match") && left >= 2:
			o.pattern = string(args[i+1])
			o.match = o.pattern != "*"
		case eqFold(a, "type") && left >= 2 && withType:
			o.typ = string(args[i+1])
		default:
			return o, errSyntax
		}
	}
	return o, ""
}

func cmdScan(c *Client, args [][]byte) {
	cursor, ok := parseScanCursor(args[1])
	if !ok {
		c.err(errInvalidCursor)
		return
	}
	o, msg := parseScanOptions(args[2:], true)
	if msg != "" {
		c.err(msg)
		return
	}
	keys, next := c.scanKeys(cursor, o)
	c.array(2)
	c.bulkString(strconv.FormatUint(next, 10))
	c.array(len(keys))
	for _, k := range keys {
		c.bulkString(k)
	}
}

// scanKeys visits about o.count keys in (hash, key) order from cursor (a
// hash value) and returns the matching ones and the next cursor (0 at the
// end). A group of keys sharing a hash is never split, so every key present
// for the whole iteration is returned exactly once.
func (c *Client) scanKeys(cursor uint64, o scanOptions) ([]string, uint64) {
	ks := c.s.ks
	var keys []string
	visited := int64(0)
	var expired []entry
	last := uint64(0)
	for i := shardIndex(cursor); i < numShards; i++ {
		tx := c.begin()
		tx.lockShard(i)
		sh := &ks.shards[i]
		stopped := false
		next := uint64(0)
		expired = expired[:0]
		sh.keys.Ascend(cursor, func(e entry) bool {
			if visited >= o.count && e.hash != last {
				// The next cursor is the first hash not visited.
				stopped, next = true, e.hash
				return false
			}
			visited++
			last = e.hash
			if tx.expired(sh, e) {
				expired = append(expired, e)
				return true
			}
			if o.typ != "" && !eqFoldString(e.typeName(), o.typ) {
				return true
			}
			k := e.key()
			if o.match && !globMatch(o.pattern, k, false) {
				return true
			}
			keys = append(keys, k)
			return true
		})
		if !tx.hideExpired {
			for _, e := range expired {
				tx.deleteExpired(sh, e)
			}
		}
		c.commit()
		if stopped {
			return keys, next
		}
		if i+1 < numShards {
			cursor = uint64(i+1) << (64 - shardBits)
		}
	}
	return keys, 0
}

func eqFoldString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	return eqFold([]byte(b), a)
}

func cmdDBSize(c *Client, args [][]byte) { c.int(int64(c.s.ks.Len())) }

func cmdFlush(c *Client, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !eqFold(args[1], "sync") && !eqFold(args[1], "async")) {
		c.err(errSyntax)
		return
	}
	tx := c.begin()
	tx.lockAll()
	tx.flush()
	tx.emitStrings("FLUSHALL")
	c.commit()
	c.ok()
}

func cmdObjectEncoding(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKey(args[2])
	e, _, ok := tx.lookup(args[2])
	enc := ""
	if ok {
		if e.isObject() {
			enc = e.rec().obj.Encoding()
		} else {
			enc = stringEncoding(e.str())
		}
	}
	c.commit()
	if !ok {
		c.null()
		return
	}
	c.bulkString(enc)
}

// stringEncoding is the encoding Redis would report for a string value.
func stringEncoding(v string) string {
	if len(v) <= 20 {
		if _, ok := parseIntString(v); ok {
			return "int"
		}
	}
	if len(v) <= 44 {
		return "embstr"
	}
	return "raw"
}
