package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// ShardSpec is one shard of a Topology: the unit keys are routed to.
type ShardSpec struct {
	// Name is the shard's name: for a static pool the name written after
	// a server's weight ("" if none: the address names it, as in
	// twemproxy); for a ZooKeeper pool the shard znode ("redis-0000").
	// Ketama hashes it onto the continuum.
	Name string
	// Master is the address requests go to, as written ("host:port",
	// IPv6 bare or in brackets, or a unix socket path). "" means the
	// shard has no master: its keys are answered with -CLUSTERDOWN at
	// once.
	Master string
	// Replicas are the addresses of the shard's replicas (for read_from).
	Replicas []string
	// Weight is the shard's weight for ketama, modula and random.
	Weight int
	// Ranges are the slots the shard owns in a slot-based topology.
	Ranges []hashring.Range
	// Unavailable, when set, is the error (without its leading '-')
	// every request for the shard's keys gets at once, whatever its
	// master: e.g. a ZooKeeper pool that has no topology yet.
	Unavailable string
}

// DisplayName is how replies and logs name the shard: Name, or Master for
// an unnamed one.
func (s ShardSpec) DisplayName() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Master
}

// Topology is what a RouteTable is built from: how keys hash and the
// shards that own them. A static pool's topology comes from its YAML
// (StaticTopology); a ZooKeeper pool's from its znodes. Request code never
// sees where it came from.
type Topology struct {
	Distribution hashring.Distribution
	Hash         string // a twemproxy hash name; "" means hashring.DefaultHash
	HashTag      string // "" or two characters
	Slots        int    // slot count of a Slots topology; 0 means hashring.DefaultSlots
	Shards       []ShardSpec
	// Source says where the topology came from, for logs and INFO
	// (e.g. "static", "zookeeper").
	Source string
	// Migrations are the slot ranges moving between shards (ZooKeeper
	// pools); Shards already route them to their targets (migrate.go).
	Migrations []Migration
}

// StaticTopology is the topology of a pool's YAML servers: one shard per
// server, in configuration order, each its own master.
func StaticTopology(p *conf.Pool) Topology {
	t := Topology{
		Distribution: p.Distribution,
		Hash:         p.Hash,
		HashTag:      p.HashTag,
		Slots:        p.Slots,
		Source:       "static",
		Shards:       make([]ShardSpec, len(p.Servers)),
	}
	for i, s := range p.Servers {
		t.Shards[i] = ShardSpec{Name: s.Name, Master: s.Addr, Weight: s.Weight, Ranges: s.Ranges}
	}
	return t
}

// Errors of a topology that cannot be routed.
var (
	ErrNoShards        = errors.New("topology has no shards")
	ErrUnnamedShard    = errors.New("shard has neither a name nor a master")
	ErrMasterlessShard = errors.New("only a slot-based topology may have a shard without a master")
)

// spec returns the hashring specification of t.
func (t Topology) spec() hashring.Spec {
	spec := hashring.Spec{
		Distribution: t.Distribution,
		Hash:         t.Hash,
		HashTag:      t.HashTag,
		Slots:        t.Slots,
		Servers:      make([]hashring.Server, len(t.Shards)),
	}
	for i, s := range t.Shards {
		spec.Servers[i] = hashring.Server{Addr: s.Master, Name: s.Name, Weight: s.Weight, Ranges: s.Ranges}
	}
	return spec
}

// Validate reports whether t can be routed: shards named, slot ranges
// covering every slot exactly once, weights valid, names unique, and only
// slot-based topologies with masterless shards.
func (t Topology) Validate() error {
	_, err := t.ring(nil)
	return err
}

// ring checks t and builds its hashring table without the ejected shards.
func (t Topology) ring(ejected []bool) (*hashring.Table, error) {
	if len(t.Shards) == 0 {
		return nil, ErrNoShards
	}
	for _, s := range t.Shards {
		if s.Name == "" && s.Master == "" {
			return nil, ErrUnnamedShard
		}
		if s.Master == "" && t.Distribution != hashring.Slots {
			return nil, fmt.Errorf("shard %s: %w", s.Name, ErrMasterlessShard)
		}
	}
	return hashring.NewWithout(t.spec(), ejected)
}

// Shard is one shard of a RouteTable, with its backends resolved.
type Shard struct {
	ShardSpec
	Index int // position in Topology.Shards

	master   *server   // nil: no master
	replicas []*server // read_from (later)
	// errReply, when set, is the answer to every request for the shard's
	// keys, given at once: -CLUSTERDOWN for a shard without a master, or
	// the error of an ejected server in a slot-based pool.
	errReply []byte
}

