package admin

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// Kinds of errors. Main maps them to exit statuses: ErrUsage 2, the others
// (and any other failure) 1.
var (
	// ErrUsage: bad command line.
	ErrUsage = errors.New("usage")
	// ErrRefused: the change is unsafe and was not forced, or conflicts
	// with the pool's state (e.g. the pool already exists).
	ErrRefused = errors.New("refused")
	// ErrCheckFailed: check found problems.
	ErrCheckFailed = errors.New("check failed")
	// ErrConflict: another writer changed the pool while this change was
	// being made; nothing was written. Run the command again.
	ErrConflict = errors.New("the pool changed meanwhile; nothing was written, try again")
)

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Admin performs operator operations on pools in ZooKeeper.
type Admin struct {
	ZK     *conf.ZK
	Layout conf.Layout
}

// New returns an Admin working under layout through z.
func New(z *conf.ZK, layout conf.Layout) *Admin {
	return &Admin{ZK: z, Layout: layout}
}

// Topology reads pool once (after a sync, so that it sees every write
// committed before the call). A missing pool is an error wrapping
// conf.ErrNoPool.
func (a *Admin) Topology(pool string) (*conf.Topology, error) {
	if err := conf.CheckPoolName(pool); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	path := a.Layout.PoolPath(pool)
	if err := a.ZK.Sync(path); err != nil && !errors.Is(err, conf.ErrNoNode) {
		return nil, err
	}
	t, err := conf.ReadTopology(a.ZK, path, conf.PoolSettings{})
	if err != nil {
		return nil, err
	}
	if !t.Exists {
		return nil, fmt.Errorf("%w: %s (create it with: shardis-admin pool create %s --shards N)", conf.ErrNoPool, path, pool)
	}
	return t, nil
}

// ListPools returns the pools under the cluster root, by name.
func (a *Admin) ListPools() ([]string, error) {
	names, _, err := a.ZK.Children(a.Layout.ClusterRoot())
	if errors.Is(err, conf.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// EvenSplit divides slots 0..slots-1 into n contiguous ranges whose sizes
// differ by at most one: shard i gets [i*slots/n, (i+1)*slots/n-1].
func EvenSplit(slots, n int) [][]hashring.Range {
	out := make([][]hashring.Range, n)
	for i := range out {
		lo, hi := i*slots/n, (i+1)*slots/n-1
		if lo <= hi {
			out[i] = []hashring.Range{{Lo: lo, Hi: hi}}
		}
	}
	return out
}

// owners returns the slot owners of t with the ranges of the shards in
// change replaced (and shards named in change but absent from t added).
func owners(t *conf.Topology, change map[string][]hashring.Range) []hashring.Owner {
	var out []hashring.Owner
	seen := map[string]bool{}
	for _, s := range t.Shards {
		r := s.Ranges
		if c, ok := change[s.Name]; ok {
			r = c
		}
		seen[s.Name] = true
		out = append(out, hashring.Owner{Name: s.Name, Ranges: r})
	}
	var extra []string
	for name := range change {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		out = append(out, hashring.Owner{Name: name, Ranges: change[name]})
	}
	return out
}

// checkShardVersions returns a CheckOp for every shard of t, so that a
// transaction fails if any shard changed since t was read.
func checkShardVersions(t *conf.Topology, except string) []conf.Op {
	var ops []conf.Op
	for _, s := range t.Shards {
		if s.Name != except {
			ops = append(ops, conf.CheckOp(s.Path, s.Version))
		}
	}
	return ops
}

// commit runs a transaction, turning a version conflict into ErrConflict.
func (a *Admin) commit(ops ...conf.Op) error {
	err := a.ZK.Multi(ops...)
	if errors.Is(err, conf.ErrBadVersion) || errors.Is(err, conf.ErrNodeExists) || errors.Is(err, conf.ErrNotEmpty) {
		return fmt.Errorf("%w (%v)", ErrConflict, err)
	}
	return err
}

func slotCount(r []hashring.Range) int {
	n := 0
	for _, x := range r {
		n += x.Len()
	}
	return n
}
