package backend

// btree is the collection structure behind large hashes, sets, lists and
// sorted sets: a copy-on-write counted B+tree. Items live in leaves; an
// inner node keeps, per child, the number of items below it (positional
// access and ranks in O(log n)) and the child's last item (ordered search
// in O(log n) for trees kept in an order).
//
// The same tree serves two uses:
//   - sequences (lists): positional Insert/Delete/At/Set, no order;
//   - ordered sets (sorted set by (score, member); hash and set members by
//     (hash, member), which makes the hash a stable HSCAN/SSCAN cursor):
//     Search finds an item's rank, then the positional operations apply.
//
// Copy-on-write: every node records the owner token of the tree that
// created it. Clone gives the copy a new token and shares the root in
// O(1); each tree then copies a node (one array of at most btMax items)
// the first time it writes to it. The original of a Clone must not be
// written again (Object's contract: the snapshot keeps the original, the
// live keyspace the clone), so nodes shared between the two are never
// modified and a snapshot may read them while the clone is written.
type btree[T any] struct {
	root  *bnode[T]
	n     int
	owner *btOwner
	// key, in a tree ordered first by a uniformly spread hash (hashes,
	// sets, the sorted set's member index), returns an item's hash: a
	// search then guesses an item's place in a node from it instead of
	// bisecting the node (see guess). Nil in other trees.
	key func(T) uint64
}

// btOwner is a tree's identity for node ownership; a fresh one per tree
// and per Clone.
type btOwner struct{ _ byte }

const (
	btMax = 64        // items per leaf, children per inner node
	btMin = btMax / 4 // a node below this is merged with a neighbour
)

type bnode[T any] struct {
	owner *btOwner
	items []T         // leaf items (kids == nil)
	kids  []*bnode[T] // inner: children
	sizes []int       // inner: items below each child
	lasts []T         // inner: last item below each child
}

func (n *bnode[T]) leaf() bool { return n.kids == nil }

func (n *bnode[T]) width() int {
	if n.kids == nil {
		return len(n.items)
	}
	return len(n.kids)
}

func (n *bnode[T]) size() int {
	if n.kids == nil {
		return len(n.items)
	}
	s := 0
	for _, x := range n.sizes {
		s += x
	}
	return s
}

func (n *bnode[T]) last() T {
	if n.kids == nil {
		return n.items[len(n.items)-1]
	}
	return n.lasts[len(n.lasts)-1]
}

func newBtree[T any]() *btree[T] { return &btree[T]{owner: &btOwner{}} }

// Len is the number of items.
func (t *btree[T]) Len() int { return t.n }

// Clone returns a tree with the same items that can be modified
// independently; t must not be modified afterwards.
func (t *btree[T]) Clone() *btree[T] {
	return &btree[T]{root: t.root, n: t.n, owner: &btOwner{}, key: t.key}
}

// hashed makes t a tree ordered first by the uniformly spread hash key
// returns (see btree.key), and returns it.
func (t *btree[T]) hashed(key func(T) uint64) *btree[T] {
	t.key = key
	return t
}

// own returns n when t may modify it, else t's private copy of it.
func (t *btree[T]) own(n *bnode[T]) *bnode[T] {
	if n.owner == t.owner {
		return n
	}
	c := &bnode[T]{owner: t.owner}
	if n.kids == nil {
		c.items = append(make([]T, 0, len(n.items)+1), n.items...)
	} else {
		c.kids = append(make([]*bnode[T], 0, len(n.kids)+1), n.kids...)
		c.sizes = append(make([]int, 0, len(n.sizes)+1), n.sizes...)
		c.lasts = append(make([]T, 0, len(n.lasts)+1), n.lasts...)
	}
	return c
}

// locate finds the child of inner node n holding position i and i's
// offset inside it. With end, position i may be one past the last item
// (an append goes into the last child).
func (n *bnode[T]) locate(i int, end bool) (int, int) {
	for k, s := range n.sizes {
		if i < s || (end && i == s && k == len(n.sizes)-1) {
			return k, i
		}
		i -= s
	}
	panic("backend: btree position out of range")
}

// At returns the item at position i (0 <= i < Len).
func (t *btree[T]) At(i int) T {
	n := t.root
	for !n.leaf() {
		k, off := n.locate(i, false)
		n, i = n.kids[k], off
	}
	return n.items[i]
}

