package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	stdnet "net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// Failover test rig: a pool of shards in a real ZooKeeper, each shard a
// master and replicas (redis-server or shardis-server processes), one
// shardis-watchdog process per backend, and writers that find each shard's
// master in ZooKeeper (conf's TopologyWatcher) and write to it directly.

type backendKind string

const (
	kindRedis   backendKind = "redis-server"
	kindShardis backendKind = "shardis-server"
)

// rigOptions shape a rig.
type rigOptions struct {
	kind           backendKind
	shards         int
	replicas       int  // per shard
	ackReplicas    int  // the backend's repl-ack-replicas (set in backendArgs too)
	startFenced    bool // shardis-server starts with fenced yes (docs/watchdog.md)
	probeInterval  time.Duration
	probeTimeout   time.Duration
	probeFailures  int
	sessionTimeout time.Duration
	backendArgs    []string // extra backend arguments
	zkAddr         string   // where clients reach ZooKeeper ("" for the server itself)
}

type node struct {
	backend  *harness.Proc
	watchdog *harness.Proc
	addr     string
	wdArgs   []string
}

type rigShard struct {
	name  string
	path  string
	nodes []*node
}

type rig struct {
	t      *testing.T
	opts   rigOptions
	zk     *harness.ZooKeeper
	z      *conf.ZK
	pool   string
	layout conf.Layout
	shards []*rigShard
	topo   atomic.Pointer[conf.Topology]
	cancel context.CancelFunc
	done   chan struct{}
}

func (o *rigOptions) defaults() {
	if o.kind == "" {
		o.kind = kindRedis
	}
	if o.shards == 0 {
		o.shards = 2
	}
	if o.replicas == 0 {
		o.replicas = 1
	}
	// With repl-ack-replicas N a shard keeps taking writes through the
	// loss of one node only with N+1 replicas (docs/replication.md): a
	// master left with fewer answers every write -NOREPLICAS.
	o.replicas = max(o.replicas, o.ackReplicas+1)
	if o.probeInterval == 0 {
		o.probeInterval = 100 * time.Millisecond
	}
	if o.probeTimeout == 0 {
		// Generous: the test machine is shared and often loaded; a
		// killed backend refuses connections at once anyway.
		o.probeTimeout = 300 * time.Millisecond
	}
	if o.probeFailures == 0 {
		o.probeFailures = 3
	}
	if o.sessionTimeout == 0 {
		o.sessionTimeout = 2 * time.Second
	}
}

