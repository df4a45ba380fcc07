package backend

import (
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
)

// shardBits sets the number of keyspace shards (256). A key's shard is the
// top bits of its 64-bit hash, so the global (hash, key) order is shard
// order then tree order: one SCAN cursor covers every shard.
const (
	shardBits = 8
	numShards = 1 << shardBits
)

// shard is one lock's worth of keyspace: a copy-on-write trie of keys and
// one listing the keys that have an expiry, both ordered by (hash, key).
type shard struct {
	mu    sync.Mutex
	keys  *htrie
	ttls  *htrie
	gen   uint64 // bumped by each snapshot (object copy-on-write)
	snaps int    // live snapshots sharing this shard's trees

	expCursor uint64 // next hash the active expiry cycle samples

	// hooks are the WATCHed keys and blocked clients (watch.go), nil
	// when there are none.
	hooks *keyHooks

	// Statistics, guarded by mu (summed by INFO). changes counts the
	// writes applied (Redis' server.dirty, by key: rdb_changes_since_last_save).
	hits, misses, expired, changes uint64

	_ [64]byte // keep neighbouring shards' locks off one cache line
}

// Keyspace is database 0: sharded, each shard under its own mutex.
type Keyspace struct {
	shards [numShards]shard
	stream *Stream

	// hideExpired is the replica switch: logically expired keys read as
	// missing but are not deleted (the master sends the DEL), and the
	// active expiry cycle does nothing.
	hideExpired atomic.Bool

	// notifyFlags are the enabled keyspace notification classes and
	// events the hub they are published to (notify.go).
	notifyFlags atomic.Int32
	events      *pubsubHub
}

// NewKeyspace returns an empty keyspace whose writes go to stream.
func NewKeyspace(stream *Stream) *Keyspace {
	ks := &Keyspace{stream: stream}
	for i := range ks.shards {
		ks.shards[i].keys = newHtrie()
		ks.shards[i].ttls = newHtrie()
	}
	return ks
}

// SetReplicaExpiry switches between master expiry (expired keys are
// deleted and a DEL is written to the stream) and replica expiry (expired
// keys are hidden; deletion comes from the master's stream).
func (ks *Keyspace) SetReplicaExpiry(on bool) { ks.hideExpired.Store(on) }

func shardIndex(h uint64) int { return int(h >> (64 - shardBits)) }

// Len is the number of keys, expired-but-not-yet-deleted ones included
// (like Redis' DBSIZE).
func (ks *Keyspace) Len() int {
	n := 0
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		n += sh.keys.Len()
		sh.mu.Unlock()
	}
	return n
}

// keyspaceStats is what INFO needs from the shards.
type keyspaceStats struct {
	keys, expires           int
	hits, misses, expired   uint64
	changes                 uint64
	avgTTLSum, avgTTLSample int64
}

func (ks *Keyspace) stats(now int64) keyspaceStats {
	var st keyspaceStats
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		st.keys += sh.keys.Len()
		st.expires += sh.ttls.Len()
		st.hits += sh.hits
		st.misses += sh.misses
		st.expired += sh.expired
		st.changes += sh.changes
		if t, ok := sh.ttls.GetAt(0); ok && t.exp > now {
			st.avgTTLSum += t.exp - now
			st.avgTTLSample++
		}
		sh.mu.Unlock()
	}
	return st
}

// changes is the number of writes applied since the start (Redis'
// server.dirty before it is reset: the caller subtracts a saved count).
func (ks *Keyspace) changes() uint64 {
	var n uint64
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		n += sh.changes
		sh.mu.Unlock()
	}
	return n
}

func (ks *Keyspace) resetStats() {
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		sh.hits, sh.misses, sh.expired = 0, 0, 0
		sh.mu.Unlock()
	}
}

