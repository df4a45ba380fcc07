package backend

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// TestWatchOptimisticIncr: N clients increment one counter with the
// WATCH/GET/MULTI/SET/EXEC pattern, retrying when EXEC returns nil; the
// total must be exact (no lost update, no double application).
func TestWatchOptimisticIncr(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	const clients, each = 8, 150
	var wg sync.WaitGroup
	var retries sync.Map
	for i := 0; i < clients; i++ {
		c := client(t, s.addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < each; n++ {
				for try := 0; ; try++ {
					err := c.Watch(ctx, func(tx *redis.Tx) error {
						v, err := tx.Get(ctx, "counter").Int()
						if err != nil && !errors.Is(err, redis.Nil) {
							return err
						}
						_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Set(ctx, "counter", v+1, 0)
							p.SAdd(ctx, "applied", strconv.Itoa(v+1))
							return nil
						})
						return err
					}, "counter")
					if err == nil {
						break
					}
					if !errors.Is(err, redis.TxFailedErr) {
						t.Error(err)
						return
					}
					retries.Store(i, try+1)
				}
			}
		}()
	}
	wg.Wait()
	c := client(t, s.addr())
	if v, _ := c.Get(ctx, "counter").Int(); v != clients*each {
		t.Fatalf("counter = %d, want %d", v, clients*each)
	}
	if n := c.SCard(ctx, "applied").Val(); n != clients*each {
		t.Fatalf("%d distinct increments applied, want %d", n, clients*each)
	}
	conflicts := 0
	retries.Range(func(_, v any) bool { conflicts += v.(int); return true })
	t.Logf("%d EXECs failed on a touched WATCHed key and were retried", conflicts)
}

