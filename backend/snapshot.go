package backend

// Snapshot is a point-in-time copy of the whole keyspace, consistent with
// stream offset Offset: every write before Offset is in it, none after.
// Taking one locks all shards (in order) for an O(1) trie Copy each and
// reads the stream offset — microseconds — and writes go on meanwhile:
// tries copy their nodes on write, string blocks are immutable and objects
// are cloned before their first write (Tx.mutableObject).
//
// Users: the AOF rewrite (snapshot + stream tail after Offset); later full
// resynchronisation of replicas and key listing for slot migration.
type Snapshot struct {
	// Offset is the stream offset the snapshot is consistent with.
	Offset int64
	// Cursor, when requested, reads the stream from Offset (retaining
	// it); the caller closes it.
	Cursor *Cursor

	ks      *Keyspace
	keys    [numShards]*htrie
	changes uint64 // writes applied up to the snapshot (Keyspace.changes)
	done    bool
}

// Snapshot takes a snapshot. With cursor, it also opens a stream cursor at
// the snapshot's offset.
func (ks *Keyspace) Snapshot(cursor bool) *Snapshot {
	sn := &Snapshot{ks: ks}
	for i := range ks.shards {
		ks.shards[i].mu.Lock()
	}
	for i := range ks.shards {
		sh := &ks.shards[i]
		sn.keys[i] = sh.keys.Copy()
		sn.changes += sh.changes
		sh.gen++
		sh.snaps++
	}
	st := ks.stream
	st.mu.Lock()
	st.settleLocked()
	sn.Offset = st.end
	if cursor {
		sn.Cursor, _ = st.newCursorLocked(st.end, false)
	}
	st.mu.Unlock()
	for i := len(ks.shards) - 1; i >= 0; i-- {
		ks.shards[i].mu.Unlock()
	}
	return sn
}

// Release ends the snapshot: objects are no longer cloned on its behalf.
// It does not close Cursor.
func (sn *Snapshot) Release() {
	if sn.done {
		return
	}
	sn.done = true
	for i := range sn.ks.shards {
		sh := &sn.ks.shards[i]
		sh.mu.Lock()
		sh.snaps--
		sh.mu.Unlock()
		sn.keys[i] = nil
	}
}

// Len is the number of keys in the snapshot.
func (sn *Snapshot) Len() int {
	n := 0
	for _, t := range sn.keys {
		n += t.Len()
	}
	return n
}

// snapItem is one key of a snapshot.
type snapItem struct {
	e  entry
	at int64 // absolute expiry in unix ms, or -1
}

// Range calls fn for every key in (hash, key) order, from hash cursor on,
// until fn returns false. Expired keys are included (with their expiry):
// replaying them recreates already-expired keys that expire at once, as
// Redis' AOF does.
func (sn *Snapshot) Range(from uint64, fn func(it snapItem) bool) {
	for i := shardIndex(from); i < numShards; i++ {
		cont := true
		sn.keys[i].Ascend(from, func(e entry) bool {
			cont = fn(snapItem{e: e, at: e.expireAt()})
			return cont
		})
		if !cont {
			return
		}
		from = 0
	}
}

// StreamCursor opens a cursor at the current end of the write stream with
// every shard locked, so no write can straddle the moment the stream
// becomes active (appends skip the stream lock while nobody reads).
// Replication uses it for a new replica's live stream after a snapshot
// (or Snapshot(true) for both at once).
func (ks *Keyspace) StreamCursor(notify bool) *Cursor {
	for i := range ks.shards {
		ks.shards[i].mu.Lock()
	}
	defer func() {
		for i := len(ks.shards) - 1; i >= 0; i-- {
			ks.shards[i].mu.Unlock()
		}
	}()
	st := ks.stream
	st.mu.Lock()
	defer st.mu.Unlock()
	c, _ := st.newCursorLocked(st.end+st.idle.Load(), notify)
	return c
}