// Tx is a set of locked shards and the stream bytes the command emits.
// Every keyspace access goes through a Tx: lock the keys' shards (always in
// ascending shard order, so multi-key commands cannot deadlock), read and
// write, emit the replayable form of each change, then unlock, which
// appends the emitted bytes to the stream before releasing the shards. A
// client reuses one Tx, so the hot path allocates nothing here.
type Tx struct {
	ks     *Keyspace
	now    int64 // unix ms, fixed for the command (expiry decisions)
	locked [numShards / 64]uint64
	order  []uint16
	out    []byte // emitted commands, appended to the stream on unlock
	nout   int    // number of commands in out

	noEmit      bool // AOF loading: the changes are already in the file
	noExpire    bool // loading, or the replication link: nothing expires
	hideExpired bool // replica: expired keys read as missing, not deleted
	wrap        bool // wrap several emitted commands in MULTI/EXEC (EXEC)
	// verbatim, when set, is appended to the stream at unlock instead of
	// the emitted commands: a replica's copy of its master's bytes
	// (repl_replica.go), so that offsets match.
	verbatim []byte

	// ready lists keys created while clients are blocked on them; the
	// client serves them after unlocking (blocking.go).
	ready []string

	// changedKeys are the hashes of the keys the current command changed
	// (counted once each in their shard's changes; Client.begin empties it).
	changedKeys []uint64

	// events are the keyspace notifications recorded, published by
	// unlock (notify.go).
	events []keyEvent
}

// changed counts a change of the key with hash h in sh, once per command.
func (tx *Tx) changed(sh *shard, h uint64) {
	for _, x := range tx.changedKeys {
		if x == h {
			return
		}
	}
	tx.changedKeys = append(tx.changedKeys, h)
	sh.changes++
}

func (tx *Tx) reset(ks *Keyspace, now int64) {
	tx.ks = ks
	tx.now = now
	tx.out = tx.out[:0]
	tx.nout = 0
	tx.order = tx.order[:0]
	tx.hideExpired = ks.hideExpired.Load()
	tx.ready = tx.ready[:0]
	tx.events = tx.events[:0]
}

func (tx *Tx) isLocked(i int) bool { return tx.locked[i>>6]&(1<<(uint(i)&63)) != 0 }

func (tx *Tx) lockShard(i int) {
	if tx.isLocked(i) {
		return
	}
	if n := len(tx.order); n > 0 && int(tx.order[n-1]) > i {
		// Taking shards out of order could deadlock: use lockKeys.
		panic("backend: shard locks taken out of order")
	}
	tx.ks.shards[i].mu.Lock()
	tx.locked[i>>6] |= 1 << (uint(i) & 63)
	tx.order = append(tx.order, uint16(i))
}

// tryLockShard locks shard i if it is free, in any order (it never
// waits, so it cannot deadlock); order stays sorted so that lockShard's
// check still sees the highest shard held.
func (tx *Tx) tryLockShard(i int) bool {
	if tx.isLocked(i) {
		return true
	}
	if !tx.ks.shards[i].mu.TryLock() {
		return false
	}
	tx.locked[i>>6] |= 1 << (uint(i) & 63)
	at, _ := slices.BinarySearch(tx.order, uint16(i))
	tx.order = slices.Insert(tx.order, at, uint16(i))
	return true
}

// lockKey locks the shard of one key.
func (tx *Tx) lockKey(key []byte) { tx.lockShard(shardIndex(hashKey(key))) }

// lockKeys locks the shards of keys in ascending shard order.
func (tx *Tx) lockKeys(keys ...[]byte) {
	var want [numShards / 64]uint64
	for _, k := range keys {
		i := shardIndex(hashKey(k))
		want[i>>6] |= 1 << (uint(i) & 63)
	}
	tx.lockMask(&want)
}

func (tx *Tx) lockMask(want *[numShards / 64]uint64) {
	if len(tx.order) > 0 {
		for w := range want {
			if want[w]&^tx.locked[w] != 0 {
				panic("backend: Tx locks must be taken at once")
			}
		}
		return // all held already (inside Client.atomically)
	}
	for w := range want {
		for bits := want[w]; bits != 0; bits &= bits - 1 {
			i := w*64 + trailingZeros(bits)
			tx.lockShard(i)
		}
	}
}

