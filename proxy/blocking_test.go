package proxy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// blockedClients is a backend's INFO blocked_clients.
func blockedClients(t *testing.T, addr string) int {
	t.Helper()
	s, err := direct(t, addr).Info(context.Background(), "clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, "blocked_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no blocked_clients in %s", s)
	return 0
}

// TestBlockingCommands: a client blocked in BLPOP (5 s) while 50 clients
// pipeline GET/SET through the same pool and the same server connection:
// their replies are right and they all finish while the BLPOP still
// waits (none waited for it). The client's timeout is honoured beyond
// the pool's; a client gone while blocked releases its backend
// connection and pops nothing; keys on two shards get -CROSSSLOT.
func TestBlockingCommands(t *testing.T) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) {
			bs := startBackends(t, k, 3)
			// Pool b's timeout leaves room for a loaded machine; pool short
			// (same servers) has a timeout below the clients' timeouts.
			tp := startTestProxy(t, yamlPool("b", freeAddr(t), serverLines(bs, weight1), "timeout: 5000", "server_connections: 1")+
				yamlPool("short", freeAddr(t), serverLines(bs, weight1), "timeout: 300"))
			p := tp.Pool("b")
			addr := tp.addrs["b"]
			ks := keysOnShards(p.Table(), "q", 4)
			q, q2, q3, stream, other := ks[0][0], ks[0][1], ks[0][2], ks[0][3], ks[1][0]
			master := p.Table().Shard(0).Master
			ctx := context.Background()

			blocked := dialRaw(t, addr)
			blocked.send(cmd("BLPOP", q, "5"))
			eventually(t, 5*time.Second, "the BLPOP blocked on the server", func() bool { return blockedClients(t, master) == 1 })

			const clients, rounds, perPipe = 50, 10, 20
			var wg sync.WaitGroup
			errc := make(chan error, clients)
			start := time.Now()
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, DisableIdentity: true})
					defer c.Close()
					for r := 0; r < rounds; r++ {
						pipe := c.Pipeline()
						sets := make([]*redis.StatusCmd, perPipe)
						gets := make([]*redis.StringCmd, perPipe)
						for i := 0; i < perPipe; i++ {
							key := fmt.Sprintf("w%d:%d", w, i)
							sets[i] = pipe.Set(ctx, key, fmt.Sprintf("%d-%d", r, i), 0)
							gets[i] = pipe.Get(ctx, key)
						}
						if _, err := pipe.Exec(ctx); err != nil {
							errc <- err
							return
						}
						for i := 0; i < perPipe; i++ {
							if v := gets[i].Val(); sets[i].Val() != "OK" || v != fmt.Sprintf("%d-%d", r, i) {
								errc <- fmt.Errorf("client %d round %d: SET %q, GET %q", w, r, sets[i].Val(), v)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			took := time.Since(start)
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			// The BLPOP has not been answered: nobody waited for it.
			_ = blocked.nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if s, err := blocked.readReply(); err == nil || s != "" {
				t.Fatalf("BLPOP answered %q (%v) before the element was pushed", s, err)
			}
			if blockedClients(t, master) != 1 {
				t.Fatal("the BLPOP is no longer blocked on the server")
			}
			t.Logf("%d clients x %d pipelines of %d SET+GET done in %v while a BLPOP was blocked", clients, rounds, perPipe, took)
			_ = blocked.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := client(t, addr).RPush(ctx, q, "x").Err(); err != nil {
				t.Fatal(err)
			}
			if got, want := blocked.reply(), fmt.Sprintf("*2\r\n$%d\r\n%s\r\n$1\r\nx\r\n", len(q), q); got != want {
				t.Fatalf("BLPOP: %q, want %q", got, want)
			}

			// The client's timeout (1 s), beyond the pool's (300 ms).
			blocked = dialRaw(t, tp.addrs["short"])
			t0 := time.Now()
			if got := blocked.do("BLPOP", q, "1"); got != "*-1\r\n" {
				t.Errorf("BLPOP with a 1 s timeout on an empty list: %q", got)
			}
			if d := time.Since(t0); d < 900*time.Millisecond {
				t.Errorf("BLPOP with a 1 s timeout answered after %v", d)
			}
			if got := blocked.do("BLPOP", q, "0.5"); got != "*-1\r\n" {
				t.Errorf("BLPOP with a 0.5 s timeout on an empty list: %q", got)
			}
			// No timeout at all (0): served whenever the element comes.
			blocked.send(cmd("BRPOPLPUSH", q, q2, "0") + cmd("GET", "w0:0") + cmd("LLEN", q2))
			time.Sleep(600 * time.Millisecond)
			if err := client(t, addr).RPush(ctx, q, "late").Err(); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"$4\r\nlate\r\n", "$3\r\n9-0\r\n", ":1\r\n"} {
				if got := blocked.reply(); got != want {
					t.Errorf("pipelined after BRPOPLPUSH: %q, want %q", got, want)
				}
			}
			runExchanges(t, blocked, []exchange{
				{[]string{"BLPOP", q, other, "1"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
				{[]string{"BZPOPMIN", q + "z", "0.1"}, "*-1\r\n"},
				{[]string{"BLPOP", q, "-1"}, "-ERR timeout is negative\r\n"},
			})
			if k.streams { // redis-server only
				t0 := time.Now()
				runExchanges(t, blocked, []exchange{
					{[]string{"XREAD", "BLOCK", "600", "STREAMS", stream, "$"}, "*-1\r\n"},
				})
				if d := time.Since(t0); d < 550*time.Millisecond {
					t.Errorf("XREAD BLOCK 600 answered after %v", d)
				}
				blocked.send(cmd("XREAD", "BLOCK", "0", "STREAMS", stream, "$"))
				eventually(t, 5*time.Second, "the XREAD blocked on the server", func() bool { return blockedClients(t, master) == 1 })
				if err := client(t, addr).XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: "1-1", Values: []string{"f", "v"}}).Err(); err != nil {
					t.Fatal(err)
				}
				if got, want := blocked.reply(), fmt.Sprintf("*1\r\n*2\r\n$%d\r\n%s\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n", len(stream), stream); got != want {
					t.Errorf("XREAD BLOCK 0: %q, want %q", got, want)
				}
			}
			waitNoLease(t, p, "after the blocking commands")

			// Gone while blocked: the backend connection is released (closed:
			// the server must not pop for a client that left).
			gone := dialRaw(t, addr)
			gone.send(cmd("BLPOP", q3, "0"))
			eventually(t, 5*time.Second, "the second BLPOP blocked", func() bool { return blockedClients(t, master) == 1 })
			gone.nc.Close()
			waitNoLease(t, p, "after the blocked client left")
			eventually(t, 5*time.Second, "the server unblocked", func() bool { return blockedClients(t, master) == 0 })
			if err := client(t, addr).RPush(ctx, q3, "kept").Err(); err != nil {
				t.Fatal(err)
			}
			if n, err := client(t, addr).LLen(ctx, q3).Result(); err != nil || n != 1 {
				t.Errorf("LLEN after pushing for a client that left: %d %v", n, err)
			}
		})
	}
}

// TestDedicatedReuse: a dedicated connection a session used for a
// blocking command goes back to the pool and serves another session's
// transaction; the first session leaving (abruptly) must not touch it.
func TestDedicatedReuse(t *testing.T) {
	bs := startBackends(t, backendKinds[0], 1)
	tp := startTestProxy(t, yamlPool("d", freeAddr(t), serverLines(bs, weight1), "timeout: 2000"))
	p := tp.Pool("d")
	a, b := dialRaw(t, tp.addrs["d"]), dialRaw(t, tp.addrs["d"])
	runExchanges(t, a, []exchange{{[]string{"BLPOP", "empty", "0.05"}, "*-1\r\n"}})
	waitNoLease(t, p, "after the BLPOP")
	runExchanges(t, b, []exchange{
		{[]string{"WATCH", "k"}, "+OK\r\n"}, // leases the connection the BLPOP used
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"SET", "k", "1"}, "+QUEUED\r\n"},
	})
	a.nc.Close()
	time.Sleep(200 * time.Millisecond) // a's session ends meanwhile
	runExchanges(t, b, []exchange{
		{[]string{"INCR", "k"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "*2\r\n+OK\r\n:2\r\n"},
	})
	waitNoLease(t, p, "after EXEC")
}
