package watchdog

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The backend driver against Debian's redis-server: fencing holds
// writes (CLIENT PAUSE WRITE), roles change with REPLICAOF, offsets are
// read from INFO replication.
func TestBackendDriverRedisServer(t *testing.T) {
	a := harness.StartRedis(t, "--repl-diskless-sync-delay", "0")
	b := harness.StartRedis(t, "--repl-diskless-sync-delay", "0")
	ctx := context.Background()
	var got []Event
	d := &backendDriver{rdb: newBackendClient(a.Addr, "", time.Second, 2), timeout: time.Second,
		pauseFor: 2 * time.Second, renew: 100 * time.Millisecond, log: quietLog(), results: func(e Event) { got = append(got, e) }}
	defer d.rdb.Close()
	client := redis.NewClient(&redis.Options{Addr: a.Addr, ReadTimeout: 300 * time.Millisecond, MaxRetries: -1, Protocol: 2})
	defer client.Close()

	if res := d.exec(ctx, []Action{{Kind: ActFence, ID: 1}}); res.Err != nil || res.Done != 1 {
		t.Fatalf("fence: %+v", res)
	}
	if err := client.Set(ctx, "k", "v", 0).Err(); err == nil {
		t.Fatal("a write went through a fenced redis-server")
	}
	if v, err := client.Get(ctx, "k").Result(); err != redis.Nil {
		t.Fatalf("reads go on while fenced, and k is unset: %q %v", v, err)
	}
	if res := d.exec(ctx, []Action{{Kind: ActUnfence, ID: 2}}); res.Err != nil || res.Done != 1 {
		t.Fatalf("unfence: %+v", res)
	}
	// The held write ran once the pause was lifted; new writes pass.
	if err := client.Set(ctx, "k2", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	res := d.exec(ctx, []Action{{Kind: ActSetEpoch, ID: 3, Epoch: 5}, {Kind: ActReplicaOf, ID: 3, Addr: b.Addr}})
	if res.Err != nil || res.Done != 2 {
		t.Fatalf("replicaof: %+v", res)
	}
	info, err := readInfo(ctx, d.rdb.get())
	if err != nil || info.Role != "slave" || info.MasterAddr() != b.Addr || info.Shardis {
		t.Fatalf("%+v %v", info, err)
	}
	if err := client.Set(ctx, "k3", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
		t.Fatalf("a replica accepted a write: %v", err)
	}
	// The replica syncs from b.
	bc := redis.NewClient(&redis.Options{Addr: b.Addr, Protocol: 2})
	defer bc.Close()
	for i := 0; i < 50; i++ {
		bc.Set(ctx, "fromb", i, 0)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := d.exec(ctx, []Action{{Kind: ActReadOffset, ID: 4}})
		bi, _ := readInfo(ctx, bc)
		if r.Err == nil && r.Offset > 0 && r.Offset == bi.Offset {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica offset %d (err %v) never reached master's %d", r.Offset, r.Err, bi.Offset)
		}
		time.Sleep(20 * time.Millisecond)
	}

	peers := queryPeers(ctx, d.rdb.get(), []Member{{Name: "b", Addr: b.Addr}, {Name: "dead", Addr: "127.0.0.1:1"}}, "", 300*time.Millisecond)
	if !peers.Self.OK || !peers.Peers["b"].OK || peers.Peers["dead"].OK || peers.Self.Offset != peers.Peers["b"].Offset {
		t.Fatalf("%+v", peers)
	}

	if res := d.exec(ctx, []Action{{Kind: ActSetEpoch, ID: 5, Epoch: 6}, {Kind: ActReplicaOfNoOne, ID: 5}}); res.Err != nil || res.Done != 2 {
		t.Fatalf("replicaof no one: %+v", res)
	}
	if err := client.Set(ctx, "k4", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// A fence outlives its CLIENT PAUSE while the driver renews it.
	d.pauseFor = 300 * time.Millisecond
	if res := d.exec(ctx, []Action{{Kind: ActFence, ID: 6}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	rctx, cancel := context.WithCancel(ctx)
	d.batches = make(chan []Action)
	done := make(chan struct{})
	go func() { d.run(rctx); close(done) }()
	time.Sleep(700 * time.Millisecond)
	if err := client.Set(ctx, "k5", "v", 0).Err(); err == nil {
		t.Fatal("the fence lapsed although it was renewed")
	}
	cancel()
	<-done

	// A dead backend: the batch fails at once, nothing done.
	a.Kill()
	if res := d.exec(ctx, []Action{{Kind: ActFence, ID: 7}}); res.Err == nil || res.Done != 0 {
		t.Fatalf("%+v", res)
	}
	_ = got
}

func TestHook(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	ctx := context.Background()
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$SHARDIS_FAILOVER $SHARDIS_EPOCH\" \"$@\" > "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The arguments are appended to the command.
	err := runHook(ctx, script, 5*time.Second,
		"/redis/cluster/icd/redis-0000", "10.0.0.1:6379", "10.0.0.2:6379", 7, true, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if got := strings.TrimSpace(string(b)); got != "manual 7 /redis/cluster/icd/redis-0000 10.0.0.1:6379 10.0.0.2:6379" {
		t.Fatalf("%q", got)
	}
	if err := runHook(ctx, "exit 3", 5*time.Second, "s", "", "n", 1, false, quietLog()); err == nil {
		t.Fatal("a failing hook reported success")
	}
	start := time.Now()
	if err := runHook(ctx, "sleep 10", 200*time.Millisecond, "s", "", "n", 1, false, quietLog()); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("a hung hook: %v after %v", err, time.Since(start))
	}
}

// A dead backend fails every retry of the core's batch: the driver warns
// on the first failure and every 20th, not on each, and says when the
// backend answers again.
func TestBackendDriverFailureLog(t *testing.T) {
	a := harness.StartRedis(t)
	addr := a.Addr
	a.Kill()
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := &backendDriver{rdb: newBackendClient(addr, "", 200*time.Millisecond, 1), timeout: 200 * time.Millisecond,
		pauseFor: time.Second, renew: time.Second, log: log, results: func(Event) {}}
	defer d.rdb.Close()
	d.setKind(false)
	ctx := context.Background()
	for i := 1; i <= 25; i++ {
		if res := d.exec(ctx, []Action{{Kind: ActFence, ID: uint64(i)}}); res.Err == nil {
			t.Fatalf("fence %d of a dead backend: %+v", i, res)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Fatalf("%d warnings for 25 failures, want 2 (the 1st and the 20th):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "failures=20") {
		t.Fatalf("the 20th failure is not counted in the log:\n%s", logs.String())
	}
	if err := a.Restart(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(ctx).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not come back")
		}
	}
	if res := d.exec(ctx, []Action{{Kind: ActFence, ID: 26}}); res.Err != nil {
		t.Fatalf("fence after the restart: %+v", res)
	}
	if !strings.Contains(logs.String(), "backend commands ok again") || !strings.Contains(logs.String(), "after_failures=25") {
		t.Fatalf("no recovery line:\n%s", logs.String())
	}
	if res := d.exec(ctx, []Action{{Kind: ActUnfence, ID: 27}}); res.Err != nil {
		t.Fatalf("unfence: %+v", res)
	}
}