// RouteTable maps keys to shards and shards to backend servers. It is
// immutable: a Pool swaps whole tables atomically, and a request keeps the
// table it started with until it is answered.
type RouteTable struct {
	topo    Topology
	ring    *hashring.Table
	shards  []Shard
	version uint64          // counts the pool's tables, for logs and INFO
	migr    *migrationTable // nil unless slots are migrating (migrate.go)
}

// Topology returns the topology the table was built from.
func (t *RouteTable) Topology() Topology { return t.topo }

// Version is the table's number: each table a pool installs gets the next.
func (t *RouteTable) Version() uint64 { return t.version }

// Len returns the number of shards.
func (t *RouteTable) Len() int { return len(t.shards) }

// Shard returns shard i (0 <= i < Len).
func (t *RouteTable) Shard(i int) *Shard { return &t.shards[i] }

// Lookup returns the shard owning key (the hash tag applies). It does not
// allocate.
func (t *RouteTable) Lookup(key []byte) *Shard { return &t.shards[t.ring.Lookup(key)] }

// lookupIndex returns the index of the shard owning key.
func (t *RouteTable) lookupIndex(key []byte) int { return t.ring.Lookup(key) }

// Live reports whether shard i's master takes part in the distribution
// (it is not ejected).
func (t *RouteTable) Live(i int) bool { return t.ring.Live(i) }

// newRouteTable builds the table for topo. resolve returns the server of
// an address (creating it if needed); ejected reports whether a master is
// ejected by auto_eject_hosts. Ketama, modula and random topologies are
// rebuilt without ejected masters, as twemproxy does; in a slot-based one
// the shard of an ejected master answers with an error until it is back.
func newRouteTable(topo Topology, version uint64, resolve func(addr string, shard ShardSpec) *server, ejected func(*server) bool) (*RouteTable, error) {
	if _, err := topo.ring(nil); err != nil {
		return nil, err
	}
	t := &RouteTable{topo: topo, version: version, shards: make([]Shard, len(topo.Shards))}
	ej := make([]bool, len(topo.Shards))
	anyEjected := false
	for i, spec := range topo.Shards {
		sh := &t.shards[i]
		sh.ShardSpec, sh.Index = spec, i
		if spec.Unavailable != "" {
			sh.errReply = appendError(nil, spec.Unavailable)
		} else if spec.Master == "" {
			sh.errReply = appendError(nil, "CLUSTERDOWN shard "+spec.DisplayName()+" has no master")
		}
		if spec.Master != "" {
			sh.master = resolve(spec.Master, spec)
			if ejected != nil && ejected(sh.master) {
				ej[i], anyEjected = true, true
			}
		}
		for _, r := range spec.Replicas {
			sh.replicas = append(sh.replicas, resolve(r, spec))
		}
	}
	// Slot-based: ejection moves nothing. Otherwise rebuild without the
	// ejected masters; if that leaves none, route as if none were ejected
	// and let each shard answer with its ejection error.
	var err error
	fallback := false
	if anyEjected && topo.Distribution != hashring.Slots {
		t.ring, err = topo.ring(ej)
		if errors.Is(err, hashring.ErrNoLiveServers) {
			t.ring, err = topo.ring(nil)
			fallback = true
		}
	} else {
		t.ring, err = topo.ring(nil)
	}
	if err != nil {
		return nil, err
	}
	t.migr = newMigrationTable(topo, resolve)
	for i := range t.shards {
		if ej[i] && (fallback || topo.Distribution == hashring.Slots) {
			sh := &t.shards[i]
			sh.errReply = appendError(nil, backendErrText(sh.master.addr, ErrEjected))
		}
	}
	return t, nil
}

// describe is a one-line summary of a table for logs.
func (t *RouteTable) describe() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "v%d %s %s", t.version, t.topo.Distribution, t.topo.Source)
	for i := range t.shards {
		sh := &t.shards[i]
		sb.WriteString(" ")
		sb.WriteString(sh.DisplayName())
		if sh.Master != "" && sh.Master != sh.DisplayName() {
			sb.WriteString("=" + sh.Master)
		}
		if len(sh.Ranges) > 0 {
			sb.WriteString(":" + hashring.FormatRanges(sh.Ranges))
		}
		if sh.errReply != nil {
			sb.WriteString("(down)")
		}
	}
	return sb.String()
}
