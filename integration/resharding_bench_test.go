package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/admin"
)

// TestReshardingBench measures a rebalance of 2 shards onto 3 under
// client load through a proxy: keys moved per second, and the p99 latency
// of the clients' requests (GET/SET on random keys, through the proxy)
// before the migration and during it, in the same run. It runs only with
// SHARDIS_BENCH_RESHARDING=1 (scripts/bench.d/40-resharding.sh); keys:
// SHARDIS_BENCH_RESHARDING_KEYS (default 200000). It prints one line:
//
//	RESHARDING keys=N moved=M keys_per_sec=R p99_before_us=A p99_during_us=B ops_before=X ops_during=Y
func TestReshardingBench(t *testing.T) {
	if os.Getenv("SHARDIS_BENCH_RESHARDING") != "1" {
		t.Skip("benchmark: set SHARDIS_BENCH_RESHARDING=1 (scripts/bench.d/40-resharding.sh)")
	}
	n := 200000
	if v, err := strconv.Atoi(os.Getenv("SHARDIS_BENCH_RESHARDING_KEYS")); err == nil && v > 0 {
		n = v
	}
	p := newReshardPool(t)
	pxAddr := p.startProxy()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: pxAddr, Protocol: 2, MaxRetries: -1, PoolSize: 16, ReadTimeout: 20 * time.Second})
	defer c.Close()
	waitFor(t, 15*time.Second, "proxy routes", func() bool { return c.Set(ctx, "probe", 1, 0).Err() == nil })
	val := make([]byte, 32)
	for lo := 0; lo < n; lo += 2000 {
		pipe := c.Pipeline()
		for i := lo; i < min(lo+2000, n); i++ {
			pipe.Set(ctx, "k:"+strconv.Itoa(i), val, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p.runAdmin("shard", "add", "icd")
	p.addMaster("redis-0002")

	// Clients: 8 goroutines, one request at a time each; latencies are
	// filed under the phase in which the request started.
	const (
		phaseBefore = iota
		phaseDuring
		phaseAfter
	)
	var phase atomic.Int32
	var stop atomic.Bool
	lat := [3][]time.Duration{}
	var mu sync.Mutex
	var errs atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) { // ends at stop
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			var local [3][]time.Duration
			for !stop.Load() {
				k := "k:" + strconv.Itoa(rng.IntN(n))
				ph := phase.Load()
				start := time.Now()
				var err error
				if rng.IntN(4) == 0 {
					err = c.Set(ctx, k, val, 0).Err()
				} else {
					err = c.Get(ctx, k).Err()
				}
				d := time.Since(start)
				if err != nil {
					errs.Add(1)
					continue
				}
				local[ph] = append(local[ph], d)
			}
			mu.Lock()
			for i := range lat {
				lat[i] = append(lat[i], local[i]...)
			}
			mu.Unlock()
		}(g)
	}
	time.Sleep(3 * time.Second)
	a := admin.New(p.z, p.layout)
	phase.Store(phaseDuring)
	start := time.Now()
	_, reps, err := a.Rebalance(ctx, "icd", admin.MigrateOptions{Settle: 300 * time.Millisecond}, false, nil)
	during := time.Since(start)
	phase.Store(phaseAfter)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var moved int64
	var moveTime float64
	for _, r := range reps {
		moved += r.Keys
		if r.Rate > 0 {
			moveTime += float64(r.Keys) / r.Rate
		}
	}
	p99 := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return ds[len(ds)*99/100]
	}
	fmt.Printf("RESHARDING keys=%d moved=%d keys_per_sec=%.0f p99_before_us=%d p99_during_us=%d ops_before=%.0f ops_during=%.0f client_errors=%d\n",
		n, moved, float64(moved)/max(moveTime, 1e-3), p99(lat[phaseBefore]).Microseconds(), p99(lat[phaseDuring]).Microseconds(),
		float64(len(lat[phaseBefore]))/3, float64(len(lat[phaseDuring]))/during.Seconds(), errs.Load())
}
