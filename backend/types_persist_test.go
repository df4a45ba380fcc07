package backend

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// TestTypesKill9AndRewrite: every collection type, small and large, with
// and without expiry, written by plain commands, transactions, blocking
// pops, SPOP and float increments, survives kill -9 and restart, then an
// AOF rewrite, kill -9 and restart: the full dump (type, content, absolute
// expiry) is identical each time.
func TestTypesKill9AndRewrite(t *testing.T) {
	p := harness.StartShardisServer(t, "", "--appendonly", "yes", "--appendfsync", "everysec")
	rdb := client(t, p.Addr)
	populateTypes(t, rdb)
	before := dumpAll(t, rdb)
	if len(before) < 40 {
		t.Fatalf("only %d keys populated", len(before))
	}
	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	rdb = client(t, p.Addr)
	compareDumps(t, "after kill -9", before, dumpAll(t, rdb))

	// More writes, then a rewrite, more writes during and after it.
	ctx := context.Background()
	rdb.RPush(ctx, "after:list", "a", "b")
	if err := rdb.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.ZAdd(ctx, "after:zset", redis.Z{Score: 1, Member: "x"})
	awaitRewrites(t, rdb, 1)
	rdb.HSet(ctx, "after:hash", "f", "v")
	before = dumpAll(t, rdb)
	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	rdb = client(t, p.Addr)
	compareDumps(t, "after rewrite and kill -9", before, dumpAll(t, rdb))
}

