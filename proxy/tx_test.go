package proxy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// dedicatedInUse counts the pool's dedicated connections leased now, and
// idle.
func dedicatedInUse(p *Pool) (leased, idle int) {
	p.routeMu.Lock()
	defer p.routeMu.Unlock()
	for _, sv := range p.servers {
		l, i := sv.dedicated.counts()
		leased += l
		idle += i
	}
	return leased, idle
}

// waitNoLease waits until no dedicated connection of p is leased.
func waitNoLease(t *testing.T, p *Pool, what string) {
	t.Helper()
	eventually(t, 10*time.Second, what+": dedicated connections handed back", func() bool {
		l, _ := dedicatedInUse(p)
		return l == 0
	})
}

// keysOnShards returns n keys "<prefix>:<i>" on each of the table's first
// shards, by shard.
func keysOnShards(tbl *RouteTable, prefix string, n int) [][]string {
	out := make([][]string, tbl.Len())
	full := 0
	for i := 0; full < tbl.Len(); i++ {
		k := prefix + ":" + strconv.Itoa(i)
		s := tbl.lookupIndex([]byte(k))
		if len(out[s]) < n {
			out[s] = append(out[s], k)
			if len(out[s]) == n {
				full++
			}
		}
	}
	return out
}

type step struct {
	conn int
	args []string
}

// runSteps plays steps on conns raw connections to addr and returns the
// replies.
func runSteps(t *testing.T, addr string, conns int, steps []step) []string {
	t.Helper()
	cs := make([]*rawClient, conns)
	for i := range cs {
		cs[i] = dialRaw(t, addr)
	}
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = cs[s.conn].do(s.args...)
	}
	for _, c := range cs {
		c.nc.Close()
	}
	return out
}

// TestTransactionsDifferential plays the same transactions (WATCH
// conflicts, queued errors, runtime errors, DISCARD, UNWATCH, commands the
// proxy answers itself inside MULTI) on two connections through a 3-shard
// proxy and on a single server (redis-server, and shardis-server): every
// reply must be the same bytes.
func TestTransactionsDifferential(t *testing.T) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) { testTransactionsDifferential(t, k) })
	}
}

