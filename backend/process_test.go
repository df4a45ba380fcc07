package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// TestKill9Recovery: the real binary, kill -9 mid-life, restart: data and
// absolute expiries are back (a restart does not extend TTLs), keys that
// expired while down stay gone.
func TestKill9Recovery(t *testing.T) {
	for _, fsync := range []string{"everysec", "always"} {
		t.Run(fsync, func(t *testing.T) {
			p := harness.StartShardisServer(t, "", "--appendonly", "yes", "--appendfsync", fsync)
			rdb := client(t, p.Addr)
			ctx := context.Background()
			for i := 0; i < 2000; i++ {
				k := "k" + strconv.Itoa(i)
				switch i % 4 {
				case 0:
					rdb.Set(ctx, k, "v"+strconv.Itoa(i), 0)
				case 1:
					rdb.Set(ctx, k, "v"+strconv.Itoa(i), 1000*time.Second)
				case 2:
					rdb.Set(ctx, k, "v"+strconv.Itoa(i), 300*time.Millisecond)
				case 3:
					rdb.IncrBy(ctx, k, int64(i))
					rdb.Expire(ctx, k, 2000*time.Second)
				}
			}
			before := dump(t, rdb)
			p.Kill()
			time.Sleep(400 * time.Millisecond)
			if err := p.Restart(); err != nil {
				t.Fatal(err)
			}
			rdb2 := client(t, p.Addr)
			after := dump(t, rdb2)
			for k, v := range before {
				i, _ := strconv.Atoi(k[1:])
				if i%4 == 2 {
					if _, ok := after[k]; ok {
						t.Fatalf("%s expired while down but is back: %s", k, after[k])
					}
					continue
				}
				if after[k] != v {
					t.Fatalf("%s: before %s, after %s", k, v, after[k])
				}
			}
			if len(after) != 1500 {
				t.Fatalf("%d keys after restart, want 1500", len(after))
			}
		})
	}
}

// TestKill9AcknowledgedWrites: with appendfsync always, every write a
// client got a reply for survives kill -9 during a concurrent write load.
func TestKill9AcknowledgedWrites(t *testing.T) {
	p := harness.StartShardisServer(t, "", "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	var acked sync.Map
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: p.Addr, Protocol: 2, MaxRetries: -1})
			defer rdb.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d:%d", w, i)
				if err := rdb.Set(ctx, k, "v", 0).Err(); err != nil {
					return
				}
				acked.Store(k, true)
				n.Add(1)
			}
		}()
	}
	for n.Load() < 3000 {
		time.Sleep(5 * time.Millisecond)
	}
	p.Kill()
	close(stop)
	wg.Wait()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	rdb := client(t, p.Addr)
	missing := 0
	acked.Range(func(k, _ any) bool {
		if err := rdb.Get(ctx, k.(string)).Err(); errors.Is(err, redis.Nil) {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, n.Load())
	}
}

// TestSIGTERMFlushes: SIGTERM writes and fsyncs the AOF before exiting
// (appendfsync no: nothing else would have fsynced).
func TestSIGTERMFlushes(t *testing.T) {
	p := harness.StartShardisServer(t, "", "--appendonly", "yes", "--appendfsync", "no")
	rdb := client(t, p.Addr)
	ctx := context.Background()
	for i := 0; i < 500; i++ {
		rdb.Set(ctx, "k"+strconv.Itoa(i), "v", 0)
	}
	if !p.Term(10 * time.Second) {
		t.Fatal("did not exit on SIGTERM")
	}
	if err := p.ExitErr(); err != nil {
		t.Fatalf("exit status: %v", err)
	}
	if !strings.Contains(p.Tail(4096), "Calling fsync() on the AOF file") {
		t.Fatalf("log: %s", p.Tail(4096))
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if n := client(t, p.Addr).DBSize(ctx).Val(); n != 500 {
		t.Fatalf("dbsize after restart %d", n)
	}
}
