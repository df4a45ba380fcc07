package conf

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/hashring"
)

// changeBound bounds how long a change may take to be delivered in these
// tests. The figures are logged (typically 10-30 ms); the bound only
// catches a change that arrives by some slow path (the refresh timer is
// off in these tests), without making the tests depend on the load of the
// machine (house rule: performance is shown by logs and benchmarks, not
// timed assertions).
const changeBound = 5 * time.Second

// makePool creates a pool of n shards with an even split of 4096 slots.
func makePool(t *testing.T, z *ZK, l Layout, pool string, n int) {
	t.Helper()
	if err := z.EnsurePath(l.ClusterRoot()); err != nil {
		t.Fatal(err)
	}
	ops := []Op{CreateOp(l.PoolPath(pool), PoolData{Slots: 4096, Hash: "md5"}.Marshal())}
	for i := 0; i < n; i++ {
		r := hashring.Range{Lo: i * 4096 / n, Hi: (i+1)*4096/n - 1}
		ops = append(ops, CreateOp(l.ShardPath(pool, ShardName(i)), ShardData{Ranges: []hashring.Range{r}}.Marshal()))
	}
	if err := z.Multi(ops...); err != nil {
		t.Fatal(err)
	}
}

// watch starts a TopologyWatcher; its updates go to the returned channel
// (buffered, every update) as well as to Updates.
func watch(t *testing.T, z *ZK, cfg WatcherConfig) (*TopologyWatcher, chan TopologyUpdate) {
	t.Helper()
	all := make(chan TopologyUpdate, 100)
	cfg.OnUpdate = func(u TopologyUpdate) { all <- u }
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	w, err := NewTopologyWatcher(z, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, ErrZKClosed) {
			t.Errorf("watcher Run = %v", err)
		}
	})
	return w, all
}

// waitFor returns the first update satisfying ok, and how long it took
// from start.
func waitFor(t *testing.T, ch <-chan TopologyUpdate, start time.Time, what string, ok func(TopologyUpdate) bool) (TopologyUpdate, time.Duration) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case u := <-ch:
			if ok(u) {
				return u, time.Since(start)
			}
		case <-deadline:
			t.Fatalf("no update with %s within 15 s", what)
		}
	}
}

func masterOf(u TopologyUpdate, shard string) string {
	s, ok := u.Topology.Shard(shard)
	if !ok {
		return ""
	}
	m, _ := s.MasterMember()
	return m.Addr
}

