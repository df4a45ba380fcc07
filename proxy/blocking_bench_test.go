package proxy

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkPipelineWhileBlocked: 50 clients pipeline SET/GET (10 of each
// per pipeline) through one pool of 3 redis-servers, with and without a
// client blocked in BLPOP on one of the servers. It reports the p50 and
// p99 latency of a pipeline; issue 6 wants the blocked run's p99 within
// 2x of the unblocked one (the BLPOP runs on a dedicated connection).
//
//	go test -run '^$' -bench PipelineWhileBlocked -benchtime 2000x ./proxy/
func BenchmarkPipelineWhileBlocked(b *testing.B) {
	bs := startBackends(b, backendKinds[0], 3)
	tp := startTestProxy(b, yamlPool("b", freeAddr(b), serverLines(bs, weight1), "timeout: 10000", "server_connections: 1"))
	addr := tp.addrs["b"]
	const clients, perPipe = 50, 10
	cs := make([]*redis.Client, clients)
	for i := range cs {
		cs[i] = client(b, addr, func(o *redis.Options) { o.PoolSize = 1 })
	}
	ctx := context.Background()
	for _, blocked := range []bool{false, true} {
		name := "unblocked"
		if blocked {
			name = "blocked"
		}
		b.Run(name, func(b *testing.B) {
			if blocked {
				bl := client(b, addr)
				done := make(chan struct{})
				go func() { // ends when its BLPOP does (5 s, or the push below)
					defer close(done)
					bl.BLPop(ctx, 5*time.Second, "bench:queue")
				}()
				b.Cleanup(func() {
					client(b, addr).RPush(ctx, "bench:queue", "end")
					<-done
				})
				time.Sleep(50 * time.Millisecond)
			}
			lat := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			per := max(b.N/clients, 1)
			b.ResetTimer()
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := cs[w]
					for r := 0; r < per; r++ {
						t0 := time.Now()
						pipe := c.Pipeline()
						for i := 0; i < perPipe; i++ {
							key := fmt.Sprintf("bench:%d:%d", w, i)
							pipe.Set(ctx, key, r, 0)
							pipe.Get(ctx, key)
						}
						if _, err := pipe.Exec(ctx); err != nil {
							b.Error(err)
							return
						}
						lat[w] = append(lat[w], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
		})
	}
}
