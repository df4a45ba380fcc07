package backend

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The source-side migration guard (docs/resharding.md#the-source-guard).
//
// A proxy that has a slot's migration record moves a key to the target
// before it sends a request for it there (SHARDIS.MIGRATEKEY); a proxy
// that does not have the record yet (ZooKeeper delivery lag, a partition,
// a proxy with a static topology) still sends the key's requests here,
// where a moved key is missing: a read would miss, a write would create a
// stale copy that the migrator later drops. Redis Cluster answers -ASK
// for a missing key of a MIGRATING slot; this server answers
//
//	-TRYAGAIN key <k> moved to <target> by a migration; retry
//
// to a command of an ordinary client that touches a key which is not here
// and which either
//
//   - was moved away, or answered NOKEY, by SHARDIS.MIGRATEKEY (a
//     tombstone per key, at most maxTombstones), or
//   - belongs to a slot range a SHARDIS.MIGRATESLOTS call is migrating
//     (the call carries the pool's hash, tag, slot count and range).
//
// Keys that are here are served as before: this server still owns them.
// Each tombstone and range lives guardTime (migrate-guard-time, 60 s)
// after the last migration command that named it, so a proxy that applies
// the final switch late still gets TRYAGAIN rather than writing to the old
// owner, and the memory is freed. The check runs under the keys' shard
// locks and the command runs under the same locks (moves take them too),
// so a key cannot move between the check and the command. With no guard
// state the cost is one atomic load per command (dispatch).
//
// SHARDIS.* commands and RESTORE (what migrations send) are exempt; a
// RESTORE of a guarded key means this server is receiving it back (slots
// moved back), and clears the key's tombstone and the ranges that hold it.
// The guard lives in the master's memory only: replicas do not check it
// and a promoted replica starts without one (docs).
type migrateGuard struct {
	on atomic.Bool // any tombstone or range: dispatch checks commands

	// ttl is the guard time in nanoseconds (0: no guard) once configured
	// (else defaultGuardTime).
	ttl        atomic.Int64
	configured atomic.Bool

	mu     sync.Mutex
	tombs  map[string]guardTomb
	ranges []guardRange
	// dropped counts tombstones not kept (over maxTombstones).
	dropped int64
	// pruneAt is when expired state is next removed (unix ns).
	pruneAt atomic.Int64
}

type guardTomb struct {
	target string
	until  time.Time
}

type guardRange struct {
	sp     SlotSpec // hash, tag, slots, range (no AUTH)
	target string
	until  time.Time
}

// defaultGuardTime is migrate-guard-time's default.
const defaultGuardTime = 60 * time.Second

// maxTombstones bounds the tombstone set (about 100 bytes a key plus the
// key): beyond it, moved keys are protected only by range guards, which
// cover every key SHARDIS.MIGRATESLOTS moves but not keys moved on
// demand before the migrator's first batch.
const maxTombstones = 1 << 18

func (g *migrateGuard) guardTime() time.Duration {
	if !g.configured.Load() {
		return defaultGuardTime
	}
	return time.Duration(g.ttl.Load())
}

// setGuardTime sets migrate-guard-time; 0 disables the guard (and drops
// its state).
func (g *migrateGuard) setGuardTime(d time.Duration) {
	g.configured.Store(true)
	g.ttl.Store(int64(d))
	if d == 0 {
		g.mu.Lock()
		g.tombs, g.ranges = nil, nil
		g.on.Store(false)
		g.mu.Unlock()
	}
}

// tomb remembers that key moved to target (or is not here while a proxy
// routes it to target). The caller holds the key's shard lock.
func (g *migrateGuard) tomb(key []byte, target string) {
	d := g.guardTime()
	if d <= 0 {
		return
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tombs == nil {
		g.tombs = map[string]guardTomb{}
	}
	if _, ok := g.tombs[string(key)]; !ok {
		for i := range g.ranges {
			if r := &g.ranges[i]; r.target == target && r.sp.contains(string(key)) {
				// A range guard covers the key: extended, no tombstone
				// (keeps the set small once the migrator runs).
				r.until = now.Add(d)
				return
			}
		}
	}
	if _, ok := g.tombs[string(key)]; !ok && len(g.tombs) >= maxTombstones {
		g.prune(now)
		if len(g.tombs) >= maxTombstones {
			g.dropped++
			return
		}
	}
	g.tombs[string(key)] = guardTomb{target: target, until: now.Add(d)}
	g.on.Store(true)
}

// guardRange registers (or extends) sp's range as migrating to target,
// before any key of it moves.
func (g *migrateGuard) addRange(sp *SlotSpec, target string) {
	d := g.guardTime()
	if d <= 0 {
		return
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	until := now.Add(d)
	for i := range g.ranges {
		r := &g.ranges[i]
		if r.target == target && r.sp.Hash == sp.Hash && r.sp.Tag == sp.Tag && r.sp.Slots == sp.Slots && r.sp.Lo == sp.Lo && r.sp.Hi == sp.Hi {
			r.until = until
			return
		}
	}
	r := guardRange{sp: *sp, target: target, until: until}
	r.sp.Auth = ""
	g.ranges = append(g.ranges, r)
	g.on.Store(true)
}

// prune drops expired state; g.mu is held.
func (g *migrateGuard) prune(now time.Time) {
	for k, t := range g.tombs {
		if now.After(t.until) {
			delete(g.tombs, k)
		}
	}
	if len(g.tombs) == 0 {
		g.tombs = nil // frees the map's memory
	}
	live := g.ranges[:0]
	for _, r := range g.ranges {
		if !now.After(r.until) {
			live = append(live, r)
		}
	}
	clear(g.ranges[len(live):])
	g.ranges = live
	if len(g.ranges) == 0 {
		g.ranges = nil
	}
	g.pruneAt.Store(now.Add(guardPruneEvery).UnixNano())
	if g.tombs == nil && g.ranges == nil {
		g.on.Store(false)
	}
}

// guardPruneEvery is how often expired guard state is removed (while
// commands arrive).
const guardPruneEvery = 100 * time.Millisecond

// maybePrune removes expired state at most every guardPruneEvery.
func (g *migrateGuard) maybePrune(now time.Time) {
	if now.UnixNano() < g.pruneAt.Load() {
		return
	}
	g.mu.Lock()
	g.prune(now)
	g.mu.Unlock()
}

// target returns where key went if it is guarded ("" if not); the caller
// knows the key is not here.
func (g *migrateGuard) target(key []byte, now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.tombs[string(key)]; ok && !now.After(t.until) {
		return t.target
	}
	for i := range g.ranges {
		r := &g.ranges[i]
		if !now.After(r.until) && r.sp.contains(string(key)) {
			return r.target
		}
	}
	return ""
}

// forget drops key's tombstone and the ranges holding it: the key is
// being migrated back here (RESTORE).
func (g *migrateGuard) forget(key []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.tombs, string(key))
	live := g.ranges[:0]
	for _, r := range g.ranges {
		if !r.sp.contains(string(key)) {
			live = append(live, r)
		}
	}
	clear(g.ranges[len(live):])
	g.ranges = live
	if len(g.tombs) == 0 && len(g.ranges) == 0 {
		g.tombs, g.ranges = nil, nil
		g.on.Store(false)
	}
}

// stats returns the number of tombstones and ranges, and the tombstones
// dropped over the bound.
func (g *migrateGuard) stats() (tombs, ranges int, dropped int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.tombs), len(g.ranges), g.dropped
}

// errGuarded is the reply to a command touching a guarded key.
func errGuarded(key []byte, target string) string {
	k := key
	if len(k) > 128 {
		k = k[:128]
	}
	return "TRYAGAIN key " + strconv.Quote(string(k)) + " moved to " + target + " by a migration; retry"
}

// guardable reports whether cmd is subject to the guard: a command that
// reads or writes keys, except the migrations' own.
func guardable(cmd *cmdSpec) bool {
	if cmd.flags&(flagWrite|flagReadonly) == 0 || cmd.flags&flagPubSub != 0 {
		return false
	}
	root := cmd
	if root.parent != nil {
		root = root.parent
	}
	return root.group != "shardis"
}

// checkKeys returns the TRYAGAIN reply if one of keys is not here and is
// guarded ("" if none). The caller holds the keys' shards.
func (g *migrateGuard) checkKeys(tx *Tx, keys [][]byte, now time.Time) string {
	for _, k := range keys {
		if e, sh, ok := tx.find(k); ok && !tx.expired(sh, e) {
			continue
		}
		if t := g.target(k, now); t != "" {
			return errGuarded(k, t)
		}
	}
	return ""
}

// commandKeys appends the keys of cmd to buf (none when cmd has no key
// or is not guardable).
func commandKeys(buf [][]byte, cmd *cmdSpec, args [][]byte) [][]byte {
	if !guardable(cmd) {
		return buf
	}
	if cmd.keys != nil {
		for _, p := range cmd.keys(args) {
			if p < len(args) {
				buf = append(buf, args[p])
			}
		}
		return buf
	}
	if cmd.first == 0 {
		return buf
	}
	last := cmd.last
	if last < 0 {
		last += len(args)
	}
	for i := cmd.first; i <= last && i < len(args); i += max(cmd.step, 1) {
		buf = append(buf, args[i])
	}
	return buf
}

// guardCheckedHook, when set (tests), runs between the check and the
// handler.
var guardCheckedHook func(c *Client)

// guardedCall runs cmd for c while guard state exists (dispatch): the
// command's keys are locked, checked, and the handler runs under the same
// locks, so no key moves between the check and the command.
func (s *Server) guardedCall(c *Client, cmd *cmdSpec, args [][]byte) {
	g := &s.migr.guard
	g.maybePrune(c.clock)
	if c.atomic || c.internal || s.repl.isReplica.Load() {
		cmd.handler(c, args)
		return
	}
	if cmd.name == "exec" {
		s.guardedExec(c, cmd, args)
		return
	}
	var kb [8][]byte
	keys := commandKeys(kb[:0], cmd, args)
	if len(keys) == 0 {
		cmd.handler(c, args)
		return
	}
	if cmd.name == "restore" {
		if g.target(keys[0], c.clock) != "" {
			g.forget(keys[0])
		}
		cmd.handler(c, args)
		return
	}
	tx := c.begin()
	tx.lockKeys(keys...)
	if msg := g.checkKeys(tx, keys, c.clock); msg != "" {
		c.commit()
		c.err(msg)
		return
	}
	if guardCheckedHook != nil {
		guardCheckedHook(c)
	}
	if cmd.flags&flagBlocking != 0 {
		// A blocking command must be able to block (not under locks):
		// checked when it starts; one already blocked stays so.
		c.commit()
		cmd.handler(c, args)
		return
	}
	c.atomic = true
	cmd.handler(c, args)
	c.atomic = false
	c.commit()
}

// guardedExec is EXEC while guard state exists: the shards EXEC will lock
// are locked first and every queued command's keys checked; a guarded key
// aborts the whole transaction with
// "EXECABORT Transaction discarded because of: TRYAGAIN ...", nothing
// run. EXEC then runs under those locks (its own locking finds them held).
func (s *Server) guardedExec(c *Client, cmd *cmdSpec, args [][]byte) {
	if !c.mx.active || c.mx.failed {
		cmd.handler(c, args)
		return
	}
	g := &s.migr.guard
	var keys, checked [][]byte
	all, early := false, false
	for _, q := range c.mx.queue {
		if q.cmd.flags&flagWrite != 0 && s.admitWrite(c, q.cmd) != "" {
			cmd.handler(c, args) // refused anyway
			return
		}
		if q.cmd.first == 0 && q.cmd.keys == nil {
			all = all || execAll[q.cmd.name]
			early = early || execEarly[q.cmd.name]
			continue
		}
		for _, p := range q.cmd.keyPositions(q.args) {
			keys = append(keys, q.args[p])
		}
		checked = commandKeys(checked, q.cmd, q.args)
	}
	if len(checked) == 0 {
		cmd.handler(c, args)
		return
	}
	keys = append(keys, c.watchedKeys()...)
	tx := c.begin()
	if all {
		tx.lockAll()
	} else {
		tx.lockKeys(keys...)
	}
	if msg := g.checkKeys(tx, checked, c.clock); msg != "" {
		c.commit()
		c.discardMulti()
		c.err("EXECABORT Transaction discarded because of: " + msg)
		return
	}
	if early {
		// INFO is computed before EXEC locks (it locks shards itself):
		// checked, then run (a key could move in between).
		c.commit()
		cmd.handler(c, args)
		return
	}
	c.atomic = true
	cmd.handler(c, args) // its atomically() releases the locks
	c.atomic = false
	if len(c.tx.order) > 0 {
		c.commit()
	}
}
