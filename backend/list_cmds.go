package backend

import "strings"

// List commands (t_list.c). Writes are emitted as sent (they are
// deterministic given the list), except the blocking ones, which become
// LPOP/RPOP/LMOVE of what they did (blocking.go).

func listCommands() []*cmdSpec {
	const g = "list"
	acl := []string{"@list"}
	return []*cmdSpec{
		{name: "lpush", handler: pushCmd(listHead, false), arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist.", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."},
		{name: "rpush", handler: pushCmd(listTail, false), arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Appends one or more elements to a list. Creates the key if it doesn't exist.", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."},
		{name: "lpushx", handler: pushCmd(listHead, true), arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.2.0", summary: "Prepends one or more elements to a list only when the list exists.", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."},
		{name: "rpushx", handler: pushCmd(listTail, true), arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.2.0", summary: "Appends an element to a list only when the list exists.", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."},
		{name: "lpop", handler: popCmd(listHead), arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", complexity: "O(N) where N is the number of elements returned"},
		{name: "rpop", handler: popCmd(listTail), arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", complexity: "O(N) where N is the number of elements returned"},
		{name: "llen", handler: cmdLLen, arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns the length of a list.", complexity: "O(1)"},
		{name: "lrange", handler: cmdLRange, arity: 4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns a range of elements from a list.", complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range."},
		{name: "lindex", handler: cmdLIndex, arity: 3, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns an element from a list by its index.", complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1)."},
		{name: "lset", handler: cmdLSet, arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Sets the value of an element in a list by its index.", complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1)."},
		{name: "lrem", handler: cmdLRem, arity: 4, flags: flagWrite, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Removes elements from a list. Deletes the list if the last element was removed.", complexity: "O(N+M) where N is the length of the list and M is the number of elements removed."},
		{name: "ltrim", handler: cmdLTrim, arity: 4, flags: flagWrite, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", complexity: "O(N) where N is the number of elements to be removed by the operation."},
		{name: "linsert", handler: cmdLInsert, arity: 5, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.2.0", summary: "Inserts an element before or after another element in a list.", complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N)."},
		{name: "lpos", handler: cmdLPos, arity: -3, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "6.0.6", summary: "Returns the index of matching elements in a list.", complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time."},
		{name: "rpoplpush", handler: cmdRPopLPush, arity: 3, flags: flagWrite | flagDenyOOM, first: 1, last: 2, step: 1, group: g, acl: acl, since: "1.2.0", summary: "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", complexity: "O(1)"},
		{name: "lmove", handler: cmdLMove, arity: 5, flags: flagWrite | flagDenyOOM, first: 1, last: 2, step: 1, group: g, acl: acl, since: "6.2.0", summary: "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", complexity: "O(1)"},
		{name: "lmpop", handler: cmdLMPop, arity: -4, flags: flagWrite | flagMovableKeys, keys: numkeysAt(1), group: g, acl: acl, since: "7.0.0", summary: "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned."},
	}
}

// numkeysAt returns the key positions of a command whose argument i is
// the number of keys that follow it (LMPOP, ZUNION, SINTERCARD...). A bad
// count gives the positions that exist; the handler reports the error
// before locking anything.
func numkeysAt(i int) func(args [][]byte) []int {
	return func(args [][]byte) []int {
		if i >= len(args) {
			return nil
		}
		n, ok := parseInt(args[i])
		if !ok || n < 1 {
			return nil
		}
		var pos []int
		for j := i + 1; j < len(args) && int64(j-i) <= n; j++ {
			pos = append(pos, j)
		}
		return pos
	}
}

// destAndNumkeys is numkeysAt(2) plus the destination at 1 (ZUNIONSTORE,
// ZDIFFSTORE, ZINTERSTORE, ZRANGESTORE's source is fixed).
func destAndNumkeys(args [][]byte) []int {
	return append([]int{1}, numkeysAt(2)(args)...)
}

func pushCmd(where int, xx bool) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		key := args[1]
		tx := c.begin()
		tx.lockKey(key)
		defer c.commit()
		l, e, sh, found, wrong := lookupObject[*listObj](tx, key, false)
		if wrong {
			c.err(errWrongType)
			return
		}
		if !found {
			if xx {
				c.int(0)
				return
			}
			l = newListObj()
			for _, v := range args[2:] {
				l.push(string(v), where)
			}
			tx.putObject(key, l, false)
		} else {
			l = mutable[*listObj](tx, sh, e)
			for _, v := range args[2:] {
				l.push(string(v), where)
			}
			tx.modified(sh, key)
		}
		tx.notify(notifyList, listPushEvent[where], key)
		c.emitSelf(tx)
		c.int(int64(l.Len()))
	}
}

func popCmd(where int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		if len(args) > 3 {
			c.err(errArity(c.cmdName()))
			return
		}
		hasCount := len(args) == 3
		count := int64(1)
		if hasCount {
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
		_, e, sh, found, wrong := lookupObject[*listObj](tx, key, false)
		switch {
		case !found && hasCount:
			c.nullArray()
			return
		case !found:
			c.null()
			return
		case wrong:
			c.err(errWrongType)
			return
		case hasCount && count == 0:
			c.array(0)
			return
		}
		vals := listPop(tx, sh, e, key, where, int(min(count, int64(1)<<31)))
		c.emitSelf(tx)
		if !hasCount {
			c.bulkString(vals[0])
			return
		}
		c.array(len(vals))
		for _, v := range vals {
			c.bulkString(v)
		}
	}
}

// cmdName is the current command's name (for arity errors raised by
// handlers).
func (c *Client) cmdName() string { return strings.ToLower(string(c.args[0])) }

func cmdLLen(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKey(args[1])
	l, _, _, found, wrong := lookupObject[*listObj](tx, args[1], true)
	n := 0
	if found && !wrong {
		n = l.Len()
	}
	c.commit()
	if wrong {
		c.err(errWrongType)
		return
	}
	c.int(int64(n))
}

func cmdLRange(c *Client, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.err(errNotInteger)
		return
	}
	tx := c.begin()
	tx.lockKey(args[1])
	l, _, _, found, wrong := lookupObject[*listObj](tx, args[1], true)
	if wrong {
		c.commit()
		c.err(errWrongType)
		return
	}
	out := c.gather(0)
	if found {
		if s, e, ok := rangeBounds(start, end, l.Len()); ok {
			out = c.gather(e - s + 1)
			l.t.Ascend(s, func(i int, v string) bool {
				out = append(out, v)
				return i < e
			})
		}
	}
	c.commit()
	c.bulkStrings(out)
}

func cmdLIndex(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKey(args[1])
	l, _, _, found, wrong := lookupObject[*listObj](tx, args[1], true)
	var v string
	have, bad := false, false
	if found && !wrong {
		idx, ok := parseInt(args[2])
		bad = !ok
		var i int
		if i, have = l.index(idx); have && ok {
			v = l.t.At(i)
		}
	}
	c.commit()
	switch {
	case wrong:
		c.err(errWrongType)
	case bad:
		c.err(errNotInteger)
	case !have:
		c.null()
	default:
		c.bulkString(v)
	}
}

func cmdLSet(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	l, e, sh, found, wrong := lookupObject[*listObj](tx, key, false)
	switch {
	case !found:
		c.err(errNoSuchKey)
		return
	case wrong:
		c.err(errWrongType)
		return
	}
	idx, ok := parseInt(args[2])
	if !ok {
		c.err(errNotInteger)
		return
	}
	i, ok := l.index(idx)
	if !ok {
		c.err("ERR index out of range")
		return
	}
	l = mutable[*listObj](tx, sh, e)
	l.t.Set(i, string(args[3]))
	tx.modified(sh, key)
	tx.notify(notifyList, "lset", key)
	c.emitSelf(tx)
	c.ok()
}

func cmdLTrim(c *Client, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.err(errNotInteger)
		return
	}
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	l, e, sh, found, wrong := lookupObject[*listObj](tx, key, false)
	switch {
	case !found:
		c.ok()
		return
	case wrong:
		c.err(errWrongType)
		return
	}
	n := l.Len()
	l = mutable[*listObj](tx, sh, e)
	if s, last, ok := rangeBounds(start, end, n); ok {
		l.t.DeleteRange(last+1, n)
		l.t.DeleteRange(0, s)
	} else {
		l.t.DeleteRange(0, n)
	}
	tx.notify(notifyList, "ltrim", key)
	if !tx.notifyDel(dropIfEmpty(tx, key, l), key) {
		tx.modified(sh, key)
	}
	c.emitSelf(tx)
	c.ok()
}

func cmdLRem(c *Client, args [][]byte) {
	count, ok := parseInt(args[2])
	if !ok {
		c.err(errNotInteger)
		return
	}
	key, elem := args[1], bstr(args[3])
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	l, e, sh, found, wrong := lookupObject[*listObj](tx, key, false)
	switch {
	case !found:
		c.int(0)
		return
	case wrong:
		c.err(errWrongType)
		return
	}
	var pos []int
	match := func(i int, v string) bool {
		if v == elem {
			pos = append(pos, i)
		}
		return count == 0 || int64(len(pos)) < abs64(count)
	}
	if count < 0 {
		l.t.Descend(l.Len()-1, match)
	} else {
		l.t.Ascend(0, match)
	}
	if len(pos) == 0 {
		c.int(0)
		return
	}
	l = mutable[*listObj](tx, sh, e)
	if len(pos) > l.Len()/4 && len(pos) > 64 {
		kept := make([]string, 0, l.Len()-len(pos))
		drop := make(map[int]bool, len(pos))
		for _, p := range pos {
			drop[p] = true
		}
		l.t.Ascend(0, func(i int, v string) bool {
			if !drop[i] {
				kept = append(kept, v)
			}
			return true
		})
		l.t = btreeFrom(kept)
	} else {
		if count >= 0 {
			// Delete from the highest position down: lower ones stay valid.
			for i := len(pos) - 1; i >= 0; i-- {
				l.t.Delete(pos[i])
			}
		} else {
			for _, p := range pos {
				l.t.Delete(p)
			}
		}
	}
	tx.notify(notifyList, "lrem", key)
	if !tx.notifyDel(dropIfEmpty(tx, key, l), key) {
		tx.modified(sh, key)
	}
	c.emitSelf(tx)
	c.int(int64(len(pos)))
}

func abs64(x int64) int64 {
	if x < 0 {
		if x == -x {
			return x - 1 // MinInt64: as good as infinite
		}
		return -x
	}
	return x
}

func cmdLInsert(c *Client, args [][]byte) {
	var after bool
	switch {
	case eqFold(args[2], "after"):
		after = true
	case eqFold(args[2], "before"):
	default:
		c.err(errSyntax)
		return
	}
	key, pivot := args[1], bstr(args[3])
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	l, e, sh, found, wrong := lookupObject[*listObj](tx, key, false)
	switch {
	case !found:
		c.int(0)
		return
	case wrong:
		c.err(errWrongType)
		return
	}
	at := -1
	l.t.Ascend(0, func(i int, v string) bool {
		if v == pivot {
			at = i
			return false
		}
		return true
	})
	if at < 0 {
		c.int(-1)
		return
	}
	if after {
		at++
	}
	l = mutable[*listObj](tx, sh, e)
	l.t.Insert(at, string(args[4]))
	tx.modified(sh, key)
	tx.notify(notifyList, "linsert", key)
	c.emitSelf(tx)
	c.int(int64(l.Len()))
}

func cmdLPos(c *Client, args [][]byte) {
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for j := 3; j < len(args); j++ {
		more := j+1 < len(args)
		switch {
		case eqFold(args[j], "rank") && more:
			j++
			r, ok := parseInt(args[j])
			if !ok {
				c.err(errNotInteger)
				return
			}
			if r == -1<<63 {
				// Redis 7.0 negates it without a check: it stays
				// negative and matches from the first one at the tail.
				r = -1
			}
			if r == 0 {
				c.err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
				return
			}
			rank = r
		case eqFold(args[j], "count") && more:
			j++
			n, ok := parseInt(args[j])
			if !ok || n < 0 {
				c.err("ERR COUNT can't be negative")
				return
			}
			count = n
		case eqFold(args[j], "maxlen") && more:
			j++
			n, ok := parseInt(args[j])
			if !ok || n < 0 {
				c.err("ERR MAXLEN can't be negative")
				return
			}
			maxlen = n
		default:
			c.err(errSyntax)
			return
		}
	}
	tx := c.begin()
	tx.lockKey(args[1])
	l, _, _, found, wrong := lookupObject[*listObj](tx, args[1], true)
	if wrong {
		c.commit()
		c.err(errWrongType)
		return
	}
	var matches []int
	if found {
		elem := bstr(args[2])
		skip := abs64(rank) - 1
		want := count
		if want < 0 {
			want = 1
		}
		seen := int64(0)
		visit := func(i int, v string) bool {
			if maxlen > 0 && seen >= maxlen {
				return false
			}
			seen++
			if v == elem {
				if skip > 0 {
					skip--
				} else {
					matches = append(matches, i)
					if want > 0 && int64(len(matches)) >= want {
						return false
					}
				}
			}
			return true
		}
		if rank < 0 {
			l.t.Descend(l.Len()-1, visit)
		} else {
			l.t.Ascend(0, visit)
		}
	}
	c.commit()
	if count < 0 {
		if len(matches) == 0 {
			c.null()
		} else {
			c.int(int64(matches[0]))
		}
		return
	}
	c.array(len(matches))
	for _, m := range matches {
		c.int(int64(m))
	}
}

func cmdRPopLPush(c *Client, args [][]byte) {
	lmoveGeneric(c, args[1], args[2], listTail, listHead)
}

func cmdLMove(c *Client, args [][]byte) {
	from, ok1 := parseWhere(args[3])
	to, ok2 := parseWhere(args[4])
	if !ok1 || !ok2 {
		c.err(errSyntax)
		return
	}
	lmoveGeneric(c, args[1], args[2], from, to)
}

func lmoveGeneric(c *Client, src, dst []byte, from, to int) {
	tx := c.begin()
	tx.lockKeys(src, dst)
	defer c.commit()
	v, ok, msg := listMove(tx, src, dst, from, to)
	switch {
	case msg != "":
		c.err(msg)
	case !ok:
		c.null()
	default:
		c.emitSelf(tx)
		c.bulkString(v)
	}
}

// mpopArgs are LMPOP/BLMPOP/ZMPOP/BZMPOP's parsed arguments.
type mpopArgs struct {
	keys  [][]byte
	where int // listHead/listTail, or zsetMin/zsetMax
	count int64
}

// parseMpop parses "numkeys key... WHERE [COUNT n]" from args[i] on;
// parseWhere reads the direction.
func parseMpop(args [][]byte, i int, where func([]byte) (int, bool)) (mpopArgs, string) {
	var m mpopArgs
	n, ok := parseInt(args[i])
	if !ok || n < 1 {
		return m, "ERR numkeys should be greater than 0"
	}
	wi := int64(i) + n + 1
	if wi >= int64(len(args)) {
		return m, errSyntax
	}
	m.keys = args[i+1 : wi]
	if m.where, ok = where(args[wi]); !ok {
		return m, errSyntax
	}
	m.count = -1
	for j := int(wi) + 1; j < len(args); j++ {
		if m.count == -1 && eqFold(args[j], "count") && j+1 < len(args) {
			j++
			cnt, ok := parseInt(args[j])
			if !ok || cnt < 1 {
				return m, "ERR count should be greater than 0"
			}
			m.count = cnt
			continue
		}
		return m, errSyntax
	}
	if m.count == -1 {
		m.count = 1
	}
	return m, ""
}

func cmdLMPop(c *Client, args [][]byte) {
	m, msg := parseMpop(args, 1, parseWhere)
	if msg != "" {
		c.err(msg)
		return
	}
	tx := c.begin()
	tx.lockKeys(m.keys...)
	defer c.commit()
	for _, k := range m.keys {
		_, e, sh, found, wrong := lookupObject[*listObj](tx, k, false)
		if wrong {
			c.err(errWrongType)
			return
		}
		if !found {
			continue
		}
		vals := listPop(tx, sh, e, k, m.where, int(min(m.count, 1<<31)))
		tx.emit(lpopName(m.where), k, itoa(len(vals)))
		c.array(2)
		c.bulk(k)
		c.array(len(vals))
		for _, v := range vals {
			c.bulkString(v)
		}
		return
	}
	c.nullArray()
}

func lpopName(where int) []byte {
	if where == listHead {
		return []byte("LPOP")
	}
	return []byte("RPOP")
}
