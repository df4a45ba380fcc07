package proxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// backendKind starts the backends of a test: Debian's redis-server or the
// in-tree shardis-server.
type backendKind struct {
	name  string
	start func(t testing.TB) *harness.Proc
	// streams: the backend has streams (redis-server); shardis-server
	// has every other type.
	streams bool
}

var backendKinds = []backendKind{
	{"redis-server", func(t testing.TB) *harness.Proc { return harness.StartRedis(t) }, true},
	{"shardis-server", func(t testing.TB) *harness.Proc { return harness.StartShardisServer(t, "") }, false},
}

func startBackends(t testing.TB, k backendKind, n int) []*harness.Proc {
	procs := make([]*harness.Proc, n)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i] = k.start(t)
		}()
	}
	wg.Wait()
	for _, p := range procs {
		if p == nil {
			t.FailNow()
		}
	}
	return procs
}

func serverLines(procs []*harness.Proc, suffix func(i int) string) []string {
	var out []string
	for i, p := range procs {
		out = append(out, p.Addr+":"+suffix(i))
	}
	return out
}

func weight1(int) string { return "1" }

// mixedCommands returns n commands over a small key space, so that
// commands interact: strings, counters, multi-key commands spread over
// shards (MGET, MSET, DEL, EXISTS, UNLINK, TOUCH), same-shard commands
// on hash-tagged keys, hashes, lists, sets, sorted sets, scripts, bitmaps,
// HyperLogLogs, GEO, COPY and SORT.
func mixedCommands(rnd *rand.Rand, n int) [][]string {
	// Keys with some entropy: twemproxy's default hash (fnv1a_64, computed
	// in 32 bits) puts short similar keys like "k1", "k2" on one server.
	space := make([]string, 200)
	for i := range space {
		space[i] = fmt.Sprintf("key:%08x", rnd.Uint32())
	}
	key := func() string { return space[rnd.IntN(len(space))] }
	tagged := func() string { return "{t" + strconv.Itoa(rnd.IntN(5)) + "}" + strconv.Itoa(rnd.IntN(20)) }
	keys := func(m int) []string {
		var ks []string
		for i := 0; i < m; i++ {
			ks = append(ks, key())
		}
		return ks
	}
	val := func() string { return strings.Repeat("v", rnd.IntN(20)) + strconv.Itoa(rnd.IntN(1000)) }
	var out [][]string
	for len(out) < n {
		var c []string
		switch r := rnd.IntN(36); {
		case r < 5:
			c = []string{"SET", key(), val()}
		case r < 9:
			c = []string{"GET", key()}
		case r < 10:
			c = []string{"INCR", "n" + strconv.Itoa(rnd.IntN(20))}
		case r < 11:
			c = []string{"APPEND", key(), val()}
		case r < 13:
			c = append([]string{"MGET"}, keys(1+rnd.IntN(12))...)
		case r < 14:
			c = []string{"MSET"}
			for i := 0; i < 1+rnd.IntN(8); i++ {
				c = append(c, key(), val())
			}
		case r < 15:
			c = append([]string{"DEL"}, keys(1+rnd.IntN(5))...)
		case r < 16:
			c = append([]string{"EXISTS"}, keys(1+rnd.IntN(6))...)
		case r < 17:
			c = append([]string{"UNLINK"}, keys(1+rnd.IntN(3))...)
		case r < 18:
			c = append([]string{"TOUCH"}, keys(1+rnd.IntN(4))...)
		case r < 19:
			t := "{t" + strconv.Itoa(rnd.IntN(5)) + "}"
			c = []string{"MSETNX", t + "a", val(), t + "b", val()}
		case r < 20:
			t := "{t" + strconv.Itoa(rnd.IntN(5)) + "}"
			c = []string{"RENAME", t + "a", t + "c"}
		case r < 21:
			c = []string{"STRLEN", key()}
		case r < 22:
			c = []string{"GETRANGE", key(), "0", "3"}
		case r < 23:
			c = []string{"SETNX", key(), val()}
		case r < 24:
			c = []string{"GETSET", tagged(), val()}
		case r < 25:
			c = []string{"HSET", "h" + strconv.Itoa(rnd.IntN(10)), "f" + strconv.Itoa(rnd.IntN(5)), val()}
		case r < 26:
			c = []string{"HGETALL", "h" + strconv.Itoa(rnd.IntN(10))}
		case r < 27:
			c = []string{"RPUSH", "l" + strconv.Itoa(rnd.IntN(10)), val()}
		case r < 28:
			c = []string{"LRANGE", "l" + strconv.Itoa(rnd.IntN(10)), "0", "-1"}
		case r < 29:
			t := "{s" + strconv.Itoa(rnd.IntN(3)) + "}"
			if rnd.IntN(2) == 0 {
				c = []string{"SADD", t + strconv.Itoa(rnd.IntN(3)), strconv.Itoa(rnd.IntN(30))}
			} else {
				c = []string{"SUNIONSTORE", t + "u", t + "0", t + "1", t + "2"}
			}
		case r < 31:
			t := "{b" + strconv.Itoa(rnd.IntN(3)) + "}"
			switch rnd.IntN(4) {
			case 0:
				c = []string{"SETBIT", t + strconv.Itoa(rnd.IntN(2)), strconv.Itoa(rnd.IntN(64)), strconv.Itoa(rnd.IntN(2))}
			case 1:
				c = []string{"BITCOUNT", t + strconv.Itoa(rnd.IntN(2))}
			case 2:
				c = []string{"BITOP", "XOR", t + "x", t + "0", t + "1"}
			default:
				c = []string{"BITFIELD", t + "0", "INCRBY", "u8", "#1", strconv.Itoa(rnd.IntN(300))}
			}
		case r < 32:
			t := "{p" + strconv.Itoa(rnd.IntN(3)) + "}"
			switch rnd.IntN(3) {
			case 0:
				c = []string{"PFADD", t + strconv.Itoa(rnd.IntN(2)), val(), val(), val()}
			case 1:
				c = []string{"PFCOUNT", t + "0", t + "1"}
			default:
				c = []string{"PFMERGE", t + "m", t + "0", t + "1"}
			}
		case r < 33:
			t := "{g" + strconv.Itoa(rnd.IntN(3)) + "}"
			lon, lat := fmt.Sprintf("%.6f", rnd.Float64()*20), fmt.Sprintf("%.6f", 30+rnd.Float64()*20)
			switch rnd.IntN(3) {
			case 0:
				c = []string{"GEOADD", t + "g", lon, lat, "m" + strconv.Itoa(rnd.IntN(20))}
			case 1:
				c = []string{"GEOSEARCH", t + "g", "FROMLONLAT", lon, lat, "BYRADIUS", "800", "km", "ASC", "WITHDIST", "WITHCOORD"}
			default:
				c = []string{"GEODIST", t + "g", "m" + strconv.Itoa(rnd.IntN(20)), "m" + strconv.Itoa(rnd.IntN(20)), "km"}
			}
		case r < 34:
			t := "{t" + strconv.Itoa(rnd.IntN(5)) + "}"
			c = []string{"COPY", t + strconv.Itoa(rnd.IntN(20)), t + "copy", "REPLACE"}
		case r < 35:
			c = []string{"SORT", "l" + strconv.Itoa(rnd.IntN(10)), "ALPHA", "DESC", "LIMIT", "0", "5"}
		default:
			t := "{z" + strconv.Itoa(rnd.IntN(3)) + "}"
			switch rnd.IntN(3) {
			case 0:
				c = []string{"ZADD", t + "a", strconv.Itoa(rnd.IntN(100)), "m" + strconv.Itoa(rnd.IntN(10))}
			case 1:
				c = []string{"ZRANGE", t + "a", "0", "-1", "WITHSCORES"}
			default:
				c = []string{"EVAL", "return redis.call('incrby', KEYS[1], ARGV[1]) + #KEYS", "2", t + "e", t + "f", "3"}
			}
		}
		out = append(out, c)
	}
	return out
}

