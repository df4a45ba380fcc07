package proxy

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardis/shardis/conf"
)

// poolZK is a pool's ZooKeeper side: the running follower (nil while
// stopped) and counters that outlive a stop and start.
type poolZK struct {
	mu sync.Mutex
	f  *zkFollower // guarded by mu

	applied   atomic.Uint64          // topologies installed
	refused   atomic.Uint64          // topologies refused
	appliedAt atomic.Int64           // UnixNano of the last install, 0 if none
	lastErr   atomic.Pointer[string] // why the last topology was refused
	// acked is the last acknowledgement given to the registration
	// (ackTopology), nil before the first.
	acked atomic.Pointer[map[string]int32]
}

// zkFollower is one start of a pool's ZooKeeper side. Goroutines, all
// started by StartZooKeeper and ended by StopZooKeeper: the topology
// watcher's Run and the loop applying its updates (when the pool takes
// its topology from ZooKeeper), and the registration's Run (when it has a
// zookeeper_path).
type zkFollower struct {
	z       *conf.ZK
	release func()
	w       *conf.TopologyWatcher // nil: registration only
	reg     *conf.Ephemeral       // nil: no registration
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// usesZooKeeperAtAll reports whether the pool needs a ZooKeeper
// connection: for its topology, its registration, or both.
func usesZooKeeperAtAll(cfg *conf.Pool) bool {
	return len(cfg.ZooKeeperServers) > 0 && (cfg.ZooKeeperRedisPath != "" || cfg.ZooKeeperPath != "")
}

// StartZooKeeper starts the pool's ZooKeeper side, if its configuration
// has one: following its topology (zookeeper_redis_path) and registering
// the proxy (zookeeper_path, at the listen address or Options.Announce).
// It returns at once (it does not wait for ZooKeeper), does nothing if
// already started, and errs only on a configuration ZooKeeper refuses.
//
// Serve calls it for every pool once the listeners are open, and
// StopZooKeeper at shutdown. A configuration reload calls StopZooKeeper
// on a pool it removes or replaces and then StartZooKeeper on the pool
// that replaces it (a stop before the start lets the new pool take the
// registration znode over at once).
func (p *Pool) StartZooKeeper() error {
	cfg := p.config()
	if !usesZooKeeperAtAll(cfg) {
		return nil
	}
	p.zk.mu.Lock()
	defer p.zk.mu.Unlock()
	if p.zk.f != nil {
		return nil
	}
	zcfg := cfg.ZooKeeperConfig(p.proxy.log)
	z, release, err := p.proxy.zks.acquire(zcfg)
	if err != nil {
		return fmt.Errorf("pool %s: zookeeper: %w", p.name, err)
	}
	f := &zkFollower{z: z, release: release}
	if cfg.UsesZooKeeper() {
		refresh := cfg.ZooKeeperRefreshInterval
		if refresh <= 0 {
			refresh = -1 // zookeeper_refresh_interval: 0 is never
		}
		f.w, err = conf.NewTopologyWatcher(z, conf.WatcherConfig{
			Path:            cfg.ZooKeeperRedisPath,
			Defaults:        cfg.ZooKeeperDefaults(),
			RefreshInterval: refresh,
			RoutingOnly:     true,
			Logger:          p.log,
		})
		if err != nil {
			release()
			return fmt.Errorf("pool %s: %w", p.name, err)
		}
	}
	if cfg.ZooKeeperPath != "" {
		f.reg = p.registration(z, f.w != nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	if f.w != nil {
		f.wg.Add(2)
		go func() { // ends with StopZooKeeper
			defer f.wg.Done()
			if err := f.w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				p.log.Error("zookeeper watcher stopped", "err", err)
			}
		}()
		go func() { // ends with StopZooKeeper
			defer f.wg.Done()
			p.followTopology(ctx, f)
		}()
	}
	if f.reg != nil {
		f.wg.Add(1)
		go func() { // ends with StopZooKeeper, after deleting the znode
			defer f.wg.Done()
			if err := f.reg.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				p.log.Error("zookeeper registration stopped", "err", err)
			}
		}()
	}
	p.zk.f = f
	p.log.Info("following zookeeper", "zookeeper", strings.Join(zcfg.Servers, ",")+zcfg.Chroot,
		"path", cfg.ZooKeeperRedisPath, "register", registrationPath(f.reg), "refresh", cfg.ZooKeeperRefreshInterval)
	return nil
}

// StopZooKeeper stops the pool's ZooKeeper side: the registration znode
// is deleted, the watcher stops (the route table in use stays) and the
// connection is closed if no other pool uses it. It waits for the
// goroutines to end. Safe to call when not started, and twice.
func (p *Pool) StopZooKeeper() {
	p.zk.mu.Lock()
	f := p.zk.f
	p.zk.f = nil
	p.zk.mu.Unlock()
	if f == nil {
		return
	}
	f.cancel()
	f.wg.Wait()
	f.release()
}

func registrationPath(e *conf.Ephemeral) string {
	if e == nil {
		return ""
	}
	return e.Path()
}

// registration prepares the proxy's ephemeral znode, or returns nil
// (with an error logged) when the pool cannot register. A pool that
// follows a ZooKeeper topology (acks) acknowledges the topologies it
// applies in the znode's "applied" (ackTopology); it starts with none.
func (p *Pool) registration(z *conf.ZK, acks bool) *conf.Ephemeral {
	addr, guessed := p.announceAddr(p.proxy.opts.Announce)
	if guessed {
		p.log.Warn("registering in zookeeper with a guessed address: the pool listens on every interface; set --announce",
			"listen", p.config().Listen.String(), "addr", addr)
	}
	node, err := p.config().ZooKeeperProxyNode(addr)
	if err == nil && node == "" {
		err = errors.New("no zookeeper_path")
	}
	if err != nil {
		p.log.Error("not registering in zookeeper", "err", err, "hint", "a unix socket listener needs --announce host:port")
		return nil
	}
	data := p.registrationData(node, nil)
	if acks {
		data.Applied = map[string]int32{}
	}
	if _, err := conf.ParseProxyData(data.Marshal()); err != nil {
		p.log.Error("not registering in zookeeper", "node", node, "err", err)
		return nil
	}
	reg, err := conf.NewEphemeral(z, node, data.Marshal(), p.log)
	if err != nil {
		p.log.Error("not registering in zookeeper", "node", node, "err", err)
		return nil
	}
	return reg
}

// registrationData is the data of the registration znode node, with
// applied as the acknowledged topology.
func (p *Pool) registrationData(node string, applied map[string]int32) conf.ProxyData {
	return conf.ProxyData{Addr: path.Base(node), Pool: p.name, Started: p.proxy.started, Version: p.proxy.version, Applied: applied}
}

// ackDrain is how long a proxy waits after installing a table before it
// acknowledges it in ZooKeeper: sessions dispatching a batch with the
// previous table finish it (routing and writing to the backends takes
// microseconds), so that a migrator that sees the acknowledgement does
// not race requests still routed the old way.
var ackDrain = 50 * time.Millisecond

// followTopology installs the watcher's topologies until ctx ends, and
// acknowledges each one applied in the registration znode (ackDrain
// after installing it).
func (p *Pool) followTopology(ctx context.Context, f *zkFollower) {
	var ack map[string]int32 // to write when the timer fires
	var timer *time.Timer
	var fire <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-f.w.Updates():
			applied := p.applyZooKeeper(u)
			if applied == nil || f.reg == nil {
				continue
			}
			ack = applied
			if timer == nil {
				timer = time.NewTimer(ackDrain)
			} else {
				timer.Reset(ackDrain)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			p.ackTopology(f.reg, ack)
		}
	}
}

