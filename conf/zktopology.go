package conf

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shardis/shardis/hashring"
)

// PoolSettings are the key-distribution settings of a ZooKeeper pool: the
// pool znode's data over the YAML pool's values.
type PoolSettings struct {
	Slots   int    // slot count
	Hash    string // twemproxy hash name
	HashTag string // "" or two characters
}

// DefaultPoolSettings are the settings of a pool that neither ZooKeeper
// nor the YAML configuration sets: 4096 slots, fnv1a_64, no hash tag.
func DefaultPoolSettings() PoolSettings {
	return PoolSettings{Slots: DefaultSlots, Hash: DefaultHash}
}

// ZooKeeperDefaults are the pool's YAML settings that its ZooKeeper pool
// znode may override (slots, hash, hash_tag).
func (p *Pool) ZooKeeperDefaults() PoolSettings {
	s := PoolSettings{Slots: p.Slots, Hash: p.Hash, HashTag: p.HashTag}
	if s.Slots == 0 {
		s.Slots = DefaultSlots
	}
	if s.Hash == "" {
		s.Hash = DefaultHash
	}
	return s
}

// With returns s overridden by the fields d sets.
func (s PoolSettings) With(d PoolData) PoolSettings {
	if d.Slots != 0 {
		s.Slots = d.Slots
	}
	if d.Hash != "" {
		s.Hash = d.Hash
	}
	if d.HashTagSet {
		s.HashTag = d.HashTag
	}
	return s
}

// Topology is an immutable snapshot of one pool as ZooKeeper describes it:
// its settings, its shards with their slot ranges and migration records,
// and each shard's live members with their published data. Nothing in it
// may be modified; a new snapshot is built for every change.
type Topology struct {
	Path     string       // the pool's cluster znode, e.g. /redis/cluster/icd
	Pool     string       // the pool's name (last component of Path)
	Exists   bool         // the cluster znode exists (false: ErrNoPool)
	Data     PoolData     // the pool znode's data as written
	DataErr  error        // why the pool znode's data was refused, nil if it was not
	Settings PoolSettings // effective settings: Data over the defaults given
	Version  int32        // the pool znode's data version
	Shards   []Shard      // by name
}

// Shard is one shard of a Topology.
type Shard struct {
	Name      string           // e.g. redis-0000
	Path      string           // its znode
	Ranges    []hashring.Range // slots owned, as written; none for a shard without slots
	Migrating *Migration       // migration record, nil when none
	DataErr   error            // why the shard's data was refused (then Ranges is nil)
	Version   int32            // the shard znode's data version, for check-and-set
	// Members are the live members in sequence order (ascending Seq);
	// members whose name does not parse come last, by name.
	Members []Member
	// Master is the index in Members of the master: the lowest-sequence
	// member whose data says role=master; -1 when the shard has none.
	Master int
}

// Member is one registered watchdog (one backend) of a shard.
type Member struct {
	Name    string     // znode name, e.g. 10.0.0.1:6379-0000000007
	Path    string     // znode path
	Seq     int64      // sequence number (after the last '-'); -1 if the name does not parse
	GUID    string     // protected-create GUID of the name, "" if none
	Addr    string     // the backend address: Data.Addr, or the address in the name
	Data    MemberData // published data (role candidate when empty)
	Err     error      // why the name or data was refused; such a member is never master
	Version int32      // the znode's data version, for check-and-set
	Owner   int64      // ephemeral owner: the ZooKeeper session id of its watchdog
}

// MasterMember returns the shard's master.
func (s *Shard) MasterMember() (Member, bool) {
	if s.Master < 0 || s.Master >= len(s.Members) {
		return Member{}, false
	}
	return s.Members[s.Master], true
}

// Epoch is the shard's fencing token: its master's sequence number, or -1
// when it has no master. It only grows while the shard exists.
func (s *Shard) Epoch() int64 {
	if m, ok := s.MasterMember(); ok {
		return m.Seq
	}
	return -1
}

// Replicas returns the members (other than the master) whose data says
// role=replica, in sequence order.
func (s *Shard) Replicas() []Member {
	var out []Member
	for i, m := range s.Members {
		if i != s.Master && m.Err == nil && m.Data.Role == RoleReplica {
			out = append(out, m)
		}
	}
	return out
}

// SlotCount is the number of slots the shard owns.
func (s *Shard) SlotCount() int {
	n := 0
	for _, r := range s.Ranges {
		n += r.Len()
	}
	return n
}

