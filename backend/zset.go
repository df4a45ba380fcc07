package backend

import (
	"cmp"
	"slices"
	"strings"
)

// zsetObj is a sorted set: two copy-on-write counted B+trees, one ordered
// by (score, member) — ranks and score/lex ranges in O(log n), the role
// of Redis' skiplist — and one by (hash of member, member) mapping members
// to scores — ZSCORE in O(log n) and ZSCAN's stable cursor, the role of
// Redis' dict. Members are shared strings, so an element costs two tree
// slots and one copy of its bytes.
//
// listpack is the encoding reported (listpack below
// zset-max-listpack-entries / -value, then skiplist, one way as in Redis
// 7.0); the structure is the same either way.
type zsetObj struct {
	ord      *btree[zitem]
	dict     *btree[zmember]
	listpack bool
}

type zitem struct {
	score float64
	m     string
}

type zmember struct {
	h     uint64
	m     string
	score float64
}

func cmpZitem(a, b zitem) int {
	if a.score < b.score {
		return -1
	}
	if a.score > b.score {
		return 1
	}
	return strings.Compare(a.m, b.m)
}

func zmemberKey(e zmember) uint64 { return e.h }

func cmpZmember(a, b zmember) int {
	if c := cmp.Compare(a.h, b.h); c != 0 {
		return c
	}
	return strings.Compare(a.m, b.m)
}

func newZsetObj(listpack bool) *zsetObj {
	return &zsetObj{ord: newBtree[zitem](), dict: newBtree[zmember]().hashed(zmemberKey), listpack: listpack}
}

func (z *zsetObj) Type() string { return "zset" }

func (z *zsetObj) Encoding() string {
	if z.listpack {
		return "listpack"
	}
	return "skiplist"
}

func (z *zsetObj) Len() int { return z.ord.Len() }

func (z *zsetObj) Clone() Object {
	return &zsetObj{ord: z.ord.Clone(), dict: z.dict.Clone(), listpack: z.listpack}
}

func (z *zsetObj) MemoryUsage() int {
	n := z.Len()
	if n == 0 {
		return 96
	}
	sample, k := 0, 0
	z.ord.Ascend(0, func(_ int, it zitem) bool {
		sample += len(it.m)
		k++
		return k < 5
	})
	return 96 + n*(60+sample/k)
}

func (z *zsetObj) Rewrite(key string, emit func(args ...[]byte)) {
	args := make([][]byte, 0, 2+2*rewriteBatch)
	args = append(args, []byte("ZADD"), []byte(key))
	var scores []byte // this batch's scores, one buffer
	z.ord.Ascend(0, func(_ int, it zitem) bool {
		from := len(scores)
		scores = appendScoreArg(scores, it.score)
		args = append(args, scores[from:len(scores):len(scores)], sbytes(it.m))
		if len(args) == 2+2*rewriteBatch {
			emit(args...)
			args, scores = args[:2], scores[:0]
		}
		return true
	})
	if len(args) > 2 {
		emit(args...)
	}
}

// score returns member's score.
func (z *zsetObj) score(m []byte) (float64, bool) {
	x, _, ok := z.lookup(m)
	return x.score, ok
}

// rank returns member's 0-based rank in score order.
func (z *zsetObj) rank(m []byte) (int, bool) {
	s, ok := z.score(m)
	if !ok {
		return 0, false
	}
	i, _ := z.ord.Search(zitem{s, bstr(m)}, cmpZitem)
	return i, true
}

// stored is the score as stored: a listpack keeps scores as text, where
// Redis writes -0 as "0".
func (z *zsetObj) stored(s float64) float64 {
	if z.listpack && s == 0 {
		return 0
	}
	return s
}

// insert adds a member known to be absent.
func (z *zsetObj) insert(m string, score float64) {
	score = z.stored(score)
	keep := func(old zitem) zitem { return old }
	same := func(x zitem) zitem { return x }
	z.ord.Upsert(zitem{score, m}, cmpZitem, keep, same)
	z.dict.Upsert(zmember{h: hashKeyString(m), m: m, score: score}, cmpZmember,
		func(old zmember) zmember { return old }, func(x zmember) zmember { return x })
}

// lookup returns member m's dict entry and its position in the dict, for
// updateAt.
func (z *zsetObj) lookup(m []byte) (zmember, int, bool) {
	return z.dict.Get(zmember{h: hashKey(m), m: bstr(m)}, cmpZmember)
}

