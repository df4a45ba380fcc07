package backend

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// Replication with real shardis-server processes: kill -9, restarts,
// SIGSTOP, failover.

func procClient(t testing.TB, p *harness.Proc) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: p.Addr, Protocol: 2, MaxRetries: -1, DialTimeout: 5 * time.Second,
		ReadTimeout: 20 * time.Second, PoolSize: 16})
	t.Cleanup(func() { c.Close() })
	return c
}

func startProcReplica(t testing.TB, master *harness.Proc, extra ...string) *harness.Proc {
	t.Helper()
	args := append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}, extra...)
	return harness.StartShardisServer(t, "", args...)
}

// TestProcReplicationResume: master + 2 replicas (AOF on), 100k writes of
// every type, the replicas converge; a replica killed and restarted
// resumes with a partial resync; a replica down for longer than the
// backlog covers does a full resync; all converge.
func TestProcReplicationResume(t *testing.T) {
	ctx := context.Background()
	m := harness.StartShardisServer(t, "", "--appendonly", "yes")
	r1 := startProcReplica(t, m, "--appendonly", "yes")
	r2 := startProcReplica(t, m, "--appendonly", "yes")
	mc, c1, c2 := procClient(t, m), procClient(t, r1), procClient(t, r2)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeMix(t, mc, 25000, 5000, uint64(10+w))
		}()
	}
	wg.Wait()
	waitSynced(t, mc, c1, c2)
	want := replDump(t, mc)
	if len(want) < 10000 {
		t.Fatalf("only %d keys", len(want))
	}
	sameDump(t, "replica 1", want, replDump(t, c1))
	sameDump(t, "replica 2", want, replDump(t, c2))
	mi := replInfo(t, mc)
	full, partial := infoInt(t, mi, "sync_full"), infoInt(t, mi, "sync_partial_ok")
	if full != 2 {
		t.Fatalf("sync_full %d, want 2", full)
	}

	// kill -9 a replica, write less than the backlog, restart it.
	r1.Kill()
	writeMix(t, mc, 5000, 5000, 20)
	if err := r1.Restart(); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, mc, c1, c2)
	mi = replInfo(t, mc)
	if infoInt(t, mi, "sync_full") != full || infoInt(t, mi, "sync_partial_ok") != partial+1 {
		t.Fatalf("after the restart: sync_full %s (was %d), sync_partial_ok %s (was %d)", mi["sync_full"], full,
			mi["sync_partial_ok"], partial)
	}
	want = replDump(t, mc)
	sameDump(t, "restarted replica", want, replDump(t, c1))

	// A replica down while more than the backlog is written: full resync.
	if err := mc.ConfigSet(ctx, "repl-backlog-size", "16kb").Err(); err != nil {
		t.Fatal(err)
	}
	r2.Kill()
	writeMix(t, mc, 20000, 5000, 21)
	if err := r2.Restart(); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, mc, c1, c2)
	mi = replInfo(t, mc)
	if infoInt(t, mi, "sync_full") != full+1 {
		t.Fatalf("replica behind the backlog: sync_full %s, want %d", mi["sync_full"], full+1)
	}
	want = replDump(t, mc)
	sameDump(t, "replica 1", want, replDump(t, c1))
	sameDump(t, "resynchronised replica", want, replDump(t, c2))
}

// TestProcFailoverPartial: the master dies, replica A is promoted, replica
// B follows A and resumes from A's backlog.
func TestProcFailoverPartial(t *testing.T) {
	ctx := context.Background()
	m := harness.StartShardisServer(t, "")
	a := startProcReplica(t, m)
	b := startProcReplica(t, m)
	mc, ac, bc := procClient(t, m), procClient(t, a), procClient(t, b)
	writeMix(t, mc, 20000, 3000, 30)
	waitSynced(t, mc, ac, bc)
	m.Kill()
	if err := ac.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	if err := bc.Do(ctx, "REPLICAOF", "127.0.0.1", a.Port).Err(); err != nil {
		t.Fatal(err)
	}
	writeMix(t, ac, 5000, 3000, 31)
	waitSynced(t, ac, bc)
	ai := replInfo(t, ac)
	if ai["sync_full"] != "0" || ai["sync_partial_ok"] != "1" {
		t.Fatalf("promoted replica: sync_full %s sync_partial_ok %s", ai["sync_full"], ai["sync_partial_ok"])
	}
	sameDump(t, "B after the failover", replDump(t, ac), replDump(t, bc))
}