func testWatcherChanges(t *testing.T, addr string) {
	admin := dial(t, ZKConfig{}, addr)
	dogA := dial(t, ZKConfig{}, addr) // two watchdogs of shard redis-0000
	dogB := dial(t, ZKConfig{}, addr)
	l, _ := NewLayout("/t-wc")
	makePool(t, admin, l, "icd", 2)
	s0 := l.ShardPath("icd", "redis-0000")
	a, err := dogA.CreateMember(s0, MemberData{Addr: "10.0.0.1:6379", Role: RoleMaster})
	if err != nil {
		t.Fatal(err)
	}
	b, err := dogB.CreateMember(s0, MemberData{Addr: "10.0.0.2:6379", Role: RoleReplica, Offset: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, all := watch(t, admin, WatcherConfig{Path: l.PoolPath("icd"), RefreshInterval: -1})
	u, _ := waitFor(t, all, time.Now(), "the first read", func(u TopologyUpdate) bool { return true })
	if u.Err != nil || masterOf(u, "redis-0000") != "10.0.0.1:6379" || u.Topology.Settings.Hash != "md5" {
		t.Fatalf("first update: %+v", u)
	}
	if got := strings.Join(u.Topology.Masterless(), ","); got != "redis-0001" {
		t.Errorf("masterless %q", got)
	}

	// 1. Failover: the master's member goes, the replica publishes master.
	start := time.Now()
	if err := dogA.DeleteMember(a.Path, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := dogB.UpdateMember(b.Path, MemberData{Addr: "10.0.0.2:6379", Role: RoleMaster, Epoch: b.Seq}, -1); err != nil {
		t.Fatal(err)
	}
	u, took := waitFor(t, all, start, "the new master", func(u TopologyUpdate) bool { return masterOf(u, "redis-0000") == "10.0.0.2:6379" })
	t.Logf("new master seen after %v", took)
	if took > changeBound {
		t.Errorf("new master took %v, want < %v", took, changeBound)
	}
	if s, _ := u.Topology.Shard("redis-0000"); s.Epoch() != b.Seq {
		t.Errorf("epoch %d, want %d", s.Epoch(), b.Seq)
	}

	// 2. A weight change on both shards at once.
	start = time.Now()
	if err := admin.Multi(
		SetOp(s0, ShardData{Ranges: mustRanges("100-2047")}.Marshal(), -1),
		SetOp(l.ShardPath("icd", "redis-0001"), ShardData{Ranges: mustRanges("0-99,2048-4095")}.Marshal(), -1)); err != nil {
		t.Fatal(err)
	}
	u, took = waitFor(t, all, start, "the weight change", func(u TopologyUpdate) bool {
		s, _ := u.Topology.Shard("redis-0001")
		return s.SlotCount() == 2148
	})
	t.Logf("weight change seen after %v", took)
	if took > changeBound || u.Err != nil {
		t.Errorf("weight change took %v (want < %v), err %v", took, changeBound, u.Err)
	}

	// 3. A shard added.
	start = time.Now()
	if _, err := admin.Create(l.ShardPath("icd", "redis-0002"), ShardData{}.Marshal(), CreatePersistent); err != nil {
		t.Fatal(err)
	}
	u, took = waitFor(t, all, start, "the new shard", func(u TopologyUpdate) bool { return len(u.Topology.Shards) == 3 })
	t.Logf("shard added seen after %v", took)
	if took > changeBound || u.Err != nil {
		t.Errorf("new shard took %v (want < %v), err %v", took, changeBound, u.Err)
	}
	// 4. A member of the new shard (a watch on a shard that did not exist
	// at the first read).
	start = time.Now()
	if _, err := dogA.CreateMember(l.ShardPath("icd", "redis-0002"), MemberData{Addr: "10.0.0.3:6379", Role: RoleMaster}); err != nil {
		t.Fatal(err)
	}
	_, took = waitFor(t, all, start, "the new shard's master", func(u TopologyUpdate) bool { return masterOf(u, "redis-0002") == "10.0.0.3:6379" })
	t.Logf("member of the new shard seen after %v", took)
	if took > changeBound {
		t.Errorf("new member took %v, want < %v", took, changeBound)
	}
}

func testWatcherInvalid(t *testing.T, addr string) {
	z := dial(t, ZKConfig{}, addr)
	l, _ := NewLayout("/t-inv")
	makePool(t, z, l, "icd", 2)
	w, all := watch(t, z, WatcherConfig{Path: l.PoolPath("icd"), RoutingOnly: true})
	if u, _ := waitFor(t, all, time.Now(), "the first read", func(TopologyUpdate) bool { return true }); u.Err != nil {
		t.Fatal(u.Err)
	}
	if _, err := z.Set(l.ShardPath("icd", "redis-0001"), []byte(`{"weight":"2000-4095"}`), -1); err != nil {
		t.Fatal(err)
	}
	u, _ := waitFor(t, all, time.Now(), "the invalid topology", func(u TopologyUpdate) bool { return u.Err != nil })
	if !errors.Is(u.Err, hashring.ErrSlotsOverlap) || !strings.Contains(u.Err.Error(), "slots 2000-2047 are in redis-0000 and redis-0001") {
		t.Errorf("invalid update error: %v", u.Err)
	}
	if _, err := z.Set(l.ShardPath("icd", "redis-0001"), []byte(`{"weight":"2048-4095"`), -1); err != nil {
		t.Fatal(err)
	}
	u, _ = waitFor(t, all, time.Now(), "bad shard JSON", func(u TopologyUpdate) bool { return errors.Is(u.Err, ErrBadZnodeData) })
	t.Logf("refused: %v", u.Err)
	if _, err := z.Set(l.ShardPath("icd", "redis-0001"), []byte(`{"weight":"2048-4095"}`), -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, all, time.Now(), "the repaired topology", func(u TopologyUpdate) bool { return u.Err == nil })
	// RoutingOnly: a published offset is no news.
	dog := dial(t, ZKConfig{}, addr)
	m, err := dog.CreateMember(l.ShardPath("icd", "redis-0000"), MemberData{Addr: "10.0.0.1:6379", Role: RoleMaster})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, all, time.Now(), "the master", func(u TopologyUpdate) bool { return masterOf(u, "redis-0000") != "" })
	reads := w.Reads()
	if _, err := dog.UpdateMember(m.Path, MemberData{Addr: "10.0.0.1:6379", Role: RoleMaster, Offset: 12345}, -1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the offset to be read", func() bool { return w.Reads() > reads })
	select {
	case u := <-all:
		t.Errorf("RoutingOnly delivered an offset change: %+v", u)
	case <-time.After(200 * time.Millisecond):
	}
}

func testWatcherExpiry(t *testing.T, addr string) {
	admin := dial(t, ZKConfig{}, addr)
	dog := dial(t, ZKConfig{}, addr)
	f := newForwarder(t, addr)
	z := dial(t, ZKConfig{SessionTimeout: 2 * time.Second}, f.Addr())
	l, _ := NewLayout("/t-wexp")
	makePool(t, admin, l, "icd", 1)
	s0 := l.ShardPath("icd", "redis-0000")
	_, all := watch(t, z, WatcherConfig{Path: l.PoolPath("icd"), RefreshInterval: -1})
	waitFor(t, all, time.Now(), "the first read", func(TopologyUpdate) bool { return true })
	first := z.SessionID()

	f.Cut()
	m, err := dog.CreateMember(s0, MemberData{Addr: "10.0.0.9:6379", Role: RoleMaster})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // well past the 2 s session timeout
	f.Heal()
	_, took := waitFor(t, all, time.Now(), "the change made during the partition", func(u TopologyUpdate) bool { return masterOf(u, "redis-0000") == "10.0.0.9:6379" })
	t.Logf("resync after session expiry took %v", took)
	if z.SessionID() == first {
		t.Fatal("the session did not expire; the test proves nothing")
	}
	// Re-watched: a later change is seen without any timer.
	start := time.Now()
	if err := dog.DeleteMember(m.Path, -1); err != nil {
		t.Fatal(err)
	}
	_, took = waitFor(t, all, start, "a change after the new session", func(u TopologyUpdate) bool { return masterOf(u, "redis-0000") == "" })
	if took > changeBound {
		t.Errorf("change after expiry took %v, want < %v", took, changeBound)
	}
	// A short partition (same session): what changed is read again.
	f.Cut()
	if _, err := admin.Set(s0, ShardData{Ranges: mustRanges("0-4095")}.Marshal(), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := dog.CreateMember(s0, MemberData{Addr: "10.0.0.10:6379", Role: RoleMaster}); err != nil {
		t.Fatal(err)
	}
	f.Heal()
	waitFor(t, all, time.Now(), "the change made during a short partition", func(u TopologyUpdate) bool { return masterOf(u, "redis-0000") == "10.0.0.10:6379" })
}

func testWatcherPoolCreatedLater(t *testing.T, addr string) {
	z := dial(t, ZKConfig{}, addr)
	l, _ := NewLayout("/t-later")
	w, all := watch(t, z, WatcherConfig{Path: l.PoolPath("icd"), RefreshInterval: 100 * time.Millisecond})
	u, _ := waitFor(t, all, time.Now(), "the first read", func(TopologyUpdate) bool { return true })
	if !errors.Is(u.Err, ErrNoPool) || u.Topology.Exists {
		t.Fatalf("missing pool: %+v", u)
	}
	// The timer re-reads, delivers nothing when nothing changed, and arms
	// no second watch on a znode whose watch is still armed.
	reads, arms := w.Reads(), w.e.m.arms.Load()
	eventually(t, 5*time.Second, "timer re-reads", func() bool { return w.Reads() >= reads+3 })
	select {
	case u := <-all:
		t.Fatalf("re-read of an unchanged pool delivered %+v", u)
	default:
	}
	if a := w.e.m.arms.Load(); a != arms {
		t.Errorf("re-reads armed %d more watches", a-arms)
	}
	start := time.Now()
	makePool(t, z, l, "icd", 2)
	u, took := waitFor(t, all, start, "the created pool", func(u TopologyUpdate) bool { return u.Err == nil })
	t.Logf("pool creation seen after %v", took)
	if len(u.Topology.Shards) != 2 {
		t.Errorf("shards %+v", u.Topology.Shards)
	}
	last, ok := w.Last()
	if !ok || !last.Topology.Equal(u.Topology) {
		t.Error("Last is not the last update")
	}
	reads, arms = w.Reads(), w.e.m.arms.Load()
	eventually(t, 5*time.Second, "timer re-reads", func() bool { return w.Reads() >= reads+5 })
	if a := w.e.m.arms.Load(); a != arms {
		t.Errorf("re-reads of a pool with shards armed %d more watches", a-arms)
	}
	// Deleting the pool is seen too.
	for _, s := range []string{"redis-0000", "redis-0001"} {
		if err := z.Delete(l.ShardPath("icd", s), -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Delete(l.PoolPath("icd"), -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, all, time.Now(), "the deleted pool", func(u TopologyUpdate) bool { return errors.Is(u.Err, ErrNoPool) })
}

func testShardWatcher(t *testing.T, addr string) {
	z := dial(t, ZKConfig{}, addr)
	dog := dial(t, ZKConfig{}, addr)
	l, _ := NewLayout("/t-sw")
	makePool(t, z, l, "icd", 1)
	path := l.ShardPath("icd", "redis-0000")
	w, err := NewShardWatcher(dog, ShardWatcherConfig{Path: path, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	u := next(t, w.Updates(), "first read")
	if u.Err != nil || len(u.Shard.Members) != 0 || u.Shard.SlotCount() != 4096 || u.Shard.Name != "redis-0000" {
		t.Fatalf("first: %+v", u)
	}
	m, err := dog.CreateMember(path, MemberData{Addr: "10.0.0.1:6379", Role: RoleCandidate})
	if err != nil {
		t.Fatal(err)
	}
	u = next(t, w.Updates(), "member")
	if len(u.Shard.Members) != 1 || u.Shard.Members[0].Owner != dog.SessionID() {
		t.Fatalf("after create: %+v", u.Shard)
	}
	// Every change reaches the watchdog, offsets too.
	if _, err := dog.UpdateMember(m.Path, MemberData{Addr: "10.0.0.1:6379", Role: RoleReplica, Offset: 77}, u.Shard.Members[0].Version); err != nil {
		t.Fatal(err)
	}
	u = next(t, w.Updates(), "offset")
	if u.Shard.Members[0].Data.Offset != 77 {
		t.Fatalf("after update: %+v", u.Shard.Members)
	}
	if err := z.Delete(m.Path, -1); err != nil {
		t.Fatal(err)
	}
	if err := z.Delete(path, -1); err != nil {
		t.Fatal(err)
	}
	u = next(t, w.Updates(), "deleted shard")
	for len(u.Shard.Members) != 0 || u.Err == nil {
		u = next(t, w.Updates(), "deleted shard")
	}
	if !errors.Is(u.Err, ErrNoNode) {
		t.Errorf("deleted shard: %v", u.Err)
	}
}

// TestWatcherZooKeeperRestart kills ZooKeeper under a watcher: it keeps
// its last topology, reports the disconnection, and resyncs on restart.
func TestWatcherZooKeeperRestart(t *testing.T) {
	zkp := startZooKeeper(t)
	z := dial(t, ZKConfig{SessionTimeout: 10 * time.Second}, zkp.Addr)
	l, _ := NewLayout("")
	makePool(t, z, l, "icd", 2)
	w, all := watch(t, z, WatcherConfig{Path: l.PoolPath("icd"), RefreshInterval: -1})
	waitFor(t, all, time.Now(), "the first read", func(TopologyUpdate) bool { return true })

	zkp.Kill()
	eventually(t, 15*time.Second, "disconnection", func() bool { return !z.Connected() })
	if last, ok := w.Last(); !ok || last.Err != nil || len(last.Topology.Shards) != 2 {
		t.Fatalf("last topology lost while ZooKeeper is down: %+v", last)
	}
	if err := zkp.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "reconnection", z.Connected)
	other := dial(t, ZKConfig{}, zkp.Addr)
	start := time.Now()
	if _, err := other.Create(l.ShardPath("icd", "redis-0002"), nil, CreatePersistent); err != nil {
		t.Fatal(err)
	}
	_, took := waitFor(t, all, start, "a change after the restart", func(u TopologyUpdate) bool { return len(u.Topology.Shards) == 3 })
	t.Logf("change after a ZooKeeper restart seen after %v", took)
	if took > changeBound {
		t.Errorf("took %v, want < %v", took, changeBound)
	}
}
