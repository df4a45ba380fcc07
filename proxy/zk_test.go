package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// ZooKeeper test rig: a real ZooKeeper (harness), an operator's client
// writing pools, shards and members the way shardis-admin and the
// watchdogs do, and in-process proxies following it (so -race covers
// the watcher, the table swaps and the registration).

// changeBound is how soon a change written into ZooKeeper must be
// routed by the proxy (issue 8: "within 1 s").
const changeBound = time.Second

type zkRig struct {
	t  *testing.T
	zk *harness.ZooKeeper
	z  *conf.ZK // the operator's and the watchdogs' client
	l  conf.Layout
}

func newZKRig(t *testing.T, zk *harness.ZooKeeper, cfg conf.ZKConfig) *zkRig {
	t.Helper()
	if len(cfg.Servers) == 0 {
		cfg.Servers = []string{zk.Addr}
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	z, err := conf.DialZooKeeper(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := z.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return &zkRig{t: t, zk: zk, z: z}
}

// pool creates a pool znode with data and one shard per ranges entry
// (redis-0000, ...).
func (r *zkRig) pool(name, data string, ranges ...string) {
	r.t.Helper()
	if err := r.z.EnsurePath(r.l.PoolPath(name)); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.z.Set(r.l.PoolPath(name), []byte(data), -1); err != nil {
		r.t.Fatal(err)
	}
	for i, rg := range ranges {
		r.shard(name, conf.ShardName(i), rg)
	}
}

func (r *zkRig) shard(pool, shard, ranges string) {
	r.t.Helper()
	if _, err := r.z.Create(r.l.ShardPath(pool, shard), []byte(`{"weight":"`+ranges+`"}`), conf.CreatePersistent); err != nil {
		r.t.Fatal(err)
	}
}

// member registers a backend in a shard, as its watchdog would.
func (r *zkRig) member(pool, shard, addr string, role conf.Role) conf.MemberNode {
	r.t.Helper()
	m, err := r.z.CreateMember(r.l.ShardPath(pool, shard), conf.MemberData{Addr: addr, Role: role})
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

func setRoleOp(m conf.MemberNode, addr string, role conf.Role) conf.Op {
	return conf.SetOp(m.Path, conf.MemberData{Addr: addr, Role: role}.Marshal(), -1)
}

func weightOp(l conf.Layout, pool, shard, ranges string) conf.Op {
	return conf.SetOp(l.ShardPath(pool, shard), []byte(`{"weight":"`+ranges+`"}`), -1)
}

func (r *zkRig) multi(ops ...conf.Op) time.Time {
	r.t.Helper()
	start := time.Now()
	if err := r.z.Multi(ops...); err != nil {
		r.t.Fatal(err)
	}
	return start
}

// zkPoolYAML renders a ZooKeeper pool without servers; extra are more
// "key: value" lines.
func zkPoolYAML(name, listen, zkHost, clusterPath string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  listen: %s\n  redis: true\n  timeout: 5000\n  zookeeper_host: %s\n  zookeeper_redis_path: %s\n",
		name, listen, zkHost, clusterPath)
	for _, e := range extra {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	return b.String()
}

// waitTable polls the pool's route table until ok holds (or fails the
// test after d) and returns how long it took from since.
func waitTable(t *testing.T, p *Pool, since time.Time, d time.Duration, what string, ok func(*RouteTable) bool) time.Duration {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok(p.Table()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; table %s; zookeeper %+v", d, what, p.Table().describe(), p.ZooKeeperStatus())
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(since)
}

func masterIs(shard int, addr string) func(*RouteTable) bool {
	return func(t *RouteTable) bool {
		return t.topo.Source == "zookeeper" && t.Len() > shard && t.Shard(shard).Master == addr
	}
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestZooKeeperTopology runs the proxy against one real ZooKeeper: it
// follows a master change while clients write, answers a masterless
// shard with CLUSTERDOWN, follows shards added and ranges changed,
// refuses an invalid topology, and starts from its YAML servers.
func TestZooKeeperTopology(t *testing.T) {
	zk := harness.StartZooKeeper(t)
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, zk *harness.ZooKeeper)
	}{
		{"FollowMaster", testZKFollowMaster},
		{"Shards", testZKShards},
		{"Bootstrap", testZKBootstrap},
		{"ChrootAuth", testZKChrootAuth},
		{"ReadFrom", testZKReadFrom},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, zk) })
	}
}

// writer pushes 0, 1, 2, ... to its own list through the proxy, one
// command at a time on one connection, and records when each was
// acknowledged.
type listWriter struct {
	key  string
	c    *redis.Client
	stop chan struct{}
	done chan struct{}
	acks []time.Time // acks[n]: when "RPUSH key n" was acknowledged
	errs []string
}

