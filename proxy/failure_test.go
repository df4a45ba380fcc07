package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// keysByServer returns n keys owned by each server of the pool's table.
func keysByServer(t testing.TB, table *hashring.Table, n int) [][]string {
	out := make([][]string, table.Len())
	for i := 0; ; i++ {
		k := fmt.Sprintf("key:%d:%x", i, i*40503)
		s := table.Lookup([]byte(k))
		if len(out[s]) < n {
			out[s] = append(out[s], k)
		}
		done := true
		for _, ks := range out {
			done = done && len(ks) == n
		}
		if done {
			return out
		}
		if i > 1e6 {
			t.Fatal("cannot find keys for every server")
		}
	}
}

func parsePools(t testing.TB, yaml string) []*conf.Pool {
	pools, err := conf.Parse("test.yml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return pools
}

func specTable(t testing.TB, p *conf.Pool, ejected []bool) *hashring.Table {
	tb, err := hashring.NewWithout(p.Spec(), ejected)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestBackendKilledMidLoad kills one of three backends under load: clients
// of the other shards see no error at all, the dead shard's keys get
// "-ERR backend <addr>: ..." replies at once (never a client timeout), and
// once the backend is restarted the proxy reconnects by itself.
func TestBackendKilledMidLoad(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 3)
	yaml := yamlPool("p", freeAddr(t), serverLines(backends, weight1), "timeout: 2000", "server_connections: 2")
	tp := startTestProxy(t, yaml)
	keys := keysByServer(t, specTable(t, parsePools(t, yaml)[0], nil), 20)

	type tally struct {
		ok, backendErr, other atomic.Int64
		lastOther             atomic.Value
	}
	tallies := make([]*tally, len(backends))
	var recovered atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	ctx := context.Background()
	for b := range backends {
		tallies[b] = &tally{}
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := client(t, tp.addrs["p"], func(o *redis.Options) { o.ReadTimeout = 3 * time.Second })
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := keys[b][i%len(keys[b])]
					err := c.Set(ctx, k, i, 0).Err()
					if err == nil {
						err = c.Get(ctx, k).Err()
					}
					var rerr redis.Error
					switch {
					case err == nil:
						tallies[b].ok.Add(1)
						if b == 0 && tallies[0].backendErr.Load() > 0 {
							recovered.Store(true)
						}
					case errors.As(err, &rerr) && strings.HasPrefix(err.Error(), "ERR backend "+backends[b].Addr+": "):
						tallies[b].backendErr.Add(1)
					default:
						tallies[b].other.Add(1)
						tallies[b].lastOther.Store(err.Error())
					}
				}
			}()
		}
	}
	time.Sleep(500 * time.Millisecond)
	backends[0].Kill()
	time.Sleep(time.Second)
	errsWhileDown := tallies[0].backendErr.Load()
	if err := backends[0].Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !recovered.Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	for b, tl := range tallies {
		t.Logf("shard %d: %d ok, %d backend errors, %d other errors", b, tl.ok.Load(), tl.backendErr.Load(), tl.other.Load())
		if tl.other.Load() > 0 {
			t.Errorf("shard %d: %d unexpected errors, e.g. %v", b, tl.other.Load(), tl.lastOther.Load())
		}
		if b > 0 && tl.backendErr.Load() > 0 {
			t.Errorf("shard %d was disturbed by the failure of shard 0: %d errors", b, tl.backendErr.Load())
		}
		if tl.ok.Load() == 0 {
			t.Errorf("shard %d: no request succeeded", b)
		}
	}
	if errsWhileDown < 10 {
		t.Errorf("only %d error replies while the backend was down: requests hang instead of failing at once", errsWhileDown)
	}
	if !recovered.Load() {
		t.Errorf("the proxy did not reconnect to the restarted backend within 10 s")
	}
}

