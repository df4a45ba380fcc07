package conf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the watchers.
const (
	// DefaultWatchCoalesce is how long a watcher gathers a burst of
	// ZooKeeper events before it reads the changed znodes.
	DefaultWatchCoalesce = 10 * time.Millisecond
	// watchRetry is the pause after a failed read before the next try.
	watchRetry = 500 * time.Millisecond
)

// WatcherConfig configures a TopologyWatcher.
type WatcherConfig struct {
	// Path is the pool's cluster znode (zookeeper_redis_path), e.g.
	// /redis/cluster/icd.
	Path string
	// Defaults are the settings the pool znode's data may override
	// (Pool.ZooKeeperDefaults); the zero value means DefaultPoolSettings.
	Defaults PoolSettings
	// RefreshInterval is how often everything is read again, because
	// watches can be lost (zookeeper_refresh_interval); 0 means
	// DefaultZooKeeperRefreshInterval, negative means never.
	RefreshInterval time.Duration
	// Coalesce is how long to gather a burst of changes; 0 means
	// DefaultWatchCoalesce.
	Coalesce time.Duration
	// RoutingOnly delivers a new snapshot only when it routes differently
	// (Topology.SameRouting is false), not on every published offset.
	RoutingOnly bool
	// OnUpdate, if set, is called with every update, on the watcher's
	// goroutine: it must not block (a proxy swaps an atomic pointer).
	// Updates also go to the Updates channel.
	OnUpdate func(TopologyUpdate)
	Logger   *slog.Logger // nil means slog.Default()
}

// TopologyUpdate is one snapshot a TopologyWatcher delivers.
type TopologyUpdate struct {
	Topology *Topology // never nil
	// Err is Topology.Validate's error: the consumer should keep its last
	// good topology, and log this.
	Err error
	At  time.Time // when the snapshot was read
}

// TopologyWatcher follows one pool in ZooKeeper: it reads the pool znode,
// its shards and their members, keeps a watch on each, re-reads what
// changed (bursts coalesced), and delivers a new Topology whenever it
// differs from the last one delivered. It reads everything again after
// every (re)connection and session expiry, and every RefreshInterval.
//
// Run owns the only goroutine; delivery never waits for the consumer:
// Updates is a one-slot channel where a newer update replaces one not
// yet received.
type TopologyWatcher struct {
	e *watchEngine[*Topology, TopologyUpdate]
}

// NewTopologyWatcher returns a watcher of cfg.Path on z; Run starts it.
func NewTopologyWatcher(z *ZK, cfg WatcherConfig) (*TopologyWatcher, error) {
	if err := checkZnodePath(cfg.Path); err != nil {
		return nil, fmt.Errorf("%w: watcher path: %v", ErrBadZnodeName, err)
	}
	defaults := cfg.Defaults
	if defaults == (PoolSettings{}) {
		defaults = DefaultPoolSettings()
	}
	same := (*Topology).Equal
	if cfg.RoutingOnly {
		same = (*Topology).SameRouting
	}
	path := cfg.Path
	e := newWatchEngine(z, path, 2, cfg.RefreshInterval, cfg.Coalesce, cfg.Logger,
		func(r *rawNode) (*Topology, error) {
			t := buildTopology(path, defaults, r)
			return t, t.Validate()
		}, same,
		func(t *Topology, err error, at time.Time) TopologyUpdate {
			return TopologyUpdate{Topology: t, Err: err, At: at}
		})
	e.onUpdate = cfg.OnUpdate
	return &TopologyWatcher{e: e}, nil
}

// Run follows the pool until ctx ends (it returns ctx.Err()) or z is
// closed (an error wrapping ErrZKClosed).
func (w *TopologyWatcher) Run(ctx context.Context) error { return w.e.run(ctx) }

// Updates delivers the latest update not yet received.
func (w *TopologyWatcher) Updates() <-chan TopologyUpdate { return w.e.updates }

