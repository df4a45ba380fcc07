package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// TestMigrateWaitsForProxyAcks: with a real shardis-proxy process
// registered in ZooKeeper, the migrator moves no key until the proxy has
// acknowledged the migration record. A proxy that does not acknowledge
// (an older one, or one stopped with SIGSTOP) makes it stop with
// ErrProxyAck naming it, the record kept; a proxy stopped and resumed
// while the migrator waits delays the migration until it acknowledges.
func TestMigrateWaitsForProxyAcks(t *testing.T) {
	env := newMigrateEnv(t, 2, 0)
	keys := env.load(t, 2000)
	ctx := context.Background()
	zkAddr := env.a.ZK.Config().Servers[0]

	// A shardis-proxy following the pool and registered in ZooKeeper.
	port := harness.FreePort(t)
	dir := t.TempDir()
	yml := fmt.Sprintf("icd:\n  listen: 127.0.0.1:%d\n  redis: true\n  zookeeper_host: %s\n  zookeeper_redis_path: %s\n  zookeeper_path: %s\n",
		port, zkAddr, env.layout.PoolPath("icd"), env.layout.ProxyDir("icd"))
	cfg := filepath.Join(dir, "proxy.yml")
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	px := harness.StartBinary(t, "./cmd/shardis-proxy", port, dir, "-c", cfg, "-s", "0")
	defer px.Resume()
	node := env.layout.ProxyNode("icd", px.Addr)
	applied := func() map[string]int32 {
		b, _, err := env.a.ZK.Get(node)
		if err != nil {
			return nil
		}
		d, _ := conf.ParseProxyData(b)
		return d.Applied
	}
	deadline := time.Now().Add(20 * time.Second)
	for a := applied(); len(a) != 2; a = applied() {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy did not acknowledge its first topology: %v", a)
		}
		time.Sleep(20 * time.Millisecond)
	}

	src := redis.NewClient(&redis.Options{Addr: env.addrs["redis-0000"], Protocol: 2})
	defer src.Close()
	onSource := func() int64 {
		n, err := src.Do(ctx, "SHARDIS.COUNTSLOTS", "HASH", "md5", "TAG", "{}", "SLOTS", 4096, "RANGE", 0, 1023).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := onSource()
	if before == 0 {
		t.Fatal("no key in slots 0-1023")
	}
	var mu sync.Mutex
	var lines []string
	opt := MigrateOptions{Batch: 50, ProgressEvery: time.Millisecond, Settle: -1, Progress: func(l string) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
	}}
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
	slots := mustRanges(t, "0-1023")

	// 1. The proxy stopped: the migrator times out naming it, with the
	// record written and no key moved.
	px.Pause()
	stopped := time.Now()
	o := opt
	o.AckTimeout = 500 * time.Millisecond
	_, err := env.a.Migrate(ctx, "icd", slots, "redis-0001", o)
	if !errors.Is(err, ErrProxyAck) || !strings.Contains(err.Error(), px.Addr+" (has redis-0000 at version 0)") {
		t.Fatalf("with a stopped proxy: %v", err)
	}
	if n := onSource(); n != before {
		t.Fatalf("keys moved although the proxy did not acknowledge: %d of %d left", n, before)
	}
	top, _ := env.a.Topology("icd")
	if s, _ := top.Shard("redis-0000"); s.Migrating == nil {
		t.Fatal("the record did not stay")
	}

	// 2. Run again while the proxy is still stopped: the migrator
	// waits, moves nothing, and goes on once the proxy resumes and
	// acknowledges. (The whole stop stays well under the proxy's
	// ZooKeeper session timeout, 10 s: its registration stays.)
	o.AckTimeout = 30 * time.Second
	done := make(chan error, 1)
	go func() { // ends when the migration does
		_, err := env.a.Migrate(ctx, "icd", slots, "redis-0001", o)
		done <- err
	}()
	for !strings.Contains(output(), "waiting for 1 of 1 proxies to apply the migration record") {
		select {
		case err := <-done:
			t.Fatalf("the migration ended while the proxy was stopped: %v\n%s", err, output())
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(time.Second)
	select {
	case err := <-done:
		t.Fatalf("the migration ended while the proxy was stopped: %v\n%s", err, output())
	default:
	}
	if n := onSource(); n != before {
		t.Fatalf("keys moved while the proxy was stopped: %d of %d left", n, before)
	}
	if time.Since(stopped) > 7*time.Second {
		t.Fatalf("the proxy was stopped for %v: its session may expire", time.Since(stopped))
	}
	px.Resume()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("migration: %v\n%s", err, output())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the migration did not end after the proxy resumed\n%s", output())
	}
	out := output()
	for _, want := range []string{px.Addr + " (has redis-0000 at version", "all 1 proxies have applied the migration record", "done:"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	// The switch is acknowledged before the migrator reports done.
	if strings.Contains(out, "did not acknowledge the new ranges") {
		t.Errorf("the switch was not acknowledged:\n%s", out)
	}
	top, _ = env.a.Topology("icd")
	s0, _ := top.Shard("redis-0000")
	s1, _ := top.Shard("redis-0001")
	if a := applied(); a["redis-0000"] < s0.Version || a["redis-0001"] < s1.Version {
		t.Errorf("after the migration the proxy acknowledges %v; shards at versions %d, %d", a, s0.Version, s1.Version)
	}
	if n := onSource(); n != 0 {
		t.Fatalf("%d keys left on the source", n)
	}
	env.verify(t, keys)

	// 3. An older proxy (no "applied") is registered too: it cannot
	// acknowledge; the proxy that can is not named.
	old := env.layout.ProxyNode("icd", "127.0.0.1:1")
	if _, err := env.dog.Create(old, []byte(`{"addr":"127.0.0.1:1","pool":"icd"}`), conf.CreateEphemeral); err != nil {
		t.Fatal(err)
	}
	o.AckTimeout = 500 * time.Millisecond
	_, err = env.a.Migrate(ctx, "icd", slots, "redis-0000", o)
	if !errors.Is(err, ErrProxyAck) || !strings.Contains(err.Error(), "127.0.0.1:1 (does not acknowledge") || strings.Contains(err.Error(), px.Addr) {
		t.Fatalf("with an older proxy: %v", err)
	}
	if n := onSource(); n != 0 {
		t.Fatalf("keys moved back although a proxy did not acknowledge: %d", n)
	}

	// 4. --no-proxy-ack: the settle delay only, with a warning; the
	// older proxy is still registered.
	o.NoProxyAck, o.Settle = true, 50*time.Millisecond
	mu.Lock()
	lines = nil
	mu.Unlock()
	if _, err := env.a.Migrate(ctx, "icd", slots, "redis-0000", o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(output(), "warning: --no-proxy-ack") {
		t.Errorf("no warning:\n%s", output())
	}
	if n := onSource(); n != before {
		t.Fatalf("%d keys back on redis-0000, want %d", n, before)
	}
	env.verify(t, keys)
}