// TestMultiWatchDifferential plays transaction scenarios from Redis'
// multi.tcl on two connections (one watching, one writing) against
// redis-server and shardis-server and compares every reply.
func TestMultiWatchDifferential(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	type step struct {
		conn  int // 0: the transaction's connection, 1: another client
		args  []string
		sleep time.Duration
	}
	s := func(conn int, args ...string) step { return step{conn: conn, args: args} }
	nap := func(d time.Duration) step { return step{sleep: d} }
	scenarios := map[string][]step{
		"queued errors abort":         {s(0, "MULTI"), s(0, "SET", "a", "1"), s(0, "NOSUCH"), s(0, "LPUSH", "l"), s(0, "SET", "b", "1"), s(0, "EXEC"), s(0, "EXISTS", "a", "b")},
		"runtime errors do not abort": {s(0, "SET", "x", "str"), s(0, "MULTI"), s(0, "LPUSH", "x", "1"), s(0, "INCR", "y"), s(0, "EXEC")},
		"nesting and misuse":          {s(0, "EXEC"), s(0, "DISCARD"), s(0, "MULTI"), s(0, "MULTI"), s(0, "WATCH", "x"), s(0, "PING"), s(0, "EXEC")},
		"discard":                     {s(0, "MULTI"), s(0, "SET", "d", "1"), s(0, "DISCARD"), s(0, "GET", "d"), s(0, "EXEC")},
		"watch modified":              {s(0, "SET", "x", "30"), s(0, "WATCH", "x"), s(1, "SET", "x", "40"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"watch not modified":          {s(0, "SET", "x", "30"), s(0, "WATCH", "x"), s(1, "SET", "y", "40"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"watch one of many":           {s(0, "WATCH", "a", "b", "c"), s(1, "SADD", "b", "m"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"no-op write is no touch":     {s(1, "SADD", "s", "m"), s(0, "WATCH", "s"), s(1, "SADD", "s", "m"), s(1, "SREM", "s", "zz"), s(1, "HDEL", "h", "f"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"collection write touches":    {s(1, "RPUSH", "l", "a"), s(0, "WATCH", "l"), s(1, "LSET", "l", "0", "b"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"zadd same score no touch":    {s(1, "ZADD", "z", "1", "m"), s(0, "WATCH", "z"), s(1, "ZADD", "z", "1", "m"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"unwatch":                     {s(0, "SET", "x", "30"), s(0, "WATCH", "x"), s(1, "SET", "x", "40"), s(0, "UNWATCH"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"unwatch nothing":             {s(0, "UNWATCH"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"after exec not watched":      {s(0, "WATCH", "x"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC"), s(1, "SET", "x", "1"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"after failed exec not watched": {s(0, "WATCH", "x"), s(1, "SET", "x", "1"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC"),
			s(1, "SET", "x", "2"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"discard clears dirty": {s(0, "WATCH", "x"), s(1, "SET", "x", "1"), s(0, "MULTI"), s(0, "DISCARD"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"flushall touches":     {s(0, "SET", "x", "1"), s(0, "WATCH", "x"), s(1, "FLUSHALL"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"flushall missing key": {s(0, "DEL", "x"), s(0, "WATCH", "x"), s(1, "FLUSHALL"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"flushdb touches":      {s(0, "SET", "x", "1"), s(0, "WATCH", "x"), s(1, "FLUSHDB"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"rename source":        {s(0, "SET", "x", "1"), s(0, "WATCH", "x"), s(1, "RENAME", "x", "y"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"rename destination":   {s(0, "SET", "x", "1"), s(0, "WATCH", "y"), s(1, "RENAME", "x", "y"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"expire touches":       {s(0, "SET", "x", "1"), s(0, "WATCH", "x"), s(1, "EXPIRE", "x", "100"), s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"expires after watch": {s(0, "SET", "x", "1", "PX", "40"), s(0, "WATCH", "x"), nap(100 * time.Millisecond),
			s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"stale key watched": {s(0, "SET", "x", "1", "PX", "10"), nap(50 * time.Millisecond), s(0, "WATCH", "x"),
			s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"stale key deleted": {s(0, "SET", "x", "1", "PX", "10"), nap(50 * time.Millisecond), s(0, "WATCH", "x"), s(1, "DEL", "x"),
			s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"stale key flushed": {s(0, "SET", "x", "1", "PX", "10"), nap(50 * time.Millisecond), s(0, "WATCH", "x"), s(1, "FLUSHALL"),
			s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"stale key recreated": {s(0, "SET", "x", "1", "PX", "10"), nap(50 * time.Millisecond), s(0, "WATCH", "x"), s(1, "SET", "x", "2"),
			s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"blocking pop in exec": {s(0, "MULTI"), s(0, "BLPOP", "nolist", "0"), s(0, "BZPOPMIN", "nozset", "0"), s(0, "BLMOVE", "a", "b", "LEFT", "LEFT", "0"), s(0, "EXEC")},
		"push from exec wakes watch": {s(0, "WATCH", "dst"), s(1, "RPUSH", "src", "v"), s(1, "BRPOPLPUSH", "src", "dst", "0"),
			s(0, "MULTI"), s(0, "PING"), s(0, "EXEC")},
		"keyspace commands in exec": {s(0, "SET", "k1", "v"), s(0, "MULTI"), s(0, "DBSIZE"), s(0, "KEYS", "k*"), s(0, "SET", "k2", "v"),
			s(0, "DBSIZE"), s(0, "EXISTS", "k1", "k2"), s(0, "FLUSHALL"), s(0, "DBSIZE"), s(0, "RANDOMKEY"), s(0, "EXEC")},
		"reset discards": {s(0, "MULTI"), s(0, "SET", "r", "1"), s(0, "RESET"), s(0, "EXEC"), s(0, "EXISTS", "r")},
		"not allowed":    {s(0, "MULTI"), s(0, "SAVE"), s(0, "PING"), s(0, "EXEC")},
	}
	for name, steps := range scenarios {
		t.Run(name, func(t *testing.T) {
			ref := []*rawConn{dialRaw(t, rd.Addr), dialRaw(t, rd.Addr)}
			got := []*rawConn{dialRaw(t, sh.addr()), dialRaw(t, sh.addr())}
			ref[0].do("FLUSHALL")
			got[0].do("FLUSHALL")
			for i, st := range steps {
				if st.sleep > 0 {
					time.Sleep(st.sleep)
					continue
				}
				a, b := ref[st.conn].do(st.args...), got[st.conn].do(st.args...)
				if a != b {
					t.Fatalf("step %d %q:\n redis:   %q\n shardis: %q", i, st.args, a, b)
				}
			}
		})
	}
}

// TestMultiStream: a transaction's writes reach the AOF wrapped in
// MULTI/EXEC (a single write alone), and a restart replays them.
func TestMultiStream(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, aofConfig(dir))
	r := dialRaw(t, s.addr())
	r.do("MULTI")
	r.do("SET", "a", "1")
	r.do("GET", "a")
	if v := r.do("EXEC"); v != "*2\r\n+OK\r\n$1\r\n1\r\n" {
		t.Fatalf("EXEC = %q", v)
	}
	r.do("MULTI")
	r.do("RPUSH", "l", "x", "y")
	r.do("HSET", "h", "f", "v")
	r.do("ZINCRBY", "z", "1.5", "m")
	r.do("SPOP", "nosuchset")
	r.do("EXEC")
	b, _ := os.ReadFile(filepath.Join(dir, "appendonly.aof"))
	want := string(encodeCommand("SET", "a", "1")) +
		"*1\r\n$5\r\nMULTI\r\n" + string(encodeCommand("RPUSH", "l", "x", "y")) + string(encodeCommand("HSET", "h", "f", "v")) +
		string(encodeCommand("ZINCRBY", "z", "1.5", "m")) + "*1\r\n$4\r\nEXEC\r\n"
	if string(b) != want {
		t.Fatalf("AOF:\n%q\nwant\n%q", b, want)
	}
}

// TestMultiConcurrentTransfers: transactions moving amounts between
// accounts (hashes and sorted sets) on many clients keep the total
// constant at every instant a reader looks inside its own transaction.
func TestMultiConcurrentTransfers(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	c0 := client(t, s.addr())
	const accounts = 10
	for i := 0; i < accounts; i++ {
		c0.HSet(ctx, "acct:"+strconv.Itoa(i), "balance", 100)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	bad := make(chan string, 1)
	for w := 0; w < 4; w++ {
		c := client(t, s.addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				from, to := "acct:"+strconv.Itoa((w+i)%accounts), "acct:"+strconv.Itoa((w*3+i*7+1)%accounts)
				c.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.HIncrBy(ctx, from, "balance", -7)
					p.HIncrBy(ctx, to, "balance", 7)
					p.ZIncrBy(ctx, "ledger", 1, from)
					return nil
				})
			}
		}()
	}
	reader := client(t, s.addr())
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			cmds, err := reader.TxPipelined(ctx, func(p redis.Pipeliner) error {
				for a := 0; a < accounts; a++ {
					p.HGet(ctx, "acct:"+strconv.Itoa(a), "balance")
				}
				return nil
			})
			if err != nil {
				bad <- err.Error()
				return
			}
			sum := 0
			for _, cmd := range cmds {
				v, _ := cmd.(*redis.StringCmd).Int()
				sum += v
			}
			if sum != 100*accounts {
				bad <- "sum " + strconv.Itoa(sum)
				return
			}
		}
	}()
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	select {
	case m := <-bad:
		t.Fatalf("a transaction saw a partial transfer: %s", m)
	default:
	}
	if !strings.Contains(c0.Info(ctx, "commandstats").Val(), "cmdstat_exec:calls=") {
		t.Fatal("EXEC not in commandstats")
	}
}
