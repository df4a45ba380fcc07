package watchdog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardis/shardis/conf"
)

// Watchdog is one shardis-watchdog: the decision core and the I/O loop
// around it, for one backend in one shard.
type Watchdog struct {
	cfg     Config
	log     *slog.Logger
	core    *Core
	met     *metrics
	reqPath string
	status  atomic.Pointer[Status]
}

// New checks cfg and returns a watchdog; Run starts it. New does not
// dial anything.
func New(cfg Config) (*Watchdog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	reqPath, err := RequestPath(cfg.Shard)
	if err != nil {
		return nil, err
	}
	met, err := newMetrics(cfg.Registry, cfg.Shard, cfg.Announce)
	if err != nil {
		return nil, fmt.Errorf("watchdog metrics: %w", err)
	}
	w := &Watchdog{
		cfg:     cfg,
		log:     cfg.Logger.With("shard", cfg.Shard, "backend", cfg.Announce),
		core:    NewCore(cfg.coreConfig()),
		met:     met,
		reqPath: reqPath,
	}
	st := w.core.Status()
	w.status.Store(&st)
	return w, nil
}

// Status returns the watchdog's current summary. It is safe for
// concurrent use.
func (w *Watchdog) Status() Status { return *w.status.Load() }

// Run watches over the backend until ctx ends. Then, if the backend is
// (or is becoming) the master, it fences it (Config.ExitPause) before the
// ZooKeeper session is closed, which deletes the member: a replica takes
// over. Run returns ctx.Err(), or an error if ZooKeeper cannot be dialled.
//
// Goroutines, all started here and all ended before Run returns: the
// session-event forwarder, the shard watcher and its forwarder, the
// request watcher, the backend driver, the ZooKeeper driver, the prober,
// and one per peer query and per --on-failover run. Each sends its
// results to the loop (this goroutine), which alone owns the core.
func (w *Watchdog) Run(parent context.Context) error {
	cfg := w.cfg
	zcfg := cfg.ZooKeeper
	zcfg.Logger = w.log
	z, err := conf.DialZooKeeper(zcfg)
	if err != nil {
		return err
	}
	defer z.Close()
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before wg.Wait: stop every goroutine

	events := make(chan Event, 64)
	send := func(ev Event) {
		select {
		case events <- ev:
		case <-ctx.Done():
		}
	}
	goRun := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}

	beClient := newBackendClient(cfg.Backend, cfg.BackendAuth, cfg.ProbeTimeout, 2)
	defer beClient.Close()
	probeClient := newBackendClient(cfg.Backend, cfg.BackendAuth, cfg.ProbeTimeout, 1)
	defer probeClient.Close()

	be := &backendDriver{rdb: beClient, timeout: cfg.ProbeTimeout, pauseFor: cfg.PauseFor,
		renew: cfg.ProbeInterval, log: w.log, batches: make(chan []Action, 8), results: send}
	zd := &zkDriver{z: z, shard: cfg.Shard, reqPath: w.reqPath, ops: make(chan Action, 8), results: send}
	goRun(func() { be.run(ctx) })
	goRun(func() { zd.run(ctx) })

	sessions, unsubscribe := z.Subscribe()
	defer unsubscribe()
	goRun(func() {
		for ev := range sessions { // closed by unsubscribe or z.Close
			send(SessionChange{Kind: ev.Kind, SessionID: ev.SessionID, NewSession: ev.NewSession})
		}
	})
	sw, err := conf.NewShardWatcher(z, conf.ShardWatcherConfig{Path: cfg.Shard, Logger: w.log})
	if err != nil {
		return err
	}
	goRun(func() { _ = sw.Run(ctx) })
	goRun(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case u := <-sw.Updates():
				if u.Err != nil {
					w.log.Warn("shard znode", "err", u.Err)
				}
				send(shardUpdate(u))
			}
		}
	})
	rw := &requestWatcher{z: z, path: w.reqPath, results: send, log: w.log}
	goRun(func() { _ = rw.run(ctx) })

	probes := make(chan uint64, 1)
	goRun(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case after := <-probes:
				send(w.probe(ctx, probeClient, after))
			}
		}
	})

	w.log.Info("watchdog starting", "zookeeper", cfg.ZooKeeper.Servers, "probe_interval", cfg.ProbeInterval,
		"probe_failures", cfg.ProbeFailures, "session_timeout", cfg.ZooKeeper.SessionTimeout)
	lp := &loop{w: w, ctx: ctx, be: be, zd: zd, self: beClient, goRun: goRun, send: send}
	tick := time.NewTicker(cfg.ProbeInterval)
	defer tick.Stop()
	startProbe := func() {
		select {
		case probes <- w.core.BatchesDone():
		default: // the last probe is still running
		}
	}
	lp.step(Tick{Now: time.Now()})
	startProbe()
	// After a failed probe the next one comes sooner (memberlist's
	// suspicion): ProbeFailures consecutive failures are still needed,
	// but a dead backend is confirmed in about a third of the time.
	var reprobe <-chan time.Time
	for {
		select {
		case <-parent.Done():
			w.exit(be)
			return parent.Err()
		case now := <-tick.C:
			lp.step(Tick{Now: now})
			startProbe()
		case <-reprobe:
			reprobe = nil
			startProbe()
		case ev := <-events:
			lp.step(ev)
			if p, ok := ev.(Probe); ok && !p.OK {
				reprobe = time.After(cfg.ProbeInterval / 3)
			}
		}
	}
}

