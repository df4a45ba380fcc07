package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
	"github.com/shardis/shardis/integration/harness"
)

// Online resharding end to end (docs/resharding.md): shardis-server
// masters registered in a real ZooKeeper, two shardis-proxy processes,
// and shardis-admin processes that rebalance the pool while a writer and
// a reader go through the proxies.

// reshardKeys is the number of static keys: 50k, or SHARDIS_RESHARD_KEYS
// (e.g. 200000 for the full-size run).
func reshardKeys() int {
	if n, err := strconv.Atoi(os.Getenv("SHARDIS_RESHARD_KEYS")); err == nil && n > 0 {
		return n
	}
	return 50000
}

// reshardPool is a pool "icd" of shardis-server masters (no watchdogs:
// the test publishes each master's member znode).
type reshardPool struct {
	t      *testing.T
	zk     *harness.ZooKeeper
	z      *conf.ZK
	layout conf.Layout
	admin  string // shardis-admin binary
	master map[string]string
}

func (p *reshardPool) adminCmd(name string, args ...string) *harness.Proc {
	return harness.NewProc(p.t, name, p.admin, p.t.TempDir(), append([]string{"--zk", p.zk.Addr}, args...)...)
}

// runAdmin runs shardis-admin to completion and returns its output.
func (p *reshardPool) runAdmin(args ...string) string {
	p.t.Helper()
	pr := p.adminCmd("admin", args...).MustStart()
	if !pr.Wait(2 * time.Minute) {
		p.t.Fatalf("shardis-admin %v did not finish", args)
	}
	out, _ := os.ReadFile(pr.Log)
	if err := pr.ExitErr(); err != nil {
		p.t.Fatalf("shardis-admin %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (p *reshardPool) addMaster(shard string) {
	p.t.Helper()
	srv := harness.StartShardisServer(p.t, "")
	if _, err := p.z.CreateMember(p.layout.ShardPath("icd", shard), conf.MemberData{Addr: srv.Addr, Role: conf.RoleMaster}); err != nil {
		p.t.Fatal(err)
	}
	p.master[shard] = srv.Addr
}

func (p *reshardPool) startProxy() string {
	p.t.Helper()
	port := harness.FreePort(p.t)
	dir := p.t.TempDir()
	yml := fmt.Sprintf("icd:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 10000\n  server_connections: 2\n  zookeeper_host: %s\n  zookeeper_path: /redis/proxy/icd\n  zookeeper_redis_path: /redis/cluster/icd\n", port, p.zk.Addr)
	path := filepath.Join(dir, "proxy.yml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		p.t.Fatal(err)
	}
	pr := harness.StartBinary(p.t, "./cmd/shardis-proxy", port, dir, "-c", path, "-s", "0")
	return pr.Addr
}

// topology reads the pool and its routing table.
func (p *reshardPool) topology() (*conf.Topology, *hashring.Table, []*conf.Shard) {
	p.t.Helper()
	top, err := conf.ReadTopology(p.z, p.layout.PoolPath("icd"), conf.DefaultPoolSettings())
	if err != nil {
		p.t.Fatal(err)
	}
	spec, shards := top.Spec()
	tbl, err := hashring.New(spec)
	if err != nil {
		p.t.Fatal(err)
	}
	return top, tbl, shards
}

func newReshardPool(t *testing.T) *reshardPool {
	p := &reshardPool{t: t, zk: harness.StartZooKeeper(t), master: map[string]string{}}
	p.admin = harness.Build(t, "./cmd/shardis-admin")
	p.z = dialZK(t, p.zk.Addr, 10*time.Second)
	p.runAdmin("pool", "create", "icd", "--shards", "2", "--hash", "fnv1a_64", "--hash-tag", "{}")
	p.addMaster("redis-0000")
	p.addMaster("redis-0001")
	return p
}

// model is what the clients wrote: the expected value of every key.
type model struct {
	mu      sync.Mutex
	strings map[string]string // string keys (with a TTL of about an hour)
	lists   map[string]int    // list keys: length
}

// TestReshardingRebalance: 2 shards with keys of mixed types; a third
// shard is added and the pool rebalanced while a writer and a reader run
// through two proxies; the migrator is killed halfway and run again.
// Afterwards every key has its last value and TTL, is on the master its
// range says and nowhere else, and no client saw an error but TRYAGAIN.
func TestReshardingRebalance(t *testing.T) {
	p := newReshardPool(t)
	px1, px2 := p.startProxy(), p.startProxy()
	ctx := context.Background()
	c1 := redis.NewClient(&redis.Options{Addr: px1, Protocol: 2, MaxRetries: -1, ReadTimeout: 20 * time.Second})
	c2 := redis.NewClient(&redis.Options{Addr: px2, Protocol: 2, MaxRetries: -1, ReadTimeout: 20 * time.Second})
	defer c1.Close()
	defer c2.Close()
	waitFor(t, 15*time.Second, "proxies route", func() bool {
		return c1.Set(ctx, "probe", 1, 0).Err() == nil && c2.Get(ctx, "probe").Err() == nil
	})

	// Static keys of four types, through proxy 1.
	n := reshardKeys()
	static := func(i int) string { return "s:" + strconv.Itoa(i) }
	for lo := 0; lo < n; lo += 1000 {
		pipe := c1.Pipeline()
		for i := lo; i < min(lo+1000, n); i++ {
			k := static(i)
			switch i % 4 {
			case 0:
				pipe.Set(ctx, k, i, time.Hour)
			case 1:
				pipe.HSet(ctx, k, "f", i, "g", "x")
			case 2:
				pipe.RPush(ctx, k, i, "tail")
			case 3:
				pipe.ZAdd(ctx, k, redis.Z{Score: float64(i), Member: "m"})
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// A third shard with a master, owning nothing yet.
	p.runAdmin("shard", "add", "icd")
	p.addMaster("redis-0002")

	m := &model{strings: map[string]string{}, lists: map[string]int{}}
	var stop atomic.Bool
	var tryagain, writes, reads atomic.Int64
	errs := make(chan string, 100)
	fail := func(format string, args ...any) {
		select {
		case errs <- fmt.Sprintf(format, args...):
		default:
		}
	}
	// retry runs op until it gets anything but TRYAGAIN.
	retry := func(op func() error) error {
		for {
			err := op()
			if err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN") {
				return err
			}
			tryagain.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // writer, through proxy 1; ends at stop
		defer wg.Done()
		for seq := 0; !stop.Load(); seq++ {
			j := seq % 3000
			k := "w:" + strconv.Itoa(j)
			v := strconv.Itoa(seq)
			var err error
			switch seq % 5 {
			case 0, 1, 2:
				err = retry(func() error { return c1.Set(ctx, k, v, time.Hour).Err() })
				if err == nil {
					m.mu.Lock()
					m.strings[k] = v
					m.mu.Unlock()
				}
			case 3: // multi-key, across shards
				k2 := "w:" + strconv.Itoa((j+1500)%3000)
				err = retry(func() error { return c1.MSet(ctx, k, v, k2, v).Err() })
				if err == nil {
					// MSET clears the TTL: give it back.
					err = retry(func() error { return c1.Expire(ctx, k, time.Hour).Err() })
					if err == nil {
						err = retry(func() error { return c1.Expire(ctx, k2, time.Hour).Err() })
					}
					m.mu.Lock()
					m.strings[k], m.strings[k2] = v, v
					m.mu.Unlock()
				}
			case 4:
				lk := "l:" + strconv.Itoa(j%500)
				err = retry(func() error { return c1.RPush(ctx, lk, v).Err() })
				if err == nil {
					m.mu.Lock()
					m.lists[lk]++
					m.mu.Unlock()
				}
			}
			if err != nil {
				fail("writer: %v", err)
				return
			}
			writes.Add(1)
		}
	}()
	go func() { // reader of static keys, through proxy 2; ends at stop
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for !stop.Load() {
			i := rng.IntN(n)
			k := static(i)
			var got, want string
			err := retry(func() error {
				var err error
				switch i % 4 {
				case 0:
					got, err = c2.Get(ctx, k).Result()
				case 1:
					got, err = c2.HGet(ctx, k, "f").Result()
				case 2:
					got, err = c2.LIndex(ctx, k, 0).Result()
				case 3:
					var f float64
					f, err = c2.ZScore(ctx, k, "m").Result()
					got = strconv.Itoa(int(f))
				}
				return err
			})
			want = strconv.Itoa(i)
			if err != nil || got != want {
				fail("reader: %s = %q, %v (want %q)", k, got, err, want)
				return
			}
			if i%4 == 0 { // MGET across shards
				ks := []string{static(i), static(rng.IntN(n/4) * 4), static(rng.IntN(n/4) * 4)}
				var vals []any
				err := retry(func() error {
					var err error
					vals, err = c2.MGet(ctx, ks...).Result()
					return err
				})
				if err != nil {
					fail("reader MGET: %v", err)
					return
				}
				for x, v := range vals {
					idx, _ := strconv.Atoi(strings.TrimPrefix(ks[x], "s:"))
					if s, _ := v.(string); s != strconv.Itoa(idx) {
						fail("reader MGET %s = %v", ks[x], v)
						return
					}
				}
			}
			reads.Add(1)
		}
	}()
	time.Sleep(300 * time.Millisecond) // the clients run before the migration too

	// Rebalance; kill the migrator once it has moved keys; run it again.
	mig := p.adminCmd("migrator", "rebalance", "icd", "--settle", "300ms", "--batch", "5", "--progress", "50ms").MustStart()
	killed := false
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && !mig.Exited() {
		if out, _ := os.ReadFile(mig.Log); strings.Contains(string(out), "keys/s") && !strings.Contains(string(out), " 0 keys/s") {
			mig.Kill()
			killed = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !killed {
		out, _ := os.ReadFile(mig.Log)
		t.Fatalf("the migrator ended before it could be killed:\n%s", out)
	}
	top, _, _ := p.topology()
	pending := false
	for _, s := range top.Shards {
		pending = pending || s.Migrating != nil
	}
	if !pending {
		t.Fatalf("no migration record after the kill")
	}
	out := p.runAdmin("rebalance", "icd", "--settle", "300ms", "--batch", "100")
	t.Logf("second run:\n%s", out)
	if !strings.Contains(out, "resuming migration") || !strings.Contains(out, "done:") {
		t.Errorf("the second run did not resume: %s", out)
	}
	time.Sleep(300 * time.Millisecond) // the clients run after it too
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	t.Logf("%d writes, %d reads, %d TRYAGAIN", writes.Load(), reads.Load(), tryagain.Load())
	if writes.Load() == 0 || reads.Load() == 0 {
		t.Fatal("the clients did nothing")
	}

	// The pool is balanced, without records.
	top, tbl, shards := p.topology()
	for _, s := range top.Shards {
		if s.Migrating != nil || s.SlotCount() < 1365 || s.SlotCount() > 1366 {
			t.Fatalf("after rebalance: %s owns %s, record %+v", s.Name, hashring.FormatRanges(s.Ranges), s.Migrating)
		}
	}
	// Every key is where its range says, once, with its value and TTL.
	masters := map[string]*redis.Client{}
	var total int64
	for sh, addr := range p.master {
		c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2})
		defer c.Close()
		masters[sh] = c
		total += c.DBSize(ctx).Val()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	want := int64(n + len(m.strings) + len(m.lists) + 1) // + "probe"
	if total != want {
		t.Errorf("%d keys on the masters, want %d (lost or duplicated keys)", total, want)
	}
	at := func(k string) *redis.Client { return masters[shards[tbl.Lookup([]byte(k))].Name] }
	for lo := 0; lo < n; lo += 1000 {
		type chk struct {
			k   string
			i   int
			val *redis.StringCmd
			ttl *redis.DurationCmd
		}
		byMaster := map[*redis.Client][]chk{}
		for i := lo; i < min(lo+1000, n); i++ {
			k := static(i)
			byMaster[at(k)] = append(byMaster[at(k)], chk{k: k, i: i})
		}
		for c, cs := range byMaster {
			pipe := c.Pipeline()
			for x := range cs {
				switch cs[x].i % 4 {
				case 0:
					cs[x].val = pipe.Get(ctx, cs[x].k)
					cs[x].ttl = pipe.TTL(ctx, cs[x].k)
				case 1:
					cs[x].val = pipe.HGet(ctx, cs[x].k, "f")
				case 2:
					cs[x].val = pipe.LIndex(ctx, cs[x].k, 0)
				}
			}
			_, _ = pipe.Exec(ctx)
			for _, ch := range cs {
				if ch.i%4 == 3 {
					continue
				}
				if ch.val.Val() != strconv.Itoa(ch.i) {
					t.Fatalf("%s = %q on %s (%v), want %d", ch.k, ch.val.Val(), c.Options().Addr, ch.val.Err(), ch.i)
				}
				if ch.ttl != nil && (ch.ttl.Val() <= 0 || ch.ttl.Val() > time.Hour) {
					t.Fatalf("%s TTL %v", ch.k, ch.ttl.Val())
				}
			}
		}
	}
	for i := 3; i < n; i += 4 {
		k := static(i)
		if sc, err := at(k).ZScore(ctx, k, "m").Result(); err != nil || int(sc) != i {
			t.Fatalf("%s score %v %v", k, sc, err)
		}
	}
	for k, v := range m.strings {
		c := at(k)
		if got := c.Get(ctx, k).Val(); got != v {
			t.Fatalf("%s = %q, want %q (last acknowledged write)", k, got, v)
		}
		if ttl := c.TTL(ctx, k).Val(); ttl <= 0 {
			t.Fatalf("%s lost its TTL (%v)", k, ttl)
		}
	}
	for k, l := range m.lists {
		if got := at(k).LLen(ctx, k).Val(); got != int64(l) {
			t.Fatalf("%s has %d elements, want %d", k, got, l)
		}
	}
}
