package backend

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// setObj is a set. While every member is an integer and there are at most
// set-max-intset-entries of them it is a sorted int64 array, Redis'
// intset (SMEMBERS then replies in numeric order, as Redis does); then a
// copy-on-write B+tree ordered by (hash of member, member), one way.
type setObj struct {
	ints []int64          // intset form (big == nil)
	big  *btree[setEntry] // tree form
}

type setEntry struct {
	h uint64
	m string
}

func setEntryKey(e setEntry) uint64 { return e.h }

// newSetTree is an empty tree-form set.
func newSetTree() *btree[setEntry] { return newBtree[setEntry]().hashed(setEntryKey) }

func cmpSetEntry(a, b setEntry) int {
	if c := cmp.Compare(a.h, b.h); c != 0 {
		return c
	}
	return strings.Compare(a.m, b.m)
}

// newSetFor returns an empty set of the encoding Redis' setTypeCreate
// chooses for a first member.
func newSetFor(first []byte) *setObj {
	if _, ok := parseInt(first); ok {
		return &setObj{ints: []int64{}}
	}
	return &setObj{big: newSetTree()}
}

func (s *setObj) Type() string { return "set" }

func (s *setObj) Encoding() string {
	if s.big == nil {
		return "intset"
	}
	return "hashtable"
}

func (s *setObj) Len() int {
	if s.big != nil {
		return s.big.Len()
	}
	return len(s.ints)
}

func (s *setObj) Clone() Object {
	if s.big != nil {
		return &setObj{big: s.big.Clone()}
	}
	return &setObj{ints: append(make([]int64, 0, len(s.ints)+1), s.ints...)}
}

func (s *setObj) MemoryUsage() int {
	if s.big == nil {
		return 48 + 8*len(s.ints)
	}
	n := s.Len()
	if n == 0 {
		return 48
	}
	sample, k := 0, 0
	s.big.Ascend(0, func(_ int, e setEntry) bool {
		sample += len(e.m)
		k++
		return k < 5
	})
	return 48 + n*(34+sample/k)
}

func (s *setObj) Rewrite(key string, emit func(args ...[]byte)) {
	args := make([][]byte, 0, 2+rewriteBatch)
	args = append(args, []byte("SADD"), []byte(key))
	s.each(func(m string) bool {
		args = append(args, sbytes(m))
		if len(args) == 2+rewriteBatch {
			emit(args...)
			args = args[:2]
		}
		return true
	})
	if len(args) > 2 {
		emit(args...)
	}
}

// each calls fn for every member (numeric order for an intset) until fn
// returns false.
func (s *setObj) each(fn func(m string) bool) {
	if s.big != nil {
		s.big.Ascend(0, func(_ int, e setEntry) bool { return fn(e.m) })
		return
	}
	for _, v := range s.ints {
		if !fn(strconv.FormatInt(v, 10)) {
			return
		}
	}
}

// at returns the i-th member in the set's order.
func (s *setObj) at(i int) string {
	if s.big != nil {
		return s.big.At(i).m
	}
	return strconv.FormatInt(s.ints[i], 10)
}

func (s *setObj) has(m []byte) bool {
	if s.big != nil {
		_, ok := s.big.Search(setEntry{hashKey(m), bstr(m)}, cmpSetEntry)
		return ok
	}
	v, ok := parseInt(m)
	if !ok {
		return false
	}
	_, found := slices.BinarySearch(s.ints, v)
	return found
}

// add adds m; it reports whether it is new. An intset becomes a tree for
// a non-integer member or beyond set-max-intset-entries.
func (s *setObj) add(lim *typeLimits, m []byte) bool {
	if s.big == nil {
		v, ok := parseInt(m)
		if ok {
			i, found := slices.BinarySearch(s.ints, v)
			if found {
				return false
			}
			s.ints = slices.Insert(s.ints, i, v)
			if max := min(lim.setIntset.Load(), 1<<30); int64(len(s.ints)) > max || len(s.ints) > maxCompactIntset {
				s.toBig()
			}
			return true
		}
		s.toBig()
	}
	return s.big.Upsert(setEntry{hashKey(m), bstr(m)}, cmpSetEntry,
		func(old setEntry) setEntry { return old },
		func(x setEntry) setEntry { x.m = string(m); return x })
}

// remove deletes m; it reports whether it was there.
func (s *setObj) remove(m []byte) bool {
	if s.big != nil {
		i, ok := s.big.Search(setEntry{hashKey(m), bstr(m)}, cmpSetEntry)
		if ok {
			s.big.Delete(i)
		}
		return ok
	}
	v, ok := parseInt(m)
	if !ok {
		return false
	}
	i, found := slices.BinarySearch(s.ints, v)
	if found {
		s.ints = slices.Delete(s.ints, i, i+1)
	}
	return found
}

func (s *setObj) toBig() {
	items := make([]setEntry, len(s.ints))
	for i, v := range s.ints {
		m := strconv.FormatInt(v, 10)
		items[i] = setEntry{hashKeyString(m), m}
	}
	slices.SortFunc(items, cmpSetEntry)
	s.big, s.ints = btreeFrom(items).hashed(setEntryKey), nil
}

// setFrom builds a set of members (deduplicated), with the encoding Redis
// would end up with adding them one by one to a new intset.
func setFrom(lim *typeLimits, members []string) *setObj {
	s := &setObj{ints: []int64{}}
	for _, m := range members {
		s.add(lim, []byte(m))
	}
	return s
}