func startListWriter(t *testing.T, addr, key string) *listWriter {
	w := &listWriter{key: key, stop: make(chan struct{}), done: make(chan struct{}),
		c: client(t, addr, func(o *redis.Options) { o.PoolSize = 1 })}
	go func() { // ends with halt
		defer close(w.done)
		for n := 0; ; n++ {
			select {
			case <-w.stop:
				return
			default:
			}
			if err := w.c.RPush(context.Background(), key, n).Err(); err != nil {
				w.errs = append(w.errs, err.Error())
				n--
				time.Sleep(time.Millisecond)
				continue
			}
			w.acks = append(w.acks, time.Now())
		}
	}()
	t.Cleanup(w.halt)
	return w
}

func (w *listWriter) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// listOn reads key's list on a backend directly.
func listOn(t *testing.T, addr, key string) []int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	vals, err := c.LRange(context.Background(), key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(vals))
	for i, v := range vals {
		out[i], _ = strconv.Atoi(v)
	}
	return out
}

func testZKFollowMaster(t *testing.T, zk *harness.ZooKeeper) {
	r := newZKRig(t, zk, conf.ZKConfig{})
	backends := startBackends(t, backendKinds[0], 2)
	a, b := backends[0].Addr, backends[1].Addr
	r.pool("follow", `{"slots":1024,"hash":"crc32a","hash_tag":"{}"}`, "0-1023")
	ma := r.member("follow", "redis-0000", a, conf.RoleMaster)
	mb := r.member("follow", "redis-0000", b, conf.RoleCandidate)

	tp := startTestProxy(t, zkPoolYAML("follow", freeAddr(t), zk.Addr, r.l.PoolPath("follow"), "zookeeper_path: "+r.l.ProxyDir("follow")))
	p := tp.Pool("follow")
	took := waitTable(t, p, time.Now(), 15*time.Second, "the first topology", masterIs(0, a))
	t.Logf("first topology after %v", took)

	// Registered under the listen address.
	node := r.l.ProxyNode("follow", tp.addrs["follow"])
	eventually(t, 5*time.Second, "the registration", func() bool { ok, _, _ := r.z.Exists(node); return ok })
	data, _, err := r.z.Get(node)
	if err != nil {
		t.Fatal(err)
	}
	pd, err := conf.ParseProxyData(data)
	if err != nil || pd.Addr != tp.addrs["follow"] || pd.Pool != "follow" || pd.Started.IsZero() || pd.Version != "devel" {
		t.Fatalf("registration data %s: %+v %v", data, pd, err)
	}

	var ws []*listWriter
	for i := 0; i < 4; i++ {
		ws = append(ws, startListWriter(t, tp.addrs["follow"], fmt.Sprintf("{w%d}:log", i)))
	}
	time.Sleep(300 * time.Millisecond)
	t0 := r.multi(setRoleOp(ma, a, conf.RoleReplica), setRoleOp(mb, b, conf.RoleMaster))
	seen := waitTable(t, p, t0, 10*time.Second, "the new master", masterIs(0, b))
	time.Sleep(300 * time.Millisecond)
	for _, w := range ws {
		w.halt()
	}

	// Each client's writes are a prefix on the old master and the rest on
	// the new one: once one of its requests went to the new master, none
	// went to the old one.
	var worst time.Duration
	for _, w := range ws {
		if len(w.errs) > 0 {
			t.Errorf("%s: %d errors during the switch, e.g. %s", w.key, len(w.errs), w.errs[0])
		}
		onA, onB := listOn(t, a, w.key), listOn(t, b, w.key)
		if len(onA)+len(onB) != len(w.acks) || len(onA) == 0 || len(onB) == 0 {
			t.Fatalf("%s: %d acknowledged, %d on the old master, %d on the new", w.key, len(w.acks), len(onA), len(onB))
		}
		for i, v := range append(onA, onB...) {
			if v != i {
				t.Fatalf("%s: element %d is %d: old master %v..., new master %v...", w.key, i, v, onA[:min(5, len(onA))], onB[:min(5, len(onB))])
			}
		}
		first := w.acks[len(onA)] // the first write the new master answered
		if d := first.Sub(t0); d > worst {
			worst = d
		}
	}
	t.Logf("master change: table swapped %v after the ZooKeeper write; every client's next write went to the new master within %v", seen, worst)
	if worst > changeBound {
		t.Errorf("clients reached the new master after %v, want < %v", worst, changeBound)
	}

	// A shard without a master answers CLUSTERDOWN at once.
	t0 = r.multi(setRoleOp(mb, b, conf.RoleReplica))
	seen = waitTable(t, p, t0, 10*time.Second, "no master", masterIs(0, ""))
	rc := dialRaw(t, tp.addrs["follow"])
	if got := rc.do("SET", "k", "v"); got != "-CLUSTERDOWN shard redis-0000 has no master\r\n" {
		t.Errorf("masterless SET: %q", got)
	}
	t.Logf("masterless shard seen after %v", seen)
	if seen > changeBound {
		t.Errorf("took %v, want < %v", seen, changeBound)
	}
	r.multi(setRoleOp(mb, b, conf.RoleMaster))
	waitTable(t, p, time.Now(), 10*time.Second, "a master again", masterIs(0, b))
	if got := rc.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Errorf("SET: %q", got)
	}
	info := rc.do("INFO", "pool")
	for _, want := range []string{"route_source:zookeeper", "zookeeper:1", "zk_connected:1", "zk_synced:1",
		"zk_registered:1", "zk_node:" + node, "hash:crc32a", "slots:1024"} {
		if !strings.Contains(info, want+"\r\n") {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}

	// SIGTERM (Serve's context) removes the registration.
	tp.stop()
	if ok, _, _ := r.z.Exists(node); ok {
		t.Errorf("%s still registered after the proxy stopped", node)
	}
}

