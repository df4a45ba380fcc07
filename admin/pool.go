package admin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// PoolSpec describes a pool to create.
type PoolSpec struct {
	Name   string
	Shards int // number of shards, redis-0000.. with an even split of the slots
	Slots  int // slot count; 0 means conf.DefaultSlots
	// Hash and HashTag are written to the pool znode when set (HashTagSet
	// for HashTag, so that "" can say "no hash tag"); otherwise each proxy
	// keeps its YAML pool's value.
	Hash       string
	HashTag    string
	HashTagSet bool
}

// CreatePool creates <root>/proxy/<pool> (if missing), <root>/cluster/<pool>
// with the pool's settings, and its shards with an even split of the
// slots, in one transaction. It refuses a pool that exists.
func (a *Admin) CreatePool(spec PoolSpec) (*conf.Topology, error) {
	if err := conf.CheckPoolName(spec.Name); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if spec.Slots == 0 {
		spec.Slots = conf.DefaultSlots
	}
	if spec.Slots < 1 || spec.Slots > hashring.MaxSlots {
		return nil, fmt.Errorf("%w: --slots %d: want 1..%d", ErrUsage, spec.Slots, hashring.MaxSlots)
	}
	if spec.Shards < 1 || spec.Shards > spec.Slots {
		return nil, fmt.Errorf("%w: --shards %d: want 1..%d (one slot each at least)", ErrUsage, spec.Shards, spec.Slots)
	}
	if spec.Hash != "" {
		if _, err := hashring.HashByName(spec.Hash); err != nil {
			return nil, fmt.Errorf("%w: --hash: %v (known: %s)", ErrUsage, err, strings.Join(hashring.HashNames(), ", "))
		}
	}
	if spec.HashTagSet && spec.HashTag != "" && len(spec.HashTag) != 2 {
		return nil, fmt.Errorf("%w: --hash-tag %q: want two characters, such as {}", ErrUsage, spec.HashTag)
	}
	poolPath := a.Layout.PoolPath(spec.Name)
	if ok, _, err := a.ZK.Exists(poolPath); err != nil {
		return nil, err
	} else if ok {
		n, _, _ := a.ZK.Children(poolPath)
		return nil, refused("pool %s already exists (%s, %d shards)", spec.Name, poolPath, len(n))
	}
	for _, p := range []string{a.Layout.ProxyRoot(), a.Layout.ClusterRoot()} {
		if err := a.ZK.EnsurePath(p); err != nil {
			return nil, err
		}
	}
	data := conf.PoolData{Slots: spec.Slots, Hash: spec.Hash, HashTag: spec.HashTag, HashTagSet: spec.HashTagSet}
	ops := []conf.Op{conf.CreateOp(poolPath, data.Marshal())}
	for i, r := range EvenSplit(spec.Slots, spec.Shards) {
		ops = append(ops, conf.CreateOp(a.Layout.ShardPath(spec.Name, conf.ShardName(i)), conf.ShardData{Ranges: r}.Marshal()))
	}
	proxyDir := a.Layout.ProxyDir(spec.Name)
	if ok, _, err := a.ZK.Exists(proxyDir); err != nil {
		return nil, err
	} else if !ok {
		ops = append(ops, conf.CreateOp(proxyDir, nil))
	}
	if err := a.ZK.Multi(ops...); err != nil {
		if errors.Is(err, conf.ErrNodeExists) {
			return nil, refused("pool %s was created meanwhile by someone else", spec.Name)
		}
		return nil, err
	}
	return a.Topology(spec.Name)
}