// Last returns the last update delivered, false before the first.
func (w *TopologyWatcher) Last() (TopologyUpdate, bool) { return w.e.last() }

// Reads is the number of successful syncs (full or incremental) so far.
func (w *TopologyWatcher) Reads() uint64 { return w.e.reads.Load() }

// ShardWatcherConfig configures a ShardWatcher.
type ShardWatcherConfig struct {
	Path            string        // the shard's znode, e.g. /redis/cluster/icd/redis-0000
	RefreshInterval time.Duration // as WatcherConfig.RefreshInterval
	Coalesce        time.Duration // as WatcherConfig.Coalesce
	// OnUpdate, if set, is called on the watcher's goroutine with every
	// update; it must not block. Updates also go to the Updates channel.
	OnUpdate func(ShardUpdate)
	Logger   *slog.Logger
}

// ShardUpdate is one snapshot of a shard.
type ShardUpdate struct {
	Shard *Shard // never nil; no members and Master -1 when the shard znode is missing
	// Err is ErrNoNode when the shard znode does not exist, the shard's
	// data error when its data was refused, else nil.
	Err error
	At  time.Time
}

// ShardWatcher follows one shard (its data and members), as a watchdog
// needs: the same machinery as TopologyWatcher, one level shallower.
// Every change is delivered, published offsets included.
type ShardWatcher struct {
	e *watchEngine[*Shard, ShardUpdate]
}

// NewShardWatcher returns a watcher of cfg.Path on z; Run starts it.
func NewShardWatcher(z *ZK, cfg ShardWatcherConfig) (*ShardWatcher, error) {
	if err := checkZnodePath(cfg.Path); err != nil {
		return nil, fmt.Errorf("%w: watcher path: %v", ErrBadZnodeName, err)
	}
	path := cfg.Path
	e := newWatchEngine(z, path, 1, cfg.RefreshInterval, cfg.Coalesce, cfg.Logger,
		func(r *rawNode) (*Shard, error) { return shardOf(path, r) }, shardEqual,
		func(s *Shard, err error, at time.Time) ShardUpdate { return ShardUpdate{Shard: s, Err: err, At: at} })
	e.onUpdate = cfg.OnUpdate
	return &ShardWatcher{e: e}, nil
}

// Run follows the shard until ctx ends or z is closed.
func (w *ShardWatcher) Run(ctx context.Context) error { return w.e.run(ctx) }

// Updates delivers the latest update not yet received.
func (w *ShardWatcher) Updates() <-chan ShardUpdate { return w.e.updates }

// Last returns the last update delivered, false before the first.
func (w *ShardWatcher) Last() (ShardUpdate, bool) { return w.e.last() }

func shardOf(path string, r *rawNode) (*Shard, error) {
	if r == nil {
		return &Shard{Name: PoolName(path), Path: path, Master: -1}, &ZKError{Op: "get", Path: path, Kind: ErrNoNode, Err: errors.New("shard znode missing")}
	}
	r.Name = PoolName(path)
	s := buildShard(path, r)
	return &s, s.DataErr
}

func shardEqual(a, b *Shard) bool {
	ta := &Topology{Shards: []Shard{*a}}
	tb := &Topology{Shards: []Shard{*b}}
	return ta.Equal(tb)
}

// ReadTopology reads a pool once, without watches. The error is only for
// a failed read; check the result with Validate.
func ReadTopology(z *ZK, path string, defaults PoolSettings) (*Topology, error) {
	if defaults == (PoolSettings{}) {
		defaults = DefaultPoolSettings()
	}
	m := newMirror(z, path, 2, false)
	if err := m.sync(true); err != nil {
		return nil, err
	}
	return buildTopology(path, defaults, m.snapshot()), nil
}

// ReadShard reads a shard once, without watches. A missing shard znode is
// an error wrapping ErrNoNode; refused shard data is in Shard.DataErr.
func ReadShard(z *ZK, path string) (*Shard, error) {
	m := newMirror(z, path, 1, false)
	if err := m.sync(true); err != nil {
		return nil, err
	}
	s, err := shardOf(path, m.snapshot())
	if errors.Is(err, ErrNoNode) {
		return nil, err
	}
	return s, nil
}

