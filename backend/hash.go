package backend

import (
	"cmp"
	"strings"
)

// hashObj is a hash. Small hashes are an insertion-ordered array of
// field/value pairs, like Redis' listpack (HGETALL replies in the same
// order as Redis); above hash-max-listpack-entries or with a field or
// value longer than hash-max-listpack-value it becomes a copy-on-write
// B+tree ordered by (hash of field, field), which is also HSCAN's cursor
// order. The conversion is one way, as in Redis.
type hashObj struct {
	small []hashPair        // compact form, nil when big != nil
	big   *btree[hashEntry] // tree form
	// listpack is the encoding OBJECT ENCODING reports; it can stay true
	// above maxCompactHash entries when the threshold is configured higher.
	listpack bool
}

type hashPair struct{ f, v string }

type hashEntry struct {
	h    uint64
	f, v string
}

func cmpHashEntry(a, b hashEntry) int {
	if c := cmp.Compare(a.h, b.h); c != 0 {
		return c
	}
	return strings.Compare(a.f, b.f)
}

func hashEntryKey(e hashEntry) uint64 { return e.h }

func newHashObj() *hashObj { return &hashObj{listpack: true, small: []hashPair{}} }

func (h *hashObj) Type() string { return "hash" }

func (h *hashObj) Encoding() string {
	if h.listpack {
		return "listpack"
	}
	return "hashtable"
}

func (h *hashObj) Len() int {
	if h.big != nil {
		return h.big.Len()
	}
	return len(h.small)
}

func (h *hashObj) Clone() Object {
	c := &hashObj{listpack: h.listpack}
	if h.big != nil {
		c.big = h.big.Clone()
	} else {
		c.small = append(make([]hashPair, 0, len(h.small)+1), h.small...)
	}
	return c
}

func (h *hashObj) MemoryUsage() int {
	n := h.Len()
	if n == 0 {
		return 48
	}
	sample := 0
	k := 0
	h.each(func(f, v string) bool {
		sample += len(f) + len(v)
		k++
		return k < 5
	})
	per := 40 + sample/k
	if h.big != nil {
		per += 8
	}
	return 48 + n*per
}

func (h *hashObj) Rewrite(key string, emit func(args ...[]byte)) {
	args := make([][]byte, 0, 2+2*rewriteBatch)
	args = append(args, []byte("HSET"), []byte(key))
	h.each(func(f, v string) bool {
		args = append(args, sbytes(f), sbytes(v))
		if len(args) == 2+2*rewriteBatch {
			emit(args...)
			args = args[:2]
		}
		return true
	})
	if len(args) > 2 {
		emit(args...)
	}
}

// each calls fn for every field in the hash's order until it returns
// false.
func (h *hashObj) each(fn func(f, v string) bool) {
	if h.big != nil {
		h.big.Ascend(0, func(_ int, e hashEntry) bool { return fn(e.f, e.v) })
		return
	}
	for _, p := range h.small {
		if !fn(p.f, p.v) {
			return
		}
	}
}

// at returns the i-th field and value in the hash's order.
func (h *hashObj) at(i int) (string, string) {
	if h.big != nil {
		e := h.big.At(i)
		return e.f, e.v
	}
	return h.small[i].f, h.small[i].v
}

func (h *hashObj) get(f []byte) (string, bool) {
	if h.big != nil {
		e, _, ok := h.big.Get(hashEntry{h: hashKey(f), f: bstr(f)}, cmpHashEntry)
		return e.v, ok
	}
	fs := bstr(f)
	for i := range h.small {
		if h.small[i].f == fs {
			return h.small[i].v, true
		}
	}
	return "", false
}

// set sets field f to v; it reports whether the field is new.
func (h *hashObj) set(f, v []byte) bool {
	if h.big != nil {
		vs := string(v)
		return h.big.Upsert(hashEntry{h: hashKey(f), f: bstr(f), v: vs}, cmpHashEntry,
			func(old hashEntry) hashEntry { old.v = vs; return old },
			func(x hashEntry) hashEntry { x.f = string(f); return x })
	}
	fs := bstr(f)
	for i := range h.small {
		if h.small[i].f == fs {
			h.small[i].v = string(v)
			return false
		}
	}
	h.small = append(h.small, hashPair{string(f), string(v)})
	return true
}

// del removes field f; it reports whether it was there.
func (h *hashObj) del(f []byte) bool {
	if h.big != nil {
		i, ok := h.big.Search(hashEntry{h: hashKey(f), f: bstr(f)}, cmpHashEntry)
		if ok {
			h.big.Delete(i)
		}
		return ok
	}
	fs := bstr(f)
	for i := range h.small {
		if h.small[i].f == fs {
			h.small = removeAt(h.small, i)
			return true
		}
	}
	return false
}

// checkValue drops the listpack encoding for a field or value longer than
// hash-max-listpack-value.
func (h *hashObj) checkValue(lim *typeLimits, n int) {
	if h.listpack && int64(n) > lim.hashValue.Load() {
		h.listpack = false
		h.toBig()
	}
}

// checkLen converts to the tree form when the hash outgrew the compact one.
func (h *hashObj) checkLen(lim *typeLimits) {
	if h.listpack && int64(h.Len()) > lim.hashEntries.Load() {
		h.listpack = false
	}
	if h.big == nil && (!h.listpack || len(h.small) > maxCompactHash) {
		h.toBig()
	}
}

func (h *hashObj) toBig() {
	if h.big != nil {
		return
	}
	t := newBtree[hashEntry]().hashed(hashEntryKey)
	for _, p := range h.small {
		x := hashEntry{h: hashKeyString(p.f), f: p.f, v: p.v}
		i, _ := t.Search(x, cmpHashEntry)
		t.Insert(i, x)
	}
	h.big, h.small = t, nil
}

// scan is HSCAN's iteration: compact hashes are returned whole with cursor
// 0 (as Redis does for listpacks); tree hashes from the first field whose
// hash is >= cursor, about count fields, never splitting a group of
// fields with one hash.
func (h *hashObj) scan(cursor uint64, count int, fn func(f, v string)) uint64 {
	if h.big == nil {
		for _, p := range h.small {
			fn(p.f, p.v)
		}
		return 0
	}
	return scanTree(h.big, hashEntry{h: cursor}, cmpHashEntry, func(e hashEntry) uint64 { return e.h }, count,
		func(e hashEntry) { fn(e.f, e.v) })
}

// scanTree visits about count items of a (hash, member)-ordered tree from
// the first item whose hash is >= start's, and returns the next cursor (0
// at the end).
func scanTree[T any](t *btree[T], start T, cmp func(a, b T) int, hashOf func(T) uint64, count int, fn func(T)) uint64 {
	i, _ := t.Search(start, cmp)
	visited := 0
	var last uint64
	next := uint64(0)
	t.Ascend(i, func(_ int, x T) bool {
		hx := hashOf(x)
		if visited >= count && hx != last {
			next = hx
			return false
		}
		visited++
		last = hx
		fn(x)
		return true
	})
	return next
}