// pipeline sends every command in one write and reads the replies.
func pipeline(t testing.TB, addr string, cmds [][]string) []string {
	t.Helper()
	c := dialRaw(t, addr)
	var b strings.Builder
	for _, args := range cmds {
		b.WriteString(cmd(args...))
	}
	done := make(chan struct{})
	go func() { // the writer: replies are read while the pipeline is sent
		defer close(done)
		_, _ = c.nc.Write([]byte(b.String()))
	}()
	out := make([]string, len(cmds))
	for i := range out {
		r, err := c.readReply()
		if err != nil {
			t.Fatalf("reply %d of %d: %v", i, len(cmds), err)
		}
		out[i] = r
	}
	<-done
	return out
}

// TestPipelineDifferential sends the same 10,000 mixed commands, in one
// pipeline, to the proxy over 3 backends and to a lone redis-server: the
// replies must be identical, in order. Run for both backend kinds.
func TestPipelineDifferential(t *testing.T) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			backends := startBackends(t, k, 3)
			ref := harness.StartRedis(t)
			tp := startTestProxy(t, yamlPool("p", freeAddr(t), serverLines(backends, weight1), "hash_tag: \"{}\""))
			cmds := mixedCommands(rand.New(rand.NewPCG(7, uint64(len(k.name)))), 10000)
			got := pipeline(t, tp.addrs["p"], cmds)
			want := pipeline(t, ref.Addr, cmds)
			diffs := 0
			for i := range cmds {
				if got[i] != want[i] {
					if diffs < 5 {
						t.Errorf("command %d %q: proxy %q, redis %q", i, cmds[i], got[i], want[i])
					}
					diffs++
				}
			}
			if diffs > 0 {
				t.Fatalf("%d of %d replies differ", diffs, len(cmds))
			}
			// The split commands were really spread over the shards.
			if f := tp.Pool("p").stats.fragments.Load(); f < 1000 {
				t.Errorf("only %d fragments: multi-key commands were not split", f)
			}
			// Every backend got a share.
			for _, b := range backends {
				rc := dialRaw(t, b.Addr)
				if r := rc.do("DBSIZE"); r == ":0\r\n" {
					t.Errorf("backend %s holds no key", b.Addr)
				}
			}
		})
	}
}