// watchEngine is the loop shared by the watchers: a watched mirror of a
// subtree, re-read on events, (re)connections, a timer and after errors,
// turned into snapshots by build, and delivered when same says they
// differ from the last one.
type watchEngine[T, U any] struct {
	z        *ZK
	m        *mirror
	refresh  time.Duration
	coalesce time.Duration
	log      *slog.Logger
	build    func(*rawNode) (T, error)
	same     func(a, b T) bool
	mk       func(T, error, time.Time) U
	onUpdate func(U)

	reads   atomic.Uint64
	updates chan U

	mu      sync.Mutex
	lastSet bool
	lastV   T
	lastErr error
	lastU   U
}

func newWatchEngine[T, U any](z *ZK, root string, depth int, refresh, coalesce time.Duration, log *slog.Logger,
	build func(*rawNode) (T, error), same func(a, b T) bool, mk func(T, error, time.Time) U) *watchEngine[T, U] {
	if refresh == 0 {
		refresh = DefaultZooKeeperRefreshInterval
	}
	if coalesce <= 0 {
		coalesce = DefaultWatchCoalesce
	}
	if log == nil {
		log = slog.Default()
	}
	return &watchEngine[T, U]{
		z: z, m: newMirror(z, root, depth, true), refresh: refresh, coalesce: coalesce,
		log: log.With("component", "zookeeper-watch", "path", root), build: build, same: same, mk: mk,
		updates: make(chan U, 1),
	}
}

func (e *watchEngine[T, U]) run(ctx context.Context) error {
	events, cancel := e.z.Subscribe()
	defer cancel()
	kick := make(chan struct{}, 1)
	root := e.m.root
	remove := e.z.addNodeListener(func(p string) {
		if under(p, root) {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	})
	defer remove()
	var refresh <-chan time.Time
	if e.refresh > 0 {
		t := time.NewTicker(e.refresh)
		defer t.Stop()
		refresh = t.C
	}
	var retry <-chan time.Time
	full := true
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return &ZKError{Op: "watch", Path: root, Kind: ErrZKClosed, Err: errors.New("client closed")}
			}
			if ev.Kind != SessionConnected {
				full = true // re-read everything once a session is back
				continue
			}
			full = true
		case <-kick:
			// Gather the rest of the burst.
			select {
			case <-time.After(e.coalesce):
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-kick:
			default:
			}
		case <-refresh:
			full = true
		case <-retry:
		}
		if !e.z.Connected() {
			continue // a SessionConnected event will follow
		}
		retry = nil
		start := time.Now()
		if err := e.m.sync(full); err != nil {
			if errors.Is(err, ErrZKClosed) {
				return err
			}
			e.log.Warn("zookeeper read failed; retrying", "err", err, "full", full)
			retry = time.After(watchRetry)
			continue
		}
		if full {
			e.log.Debug("zookeeper full read", "took", time.Since(start))
		}
		full = false
		e.reads.Add(1)
		v, err := e.build(e.m.snapshot())
		e.deliver(v, err, start)
	}
}

func (e *watchEngine[T, U]) deliver(v T, err error, at time.Time) {
	e.mu.Lock()
	if e.lastSet && e.same(e.lastV, v) && errText(e.lastErr) == errText(err) {
		e.mu.Unlock()
		return
	}
	u := e.mk(v, err, at)
	e.lastSet, e.lastV, e.lastErr, e.lastU = true, v, err, u
	e.mu.Unlock()
	if err != nil {
		e.log.Warn("zookeeper topology refused", "err", err)
	}
	if e.onUpdate != nil {
		e.onUpdate(u)
	}
	select { // latest wins: drop an update nobody has received yet
	case <-e.updates:
	default:
	}
	e.updates <- u
}

func (e *watchEngine[T, U]) last() (U, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastU, e.lastSet
}
