package backend

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestBtreeSequence drives a tree and a slice with the same random
// positional operations, cloning now and then: the clone's original must
// keep its items (copy-on-write), and both must keep their invariants.
func TestBtreeSequence(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tr := newBtree[int]()
	var model []int
	type frozen struct {
		t     *btree[int]
		items []int
	}
	var olds []frozen
	next := 0
	for step := 0; step < 60000; step++ {
		switch op := r.IntN(100); {
		case op < 45:
			i := 0
			switch r.IntN(3) {
			case 0:
				i = len(model)
			case 1:
				i = 0
			default:
				i = r.IntN(len(model) + 1)
			}
			tr.Insert(i, next)
			model = slices.Insert(model, i, next)
			next++
		case op < 75 && len(model) > 0:
			i := r.IntN(len(model))
			if v := tr.Delete(i); v != model[i] {
				t.Fatalf("step %d: Delete(%d) = %d, want %d", step, i, v, model[i])
			}
			model = slices.Delete(model, i, i+1)
		case op < 80 && len(model) > 0:
			i := r.IntN(len(model))
			tr.Set(i, -next)
			model[i] = -next
			next++
		case op < 83 && len(model) > 0:
			i := r.IntN(len(model))
			j := i + r.IntN(len(model)-i+1)
			tr.DeleteRange(i, j)
			model = slices.Delete(model, i, j)
		case op < 85:
			olds = append(olds, frozen{tr, slices.Clone(model)})
			tr = tr.Clone()
		default:
			if len(model) > 0 {
				i := r.IntN(len(model))
				if v := tr.At(i); v != model[i] {
					t.Fatalf("At(%d) = %d, want %d", i, v, model[i])
				}
			}
		}
		if step%997 == 0 {
			if err := tr.check(nil); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			assertSeq(t, tr, model)
		}
	}
	assertSeq(t, tr, model)
	for _, o := range olds {
		assertSeq(t, o.t, o.items)
	}
}

func assertSeq(t *testing.T, tr *btree[int], model []int) {
	t.Helper()
	if tr.Len() != len(model) {
		t.Fatalf("Len %d, want %d", tr.Len(), len(model))
	}
	var got []int
	tr.Ascend(0, func(i int, v int) bool {
		if i != len(got) {
			t.Fatalf("Ascend position %d at item %d", i, len(got))
		}
		got = append(got, v)
		return true
	})
	if !slices.Equal(got, model) {
		t.Fatalf("items differ")
	}
	if len(model) > 0 {
		from := len(model) / 3
		var rev []int
		tr.Descend(from, func(i int, v int) bool {
			if v != model[i] {
				t.Fatalf("Descend position %d = %d, want %d", i, v, model[i])
			}
			rev = append(rev, v)
			return true
		})
		if len(rev) != from+1 {
			t.Fatalf("Descend from %d visited %d", from, len(rev))
		}
		var part []int
		tr.Ascend(from, func(i int, v int) bool {
			part = append(part, v)
			return len(part) < 5
		})
		if !slices.Equal(part, model[from:min(from+5, len(model))]) {
			t.Fatalf("Ascend(%d) = %v", from, part)
		}
	}
}

// TestBtreeOrdered: an ordered tree (Search + positional ops) against a
// sorted slice.
// TestBtreeOrdered drives an ordered tree and a sorted slice with the
// same random operations, bisecting nodes (no key) and guessing with
// keys spread evenly, in clumps and all equal (see guess).
func TestBtreeOrdered(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  func(int) uint64
	}{
		{"bisect", nil},
		// Keys must sort like the items: the searches include -1.
		{"even", func(x int) uint64 { return uint64(x+1) << 40 }},
		{"clumps", func(x int) uint64 { return uint64((x + 1) / 700) }},
		{"skewed", func(x int) uint64 { return uint64(x+1) * uint64(x+1) * uint64(x+1) }},
		{"equal", func(int) uint64 { return 7 }},
	} {
		t.Run(tc.name, func(t *testing.T) { testBtreeOrdered(t, tc.key) })
	}
}

