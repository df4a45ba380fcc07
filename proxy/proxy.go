package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardis/shardis/conf"
)

// Defaults of Options.
const (
	DefaultStatsInterval = 30 * time.Second // nutcracker's -i
	DefaultDrainTimeout  = 10 * time.Second
)

// ErrNoRedisPools: the configuration has no pool shardis-proxy can serve.
var ErrNoRedisPools = errors.New("no pool with redis: true to serve")

// Options configure a Proxy. The zero value of each optional field has a
// documented default.
type Options struct {
	// Pools to serve, as conf.Load returns them. Pools with redis: false
	// (memcached) are skipped with a warning.
	Pools []*conf.Pool
	// StatsAddr is where the twemproxy-compatible stats JSON is served
	// ("host:port"); "" serves none.
	StatsAddr string
	// StatsInterval is how often the stats are aggregated (nutcracker's
	// -i); 0 means DefaultStatsInterval.
	StatsInterval time.Duration
	// Logger receives the proxy's logs; nil discards them.
	Logger *slog.Logger
	// Version is reported in INFO and the stats; "" means "devel".
	Version string
	// Hostname is the stats' "source"; "" means os.Hostname.
	Hostname string
	// DrainTimeout bounds how long Serve waits, once its context is
	// done, for requests in flight; 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Announce is the address the pools register in ZooKeeper
	// (zookeeper_path) instead of their listen address: a host (each
	// pool's listen port is added) or "host:port" (for one pool behind
	// NAT). "" registers the listen address; a wildcard listen host
	// (0.0.0.0) is then replaced by this machine's first non-loopback IP.
	Announce string

	// ConfFile is the configuration file (or directory) ReloadFile and
	// POST /reload read again; "" makes them fail with ErrNoConfFile.
	ConfFile string
	// MetricsAddr is where the admin HTTP server listens ("host:port"):
	// Prometheus /metrics, /healthz, /debug/pprof/ and POST /reload
	// (admin_http.go); "" serves none.
	MetricsAddr string
	// Registry receives the proxy's metrics collector and is what
	// /metrics serves; nil means a new registry holding only the
	// proxy's metrics.
	Registry *prometheus.Registry

	// retireGrace overrides retireGrace (tests).
	retireGrace time.Duration
}

// Proxy serves a set of pools. New prepares it without listening, dialing
// or starting goroutines; Serve runs it.
type Proxy struct {
	opts     Options
	log      *slog.Logger
	version  string
	hostname string
	started  time.Time

	mu    sync.Mutex // guards pools
	pools []*Pool    // in configuration order; replaced (not modified) by a reload

	// reloadMu serializes reloads with each other and with Serve's start
	// and shutdown; it guards run.
	reloadMu sync.Mutex
	run      *serveState    // nil unless Serve is serving
	running  atomic.Bool    // run != nil, for readers that must not wait for a reload (Health)
	bg       sync.WaitGroup // drains of pools a reload removed (Serve waits for them)

	reloads      atomic.Int64 // reloads applied
	reloadErrors atomic.Int64 // reloads refused
	lastReload   atomic.Int64 // UnixNano of the last reload applied, 0 if none

	reg         *prometheus.Registry
	metricsAddr atomic.Pointer[net.Addr]

	cmds  *commandSet
	reqs  requestPool
	stats proxyStats

	zks zkClients // ZooKeeper connections shared by the pools (zk.go)

	nextClientID atomic.Uint64
	serving      atomic.Bool
	ready        chan struct{}
	statsSnap    atomic.Pointer[[]byte]
	statsAddr    atomic.Pointer[net.Addr]
}

