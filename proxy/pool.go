package proxy

import (
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// Pool serves one configured pool (tenant): its listener, its client
// sessions, its route table and its backend servers.
//
// The route table is immutable and swapped atomically: SetTopology (a new
// topology, e.g. from ZooKeeper) and auto_eject_hosts (a server ejected or
// back) build a new table off to the side and install it; requests load
// the table once per batch and finish on it. Servers are keyed by address
// and survive swaps; a server the new table no longer has keeps serving
// older tables' requests for a grace period, then its connections close.
type Pool struct {
	proxy *Proxy
	// cfg is the configuration the pool runs now. A reload changing keys
	// that apply in place stores a new one (reload.go); readers load it
	// when they use it (config), never keep it across requests.
	cfg   atomic.Pointer[conf.Pool]
	name  string
	log   *slog.Logger
	stats poolStats

	table atomic.Pointer[RouteTable]

	zk     poolZK        // ZooKeeper topology and registration (zk_pool.go)
	readRR atomic.Uint64 // read_from round-robin (readfrom.go)

	subscribers subscriberSet // sessions with subscriptions (pubsub.go)
	slowlog     slowlog       // SLOWLOG (slowlog.go)
	hist        []cmdHist     // latency histograms by command id (hist.go)

	routeMu  sync.Mutex // serializes table builds; guards topo, version, servers, replaced
	topo     Topology
	version  uint64
	servers  map[string]*server
	replaced map[*server]*time.Timer // servers renewServers replaced, until their grace ends

	sweepMu  sync.Mutex // guards sweeping
	sweeping bool       // the idle sweeper runs (sweepIdle)

	ln       net.Listener
	clients  atomic.Int64 // connected clients
	sessMu   sync.Mutex
	sessions map[*session]struct{}
	sessWG   sync.WaitGroup // session goroutines
	wg       sync.WaitGroup // backend and health-check goroutines
	stopped  atomic.Bool
}

func newPool(px *Proxy, cfg *conf.Pool) (*Pool, error) {
	p := &Pool{
		proxy:    px,
		name:     cfg.Name,
		log:      px.log.With("pool", cfg.Name),
		servers:  map[string]*server{},
		replaced: map[*server]*time.Timer{},
		sessions: map[*session]struct{}{},
	}
	p.cfg.Store(cfg)
	p.stats.cmds = make([]cmdStats, len(commandTable)+1)
	p.hist = make([]cmdHist, len(commandTable)+1)
	p.slowlog.configure(cfg.SlowlogSlowerThan, cfg.SlowlogMaxLen)
	if err := p.SetTopology(initialTopology(cfg)); err != nil {
		return nil, err
	}
	return p, nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Config returns the configuration the pool runs now (not to be
// modified): after a reload that changed the pool in place, the new one.
func (p *Pool) Config() *conf.Pool { return p.config() }

// config is the configuration in force: one atomic load.
func (p *Pool) config() *conf.Pool { return p.cfg.Load() }

// Table returns the route table requests use now.
func (p *Pool) Table() *RouteTable { return p.table.Load() }

// Addr returns the listener's address once Serve has started, else nil.
func (p *Pool) Addr() net.Addr {
	p.sessMu.Lock()
	defer p.sessMu.Unlock()
	if p.ln == nil {
		return nil
	}
	return p.ln.Addr()
}

func (p *Pool) port() int {
	if a, ok := p.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// SetTopology builds a route table for t and installs it atomically. On
// error (t cannot be routed) the current table stays. Servers t no longer
// has are closed after a grace period; new ones connect on first use.
// Safe for concurrent use; it never blocks requests.
func (p *Pool) SetTopology(t Topology) error {
	p.routeMu.Lock()
	defer p.routeMu.Unlock()
	tbl, err := p.buildLocked(t, nil)
	if err != nil {
		return err
	}
	p.topo = t
	p.installLocked(tbl)
	return nil
}

// rebuild rebuilds the table of the current topology (a server was
// ejected or is back).
func (p *Pool) rebuild(why string) {
	p.routeMu.Lock()
	defer p.routeMu.Unlock()
	tbl, err := p.buildLocked(p.topo, nil)
	if err != nil {
		p.log.Error("cannot rebuild the route table", "why", why, "err", err)
		return
	}
	p.installLocked(tbl)
	p.log.Info("route table rebuilt", "why", why, "table", tbl.describe())
}

// buildLocked builds the table of t, creating the servers p.servers does
// not have; a server created for an address of inherit takes over its
// statistics and auto-eject state (renewServers).
func (p *Pool) buildLocked(t Topology, inherit map[string]*server) (*RouteTable, error) {
	created := map[string]*server{}
	resolve := func(addr string, sh ShardSpec) *server {
		if sv := p.servers[addr]; sv != nil {
			return sv
		}
		if sv := created[addr]; sv != nil {
			return sv
		}
		name := addr
		if addr == sh.Master {
			name = hashring.Server{Addr: addr, Name: sh.Name}.ContinuumName()
		}
		sv := newServer(p, addr, name)
		if o := inherit[addr]; o != nil {
			sv.stats = o.stats
			sv.failures.Store(o.failures.Load())
			sv.ejectedAt.Store(o.ejectedAt.Load())
		}
		created[addr] = sv
		return sv
	}
	tbl, err := newRouteTable(t, p.version+1, resolve, (*server).ejected)
	if err != nil {
		return nil, err // the servers created are dropped: nothing started
	}
	for addr, sv := range created {
		p.servers[addr] = sv
		if p.config().Preconnect && p.proxy.serving.Load() {
			sv.start()
		}
	}
	p.version++
	return tbl, nil
}

// renewServers replaces every server of the pool by a new one, whose
// connections are made with the configuration now in force
// (server_connections, redis_db, tcpkeepalive), and installs a table of t
// (nil: the current topology) using them. The new servers keep the
// statistics and the auto-eject state of those they replace. Requests
// already routed finish on the old servers, which close after retireGrace
// (requests still waiting then fail with ErrServerReplaced), like servers
// a new topology drops. On error (t cannot be routed) nothing changes.
func (p *Pool) renewServers(t *Topology) error {
	p.routeMu.Lock()
	defer p.routeMu.Unlock()
	if t == nil {
		t = &p.topo
	}
	old := p.servers
	p.servers = map[string]*server{}
	tbl, err := p.buildLocked(*t, old)
	if err != nil {
		p.servers = old
		return err
	}
	p.topo = *t
	p.installLocked(tbl)
	for addr, sv := range old {
		if sv.retired != nil {
			sv.retired.Stop()
			sv.retired = nil
		}
		why := ErrServerReplaced
		if p.servers[addr] == nil {
			why = ErrServerRemoved
		}
		p.replaced[sv] = time.AfterFunc(p.proxy.opts.retireGrace, func() {
			p.routeMu.Lock()
			defer p.routeMu.Unlock()
			if _, ok := p.replaced[sv]; ok {
				delete(p.replaced, sv)
				sv.close(why)
			}
		})
	}
	for _, sv := range p.servers {
		if sv.ejected() {
			sv.startHealthCheck() // the old server's check ends when it closes
		}
	}
	return nil
}

// installLocked swaps in tbl and schedules the servers it does not use
// for closing (after retireGrace, so requests of older tables finish).
func (p *Pool) installLocked(tbl *RouteTable) {
	p.table.Store(tbl)
	p.subscribers.tableChanged() // subscriptions follow their channels
	used := map[*server]bool{}
	for i := range tbl.shards {
		sh := &tbl.shards[i]
		if sh.master != nil {
			used[sh.master] = true
		}
		for _, r := range sh.replicas {
			used[r] = true
		}
	}
	tbl.migr.markUsed(used) // sources of migrations that own no other slot
	for addr, sv := range p.servers {
		if used[sv] {
			if sv.retired != nil {
				sv.retired.Stop()
				sv.retired = nil
			}
			continue
		}
		if sv.retired != nil {
			continue
		}
		addr, sv := addr, sv
		sv.retired = time.AfterFunc(p.proxy.opts.retireGrace, func() {
			p.routeMu.Lock()
			defer p.routeMu.Unlock()
			if p.servers[addr] == sv && sv.retired != nil {
				delete(p.servers, addr)
				sv.close(ErrServerRemoved)
				p.log.Info("server removed", "server", addr)
			}
		})
	}
}

// statServers returns the servers of the current table in twemproxy's
// order (by name), for the stats port.
func (p *Pool) statServers() []*server {
	t := p.table.Load()
	var out []*server
	seen := map[*server]bool{}
	for i := range t.shards {
		sh := &t.shards[i]
		for _, sv := range append([]*server{sh.master}, sh.replicas...) {
			if sv != nil && !seen[sv] {
				seen[sv] = true
				out = append(out, sv)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *server) int { return twemproxyCompare(a.name, b.name) })
	return out
}

// serve accepts clients until the listener is closed. It runs in its own
// goroutine, owned by Proxy.Serve.
func (p *Pool) serve() {
	var delay time.Duration
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if p.stopped.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as
			// net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.log.Error("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		p.stats.clientsTotal.Add(1)
		limit := int64(p.config().ClientConnections) // a reload may change it
		if n := p.clients.Add(1); limit > 0 && n > limit {
			p.clients.Add(-1)
			p.stats.clientsRejected.Add(1)
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = nc.Write(appendError(nil, msgMaxClients))
			_ = nc.Close()
			continue
		}
		p.proxy.stats.connOpened()
		s := newSession(p, p.proxy.nextClientID.Add(1), nc)
		p.sessMu.Lock()
		p.sessions[s] = struct{}{}
		p.sessMu.Unlock()
		p.sessWG.Add(1)
		go func() { // owned by the pool; ends when the client's session ends
			defer p.sessWG.Done()
			s.serve()
		}()
	}
}

// removeSession is called by a session's writer when it ends.
func (p *Pool) removeSession(s *session) {
	p.sessMu.Lock()
	delete(p.sessions, s)
	p.sessMu.Unlock()
	p.clients.Add(-1)
	p.proxy.stats.connClosed()
}

// sweepIdle stops the sessions idle for longer than client_idle_timeout
// (no command read, nothing in flight). It runs in its own goroutine,
// owned by Proxy.Serve (started by startSweeper), until done is closed or
// a reload sets client_idle_timeout to 0; it follows a reload's new
// client_idle_timeout.
func (p *Pool) sweepIdle(done <-chan struct{}) {
	period := func(idle time.Duration) time.Duration {
		return min(max(idle/4, 10*time.Millisecond), time.Second)
	}
	idle := p.config().ClientIdleTimeout
	tick := time.NewTicker(period(max(idle, 0)))
	defer tick.Stop()
	for {
		select {
		case <-done:
			p.sweepMu.Lock()
			p.sweeping = false
			p.sweepMu.Unlock()
			return
		case now := <-tick.C:
			if cur := p.config().ClientIdleTimeout; cur != idle {
				if cur <= 0 {
					// Checked again under sweepMu: a reload storing a
					// timeout after the load above finds sweeping set
					// and counts on this goroutine to go on.
					p.sweepMu.Lock()
					if p.config().ClientIdleTimeout <= 0 {
						p.sweeping = false
						p.sweepMu.Unlock()
						return
					}
					p.sweepMu.Unlock()
					continue
				}
				idle = cur
				tick.Reset(period(idle))
			}
			p.sessMu.Lock()
			var stale []*session
			for s := range p.sessions {
				if now.Sub(time.Unix(0, s.lastActive.Load())) < idle {
					continue
				}
				s.mu.Lock()
				busy := s.outstanding > 0
				s.mu.Unlock()
				if !busy && !p.subscribers.has(s) { // subscribed clients never idle out, as in Redis
					stale = append(stale, s)
				}
			}
			p.sessMu.Unlock()
			for _, s := range stale {
				p.log.Debug("closing idle client", "client", s.remote, "idle", idle)
				s.stopReading()
			}
		}
	}
}

// stopAccepting closes the listener.
func (p *Pool) stopAccepting() {
	p.stopped.Store(true)
	p.sessMu.Lock()
	ln := p.ln
	p.sessMu.Unlock()
	if ln != nil {
		_ = ln.Close()
		p.proxy.stats.connClosed()
	}
}

// drain stops reading from every client, waits until they are answered
// or the deadline passes, then closes what is left: client connections,
// then servers (failing requests still waiting with ErrClosed).
func (p *Pool) drain(deadline time.Time) {
	p.sessMu.Lock()
	for s := range p.sessions {
		s.stopReading()
	}
	p.sessMu.Unlock()
	done := make(chan struct{})
	go func() { // ends when every session has ended
		p.sessWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		p.log.Warn("drain timeout: closing clients with requests in flight")
		p.sessMu.Lock()
		for s := range p.sessions {
			_ = s.nc.Close()
		}
		p.sessMu.Unlock()
	}
	p.routeMu.Lock()
	for _, sv := range p.servers {
		if sv.retired != nil {
			sv.retired.Stop()
		}
		sv.close(ErrClosed)
	}
	for sv, t := range p.replaced {
		t.Stop()
		sv.close(ErrClosed)
	}
	clear(p.replaced)
	p.routeMu.Unlock()
	<-done
	p.wg.Wait()
}

// describeListen is the listen address for logs.
func (p *Pool) describeListen() string {
	if a := p.Addr(); a != nil {
		return a.Network() + ":" + a.String()
	}
	return p.config().Listen.Network + ":" + p.config().Listen.Addr
}