// testTransactionsDifferential compares a 3-shard proxy over backends of
// kind k with a single backend of the same kind.
func testTransactionsDifferential(t *testing.T, k backendKind) {
	bs := startBackends(t, k, 4)
	ref := bs[3].Addr
	tp := startTestProxy(t, yamlPool("tx", freeAddr(t), serverLines(bs[:3], weight1), `hash_tag: "{}"`, "timeout: 2000"))
	p := tp.Pool("tx")
	tbl := p.Table()
	// Tags on different shards, so transactions pin different servers.
	tags := map[int]string{}
	for i := 0; len(tags) < 3; i++ {
		tag := "{t" + strconv.Itoa(i) + "}"
		if _, ok := tags[tbl.lookupIndex([]byte(tag))]; !ok {
			tags[tbl.lookupIndex([]byte(tag))] = tag
		}
	}
	a, b, c := tags[0]+"k", tags[1]+"k", tags[2]+"k"
	s := func(conn int, args ...string) step { return step{conn, args} }
	steps := []step{
		s(0, "SET", a, "1"),
		// A watched key changed by another client: EXEC answers nil.
		s(0, "WATCH", a), s(1, "SET", a, "2"),
		s(0, "MULTI"), s(0, "INCR", a), s(0, "EXEC"), s(0, "GET", a),
		// Unchanged: EXEC runs, with the proxy's own replies in place.
		s(0, "WATCH", a), s(0, "MULTI"), s(0, "INCR", a), s(0, "PING"), s(0, "ECHO", "hi"), s(0, "GET", a), s(0, "EXEC"),
		// A command refused while queuing aborts EXEC.
		s(0, "MULTI"), s(0, "GET"), s(0, "SET", a+"x", "1"), s(0, "EXEC"), s(0, "GET", a+"x"),
		// A runtime error is one element of EXEC's array.
		s(0, "MULTI"), s(0, "SET", b, "str"), s(0, "INCR", b), s(0, "LPUSH", b, "x"), s(0, "EXEC"),
		s(0, "EXEC"), s(0, "DISCARD"),
		// Nested MULTI and WATCH inside MULTI are refused without aborting.
		s(0, "MULTI"), s(0, "MULTI"), s(0, "WATCH", a), s(0, "SET", c, "y"), s(0, "EXEC"),
		s(0, "MULTI"), s(0, "EXEC"),
		s(0, "MULTI"), s(0, "PING"), s(0, "ECHO", "only local"), s(0, "EXEC"),
		// UNWATCH forgets; DISCARD unwatches.
		s(0, "WATCH", a), s(0, "UNWATCH"), s(1, "SET", a, "5"), s(0, "MULTI"), s(0, "INCR", a), s(0, "EXEC"),
		s(0, "WATCH", c), s(0, "MULTI"), s(0, "SET", c, "1"), s(0, "DISCARD"), s(1, "SET", c, "2"),
		s(0, "MULTI"), s(0, "SET", c, "3"), s(0, "EXEC"), s(0, "GET", c),
		// Keys of a watch on one shard; the transaction on the same shard.
		s(0, "WATCH", a, a+"y"), s(1, "DEL", a+"y"), s(0, "MULTI"), s(0, "INCR", a), s(0, "EXEC"),
		s(0, "WATCH", a, a+"y"), s(1, "SET", a+"y", "1"), s(0, "MULTI"), s(0, "INCR", a), s(0, "EXEC"),
		// A blocking command inside MULTI does not block.
		s(0, "MULTI"), s(0, "BLPOP", b+"list", "0"), s(0, "RPUSH", b+"list", "v"), s(0, "EXEC"),
		// MULTI; DISCARD with nothing sent anywhere.
		s(0, "MULTI"), s(0, "DISCARD"),
		// The other connection interleaves while one is inside MULTI.
		s(0, "MULTI"), s(0, "INCR", a), s(1, "INCR", a), s(0, "GET", a), s(0, "EXEC"), s(1, "GET", a),
		// RESET leaves MULTI.
		s(0, "MULTI"), s(0, "INCR", a), s(0, "RESET"), s(0, "EXEC"), s(0, "GET", a),
	}
	want := runSteps(t, ref, 2, steps)
	got := runSteps(t, tp.addrs["tx"], 2, steps)
	for i := range steps {
		if got[i] != want[i] {
			t.Errorf("step %d %v on connection %d: proxy %q, redis-server %q", i, steps[i].args, steps[i].conn, got[i], want[i])
		}
	}
	// Pipelined in one write: the client's own write after WATCH makes
	// EXEC fail; reads between WATCH and MULTI see the shard's data.
	pipeline := [][]string{
		{"SET", a, "10"}, {"WATCH", a}, {"SET", a, "11"}, {"MULTI"}, {"INCR", a}, {"EXEC"}, {"GET", a},
		{"WATCH", a, a + "z"}, {"GET", a}, {"MGET", a, a + "z", b}, {"MULTI"}, {"INCR", a}, {"EXEC"},
		{"WATCH", b}, {"SET", c, "other shard"}, {"MULTI"}, {"INCR", b + "n"}, {"EXEC"},
	}
	pipe := func(addr string) []string {
		rc := dialRaw(t, addr)
		var b strings.Builder
		for _, args := range pipeline {
			b.WriteString(cmd(args...))
		}
		rc.send(b.String())
		out := make([]string, len(pipeline))
		for i := range out {
			out[i] = rc.reply()
		}
		return out
	}
	want = pipe(ref)
	got = pipe(tp.addrs["tx"])
	for i := range pipeline {
		if got[i] != want[i] {
			t.Errorf("pipelined %v: proxy %q, redis-server %q", pipeline[i], got[i], want[i])
		}
	}
	waitNoLease(t, p, "after the script")
	dials, leases := int64(0), int64(0)
	p.routeMu.Lock()
	for _, sv := range p.servers {
		dials += sv.dedicated.dials.Load()
		leases += sv.dedicated.leases.Load()
	}
	p.routeMu.Unlock()
	t.Logf("%d transactions on dedicated connections, %d dialed", leases, dials)
	if leases < 10 || dials > 6 {
		t.Errorf("%d leases, %d dials: want dedicated connections pooled", leases, dials)
	}
}

// TestTransactionsConcurrent: clients increment counters with WATCH/GET/
// MULTI/SET/EXEC and retry on conflict (optimistic locking), through the
// proxy and against one server of the same kind: the counters end the
// same, no increment lost or doubled.
func TestTransactionsConcurrent(t *testing.T) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) { testTransactionsConcurrent(t, k) })
	}
}

