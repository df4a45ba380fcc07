package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// step is one command and its expected reply (value or error text).
type step struct {
	args []any
	want any // string, int64, nil, []any, or error text as errReply
}

type errReply string

func runSteps(t *testing.T, rdb *redis.Client, steps []step) {
	t.Helper()
	ctx := context.Background()
	for _, s := range steps {
		got, err := rdb.Do(ctx, s.args...).Result()
		switch w := s.want.(type) {
		case errReply:
			if err == nil || err.Error() != string(w) {
				t.Fatalf("%v: got %v, %v; want error %q", s.args, got, err, w)
			}
			continue
		case nil:
			if !errors.Is(err, redis.Nil) {
				t.Fatalf("%v: got %v, %v; want nil", s.args, got, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", s.args, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Fatalf("%v: got %#v; want %#v", s.args, got, s.want)
		}
	}
}

func TestStrings(t *testing.T) {
	s := startServer(t, nil)
	rdb := client(t, s.addr())
	runSteps(t, rdb, []step{
		{[]any{"GET", "k"}, nil},
		{[]any{"SET", "k", "v"}, "OK"},
		{[]any{"GET", "k"}, "v"},
		{[]any{"SET", "k", "v2", "NX"}, nil},
		{[]any{"SET", "k", "v2", "XX", "GET"}, "v"},
		{[]any{"SET", "nokey", "v", "XX"}, nil},
		{[]any{"SET", "k", "v", "NX", "XX"}, errReply("ERR syntax error")},
		{[]any{"SET", "k", "v", "EX", "0"}, errReply("ERR invalid expire time in 'set' command")},
		{[]any{"SET", "k", "v", "EX", "x"}, errReply("ERR value is not an integer or out of range")},
		{[]any{"SET", "k", "v", "KEEPTTL", "EX", "5"}, errReply("ERR syntax error")},
		{[]any{"SETNX", "k", "x"}, int64(0)},
		{[]any{"SETNX", "n", "x"}, int64(1)},
		{[]any{"GETSET", "n", "y"}, "x"},
		{[]any{"GETDEL", "n"}, "y"},
		{[]any{"GETDEL", "n"}, nil},
		{[]any{"SETEX", "k", "-1", "v"}, errReply("ERR invalid expire time in 'setex' command")},
		{[]any{"PSETEX", "k", "100000", "v"}, "OK"},
		{[]any{"MSET", "a", "1", "b", "2"}, "OK"},
		{[]any{"MSET", "a", "1", "b"}, errReply("ERR wrong number of arguments for 'mset' command")},
		{[]any{"MGET", "a", "b", "nokey"}, []any{"1", "2", nil}},
		{[]any{"MSETNX", "a", "1", "c", "3"}, int64(0)},
		{[]any{"MSETNX", "c", "3", "d", "4"}, int64(1)},
		{[]any{"INCR", "a"}, int64(2)},
		{[]any{"DECRBY", "a", "5"}, int64(-3)},
		{[]any{"INCRBY", "a", "x"}, errReply("ERR value is not an integer or out of range")},
		{[]any{"SET", "big", "9223372036854775807"}, "OK"},
		{[]any{"INCR", "big"}, errReply("ERR increment or decrement would overflow")},
		{[]any{"DECRBY", "a", "-9223372036854775808"}, errReply("ERR decrement would overflow")},
		{[]any{"SET", "s", " 1"}, "OK"},
		{[]any{"INCR", "s"}, errReply("ERR value is not an integer or out of range")},
		{[]any{"INCRBYFLOAT", "f", "10.5"}, "10.5"},
		{[]any{"INCRBYFLOAT", "f", "0.1"}, "10.6"},
		{[]any{"INCRBYFLOAT", "f", "1.5e+20"}, "150000000000000000016"}, // as redis-server (64-bit mantissa)
		{[]any{"INCRBYFLOAT", "f", "inf"}, errReply("ERR increment would produce NaN or Infinity")},
		{[]any{"INCRBYFLOAT", "f", "x"}, errReply("ERR value is not a valid float")},
		{[]any{"APPEND", "ap", "Hello"}, int64(5)},
		{[]any{"APPEND", "ap", " World"}, int64(11)},
		{[]any{"STRLEN", "ap"}, int64(11)},
		{[]any{"GETRANGE", "ap", "0", "4"}, "Hello"},
		{[]any{"GETRANGE", "ap", "-5", "-1"}, "World"},
		{[]any{"GETRANGE", "ap", "5", "2"}, ""},
		{[]any{"SETRANGE", "ap", "6", "Redis"}, int64(11)},
		{[]any{"GET", "ap"}, "Hello Redis"},
		{[]any{"SETRANGE", "z", "3", "x"}, int64(4)},
		{[]any{"GET", "z"}, "\x00\x00\x00x"},
		{[]any{"SETRANGE", "z", "-1", "x"}, errReply("ERR offset is out of range")},
		{[]any{"SETRANGE", "z", "536870911", "xx"}, errReply("ERR string exceeds maximum allowed size (proto-max-bulk-len)")},
		{[]any{"GETEX", "ap", "PX", "100000"}, "Hello Redis"},
		{[]any{"GETEX", "ap", "PERSIST"}, "Hello Redis"},
		{[]any{"TTL", "ap"}, int64(-1)},
		{[]any{"GETEX", "ap", "EXAT", "1"}, "Hello Redis"},
		{[]any{"EXISTS", "ap"}, int64(0)},
		{[]any{"GET"}, errReply("ERR wrong number of arguments for 'get' command")},
	})
}

// TestExpiry covers lazy expiry (a read of an expired key deletes it) and
// the active cycle (keys nobody reads go away).
func TestExpiry(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Hz = 100 })
	rdb := client(t, s.addr())
	ctx := context.Background()
	for i := 0; i < 500; i++ {
		rdb.Set(ctx, "t:"+strconv.Itoa(i), "v", 50*time.Millisecond)
	}
	rdb.Set(ctx, "keep", "v", 0)
	rdb.Set(ctx, "lazy", "v", 30*time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	if v, err := rdb.Get(ctx, "lazy").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("expired key read: %q %v", v, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := rdb.DBSize(ctx).Val()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("active expiry left %d keys", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	info := rdb.Info(ctx, "stats").Val()
	if !containsLine(info, "expired_keys:501") {
		t.Fatalf("expired_keys: %s", info)
	}
	// Replica mode: expired keys are hidden, not deleted.
	rdb.Set(ctx, "r", "v", 20*time.Millisecond)
	s.ks.SetReplicaExpiry(true)
	time.Sleep(300 * time.Millisecond)
	if n := rdb.Exists(ctx, "r").Val(); n != 0 {
		t.Fatalf("replica shows expired key")
	}
	if n := rdb.DBSize(ctx).Val(); n != 2 {
		t.Fatalf("replica deleted an expired key: dbsize %d", n)
	}
	s.ks.SetReplicaExpiry(false)
}

func containsLine(info, line string) bool {
	for _, l := range splitLines(info) {
		if l == line {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			l := s[start:i]
			if len(l) > 0 && l[len(l)-1] == '\r' {
				l = l[:len(l)-1]
			}
			out = append(out, l)
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// TestConcurrentIncr: many clients, pipelined INCRs on shared keys; no
// increment is lost (run with -race).
func TestConcurrentIncr(t *testing.T) {
	s := startServer(t, nil)
	rdb := client(t, s.addr())
	ctx := context.Background()
	var wg sync.WaitGroup
	const workers, rounds, batch = 8, 50, 20
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				p := rdb.Pipeline()
				for i := 0; i < batch; i++ {
					p.Incr(ctx, "c"+strconv.Itoa(i%4))
					p.MSet(ctx, "m1", "x", "m2", "y")
				}
				if _, err := p.Exec(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := int64(0)
	for i := 0; i < 4; i++ {
		n, _ := rdb.Get(ctx, "c"+strconv.Itoa(i)).Int64()
		total += n
	}
	if total != workers*rounds*batch {
		t.Fatalf("total %d, want %d", total, workers*rounds*batch)
	}
}
