package backend

import (
	"math/bits"
	"sort"
)

// htrie is a shard's key index: a copy-on-write trie over the 64-bit key
// hash (the bits below the shard bits, 4 per level) whose leaves are small
// sorted arrays of entries. Order is (hash, key), so iteration from a hash
// is SCAN's stable cursor.
//
// Why not a B-tree: a B-tree lookup binary-searches a node per level,
// touching a dozen cache lines for a million keys (~750 ns measured with
// tidwall/btree); here each level is one array index, the leaf one short
// binary search on inline hashes, about four cache lines in all (close to
// a Go map, which cannot be snapshotted).
//
// Copy-on-write: every node carries the generation of the trie that
// created it. Copy makes the snapshot share the whole trie in O(1) and
// bumps the live trie's generation, so the live trie clones a node (one
// array, at most leafMax entries) the first time it writes to it. The
// snapshot (generation 0) is never written. All methods of a live trie run
// under its shard lock; a snapshot may be read concurrently with writes to
// the live trie because shared nodes are never modified.
type htrie struct {
	root *tnode
	n    int
	gen  uint64 // > 0 for a live trie, 0 for a read-only snapshot
}

const (
	tBits    = 4
	tFan     = 1 << tBits
	leafMax  = 48 // a leaf splits beyond this many entries
	leafJoin = 24 // a subtree this small collapses back into one leaf
	topShift = 64 - shardBits - tBits
)

type tnode struct {
	gen   uint64
	count int  // entries in the subtree
	inner bool // kids are used, else ents
	ents  []entry
	kids  [tFan]*tnode
}

func newHtrie() *htrie { return &htrie{gen: 1} }

// Len is the number of entries.
func (t *htrie) Len() int { return t.n }

// Copy returns a read-only snapshot sharing every node; t clones nodes on
// its next writes.
func (t *htrie) Copy() *htrie {
	c := &htrie{root: t.root, n: t.n}
	t.gen++
	return c
}

func childIndex(h uint64, shift int) int { return int(h>>uint(shift)) & (tFan - 1) }

// leafFind returns the index of (h, key) in ents, or where it would go.
// A leaf at this depth holds hashes whose top (64 - tBits - shift) bits are
// fixed and whose remaining bits are uniform, so the position is guessed
// by interpolation and corrected by a short scan: about one cache line
// instead of a binary search's four or five.
func leafFind(ents []entry, h uint64, key string, shift int) (int, bool) {
	i := 0
	if n := len(ents); n > 4 {
		consumed := uint(64 - tBits - shift)
		if consumed < 64 {
			hi, _ := bits.Mul64(h<<consumed, uint64(n))
			i = int(hi)
		}
		for i > 0 && ents[i-1].hash >= h {
			i--
		}
		for i < n && ents[i].hash < h {
			i++
		}
	} else {
		for i < n && ents[i].hash < h {
			i++
		}
	}
	for ; i < len(ents) && ents[i].hash == h; i++ {
		k := ents[i].key()
		if k == key {
			return i, true
		}
		if k > key {
			break
		}
	}
	return i, false
}

// Get returns the entry for (h, key).
func (t *htrie) Get(h uint64, key string) (entry, bool) {
	n := t.root
	shift := topShift
	for n != nil {
		if !n.inner {
			if i, ok := leafFind(n.ents, h, key, shift); ok {
				return n.ents[i], true
			}
			return entry{}, false
		}
		n = n.kids[childIndex(h, shift)]
		shift -= tBits
	}
	return entry{}, false
}

// own returns n if t may modify it, else a private clone.
func (t *htrie) own(n *tnode) *tnode {
	if n.gen == t.gen {
		return n
	}
	c := &tnode{gen: t.gen, count: n.count, inner: n.inner}
	if n.inner {
		c.kids = n.kids
	} else {
		c.ents = append(make([]entry, 0, len(n.ents)+1), n.ents...)
	}
	return c
}

// Set stores e, replacing the entry with the same (hash, key); it returns
// the previous entry.
func (t *htrie) Set(e entry) (entry, bool) {
	if t.root == nil {
		t.root = &tnode{gen: t.gen}
	}
	t.root = t.own(t.root)
	prev, replaced := t.set(t.root, e, topShift)
	if !replaced {
		t.n++
	}
	return prev, replaced
}

func (t *htrie) set(n *tnode, e entry, shift int) (entry, bool) {
	if n.inner {
		i := childIndex(e.hash, shift)
		c := n.kids[i]
		if c == nil {
			c = &tnode{gen: t.gen}
		} else {
			c = t.own(c)
		}
		n.kids[i] = c
		prev, replaced := t.set(c, e, shift-tBits)
		if !replaced {
			n.count++
		}
		return prev, replaced
	}
	i, found := leafFind(n.ents, e.hash, e.key(), shift)
	if found {
		prev := n.ents[i]
		n.ents[i] = e
		return prev, true
	}
	n.ents = append(n.ents, entry{})
	copy(n.ents[i+1:], n.ents[i:])
	n.ents[i] = e
	n.count++
	if len(n.ents) > leafMax && shift >= 0 {
		t.split(n, shift)
	}
	return entry{}, false
}

