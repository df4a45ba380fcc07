package backend

import (
	"cmp"
	"math/rand/v2"
	"slices"
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
func TestBtreeOrdered(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tr := newBtree[int]()
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
		}
	}
	if err := tr.check(c); err != nil {
		t.Fatal(err)
	}
	built := btreeFrom(model)
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
