package backend

import (
	"math/rand/v2"
	"slices"
	"strconv"
)

// Set commands (t_set.c). SADD, SREM, SMOVE and the STORE forms are
// emitted as sent (deterministic); SPOP becomes SREM of what it popped (or
// DEL when it took everything).

func setCommands() []*cmdSpec {
	const g = "set"
	acl := []string{"@set"}
	return []*cmdSpec{
		{name: "sadd", handler: cmdSAdd, arity: -3, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Adds one or more members to a set. Creates the key if it doesn't exist.", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."},
		{name: "srem", handler: cmdSRem, arity: -3, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Removes one or more members from a set. Deletes the set if the last member was removed.", complexity: "O(N) where N is the number of members to be removed."},
		{name: "smembers", handler: setopCmd(setopInter, false, false), arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns all members of a set.", complexity: "O(N) where N is the set cardinality."},
		{name: "sismember", handler: cmdSIsMember, arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Determines whether a member belongs to a set.", complexity: "O(1)"},
		{name: "smismember", handler: cmdSMIsMember, arity: -3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "6.2.0", summary: "Determines whether multiple members belong to a set.", complexity: "O(N) where N is the number of elements being checked for membership"},
		{name: "scard", handler: cmdSCard, arity: 2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns the number of members in a set.", complexity: "O(1)"},
		{name: "spop", handler: cmdSPop, arity: -2, flags: flagWrite | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count."},
		{name: "srandmember", handler: cmdSRandMember, arity: -2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Get one or multiple random members from a set", complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count."},
		{name: "smove", handler: cmdSMove, arity: 4, flags: flagWrite | flagFast, first: 1, last: 2, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Moves a member from one set to another.", complexity: "O(1)"},
		{name: "sinter", handler: setopCmd(setopInter, false, false), arity: -2, flags: flagReadonly, first: 1, last: -1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns the intersect of multiple sets.", complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."},
		{name: "sinterstore", handler: setopCmd(setopInter, true, false), arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Stores the intersect of multiple sets in a key.", complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."},
		{name: "sintercard", handler: setopCmd(setopInter, false, true), arity: -3, flags: flagReadonly | flagMovableKeys, keys: numkeysAt(1), group: g, acl: acl, since: "7.0.0", summary: "Returns the number of members of the intersect of multiple sets.", complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."},
		{name: "sunion", handler: setopCmd(setopUnion, false, false), arity: -2, flags: flagReadonly, first: 1, last: -1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns the union of multiple sets.", complexity: "O(N) where N is the total number of elements in all given sets."},
		{name: "sunionstore", handler: setopCmd(setopUnion, true, false), arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Stores the union of multiple sets in a key.", complexity: "O(N) where N is the total number of elements in all given sets."},
		{name: "sdiff", handler: setopCmd(setopDiff, false, false), arity: -2, flags: flagReadonly, first: 1, last: -1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Returns the difference of multiple sets.", complexity: "O(N) where N is the total number of elements in all given sets."},
		{name: "sdiffstore", handler: setopCmd(setopDiff, true, false), arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 1, group: g, acl: acl, since: "1.0.0", summary: "Stores the difference of multiple sets in a key.", complexity: "O(N) where N is the total number of elements in all given sets."},
		{name: "sscan", handler: cmdSScan, arity: -3, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.6.0", summary: "Iterates over members of a set.", complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."},
	}
}

func cmdSAdd(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	s, e, sh, found, wrong := lookupObject[*setObj](tx, key, false)
	if wrong {
		c.err(errWrongType)
		return
	}
	lim := &c.s.limits
	n := 0
	if !found {
		s = newSetFor(args[2])
		for _, m := range args[2:] {
			if s.add(lim, m) {
				n++
			}
		}
		tx.putObject(key, s, false)
	} else {
		mut := mutable[*setObj](tx, sh, e)
		for _, m := range args[2:] {
			if mut.add(lim, m) {
				n++
			}
		}
		if n > 0 {
			tx.modified(sh, key)
		}
	}
	if n > 0 {
		tx.notify(notifySet, "sadd", key)
		c.emitSelf(tx)
	}
	c.int(int64(n))
}

func cmdSRem(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	s, e, sh, found, wrong := lookupObject[*setObj](tx, key, false)
	switch {
	case !found:
		c.int(0)
		return
	case wrong:
		c.err(errWrongType)
		return
	}
	n := 0
	var mut *setObj
	for _, m := range args[2:] {
		if mut == nil {
			if !s.has(m) {
				continue
			}
			mut = mutable[*setObj](tx, sh, e)
		}
		if mut.remove(m) {
			n++
			if mut.Len() == 0 {
				break
			}
		}
	}
	if n > 0 {
		tx.notify(notifySet, "srem", key)
		if !tx.notifyDel(dropIfEmpty(tx, key, mut), key) {
			tx.modified(sh, key)
		}
		c.emitSelf(tx)
	}
	c.int(int64(n))
}

// readSet looks a set up for a read command; on WRONGTYPE it replies and
// returns ok false.
func readSet(c *Client, key []byte) (*setObj, bool, bool) {
	tx := c.begin()
	tx.lockKey(key)
	s, _, _, found, wrong := lookupObject[*setObj](tx, key, true)
	if wrong {
		c.commit()
		c.err(errWrongType)
		return nil, false, false
	}
	return s, found, true
}

func cmdSIsMember(c *Client, args [][]byte) {
	s, found, ok := readSet(c, args[1])
	if !ok {
		return
	}
	in := found && s.has(args[2])
	c.commit()
	c.int(b2i(in))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmdSMIsMember(c *Client, args [][]byte) {
	s, found, ok := readSet(c, args[1])
	if !ok {
		return
	}
	out := make([]bool, len(args)-2)
	if found {
		for i, m := range args[2:] {
			out[i] = s.has(m)
		}
	}
	c.commit()
	c.array(len(out))
	for _, b := range out {
		c.int(b2i(b))
	}
}

func cmdSCard(c *Client, args [][]byte) {
	s, found, ok := readSet(c, args[1])
	if !ok {
		return
	}
	n := 0
	if found {
		n = s.Len()
	}
	c.commit()
	c.int(int64(n))
}

func cmdSPop(c *Client, args [][]byte) {
	if len(args) > 3 {
		c.err(errSyntax)
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
	s, e, sh, found, wrong := lookupObject[*setObj](tx, key, false)
	switch {
	case !found && hasCount:
		c.array(0)
		return
	case !found:
		c.null()
		return
	case wrong:
		c.err(errWrongType)
		return
	case count == 0:
		c.array(0)
		return
	}
	var popped []string
	if count >= int64(s.Len()) {
		s.each(func(m string) bool { popped = append(popped, m); return true })
		tx.remove(sh, e)
		tx.notify(notifySet, "spop", key)
		tx.notify(notifyGeneric, "del", key)
		tx.emit([]byte("DEL"), key)
	} else {
		mut := mutable[*setObj](tx, sh, e)
		for _, p := range randomPositions(mut.Len(), count) {
			popped = append(popped, mut.at(p))
		}
		args := make([][]byte, 0, 2+len(popped))
		args = append(args, []byte("SREM"), key)
		for _, m := range popped {
			mut.remove([]byte(m))
			args = append(args, []byte(m))
		}
		tx.modified(sh, key)
		tx.notify(notifySet, "spop", key)
		tx.emit(args...)
	}
	if !hasCount {
		c.bulkString(popped[0])
		return
	}
	c.array(len(popped))
	for _, m := range popped {
		c.bulkString(m)
	}
}

func cmdSRandMember(c *Client, args [][]byte) {
	if len(args) > 3 {
		c.err(errSyntax)
		return
	}
	hasCount := len(args) == 3
	count := int64(0)
	if hasCount {
		var msg string
		if count, msg = randCountArg(args[2]); msg != "" {
			c.err(msg)
			return
		}
	}
	s, found, ok := readSet(c, args[1])
	if !ok {
		return
	}
	var out []string
	if found && (!hasCount || count != 0) {
		if !hasCount {
			out = []string{s.at(rand.IntN(s.Len()))}
		} else {
			for _, p := range randomPositions(s.Len(), count) {
				out = append(out, s.at(p))
			}
		}
	}
	c.commit()
	if !hasCount {
		if len(out) == 0 {
			c.null()
		} else {
			c.bulkString(out[0])
		}
		return
	}
	c.array(len(out))
	for _, m := range out {
		c.bulkString(m)
	}
}

func cmdSMove(c *Client, args [][]byte) {
	src, dst, m := args[1], args[2], args[3]
	tx := c.begin()
	tx.lockKeys(src, dst)
	defer c.commit()
	s, se, ssh, sfound, swrong := lookupObject[*setObj](tx, src, false)
	d, de, dsh, dfound, dwrong := lookupObject[*setObj](tx, dst, false)
	switch {
	case !sfound:
		c.int(0)
		return
	case swrong || dwrong:
		c.err(errWrongType)
		return
	case string(src) == string(dst):
		c.int(b2i(s.has(m)))
		return
	case !s.has(m):
		c.int(0)
		return
	}
	s = mutable[*setObj](tx, ssh, se)
	s.remove(m)
	tx.notify(notifySet, "srem", src)
	if !tx.notifyDel(dropIfEmpty(tx, src, s), src) {
		tx.modified(ssh, src)
	}
	if !dfound {
		d = newSetFor(m)
		d.add(&c.s.limits, m)
		tx.putObject(dst, d, false)
		tx.notify(notifySet, "sadd", dst)
	} else if !d.has(m) {
		d = mutable[*setObj](tx, dsh, de)
		d.add(&c.s.limits, m)
		tx.modified(dsh, dst)
		tx.notify(notifySet, "sadd", dst)
	}
	c.emitSelf(tx)
	c.int(1)
}

// setopCmd builds SINTER/SUNION/SDIFF, their STORE forms, SINTERCARD and
// SMEMBERS (SINTER of one key, as in Redis).
func setopCmd(op int, store, cardOnly bool) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		keys := args[1:]
		var dst []byte
		limit := int64(0)
		if store {
			dst, keys = args[1], args[2:]
		}
		if cardOnly {
			n, ok := parseInt(args[1])
			if !ok || n < 1 {
				c.err("ERR numkeys should be greater than 0")
				return
			}
			if n > int64(len(args)-2) {
				c.err("ERR Number of keys can't be greater than number of args")
				return
			}
			keys = args[2 : 2+n]
			for j := 2 + int(n); j < len(args); j++ {
				if eqFold(args[j], "limit") && j+1 < len(args) {
					j++
					l, ok := parseInt(args[j])
					if !ok || l < 0 {
						c.err("ERR LIMIT can't be negative")
						return
					}
					limit = l
					continue
				}
				c.err(errSyntax)
				return
			}
		}
		tx := c.begin()
		if store {
			tx.lockKeys(append([][]byte{dst}, keys...)...)
		} else {
			tx.lockKeys(keys...)
		}
		defer c.commit()
		sets := make([]*setObj, len(keys))
		empty := false
		for i, k := range keys {
			s, _, _, found, wrong := lookupObject[*setObj](tx, k, true)
			if wrong {
				c.err(errWrongType)
				return
			}
			if !found {
				empty = empty || op == setopInter
				continue
			}
			sets[i] = s
		}
		var result []string
		card := int64(0)
		switch {
		case empty:
		case op == setopInter:
			slices.SortStableFunc(sets, func(a, b *setObj) int { return a.Len() - b.Len() })
			sets[0].each(func(m string) bool {
				mb := []byte(m)
				for _, o := range sets[1:] {
					if o != sets[0] && !o.has(mb) {
						return true
					}
				}
				if cardOnly {
					card++
					return limit == 0 || card < limit
				}
				result = append(result, m)
				return true
			})
		case op == setopUnion:
			seen := map[string]bool{}
			for _, s := range sets {
				if s == nil {
					continue
				}
				s.each(func(m string) bool {
					if !seen[m] {
						seen[m] = true
						result = append(result, m)
					}
					return true
				})
			}
		case op == setopDiff:
			if sets[0] == nil {
				break
			}
			sets[0].each(func(m string) bool {
				mb := []byte(m)
				for _, o := range sets[1:] {
					if o != nil && (o == sets[0] || o.has(mb)) {
						return true
					}
				}
				result = append(result, m)
				return true
			})
		}
		switch {
		case store:
			if len(result) > 0 {
				// Replaces dst, as Redis' setKey ("new" only when it did
				// not exist).
				tx.putObject(dst, setFrom(&c.s.limits, result), false)
				tx.notify(notifySet, setStoreEvent[op], dst)
			} else if e, sh, ok := tx.lookup(dst); ok {
				tx.remove(sh, e)
				tx.notify(notifyGeneric, "del", dst)
			}
			c.emitSelf(tx)
			c.int(int64(len(result)))
		case cardOnly:
			c.int(card)
		default:
			if op != setopInter || len(sets) > 1 {
				result = setReplyOrder(&c.s.limits, result)
			}
			c.array(len(result))
			for _, m := range result {
				c.bulkString(m)
			}
		}
	}
}

// setReplyOrder orders a computed SUNION/SDIFF/SINTER result as Redis
// would list its temporary set: numerically when it would be an intset.
func setReplyOrder(lim *typeLimits, members []string) []string {
	if len(members) > int(min(lim.setIntset.Load(), 1<<30)) {
		return members
	}
	vals := make([]int64, len(members))
	for i, m := range members {
		v, ok := parseIntString(m)
		if !ok {
			return members
		}
		vals[i] = v
	}
	slices.Sort(vals)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strconv.FormatInt(v, 10)
	}
	return out
}

func cmdSScan(c *Client, args [][]byte) {
	collectionScan(c, args, func(s *setObj, cursor uint64, count int, match func(string) bool) (uint64, []string) {
		var out []string
		if s.big == nil {
			s.each(func(m string) bool {
				if match(m) {
					out = append(out, m)
				}
				return true
			})
			return 0, out
		}
		next := scanTree(s.big, setEntry{h: cursor}, cmpSetEntry, func(e setEntry) uint64 { return e.h }, count,
			func(e setEntry) {
				if match(e.m) {
					out = append(out, e.m)
				}
			})
		return next, out
	})
}
