package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/shardis/shardis/conf"
)

// Configuration reload (SIGHUP, POST /reload on the metrics port). A
// reload compares the new pools with those served, by name (conf.Diff):
//
//   - an unchanged pool is not touched: its listener, clients and server
//     connections carry on;
//   - a changed pool whose differences are all keys that apply in place
//     (every key but listen, backlog, reuseport, redis and the ZooKeeper
//     keys; for a pool following ZooKeeper, not its routing keys either)
//     keeps its listener and its clients. Its new configuration is stored
//     atomically (Pool.cfg), and what the new values need is done
//     (applyInPlace): a new route table for routing keys, installed as a
//     ZooKeeper topology would be (requests already routed finish on the
//     old one, and servers the new table drops close after a grace
//     period); new server connections for server_connections, redis_db
//     and tcpkeepalive (renewServers); ejected servers put back when
//     auto_eject_hosts goes off; the idle sweeper started or stopped; the
//     slowlog resized. The other keys are read where they are used and
//     take effect at once;
//   - a pool changed in a key that needs a new listener or a new
//     ZooKeeper session is restarted: a new pool with the new settings
//     takes the listening socket over (no connection is refused; a new
//     socket when listen or reuseport changed), and the old pool drains
//     like a removed one;
//   - a removed pool stops accepting (its listener is closed) and drains:
//     it stops reading commands, sends the replies of those already read
//     (up to Options.DrainTimeout), then closes its clients and servers;
//   - an added pool starts listening.
//
// Everything that can fail (reading and checking the file, building route
// tables, opening new listeners) is done before anything is changed: a
// reload that fails changes nothing, logs why and returns the error.
// Reloads are serialized.

// Errors of Reload and ReloadFile.
var (
	// ErrNotServing: the proxy is not serving (Serve has not started or
	// is shutting down); a reload is refused.
	ErrNotServing = errors.New("proxy is not serving")
	// ErrNoConfFile: ReloadFile has no file to read (Options.ConfFile).
	ErrNoConfFile = errors.New("no configuration file to reload")
	// ErrBadConfig wraps the problems of an invalid configuration.
	ErrBadConfig = errors.New("invalid configuration")
)

// The fields of conf.Pool a running pool takes from a reload without
// restarting; any other field (Listen, Backlog, Reuseport, Redis, the
// ZooKeeper* fields) restarts the pool. docs/proxy-admin.md lists them.
var (
	// routingKeys build a new route table (in place only for pools whose
	// table is not from ZooKeeper).
	routingKeys = []string{"Servers", "Hash", "HashTag", "Distribution", "Slots"}
	// serverKeys are how server connections are made: the pool's servers
	// are replaced by new ones (renewServers).
	serverKeys = []string{"ServerConnections", "RedisDB", "TCPKeepalive"}
	// liveKeys are read where they are used and apply once stored;
	// applyInPlace does what some also need.
	liveKeys = []string{
		"Timeout", "RedisAuth", "ClientConnections", "ClientIdleTimeout",
		"AutoEjectHosts", "ServerRetryTimeout", "ServerFailureLimit",
		"ReadFrom", "AllowAdminCommands", "SlowlogSlowerThan", "SlowlogMaxLen", "Preconnect",
	}
)

