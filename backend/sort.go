package backend

import (
	"bytes"
	"math"
	"slices"
	"strings"
)

// SORT and SORT_RO (sort.c). The BY and GET patterns read other keys: a
// SORT with such a pattern locks every shard, so that it sees one
// consistent keyspace (EXEC locks every shard for it too: sortReadsKeys);
// without patterns it locks its key and the STORE destination. SORT ...
// STORE is emitted as its result (DEL and RPUSH of the stored list,
// wrapped in MULTI/EXEC), so that replaying it reads no other key.

const errSortScores = "ERR One or more scores can't be converted into double"

func sortCommands() []*cmdSpec {
	const g = "generic"
	acl := []string{"@set", "@sortedset", "@list", "@dangerous"}
	const cx = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."
	return []*cmdSpec{
		{name: "sort", handler: sortCmd(false), arity: -2, flags: flagWrite | flagDenyOOM | flagMovableKeys, first: 1, last: 1, step: 1, keys: sortKeys, group: g, acl: acl, since: "1.0.0", summary: "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", complexity: cx},
		{name: "sort_ro", handler: sortCmd(true), arity: -2, flags: flagReadonly | flagMovableKeys, first: 1, last: 1, step: 1, group: g, acl: acl, since: "7.0.0", summary: "Returns the sorted elements of a list, a set, or a sorted set.", complexity: cx},
	}
}

// sortKeys is sortGetKeys: the key, and the destination of the last
// STORE, skipping the arguments of LIMIT, GET and BY.
func sortKeys(args [][]byte) []int {
	store := -1
	for i := 2; i < len(args); i++ {
		switch {
		case eqFold(args[i], "limit"):
			i += 2
		case eqFold(args[i], "store") && i+1 < len(args):
			store = i + 1
		case eqFold(args[i], "get"), eqFold(args[i], "by"):
			i++
		}
	}
	if store < 0 {
		return []int{1}
	}
	return []int{1, store}
}

// sortOptions is SORT's parsed arguments.
type sortOptions struct {
	desc, alpha, dontsort bool
	limitStart, limitCnt  int64
	by                    []byte // nil: sort by the elements
	store                 []byte
	gets                  [][]byte
}

// parseSort parses SORT's options (from args[2]); it returns an error
// text on failure.
func parseSort(args [][]byte, readonly bool) (sortOptions, string) {
	o := sortOptions{limitCnt: -1}
	for j := 2; j < len(args); j++ {
		left := len(args) - j - 1
		a := args[j]
		switch {
		case eqFold(a, "asc"):
			o.desc = false
		case eqFold(a, "desc"):
			o.desc = true
		case eqFold(a, "alpha"):
			o.alpha = true
		case eqFold(a, "limit") && left >= 2:
			var ok bool
			if o.limitStart, ok = parseInt(args[j+1]); !ok {
				return o, errNotInteger
			}
			if o.limitCnt, ok = parseInt(args[j+2]); !ok {
				return o, errNotInteger
			}
			j += 2
		case !readonly && eqFold(a, "store") && left >= 1:
			o.store = args[j+1]
			j++
		case eqFold(a, "by") && left >= 1:
			o.by = args[j+1]
			// A BY pattern without '*' is constant: nothing to sort (for
			// good, as in Redis, even if another BY follows).
			if !hasStar(o.by) {
				o.dontsort = true
			}
			j++
		case eqFold(a, "get") && left >= 1:
			o.gets = append(o.gets, args[j+1])
			j++
		default:
			return o, errSyntax
		}
	}
	return o, ""
}