// lockAll locks every shard (FLUSHALL, EXEC of unknown keys).
func (tx *Tx) lockAll() {
	var want [numShards / 64]uint64
	for w := range want {
		want[w] = ^uint64(0)
	}
	tx.lockMask(&want)
}

// unlock appends the emitted commands to the stream, releases the shards
// and returns the stream offset after this Tx's writes (0 if none).
func (tx *Tx) unlock() int64 {
	var off int64
	if tx.verbatim != nil {
		off = tx.ks.stream.Append(tx.verbatim)
		tx.verbatim = nil
	} else if tx.nout > 0 && !tx.noEmit {
		if tx.wrap && tx.nout > 1 {
			b := appendCommandStrings(nil, "MULTI")
			b = append(b, tx.out...)
			b = appendCommandStrings(b, "EXEC")
			off = tx.ks.stream.Append(b)
		} else {
			off = tx.ks.stream.Append(tx.out)
		}
	}
	for i := len(tx.order) - 1; i >= 0; i-- {
		s := int(tx.order[i])
		tx.locked[s>>6] &^= 1 << (uint(s) & 63)
		tx.ks.shards[s].mu.Unlock()
	}
	tx.order = tx.order[:0]
	if cap(tx.out) > 1<<20 {
		tx.out = nil
	} else {
		tx.out = tx.out[:0]
	}
	tx.nout = 0
	if len(tx.events) > 0 {
		tx.publishEvents()
	}
	return off
}

func (tx *Tx) shardOf(h uint64) *shard {
	i := shardIndex(h)
	if !tx.isLocked(i) {
		panic("backend: keyspace access without the shard lock")
	}
	return &tx.ks.shards[i]
}

// emit records one command of the replayable write stream.
func (tx *Tx) emit(args ...[]byte) {
	tx.out = appendCommand(tx.out, args...)
	tx.nout++
}

// emitStrings is emit for string arguments.
func (tx *Tx) emitStrings(args ...string) {
	tx.out = appendCommandStrings(tx.out, args...)
	tx.nout++
}

// emitRaw records a command already in RESP form (the client's own
// command when it is replayable as sent).
func (tx *Tx) emitRaw(raw []byte) {
	tx.out = append(tx.out, raw...)
	tx.nout++
}

// find returns the stored entry for key, expired or not.
func (tx *Tx) find(key []byte) (entry, *shard, bool) {
	h := hashKey(key)
	sh := tx.shardOf(h)
	e, ok := sh.keys.Get(h, bstr(key))
	return e, sh, ok
}

// expired reports whether e is logically expired now.
func (tx *Tx) expired(sh *shard, e entry) bool {
	return e.hasTTL() && !tx.noExpire && tx.now > e.exp
}

// lookup returns the live entry for key. An expired key is deleted (and a
// DEL emitted) on a master, or only hidden on a replica.
func (tx *Tx) lookup(key []byte) (entry, *shard, bool) {
	e, sh, ok := tx.find(key)
	if !ok {
		return e, sh, false
	}
	if tx.expired(sh, e) {
		if !tx.hideExpired {
			tx.deleteExpired(sh, e)
		}
		return entry{}, sh, false
	}
	return e, sh, true
}

// lookupRead is lookup for read commands: it counts keyspace hits/misses.
func (tx *Tx) lookupRead(key []byte) (entry, *shard, bool) {
	e, sh, ok := tx.lookup(key)
	if ok {
		sh.hits++
	} else {
		sh.misses++
		tx.notify(notifyKeyMiss, "keymiss", key)
	}
	return e, sh, ok
}

func (tx *Tx) deleteExpired(sh *shard, e entry) {
	k := e.key()
	tx.unlink(sh, e)
	sh.expired++
	tx.notifyStr(notifyExpired, "expired", k)
	tx.emitStrings("DEL", k)
}

// remove deletes a stored entry (no emission: the caller emits its
// command).
func (tx *Tx) remove(sh *shard, e entry) {
	tx.changed(sh, e.hash)
	tx.unlink(sh, e)
}