// yamlKeys names conf.Pool fields as the configuration writes them, for
// logs.
var yamlKeys = map[string]string{
	"Listen": "listen", "Hash": "hash", "HashTag": "hash_tag", "Distribution": "distribution",
	"Timeout": "timeout", "Backlog": "backlog", "Preconnect": "preconnect", "Redis": "redis",
	"RedisAuth": "redis_auth", "RedisDB": "redis_db", "ServerConnections": "server_connections",
	"AutoEjectHosts": "auto_eject_hosts", "ServerRetryTimeout": "server_retry_timeout",
	"ServerFailureLimit": "server_failure_limit", "Servers": "servers",
	"ClientConnections": "client_connections", "TCPKeepalive": "tcpkeepalive", "Reuseport": "reuseport",
	"ZooKeeperHost": "zookeeper_host", "ZooKeeperServers": "zookeeper_host", "ZooKeeperChroot": "zookeeper_host",
	"ZooKeeperPath": "zookeeper_path", "ZooKeeperRedisPath": "zookeeper_redis_path",
	"ZooKeeperSessionTimeout": "zookeeper_session_timeout", "ZooKeeperAuth": "zookeeper_auth",
	"ZooKeeperRefreshInterval": "zookeeper_refresh_interval", "Slots": "slots", "ReadFrom": "read_from",
	"AllowAdminCommands": "allow_admin_commands", "SlowlogSlowerThan": "slowlog_slower_than",
	"SlowlogMaxLen": "slowlog_max_len", "ClientIdleTimeout": "client_idle_timeout",
}

// changedKeys returns the fields of conf.Pool (Go names) in which o and n
// differ as conf.Pool.Equal sees them.
func changedKeys(o, n *conf.Pool) []string {
	var out []string
	ov, nv := reflect.ValueOf(o).Elem(), reflect.ValueOf(n).Elem()
	typ := ov.Type()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() || f.Name == "File" || f.Name == "Line" || f.Name == "Name" {
			continue
		}
		c := *o
		reflect.ValueOf(&c).Elem().Field(i).Set(nv.Field(i))
		if !o.Equal(&c) {
			out = append(out, f.Name)
		}
	}
	return out
}

// describeKeys turns Go field names into the configuration's keys.
func describeKeys(keys []string) string {
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		y := yamlKeys[k]
		if y == "" {
			y = k
		}
		if !seen[y] {
			seen[y] = true
			out = append(out, y)
		}
	}
	return strings.Join(out, ",")
}