// TestTypesSnapshotFile: SAVE with AOF off writes every type to the
// snapshot file, which a restart loads.
func TestTypesSnapshotFile(t *testing.T) {
	dir := t.TempDir()
	mut := func(c *Config) {}
	s := startServerIn(t, dir, mut)
	rdb := client(t, s.addr())
	populateTypes(t, rdb)
	before := dumpAll(t, rdb)
	if err := rdb.Save(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	s2 := startServerIn(t, dir, mut)
	compareDumps(t, "after SAVE and restart", before, dumpAll(t, client(t, s2.addr())))
}

// startServerIn is startServer with a given data directory.
func startServerIn(t *testing.T, dir string, mut func(*Config)) *Server {
	return startServer(t, func(c *Config) {
		c.Dir = dir
		mut(c)
	})
}

func awaitRewrites(t *testing.T, rdb *redis.Client, atLeast int) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		info := rdb.Info(context.Background(), "persistence").Val()
		if strings.Contains(info, "aof_rewrite_in_progress:0") && infoField(info, "aof_rewrites") >= atLeast {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("AOF rewrite did not finish")
}

func infoField(info, field string) int {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// populateTypes writes a mix of every type through many commands.
func populateTypes(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	do := func(args ...any) {
		if err := rdb.Do(ctx, args...).Err(); err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	for i := 0; i < 8; i++ {
		k := strconv.Itoa(i)
		do("HSET", "hash:"+k, "a", "1", "b", "two", "c", strings.Repeat("x", 10*i))
		do("HINCRBY", "hash:"+k, "n", i)
		do("HINCRBYFLOAT", "hash:"+k, "f", "0.1")
		do("HINCRBYFLOAT", "hash:"+k, "f", "0.2")
		do("RPUSH", "list:"+k, "a", "b", "c", k)
		do("LPUSH", "list:"+k, "z")
		do("LINSERT", "list:"+k, "BEFORE", "b", "ins")
		do("SADD", "iset:"+k, 1, 2, 3, i*100)
		do("SADD", "sset:"+k, "a", "b", "c"+k)
		do("ZADD", "zset:"+k, 1, "a", 2.5, "b", "-inf", "c", "inf", "d", 0.1, "e")
		do("ZINCRBY", "zset:"+k, 0.2, "e")
		if i%2 == 0 {
			for _, p := range []string{"hash:", "list:", "iset:", "sset:", "zset:"} {
				do("PEXPIREAT", p+k, future+int64(i))
			}
		}
	}
	// Large ones: past every compact encoding.
	args := []any{"HSET", "hash:big"}
	for i := 0; i < 3000; i++ {
		args = append(args, "field"+strconv.Itoa(i), "value"+strconv.Itoa(i))
	}
	do(args...)
	args = []any{"RPUSH", "list:big"}
	for i := 0; i < 20000; i++ {
		args = append(args, "e"+strconv.Itoa(i))
	}
	do(args...)
	do("LTRIM", "list:big", 100, 15099)
	do("LREM", "list:big", 0, "e200")
	do("LSET", "list:big", 5000, "changed")
	args = []any{"SADD", "iset:big"}
	for i := 0; i < 2000; i++ {
		args = append(args, i*7)
	}
	do(args...)
	args = []any{"SADD", "sset:big"}
	for i := 0; i < 2000; i++ {
		args = append(args, "member"+strconv.Itoa(i))
	}
	do(args...)
	do("SPOP", "sset:big", 100)
	do("SREM", "sset:big", "member5", "member6")
	args = []any{"ZADD", "zset:big"}
	for i := 0; i < 5000; i++ {
		args = append(args, float64(i)/3, "m"+strconv.Itoa(i))
	}
	do(args...)
	do("ZREMRANGEBYRANK", "zset:big", 0, 99)
	do("ZREMRANGEBYSCORE", "zset:big", 100, 200)
	do("ZPOPMAX", "zset:big", 10)
	do("ZUNIONSTORE", "zset:union", 2, "zset:big", "zset:1", "WEIGHTS", 2, 0.5)
	do("ZINTERSTORE", "zset:inter", 2, "zset:0", "zset:1", "AGGREGATE", "MAX")
	do("SUNIONSTORE", "sset:union", "sset:0", "sset:1", "iset:1")
	do("SINTERSTORE", "iset:inter", "iset:1", "iset:2")
	do("ZRANGESTORE", "zset:range", "zset:big", 10, 20)
	do("RENAME", "list:7", "list:renamed")
	do("SMOVE", "sset:0", "sset:moved", "a")
	do("LMOVE", "list:1", "list:moved", "LEFT", "RIGHT")
	do("BLPOP", "list:2", 1)
	do("BZPOPMIN", "zset:2", 1)
	do("BLMOVE", "list:3", "list:3", "LEFT", "RIGHT", 1)
	do("LMPOP", 2, "nolist", "list:4", "RIGHT", "COUNT", 2)
	do("ZMPOP", 1, "zset:3", "MAX", "COUNT", 2)
	// A transaction and a key served to a blocked client.
	pipe := rdb.TxPipeline()
	pipe.HSet(ctx, "tx:hash", "f", "v")
	pipe.RPush(ctx, "tx:list", "1", "2")
	pipe.ZAdd(ctx, "tx:zset", redis.Z{Score: 3, Member: "m"})
	pipe.SAdd(ctx, "tx:set", "x")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	other := client(t, rdb.Options().Addr)
	done := make(chan error, 1)
	go func() { done <- other.BRPopLPush(ctx, "served:src", "served:dst", 5*time.Second).Err() }()
	for i := 0; i < 500 && !strings.Contains(rdb.Info(ctx, "clients").Val(), "blocked_clients:1"); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	do("RPUSH", "served:src", "one", "two")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	do("SET", "plain:string", "v")
}

// dumpAll returns every key's type, content (members sorted where Redis'
// order is arbitrary) and absolute expiry.
func dumpAll(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		typ := rdb.Type(ctx, k).Val()
		var v string
		switch typ {
		case "string":
			v = rdb.Get(ctx, k).Val()
		case "hash":
			m := rdb.HGetAll(ctx, k).Val()
			var pairs []string
			for f, x := range m {
				pairs = append(pairs, f+"="+x)
			}
			sort.Strings(pairs)
			v = strings.Join(pairs, ",")
		case "list":
			v = strings.Join(rdb.LRange(ctx, k, 0, -1).Val(), ",")
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			sort.Strings(m)
			v = strings.Join(m, ",")
		case "zset":
			raw := rdb.Do(ctx, "ZRANGE", k, 0, -1, "WITHSCORES").Val()
			v = fmt.Sprint(raw)
		}
		exp := rdb.Do(ctx, "PEXPIRETIME", k).Val()
		out[k] = fmt.Sprintf("%s|%v|%s", typ, exp, v)
	}
	return out
}

func compareDumps(t *testing.T, when string, a, b map[string]string) {
	t.Helper()
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("%s: key %s:\n before %.300s\n after  %.300s", when, k, v, b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Fatalf("%s: unexpected key %s", when, k)
		}
	}
}