// unlink is remove without counting a change: an expired key's deletion
// is not one (as in Redis).
func (tx *Tx) unlink(sh *shard, e entry) {
	k := e.key()
	if sh.hooks != nil {
		tx.keyChanged(sh, k, false)
	}
	if e.hasTTL() {
		sh.ttls.Delete(e.hash, k)
	}
	sh.keys.Delete(e.hash, k)
}

// put stores e, replacing any entry for the same key. With keepTTL an
// existing expiry is kept; otherwise it is removed (e's own expiry, if
// set, is stored). The caller has applied expiry to the previous entry
// when keepTTL matters.
func (tx *Tx) put(sh *shard, e entry, keepTTL bool) {
	tx.changed(sh, e.hash)
	if sh.hooks != nil {
		tx.keyChanged(sh, e.key(), true)
	}
	prev, replaced := sh.keys.Set(e)
	if !replaced {
		tx.notifyStr(notifyNew, "new", e.key())
	}
	if !replaced || !prev.hasTTL() {
		if e.hasTTL() {
			sh.ttls.Set(ttlItem(e))
		}
		return
	}
	if keepTTL && !e.hasTTL() {
		sh.keys.Update(e.hash, e.key(), func(p *entry) { *p = p.withExp(prev.exp) })
		return
	}
	if e.hasTTL() {
		sh.ttls.Set(ttlItem(e))
	} else {
		sh.ttls.Delete(e.hash, e.key())
	}
}

// setExpire gives the live entry e the absolute expiry at (unix ms).
func (tx *Tx) setExpire(sh *shard, e entry, at int64) {
	tx.changed(sh, e.hash)
	if sh.hooks != nil {
		tx.keyChanged(sh, e.key(), true)
	}
	sh.keys.Update(e.hash, e.key(), func(p *entry) { *p = p.withExp(at) })
	if e.hasTTL() {
		sh.ttls.Update(e.hash, e.key(), func(p *entry) { p.exp = at })
	} else {
		sh.ttls.Set(ttlItem(e.withExp(at)))
	}
}

// persist removes the expiry of the live entry e; it reports whether
// there was one.
func (tx *Tx) persist(sh *shard, e entry) bool {
	if !e.hasTTL() {
		return false
	}
	tx.changed(sh, e.hash)
	if sh.hooks != nil {
		tx.keyChanged(sh, e.key(), true)
	}
	sh.ttls.Delete(e.hash, e.key())
	sh.keys.Update(e.hash, e.key(), func(p *entry) { *p = p.withExp(-1) })
	return true
}

// expireAt returns the expiry of the live entry e, or -1.
func (tx *Tx) expireAt(sh *shard, e entry) int64 { return e.expireAt() }

// mutableObject returns the Object of the live object entry e for
// modification: a private clone (stored in the trie) when a live snapshot
// may share it.
func (tx *Tx) mutableObject(sh *shard, e entry) Object {
	r := e.rec()
	if sh.snaps == 0 || r.gen >= sh.gen {
		return r.obj
	}
	ne := newObjectEntry(e.hash, r.key, r.obj.Clone(), sh.gen)
	ne.meta |= e.meta & metaTTL
	ne.exp = e.exp
	sh.keys.Set(ne)
	return ne.rec().obj
}

// putObject stores obj under key (a new key or a replacement).
func (tx *Tx) putObject(key []byte, obj Object, keepTTL bool) {
	h := hashKey(key)
	sh := tx.shardOf(h)
	tx.put(sh, newObjectEntry(h, string(key), obj, sh.gen), keepTTL)
}

// flush empties every shard; the caller holds all shard locks.
func (tx *Tx) flush() {
	for i := range tx.ks.shards {
		sh := tx.shardOf(uint64(i) << (64 - shardBits))
		if sh.hooks != nil {
			tx.shardFlushed(sh)
		}
		sh.changes += uint64(sh.keys.Len()) // Redis adds the keys removed
		sh.keys = newHtrie()
		sh.ttls = newHtrie()
	}
}

func trailingZeros(x uint64) int { return bits.TrailingZeros64(x) }
