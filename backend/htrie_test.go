package backend

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
)

// refItem is the reference model of one trie entry.
type refItem struct {
	h   uint64
	key string
	val string
}

func sortedRef(m map[string]refItem) []refItem {
	out := make([]refItem, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].h != out[j].h {
			return out[i].h < out[j].h
		}
		return out[i].key < out[j].key
	})
	return out
}

func trieItems(t *htrie, from uint64) []refItem {
	var out []refItem
	t.Ascend(from, func(e entry) bool {
		out = append(out, refItem{e.hash, e.key(), e.str()})
		return true
	})
	return out
}

// TestHtrieRandom checks the trie against a map under random sets,
// updates and deletes — with forced hash collisions and a narrow hash range
// so leaves split and collapse at every depth — and checks that snapshots
// stay frozen while the live trie changes.
func TestHtrieRandom(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, 77))
		tr := newHtrie()
		ref := map[string]refItem{}
		type snap struct {
			t    *htrie
			want []refItem
		}
		var snaps []snap
		// Hashes within one shard; few distinct values in the low bits to
		// force collisions and deep splits.
		hashOf := func(k string) uint64 {
			n, _ := strconv.Atoi(k[1:])
			switch n % 5 {
			case 0:
				return 7 << 56 // collisions
			case 1:
				return 7<<56 | uint64(n%3)
			default:
				return 7<<56 | hashKeyString(k)>>8
			}
		}
		for i := 0; i < 30000; i++ {
			k := "k" + strconv.Itoa(r.IntN(3000))
			h := hashOf(k)
			switch op := r.IntN(10); {
			case op < 5:
				v := strconv.Itoa(i)
				_, replaced := tr.Set(newStringEntryS(h, k, v))
				if _, had := ref[k]; had != replaced {
					t.Fatalf("Set %s replaced=%v, ref had=%v", k, replaced, had)
				}
				ref[k] = refItem{h, k, v}
			case op < 8:
				_, ok := tr.Delete(h, k)
				if _, had := ref[k]; had != ok {
					t.Fatalf("Delete %s = %v, ref had %v", k, ok, had)
				}
				delete(ref, k)
			case op < 9:
				ok := tr.Update(h, k, func(e *entry) { *e = e.withExp(int64(i)) })
				if _, had := ref[k]; had != ok {
					t.Fatalf("Update %s = %v", k, ok)
				}
			default:
				e, ok := tr.Get(h, k)
				want, had := ref[k]
				if ok != had || (ok && e.str() != want.val) {
					t.Fatalf("Get %s = %q %v, want %q %v", k, e.str(), ok, want.val, had)
				}
			}
			if tr.Len() != len(ref) {
				t.Fatalf("Len %d, ref %d", tr.Len(), len(ref))
			}
			if i%997 == 0 {
				s := tr.Copy()
				snaps = append(snaps, snap{s, sortedRef(ref)})
			}
		}
		want := sortedRef(ref)
		if got := trieItems(tr, 0); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d: order differs (%d vs %d items)", seed, len(got), len(want))
		}
		for i, w := range want {
			e, ok := tr.GetAt(i)
			if !ok || e.key() != w.key {
				t.Fatalf("GetAt(%d) = %q, want %q", i, e.key(), w.key)
			}
		}
		// Ascend from a hash in the middle.
		if len(want) > 10 {
			from := want[len(want)/2].h
			var sub []refItem
			for _, w := range want {
				if w.h >= from {
					sub = append(sub, w)
				}
			}
			if got := trieItems(tr, from); fmt.Sprint(got) != fmt.Sprint(sub) {
				t.Fatalf("Ascend(from) differs")
			}
		}
		for i, s := range snaps {
			if got := trieItems(s.t, 0); fmt.Sprint(got) != fmt.Sprint(s.want) {
				t.Fatalf("seed %d: snapshot %d changed", seed, i)
			}
		}
		// Delete everything: the trie empties cleanly.
		for _, w := range want {
			if _, ok := tr.Delete(w.h, w.key); !ok {
				t.Fatalf("final delete %s", w.key)
			}
		}
		if tr.Len() != 0 || tr.root != nil {
			t.Fatalf("not empty after deleting all")
		}
	}
}

func BenchmarkHtrieGet(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var tries [numShards]*htrie
			for i := range tries {
				tries[i] = newHtrie()
			}
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("key:%012d", i))
				h := hashKey(keys[i])
				tries[shardIndex(h)].Set(newStringEntry(h, keys[i], []byte("xxx")))
			}
			r := rand.New(rand.NewPCG(1, 2))
			order := make([]int, 1<<16)
			for i := range order {
				order[i] = r.IntN(n)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := keys[order[i&(1<<16-1)]]
				h := hashKey(k)
				if _, ok := tries[shardIndex(h)].Get(h, bstr(k)); !ok {
					b.Fatal("missing")
				}
			}
		})
	}
}