func testZKShards(t *testing.T, zk *harness.ZooKeeper) {
	r := newZKRig(t, zk, conf.ZKConfig{})
	backends := startBackends(t, backendKinds[0], 2)
	a, c := backends[0].Addr, backends[1].Addr
	r.pool("grow", `{"slots":1024}`, "0-1023")
	r.member("grow", "redis-0000", a, conf.RoleMaster)
	tp := startTestProxy(t, zkPoolYAML("grow", freeAddr(t), zk.Addr, r.l.PoolPath("grow"), "hash_tag: \"{}\""))
	p := tp.Pool("grow")
	waitTable(t, p, time.Now(), 15*time.Second, "the first topology", masterIs(0, a))
	cl := client(t, tp.addrs["grow"])
	ctx := context.Background()

	// A new shard: created empty with its master, then given half the
	// slots in one transaction (no moment without an owner or a master).
	r.shard("grow", "redis-0001", "")
	r.member("grow", "redis-0001", c, conf.RoleMaster)
	t0 := r.multi(weightOp(r.l, "grow", "redis-0000", "0-511"), weightOp(r.l, "grow", "redis-0001", "512-1023"))
	seen := waitTable(t, p, t0, 10*time.Second, "the new shard", masterIs(1, c))
	t.Logf("shard added: seen after %v", seen)
	if seen > changeBound {
		t.Errorf("took %v, want < %v", seen, changeBound)
	}
	checkPlacement := func(what string) {
		t.Helper()
		pairs := make([]any, 0, 400)
		for i := 0; i < 200; i++ {
			pairs = append(pairs, fmt.Sprintf("%s:%d", what, i), i)
		}
		if err := cl.MSet(ctx, pairs...).Err(); err != nil {
			t.Fatal(err)
		}
		tbl := p.Table()
		counts := map[string]int{}
		for i := 0; i < 200; i++ {
			k := fmt.Sprintf("%s:%d", what, i)
			addr := tbl.Lookup([]byte(k)).Master
			direct := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
			v, err := direct.Get(ctx, k).Result()
			direct.Close()
			if err != nil || v != strconv.Itoa(i) {
				t.Fatalf("%s on %s: %q %v", k, addr, v, err)
			}
			counts[addr]++
		}
		if counts[a] == 0 || counts[c] == 0 {
			t.Fatalf("%s: keys per backend %v", what, counts)
		}
	}
	checkPlacement("two-shards")

	// An invalid topology (an overlap) is refused; the table stays.
	before := p.Table().Version()
	refused := p.ZooKeeperStatus().Refused
	r.multi(weightOp(r.l, "grow", "redis-0001", "500-1023"))
	eventually(t, 5*time.Second, "the refusal", func() bool { return p.ZooKeeperStatus().Refused > refused })
	st := p.ZooKeeperStatus()
	if !strings.Contains(st.LastError, "slots 500-511 are in redis-0000 and redis-0001") || p.Table().Version() != before {
		t.Errorf("after an overlap: %+v, table v%d (was v%d)", st, p.Table().Version(), before)
	}
	if err := cl.Set(ctx, "still", "served", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// A weight change moves slots.
	t0 = r.multi(weightOp(r.l, "grow", "redis-0000", "0-767"), weightOp(r.l, "grow", "redis-0001", "768-1023"))
	seen = waitTable(t, p, t0, 10*time.Second, "the new ranges", func(t *RouteTable) bool {
		return t.Len() == 2 && t.Shard(0).Ranges[0].Hi == 767
	})
	t.Logf("ranges changed: seen after %v", seen)
	if seen > changeBound {
		t.Errorf("took %v, want < %v", seen, changeBound)
	}
	if st := p.ZooKeeperStatus(); st.LastError != "" || !st.Synced {
		t.Errorf("after a good topology: %+v", st)
	}
	checkPlacement("moved")
}

func testZKBootstrap(t *testing.T, zk *harness.ZooKeeper) {
	r := newZKRig(t, zk, conf.ZKConfig{})
	backends := startBackends(t, backendKinds[0], 2)
	a, b := backends[0].Addr, backends[1].Addr
	// The YAML servers serve until ZooKeeper has the pool.
	y := zkPoolYAML("boot", freeAddr(t), zk.Addr, r.l.PoolPath("boot"), "hash: crc32a", "servers:", " - "+a+":1")
	tp := startTestProxy(t, y)
	p := tp.Pool("boot")
	cl := client(t, tp.addrs["boot"])
	ctx := context.Background()
	eventually(t, 10*time.Second, "the missing pool reported", func() bool {
		return strings.Contains(p.ZooKeeperStatus().LastError, "pool not found in ZooKeeper")
	})
	if err := cl.Set(ctx, "boot", "strap", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if p.Table().topo.Source != "static" {
		t.Fatalf("source %s", p.Table().topo.Source)
	}
	// The pool appears, with its own hash and slot count.
	r.pool("boot", `{"slots":64,"hash":"md5"}`, "0-63")
	r.member("boot", "redis-0000", b, conf.RoleMaster)
	waitTable(t, p, time.Now(), 10*time.Second, "the pool from ZooKeeper", masterIs(0, b))
	if err := cl.Set(ctx, "after", "zk", 0).Err(); err != nil {
		t.Fatal(err)
	}
	direct := redis.NewClient(&redis.Options{Addr: b, Protocol: 2, DisableIdentity: true})
	defer direct.Close()
	if v, err := direct.Get(ctx, "after").Result(); err != nil || v != "zk" {
		t.Fatalf("key on the ZooKeeper master: %q %v", v, err)
	}
	info := dialRaw(t, tp.addrs["boot"]).do("INFO", "pool")
	for _, want := range []string{"hash:md5", "slots:64", "distribution:slots", "zk_synced:1"} {
		if !strings.Contains(info, want+"\r\n") {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
}

// testZKChrootAuth: the cluster lives below a chroot, with digest ACLs
// (zookeeper_host "host:port/chroot", zookeeper_auth). A proxy with the
// credentials follows it and registers below the chroot; one without
// them is refused by the ACL, says so and keeps its YAML servers.
func testZKChrootAuth(t *testing.T, zk *harness.ZooKeeper) {
	const chroot, auth = "/t-proxy-tenant", "shardis:s3cret"
	r := newZKRig(t, zk, conf.ZKConfig{Chroot: chroot, Auth: auth})
	backends := startBackends(t, backendKinds[0], 2)
	a, b := backends[0].Addr, backends[1].Addr
	r.pool("locked", `{"slots":64}`, "0-63")
	r.member("locked", "redis-0000", a, conf.RoleMaster)

	host := zk.Addr + chroot
	tp := startTestProxy(t,
		zkPoolYAML("good", freeAddr(t), host, r.l.PoolPath("locked"), "zookeeper_auth: "+auth, "zookeeper_path: "+r.l.ProxyDir("locked"))+
			zkPoolYAML("anon", freeAddr(t), host, r.l.PoolPath("locked"), "hash: crc32a", "servers:", " - "+b+":1"))
	good, anon := tp.Pool("good"), tp.Pool("anon")
	waitTable(t, good, time.Now(), 15*time.Second, "the chrooted topology", masterIs(0, a))
	ctx := context.Background()
	if err := client(t, tp.addrs["good"]).Set(ctx, "chroot", "auth", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := direct(t, a).Get(ctx, "chroot").Result(); err != nil || v != "auth" {
		t.Fatalf("key on the chrooted master: %q %v", v, err)
	}
	node := r.l.ProxyNode("locked", tp.addrs["good"])
	eventually(t, 5*time.Second, "the registration below the chroot", func() bool { ok, _, _ := r.z.Exists(node); return ok })

	// Without the credentials: connected, but the ACL refuses the reads
	// (the watcher logs and retries them), so the static table stays.
	eventually(t, 10*time.Second, "the session without credentials", func() bool { return anon.ZooKeeperStatus().Connected })
	time.Sleep(500 * time.Millisecond) // its first reads happened (the good pool's did long ago)
	if st := anon.ZooKeeperStatus(); st.Synced || st.Updates != 0 || anon.Table().topo.Source != "static" {
		t.Fatalf("pool without credentials: %+v, source %s", st, anon.Table().topo.Source)
	}
	if err := client(t, tp.addrs["anon"]).Set(ctx, "static", "still", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := direct(t, b).Get(ctx, "static").Result(); err != nil || v != "still" {
		t.Fatalf("key on the YAML server: %q %v", v, err)
	}
}
