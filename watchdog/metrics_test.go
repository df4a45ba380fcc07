package watchdog

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardis/shardis/integration/harness"
)

func TestServeMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, "/redis/cluster/icd/redis-0000", "10.0.0.1:6379")
	if err != nil {
		t.Fatal(err)
	}
	m.setStatus(Status{State: StateMaster, Role: "master", Fenced: true, Offset: 42})
	m.probeLatency.Observe(0.001)
	// A second watchdog in the same process registers beside it.
	if _, err := newMetrics(reg, "/redis/cluster/icd/redis-0001", "10.0.0.2:6379"); err != nil {
		t.Fatal(err)
	}
	if _, err := newMetrics(reg, "/redis/cluster/icd/redis-0001", "10.0.0.2:6379"); err == nil {
		t.Fatal("the same watchdog's metrics registered twice")
	}
	addr := "127.0.0.1:" + strconv.Itoa(harness.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeMetrics(ctx, addr, reg, quietLog()) }()
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`shardis_watchdog_state{backend="10.0.0.1:6379",shard="/redis/cluster/icd/redis-0000",state="MASTER"} 1`,
		`shardis_watchdog_state{backend="10.0.0.1:6379",shard="/redis/cluster/icd/redis-0000",state="FOLLOW"} 0`,
		`shardis_watchdog_role{backend="10.0.0.1:6379",role="master",shard="/redis/cluster/icd/redis-0000"} 1`,
		`shardis_watchdog_backend_fenced{backend="10.0.0.1:6379",shard="/redis/cluster/icd/redis-0000"} 1`,
		`shardis_watchdog_backend_offset{backend="10.0.0.1:6379",shard="/redis/cluster/icd/redis-0000"} 42`,
		`shardis_watchdog_failovers_total{backend="10.0.0.1:6379",kind="manual",shard="/redis/cluster/icd/redis-0000"} 0`,
		`shardis_watchdog_probe_latency_seconds_count{backend="10.0.0.1:6379",shard="/redis/cluster/icd/redis-0000"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
