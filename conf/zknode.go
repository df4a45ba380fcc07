package conf

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// NodeWatcherConfig configures a NodeWatcher.
type NodeWatcherConfig struct {
	Path string // the znode, e.g. Layout.FailoverPath(pool, shard)
	// RefreshInterval is how often the znode is read again in case a
	// watch was lost; 0 means DefaultZooKeeperRefreshInterval, negative
	// never.
	RefreshInterval time.Duration
	Coalesce        time.Duration // as WatcherConfig.Coalesce
	// OnUpdate, if set, is called on the watcher's goroutine with every
	// update; it must not block. Updates also go to the Updates channel.
	OnUpdate func(NodeUpdate)
	Logger   *slog.Logger
}

// NodeUpdate is one state of a watched znode.
type NodeUpdate struct {
	Exists bool
	Data   []byte // nil when the znode does not exist; never modified
	// Version is the data version; Czxid and Mzxid tell a znode deleted
	// and created again (even with the same data) from the old one.
	Version      int32
	Owner        int64 // ephemeral owner session, 0 for a persistent znode
	Czxid, Mzxid int64
	At           time.Time // when it was read
}

// NodeWatcher follows one znode's existence and data (not its children),
// as a watchdog follows its shard's failover request: every change is
// delivered, a deletion followed by a re-creation with the same data
// included, with the same machinery as TopologyWatcher (one armed watch,
// re-read after every reconnection, session expiry and RefreshInterval;
// bursts coalesced). The first update is the znode's state when Run
// starts.
//
// Run owns the only goroutine; Updates is a one-slot channel where a
// newer update replaces one not yet received.
type NodeWatcher struct {
	e *watchEngine[*NodeUpdate, NodeUpdate]
}

// NewNodeWatcher returns a watcher of cfg.Path on z; Run starts it.
func NewNodeWatcher(z *ZK, cfg NodeWatcherConfig) (*NodeWatcher, error) {
	if err := checkZnodePath(cfg.Path); err != nil {
		return nil, fmt.Errorf("%w: watcher path: %v", ErrBadZnodeName, err)
	}
	e := newWatchEngine(z, cfg.Path, 0, cfg.RefreshInterval, cfg.Coalesce, cfg.Logger,
		func(r *rawNode) (*NodeUpdate, error) {
			if r == nil {
				return &NodeUpdate{}, nil
			}
			return &NodeUpdate{Exists: true, Data: slices.Clip(r.Data), Version: r.Version, Owner: r.Owner,
				Czxid: r.Czxid, Mzxid: r.Mzxid}, nil
		},
		func(a, b *NodeUpdate) bool {
			return a.Exists == b.Exists && a.Version == b.Version && a.Owner == b.Owner &&
				a.Czxid == b.Czxid && a.Mzxid == b.Mzxid && bytes.Equal(a.Data, b.Data)
		},
		func(n *NodeUpdate, _ error, at time.Time) NodeUpdate {
			u := *n
			u.At = at
			return u
		})
	e.onUpdate = cfg.OnUpdate
	return &NodeWatcher{e: e}, nil
}

// Run follows the znode until ctx ends (it returns ctx.Err()) or z is
// closed (an error wrapping ErrZKClosed).
func (w *NodeWatcher) Run(ctx context.Context) error { return w.e.run(ctx) }

// Updates delivers the latest update not yet received.
func (w *NodeWatcher) Updates() <-chan NodeUpdate { return w.e.updates }

// Last returns the last update delivered, false before the first.
func (w *NodeWatcher) Last() (NodeUpdate, bool) { return w.e.last() }