// Set replaces the item at position i. In an ordered tree v must sort
// where the old item did.
func (t *btree[T]) Set(i int, v T) {
	t.root = t.own(t.root)
	n := t.root
	for !n.leaf() {
		k, off := n.locate(i, false)
		c := t.own(n.kids[k])
		n.kids[k] = c
		if off == n.sizes[k]-1 {
			n.lasts[k] = v
		}
		n, i = c, off
	}
	n.items[i] = v
}

// Insert puts v at position i (0 <= i <= Len), shifting later items.
func (t *btree[T]) Insert(i int, v T) {
	if t.root == nil {
		t.root = &bnode[T]{owner: t.owner, items: make([]T, 0, 4)}
	}
	t.root = t.own(t.root)
	if r := t.insert(t.root, i, v); r != nil {
		l := t.root
		t.root = &bnode[T]{owner: t.owner,
			kids:  []*bnode[T]{l, r},
			sizes: []int{l.size(), r.size()},
			lasts: []T{l.last(), r.last()}}
	}
	t.n++
}

// insert inserts into the owned node n; it returns the new right sibling
// when n split.
func (t *btree[T]) insert(n *bnode[T], i int, v T) *bnode[T] {
	if n.leaf() {
		if len(n.items) < btMax {
			n.items = insertAt(growCap(n.items), i, v)
			return nil
		}
		// Full: split first. Appends and prepends leave the full leaf
		// alone (lists built by RPUSH/LPUSH stay densely packed).
		switch i {
		case len(n.items):
			return &bnode[T]{owner: t.owner, items: append(make([]T, 0, 8), v)}
		case 0:
			r := &bnode[T]{owner: t.owner, items: n.items}
			n.items = append(make([]T, 0, 8), v)
			return r
		}
		r := t.split(n)
		if i <= len(n.items) {
			n.items = insertAt(n.items, i, v)
		} else {
			r.items = insertAt(r.items, i-len(n.items), v)
		}
		return r
	}
	k, off := n.locate(i, true)
	c := t.own(n.kids[k])
	n.kids[k] = c
	r := t.insert(c, off, v)
	if r == nil {
		n.sizes[k]++
		n.lasts[k] = c.last()
		return nil
	}
	n.sizes[k] = c.size()
	n.lasts[k] = c.last()
	n.kids = insertAt(n.kids, k+1, r)
	n.sizes = insertAt(n.sizes, k+1, r.size())
	n.lasts = insertAt(n.lasts, k+1, r.last())
	if len(n.kids) > btMax {
		return t.split(n)
	}
	return nil
}

// growCap makes room for one more item, never beyond btMax.
func growCap[E any](s []E) []E {
	if len(s) < cap(s) {
		return s
	}
	ns := make([]E, len(s), min(max(2*cap(s), 4), btMax))
	copy(ns, s)
	return ns
}

