package proxy

import (
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// Slot migration (docs/resharding.md). While ZooKeeper says that slots of
// a shard are migrating to another ({"migrating":{"slots":..,"to":..}}),
// the route table gives those slots to the target already, and before a
// request for a key of such a slot is routed, the proxy asks the source
// master to move that key to the target now (SHARDIS.MIGRATEKEY): the key
// is then on the target, or nowhere, and the request sees it exactly
// once. Multi-key commands move each of their keys of a migrating slot
// first, so MGET, MSET, transactions and same-shard commands stay
// correct. The request that moves a key goes on this session's pipelined
// connection to the source, behind the session's earlier requests there,
// and the session's reader waits for its answer (one round trip, only
// for keys of migrating slots). A table without migrations costs one nil
// check per command.

// Migration is a slot range moving from one shard to another.
type Migration struct {
	Slots []hashring.Range
	From  string // source shard name
	To    string // target shard name
	// FromMaster is the source shard's master address ("": none; keys
	// of the slots then get -TRYAGAIN).
	FromMaster string
}

// migrationTable is a RouteTable's view of its migrations: the source of
// each migrating slot.
type migrationTable struct {
	slots  int
	bySlot []int16 // slot -> index in srcs, -1 when not migrating
	srcs   []*server
	from   []string // source shard names (for errors)
	// target[i] is set when shard i receives a migration: its reads go
	// to its master (a replica may not have a key restored a moment ago).
	target []bool

	// moved remembers keys the source answered for (moved, or absent):
	// such a key cannot come back to the source while the migration
	// runs (every proxy sends its writes to the target), so it needs no
	// second round trip. Bounded by maxMovedCache; dropped with the
	// table.
	moved  sync.Map // string -> struct{}
	nmoved atomic.Int64
}

// maxMovedCache bounds migrationTable.moved.
const maxMovedCache = 1 << 20

// newMigrationTable returns nil when topo has no migrations.
func newMigrationTable(topo Topology, resolve func(addr string, shard ShardSpec) *server) *migrationTable {
	if len(topo.Migrations) == 0 || topo.Distribution != hashring.Slots {
		return nil
	}
	slots := topo.Slots
	if slots <= 0 {
		slots = hashring.DefaultSlots
	}
	mt := &migrationTable{slots: slots, bySlot: make([]int16, slots), target: make([]bool, len(topo.Shards))}
	for i := range mt.bySlot {
		mt.bySlot[i] = -1
	}
	for _, m := range topo.Migrations {
		var sv *server
		if m.FromMaster != "" {
			sv = resolve(m.FromMaster, ShardSpec{Name: m.From, Master: m.FromMaster})
		}
		for i, sh := range topo.Shards {
			if sh.Name == m.To {
				mt.target[i] = true
			}
		}
		idx := int16(len(mt.srcs))
		mt.srcs = append(mt.srcs, sv)
		mt.from = append(mt.from, m.From)
		for _, r := range m.Slots {
			for s := r.Lo; s <= r.Hi && s < slots; s++ {
				mt.bySlot[s] = idx
			}
		}
	}
	return mt
}

// markUsed adds the migrations' source servers to used (a source whose
// slots are all migrating is in no shard of the table, but must stay).
func (mt *migrationTable) markUsed(used map[*server]bool) {
	if mt == nil {
		return
	}
	for _, sv := range mt.srcs {
		if sv != nil {
			used[sv] = true
		}
	}
}

// readsFromMaster reports whether reads of shard i must go to its master
// (read_from): it receives a migration.
func (mt *migrationTable) readsFromMaster(i int) bool {
	return mt != nil && i >= 0 && i < len(mt.target) && mt.target[i]
}

// applyMigrations gives out's migrating slots to their targets (adding a
// target that owns no slots yet, and dropping a source left with none)
// and records the migrations, for zkTopology.
func applyMigrations(t *conf.Topology, out *Topology) {
	var migs []Migration
	for _, s := range t.Shards {
		if s.Migrating == nil || s.DataErr != nil {
			continue
		}
		m := Migration{Slots: s.Migrating.Slots, From: s.Name, To: s.Migrating.To}
		if mm, ok := s.MasterMember(); ok {
			m.FromMaster = mm.Addr
		}
		migs = append(migs, m)
	}
	if len(migs) == 0 {
		return
	}
	for _, m := range migs {
		ti := slices.IndexFunc(out.Shards, func(sp ShardSpec) bool { return sp.Name == m.To })
		if ti < 0 {
			ts, ok := t.Shard(m.To)
			if !ok {
				continue // Validate refuses such a topology
			}
			spec := ShardSpec{Name: ts.Name}
			if mm, ok := ts.MasterMember(); ok {
				spec.Master = mm.Addr
			}
			for _, r := range ts.Replicas() {
				if r.Addr != spec.Master && !slices.Contains(spec.Replicas, r.Addr) {
					spec.Replicas = append(spec.Replicas, r.Addr)
				}
			}
			out.Shards = append(out.Shards, spec)
			ti = len(out.Shards) - 1
		}
		out.Shards[ti].Ranges = hashring.MergeRanges(append(slices.Clone(out.Shards[ti].Ranges), m.Slots...))
		if fi := slices.IndexFunc(out.Shards, func(sp ShardSpec) bool { return sp.Name == m.From }); fi >= 0 {
			out.Shards[fi].Ranges = hashring.SubtractRanges(out.Shards[fi].Ranges, m.Slots)
		}
		out.Migrations = append(out.Migrations, m)
	}
	out.Shards = slices.DeleteFunc(out.Shards, func(sp ShardSpec) bool { return len(sp.Ranges) == 0 })
}

// sameMigrations reports whether a and b describe the same migrations.
func sameMigrations(a, b []Migration) bool {
	return slices.EqualFunc(a, b, func(x, y Migration) bool {
		return x.From == y.From && x.To == y.To && x.FromMaster == y.FromMaster && slices.Equal(x.Slots, y.Slots)
	})
}

// migrateKeys moves the command's keys of migrating slots to their
// targets before it is routed. It returns false when it answered req
// itself (with -TRYAGAIN: a key could not be moved).
func (s *session) migrateKeys(req *request, ci *cmdInfo, c *command) bool {
	switch ci.kind {
	case kindSingle, kindSameShard, kindMGet, kindMSet, kindSum, kindTx, kindBlocking:
	default:
		return true
	}
	if ci.keys == keysRange && ci.first == 0 || !ci.arityOK(len(c.args)) {
		return true
	}
	idx, msg := keyIndexes(ci, c.args, s.keyIdx[:0])
	s.keyIdx = idx
	if msg != "" {
		return true // answered by the usual path
	}
	tbl := s.tbl
	mt := tbl.migr
	for _, i := range idx {
		key := c.args[i]
		slot := tbl.ring.Slot(key)
		if slot < 0 || slot >= len(mt.bySlot) || mt.bySlot[slot] < 0 {
			continue
		}
		if _, ok := mt.moved.Load(string(key)); ok {
			continue
		}
		src := mt.bySlot[slot]
		target := tbl.Lookup(key)
		if errText := s.moveKey(mt, int(src), target, key); errText != "" {
			s.pool.stats.forwardError.Add(1)
			if s.x != nil && s.x.tx.multi {
				s.x.tx.dirty = true // refused while queuing: EXEC aborts (multi.go)
			}
			req.setError(errText)
			return false
		}
		if mt.nmoved.Load() < maxMovedCache {
			if _, dup := mt.moved.LoadOrStore(string(key), struct{}{}); !dup {
				mt.nmoved.Add(1)
			}
		}
	}
	return true
}

// moveKey asks the source master to move key to target's master and
// waits for the answer; "" when the key is on the target or nowhere.
func (s *session) moveKey(mt *migrationTable, src int, target *Shard, key []byte) string {
	sv := mt.srcs[src]
	if sv == nil {
		return "TRYAGAIN slot migrating from shard " + mt.from[src] + ", which has no master"
	}
	if target.master == nil {
		return "TRYAGAIN slot migrating to shard " + target.DisplayName() + ", which has no master"
	}
	host, port, err := net.SplitHostPort(target.Master)
	if err != nil {
		return "TRYAGAIN slot migrating to " + target.Master + ": not a host:port"
	}
	timeout := s.pool.config().Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	auth := s.pool.config().RedisAuth
	n := 5
	if auth != "" {
		n = 7
	}
	b := appendArrayLen(nil, n)
	b = appendBulkString(b, "SHARDIS.MIGRATEKEY")
	b = appendBulkString(b, host)
	b = appendBulkString(b, port)
	b = appendBulk(b, key)
	b = appendBulkString(b, strconv.FormatInt(timeout.Milliseconds(), 10))
	if auth != "" {
		b = appendBulkString(b, "AUTH")
		b = appendBulkString(b, auth)
	}
	r := &request{start: time.Now()}
	conn := sv.connFor(s.id)
	if conn.enqueue(r, b) {
		conn.flush()
	}
	waitDone(r)
	switch {
	case string(r.reply) == "+OK\r\n" || string(r.reply) == "+NOKEY\r\n":
		return ""
	case isErrorReply(r.reply):
		msg := string(r.reply[1:])
		if n := len(msg); n >= 2 {
			msg = msg[:n-2]
		}
		return "TRYAGAIN key migrating from shard " + mt.from[src] + ": " + msg
	}
	return "TRYAGAIN key migrating from shard " + mt.from[src] + ": unexpected reply"
}

// waitDone waits for a request the session's reader made itself: a few
// yields, then short sleeps (the reply is one local round trip away).
func waitDone(r *request) {
	for i := 0; !r.done.Load(); i++ {
		if i < 50 {
			runtime.Gosched()
			continue
		}
		time.Sleep(time.Duration(min(i-49, 20)) * 50 * time.Microsecond)
	}
}