// appliedVersions is what a proxy acknowledges of topology t: each
// shard's data version.
func appliedVersions(t *conf.Topology) map[string]int32 {
	m := make(map[string]int32, len(t.Shards))
	for _, s := range t.Shards {
		if s.DataErr == nil {
			m[s.Name] = s.Version
		}
	}
	return m
}

// ackTopology writes applied into the registration znode's "applied":
// the shard data versions of the topology the pool routes with, which a
// migrator waits for (docs/resharding.md).
func (p *Pool) ackTopology(reg *conf.Ephemeral, applied map[string]int32) {
	reg.SetData(p.registrationData(reg.Path(), applied).Marshal())
	p.zk.acked.Store(&applied)
	p.log.Debug("topology acknowledged in zookeeper", "node", reg.Path(), "applied", applied)
}

// applyZooKeeper installs one topology update, or refuses it and keeps
// the table in use. It returns the shard versions the pool now routes
// with (appliedVersions), nil when it refused the update.
func (p *Pool) applyZooKeeper(u conf.TopologyUpdate) map[string]int32 {
	cur := p.table.Load()
	if u.Err != nil {
		p.refuseZooKeeper(u.Err, cur)
		return nil
	}
	t := zkTopology(u.Topology)
	if sameTopology(t, cur.topo) {
		return appliedVersions(u.Topology)
	}
	if err := p.SetTopology(t); err != nil {
		p.refuseZooKeeper(err, cur)
		return nil
	}
	p.zk.applied.Add(1)
	p.zk.appliedAt.Store(time.Now().UnixNano())
	p.zk.lastErr.Store(nil)
	p.log.Info("route table from zookeeper", "table", p.table.Load().describe(), "read_at", u.At.Format(time.RFC3339Nano))
	if m := u.Topology.Masterless(); len(m) > 0 {
		p.log.Warn("shards without a master: their keys get CLUSTERDOWN", "shards", strings.Join(m, ","))
	}
	for _, w := range u.Topology.Warnings() {
		p.log.Warn("zookeeper topology", "warning", w)
	}
	return appliedVersions(u.Topology)
}