func insertAt[E any](s []E, i int, v E) []E {
	s = append(s, v)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func removeAt[E any](s []E, i int) []E {
	copy(s[i:], s[i+1:])
	var zero E
	s[len(s)-1] = zero
	return s[:len(s)-1]
}

// split moves the upper half of the owned node n into a new node.
func (t *btree[T]) split(n *bnode[T]) *bnode[T] {
	r := &bnode[T]{owner: t.owner}
	if n.leaf() {
		h := len(n.items) / 2
		r.items = append(make([]T, 0, btMax), n.items[h:]...)
		clear(n.items[h:])
		n.items = n.items[:h]
		return r
	}
	h := len(n.kids) / 2
	r.kids = append(make([]*bnode[T], 0, btMax+1), n.kids[h:]...)
	r.sizes = append(make([]int, 0, btMax+1), n.sizes[h:]...)
	r.lasts = append(make([]T, 0, btMax+1), n.lasts[h:]...)
	clear(n.kids[h:])
	clear(n.lasts[h:])
	n.kids, n.sizes, n.lasts = n.kids[:h], n.sizes[:h], n.lasts[:h]
	return r
}

// Delete removes and returns the item at position i (0 <= i < Len).
func (t *btree[T]) Delete(i int) T {
	t.root = t.own(t.root)
	v := t.del(t.root, i)
	t.n--
	t.shrinkRoot()
	return v
}

func (t *btree[T]) shrinkRoot() {
	for t.root != nil && !t.root.leaf() && len(t.root.kids) == 1 {
		t.root = t.root.kids[0]
	}
	if t.n == 0 {
		t.root = nil
	}
}

func (t *btree[T]) del(n *bnode[T], i int) T {
	if n.leaf() {
		v := n.items[i]
		n.items = removeAt(n.items, i)
		return v
	}
	k, off := n.locate(i, false)
	c := t.own(n.kids[k])
	n.kids[k] = c
	v := t.del(c, off)
	n.sizes[k]--
	if n.sizes[k] == 0 {
		n.kids = removeAt(n.kids, k)
		n.sizes = removeAt(n.sizes, k)
		n.lasts = removeAt(n.lasts, k)
		return v
	}
	n.lasts[k] = c.last()
	if c.width() < btMin {
		t.rebalance(n, k)
	}
	return v
}

// rebalance merges the underfull child k of the owned node n with a
// neighbour, or, when both do not fit in one node, shares their items
// evenly between them.
func (t *btree[T]) rebalance(n *bnode[T], k int) {
	if len(n.kids) < 2 {
		return
	}
	if k == len(n.kids)-1 {
		k--
	}
	l, r := n.kids[k], n.kids[k+1]
	if l.width()+r.width() <= btMax {
		m := &bnode[T]{owner: t.owner}
		if l.leaf() {
			m.items = append(append(make([]T, 0, btMax), l.items...), r.items...)
		} else {
			m.kids = append(append(make([]*bnode[T], 0, btMax+1), l.kids...), r.kids...)
			m.sizes = append(append(make([]int, 0, btMax+1), l.sizes...), r.sizes...)
			m.lasts = append(append(make([]T, 0, btMax+1), l.lasts...), r.lasts...)
		}
		n.kids[k] = m
		n.sizes[k] += n.sizes[k+1]
		n.lasts[k] = n.lasts[k+1]
		n.kids = removeAt(n.kids, k+1)
		n.sizes = removeAt(n.sizes, k+1)
		n.lasts = removeAt(n.lasts, k+1)
		return
	}
	nl, nr := &bnode[T]{owner: t.owner}, &bnode[T]{owner: t.owner}
	if l.leaf() {
		all := append(append(make([]T, 0, l.width()+r.width()), l.items...), r.items...)
		h := len(all) / 2
		nl.items = append(make([]T, 0, btMax), all[:h]...)
		nr.items = append(make([]T, 0, btMax), all[h:]...)
	} else {
		kids := append(append([]*bnode[T](nil), l.kids...), r.kids...)
		sizes := append(append([]int(nil), l.sizes...), r.sizes...)
		lasts := append(append([]T(nil), l.lasts...), r.lasts...)
		h := len(kids) / 2
		nl.kids = append(make([]*bnode[T], 0, btMax+1), kids[:h]...)
		nl.sizes = append(make([]int, 0, btMax+1), sizes[:h]...)
		nl.lasts = append(make([]T, 0, btMax+1), lasts[:h]...)
		nr.kids = append(make([]*bnode[T], 0, btMax+1), kids[h:]...)
		nr.sizes = append(make([]int, 0, btMax+1), sizes[h:]...)
		nr.lasts = append(make([]T, 0, btMax+1), lasts[h:]...)
	}
	n.kids[k], n.kids[k+1] = nl, nr
	n.sizes[k], n.sizes[k+1] = nl.size(), nr.size()
	n.lasts[k], n.lasts[k+1] = nl.last(), nr.last()
}

// DeleteRange removes the items at positions [i, j). It costs
// O(min(j-i, Len-(j-i)) log n): few removals one by one, else a rebuild
// from the items kept.
func (t *btree[T]) DeleteRange(i, j int) {
	if i >= j {
		return
	}
	r := j - i
	if r <= t.n-r || r < 64 {
		for ; r > 0; r-- {
			t.Delete(i)
		}
		return
	}
	kept := make([]T, 0, t.n-r)
	t.Ascend(0, func(p int, v T) bool {
		if p < i || p >= j {
			kept = append(kept, v)
		}
		return true
	})
	*t = *btreeFrom(kept).hashed(t.key)
}

// Ascend calls fn for the items from position from on, in order, until fn
// returns false.
func (t *btree[T]) Ascend(from int, fn func(i int, v T) bool) {
	from = max(from, 0)
	if t.root == nil || from >= t.n {
		return
	}
	ascendNode(t.root, from, from, fn)
}

func ascendNode[T any](n *bnode[T], off, pos int, fn func(i int, v T) bool) bool {
	if n.leaf() {
		for _, v := range n.items[off:] {
			if !fn(pos, v) {
				return false
			}
			pos++
		}
		return true
	}
	k, o := n.locate(off, false)
	for ; k < len(n.kids); k++ {
		if !ascendNode(n.kids[k], o, pos, fn) {
			return false
		}
		pos += n.sizes[k] - o
		o = 0
	}
	return true
}

// Descend calls fn for the items from position from down to 0 until fn
// returns false.
func (t *btree[T]) Descend(from int, fn func(i int, v T) bool) {
	if t.root == nil || from < 0 {
		return
	}
	from = min(from, t.n-1)
	descendNode(t.root, from, from, fn)
}

func descendNode[T any](n *bnode[T], off, pos int, fn func(i int, v T) bool) bool {
	if n.leaf() {
		for i := off; i >= 0; i-- {
			if !fn(pos, n.items[i]) {
				return false
			}
			pos--
		}
		return true
	}
	k, o := n.locate(off, false)
	for ; k >= 0; k-- {
		if !descendNode(n.kids[k], o, pos, fn) {
			return false
		}
		pos -= o + 1
		if k > 0 {
			o = n.sizes[k-1] - 1
		}
	}
	return true
}

// Search returns the position of the first item not less than x under
// cmp, and whether that item equals x.
func (t *btree[T]) Search(x T, cmp func(a, b T) int) (int, bool) {
	pos, n, k := t.descend(x, cmp)
	return pos, n != nil && k < len(n.items) && cmp(n.items[k], x) == 0
}

// descend finds the first item not less than x under cmp: its position,
// and its leaf and index there (nil if every item is less than x).
func (t *btree[T]) descend(x T, cmp func(a, b T) int) (int, *bnode[T], int) {
	n := t.root
	if n == nil {
		return 0, nil, 0
	}
	pos, sp := 0, wholeSpan
	for !n.leaf() {
		k := t.find(n.lasts, x, cmp, sp)
		if k == len(n.kids) {
			return t.n, nil, 0 // greater than everything
		}
		for _, s := range n.sizes[:k] {
			pos += s
		}
		n, sp = n.kids[k], t.child(n, k, sp)
	}
	k := t.find(n.items, x, cmp, sp)
	return pos + k, n, k
}

// span is the range of keys a node's items lie in, as its parent's
// separators tell (the whole key space at the root), so that guess can
// interpolate without reading a node's first and last items.
type span struct{ lo, hi uint64 }

var wholeSpan = span{0, ^uint64(0)}

// child returns the span of the k-th child of the inner node n, whose
// span is sp.
func (t *btree[T]) child(n *bnode[T], k int, sp span) span {
	if t.key == nil {
		return sp
	}
	if k > 0 {
		sp.lo = t.key(n.lasts[k-1])
	}
	sp.hi = t.key(n.lasts[k])
	return sp
}

// find is the index of the first element of s not less than x; sp is the
// span of s's node.
func (t *btree[T]) find(s []T, x T, cmp func(a, b T) int, sp span) int {
	if t.key == nil || len(s) < 8 {
		return bsearch(s, x, cmp)
	}
	return guess(s, x, t.key, cmp, sp)
}

// guess is bsearch for items sorted first by a uniformly spread hash key:
// it interpolates x's place from where x's key lies in the span sp of
// the items' keys, then gallops from there (1, 2, 4... items) to bracket
// it and bisects the bracket. The guess is usually a few items off, so a
// search reads a cache line or two of s, where bisecting reads one per
// halving; an uneven spread (or a wrong span) costs at most about twice
// a bisection.
func guess[T any](s []T, x T, key func(T) uint64, cmp func(a, b T) int, sp span) int {
	n := len(s)
	k := key(x)
	var i int
	switch {
	case k >= sp.hi:
		i = n - 1
	case k > sp.lo:
		i = min(int(float64(k-sp.lo)/float64(sp.hi-sp.lo)*float64(n)), n-1)
	}
	// Bracket x's place in [l, h]: s[l-1] < x (or l == 0) and s[h] >= x
	// (or h == n).
	var l, h int
	if cmp(s[i], x) < 0 {
		l, h = i+1, n
		for step := 1; i+step < n; step *= 2 {
			if cmp(s[i+step], x) >= 0 {
				h = i + step
				break
			}
			l = i + step + 1
		}
	} else {
		l, h = 0, i
		for step := 1; i-step >= 0; step *= 2 {
			if cmp(s[i-step], x) < 0 {
				l = i - step + 1
				break
			}
			h = i - step
		}
	}
	return l + bsearch(s[l:h], x, cmp)
}

// bsearch is the index of the first element of s not less than x.
func bsearch[T any](s []T, x T, cmp func(a, b T) int) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cmp(s[m], x) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Upsert stores x in an ordered tree in one descent: an item equal to x
// under cmp is replaced by merge(old) (the order must not change); else
// fresh(x) is inserted in order (x may alias memory the tree must not
// keep: fresh makes the item to store). It reports whether it inserted.
func (t *btree[T]) Upsert(x T, cmp func(a, b T) int, merge func(old T) T, fresh func(x T) T) bool {
	if t.root == nil {
		t.root = &bnode[T]{owner: t.owner, items: make([]T, 0, 4)}
	}
	t.root = t.own(t.root)
	r, inserted := t.upsert(t.root, x, cmp, merge, fresh, wholeSpan)
	if r != nil {
		l := t.root
		t.root = &bnode[T]{owner: t.owner,
			kids:  []*bnode[T]{l, r},
			sizes: []int{l.size(), r.size()},
			lasts: []T{l.last(), r.last()}}
	}
	if inserted {
		t.n++
	}
	return inserted
}

func (t *btree[T]) upsert(n *bnode[T], x T, cmp func(a, b T) int, merge, fresh func(T) T, sp span) (*bnode[T], bool) {
	if n.leaf() {
		k := t.find(n.items, x, cmp, sp)
		if k < len(n.items) && cmp(n.items[k], x) == 0 {
			n.items[k] = merge(n.items[k])
			return nil, false
		}
		return t.insert(n, k, fresh(x)), true
	}
	k := t.find(n.lasts, x, cmp, sp)
	if k == len(n.kids) {
		k-- // beyond every item: append to the last child
	}
	c := t.own(n.kids[k])
	n.kids[k] = c
	r, inserted := t.upsert(c, x, cmp, merge, fresh, t.child(n, k, sp))
	if inserted && r == nil {
		n.sizes[k]++
	}
	if r != nil {
		n.sizes[k] = c.size()
		n.kids = insertAt(n.kids, k+1, r)
		n.sizes = insertAt(n.sizes, k+1, r.size())
		n.lasts = insertAt(n.lasts, k+1, r.last())
	}
	n.lasts[k] = c.last()
	if len(n.kids) > btMax {
		return t.split(n), inserted
	}
	return nil, inserted
}

// DeleteKey removes the item equal to x under cmp from an ordered tree
// and returns it. A miss reads one path and writes nothing.
func (t *btree[T]) DeleteKey(x T, cmp func(a, b T) int) (T, bool) {
	// Check presence first without copying a path.
	if _, ok := t.Search(x, cmp); !ok {
		var zero T
		return zero, false
	}
	return t.DeletePresent(x, cmp), true
}

// DeletePresent removes the item equal to x under cmp, which must be in
// the tree, in one descent, and returns it.
func (t *btree[T]) DeletePresent(x T, cmp func(a, b T) int) T {
	t.root = t.own(t.root)
	v := t.delKey(t.root, x, cmp, wholeSpan)
	t.n--
	t.shrinkRoot()
	return v
}

func (t *btree[T]) delKey(n *bnode[T], x T, cmp func(a, b T) int, sp span) T {
	if n.leaf() {
		k := t.find(n.items, x, cmp, sp)
		v := n.items[k]
		n.items = removeAt(n.items, k)
		return v
	}
	k := t.find(n.lasts, x, cmp, sp)
	c := t.own(n.kids[k])
	n.kids[k] = c
	v := t.delKey(c, x, cmp, t.child(n, k, sp))
	n.sizes[k]--
	if n.sizes[k] == 0 {
		n.kids = removeAt(n.kids, k)
		n.sizes = removeAt(n.sizes, k)
		n.lasts = removeAt(n.lasts, k)
		return v
	}
	n.lasts[k] = c.last()
	if c.width() < btMin {
		t.rebalance(n, k)
	}
	return v
}

// Get returns the item equal to x under cmp, and its position.
func (t *btree[T]) Get(x T, cmp func(a, b T) int) (T, int, bool) {
	i, n, k := t.descend(x, cmp)
	if n == nil || k == len(n.items) || cmp(n.items[k], x) != 0 {
		var zero T
		return zero, i, false
	}
	return n.items[k], i, true
}

// btreeFrom builds a tree holding items in that order, in O(n), with
// leaves and inner nodes three quarters full.
func btreeFrom[T any](items []T) *btree[T] {
	t := newBtree[T]()
	if len(items) == 0 {
		return t
	}
	t.n = len(items)
	const fill = btMax * 3 / 4
	var level []*bnode[T]
	for i := 0; i < len(items); i += fill {
		j := min(i+fill, len(items))
		level = append(level, &bnode[T]{owner: t.owner, items: append(make([]T, 0, j-i+1), items[i:j]...)})
	}
	level = fixTail(level)
	for len(level) > 1 {
		var up []*bnode[T]
		for i := 0; i < len(level); i += fill {
			j := min(i+fill, len(level))
			p := &bnode[T]{owner: t.owner}
			for _, c := range level[i:j] {
				p.kids = append(p.kids, c)
				p.sizes = append(p.sizes, c.size())
				p.lasts = append(p.lasts, c.last())
			}
			up = append(up, p)
		}
		level = fixTail(up)
	}
	t.root = level[0]
	return t
}

// fixTail merges an underfull last node of a level into its neighbour
// (splitting evenly when too wide).
func fixTail[T any](level []*bnode[T]) []*bnode[T] {
	n := len(level)
	if n < 2 || level[n-1].width() >= btMin {
		return level
	}
	l, r := level[n-2], level[n-1]
	if l.leaf() {
		all := append(append([]T(nil), l.items...), r.items...)
		h := len(all) / 2
		l.items, r.items = all[:h:h], append([]T(nil), all[h:]...)
	} else {
		kids := append(append([]*bnode[T](nil), l.kids...), r.kids...)
		sizes := append(append([]int(nil), l.sizes...), r.sizes...)
		lasts := append(append([]T(nil), l.lasts...), r.lasts...)
		h := len(kids) / 2
		l.kids, l.sizes, l.lasts = kids[:h:h], sizes[:h:h], lasts[:h:h]
		r.kids, r.sizes, r.lasts = kids[h:], sizes[h:], lasts[h:]
	}
	return level
}

// check verifies the tree's invariants (tests).
func (t *btree[T]) check(cmp func(a, b T) int) error {
	if t.root == nil {
		if t.n != 0 {
			return errBtree("nil root with items")
		}
		return nil
	}
	n, err := checkNode(t.root, cmp, true)
	if err != nil {
		return err
	}
	if n != t.n {
		return errBtree("size mismatch")
	}
	if cmp != nil {
		var prev *T
		bad := false
		t.Ascend(0, func(_ int, v T) bool {
			if prev != nil && cmp(*prev, v) >= 0 {
				bad = true
				return false
			}
			prev = &v
			return true
		})
		if bad {
			return errBtree("order")
		}
	}
	return nil
}

type errBtree string

func (e errBtree) Error() string { return "btree: " + string(e) }

func checkNode[T any](n *bnode[T], cmp func(a, b T) int, root bool) (int, error) {
	if n.leaf() {
		if len(n.items) == 0 || len(n.items) > btMax {
			return 0, errBtree("leaf width")
		}
		return len(n.items), nil
	}
	if len(n.kids) > btMax || (!root && len(n.kids) < 1) {
		return 0, errBtree("inner width")
	}
	if len(n.sizes) != len(n.kids) || len(n.lasts) != len(n.kids) {
		return 0, errBtree("inner arrays")
	}
	total := 0
	for k, c := range n.kids {
		s, err := checkNode(c, cmp, false)
		if err != nil {
			return 0, err
		}
		if s != n.sizes[k] {
			return 0, errBtree("child size")
		}
		if cmp != nil && cmp(c.last(), n.lasts[k]) != 0 {
			return 0, errBtree("child last")
		}
		total += s
	}
	return total, nil
}