// TestProcSyncAckSurvivesMasterKill: with repl-ack-replicas 1, every write
// acknowledged before the master is killed is on the promoted replica.
func TestProcSyncAckSurvivesMasterKill(t *testing.T) {
	ctx := context.Background()
	m := harness.StartShardisServer(t, "", "--repl-ack-replicas", "1", "--repl-ack-timeout", "5000")
	r := startProcReplica(t, m)
	mc, rc := procClient(t, m), procClient(t, r)
	replWait(t, 15*time.Second, "replica online", func() bool {
		return strings.Contains(replInfo(t, mc)["slave0"], "state=online")
	})
	var acked sync.Map
	var nAcked, nFailed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := "w" + strconv.Itoa(w) + ":" + strconv.Itoa(i)
				if err := mc.Set(ctx, k, i, 0).Err(); err != nil {
					nFailed.Add(1)
					return
				}
				acked.Store(k, strconv.Itoa(i))
				nAcked.Add(1)
			}
		}()
	}
	replWait(t, 30*time.Second, "some acknowledged writes", func() bool { return nAcked.Load() > 3000 })
	m.Kill()
	close(stop)
	wg.Wait()
	if err := rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	acked.Range(func(k, v any) bool {
		if got, err := rc.Get(ctx, k.(string)).Result(); err != nil || got != v.(string) {
			missing++
		}
		return true
	})
	t.Logf("%d writes acknowledged before kill -9 of the master, %d failed after; %d missing on the promoted replica",
		nAcked.Load(), nFailed.Load(), missing)
	if missing > 0 {
		t.Fatalf("%d acknowledged writes lost", missing)
	}
}