// cstring is a C string's view of b: up to its first NUL byte.
func cstring(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func hasStar(p []byte) bool { return bytes.IndexByte(cstring(p), '*') >= 0 }

func isHashPattern(p []byte) bool { return len(p) > 0 && p[0] == '#' && (len(p) == 1 || p[1] == 0) }

// readsKeys reports whether the options make SORT read keys other than
// its own: a BY pattern to sort by, or a GET pattern other than #.
func (o *sortOptions) readsKeys() bool {
	if o.by != nil && !o.dontsort {
		return true
	}
	for _, p := range o.gets {
		if !isHashPattern(p) && hasStar(p) {
			return true
		}
	}
	return false
}

// sortReadsKeys reports whether a queued command is a SORT that reads
// keys through patterns: EXEC must then lock every shard.
func sortReadsKeys(cmd *cmdSpec, args [][]byte) bool {
	if cmd.name != "sort" && cmd.name != "sort_ro" {
		return false
	}
	o, msg := parseSort(args, cmd.name == "sort_ro")
	return msg == "" && o.readsKeys()
}

// lookupByPattern is lookupKeyByPattern: the value named by pattern with
// its first '*' replaced by subst (a hash field after "->"), or # for
// subst itself.
func lookupByPattern(tx *Tx, pattern []byte, subst string) (string, bool) {
	if isHashPattern(pattern) {
		return subst, true
	}
	cpat := cstring(pattern)
	star := bytes.IndexByte(cpat, '*')
	if star < 0 {
		return "", false
	}
	var field []byte
	postEnd := len(pattern)
	if f := bytes.Index(cpat[star+1:], []byte("->")); f >= 0 && star+1+f+2 < len(cpat) {
		at := star + 1 + f
		field = pattern[at+2:]
		postEnd = at
	}
	key := make([]byte, 0, star+len(subst)+postEnd-star-1)
	key = append(key, pattern[:star]...)
	key = append(key, subst...)
	key = append(key, pattern[star+1:postEnd]...)
	e, _, found := tx.lookupRead(key)
	if !found {
		return "", false
	}
	if field != nil {
		if !e.isObject() {
			return "", false
		}
		h, ok := e.rec().obj.(*hashObj)
		if !ok {
			return "", false
		}
		return h.get(field)
	}
	if e.isObject() {
		return "", false
	}
	return e.str(), true
}

// sortElem is redisSortObject.
type sortElem struct {
	v      string
	score  float64
	cmp    string
	hasCmp bool
}

func sortCmd(readonly bool) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		o, msg := parseSort(args, readonly)
		if msg != "" {
			c.err(msg)
			return
		}
		tx := c.begin()
		switch {
		case o.readsKeys():
			tx.lockAll()
		case o.store != nil:
			tx.lockKeys(args[1], o.store)
		default:
			tx.lockKey(args[1])
		}
		if o.store != nil && !c.atomic {
			// DEL and RPUSH go to the stream as one unit. Deferred before
			// commit, so it runs after it.
			tx.wrap = true
			defer func() { tx.wrap = false }()
		}
		defer c.commit()
		sortGeneric(c, tx, args[1], &o)
	}
}