// exit fences a master's backend before the session (and so the member)
// goes away.
func (w *Watchdog) exit(be *backendDriver) {
	st := w.core.Status()
	if w.cfg.ExitPause < 0 || (st.State != StateMaster && st.State != StateFence && st.State != StatePromote) {
		w.log.Info("watchdog stopping", "state", st.State.String())
		return
	}
	err := be.fenceOnExit(w.cfg.ExitPause)
	w.log.Info("watchdog stopping: master fenced, member removed; a replica takes over", "state", st.State.String(), "fence_err", err)
}

func (w *Watchdog) probe(ctx context.Context, bc *backendClient, after uint64) Probe {
	cctx, cancel := context.WithTimeout(ctx, w.cfg.ProbeTimeout)
	defer cancel()
	start := time.Now()
	rdb := bc.get()
	info, err := readInfo(cctx, rdb)
	lat := time.Since(start)
	bc.observe(rdb, err)
	if err != nil {
		return Probe{Err: err.Error(), Latency: lat, After: after}
	}
	return Probe{OK: true, Info: info, Latency: lat, After: after}
}

// loop is the state of Run's goroutine.
type loop struct {
	w        *Watchdog
	ctx      context.Context
	be       *backendDriver
	zd       *zkDriver
	self     *backendClient
	goRun    func(func())
	send     func(Event)
	failures int
}

// step feeds one event to the core and carries out its actions.
func (l *loop) step(ev Event) {
	w := l.w
	if p, ok := ev.(Probe); ok {
		l.observeProbe(p)
		if p.OK {
			l.be.setKind(p.Info.Shardis)
		}
	}
	acts := w.core.Step(ev)
	st := w.core.Status()
	w.status.Store(&st)
	w.met.setStatus(st)
	var batch []Action
	flush := func() {
		if len(batch) > 0 {
			select {
			case l.be.batches <- batch:
			case <-l.ctx.Done():
			}
			batch = nil
		}
	}
	for _, a := range acts {
		if a.IsBackend() {
			if len(batch) > 0 && batch[0].ID != a.ID {
				flush()
			}
			batch = append(batch, a)
			continue
		}
		flush()
		switch {
		case a.IsZK():
			select {
			case l.zd.ops <- a:
			case <-l.ctx.Done():
			}
		case a.Kind == ActQueryPeers:
			l.goRun(func() {
				res := queryPeers(l.ctx, l.self.get(), a.Peers, w.cfg.BackendAuth, w.cfg.ProbeTimeout)
				res.ID = a.ID
				l.send(res)
			})
		case a.Kind == ActFailedOver:
			l.failedOver(a, st)
		case a.Kind == ActTransition:
			w.met.transitions.WithLabelValues(a.To.String()).Inc()
			w.log.Info("watchdog "+a.To.String(), "from", a.From.String(), "reason", a.Reason,
				"member", st.Member, "master", st.Master, "epoch", st.Epoch, "offset", st.Offset,
				"fenced", st.Fenced, "zookeeper", st.Connected)
		}
	}
	flush()
}

func (l *loop) observeProbe(p Probe) {
	w := l.w
	if p.OK {
		w.met.probeLatency.Observe(p.Latency.Seconds())
		if l.failures > 0 {
			w.log.Info("backend probe ok again", "after_failures", l.failures, "role", p.Info.Role, "offset", p.Info.Offset)
		}
		l.failures = 0
		return
	}
	w.met.probeFailures.Inc()
	l.failures++
	if l.failures == 1 || l.failures == w.cfg.ProbeFailures || l.failures%20 == 0 {
		w.log.Warn("backend probe failed", "failures", l.failures, "err", p.Err, "took", p.Latency)
	}
}

func (l *loop) failedOver(a Action, st Status) {
	w := l.w
	kind := "auto"
	if a.Manual {
		kind = "manual"
	}
	w.met.failovers.WithLabelValues(kind).Inc()
	w.log.Info("failover: this backend is the shard's master now", "kind", kind, "old_master", a.OldMaster,
		"new_master", a.Addr, "epoch", st.Seq)
	if w.cfg.OnFailover == "" {
		return
	}
	l.goRun(func() {
		if err := runHook(l.ctx, w.cfg.OnFailover, w.cfg.HookTimeout, w.cfg.Shard, a.OldMaster, a.Addr, st.Seq, a.Manual, w.log); err != nil {
			w.met.hookFailures.Inc()
		}
	})
}