// updateAt moves the member x, at position i of the dict (lookup), to
// score s. The dict entry is rewritten in place, without a second search
// of the dict, and both trees keep sharing the member's string.
func (z *zsetObj) updateAt(i int, x zmember, s float64) {
	s = z.stored(s)
	z.ord.DeletePresent(zitem{x.score, x.m}, cmpZitem)
	z.ord.Upsert(zitem{s, x.m}, cmpZitem, func(o zitem) zitem { return o }, func(x zitem) zitem { return x })
	x.score = s
	z.dict.Set(i, x)
}

// remove deletes member m; it reports whether it was there.
func (z *zsetObj) remove(m []byte) bool {
	x, ok := z.dict.DeleteKey(zmember{h: hashKey(m), m: bstr(m)}, cmpZmember)
	if !ok {
		return false
	}
	z.ord.DeletePresent(zitem{x.score, x.m}, cmpZitem)
	return true
}

// deleteRanks removes the members at ranks [i, j).
func (z *zsetObj) deleteRanks(i, j int) {
	if j-i > z.Len()/2 && j-i > 64 {
		// Rebuild both trees from what stays.
		var keep []zitem
		z.ord.Ascend(0, func(p int, it zitem) bool {
			if p < i || p >= j {
				keep = append(keep, it)
			}
			return true
		})
		*z = *zsetFromSorted(keep, z.listpack)
		return
	}
	for k := i; k < j; k++ {
		it := z.ord.Delete(i)
		x, _ := z.dict.Search(zmember{h: hashKeyString(it.m), m: it.m}, cmpZmember)
		z.dict.Delete(x)
	}
}

// zsetFromSorted builds a sorted set from items in (score, member) order.
func zsetFromSorted(items []zitem, listpack bool) *zsetObj {
	if listpack {
		for i := range items {
			if items[i].score == 0 {
				items[i].score = 0
			}
		}
	}
	z := &zsetObj{ord: btreeFrom(items), listpack: listpack}
	ms := make([]zmember, len(items))
	for i, it := range items {
		ms[i] = zmember{h: hashKeyString(it.m), m: it.m, score: it.score}
	}
	slices.SortFunc(ms, cmpZmember)
	z.dict = btreeFrom(ms).hashed(zmemberKey)
	return z
}

// noteAdd applies Redis' listpack → skiplist conversion rule to a member
// about to be added.
func (z *zsetObj) noteAdd(lim *typeLimits, m []byte) {
	if z.listpack && (int64(z.Len()+1) > lim.zsetEntries.Load() || int64(len(m)) > lim.zsetValue.Load()) {
		z.listpack = false
	}
}

// fitsListpack reports whether a new sorted set of n members, the longest
// maxLen bytes, is created as a listpack.
func fitsListpack(lim *typeLimits, n, maxLen int) bool {
	return int64(n) <= lim.zsetEntries.Load() && int64(maxLen) <= lim.zsetValue.Load()
}

// Sorted set ends (ZPOPMIN/ZPOPMAX, ZMPOP MIN|MAX).
const (
	zsetMin = iota
	zsetMax
)

func parseMinMax(b []byte) (int, bool) {
	switch {
	case eqFold(b, "min"):
		return zsetMin, true
	case eqFold(b, "max"):
		return zsetMax, true
	}
	return 0, false
}

func zpopName(where int) []byte {
	if where == zsetMin {
		return []byte("ZPOPMIN")
	}
	return []byte("ZPOPMAX")
}

// zsetPop removes up to count members from the min or max end of the
// sorted set at key (live entry e), deleting the key when it empties.
func zsetPop(tx *Tx, sh *shard, e entry, key []byte, where, count int) []zitem {
	z := mutable[*zsetObj](tx, sh, e)
	count = min(count, z.Len())
	out := make([]zitem, 0, count)
	for range count {
		var it zitem
		if where == zsetMin {
			it = z.ord.At(0)
		} else {
			it = z.ord.At(z.Len() - 1)
		}
		z.remove([]byte(it.m))
		out = append(out, it)
	}
	if count > 0 {
		tx.notify(notifyZset, zpopEvent[where], key)
	}
	if !tx.notifyDel(dropIfEmpty(tx, key, z), key) {
		tx.modified(sh, key)
	}
	return out
}

// writeZMPop writes ZMPOP's reply: the key and [member, score] pairs.
func writeZMPop(w *replyWriter, key []byte, items []zitem) {
	w.WriteArray(2)
	w.WriteBulk(key)
	w.WriteArray(len(items))
	for _, it := range items {
		w.WriteArray(2)
		w.WriteBulkString(it.m)
		w.WriteBulk(appendScore(nil, it.score))
	}
}
