package proxy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/hashring"
)

func slotTopology(masters []string, ranges []string) Topology {
	t := Topology{Distribution: hashring.Slots, Hash: "crc32a", HashTag: "{}", Slots: 1024, Source: "test"}
	for i, m := range masters {
		rs, err := hashring.ParseRanges(ranges[i])
		if err != nil {
			panic(err)
		}
		t.Shards = append(t.Shards, ShardSpec{Name: fmt.Sprintf("redis-%04d", i), Master: m, Ranges: rs})
	}
	return t
}

// TestTableSwap swaps route tables under load (the path the ZooKeeper
// topology will take): requests never fail, keys written after a swap
// land where the new table says, a request in flight on a server the new
// table dropped still gets its reply, the dropped server's connections
// close after the grace period, an invalid topology is refused and a shard
// without a master answers -CLUSTERDOWN at once.
func TestTableSwap(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 3)
	a, b, c := backends[0].Addr, backends[1].Addr, backends[2].Addr
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), []string{a + ":0-511", b + ":512-1023"}, "slots: 1024", "hash: crc32a", "hash_tag: \"{}\""),
		func(o *Options) { o.retireGrace = 300 * time.Millisecond })
	pool := tp.Pool("p")
	ctx := context.Background()

	var failures atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := client(t, tp.addrs["p"], func(o *redis.Options) { o.ReadTimeout = 10 * time.Second })
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := "w" + strconv.Itoa(w) + ":" + strconv.Itoa(i%300)
				if err := cl.Set(ctx, k, i, 0).Err(); err != nil {
					failures.Add(1)
					lastErr.Store(err.Error())
				}
				if err := cl.Get(ctx, k).Err(); err != nil && !errors.Is(err, redis.Nil) {
					failures.Add(1)
					lastErr.Store(err.Error())
				}
			}
		}()
	}
	for i := 0; i < 10; i++ {
		time.Sleep(30 * time.Millisecond)
		var topo Topology
		if i%2 == 0 {
			topo = slotTopology([]string{a, b, c}, []string{"0-300", "301-700", "701-1023"})
		} else {
			topo = slotTopology([]string{b, a}, []string{"0-511", "512-1023"})
		}
		if err := pool.SetTopology(topo); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d requests failed during table swaps, e.g. %v", n, lastErr.Load())
	}
	if v := pool.Table().Version(); v != 11 {
		t.Errorf("table version %d, want 11", v)
	}

	// Keys land where the current table says.
	topo := slotTopology([]string{c, a, b}, []string{"0-99,500-1023", "100-299", "300-499"})
	if err := pool.SetTopology(topo); err != nil {
		t.Fatal(err)
	}
	ring, _ := hashring.New(topo.spec())
	rc := dialRaw(t, tp.addrs["p"])
	direct := map[string]*rawClient{}
	for _, be := range backends {
		direct[be.Addr] = dialRaw(t, be.Addr)
	}
	for i := 0; i < 100; i++ {
		k := "placed:" + strconv.Itoa(i)
		rc.do("SET", k, "x")
		owner := topo.Shards[ring.Lookup([]byte(k))].Master
		if got := direct[owner].do("GET", k); got != "$1\r\nx\r\n" {
			t.Fatalf("key %s not on %s: %q", k, owner, got)
		}
	}

	// A request in flight on a server the next table drops completes.
	k := "inflight"
	for ring.Lookup([]byte(k)) != 0 {
		k += "x"
	}
	rc.do("SET", k, "before")
	backends[2].Pause()
	rc.send(cmd("GET", k))
	time.Sleep(50 * time.Millisecond)
	if err := pool.SetTopology(slotTopology([]string{a, b}, []string{"0-511", "512-1023"})); err != nil {
		t.Fatal(err)
	}
	backends[2].Resume()
	if got := rc.reply(); got != "$6\r\nbefore\r\n" {
		t.Errorf("in-flight request on a dropped server: %q", got)
	}
	// The dropped server closes after the grace period.
	deadline := time.Now().Add(5 * time.Second)
	for {
		pool.routeMu.Lock()
		_, still := pool.servers[c]
		pool.routeMu.Unlock()
		if !still {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dropped server still open after its grace period")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := direct[c].do("INFO", "clients"); !containsField(got, "connected_clients:1") {
		t.Errorf("dropped server still has proxy connections: %q", got)
	}

	// An invalid topology is refused; the table stays.
	before := pool.Table()
	bad := slotTopology([]string{a, b}, []string{"0-500", "600-1023"})
	if err := pool.SetTopology(bad); err == nil {
		t.Fatal("a topology leaving slots uncovered was accepted")
	}
	if pool.Table() != before {
		t.Fatal("the table changed after a refused topology")
	}

	// A shard without a master answers at once.
	masterless := slotTopology([]string{a, ""}, []string{"0-511", "512-1023"})
	if err := pool.SetTopology(masterless); err != nil {
		t.Fatal(err)
	}
	k = "nomaster"
	for pool.Table().lookupIndex([]byte(k)) != 1 {
		k += "x"
	}
	if got := rc.do("GET", k); got != "-CLUSTERDOWN shard redis-0001 has no master\r\n" {
		t.Errorf("masterless shard: %q", got)
	}
	if got := rc.do("MGET", k, "a", "b", "c"); got != "-CLUSTERDOWN shard redis-0001 has no master\r\n" {
		t.Errorf("MGET touching a masterless shard: %q", got)
	}
}

func containsField(info, field string) bool {
	for _, l := range splitLines(info) {
		if l == field {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		line := s[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		out = append(out, line)
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