// Shard returns the shard called name.
func (t *Topology) Shard(name string) (*Shard, bool) {
	i, ok := slices.BinarySearchFunc(t.Shards, name, func(s Shard, n string) int { return strings.Compare(s.Name, n) })
	if !ok {
		return nil, false
	}
	return &t.Shards[i], true
}

// Owners returns the shards as slot owners, for hashring.CheckCoverage.
func (t *Topology) Owners() []hashring.Owner {
	out := make([]hashring.Owner, 0, len(t.Shards))
	for _, s := range t.Shards {
		out = append(out, hashring.Owner{Name: s.Name, Ranges: s.Ranges})
	}
	return out
}

// Spec returns the slot table the topology describes: one hashring server
// per shard that owns slots (named after the shard), and those shards in
// the same order, so that Table.Lookup's index i routes to shards[i].
func (t *Topology) Spec() (hashring.Spec, []*Shard) {
	spec := hashring.Spec{
		Distribution: hashring.Slots,
		Hash:         t.Settings.Hash,
		HashTag:      t.Settings.HashTag,
		Slots:        t.Settings.Slots,
	}
	var shards []*Shard
	for i := range t.Shards {
		s := &t.Shards[i]
		if len(s.Ranges) == 0 {
			continue
		}
		spec.Servers = append(spec.Servers, hashring.Server{Addr: s.Name, Name: s.Name, Ranges: s.Ranges})
		shards = append(shards, s)
	}
	return spec, shards
}