func testTransactionsConcurrent(t *testing.T, k backendKind) {
	bs := startBackends(t, k, 4)
	tp := startTestProxy(t, yamlPool("tx", freeAddr(t), serverLines(bs[:3], weight1), `hash_tag: "{}"`, "timeout: 2000"))
	p := tp.Pool("tx")
	const clients, incs = 8, 25
	counters := []string{"{c0}n", "{c1}n", "{c2}n", "{c3}n"}
	run := func(addr string) (vals []string, conflicts int) {
		c := client(t, addr, func(o *redis.Options) { o.PoolSize = clients })
		ctx := context.Background()
		var mu sync.Mutex
		var wg sync.WaitGroup
		errc := make(chan error, clients)
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < incs; i++ {
					key := counters[(w+i)%len(counters)]
					for {
						err := c.Watch(ctx, func(tx *redis.Tx) error {
							n, err := tx.Get(ctx, key).Int()
							if err != nil && !errors.Is(err, redis.Nil) {
								return err
							}
							_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
								pipe.Set(ctx, key, n+1, 0)
								pipe.Incr(ctx, key+":ops")
								return nil
							})
							return err
						}, key)
						if errors.Is(err, redis.TxFailedErr) {
							mu.Lock()
							conflicts++
							mu.Unlock()
							continue
						}
						if err != nil {
							errc <- err
							return
						}
						break
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatalf("%s: %v", addr, err)
		}
		for _, k := range counters {
			v, _ := c.Get(ctx, k).Result()
			ops, _ := c.Get(ctx, k+":ops").Result()
			vals = append(vals, k+"="+v+"/"+ops)
		}
		return vals, conflicts
	}
	want, refConflicts := run(bs[3].Addr)
	got, conflicts := run(tp.addrs["tx"])
	t.Logf("conflicts retried: proxy %d, single server %d", conflicts, refConflicts)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counters through the proxy %v, on redis-server %v", got, want)
	}
	total := 0
	for _, v := range got {
		var n, ops int
		fmt.Sscanf(v[len("{c0}n="):], "%d/%d", &n, &ops)
		if n != ops {
			t.Errorf("%s: value and committed transactions differ", v)
		}
		total += n
	}
	if total != clients*incs {
		t.Errorf("%d increments committed, want %d", total, clients*incs)
	}
	waitNoLease(t, p, "after the workload")
}

// TestTransactionCrossSlot: a key of another shard inside MULTI gets
// -CROSSSLOT and makes EXEC abort, as a queued error does in Redis;
// nothing of the transaction is applied; WATCH over two shards is
// refused; a client gone inside MULTI hands its connection back and its
// transaction is not applied.
func TestTransactionCrossSlot(t *testing.T) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) {
			bs := startBackends(t, k, 3)
			tp := startTestProxy(t, yamlPool("tx", freeAddr(t), serverLines(bs, weight1), "timeout: 2000"))
			p := tp.Pool("tx")
			ks := keysOnShards(p.Table(), "key", 2)
			a, a2, b := ks[0][0], ks[0][1], ks[1][0]
			rc := dialRaw(t, tp.addrs["tx"])
			runExchanges(t, rc, []exchange{
				{[]string{"MULTI"}, "+OK\r\n"},
				{[]string{"SET", a, "1"}, "+QUEUED\r\n"},
				{[]string{"SET", b, "1"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
				{[]string{"SET", a2, "1"}, "+QUEUED\r\n"},
				{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors.\r\n"},
				{[]string{"MGET", a, a2, b}, "*3\r\n$-1\r\n$-1\r\n$-1\r\n"},
				// The first key decides, also when it comes from WATCH.
				{[]string{"WATCH", a, b}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
				{[]string{"WATCH", b}, "+OK\r\n"},
				{[]string{"MULTI"}, "+OK\r\n"},
				{[]string{"MSET", a, "1", a2, "2"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
				{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors.\r\n"},
				// Commands that span shards or change the connection's mode.
				{[]string{"MULTI"}, "+OK\r\n"},
				{[]string{"SCAN", "0"}, "-ERR 'scan' is not supported inside MULTI by shardis-proxy\r\n"},
				{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors.\r\n"},
				// And the connection works on.
				{[]string{"MULTI"}, "+OK\r\n"},
				{[]string{"MSET", a, "1", a2, "2"}, "+QUEUED\r\n"},
				{[]string{"EXEC"}, "*1\r\n+OK\r\n"},
				{[]string{"MGET", a, a2, b}, "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"},
			})
			waitNoLease(t, p, "after EXEC")

			// Gone inside MULTI: nothing applied, the connection comes back.
			gone := dialRaw(t, tp.addrs["tx"])
			runExchanges(t, gone, []exchange{
				{[]string{"MULTI"}, "+OK\r\n"},
				{[]string{"SET", b, "never"}, "+QUEUED\r\n"},
			})
			if l, _ := dedicatedInUse(p); l != 1 {
				t.Errorf("%d dedicated connections leased inside MULTI, want 1", l)
			}
			gone.nc.Close()
			waitNoLease(t, p, "after the client left inside MULTI")
			runExchanges(t, rc, []exchange{
				{[]string{"GET", b}, "$-1\r\n"},
				// The handed-back connection is clean: a new transaction
				// on it runs alone.
				{[]string{"MULTI"}, "+OK\r\n"},
				{[]string{"INCR", b}, "+QUEUED\r\n"},
				{[]string{"EXEC"}, "*1\r\n:1\r\n"},
			})
		})
	}
}