// appliesInPlace reports whether every key in keys can be applied to a
// running pool configured by o.
func appliesInPlace(o *conf.Pool, keys []string) bool {
	for _, k := range keys {
		switch {
		case contains(liveKeys, k), contains(serverKeys, k):
		case contains(routingKeys, k) && !usesZooKeeperAtAll(o):
		default:
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sameSocket reports whether a pool configured by n can take over the
// listening socket of one configured by o.
func sameSocket(o, n *conf.Pool) bool {
	return o.Listen.Network == n.Listen.Network && o.Listen.Addr == n.Listen.Addr && o.Reuseport == n.Reuseport
}

// ReloadSummary says what a reload did, by pool name.
type ReloadSummary struct {
	Added     []string
	Removed   []string
	Updated   []string // changed in place: clients kept
	Restarted []string // changed: new pool, old clients drained
	Unchanged []string
}

func (s ReloadSummary) String() string {
	join := func(l []string) string {
		if len(l) == 0 {
			return "-"
		}
		return strings.Join(l, ",")
	}
	return fmt.Sprintf("added=%s removed=%s updated=%s restarted=%s unchanged=%s",
		join(s.Added), join(s.Removed), join(s.Updated), join(s.Restarted), join(s.Unchanged))
}

// reloadPlan is what a reload will do, prepared without changing the
// running pools.
type reloadPlan struct {
	order   []*Pool               // the pools served after the reload, in configuration order
	confs   map[*Pool]*conf.Pool  // their configurations
	updates []inPlaceUpdate       // pools changed in place
	goners  []*Pool               // pools removed or replaced
	fresh   []*Pool               // pools added or replacing one
	sockets map[*Pool]*poolSocket // the listener of each fresh pool
	sum     ReloadSummary
	lines   []func() // one log line per pool changed, written once committed
}

type inPlaceUpdate struct {
	p       *Pool
	n       *conf.Pool
	keys    []string
	routing bool // a new route table (topo)
	renew   bool // new server connections (serverKeys)
	topo    Topology
}

// poolSocket is the listener a fresh pool will serve: taken over from a
// pool going away, or opened for it.
type poolSocket struct {
	from *Pool        // the pool handing its listener over, or nil
	ln   net.Listener // opened for the pool when from is nil
}

// ReloadFile reads Options.ConfFile again and applies it (see Reload).
func (px *Proxy) ReloadFile() error {
	_, err := px.reloadFile()
	return err
}

func (px *Proxy) reloadFile() (ReloadSummary, error) {
	path := px.opts.ConfFile
	if path == "" {
		px.reloadFailed(ErrNoConfFile)
		return ReloadSummary{}, ErrNoConfFile
	}
	pools, err := conf.Load(path)
	if err != nil {
		errs := conf.Errors(err)
		for _, e := range errs {
			px.log.Error("reload: configuration", "err", e.Error())
		}
		err = fmt.Errorf("%w: %s: %w", ErrBadConfig, path, err)
		px.reloadFailed(err)
		return ReloadSummary{}, err
	}
	for _, p := range pools {
		for _, w := range p.Warnings() {
			px.log.Warn("reload: configuration", "warning", w)
		}
	}
	return px.reload(pools)
}

// Reload applies a new configuration to the running proxy: added pools
// start, removed pools drain, changed pools take their new settings and
// unchanged pools are not touched (see the comment at the top of
// reload.go). On error nothing has changed. Safe for concurrent use;
// reloads are serialized. It returns ErrNotServing unless Serve is
// running.
func (px *Proxy) Reload(pools []*conf.Pool) error {
	_, err := px.reload(pools)
	return err
}

func (px *Proxy) reload(pools []*conf.Pool) (ReloadSummary, error) {
	px.reloadMu.Lock()
	defer px.reloadMu.Unlock()
	st := px.run
	if st == nil {
		px.reloadFailed(ErrNotServing)
		return ReloadSummary{}, ErrNotServing
	}
	plan, err := px.prepareReload(pools)
	if err != nil {
		px.reloadFailed(err)
		return ReloadSummary{}, err
	}
	px.commitReload(st, plan)
	px.reloads.Add(1)
	px.lastReload.Store(time.Now().UnixNano())
	px.log.Info("configuration reloaded", "summary", plan.sum.String())
	return plan.sum, nil
}

func (px *Proxy) reloadFailed(err error) {
	px.reloadErrors.Add(1)
	px.log.Error("configuration reload failed; nothing changed", "err", err)
}

// prepareReload plans a reload and prepares what can fail: the new pools
// (route tables) and their listeners. On error it undoes what it did.
func (px *Proxy) prepareReload(pools []*conf.Pool) (_ *reloadPlan, err error) {
	var want []*conf.Pool
	for _, n := range pools {
		if !n.Redis {
			px.log.Warn("pool not served: redis is false (memcached); shardis-proxy serves only the Redis protocol",
				"pool", n.Name, "listen", n.Listen.String())
			continue
		}
		if verr := n.Validate(); verr != nil {
			return nil, fmt.Errorf("%w: pool %s: %w", ErrBadConfig, n.Name, verr)
		}
		want = append(want, n)
	}
	if len(want) == 0 {
		return nil, ErrNoRedisPools
	}

	px.mu.Lock()
	cur := append([]*Pool(nil), px.pools...)
	px.mu.Unlock()
	curConf := make(map[string]*conf.Pool, len(cur))
	byName := make(map[string]*Pool, len(cur))
	var oldConfs []*conf.Pool
	for _, p := range cur {
		c := p.config() // only reloads store it, and reloads are serialized
		curConf[p.name], byName[p.name] = c, p
		oldConfs = append(oldConfs, c)
	}

	plan := &reloadPlan{confs: map[*Pool]*conf.Pool{}, sockets: map[*Pool]*poolSocket{}}
	defer func() {
		if err != nil {
			px.discardPlan(plan)
		}
	}()
	newByName := map[string]*Pool{}
	ch := conf.Diff(oldConfs, want)
	for _, n := range ch.Unchanged {
		p := byName[n.Name]
		newByName[n.Name] = p
		plan.confs[p] = curConf[n.Name] // keep the one running (same values)
		plan.sum.Unchanged = append(plan.sum.Unchanged, n.Name)
	}
	for _, pair := range ch.Changed {
		o, n := pair[0], pair[1]
		p := byName[n.Name]
		keys := changedKeys(o, n)
		if appliesInPlace(o, keys) {
			u := inPlaceUpdate{p: p, n: n, keys: keys}
			for _, k := range keys {
				u.routing = u.routing || contains(routingKeys, k)
				u.renew = u.renew || contains(serverKeys, k)
			}
			if u.routing {
				u.topo = StaticTopology(n)
				if _, rerr := u.topo.ring(nil); rerr != nil {
					return nil, fmt.Errorf("pool %s: %w", n.Name, rerr)
				}
			}
			plan.updates = append(plan.updates, u)
			newByName[n.Name] = p
			plan.confs[p] = n
			plan.sum.Updated = append(plan.sum.Updated, n.Name)
			plan.lines = append(plan.lines, func() {
				p.log.Info("reload: pool changed in place; clients kept", "keys", describeKeys(keys),
					"table", p.Table().describe())
			})
			continue
		}
		q, perr := newPool(px, n)
		if perr != nil {
			return nil, fmt.Errorf("pool %s: %w", n.Name, perr)
		}
		plan.fresh = append(plan.fresh, q)
		plan.goners = append(plan.goners, p)
		newByName[n.Name] = q
		plan.confs[q] = n
		plan.sum.Restarted = append(plan.sum.Restarted, n.Name)
		plan.lines = append(plan.lines, func() {
			q.log.Info("reload: pool changed; restarted with the new settings, old clients drained",
				"keys", describeKeys(keys), "listen", q.describeListen())
		})
	}
	for _, n := range ch.Added {
		q, perr := newPool(px, n)
		if perr != nil {
			return nil, fmt.Errorf("pool %s: %w", n.Name, perr)
		}
		plan.fresh = append(plan.fresh, q)
		newByName[n.Name] = q
		plan.confs[q] = n
		plan.sum.Added = append(plan.sum.Added, n.Name)
		plan.lines = append(plan.lines, func() {
			q.log.Info("reload: pool added", "listen", q.describeListen(), "table", q.Table().describe())
		})
	}
	for _, o := range ch.Removed {
		p := byName[o.Name]
		plan.goners = append(plan.goners, p)
		plan.sum.Removed = append(plan.sum.Removed, o.Name)
		plan.lines = append(plan.lines, func() {
			p.log.Info("reload: pool removed; stopped accepting, draining its clients", "listen", o.Listen.String())
		})
	}
	// Listeners: take over the socket of a pool going away when the
	// address is the same, else open a new one.
	handed := map[*Pool]bool{}
	for _, q := range plan.fresh {
		n := plan.confs[q]
		sock := &poolSocket{}
		for _, g := range plan.goners {
			if !handed[g] && sameSocket(curConf[g.name], n) {
				handed[g] = true
				sock.from = g
				break
			}
		}
		if sock.from == nil {
			ln, lerr := listen(n.Listen, n.Backlog, n.Reuseport)
			if lerr != nil {
				return nil, fmt.Errorf("pool %s: listen %s: %w", n.Name, n.Listen.String(), lerr)
			}
			sock.ln = ln
		}
		plan.sockets[q] = sock
	}
	for _, n := range want {
		plan.order = append(plan.order, newByName[n.Name])
	}
	return plan, nil
}

// discardPlan undoes prepareReload: closes the listeners it opened and
// the servers of the pools it built (which may be connecting, with
// preconnect).
func (px *Proxy) discardPlan(plan *reloadPlan) {
	for _, q := range plan.fresh {
		if s := plan.sockets[q]; s != nil && s.ln != nil {
			_ = s.ln.Close()
		}
		q.routeMu.Lock()
		for _, sv := range q.servers {
			if sv.retired != nil {
				sv.retired.Stop()
			}
			sv.close(ErrClosed)
		}
		q.routeMu.Unlock()
		q.wg.Wait()
	}
}

// commitReload applies a prepared plan. It cannot fail.
func (px *Proxy) commitReload(st *serveState, plan *reloadPlan) {
	for _, u := range plan.updates {
		px.applyInPlace(st, u)
	}
	// Pools going away: unregister from ZooKeeper first (so that a
	// replacement takes the znode over), stop accepting, then drain in
	// the background.
	handing := map[*Pool]net.Listener{}
	for _, q := range plan.fresh {
		if s := plan.sockets[q]; s.from != nil {
			handing[s.from] = nil
		}
	}
	var zwg sync.WaitGroup
	for _, g := range plan.goners {
		zwg.Add(1)
		go func() { // ends when g's ZooKeeper side has stopped
			defer zwg.Done()
			g.StopZooKeeper()
		}()
	}
	zwg.Wait()
	for _, g := range plan.goners {
		run := st.pools[g]
		delete(st.pools, g)
		if _, ok := handing[g]; ok {
			handing[g] = px.detachListener(g, run)
		} else {
			g.stopAccepting()
			<-run.accepting
		}
		close(run.stop)
		deadline := time.Now().Add(px.opts.DrainTimeout)
		px.bg.Add(1)
		go func() { // owned by the Proxy (Serve waits for it); ends when g is drained
			defer px.bg.Done()
			g.drain(deadline)
			g.log.Info("reload: pool drained and closed")
		}()
	}
	// New pools.
	for _, q := range plan.fresh {
		s := plan.sockets[q]
		ln := s.ln
		if s.from != nil {
			ln = handing[s.from]
			n := plan.confs[q]
			if n.Backlog != s.from.config().Backlog && n.Backlog > 0 {
				setBacklog(ln, n.Backlog)
			}
			if n.Listen.Network == "unix" && n.Listen.Perm != 0 {
				_ = os.Chmod(n.Listen.Addr, n.Listen.Perm)
			}
		} else {
			px.stats.connOpened()
		}
		q.sessMu.Lock()
		q.ln = ln
		q.sessMu.Unlock()
		if err := q.StartZooKeeper(); err != nil {
			q.log.Error("reload: zookeeper not started", "err", err)
		}
		px.startPool(st, q)
	}
	px.mu.Lock()
	px.pools = plan.order
	px.mu.Unlock()
	for _, line := range plan.lines {
		line()
	}
}

// detachListener stops g's accept loop without closing its listener and
// returns the listener, for the pool replacing g. Connections waiting in
// the listen queue stay there for the new pool.
func (px *Proxy) detachListener(g *Pool, run *poolRun) net.Listener {
	g.sessMu.Lock()
	ln := g.ln
	g.sessMu.Unlock()
	g.stopped.Store(true)
	dl, ok := ln.(interface{ SetDeadline(time.Time) error })
	if !ok || dl.SetDeadline(time.Now()) != nil {
		// Cannot interrupt Accept: fall back to a new socket.
		g.stopAccepting()
		<-run.accepting
		g.log.Warn("reload: cannot hand the listener over; reopening it")
		n := g.config()
		nln, err := listen(n.Listen, n.Backlog, n.Reuseport)
		if err != nil {
			g.log.Error("reload: cannot reopen the listener", "err", err)
			return closedListener{ln.Addr()}
		}
		return nln
	}
	<-run.accepting
	_ = dl.SetDeadline(time.Time{})
	return ln
}

// closedListener stands for a listener that could not be reopened: its
// Accept fails at once, ending the pool's accept loop.
type closedListener struct{ addr net.Addr }

func (l closedListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l closedListener) Close() error              { return nil }
func (l closedListener) Addr() net.Addr            { return l.addr }
