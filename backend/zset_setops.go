package backend

import (
	"math"
	"slices"
)

// ZUNION/ZINTER/ZDIFF[STORE] and ZINTERCARD: Redis'
// zunionInterDiffGenericCommand. Inputs may be sorted sets or sets (whose
// members score 1). Sums are computed in the order Redis uses — inputs
// sorted by size (stably), the smallest first — so that floating point
// results are identical.

func zsetSetopCommands() []*cmdSpec {
	const g = "sorted_set"
	acl := []string{"@sortedset"}
	return []*cmdSpec{
		{name: "zunionstore", handler: zsetopCmd(setopUnion, true, false), arity: -4, flags: flagWrite | flagDenyOOM | flagMovableKeys, keys: destAndNumkeys, group: g, acl: acl, since: "2.0.0", summary: "Stores the union of multiple sorted sets in a key.", complexity: "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."},
		{name: "zinterstore", handler: zsetopCmd(setopInter, true, false), arity: -4, flags: flagWrite | flagDenyOOM | flagMovableKeys, keys: destAndNumkeys, group: g, acl: acl, since: "2.0.0", summary: "Stores the intersect of multiple sorted sets in a key.", complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."},
		{name: "zdiffstore", handler: zsetopCmd(setopDiff, true, false), arity: -4, flags: flagWrite | flagDenyOOM | flagMovableKeys, keys: destAndNumkeys, group: g, acl: acl, since: "6.2.0", summary: "Stores the difference of multiple sorted sets in a key.", complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."},
		{name: "zunion", handler: zsetopCmd(setopUnion, false, false), arity: -3, flags: flagReadonly | flagMovableKeys, keys: numkeysAt(1), group: g, acl: acl, since: "6.2.0", summary: "Returns the union of multiple sorted sets.", complexity: "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."},
		{name: "zinter", handler: zsetopCmd(setopInter, false, false), arity: -3, flags: flagReadonly | flagMovableKeys, keys: numkeysAt(1), group: g, acl: acl, since: "6.2.0", summary: "Returns the intersect of multiple sorted sets.", complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."},
		{name: "zdiff", handler: zsetopCmd(setopDiff, false, false), arity: -3, flags: flagReadonly | flagMovableKeys, keys: numkeysAt(1), group: g, acl: acl, since: "6.2.0", summary: "Returns the difference between multiple sorted sets.", complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."},
		{name: "zintercard", handler: zsetopCmd(setopInter, false, true), arity: -3, flags: flagReadonly | flagMovableKeys, keys: numkeysAt(1), group: g, acl: acl, since: "7.0.0", summary: "Returns the number of members of the intersect of multiple sorted sets.", complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets."},
	}
}

const (
	setopUnion = iota
	setopInter
	setopDiff
)

const (
	aggrSum = iota
	aggrMin
	aggrMax
)

// zsource is one input: a sorted set, a set, or nothing.
type zsource struct {
	z      *zsetObj
	s      *setObj
	weight float64
}

func (src zsource) len() int {
	switch {
	case src.z != nil:
		return src.z.Len()
	case src.s != nil:
		return src.s.Len()
	}
	return 0
}

// each calls fn for every member with its score.
func (src zsource) each(fn func(m string, score float64) bool) {
	switch {
	case src.z != nil:
		src.z.ord.Ascend(0, func(_ int, it zitem) bool { return fn(it.m, it.score) })
	case src.s != nil:
		src.s.each(func(m string) bool { return fn(m, 1) })
	}
}

func (src zsource) find(m string) (float64, bool) {
	switch {
	case src.z != nil:
		return src.z.score([]byte(m))
	case src.s != nil:
		return 1, src.s.has([]byte(m))
	}
	return 0, false
}

func (src zsource) same(o zsource) bool {
	return (src.z != nil && src.z == o.z) || (src.s != nil && src.s == o.s)
}

func aggregate(target *float64, v float64, how int) {
	switch how {
	case aggrSum:
		*target += v
		if math.IsNaN(*target) {
			*target = 0
		}
	case aggrMin:
		if v < *target {
			*target = v
		}
	case aggrMax:
		if v > *target {
			*target = v
		}
	}
}

func zsetopCmd(op int, store, cardOnly bool) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		numIdx := 1
		var dst []byte
		if store {
			numIdx, dst = 2, args[1]
		}
		setnum, ok := parseInt(args[numIdx])
		if !ok {
			c.err(errNotInteger)
			return
		}
		if setnum < 1 {
			c.err("ERR at least 1 input key is needed for '" + c.cmdName() + "' command")
			return
		}
		if setnum > int64(len(args)-(numIdx+1)) {
			c.err(errSyntax)
			return
		}
		keys := args[numIdx+1 : numIdx+1+int(setnum)]
		tx := c.begin()
		if store {
			tx.lockKeys(append([][]byte{dst}, keys...)...)
		} else {
			tx.lockKeys(keys...)
		}
		defer c.commit()
		srcs := make([]zsource, len(keys))
		for i, k := range keys {
			e, _, found := tx.lookupRead(k)
			srcs[i].weight = 1
			if !found {
				continue
			}
			if e.isObject() {
				switch o := e.rec().obj.(type) {
				case *zsetObj:
					srcs[i].z = o
					continue
				case *setObj:
					srcs[i].s = o
					continue
				}
			}
			c.err(errWrongType)
			return
		}
		how, withScores, limit := aggrSum, false, int64(0)
		for j := numIdx + 1 + int(setnum); j < len(args); {
			left := len(args) - j
			a := args[j]
			switch {
			case op != setopDiff && !cardOnly && left >= len(keys)+1 && eqFold(a, "weights"):
				j++
				for i := range srcs {
					w, ok := parseScore(args[j])
					if !ok {
						c.err("ERR weight value is not a float")
						return
					}
					srcs[i].weight = w
					j++
				}
			case op != setopDiff && !cardOnly && left >= 2 && eqFold(a, "aggregate"):
				switch b := args[j+1]; {
				case eqFold(b, "sum"):
					how = aggrSum
				case eqFold(b, "min"):
					how = aggrMin
				case eqFold(b, "max"):
					how = aggrMax
				default:
					c.err(errSyntax)
					return
				}
				j += 2
			case left >= 1 && !store && !cardOnly && eqFold(a, "withscores"):
				withScores = true
				j++
			case cardOnly && left >= 2 && eqFold(a, "limit"):
				n, ok := parseInt(args[j+1])
				if !ok || n < 0 {
					c.err("ERR LIMIT can't be negative")
					return
				}
				limit = n
				j += 2
			default:
				c.err(errSyntax)
				return
			}
		}
		if op != setopDiff {
			slices.SortStableFunc(srcs, func(a, b zsource) int { return a.len() - b.len() })
		}
		var result []zitem
		card := int64(0)
		switch op {
		case setopInter:
			if srcs[0].len() > 0 {
				srcs[0].each(func(m string, s float64) bool {
					score := srcs[0].weight * s
					if math.IsNaN(score) {
						score = 0
					}
					j := 1
					for ; j < len(srcs); j++ {
						var v float64
						if srcs[j].same(srcs[0]) {
							v = s * srcs[j].weight
						} else if x, ok := srcs[j].find(m); ok {
							v = x * srcs[j].weight
						} else {
							break
						}
						aggregate(&score, v, how)
					}
					if j < len(srcs) {
						return true
					}
					if cardOnly {
						card++
						return limit == 0 || card < limit
					}
					result = append(result, zitem{score, m})
					return true
				})
			}
		case setopUnion:
			acc := map[string]int{}
			for _, src := range srcs {
				src.each(func(m string, s float64) bool {
					score := src.weight * s
					if math.IsNaN(score) {
						score = 0
					}
					if i, ok := acc[m]; ok {
						aggregate(&result[i].score, score, how)
					} else {
						acc[m] = len(result)
						result = append(result, zitem{score, m})
					}
					return true
				})
			}
		case setopDiff:
			self := false
			for _, o := range srcs[1:] {
				self = self || o.same(srcs[0])
			}
			if !self {
				srcs[0].each(func(m string, s float64) bool {
					for _, o := range srcs[1:] {
						if _, ok := o.find(m); ok {
							return true
						}
					}
					result = append(result, zitem{s, m})
					return true
				})
			}
		}
		switch {
		case store:
			storeZset(c, tx, dst, result, zsetStoreEvent[op])
			c.emitSelf(tx)
			c.int(int64(len(result)))
		case cardOnly:
			c.int(card)
		default:
			sortZitems(result)
			if withScores {
				c.array(2 * len(result))
			} else {
				c.array(len(result))
			}
			for _, it := range result {
				c.bulkString(it.m)
				if withScores {
					c.bulk(appendScore(nil, it.score))
				}
			}
		}
	}
}

func sortZitems(items []zitem) { slices.SortFunc(items, cmpZitem) }
