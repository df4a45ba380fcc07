package backend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Helpers of the replication tests (in-process and real processes).

// replWait polls cond until it holds or d passes.
func replWait(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replInfo returns the fields of INFO sections.
func replInfo(t testing.TB, rdb *redis.Client, sections ...string) map[string]string {
	t.Helper()
	if len(sections) == 0 {
		sections = []string{"replication", "stats"}
	}
	s, err := rdb.Info(context.Background(), sections...).Result()
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, "#") {
			m[k] = v
		}
	}
	return m
}

func infoInt(t testing.TB, m map[string]string, k string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(m[k], 10, 64)
	if err != nil {
		t.Fatalf("INFO %s = %q", k, m[k])
	}
	return n
}

// replicaOf is the replicaof parameter for a server listening on addr.
func replicaOf(addr string) string {
	h, p, _ := net.SplitHostPort(addr)
	return h + " " + p
}

// startReplica starts an in-process replica of master.
func startReplica(t testing.TB, master string, mut func(*Config)) *Server {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.ReplicaOf = replicaOf(master)
		if mut != nil {
			mut(c)
		}
	})
}

// waitSynced waits until every replica's link is up and its offset is
// the master's (the master taking no writes meanwhile).
func waitSynced(t testing.TB, master *redis.Client, replicas ...*redis.Client) {
	t.Helper()
	replWait(t, 60*time.Second, "replicas in sync", func() bool {
		mi := replInfo(t, master, "replication")
		for _, r := range replicas {
			ri := replInfo(t, r, "replication")
			if ri["master_link_status"] != "up" || ri["slave_repl_offset"] != mi["master_repl_offset"] {
				return false
			}
		}
		return true
	})
}

// replDump reads every key with its type, value and expiry: the keyspace
// compared between a master and its replicas.
func replDump(t testing.TB, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	var cur uint64
	for {
		ks, next, err := rdb.Scan(ctx, cur, "*", 1000).Result()
		if err != nil {
			t.Fatalf("SCAN: %v", err)
		}
		keys = append(keys, ks...)
		if cur = next; cur == 0 {
			break
		}
	}
	out := make(map[string]string, len(keys))
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 500)]
		keys = keys[len(batch):]
		pipe := rdb.Pipeline()
		types := make([]*redis.StatusCmd, len(batch))
		for i, k := range batch {
			types[i] = pipe.Type(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("TYPE: %v", err)
		}
		pipe = rdb.Pipeline()
		vals := make([]redis.Cmder, len(batch))
		exps := make([]*redis.Cmd, len(batch))
		for i, k := range batch {
			switch types[i].Val() {
			case "string":
				vals[i] = pipe.Get(ctx, k)
			case "hash":
				vals[i] = pipe.HGetAll(ctx, k)
			case "list":
				vals[i] = pipe.LRange(ctx, k, 0, -1)
			case "set":
				vals[i] = pipe.SMembers(ctx, k)
			case "zset":
				vals[i] = pipe.ZRangeWithScores(ctx, k, 0, -1)
			default:
				vals[i] = pipe.Type(ctx, k)
			}
			exps[i] = pipe.Do(ctx, "PEXPIRETIME", k)
		}
		_, _ = pipe.Exec(ctx)
		for i, k := range batch {
			var v string
			switch c := vals[i].(type) {
			case *redis.StringCmd:
				v = fmt.Sprintf("%q", c.Val())
			case *redis.MapStringStringCmd:
				v = fmt.Sprint(c.Val())
			case *redis.StringSliceCmd:
				xs := c.Val()
				if types[i].Val() == "set" {
					xs = append([]string(nil), xs...)
					sort.Strings(xs)
				}
				v = fmt.Sprintf("%q", xs)
			case *redis.ZSliceCmd:
				v = fmt.Sprint(c.Val())
			default:
				v = fmt.Sprint(vals[i])
			}
			out[k] = types[i].Val() + ":" + v + "@" + fmt.Sprint(exps[i].Val())
		}
	}
	return out
}

