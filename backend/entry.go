package backend

import (
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// Object is a value of a non-string type (hash, list, set, sorted set...).
// Adding a type is one file: a Go type implementing Object plus its command
// family, registered in the command table. Strings are not Objects: they
// are packed into the key's own allocation (see entry).
//
// Copy-on-write contract: an Object reachable from the keyspace may also be
// reachable from a live Snapshot (AOF rewrite, full resync, migration
// listing). Commands never mutate an Object they got from a read lookup;
// they call Tx.mutableObject, which returns a private Clone when a snapshot
// may share the original. Clone should be cheap for large collections
// (share structure, e.g. a copy-on-write B-tree), because it runs under the
// shard lock.
type Object interface {
	// Type is the name TYPE replies with ("hash", "list", "set", "zset").
	Type() string
	// Encoding is what OBJECT ENCODING replies with.
	Encoding() string
	// Len is the number of elements; a key whose Object becomes empty is
	// deleted by the command that emptied it, as Redis does.
	Len() int
	// Clone returns a copy that can be mutated without affecting the
	// receiver (which a snapshot may still be reading).
	Clone() Object
	// MemoryUsage estimates the bytes held by the value (MEMORY USAGE,
	// INFO used_memory is the Go heap, not the sum of these).
	MemoryUsage() int
	// Rewrite emits commands that recreate the value under key, for the
	// AOF rewrite and full resynchronisation. Large values are emitted in
	// several commands of at most rewriteBatch elements, like Redis'
	// AOF_REWRITE_ITEMS_PER_CMD. It must only read the receiver.
	Rewrite(key string, emit func(args ...[]byte))
}

// rewriteBatch is the number of elements per command in an AOF rewrite.
const rewriteBatch = 64

// entry is one key in a shard's trie, 32 bytes. The trie is ordered by
// (hash, key), which makes the 64-bit hash a stable SCAN cursor.
//
// Strings — the bulk of most datasets — cost one allocation: ptr points to
// a pointer-free block holding the key bytes followed by the value bytes,
// and meta holds both lengths. Such blocks are immutable once in the tree
// (every write builds a new block), so readers may keep the value after
// the shard lock is released and snapshots share them freely.
//
// Other types: ptr points to an objRec (key, Object, COW generation) and
// the metaObject bit is set.
//
// exp is the absolute expiry in unix ms when metaTTL is set: a read of a
// key with a TTL costs no second lookup. The shard's ttl index lists the
// keys that have one, for the active expiry cycle.
type entry struct {
	hash uint64
	ptr  unsafe.Pointer
	meta uint64
	exp  int64
}

const (
	metaKeyLen   = 1<<32 - 1 // bits 0..31: key length
	metaValShift = 32        // bits 32..61: string value length
	metaValLen   = 1<<30 - 1
	metaTTL      = 1 << 62 // the key has an expiry in the shard's ttl tree
	metaObject   = 1 << 63 // ptr is an *objRec
)

// maxStringLen is Redis' proto-max-bulk-len default and string size limit.
const maxStringLen = 512 << 20

// objRec holds a non-string value. A new objRec replaces the old one on
// every copy-on-write clone, so snapshots keep the previous pointer.
type objRec struct {
	key string
	obj Object
	gen uint64 // shard snapshot generation when created or cloned
}

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

func hashKeyString(key string) uint64 { return xxhash.Sum64String(key) }

// bstr views b as a string without copying, for lookups only.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (e entry) isObject() bool { return e.meta&metaObject != 0 }
func (e entry) hasTTL() bool   { return e.meta&metaTTL != 0 }

// key returns the key; it aliases the immutable block (or objRec).
func (e entry) key() string {
	if e.meta&metaObject != 0 {
		return (*objRec)(e.ptr).key
	}
	return unsafe.String((*byte)(e.ptr), int(e.meta&metaKeyLen))
}

// str returns the string value of a string entry; it aliases the
// immutable block.
func (e entry) str() string {
	kl := e.meta & metaKeyLen
	vl := (e.meta >> metaValShift) & metaValLen
	if vl == 0 {
		return ""
	}
	return unsafe.String((*byte)(unsafe.Add(e.ptr, kl)), int(vl))
}

func (e entry) strLen() int { return int((e.meta >> metaValShift) & metaValLen) }

func (e entry) rec() *objRec { return (*objRec)(e.ptr) }

// typeName is what TYPE replies with.
func (e entry) typeName() string {
	if e.isObject() {
		return e.rec().obj.Type()
	}
	return "string"
}

// withExp returns e with the expiry at, or without expiry when at < 0.
func (e entry) withExp(at int64) entry {
	if at < 0 {
		e.meta &^= metaTTL
		e.exp = 0
	} else {
		e.meta |= metaTTL
		e.exp = at
	}
	return e
}

// expireAt is the entry's expiry in unix ms, or -1.
func (e entry) expireAt() int64 {
	if e.meta&metaTTL == 0 {
		return -1
	}
	return e.exp
}

// newStringEntry packs key and the concatenation of parts into one block.
func newStringEntry(h uint64, key []byte, parts ...[]byte) entry {
	n := len(key)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, n)
	off := copy(b, key)
	for _, p := range parts {
		off += copy(b[off:], p)
	}
	return entry{hash: h, ptr: unsafe.Pointer(unsafe.SliceData(b)),
		meta: uint64(len(key)) | uint64(n-len(key))<<metaValShift}
}

// newStringEntryS is newStringEntry for string parts.
func newStringEntryS(h uint64, key string, val string) entry {
	b := make([]byte, len(key)+len(val))
	copy(b, key)
	copy(b[len(key):], val)
	return entry{hash: h, ptr: unsafe.Pointer(unsafe.SliceData(b)),
		meta: uint64(len(key)) | uint64(len(val))<<metaValShift}
}

func newObjectEntry(h uint64, key string, obj Object, gen uint64) entry {
	return entry{hash: h, ptr: unsafe.Pointer(&objRec{key: key, obj: obj, gen: gen}),
		meta: uint64(len(key)) | metaObject}
}

// ttlItem is the ttl index's entry for a key with an expiry: a key-only
// string entry (its own copy of the key) carrying the expiry too.
func ttlItem(e entry) entry {
	t := newStringEntryS(e.hash, e.key(), "")
	t.exp = e.exp
	return t
}

// entryMemory estimates the bytes an entry holds (MEMORY USAGE).
func entryMemory(e entry) int {
	n := 32 + int(e.meta&metaKeyLen)
	if e.isObject() {
		n += 48 + e.rec().obj.MemoryUsage()
	} else {
		n += e.strLen()
	}
	if e.hasTTL() {
		n += 40 + int(e.meta&metaKeyLen)
	}
	return n
}