// split turns leaf n into an internal node whose children are leaves.
func (t *htrie) split(n *tnode, shift int) {
	var kids [tFan]*tnode
	ents := n.ents
	for lo := 0; lo < len(ents); {
		i := childIndex(ents[lo].hash, shift)
		hi := lo + 1
		for hi < len(ents) && childIndex(ents[hi].hash, shift) == i {
			hi++
		}
		kids[i] = &tnode{gen: t.gen, count: hi - lo, ents: append([]entry(nil), ents[lo:hi]...)}
		lo = hi
	}
	n.kids = kids
	n.inner = true
	n.ents = nil
}

// Update applies fn to the entry for (h, key) in place (after a
// copy-on-write clone of its path); fn must not change the hash or key. It
// reports whether the entry exists.
func (t *htrie) Update(h uint64, key string, fn func(e *entry)) bool {
	if _, ok := t.Get(h, key); !ok {
		return false
	}
	t.root = t.own(t.root)
	n := t.root
	shift := topShift
	for n.inner {
		i := childIndex(h, shift)
		c := t.own(n.kids[i])
		n.kids[i] = c
		n = c
		shift -= tBits
	}
	i, _ := leafFind(n.ents, h, key, shift)
	fn(&n.ents[i])
	return true
}

// Delete removes the entry for (h, key) and returns it.
func (t *htrie) Delete(h uint64, key string) (entry, bool) {
	if _, ok := t.Get(h, key); !ok {
		return entry{}, false
	}
	t.root = t.own(t.root)
	prev := t.del(t.root, h, key, topShift)
	t.n--
	if t.n == 0 {
		t.root = nil
	}
	return prev, true
}

// del removes a present entry below n (owned).
func (t *htrie) del(n *tnode, h uint64, key string, shift int) entry {
	n.count--
	if !n.inner {
		i, _ := leafFind(n.ents, h, key, shift)
		prev := n.ents[i]
		copy(n.ents[i:], n.ents[i+1:])
		n.ents[len(n.ents)-1] = entry{}
		n.ents = n.ents[:len(n.ents)-1]
		return prev
	}
	i := childIndex(h, shift)
	c := t.own(n.kids[i])
	n.kids[i] = c
	prev := t.del(c, h, key, shift-tBits)
	if c.count == 0 {
		n.kids[i] = nil
	}
	if n.count <= leafJoin {
		// Collapse the subtree into one leaf.
		ents := make([]entry, 0, n.count+1)
		walk(n, func(e entry) bool { ents = append(ents, e); return true })
		n.kids, n.inner, n.ents = [tFan]*tnode{}, false, ents
	}
	return prev
}

// walk calls fn for every entry below n in order until fn returns false.
func walk(n *tnode, fn func(e entry) bool) bool {
	if n == nil {
		return true
	}
	if !n.inner {
		for _, e := range n.ents {
			if !fn(e) {
				return false
			}
		}
		return true
	}
	for _, c := range n.kids {
		if !walk(c, fn) {
			return false
		}
	}
	return true
}

// Ascend calls fn for every entry with hash >= from, in (hash, key) order,
// until fn returns false.
func (t *htrie) Ascend(from uint64, fn func(e entry) bool) {
	ascend(t.root, from, topShift, fn)
}

func ascend(n *tnode, from uint64, shift int, fn func(e entry) bool) bool {
	if n == nil {
		return true
	}
	if !n.inner {
		i := sort.Search(len(n.ents), func(i int) bool { return n.ents[i].hash >= from })
		for _, e := range n.ents[i:] {
			if !fn(e) {
				return false
			}
		}
		return true
	}
	start := 0
	if shift >= 0 {
		start = childIndex(from, shift)
	}
	for i := start; i < tFan; i++ {
		f := from
		if i > start {
			f = 0
		}
		if !ascend(n.kids[i], f, shift-tBits, fn) {
			return false
		}
	}
	return true
}

// GetAt returns the i-th entry in order (RANDOMKEY).
func (t *htrie) GetAt(i int) (entry, bool) {
	if i < 0 || i >= t.n {
		return entry{}, false
	}
	n := t.root
	for n.inner {
		for _, c := range n.kids {
			if c == nil {
				continue
			}
			if i < c.count {
				n = c
				break
			}
			i -= c.count
		}
	}
	return n.ents[i], true
}
