package backend

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkKeyspaceParallel runs the SET path (lock the key's shard,
// insert, emit to the stream, unlock) and the GET path from parallel
// goroutines, without the network: run with -cpu 1,2,4 to see the sharded
// keyspace scale with cores.
func BenchmarkKeyspaceParallel(b *testing.B) {
	for _, op := range []string{"set", "get"} {
		b.Run(op, func(b *testing.B) {
			ks := NewKeyspace(NewStream(0))
			keys := make([][]byte, 100000)
			for i := range keys {
				keys[i] = []byte("key:" + strconv.Itoa(i))
				tx := &Tx{}
				tx.reset(ks, 0)
				tx.lockKey(keys[i])
				h := hashKey(keys[i])
				tx.put(tx.shardOf(h), newStringEntry(h, keys[i], []byte("xxx")), false)
				tx.unlock()
			}
			var seed atomic.Uint64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				tx := &Tx{}
				r := seed.Add(1) * 7919
				now := time.Now().UnixMilli()
				for pb.Next() {
					r = r*6364136223846793005 + 1442695040888963407
					k := keys[(r>>33)%uint64(len(keys))]
					tx.reset(ks, now)
					tx.lockKey(k)
					if op == "set" {
						h := hashKey(k)
						tx.put(tx.shardOf(h), newStringEntry(h, k, []byte("yyy")), false)
						tx.emit([]byte("SET"), k, []byte("yyy"))
					} else if _, _, ok := tx.lookupRead(k); !ok {
						b.Fatal("missing key")
					}
					tx.unlock()
				}
			})
		})
	}
}