func (p *Pool) refuseZooKeeper(err error, cur *RouteTable) {
	p.zk.refused.Add(1)
	msg := err.Error()
	p.zk.lastErr.Store(&msg)
	p.log.Error("zookeeper topology refused; keeping the last good route table",
		"err", err, "table_version", cur.version, "table_source", cur.topo.Source)
}

// ZooKeeperStatus is a pool's ZooKeeper state, for INFO and metrics.
type ZooKeeperStatus struct {
	// Enabled: the pool uses ZooKeeper (for its topology, its
	// registration or both) and its ZooKeeper side is started.
	Enabled   bool
	Path      string // the pool's cluster znode (zookeeper_redis_path); "" if the topology is static
	Connected bool   // a ZooKeeper session is established now
	SessionID int64  // the current (or last) session, 0 before the first
	// Synced: the route table in use came from ZooKeeper (false while a
	// ZooKeeper pool still routes with its YAML servers or has no table).
	Synced     bool
	Updates    uint64    // topologies installed since the process started
	Refused    uint64    // topologies refused (invalid), the last good table kept
	LastUpdate time.Time // when the last topology was installed; zero if none
	LastError  string    // why the last topology was refused, "" once one is installed
	Node       string    // the registration znode, "" if none
	Registered bool      // the registration znode exists for this session
	// Acked is the topology last acknowledged in the registration znode
	// (shard -> data version, its "applied"), nil if none yet.
	Acked map[string]int32
}

// ZooKeeperStatus returns the pool's ZooKeeper state. It is safe for
// concurrent use and cheap (atomics and one mutex).
func (p *Pool) ZooKeeperStatus() ZooKeeperStatus {
	st := ZooKeeperStatus{
		Updates: p.zk.applied.Load(),
		Refused: p.zk.refused.Load(),
		Synced:  p.table.Load().topo.Source == "zookeeper",
	}
	if at := p.zk.appliedAt.Load(); at != 0 {
		st.LastUpdate = time.Unix(0, at)
	}
	if e := p.zk.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	if a := p.zk.acked.Load(); a != nil {
		st.Acked = *a
	}
	p.zk.mu.Lock()
	f := p.zk.f
	p.zk.mu.Unlock()
	if f == nil {
		return st
	}
	st.Enabled = true
	st.Connected = f.z.Connected()
	st.SessionID = f.z.SessionID()
	if f.w != nil {
		st.Path = p.config().ZooKeeperRedisPath
	}
	if f.reg != nil {
		st.Node = f.reg.Path()
		st.Registered = f.reg.Registered()
	}
	return st
}

// infoZooKeeper writes the pool's ZooKeeper lines of INFO's pool section.
func (p *Pool) infoZooKeeper(b *strings.Builder) {
	st := p.ZooKeeperStatus()
	field(b, "zookeeper", boolInt(st.Enabled))
	if !st.Enabled {
		return
	}
	field(b, "zk_connected", boolInt(st.Connected))
	field(b, "zk_session", fmt.Sprintf("0x%x", st.SessionID))
	if st.Path != "" {
		field(b, "zk_path", st.Path)
		field(b, "zk_synced", boolInt(st.Synced))
		field(b, "zk_topology_updates", st.Updates)
		field(b, "zk_topology_refused", st.Refused)
		ago := int64(-1)
		if !st.LastUpdate.IsZero() {
			ago = time.Since(st.LastUpdate).Milliseconds()
		}
		field(b, "zk_last_update_ms_ago", ago)
		field(b, "zk_last_error", strconv.Quote(st.LastError))
	}
	if st.Node != "" {
		field(b, "zk_node", st.Node)
		field(b, "zk_registered", boolInt(st.Registered))
	}
}

// startZooKeeper starts the ZooKeeper side of every pool (Serve); on an
// error it stops those it started.
func (px *Proxy) startZooKeeper() error {
	for i, p := range px.pools {
		if err := p.StartZooKeeper(); err != nil {
			for _, q := range px.pools[:i] {
				q.StopZooKeeper()
			}
			return err
		}
	}
	return nil
}

// stopZooKeeper stops the ZooKeeper side of every pool, in parallel
// (Serve, at shutdown: the registrations go first).
func (px *Proxy) stopZooKeeper() {
	var wg sync.WaitGroup
	for _, p := range px.pools {
		wg.Add(1)
		go func() { // ends when the pool's ZooKeeper side has stopped
			defer wg.Done()
			p.StopZooKeeper()
		}()
	}
	wg.Wait()
}