// sameDump fails the test when two dumps differ, showing a few keys.
func sameDump(t testing.TB, what string, want, got map[string]string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
	}
	n := 0
	for k, v := range want {
		if got[k] != v {
			if n++; n <= 5 {
				t.Errorf("%s: key %q = %.200s, want %.200s", what, k, got[k], v)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			if n++; n <= 5 {
				t.Errorf("%s: extra key %q = %.200s", what, k, got[k])
			}
		}
	}
	if n > 0 {
		t.Fatalf("%s: %d keys differ", what, n)
	}
}

// writeMix sends n writes of every type (strings, counters, expiries,
// hashes, lists, sets, sorted sets, deletions, transactions), pipelined,
// over nkeys keys, deterministic for a seed.
func writeMix(t testing.TB, rdb *redis.Client, n, nkeys int, seed uint64) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pipe := rdb.Pipeline()
	key := func(prefix string) string { return prefix + strconv.Itoa(rng.IntN(nkeys)) }
	for i := 0; i < n; i++ {
		switch op := rng.IntN(20); op {
		case 0, 1, 2:
			pipe.Set(ctx, key("s"), "v"+strconv.Itoa(i), 0)
		case 3:
			// Long enough not to expire between the dumps compared.
			pipe.Set(ctx, key("s"), "ttl"+strconv.Itoa(i), time.Duration(100+rng.IntN(1000))*time.Second)
		case 4:
			pipe.IncrBy(ctx, key("n"), int64(rng.IntN(100)))
		case 5:
			pipe.IncrByFloat(ctx, key("f"), 0.5)
		case 6:
			pipe.Append(ctx, key("s"), "+")
		case 7:
			pipe.HSet(ctx, key("h"), "f"+strconv.Itoa(rng.IntN(20)), i)
		case 8:
			pipe.HDel(ctx, key("h"), "f"+strconv.Itoa(rng.IntN(20)))
		case 9:
			pipe.RPush(ctx, key("l"), i, i+1)
		case 10:
			pipe.LPop(ctx, key("l"))
		case 11:
			pipe.SAdd(ctx, key("set"), rng.IntN(50))
		case 12:
			pipe.SRem(ctx, key("set"), rng.IntN(50))
		case 13:
			pipe.ZAdd(ctx, key("z"), redis.Z{Score: float64(rng.IntN(1000)) / 7, Member: strconv.Itoa(rng.IntN(30))})
		case 14:
			pipe.ZIncrBy(ctx, key("z"), 1.5, strconv.Itoa(rng.IntN(30)))
		case 15:
			pipe.Del(ctx, key("s"), key("h"))
		case 16:
			pipe.Expire(ctx, key("h"), time.Duration(100+rng.IntN(1000))*time.Second)
		case 17:
			pipe.Persist(ctx, key("h"))
		case 18:
			k := key("s")
			pipe.Rename(ctx, k, k+"r")
		case 19:
			tx := rdb.TxPipeline()
			tx.Incr(ctx, key("n"))
			tx.LPush(ctx, key("l"), "tx")
			tx.HIncrBy(ctx, key("h"), "c", 1)
			if _, err := pipe.Exec(ctx); err != nil && !isExpectedWriteErr(err) {
				t.Fatalf("writes: %v", err)
			}
			if _, err := tx.Exec(ctx); err != nil && !isExpectedWriteErr(err) {
				t.Fatalf("transaction: %v", err)
			}
		}
		if pipe.Len() >= 1000 {
			if _, err := pipe.Exec(ctx); err != nil && !isExpectedWriteErr(err) {
				t.Fatalf("writes: %v", err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !isExpectedWriteErr(err) {
		t.Fatalf("writes: %v", err)
	}
}

// isExpectedWriteErr: the mix includes commands that fail on some keys.
func isExpectedWriteErr(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "WRONGTYPE") || strings.HasPrefix(s, "ERR no such key") ||
		strings.HasPrefix(s, "ERR value is not") || err == redis.Nil
}
