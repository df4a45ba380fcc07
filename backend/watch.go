package backend

import "strings"

// WATCH: per-key change detection for optimistic transactions.
//
// A shard with WATCHed keys or blocked clients has keyHooks (nil
// otherwise, so the write path pays one nil check). Every write primitive
// of the keyspace (Tx.put, remove, setExpire, persist, flush) and every
// in-place change of a collection (Tx.modified, Redis' signalModifiedKey)
// calls keyChanged under the shard lock: each client watching the key
// gets its dirty flag (Redis' CLIENT_DIRTY_CAS), and a key that clients
// are blocked on (BLPOP...) is queued for serving (blocking.go).
//
// EXEC locks the shards of the watched keys together with those of the
// queued commands, so checking the dirty flag and running the commands is
// one atomic step: a write that lands before EXEC takes the locks makes it
// fail, one after cannot affect it.
//
// Expiry follows Redis 7: a key already logically expired when WATCHed
// is remembered as such; its deletion (lazy, active, DEL, FLUSHALL) is no
// change, anything else is. A key that expires after WATCH fails EXEC.

// keyHooks are a shard's WATCHed keys and blocked clients, guarded by the
// shard lock.
type keyHooks struct {
	watch   map[string][]*watchRec
	blocked map[string][]*waiter
}

// watchRec is one client's WATCH of one key.
type watchRec struct {
	c       *Client
	key     string
	expired bool // logically expired when watched (Redis' wk->expired)
}

func (sh *shard) hooksFor() *keyHooks {
	if sh.hooks == nil {
		sh.hooks = &keyHooks{}
	}
	return sh.hooks
}

// dropHooks frees the shard's hooks when nothing is watched or blocked.
func (sh *shard) dropHooks() {
	if h := sh.hooks; h != nil && len(h.watch) == 0 && len(h.blocked) == 0 {
		sh.hooks = nil
	}
}

// keyChanged is called with the shard lock held when key was written;
// exists tells whether the key exists afterwards. The caller checked
// sh.hooks != nil.
func (tx *Tx) keyChanged(sh *shard, key string, exists bool) {
	h := sh.hooks
	for _, w := range h.watch[key] {
		if w.expired && !exists {
			// An expired key deleted: logically no change.
			w.expired = false
			continue
		}
		w.c.mx.dirty.Store(true)
	}
	if exists && len(h.blocked[key]) > 0 {
		tx.ready = append(tx.ready, strings.Clone(key))
	}
}

// modified signals an in-place change of the collection at key (a push,
// a removal...): Redis' signalModifiedKey. Replacing or deleting a key
// through the Tx primitives signals by itself.
func (tx *Tx) modified(sh *shard, key []byte) {
	tx.changed(sh, hashKey(key))
	if sh.hooks != nil {
		tx.keyChanged(sh, bstr(key), true)
	}
}

// shardFlushed signals FLUSHALL to the hooks of a shard about to be
// emptied: every watched key that exists is deleted.
func (tx *Tx) shardFlushed(sh *shard) {
	for k := range sh.hooks.watch {
		if _, ok := sh.keys.Get(hashKeyString(k), k); ok {
			tx.keyChanged(sh, k, false)
		}
	}
}

func watchCommands() []*cmdSpec {
	const g = "transactions"
	return []*cmdSpec{
		{name: "watch", handler: cmdWatch, arity: -2, flags: flagNoScript | flagLoading | flagStale | flagFast | flagAllowBusy, first: 1, last: -1, step: 1, group: g, since: "2.2.0", summary: "Monitors changes to keys to determine the execution of a transaction.", complexity: "O(1) for every key."},
		{name: "unwatch", handler: cmdUnwatch, arity: 1, flags: flagNoScript | flagLoading | flagStale | flagFast | flagAllowBusy, group: g, since: "2.2.0", summary: "Forgets about watched keys of a transaction.", complexity: "O(1)"},
	}
}

func cmdWatch(c *Client, args [][]byte) {
	if c.mx.active {
		c.err("ERR WATCH inside MULTI is not allowed")
		return
	}
	tx := c.begin()
	tx.lockKeys(args[1:]...)
	for _, k := range args[1:] {
		if c.watching(k) {
			continue
		}
		e, sh, ok := tx.find(k)
		rec := &watchRec{c: c, key: string(k), expired: ok && tx.expired(sh, e)}
		h := sh.hooksFor()
		if h.watch == nil {
			h.watch = map[string][]*watchRec{}
		}
		h.watch[rec.key] = append(h.watch[rec.key], rec)
		c.mx.watched = append(c.mx.watched, rec)
	}
	c.commit()
	c.ok()
}

func (c *Client) watching(k []byte) bool {
	for _, w := range c.mx.watched {
		if w.key == bstr(k) {
			return true
		}
	}
	return false
}

func cmdUnwatch(c *Client, _ [][]byte) {
	c.unwatchAll()
	c.mx.dirty.Store(false)
	c.ok()
}

// watchedKeys returns the keys c watches (EXEC locks their shards).
func (c *Client) watchedKeys() [][]byte {
	out := make([][]byte, len(c.mx.watched))
	for i, w := range c.mx.watched {
		out[i] = []byte(w.key)
	}
	return out
}

// unwatchAll forgets every watched key, locking their shards.
func (c *Client) unwatchAll() {
	if len(c.mx.watched) == 0 {
		return
	}
	tx := c.begin()
	tx.lockKeys(c.watchedKeys()...)
	c.unwatchLocked(tx)
	c.commit()
}

// unwatchLocked forgets every watched key; the caller holds their shards.
func (c *Client) unwatchLocked(tx *Tx) {
	for _, w := range c.mx.watched {
		sh := tx.shardOf(hashKeyString(w.key))
		h := sh.hooks
		if h == nil {
			continue
		}
		list := h.watch[w.key]
		for i, x := range list {
			if x == w {
				list = removeAt(list, i)
				break
			}
		}
		if len(list) == 0 {
			delete(h.watch, w.key)
		} else {
			h.watch[w.key] = list
		}
		sh.dropHooks()
	}
	c.mx.watched = c.mx.watched[:0]
}

// watchedExpired reports whether a watched key that was live when
// watched is now logically expired (EXEC then fails, as in Redis 7); the
// caller holds the shards.
func (c *Client) watchedExpired(tx *Tx) bool {
	for _, w := range c.mx.watched {
		if w.expired {
			continue
		}
		if e, sh, ok := tx.find([]byte(w.key)); ok && tx.expired(sh, e) {
			return true
		}
	}
	return false
}
