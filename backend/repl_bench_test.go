package backend

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkReplicatedSet: pipelined SETs (16 per round trip) from
// parallel clients on a master with 0 or 1 in-process replica, async or
// with repl-ack-replicas 1 (compare ns/op between the sub-benchmarks).
func BenchmarkReplicatedSet(b *testing.B) {
	for _, bc := range []struct {
		name     string
		replicas int
		ack      int
	}{{"replicas=0", 0, 0}, {"replicas=1", 1, 0}, {"replicas=1/ack", 1, 1}} {
		b.Run(bc.name, func(b *testing.B) {
			m := startServer(b, func(c *Config) { c.ReplAckReplicas = bc.ack })
			mc := client(b, m.addr())
			ctx := context.Background()
			for i := 0; i < bc.replicas; i++ {
				r := startReplica(b, m.addr(), nil)
				waitSynced(b, mc, client(b, r.addr()))
			}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				pipe := mc.Pipeline()
				i := 0
				for pb.Next() {
					pipe.Set(ctx, "k"+strconv.Itoa(i&0xffff), "value", 0)
					if i++; i%16 == 0 {
						if _, err := pipe.Exec(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				}
				_, _ = pipe.Exec(ctx)
			})
		})
	}
}