func sortGeneric(c *Client, tx *Tx, key []byte, o *sortOptions) {
	e, sh, found := tx.lookupRead(key)
	var obj Object
	if found {
		if e.isObject() {
			obj = e.rec().obj
		}
		switch obj.(type) {
		case *listObj, *setObj, *zsetObj:
		default:
			c.err(errWrongType)
			return
		}
	}
	if z, ok := obj.(*zsetObj); ok && z.listpack {
		// Redis converts a sorted set to a skiplist for SORT, for good.
		z = mutable[*zsetObj](tx, sh, e)
		z.listpack = false
		obj = z
	}
	sortby := o.by
	dontsort, alpha := o.dontsort, o.alpha
	if _, ok := obj.(*setObj); ok && dontsort && (o.store != nil || c.fromScript) {
		// A set's order is arbitrary: what is stored, or returned to a
		// script (whose effects must not depend on it), must not be.
		dontsort, alpha, sortby = false, true, nil
	}
	n := 0
	if obj != nil {
		n = obj.Len()
	}
	start := min(max(o.limitStart, 0), int64(n))
	cnt := min(max(o.limitCnt, -1), int64(n))
	end := start + cnt - 1
	if cnt < 0 {
		end = int64(n) - 1
	}
	if start >= int64(n) {
		start, end = int64(n)-1, int64(n)-2
	}
	if end >= int64(n) {
		end = int64(n) - 1
	}
	var vec []sortElem
	switch v := obj.(type) {
	case *listObj:
		if dontsort {
			if end >= start {
				cnt := int(end - start + 1)
				vec = make([]sortElem, 0, cnt)
				if o.desc {
					v.t.Descend(n-int(start)-1, func(_ int, s string) bool {
						vec = append(vec, sortElem{v: s})
						return len(vec) < cnt
					})
				} else {
					v.t.Ascend(int(start), func(_ int, s string) bool {
						vec = append(vec, sortElem{v: s})
						return len(vec) < cnt
					})
				}
				end -= start
				start = 0
			}
		} else {
			vec = make([]sortElem, 0, n)
			v.t.Ascend(0, func(_ int, s string) bool {
				vec = append(vec, sortElem{v: s})
				return true
			})
		}
	case *setObj:
		vec = make([]sortElem, 0, n)
		v.each(func(m string) bool {
			vec = append(vec, sortElem{v: m})
			return true
		})
	case *zsetObj:
		if dontsort {
			cnt := n
			if start != 0 || end != int64(n)-1 {
				cnt = int(end - start + 1)
			}
			vec = make([]sortElem, 0, max(cnt, 0))
			if cnt > 0 {
				if o.desc {
					v.ord.Descend(n-int(start)-1, func(_ int, it zitem) bool {
						vec = append(vec, sortElem{v: it.m})
						return len(vec) < cnt
					})
				} else {
					v.ord.Ascend(int(start), func(_ int, it zitem) bool {
						vec = append(vec, sortElem{v: it.m})
						return len(vec) < cnt
					})
				}
			}
			end -= start
			start = 0
		} else {
			// Redis walks the dict: its order only shows for ALPHA BY
			// ties, where it is arbitrary anyway.
			vec = make([]sortElem, 0, n)
			v.ord.Ascend(0, func(_ int, it zitem) bool {
				vec = append(vec, sortElem{v: it.m})
				return true
			})
		}
	}

	convErr := false
	if !dontsort {
		for j := range vec {
			el := &vec[j]
			by := el.v
			if sortby != nil {
				var ok bool
				if by, ok = lookupByPattern(tx, sortby, el.v); !ok {
					continue
				}
			}
			if alpha {
				if sortby != nil {
					el.cmp, el.hasCmp = by, true
				}
				continue
			}
			var ok bool
			if el.score, ok = sortScore(by); !ok {
				convErr = true
			}
		}
		store := o.store != nil
		cmp := func(a, b *sortElem) int {
			var r int
			switch {
			case !alpha:
				switch {
				case a.score > b.score:
					r = 1
				case a.score < b.score:
					r = -1
				default:
					r = strings.Compare(a.v, b.v)
				}
			case sortby != nil:
				switch {
				case !a.hasCmp || !b.hasCmp:
					switch {
					case a.hasCmp == b.hasCmp:
						r = 0
					case !a.hasCmp:
						r = -1
					default:
						r = 1
					}
				case store:
					r = strings.Compare(a.cmp, b.cmp)
				default:
					r = collate(a.cmp, b.cmp)
				}
			case store:
				r = strings.Compare(a.v, b.v)
			default:
				r = collate(a.v, b.v)
			}
			if o.desc {
				return -r
			}
			return r
		}
		if sortby != nil && (start != 0 || end != int64(len(vec))-1) {
			pqsort(len(vec), func(i, j int) int { return cmp(&vec[i], &vec[j]) },
				func(i, j int) { vec[i], vec[j] = vec[j], vec[i] }, int(start), int(end))
		} else {
			// glibc's qsort is a merge sort: stable.
			slices.SortStableFunc(vec, func(a, b sortElem) int { return cmp(&a, &b) })
		}
	}

	outLen := int(end - start + 1)
	if len(o.gets) > 0 {
		outLen *= len(o.gets)
	}
	if convErr {
		c.err(errSortScores)
		return
	}
	if o.store == nil {
		c.array(outLen)
		for j := start; j <= end; j++ {
			el := vec[j].v
			if len(o.gets) == 0 {
				c.bulkString(el)
			}
			for _, p := range o.gets {
				if v, ok := lookupByPattern(tx, p, el); ok {
					c.bulkString(v)
				} else {
					c.null()
				}
			}
		}
		return
	}
	out := make([]string, 0, max(outLen, 0))
	for j := start; j <= end; j++ {
		el := vec[j].v
		if len(o.gets) == 0 {
			out = append(out, el)
		}
		for _, p := range o.gets {
			v, _ := lookupByPattern(tx, p, el)
			out = append(out, v)
		}
	}
	old, sh, exists := tx.lookup(o.store)
	if len(out) > 0 {
		l := &listObj{t: btreeFrom(out)}
		tx.putObject(o.store, l, false)
		tx.notify(notifyList, "sortstore", o.store)
		if exists {
			tx.emit([]byte("DEL"), o.store)
		}
		args := make([][]byte, 0, 2+len(out))
		args = append(args, []byte("RPUSH"), o.store)
		for _, v := range out {
			args = append(args, sbytes(v))
		}
		tx.emit(args...)
	} else if exists {
		tx.remove(sh, old)
		tx.notify(notifyGeneric, "del", o.store)
		tx.emit([]byte("DEL"), o.store)
	}
	c.int(int64(outLen))
}

// sortScore is SORT's strtod of a weight: leading white space skipped,
// the C string (up to a NUL byte) converted whole; the empty string is 0;
// NaN and ERANGE are errors. Redis tests a stale errno (it does not clear
// it before strtod), so after one overflow its SORT refuses valid weights
// until another command clears errno: not reproduced.
func sortScore(s string) (float64, bool) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return 0, true
	}
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	f, ok, erange := strtod(s)
	// glibc's strtod also sets ERANGE for a subnormal result, which
	// SORT (unlike string2d) refuses.
	subnormal := f != 0 && math.Abs(f) < 0x1p-1022
	return f, ok && !erange && !subnormal
}

// collate is strcoll in the C locale: strcmp of the C strings.
func collate(a, b string) int {
	if i := strings.IndexByte(a, 0); i >= 0 {
		a = a[:i]
	}
	if i := strings.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.Compare(a, b)
}