// TestGoRedisEndToEnd drives the proxy with go-redis (its handshake:
// HELLO 3 refused, then RESP2, CLIENT SETINFO) from concurrent clients,
// pipelines included, and checks every value.
func TestGoRedisEndToEnd(t *testing.T) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			backends := startBackends(t, k, 3)
			tp := startTestProxy(t, yamlPool("p", freeAddr(t), serverLines(backends, weight1), "hash_tag: \"{}\"", "timeout: 2000"))
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := client(t, tp.addrs["p"], func(o *redis.Options) { o.ClientName = "w" + strconv.Itoa(w) })
					if err := goRedisWorkload(ctx, c, w); err != nil {
						errs <- fmt.Errorf("worker %d: %w", w, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func goRedisWorkload(ctx context.Context, c *redis.Client, w int) error {
	p := "w" + strconv.Itoa(w) + ":"
	for i := 0; i < 200; i++ {
		k := p + strconv.Itoa(i)
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			return err
		}
	}
	var keys []string
	for i := 0; i < 200; i++ {
		keys = append(keys, p+strconv.Itoa(i))
	}
	vals, err := c.MGet(ctx, append(keys, p+"missing")...).Result()
	if err != nil {
		return err
	}
	for i, v := range vals[:200] {
		if v != strconv.Itoa(i) {
			return fmt.Errorf("MGET %s = %v", keys[i], v)
		}
	}
	if vals[200] != nil {
		return fmt.Errorf("MGET of a missing key = %v", vals[200])
	}
	if n, err := c.Exists(ctx, keys[:50]...).Result(); err != nil || n != 50 {
		return fmt.Errorf("EXISTS = %d, %v", n, err)
	}
	pipe := c.Pipeline()
	incrs := make([]*redis.IntCmd, 100)
	for i := range incrs {
		incrs[i] = pipe.Incr(ctx, p+"ctr")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for i, r := range incrs {
		if r.Val() != int64(i+1) {
			return fmt.Errorf("pipelined INCR %d = %d", i, r.Val())
		}
	}
	if err := c.MSet(ctx, p+"a", "1", p+"b", "2", p+"c", "3").Err(); err != nil {
		return err
	}
	if n, err := c.Del(ctx, keys...).Result(); err != nil || n != 200 {
		return fmt.Errorf("DEL = %d, %v", n, err)
	}
	if err := c.Expire(ctx, p+"a", time.Hour).Err(); err != nil {
		return err
	}
	if ttl, err := c.TTL(ctx, p+"a").Result(); err != nil || ttl < 59*time.Minute {
		return fmt.Errorf("TTL = %v, %v", ttl, err)
	}
	tag := "{" + p + "}"
	if err := c.Set(ctx, tag+"x", "1", 0).Err(); err != nil {
		return err
	}
	if err := c.Rename(ctx, tag+"x", tag+"y").Err(); err != nil {
		return err
	}
	if name, err := c.ClientGetName(ctx).Result(); err != nil || name != "w"+strconv.Itoa(w) {
		return fmt.Errorf("CLIENT GETNAME = %q, %v", name, err)
	}
	if err := c.HSet(ctx, p+"h", "f", "v").Err(); err != nil {
		return err
	}
	if v, err := c.HGet(ctx, p+"h", "f").Result(); err != nil || v != "v" {
		return fmt.Errorf("HGET = %q, %v", v, err)
	}
	script := redis.NewScript("return redis.call('incrby', KEYS[1], ARGV[1])")
	if v, err := script.Run(ctx, c, []string{tag + "n"}, 5).Int(); err != nil || v != 5 {
		return fmt.Errorf("script = %d, %v", v, err)
	}
	if err := c.SetBit(ctx, p+"bits", 100, 1).Err(); err != nil {
		return err
	}
	if n, err := c.BitCount(ctx, p+"bits", nil).Result(); err != nil || n != 1 {
		return fmt.Errorf("BITCOUNT = %d, %v", n, err)
	}
	if err := c.PFAdd(ctx, p+"hll", "a", "b", "c", "a").Err(); err != nil {
		return err
	}
	if n, err := c.PFCount(ctx, p+"hll").Result(); err != nil || n != 3 {
		return fmt.Errorf("PFCOUNT = %d, %v", n, err)
	}
	if err := c.GeoAdd(ctx, p+"geo", &redis.GeoLocation{Name: "Palermo", Longitude: 13.361389, Latitude: 38.115556},
		&redis.GeoLocation{Name: "Catania", Longitude: 15.087269, Latitude: 37.502669}).Err(); err != nil {
		return err
	}
	if d, err := c.GeoDist(ctx, p+"geo", "Palermo", "Catania", "km").Result(); err != nil || d < 166.27 || d > 166.28 {
		return fmt.Errorf("GEODIST = %v, %v", d, err)
	}
	return nil
}
