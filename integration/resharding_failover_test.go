package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/admin"
	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
	"github.com/shardis/shardis/integration/harness"
)

// TestReshardingFailover: the source (then, in another pool, the target)
// master is killed (kill -9) in the middle of a migration; its watchdogs
// promote a replica, the migration pauses and resumes from the new
// master, and completes with no key lost or duplicated while a writer
// goes through a proxy (shardis-server with repl-ack-replicas 1, two
// replicas per shard).
func TestReshardingFailover(t *testing.T) {
	t.Run("source", func(t *testing.T) { reshardFailover(t, 0) })
	t.Run("target", func(t *testing.T) { reshardFailover(t, 1) })
}

func reshardFailover(t *testing.T, victim int) {
	zk := harness.StartZooKeeper(t)
	r := newRig(t, zk, "mig", rigOptions{kind: kindShardis, shards: 2, replicas: 2,
		backendArgs: []string{"--repl-ack-replicas", "1", "--repl-ack-timeout", "5000"}})
	ctx := context.Background()

	port := harness.FreePort(t)
	dir := t.TempDir()
	yml := fmt.Sprintf("mig:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 10000\n  zookeeper_host: %s\n  zookeeper_path: /redis/proxy/mig\n  zookeeper_redis_path: /redis/cluster/mig\n", port, zk.Addr)
	if err := os.WriteFile(filepath.Join(dir, "p.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	px := harness.StartBinary(t, "./cmd/shardis-proxy", port, dir, "-c", filepath.Join(dir, "p.yml"), "-s", "0")
	c := redis.NewClient(&redis.Options{Addr: px.Addr, Protocol: 2, MaxRetries: -1, ReadTimeout: 20 * time.Second})
	defer c.Close()
	waitFor(t, 15*time.Second, "proxy routes", func() bool { return c.Set(ctx, "probe", 1, 0).Err() == nil })

	const n = 20000
	for lo := 0; lo < n; lo += 1000 {
		pipe := c.Pipeline()
		for i := lo; i < lo+1000; i++ {
			if i%2 == 0 {
				pipe.Set(ctx, "s:"+strconv.Itoa(i), i, time.Hour)
			} else {
				pipe.SAdd(ctx, "s:"+strconv.Itoa(i), i, "x")
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// A writer through the proxy: SET is idempotent, so a write that
	// fails during the failover is retried with the same value until
	// acknowledged.
	last := map[string]string{}
	var mu sync.Mutex
	var stop atomic.Bool
	var retries atomic.Int64
	done := make(chan struct{})
	go func() { // ends at stop
		defer close(done)
		for seq := 0; !stop.Load(); seq++ {
			k, v := "w:"+strconv.Itoa(seq%2000), strconv.Itoa(seq)
			for c.Set(ctx, k, v, 0).Err() != nil {
				retries.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			last[k] = v
			mu.Unlock()
		}
	}()

	src := r.shards[victim]
	oldMaster := src.nodes[0]
	layout, _ := conf.NewLayout("/redis")
	a := admin.New(r.z, layout)
	var killed atomic.Bool
	var lines []string
	opt := admin.MigrateOptions{Settle: 300 * time.Millisecond, Batch: 10, ProgressEvery: 20 * time.Millisecond,
		Hash: "fnv1a_64", HashTagSet: true, Slots: 4096, Pause: time.Minute,
		Progress: func(l string) {
			lines = append(lines, l)
			if strings.Contains(l, "keys/s") && !killed.Load() {
				killed.Store(true)
				oldMaster.backend.Kill()
			}
		}}
	rep, err := a.Migrate(ctx, "mig", []hashring.Range{{Lo: 0, Hi: 1023}}, "redis-0001", opt)
	t.Logf("migrator:\n%s", strings.Join(lines, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !killed.Load() || rep.Pauses == 0 {
		t.Fatalf("the source master was not killed mid-migration (killed %v, pauses %d)", killed.Load(), rep.Pauses)
	}
	newMaster := r.waitNewMaster(src, oldMaster.addr, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	<-done
	t.Logf("moved %d keys, dropped %d stale copies, %d pauses; new master %s; writer retries %d",
		rep.Keys, rep.Dropped, rep.Pauses, newMaster.Addr, retries.Load())

	top, err := conf.ReadTopology(r.z, layout.PoolPath("mig"), conf.DefaultPoolSettings())
	if err != nil {
		t.Fatal(err)
	}
	if err := top.Validate(); err != nil {
		t.Fatal(err)
	}
	spec, shards := top.Spec()
	tbl, _ := hashring.New(spec)
	masters := map[string]*redis.Client{}
	var total int64
	for _, s := range shards {
		m, ok := s.MasterMember()
		if !ok {
			t.Fatalf("%s has no master", s.Name)
		}
		if s.Migrating != nil {
			t.Fatalf("%s still migrating", s.Name)
		}
		cl := redis.NewClient(&redis.Options{Addr: m.Addr, Protocol: 2})
		defer cl.Close()
		masters[s.Name] = cl
		total += cl.DBSize(ctx).Val()
	}
	if got := hashring.FormatRanges(shards[1].Ranges); shards[1].Name != "redis-0001" || got != "0-1023,2048-4095" {
		t.Fatalf("target ranges %s", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := int64(n + len(last) + 1); total != want {
		t.Errorf("%d keys on the masters, want %d (lost or duplicated)", total, want)
	}
	at := func(k string) *redis.Client { return masters[shards[tbl.Lookup([]byte(k))].Name] }
	for i := 0; i < n; i++ {
		k := "s:" + strconv.Itoa(i)
		cl := at(k)
		if i%2 == 0 {
			if v := cl.Get(ctx, k).Val(); v != strconv.Itoa(i) {
				t.Fatalf("%s = %q on %s", k, v, cl.Options().Addr)
			}
		} else if !cl.SIsMember(ctx, k, strconv.Itoa(i)).Val() {
			t.Fatalf("%s lost its member", k)
		}
	}
	for k, v := range last {
		if got := at(k).Get(ctx, k).Val(); got != v {
			t.Fatalf("%s = %q, want %q (last acknowledged write)", k, got, v)
		}
	}
}
