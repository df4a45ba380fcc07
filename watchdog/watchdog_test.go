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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// The whole watchdog in process (so that -race sees the loop and its
// goroutines), with a real ZooKeeper and two redis-servers: bootstrap,
// follow, failover when the master's backend dies (with the hook),
// rejoin, manual failover back, fencing on exit.

type runningWD struct {
	w      *Watchdog
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func startWD(t *testing.T, zk *harness.ZooKeeper, backend, shardPath, hook string) *runningWD {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ZooKeeper.Servers = []string{zk.Addr}
	cfg.ZooKeeper.SessionTimeout = 2 * time.Second
	cfg.Backend, cfg.Shard = backend, shardPath
	cfg.ProbeInterval, cfg.ProbeTimeout = 100*time.Millisecond, 300*time.Millisecond
	cfg.OnFailover = hook
	cfg.ExitPause = 5 * time.Second
	level := slog.LevelWarn
	if os.Getenv("SHARDIS_TEST_LOG") == "1" {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	cfg.Registry = reg
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningWD{w: w, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }() // ends with cancel
	t.Cleanup(r.stop)
	return r
}

func (r *runningWD) stop() {
	r.cancel()
	<-r.done
	r.done <- nil // stop is idempotent
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWatchdogEndToEnd(t *testing.T) {
	zk := harness.StartZooKeeper(t)
	a := harness.StartRedis(t, "--repl-diskless-sync-delay", "0")
	b := harness.StartRedis(t, "--repl-diskless-sync-delay", "0")
	z, err := conf.DialZooKeeper(conf.ZKConfig{Servers: []string{zk.Addr}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := z.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	shardPath := "/redis/cluster/e2e/redis-0000"
	if err := z.EnsurePath(shardPath); err != nil {
		t.Fatal(err)
	}
	hookOut := filepath.Join(t.TempDir(), "hook")
	hook := "echo >> " + hookOut

	wa := startWD(t, zk, a.Addr, shardPath, hook)
	eventually(t, 10*time.Second, "a master", func() bool { return wa.w.Status().State == StateMaster })
	if v := metricValue(t, wa.reg, "shardis_watchdog_state", "state", "MASTER"); v != 1 {
		t.Fatalf("state metric MASTER = %v", v)
	}
	wb := startWD(t, zk, b.Addr, shardPath, hook)
	eventually(t, 10*time.Second, "b following a", func() bool {
		st := wb.w.Status()
		return st.State == StateFollow && st.Master == a.Addr && !st.Fenced && infoRole(b.Addr) == "slave"
	})
	ca := redis.NewClient(&redis.Options{Addr: a.Addr, Protocol: 2})
	defer ca.Close()
	if err := ca.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	cb := redis.NewClient(&redis.Options{Addr: b.Addr, Protocol: 2})
	defer cb.Close()
	eventually(t, 5*time.Second, "k replicated to b", func() bool {
		v, _ := cb.Get(context.Background(), "k").Result()
		return v == "v"
	})

	// a's backend dies: b takes over and runs the hook.
	a.Kill()
	eventually(t, 5*time.Second, "b master", func() bool { return wb.w.Status().State == StateMaster })
	eventually(t, 5*time.Second, "the hook", func() bool {
		out, _ := os.ReadFile(hookOut)
		return strings.Contains(string(out), shardPath+" "+a.Addr+" "+b.Addr)
	})
	if v := metricValue(t, wb.reg, "shardis_watchdog_failovers_total", "kind", "auto"); v != 1 {
		t.Fatalf("failovers metric = %v", v)
	}
	// a's backend comes back (empty): a rejoins as b's replica.
	if err := a.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a following b", func() bool {
		st := wa.w.Status()
		return st.State == StateFollow && st.Master == b.Addr && infoRole(a.Addr) == "slave"
	})
	eventually(t, 10*time.Second, "a's replica data", func() bool {
		v, _ := ca.Get(context.Background(), "k").Result()
		return v == "v"
	})

	// Manual failover back to a.
	res, err := Failover(context.Background(), z, shardPath, FailoverOptions{To: a.Addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.OldMaster != b.Addr || res.NewMaster != a.Addr {
		t.Fatalf("%+v", res)
	}
	eventually(t, 5*time.Second, "a master, b replica", func() bool {
		return wa.w.Status().State == StateMaster && wb.w.Status().State == StateFollow && infoRole(b.Addr) == "slave"
	})
	if err := ca.Set(context.Background(), "k2", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// Stopping a master's watchdog fences its backend; b takes over.
	wa.stop()
	short := redis.NewClient(&redis.Options{Addr: a.Addr, Protocol: 2, ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
	defer short.Close()
	if err := short.Set(context.Background(), "k3", "v", 0).Err(); err == nil {
		t.Fatal("a's backend took a write after its watchdog stopped")
	}
	eventually(t, 5*time.Second, "b master again", func() bool { return wb.w.Status().State == StateMaster })
}

func infoRole(addr string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, ReadTimeout: 300 * time.Millisecond})
	defer c.Close()
	s, err := c.Info(context.Background(), "replication").Result()
	if err != nil {
		return ""
	}
	m, _ := ParseInfo(s)
	if m["role"] == "slave" && m["master_link_status"] != "up" {
		return "slave-down"
	}
	return m["role"]
}

// metricValue reads one gauge or counter from the registry.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{%s=%q}", name, label, value)
	return 0
}