// TestProcStoppedReplica: a SIGSTOPped replica makes writes fail with
// NOREPLICAS at repl-ack-timeout (nothing hangs), min-replicas-to-write
// refuse writes, WAIT time out; SIGCONT restores all.
func TestProcStoppedReplica(t *testing.T) {
	ctx := context.Background()
	m := harness.StartShardisServer(t, "", "--repl-ack-replicas", "1", "--repl-ack-timeout", "300")
	r := startProcReplica(t, m)
	mc := procClient(t, m)
	replWait(t, 15*time.Second, "replica online", func() bool {
		return strings.Contains(replInfo(t, mc)["slave0"], "state=online")
	})
	if err := mc.Set(ctx, "a", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	pauseProc(t, r)
	var wg sync.WaitGroup
	var slow atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				start := time.Now()
				err := mc.Set(ctx, "b", i, 0).Err()
				d := time.Since(start)
				if err == nil || err.Error() != "NOREPLICAS Write not acknowledged by 1 replicas within 300 ms" {
					t.Errorf("write to a master whose replica is stopped: %v", err)
				}
				if d > 3*time.Second {
					slow.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if slow.Load() > 0 {
		t.Fatalf("%d writes hung past the timeout", slow.Load())
	}
	start := time.Now()
	if v := mc.Get(ctx, "a").Val(); v != "1" || time.Since(start) > 2*time.Second {
		t.Fatalf("read: %q after %s", v, time.Since(start))
	}
	if n := mc.Wait(ctx, 1, 200*time.Millisecond).Val(); n != 0 {
		t.Fatalf("WAIT 1 200 with the replica stopped: %d", n)
	}

	// min-replicas-to-write instead of synchronous acknowledgement.
	if err := mc.ConfigSet(ctx, "repl-ack-replicas", "0").Err(); err != nil {
		t.Fatal(err)
	}
	mc.ConfigSet(ctx, "min-replicas-to-write", "1")
	mc.ConfigSet(ctx, "min-replicas-max-lag", "1")
	replWait(t, 10*time.Second, "writes refused", func() bool {
		err := mc.Set(ctx, "c", 1, 0).Err()
		return err != nil && err.Error() == errNoGoodReplicas
	})
	r.Resume()
	replWait(t, 10*time.Second, "writes accepted", func() bool { return mc.Set(ctx, "c", 2, 0).Err() == nil })
	if n := mc.Wait(ctx, 1, 5*time.Second).Val(); n != 1 {
		t.Fatalf("WAIT after SIGCONT: %d", n)
	}
	mc.ConfigSet(ctx, "repl-ack-replicas", "1")
	if err := mc.Set(ctx, "d", 1, 0).Err(); err != nil {
		t.Fatalf("acknowledged write after SIGCONT: %v", err)
	}
}

// TestProcRestartUnfenced: fencing and the epoch are runtime state: CONFIG
// REWRITE leaves them out, and a restart starts unfenced.
func TestProcRestartUnfenced(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	conf := filepath.Join(dir, "shardis.conf")
	if err := os.WriteFile(conf, []byte("appendonly yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := harness.StartShardisServer(t, dir, "--config", conf)
	c := procClient(t, p)
	c.ConfigSet(ctx, "shardis-epoch", "5")
	c.ConfigSet(ctx, "fenced", "yes")
	if err := c.Do(ctx, "CONFIG", "REWRITE").Err(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(conf)
	if strings.Contains(string(b), "\nfenced ") || strings.Contains(string(b), "\nshardis-epoch ") {
		t.Fatalf("CONFIG REWRITE wrote runtime state:\n%s", b)
	}
	if s, _ := c.Info(ctx, "server").Result(); !strings.Contains(s, "shardis_version:"+ShardisVersion) {
		t.Fatal("INFO server lacks shardis_version")
	}
	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	c = procClient(t, p)
	if i := replInfo(t, c, "replication"); i["fenced"] != "0" || i["role"] != "master" {
		t.Fatalf("after restart: %v", i)
	}
	if err := c.Set(ctx, "a", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestProcInteropRedis (informational, see docs/replication.md): Debian's
// redis-server and shardis-server do not replicate from each other — the
// full resync payload formats differ (RDB vs RESP commands) — and each
// side fails the sync cleanly and keeps retrying.
func TestProcInteropRedis(t *testing.T) {
	ctx := context.Background()
	sm := harness.StartShardisServer(t, "")
	smc := procClient(t, sm)
	smc.Set(ctx, "k", "v", 0)
	rr := harness.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(sm.Port), "--repl-diskless-load", "disabled")
	rrc := procClient(t, rr)

	rm := harness.StartRedis(t, "--repl-diskless-sync-delay", "0")
	rmc := procClient(t, rm)
	rmc.Set(ctx, "k", "v", 0)
	sr := startProcReplica(t, rm)
	src := procClient(t, sr)

	time.Sleep(3 * time.Second)
	ri := replInfo(t, rrc, "replication")
	si := replInfo(t, src, "replication")
	t.Logf("redis-server replica of shardis-server: master_link_status=%s; log: %s", ri["master_link_status"],
		lastLines(rr.Tail(4096), "MASTER", 4))
	t.Logf("shardis-server replica of redis-server: master_link_status=%s; log: %s", si["master_link_status"],
		lastLines(sr.Tail(4096), "RDB", 2))
	if si["master_link_status"] != "down" || !strings.Contains(sr.Tail(8192), "RDB payload") {
		t.Fatalf("shardis-server following redis-server: link %s", si["master_link_status"])
	}
	if err := smc.Ping(ctx).Err(); err != nil {
		t.Fatalf("shardis-server master after a redis-server replica tried: %v", err)
	}
	if err := src.Ping(ctx).Err(); err != nil {
		t.Fatalf("shardis-server replica: %v", err)
	}
}

// pauseProc stops p with SIGSTOP and waits until the kernel shows it
// stopped (the signal is asynchronous).
func pauseProc(t testing.TB, p *harness.Proc) {
	t.Helper()
	pid := p.PID()
	p.Pause()
	replWait(t, 5*time.Second, "process stopped", func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		// pid (comm) state ...: the state follows the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		return i > 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't')
	})
}

// lastLines returns up to n lines of log containing word.
func lastLines(log, word string, n int) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, word) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, " | ")
}

// TestProcShutdownWaitsForReplicas: SIGTERM on a master under write load:
// it pauses writes and waits for its replica, so every write it answered
// is on the replica.
func TestProcShutdownWaitsForReplicas(t *testing.T) {
	ctx := context.Background()
	m := harness.StartShardisServer(t, "")
	r := startProcReplica(t, m)
	mc, rc := procClient(t, m), procClient(t, r)
	replWait(t, 15*time.Second, "replica online", func() bool {
		return strings.Contains(replInfo(t, mc)["slave0"], "state=online")
	})
	var acked atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); ; i++ {
			pipe := mc.Pipeline()
			for j := 0; j < 100; j++ {
				pipe.Set(ctx, "k"+strconv.FormatInt(i*100+int64(j), 10), strings.Repeat("v", 100), 0)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return
			}
			acked.Store(i)
		}
	}()
	replWait(t, 10*time.Second, "writes", func() bool { return acked.Load() > 50 })
	if !m.Term(20 * time.Second) {
		t.Fatal("master did not stop")
	}
	<-done
	n := acked.Load()
	for i := int64(1); i <= n; i++ {
		if rc.Exists(ctx, "k"+strconv.FormatInt(i*100+99, 10)).Val() != 1 {
			t.Fatalf("batch %d of %d answered by the master but not on the replica", i, n)
		}
	}
	if !strings.Contains(m.Tail(4096), "The replicas are in sync") {
		t.Fatalf("no drain in the master's log:\n%s", m.Tail(2048))
	}
}