func testBtreeOrdered(t *testing.T, key func(int) uint64) {
	r := rand.New(rand.NewPCG(3, 4))
	tr := newBtree[int]().hashed(key)
	var model []int
	c := cmp.Compare[int]
	for step := 0; step < 50000; step++ {
		x := r.IntN(5000)
		if step%7 == 0 {
			if _, ok := tr.DeleteKey(5000+x, c); ok {
				t.Fatal("DeleteKey of an absent item")
			}
		}
		i, found := tr.Search(x, c)
		j, mfound := slices.BinarySearch(model, x)
		if i != j || found != mfound {
			t.Fatalf("Search(%d) = %d %v, want %d %v", x, i, found, j, mfound)
		}
		if v, gi, ok := tr.Get(x, c); gi != j || ok != mfound || (ok && v != x) {
			t.Fatalf("Get(%d) = %d %d %v, want %d %d %v", x, v, gi, ok, x, j, mfound)
		}
		switch {
		case found && step%3 == 0:
			// Upsert of a present item replaces it in place.
			if tr.Upsert(x, c, func(o int) int { return o }, func(int) int { panic("inserted") }) {
				t.Fatal("Upsert inserted a present item")
			}
		case found && step%5 == 0:
			if v, ok := tr.DeleteKey(x, c); !ok || v != x {
				t.Fatalf("DeleteKey(%d) = %d %v", x, v, ok)
			}
			model = slices.Delete(model, j, j+1)
		case found && step%2 == 0:
			if v := tr.DeletePresent(x, c); v != x {
				t.Fatalf("DeletePresent(%d) = %d", x, v)
			}
			model = slices.Delete(model, j, j+1)
		case found:
			tr.Delete(i)
			model = slices.Delete(model, j, j+1)
		case step%2 == 0:
			if !tr.Upsert(x, c, func(int) int { panic("merged") }, func(v int) int { return v }) {
				t.Fatal("Upsert did not insert")
			}
			model = slices.Insert(model, j, x)
		default:
			tr.Insert(i, x)
			model = slices.Insert(model, j, x)
		}
		if step%5000 == 0 {
			tr = tr.Clone()
			if (tr.key == nil) != (key == nil) {
				t.Fatal("Clone lost the tree's key")
			}
		}
		if step == 40000 {
			// A large range deletion rebuilds the tree: it keeps its key.
			lo := len(model) / 4
			tr.DeleteRange(lo, len(model)-lo)
			model = slices.Delete(model, lo, len(model)-lo)
			if (tr.key == nil) != (key == nil) {
				t.Fatal("DeleteRange lost the tree's key")
			}
		}
	}
	if err := tr.check(c); err != nil {
		t.Fatal(err)
	}
	built := btreeFrom(model).hashed(key)
	if err := built.check(c); err != nil {
		t.Fatal(err)
	}
	for _, x := range []int{-1, 0, 2500, 4999, 5000} {
		i, f := built.Search(x, c)
		j, mf := slices.BinarySearch(model, x)
		if i != j || f != mf {
			t.Fatalf("built Search(%d) = %d %v, want %d %v", x, i, f, j, mf)
		}
	}
	for n := range 300 {
		b := btreeFrom(model[:n])
		if err := b.check(c); err != nil {
			t.Fatalf("btreeFrom(%d): %v", n, err)
		}
	}
}

// TestGuess compares guess with bsearch for every place in runs of 1 to
// 70 items whose keys are spread evenly, clumped, skewed, equal or
// colliding (equal keys, items told apart by cmp), with right and wrong
// spans.
func TestGuess(t *testing.T) {
	type item struct {
		k uint64
		s int
	}
	c := func(a, b item) int {
		if x := cmp.Compare(a.k, b.k); x != 0 {
			return x
		}
		return cmp.Compare(a.s, b.s)
	}
	key := func(x item) uint64 { return x.k }
	r := rand.New(rand.NewPCG(5, 6))
	gens := map[string]func(i int) uint64{
		"random": func(int) uint64 { return r.Uint64() },
		"clumps": func(int) uint64 { return uint64(r.IntN(3)) << 62 },
		"skewed": func(i int) uint64 { return 1 << (i % 64) },
		"equal":  func(int) uint64 { return 42 },
		"ends":   func(i int) uint64 { return [2]uint64{0, ^uint64(0)}[r.IntN(2)] },
	}
	for name, gen := range gens {
		for n := 1; n <= 70; n++ {
			s := make([]item, n)
			for i := range s {
				s[i] = item{gen(i), 2 * r.IntN(4)}
			}
			slices.SortFunc(s, c)
			s = slices.CompactFunc(s, func(a, b item) bool { return c(a, b) == 0 })
			var probes []item
			for _, x := range s {
				probes = append(probes, x, item{x.k, x.s - 1}, item{x.k, x.s + 1}, item{x.k + 1, 0}, item{x.k - 1, 9})
			}
			probes = append(probes, item{0, -1}, item{^uint64(0), 99}, item{r.Uint64(), 0})
			// The span a parent gives (the previous sibling's last key to
			// this node's last), the whole key space, and wrong ones.
			spans := []span{{s[0].k - 1, s[len(s)-1].k}, wholeSpan, {r.Uint64(), r.Uint64()}, {5, 5}, {^uint64(0), 0}}
			for _, sp := range spans {
				for _, x := range probes {
					if got, want := guess(s, x, key, c, sp), bsearch(s, x, c); got != want {
						t.Fatalf("%s, %d items, span %v: guess(%v) = %d, bsearch %d", name, len(s), sp, x, got, want)
					}
				}
			}
		}
	}
}

// TestHashedTrees checks that every way a hash, a set or a sorted set
// gets its tree form gives the tree its hash key (a tree without it
// still works, only slower).
func TestHashedTrees(t *testing.T) {
	lim := &typeLimits{}
	lim.store(DefaultConfig())
	h := newHashObj()
	for i := range 600 {
		h.set([]byte(strconv.Itoa(i)), []byte("v"))
		h.checkLen(lim)
	}
	s := newSetFor([]byte("1"))
	for i := range 600 {
		s.add(lim, []byte(strconv.Itoa(i)))
	}
	z := newZsetObj(false)
	z.insert("a", 1)
	trees := map[string]bool{
		"hash":            h.big != nil && h.big.key != nil,
		"hash clone":      h.Clone().(*hashObj).big.key != nil,
		"set from intset": s.big != nil && s.big.key != nil,
		"set":             newSetFor([]byte("x")).big.key != nil,
		"zset dict":       z.dict.key != nil,
		"zset from items": zsetFromSorted([]zitem{{1, "a"}}, false).dict.key != nil,
	}
	for name, ok := range trees {
		if !ok {
			t.Errorf("%s: tree without its hash key", name)
		}
	}
}

func BenchmarkBtreeOrderedInsert(b *testing.B) {
	tr := newBtree[int]()
	c := cmp.Compare[int]
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < b.N; i++ {
		x := r.Int()
		p, _ := tr.Search(x, c)
		tr.Insert(p, x)
	}
}