func testLog(t testing.TB) *slog.Logger {
	level := slog.LevelError
	if os.Getenv("SHARDIS_TEST_LOG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tbWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tbWriter struct{ t testing.TB }

func (w tbWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// dialZK opens a test client on addr; it is closed at cleanup.
func dialZK(t testing.TB, addr string, timeout time.Duration) *conf.ZK {
	t.Helper()
	z, err := conf.DialZooKeeper(conf.ZKConfig{Servers: []string{addr}, SessionTimeout: timeout,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := z.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return z
}

// newRig creates the pool in ZooKeeper and starts every backend and
// watchdog; shard i's first node is its master.
func newRig(t *testing.T, zk *harness.ZooKeeper, pool string, o rigOptions) *rig {
	t.Helper()
	o.defaults()
	if o.zkAddr == "" {
		o.zkAddr = zk.Addr
	}
	r := &rig{t: t, opts: o, zk: zk, pool: pool, done: make(chan struct{})}
	r.z = dialZK(t, o.zkAddr, 10*time.Second)
	if err := r.z.EnsurePath(r.layout.PoolPath(pool)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.z.Set(r.layout.PoolPath(pool), []byte(`{"slots":4096}`), -1); err != nil {
		t.Fatal(err)
	}
	per := 4096 / o.shards
	for i := 0; i < o.shards; i++ {
		name := conf.ShardName(i)
		p := r.layout.ShardPath(pool, name)
		hi := (i+1)*per - 1
		if i == o.shards-1 {
			hi = 4095
		}
		if _, err := r.z.Create(p, []byte(fmt.Sprintf(`{"weight":"%d-%d"}`, i*per, hi)), conf.CreatePersistent); err != nil {
			t.Fatal(err)
		}
		r.shards = append(r.shards, &rigShard{name: name, path: p})
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	w, err := conf.NewTopologyWatcher(r.z, conf.WatcherConfig{Path: r.layout.PoolPath(pool), RefreshInterval: time.Second,
		Coalesce: 2 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnUpdate: func(u conf.TopologyUpdate) { r.topo.Store(u.Topology) }})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = w.Run(ctx); close(r.done) }() // ends at cleanup
	t.Cleanup(func() { cancel(); <-r.done })

	// Masters first (each must be master before its replicas register),
	// all shards in parallel.
	for _, s := range r.shards {
		s.nodes = append(s.nodes, r.startNode(s))
	}
	for _, s := range r.shards {
		r.waitMaster(s, s.nodes[0].addr, 15*time.Second)
	}
	for _, s := range r.shards {
		for j := 0; j < o.replicas; j++ {
			s.nodes = append(s.nodes, r.startNode(s))
		}
	}
	for _, s := range r.shards {
		for _, n := range s.nodes[1:] {
			r.waitReplica(s, n, 20*time.Second)
		}
	}
	return r
}

func (r *rig) startNode(s *rigShard) *node {
	r.t.Helper()
	n := &node{}
	switch r.opts.kind {
	case kindRedis:
		args := append([]string{"--repl-diskless-sync-delay", "0", "--repl-timeout", "5"}, r.opts.backendArgs...)
		n.backend = harness.StartRedis(r.t, args...)
	case kindShardis:
		args := r.opts.backendArgs
		if r.opts.startFenced {
			args = append([]string{"--fenced", "yes"}, args...)
		}
		n.backend = harness.StartShardisServer(r.t, "", args...)
	}
	n.addr = n.backend.Addr
	n.wdArgs = []string{"--zk", r.opts.zkAddr, "--backend", n.addr, "--shard", s.path,
		"--probe-interval", r.opts.probeInterval.String(), "--probe-timeout", r.opts.probeTimeout.String(), "--probe-failures", strconv.Itoa(r.opts.probeFailures),
		"--session-timeout", r.opts.sessionTimeout.String(), "--log-level", "debug"}
	n.watchdog = harness.StartBinary(r.t, "./cmd/shardis-watchdog", 0, n.backend.Dir, n.wdArgs...)
	keepLogs(r.t, n.backend, n.watchdog)
	return n
}

// keepLogs copies the processes' logs to $SHARDIS_KEEP_LOGS/<test>/ when
// the test fails (the harness prints only their tails), or always with
// SHARDIS_KEEP_LOGS_ALL=1.
func keepLogs(t *testing.T, ps ...*harness.Proc) {
	dir := os.Getenv("SHARDIS_KEEP_LOGS")
	if dir == "" {
		return
	}
	all := os.Getenv("SHARDIS_KEEP_LOGS_ALL") == "1"
	t.Cleanup(func() { // runs before the harness stops the processes
		if !t.Failed() && !all {
			return
		}
		d := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
		_ = os.MkdirAll(d, 0o755)
		for _, p := range ps {
			if b, err := os.ReadFile(p.Log); err == nil {
				_ = os.WriteFile(filepath.Join(d, filepath.Base(p.Dir)+"-"+filepath.Base(p.Log)), b, 0o644)
			}
		}
	})
}

// shard reads the shard afresh.
func (r *rig) shard(s *rigShard) *conf.Shard {
	sh, err := conf.ReadShard(r.z, s.path)
	if err != nil {
		return &conf.Shard{Master: -1}
	}
	return sh
}

func (r *rig) masterOf(s *rigShard) (conf.Member, bool) { return r.shard(s).MasterMember() }

func (r *rig) waitMaster(s *rigShard, addr string, d time.Duration) conf.Member {
	r.t.Helper()
	var m conf.Member
	waitFor(r.t, d, fmt.Sprintf("%s master %s", s.name, addr), func() bool {
		var ok bool
		m, ok = r.masterOf(s)
		return ok && (addr == "" || m.Addr == addr)
	})
	return m
}

// waitNewMaster waits until the shard's master is another backend than old.
func (r *rig) waitNewMaster(s *rigShard, old string, d time.Duration) conf.Member {
	r.t.Helper()
	var m conf.Member
	waitFor(r.t, d, fmt.Sprintf("%s: a master other than %s", s.name, old), func() bool {
		var ok bool
		m, ok = r.masterOf(s)
		return ok && m.Addr != old
	})
	return m
}

// waitReplica waits until n's backend replicates the shard's master with
// its link up and its member says replica of that master.
func (r *rig) waitReplica(s *rigShard, n *node, d time.Duration) {
	r.t.Helper()
	waitFor(r.t, d, fmt.Sprintf("%s: %s replica of the master", s.name, n.addr), func() bool {
		sh := r.shard(s)
		m, ok := sh.MasterMember()
		if !ok || m.Addr == n.addr {
			return false
		}
		var member bool
		for _, x := range sh.Replicas() {
			member = member || (x.Addr == n.addr && x.Data.Epoch == m.Seq)
		}
		info := infoRepl(n.addr)
		return member && info["role"] == "slave" && info["master_link_status"] == "up" &&
			hostPort(info["master_host"], info["master_port"]) == m.Addr
	})
}

func hostPort(host, port string) string { return host + ":" + port }

// waitConverged waits until n replicates the master and has its offset.
func (r *rig) waitConverged(s *rigShard, n *node, d time.Duration) {
	r.t.Helper()
	r.waitReplica(s, n, d)
	waitFor(r.t, d, fmt.Sprintf("%s: %s caught up", s.name, n.addr), func() bool {
		m, ok := r.masterOf(s)
		if !ok {
			return false
		}
		mo, ro := infoRepl(m.Addr)["master_repl_offset"], infoRepl(n.addr)["slave_repl_offset"]
		return mo != "" && mo == ro
	})
}

func infoRepl(addr string) map[string]string {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond})
	defer c.Close()
	s, err := c.Info(context.Background(), "replication").Result()
	if err != nil {
		return map[string]string{}
	}
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// currentMaster is the shard's master in the writer's view (the watcher's
// last snapshot).
func (r *rig) currentMaster(shard string) string {
	t := r.topo.Load()
	if t == nil {
		return ""
	}
	s, ok := t.Shard(shard)
	if !ok {
		return ""
	}
	m, ok := s.MasterMember()
	if !ok {
		return ""
	}
	return m.Addr
}

// ---- the writer ----

type ack struct {
	key, val string
	addr     string
	at       time.Time
}

// writer writes unique keys to one shard's current master, one at a time,
// and records every acknowledged write and every success time.
type writer struct {
	r       *rig
	shard   string
	timeout time.Duration
	stop    chan struct{}
	done    chan struct{}

	mu      sync.Mutex
	acks    []ack
	okTimes []time.Time // of acks, in order
	errs    map[string]int
	lastErr string
}

func (r *rig) startWriter(shard string, timeout time.Duration) *writer {
	w := &writer{r: r, shard: shard, timeout: timeout, stop: make(chan struct{}), done: make(chan struct{}), errs: map[string]int{}}
	go w.run() // ends with w.halt
	r.t.Cleanup(w.halt)
	return w
}

func (w *writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	clients := map[string]*redis.Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for n := 0; ; n++ {
		select {
		case <-w.stop:
			return
		default:
		}
		addr := w.r.currentMaster(w.shard)
		if addr == "" {
			w.fail("no master")
			time.Sleep(2 * time.Millisecond)
			continue
		}
		c := clients[addr]
		if c == nil {
			c = redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1, PoolSize: 1,
				DialTimeout: w.timeout, ReadTimeout: w.timeout, WriteTimeout: w.timeout})
			clients[addr] = c
		}
		key := fmt.Sprintf("%s:%07d", w.shard, n)
		val := strconv.Itoa(n)
		err := c.Set(context.Background(), key, val, 0).Err()
		now := time.Now()
		if err != nil {
			w.fail(err.Error())
			time.Sleep(2 * time.Millisecond)
			continue
		}
		w.mu.Lock()
		w.acks = append(w.acks, ack{key, val, addr, now})
		w.okTimes = append(w.okTimes, now)
		w.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

func (w *writer) fail(msg string) {
	msg = errKey(msg)
	w.mu.Lock()
	w.errs[msg]++
	w.lastErr = msg
	w.mu.Unlock()
}

// localAddr is the client side of "read tcp 127.0.0.1:40312->127.0.0.1:7001".
var localAddr = regexp.MustCompile(`[0-9a-fA-F.:\[\]]+->`)

// errKey groups errors for the report: the client's ephemeral port is
// dropped so that one map entry counts one kind of error against one
// address ("read tcp ->127.0.0.1:7001: i/o timeout"). (It used to cut
// dial errors at their first digit, which printed as "dial tcp :313" —
// the count 313 after an empty address.)
func errKey(msg string) string {
	return localAddr.ReplaceAllString(msg, "->")
}

// firstOKAfter is the first success after t on another address than
// not (zero if none).
func (w *writer) firstOKAfter(t time.Time, not string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := sort.Search(len(w.okTimes), func(i int) bool { return w.okTimes[i].After(t) })
	for ; i < len(w.acks); i++ {
		if w.acks[i].addr != not {
			return w.acks[i].at
		}
	}
	return time.Time{}
}

// waitOKAfter waits until a write succeeded after t on another address
// than not ("" for any) and returns how long after t.
func (w *writer) waitOKAfter(t time.Time, not string, d time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(d)
	for {
		if ok := w.firstOKAfter(t, not); !ok.IsZero() {
			return ok.Sub(t), nil
		}
		if time.Now().After(deadline) {
			w.mu.Lock()
			defer w.mu.Unlock()
			return 0, fmt.Errorf("no write succeeded within %v of the fault (errors: %v)", d, w.errs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// maxGap is the longest time between two successes within [from, to].
func (w *writer) maxGap(from, to time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var gap time.Duration
	prev := from
	for _, t := range w.okTimes {
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			break
		}
		gap = max(gap, t.Sub(prev))
		prev = t
	}
	return max(gap, to.Sub(prev))
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

// lost counts acknowledged writes missing (or different) on addr.
func (w *writer) lost(t *testing.T, addr string) (lost, total int) {
	t.Helper()
	w.mu.Lock()
	acks := append([]ack(nil), w.acks...)
	w.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, ReadTimeout: 5 * time.Second})
	defer c.Close()
	for i := 0; i < len(acks); i += 500 {
		batch := acks[i:min(i+500, len(acks))]
		keys := make([]string, len(batch))
		for j, a := range batch {
			keys[j] = a.key
		}
		vals, err := c.MGet(context.Background(), keys...).Result()
		if err != nil {
			t.Fatalf("reading back from %s: %v", addr, err)
		}
		for j, v := range vals {
			if s, ok := v.(string); !ok || s != batch[j].val {
				lost++
			}
		}
	}
	return lost, len(acks)
}

// ---- results ----

type resultRow struct {
	scenario string
	backend  backendKind
	measure  string
	value    string
	bound    string
}

type resultTable struct {
	mu   sync.Mutex
	rows []resultRow
}

func (rt *resultTable) add(scenario string, kind backendKind, measure, value, bound string) {
	rt.mu.Lock()
	rt.rows = append(rt.rows, resultRow{scenario, kind, measure, value, bound})
	rt.mu.Unlock()
}

func (rt *resultTable) print(t *testing.T) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	sort.SliceStable(rt.rows, func(i, j int) bool { return rt.rows[i].scenario < rt.rows[j].scenario })
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-34s %-15s %-36s %-12s %s\n", "scenario", "backend", "measure", "value", "bound")
	for _, r := range rt.rows {
		fmt.Fprintf(&b, "%-34s %-15s %-36s %-12s %s\n", r.scenario, r.backend, r.measure, r.value, r.bound)
	}
	t.Log(b.String())
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// replicationAvailable reports whether shardis-server answers REPLICAOF
// (issue 7's replication); the shardis-server variants skip until then.
func replicationAvailable(t *testing.T) bool {
	t.Helper()
	p := harness.StartShardisServer(t, "")
	defer p.Kill()
	c := redis.NewClient(&redis.Options{Addr: p.Addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	err := c.Do(context.Background(), "REPLICAOF", "NO", "ONE").Err()
	return err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown command")
}

// zkGate relays TCP connections to ZooKeeper. Cut closes every relayed
// connection and refuses new ones until Heal: ZooKeeper is unreachable.
// Scenario 5 restarts ZooKeeper behind a cut gate, so that clients do not
// connect to a server that is still starting (go-zookeeper then waits ten
// times its receive timeout for the handshake; see the report of issue 9).
type zkGate struct {
	ln     stdnet.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[stdnet.Conn]struct{}
}

func newZKGate(t *testing.T, target string) *zkGate {
	ln, err := stdnet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &zkGate{ln: ln, target: target, conns: map[stdnet.Conn]struct{}{}}
	done := make(chan struct{})
	go g.accept(done) // ends when the listener closes at cleanup
	t.Cleanup(func() { ln.Close(); <-done; g.Cut() })
	return g
}

func (g *zkGate) Addr() string { return g.ln.Addr().String() }

func (g *zkGate) accept(done chan struct{}) {
	defer close(done)
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		cut := g.cut
		g.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		u, err := stdnet.DialTimeout("tcp", g.target, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns[c], g.conns[u] = struct{}{}, struct{}{}
		g.mu.Unlock()
		pipe := func(dst, src stdnet.Conn) { // ends when either side closes
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(u, c)
		go pipe(c, u)
	}
}

// Cut closes every relayed connection and refuses new ones.
func (g *zkGate) Cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cut = true
	for c := range g.conns {
		c.Close()
	}
	g.conns = map[stdnet.Conn]struct{}{}
}

// Heal lets connections through again.
func (g *zkGate) Heal() {
	g.mu.Lock()
	g.cut = false
	g.mu.Unlock()
}