// TestTimeout pauses a backend (SIGSTOP): its keys get
// "-ERR backend <addr>: timeout" after the pool's timeout, every request
// queued behind on that connection too, other shards keep working, and
// after SIGCONT the shard serves again.
func TestTimeout(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 2)
	yaml := yamlPool("p", freeAddr(t), serverLines(backends, weight1), "timeout: 300")
	tp := startTestProxy(t, yaml)
	keys := keysByServer(t, specTable(t, parsePools(t, yaml)[0], nil), 3)
	rc := dialRaw(t, tp.addrs["p"])
	if r := rc.do("SET", keys[0][0], "x"); r != "+OK\r\n" {
		t.Fatal(r)
	}
	backends[0].Pause()
	defer backends[0].Resume()
	start := time.Now()
	rc.send(cmd("GET", keys[0][0]) + cmd("GET", keys[1][0]) + cmd("GET", keys[0][1]))
	want := "-ERR backend " + backends[0].Addr + ": timeout\r\n"
	other := dialRaw(t, tp.addrs["p"])
	if r := other.do("SET", keys[1][1], "y"); r != "+OK\r\n" {
		t.Errorf("other shard during the stall: %q", r)
	}
	for i, w := range []string{want, "$-1\r\n", want} {
		if r := rc.reply(); r != w {
			t.Errorf("reply %d: %q, want %q", i, r, w)
		}
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second {
		t.Errorf("timeout after %v, want about 300ms", el)
	}
	if n := tp.Pool("p").Table().Shard(0).master.stats.timedout.Load(); n == 0 {
		t.Errorf("server_timedout not counted")
	}
	backends[0].Resume()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := rc.do("GET", keys[0][0])
		if r == "$1\r\nx\r\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard not back after SIGCONT: %q", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServerDown: a server nobody listens on fails requests at once with
// the connection error, not after a timeout.
func TestServerDown(t *testing.T) {
	dead := freeAddr(t)
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), []string{dead + ":1"}))
	rc := dialRaw(t, tp.addrs["p"])
	for i := 0; i < 20; i++ {
		start := time.Now()
		r := rc.do("GET", "k")
		if r != "-ERR backend "+dead+": connection refused\r\n" {
			t.Fatalf("%q", r)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("error after %v", el)
		}
	}
}

// TestAutoEject follows twemproxy's auto_eject_hosts: after
// server_failure_limit failures a dead server leaves the ketama
// distribution (its keys go where hashring.NewWithout says), and it comes
// back only once it answers PING: a restarted but stopped (SIGSTOP)
// server stays out until SIGCONT.
func TestAutoEject(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 3)
	yaml := yamlPool("p", freeAddr(t), serverLines(backends, weight1),
		"timeout: 400", "auto_eject_hosts: true", "server_failure_limit: 2", "server_retry_timeout: 300")
	tp := startTestProxy(t, yaml)
	cfg := parsePools(t, yaml)[0]
	keys := keysByServer(t, specTable(t, cfg, nil), 30)
	without0 := specTable(t, cfg, []bool{true, false, false})
	rc := dialRaw(t, tp.addrs["p"])
	pool := tp.Pool("p")

	backends[0].Kill()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := rc.do("SET", keys[0][0], "moved")
		if r == "+OK\r\n" {
			break
		}
		if !strings.HasPrefix(r, "-ERR backend "+backends[0].Addr+": ") || time.Now().After(deadline) {
			t.Fatalf("before ejection: %q", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pool.stats.serverEjects.Load() != 1 {
		t.Errorf("server_ejects = %d", pool.stats.serverEjects.Load())
	}
	// Shard 0's keys now live where twemproxy would put them.
	for _, k := range keys[0] {
		if r := rc.do("SET", k, "v"); r != "+OK\r\n" {
			t.Fatalf("SET %s: %q", k, r)
		}
		owner := without0.Lookup([]byte(k))
		if r := dialRaw(t, backends[owner].Addr).do("GET", k); r != "$1\r\nv\r\n" {
			t.Fatalf("key %s not on backend %d after ejection: %q", k, owner, r)
		}
	}
	// Restarted but not answering: it must stay ejected.
	if err := backends[0].Restart(); err != nil {
		t.Fatal(err)
	}
	backends[0].Pause()
	time.Sleep(time.Second) // more than three retry periods
	if !pool.Table().shards[0].master.ejected() {
		t.Fatalf("a server that does not answer PING was put back")
	}
	backends[0].Resume()
	deadline = time.Now().Add(5 * time.Second)
	// Back: not ejected, and the route table rebuilt after the revival
	// (the flag clears first) routes its keys to it again.
	for pool.Table().shards[0].master.ejected() || pool.Table().lookupIndex([]byte(keys[0][1])) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("server not back 5 s after it answers again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Its keys route to it again.
	if r := rc.do("SET", keys[0][1], "back"); r != "+OK\r\n" {
		t.Fatalf("%q", r)
	}
	if r := dialRaw(t, backends[0].Addr).do("GET", keys[0][1]); r != "$4\r\nback\r\n" {
		t.Fatalf("key of the revived server not on it: %q", r)
	}
}
