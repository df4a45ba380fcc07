package backend

import "sync/atomic"

// Encoding thresholds of the collection types, Redis' parameters of the
// same names (hash-max-listpack-entries...). They decide what OBJECT
// ENCODING reports — "listpack" / "intset" below them, "hashtable" /
// "skiplist" above, sticky like Redis' conversions — and, for hashes and
// sets, the compact representation used below them (an insertion-ordered
// array for hashes, a sorted int64 array for integer sets), as Redis'
// listpack and intset. Commands read them without a lock.
type typeLimits struct {
	hashEntries, hashValue atomic.Int64
	setIntset              atomic.Int64
	zsetEntries, zsetValue atomic.Int64
	hllSparseMax           atomic.Int64 // hll-sparse-max-bytes
}

func (l *typeLimits) store(c Config) {
	l.hashEntries.Store(int64(c.HashMaxListpackEntries))
	l.hashValue.Store(int64(c.HashMaxListpackValue))
	l.setIntset.Store(int64(c.SetMaxIntsetEntries))
	l.zsetEntries.Store(int64(c.ZsetMaxListpackEntries))
	l.zsetValue.Store(int64(c.ZsetMaxListpackValue))
	l.hllSparseMax.Store(c.HLLSparseMaxBytes)
}

// Compact representations stay small whatever the thresholds say, so that
// cloning one (copy-on-write under a shard lock) stays cheap: above these
// sizes the tree is used even when the reported encoding is still the
// compact one.
const (
	maxCompactHash   = 512
	maxCompactIntset = 8192
)