// Validate checks that the topology can route: the pool exists and its
// data parses, every shard's data parses, the shards' ranges cover every
// slot exactly once (the error names the gap or overlap, as
// hashring.CheckCoverage does), and each migration record names another
// existing shard. Masterless shards are not an error (their keys get
// CLUSTERDOWN); see Masterless. The error wraps ErrBadTopology and each
// problem's own kind.
func (t *Topology) Validate() error {
	if !t.Exists {
		return fmt.Errorf("%w: %w: %s", ErrBadTopology, ErrNoPool, t.Path)
	}
	var errs []error
	if t.DataErr != nil {
		errs = append(errs, t.DataErr)
	}
	if len(t.Shards) == 0 {
		errs = append(errs, errors.New("the pool has no shards"))
	}
	dataOK := true
	for _, s := range t.Shards {
		if s.DataErr != nil {
			errs = append(errs, fmt.Errorf("shard %s: %w", s.Name, s.DataErr))
			dataOK = false
		}
	}
	if dataOK && len(t.Shards) > 0 {
		if err := hashring.CheckCoverage(t.Settings.Slots, t.Owners()); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range t.Shards {
		m := s.Migrating
		if m == nil {
			continue
		}
		if m.To == s.Name {
			errs = append(errs, fmt.Errorf("shard %s: migration to itself", s.Name))
		} else if _, ok := t.Shard(m.To); !ok {
			errs = append(errs, fmt.Errorf("shard %s: migration to %s, which does not exist", s.Name, m.To))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: pool %s: %w", ErrBadTopology, t.Pool, errors.Join(errs...))
}

// Masterless returns, by name, the shards that need a master and have
// none: those that own slots or receive a migration.
func (t *Topology) Masterless() []string {
	targets := map[string]bool{}
	for _, s := range t.Shards {
		if s.Migrating != nil {
			targets[s.Migrating.To] = true
		}
	}
	var out []string
	for _, s := range t.Shards {
		if s.Master < 0 && (len(s.Ranges) > 0 || targets[s.Name]) {
			out = append(out, s.Name)
		}
	}
	return out
}

// Warnings lists problems that do not stop routing: members whose name or
// data was refused (they are never master).
func (t *Topology) Warnings() []error {
	var out []error
	for _, s := range t.Shards {
		for _, m := range s.Members {
			if m.Err != nil {
				out = append(out, fmt.Errorf("shard %s: member %s: %w", s.Name, m.Name, m.Err))
			}
		}
	}
	return out
}

// Equal reports whether t and o are the same snapshot: every field,
// including data versions and published replication offsets.
func (t *Topology) Equal(o *Topology) bool {
	if t == nil || o == nil {
		return t == o
	}
	if t.Path != o.Path || t.Exists != o.Exists || t.Data != o.Data || errText(t.DataErr) != errText(o.DataErr) ||
		t.Settings != o.Settings || t.Version != o.Version || len(t.Shards) != len(o.Shards) {
		return false
	}
	for i := range t.Shards {
		a, b := &t.Shards[i], &o.Shards[i]
		if !a.sameRouting(b) || a.Version != b.Version || len(a.Members) != len(b.Members) {
			return false
		}
		for j := range a.Members {
			x, y := &a.Members[j], &b.Members[j]
			if x.Name != y.Name || x.Data != y.Data || errText(x.Err) != errText(y.Err) || x.Version != y.Version || x.Owner != y.Owner {
				return false
			}
		}
	}
	return true
}

// SameRouting reports whether t and o route alike: same settings and
// validity, and per shard the same ranges, migration record, master
// (address and epoch) and replica addresses. Published offsets, data
// versions and candidates do not count. A proxy rebuilds its routing
// table only when this is false.
func (t *Topology) SameRouting(o *Topology) bool {
	if t == nil || o == nil {
		return t == o
	}
	if t.Path != o.Path || t.Exists != o.Exists || errText(t.DataErr) != errText(o.DataErr) ||
		t.Settings != o.Settings || len(t.Shards) != len(o.Shards) {
		return false
	}
	for i := range t.Shards {
		if !t.Shards[i].sameRouting(&o.Shards[i]) {
			return false
		}
	}
	return true
}

func (s *Shard) sameRouting(o *Shard) bool {
	if s.Name != o.Name || errText(s.DataErr) != errText(o.DataErr) || !slices.Equal(s.Ranges, o.Ranges) {
		return false
	}
	if (s.Migrating == nil) != (o.Migrating == nil) {
		return false
	}
	if s.Migrating != nil && (s.Migrating.To != o.Migrating.To || !slices.Equal(s.Migrating.Slots, o.Migrating.Slots)) {
		return false
	}
	ma, okA := s.MasterMember()
	mb, okB := o.MasterMember()
	if okA != okB || ma.Addr != mb.Addr || ma.Seq != mb.Seq {
		return false
	}
	ra, rb := s.Replicas(), o.Replicas()
	return slices.EqualFunc(ra, rb, func(x, y Member) bool { return x.Addr == y.Addr })
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// rawNode is a znode as read from ZooKeeper, with its children by name.
type rawNode struct {
	Name     string
	Data     []byte
	Version  int32
	Owner    int64
	Czxid    int64 // zxid of the creation: a node deleted and created again differs
	Mzxid    int64 // zxid of the last data change
	Children []*rawNode
}

// buildTopology turns the cluster znode of a pool (nil if it does not
// exist) into a Topology, with defaults for the settings its data leaves
// out.
func buildTopology(path string, defaults PoolSettings, root *rawNode) *Topology {
	t := &Topology{Path: path, Pool: PoolName(path), Settings: defaults}
	if root == nil {
		return t
	}
	t.Exists = true
	t.Version = root.Version
	d, err := ParsePoolData(root.Data)
	if err != nil {
		t.DataErr = err
	} else {
		t.Data = d
		t.Settings = defaults.With(d)
	}
	for _, c := range root.Children {
		t.Shards = append(t.Shards, buildShard(joinZnode(path, c.Name), c))
	}
	slices.SortFunc(t.Shards, func(a, b Shard) int { return strings.Compare(a.Name, b.Name) })
	return t
}

// buildShard turns a shard znode and its member children into a Shard.
func buildShard(path string, n *rawNode) Shard {
	s := Shard{Name: n.Name, Path: path, Version: n.Version, Master: -1}
	if d, err := ParseShardData(n.Data); err != nil {
		s.DataErr = err
	} else {
		s.Ranges, s.Migrating = d.Ranges, d.Migrating
	}
	for _, c := range n.Children {
		m := Member{Name: c.Name, Path: joinZnode(path, c.Name), Seq: -1, Version: c.Version, Owner: c.Owner}
		mn, err := ParseMemberName(c.Name)
		if err != nil {
			m.Err = err
		} else {
			m.Seq, m.GUID, m.Addr = mn.Seq, mn.GUID, mn.Addr
		}
		d, err := ParseMemberData(c.Data)
		if err != nil {
			m.Err = errors.Join(m.Err, err)
			m.Data = MemberData{Role: RoleCandidate}
		} else {
			m.Data = d
			if d.Addr != "" {
				m.Addr = d.Addr
			}
		}
		s.Members = append(s.Members, m)
	}
	slices.SortStableFunc(s.Members, func(a, b Member) int {
		switch {
		case a.Seq < 0 && b.Seq < 0:
			return strings.Compare(a.Name, b.Name)
		case a.Seq < 0:
			return 1
		case b.Seq < 0:
			return -1
		case a.Seq != b.Seq:
			if a.Seq < b.Seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i, m := range s.Members {
		if m.Err == nil && m.Data.Role == RoleMaster {
			s.Master = i
			break
		}
	}
	return s
}