// New checks the pools and builds their route tables.
func New(opts Options) (*Proxy, error) {
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = DefaultStatsInterval
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.retireGrace <= 0 {
		opts.retireGrace = retireGrace
	}
	if opts.Version == "" {
		opts.Version = "devel"
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	px := &Proxy{
		opts: opts, log: log, version: opts.Version, hostname: opts.Hostname,
		started: time.Now(), cmds: newCommandSet(), ready: make(chan struct{}),
	}
	var errs []error
	for _, cfg := range opts.Pools {
		if !cfg.Redis {
			log.Warn("pool not served: redis is false (memcached); shardis-proxy serves only the Redis protocol",
				"pool", cfg.Name, "listen", cfg.Listen.String())
			continue
		}
		p, err := newPool(px, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", cfg.Name, err))
			continue
		}
		px.pools = append(px.pools, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(px.pools) == 0 {
		return nil, ErrNoRedisPools
	}
	px.reg = opts.Registry
	if px.reg == nil {
		px.reg = prometheus.NewRegistry()
	}
	if err := px.reg.Register(px.Collector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return px, nil
}

// Pools returns the pools served now, in configuration order (a copy:
// a reload changes the set).
func (px *Proxy) Pools() []*Pool {
	px.mu.Lock()
	defer px.mu.Unlock()
	return slices.Clone(px.pools)
}

// Pool returns the pool named name, or nil.
func (px *Proxy) Pool(name string) *Pool {
	for _, p := range px.Pools() {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Ready is closed once Serve listens on every pool (and the stats port).
func (px *Proxy) Ready() <-chan struct{} { return px.ready }

// StatsAddr returns the stats listener's address once Serve has started,
// else nil.
func (px *Proxy) StatsAddr() net.Addr {
	if a := px.statsAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// serveState is what Serve runs, for reloads to change.
type serveState struct {
	done  chan struct{} // closed at shutdown (stats aggregation)
	wg    *sync.WaitGroup
	pools map[*Pool]*poolRun
}

// poolRun are the goroutines Serve (or a reload) started for a pool.
type poolRun struct {
	stop      chan struct{} // closed to end the idle sweeper (shutdown, or the pool goes away)
	accepting chan struct{} // closed when the accept loop has returned
}

// MetricsAddr returns the admin HTTP listener's address once Serve has
// started, else nil.
func (px *Proxy) MetricsAddr() net.Addr {
	if a := px.metricsAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// Serve listens on every pool and serves clients until ctx is done. Then
// it stops accepting, stops reading new commands, waits (up to
// DrainTimeout) for the replies of commands already read, closes
// everything and returns nil. It returns an error at once if a listener
// cannot be opened. Serve may be called once. While it serves, Reload
// changes the pools.
func (px *Proxy) Serve(ctx context.Context) error {
	px.reloadMu.Lock()
	locked := true
	defer func() {
		if locked {
			px.reloadMu.Unlock()
		}
	}()
	pools := px.Pools()
	var opened []*Pool
	var extra []net.Listener
	closeAll := func() {
		for _, p := range opened {
			p.stopAccepting()
		}
		for _, ln := range extra {
			ln.Close()
		}
	}
	for _, p := range pools {
		ln, err := listen(p.config().Listen, p.config().Backlog, p.config().Reuseport)
		if err != nil {
			closeAll()
			return fmt.Errorf("pool %s: listen %s: %w", p.name, p.config().Listen.String(), err)
		}
		p.sessMu.Lock()
		p.ln = ln
		p.sessMu.Unlock()
		px.stats.connOpened()
		opened = append(opened, p)
	}
	var statsLn, metricsLn net.Listener
	if px.opts.StatsAddr != "" {
		var err error
		statsLn, err = net.Listen("tcp", px.opts.StatsAddr)
		if err != nil {
			closeAll()
			return fmt.Errorf("stats: listen %s: %w", px.opts.StatsAddr, err)
		}
		extra = append(extra, statsLn)
		a := statsLn.Addr()
		px.statsAddr.Store(&a)
	}
	if px.opts.MetricsAddr != "" {
		var err error
		metricsLn, err = net.Listen("tcp", px.opts.MetricsAddr)
		if err != nil {
			closeAll()
			return fmt.Errorf("metrics: listen %s: %w", px.opts.MetricsAddr, err)
		}
		extra = append(extra, metricsLn)
		a := metricsLn.Addr()
		px.metricsAddr.Store(&a)
	}
	px.serving.Store(true)
	if err := px.startZooKeeper(); err != nil {
		closeAll()
		return err
	}

	var wg sync.WaitGroup
	st := &serveState{done: make(chan struct{}), wg: &wg, pools: map[*Pool]*poolRun{}}
	for _, p := range pools {
		px.startPool(st, p)
		p.log.Info("serving pool", "listen", p.describeListen(), "table", p.Table().describe())
	}
	if statsLn != nil {
		px.refreshStats()
		wg.Add(2)
		go func() { // owned by Serve; ends at shutdown
			defer wg.Done()
			px.aggregateStats(st.done)
		}()
		go func() { // owned by Serve; ends when the stats listener closes
			defer wg.Done()
			px.serveStats(statsLn)
		}()
		px.log.Info("serving stats", "addr", statsLn.Addr().String(), "interval", px.opts.StatsInterval)
	}
	var admin *http.Server
	if metricsLn != nil {
		admin = px.adminServer()
		wg.Add(1)
		go func() { // owned by Serve; ends when the admin server is closed
			defer wg.Done()
			if err := admin.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				px.log.Error("admin http server stopped", "err", err)
			}
		}()
		px.log.Info("serving metrics", "addr", metricsLn.Addr().String(),
			"paths", "/metrics /healthz /debug/pprof/ POST /reload")
	}
	px.run = st
	px.running.Store(true)
	px.reloadMu.Unlock()
	locked = false
	close(px.ready)

	<-ctx.Done()
	px.log.Info("shutting down: draining clients", "timeout", px.opts.DrainTimeout)
	px.reloadMu.Lock() // waits for a reload in progress; later ones are refused
	px.run = nil
	px.running.Store(false)
	pools = px.Pools()
	px.reloadMu.Unlock()
	close(st.done)
	for _, run := range st.pools {
		close(run.stop)
	}
	px.stopZooKeeper() // unregister first: discovery stops sending clients here
	for _, p := range pools {
		p.stopAccepting()
	}
	if statsLn != nil {
		statsLn.Close()
	}
	deadline := time.Now().Add(px.opts.DrainTimeout)
	var dwg sync.WaitGroup
	for _, p := range pools {
		dwg.Add(1)
		go func() { // ends when the pool is drained
			defer dwg.Done()
			p.drain(deadline)
		}()
	}
	dwg.Wait()
	px.bg.Wait()
	if admin != nil {
		_ = admin.Close()
	}
	wg.Wait()
	px.log.Info("stopped")
	return nil
}

// startPool starts a pool's goroutines, owned by Serve: the accept loop
// (ends when the listener closes or the pool hands it over) and the idle
// sweeper (ends at shutdown or when a reload removes the pool). Called
// with reloadMu held.
func (px *Proxy) startPool(st *serveState, p *Pool) {
	run := &poolRun{stop: make(chan struct{}), accepting: make(chan struct{})}
	st.pools[p] = run
	if p.config().Preconnect {
		p.routeMu.Lock()
		for _, sv := range p.servers {
			sv.start()
		}
		p.routeMu.Unlock()
	}
	st.wg.Add(1)
	go func() { // owned by Serve; ends when the listener closes or is handed over
		defer st.wg.Done()
		defer close(run.accepting)
		p.serve()
	}()
	px.startSweeper(st, p)
}

// startSweeper starts the pool's idle sweeper if it has a
// client_idle_timeout and no sweeper runs (at start, and when a reload
// sets client_idle_timeout). Called with reloadMu held, p in st.pools.
func (px *Proxy) startSweeper(st *serveState, p *Pool) {
	run := st.pools[p]
	if run == nil {
		return
	}
	p.sweepMu.Lock()
	defer p.sweepMu.Unlock()
	if p.sweeping || p.config().ClientIdleTimeout <= 0 {
		return
	}
	p.sweeping = true
	st.wg.Add(1)
	go func() { // owned by Serve; ends at shutdown, when the pool goes away or a reload sets client_idle_timeout to 0
		defer st.wg.Done()
		p.sweepIdle(run.stop)
	}()
}

// refreshStats renders the stats snapshot the stats port serves.
func (px *Proxy) refreshStats() {
	b := px.statsJSON(time.Now())
	px.statsSnap.Store(&b)
}

// aggregateStats refreshes the snapshot every StatsInterval, as
// nutcracker's stats thread does.
func (px *Proxy) aggregateStats(done <-chan struct{}) {
	t := time.NewTicker(px.opts.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			px.refreshStats()
		}
	}
}

// serveStats writes the current snapshot to every connection and closes
// it, like nutcracker's stats port.
func (px *Proxy) serveStats(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if b := px.statsSnap.Load(); b != nil {
			_, _ = c.Write(*b)
		}
		_ = c.Close()
	}
}
