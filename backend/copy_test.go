package backend

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shardis/shardis/integration/harness"
)

// TestCopyDifferential: COPY of every type (compact and large encodings),
// with and without REPLACE, onto existing keys of every type, missing
// sources, the same key, DB 0, DB 1 and bad DB numbers, syntax errors,
// and the expiry carried to the destination (PEXPIRETIME: both servers
// got the same absolute expiry), against redis-server; then random
// sequences of COPY mixed with writes to the source and the copy, so
// that a copy sharing structure with its source shows any write that
// leaks from one to the other.
func TestCopyDifferential(t *testing.T) {
	rd := harness.StartRedis(t, "--databases", "1") // shardis-server has one
	sh := startServer(t, nil)
	d := &typeDiffer{differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}}
	d.same("FLUSHALL")
	big := func(cmd string, key string, n int, pairs bool) {
		args := []string{cmd, key}
		for i := 0; i < n; i++ {
			if pairs {
				args = append(args, strconv.Itoa(i))
			}
			args = append(args, "e"+strconv.Itoa(i))
		}
		d.same(args...)
	}
	d.same("SET", "s", "string value")
	d.same("SET", "i", "12345")
	d.same("RPUSH", "l", "a", "b", "c")
	d.same("HSET", "h", "f1", "v1", "f2", "v2")
	d.same("SADD", "is", "1", "2", "3")
	d.same("SADD", "ss", "a", "b", "c")
	d.same("ZADD", "z", "1", "a", "2", "b")
	big("RPUSH", "bl", 1000, false)
	big("HSET", "bh", 300, true)
	big("SADD", "bs", 300, false)
	big("ZADD", "bz", 300, true)
	d.same("PEXPIREAT", "l", "99999999999999")
	d.same("PEXPIREAT", "bz", "88888888888888")
	reads := func(k string) {
		d.same("TYPE", k)
		d.same("OBJECT", "ENCODING", k)
		d.same("PEXPIRETIME", k)
		for _, c := range []string{"GET", "LRANGE", "SMEMBERS", "HGETALL", "ZRANGE"} {
			args := []string{c, k}
			if c == "LRANGE" || c == "ZRANGE" {
				args = append(args, "0", "-1")
			}
			d.checkType(args)
		}
	}
	for _, src := range []string{"s", "i", "l", "h", "is", "ss", "z", "bl", "bh", "bs", "bz", "missing"} {
		dst := "copy:" + src
		d.same("COPY", src, dst)
		d.same("COPY", src, dst)
		reads(dst)
		d.same("COPY", src, "s", "REPLACE")
		reads("s")
		d.same("COPY", src, "l", "DB", "0", "REPLACE")
		reads("l")
		d.same("SET", "s", "string value")
		d.same("DEL", "l")
		d.same("RPUSH", "l", "a", "b", "c")
	}
	for _, bad := range [][]string{
		{"COPY", "s", "s"}, {"COPY", "s", "s", "REPLACE"}, {"COPY", "missing", "missing"},
		{"COPY", "s", "x", "DB", "1"}, {"COPY", "s", "x", "DB", "-1"}, {"COPY", "s", "x", "DB", "abc"},
		{"COPY", "s", "x", "DB", "2147483648"}, {"COPY", "s", "x", "DB"}, {"COPY", "s", "x", "FOO"},
		{"COPY", "s", "s", "DB", "1"}, {"COPY", "s", "x", "replace", "db", "0"}, {"COPY", "s"},
		{"COPY", "s", "x", "DB", "0", "DB", "0", "REPLACE", "REPLACE"},
	} {
		d.same(bad...)
	}
	r := rand.New(rand.NewPCG(3, 5))
	keys := []string{"a", "b", "c", "d"}
	k := func() string { return keys[r.IntN(len(keys))] }
	for i := 0; i < 3000 && !d.t.Failed(); i++ {
		m := strconv.Itoa(r.IntN(20))
		var c []string
		switch r.IntN(10) {
		case 0, 1:
			c = []string{"COPY", k(), k()}
			if r.IntN(2) == 0 {
				c = append(c, "REPLACE")
			}
		case 2:
			c = []string{"RPUSH", k(), m}
		case 3:
			c = []string{"SADD", k(), m}
		case 4:
			c = []string{"ZADD", k(), m, m}
		case 5:
			c = []string{"HSET", k(), m, m}
		case 6:
			c = []string{"DEL", k()}
		case 7:
			c = []string{[]string{"LPOP", "SPOP", "ZPOPMIN", "HDEL"}[r.IntN(4)], k()}
			if c[0] == "HDEL" {
				c = append(c, m)
			}
			if c[0] == "SPOP" {
				c = []string{"SREM", k(), m}
			}
		default:
			key := k()
			for _, rc := range [][]string{{"TYPE", key}, {"LRANGE", key, "0", "-1"}, {"ZRANGE", key, "0", "-1", "WITHSCORES"}, {"HGETALL", key}, {"SCARD", key}} {
				d.same(rc...)
			}
			continue
		}
		d.same(c...)
	}
}

// TestCopyIndependentOfSnapshot: a COPY while a snapshot shares the
// source, then writes to both keys: the snapshot, the source and the copy
// each keep their own content.
func TestCopyIndependentOfSnapshot(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	rdb := client(t, s.addr())
	for i := 0; i < 500; i++ {
		rdb.RPush(ctx, "src", i)
	}
	snap := s.ks.Snapshot(false)
	defer snap.Release()
	if n, err := rdb.Copy(ctx, "src", "dst", 0, false).Result(); err != nil || n != 1 {
		t.Fatalf("COPY: %d %v", n, err)
	}
	rdb.RPush(ctx, "src", "only-src")
	rdb.LPush(ctx, "dst", "only-dst")
	rdb.LSet(ctx, "src", 100, "changed-src")
	rdb.LSet(ctx, "dst", 200, "changed-dst")
	src := rdb.LRange(ctx, "src", 0, -1).Val()
	dst := rdb.LRange(ctx, "dst", 0, -1).Val()
	if len(src) != 501 || src[500] != "only-src" || src[100] != "changed-src" || src[200] != "200" {
		t.Fatalf("source: len %d, [100]=%s [200]=%s [500]=%s", len(src), src[100], src[200], src[500])
	}
	if len(dst) != 501 || dst[0] != "only-dst" || dst[200] != "changed-dst" || dst[101] != "100" {
		t.Fatalf("copy: len %d, [0]=%s [101]=%s [200]=%s", len(dst), dst[0], dst[101], dst[200])
	}
	n := 0
	snap.Range(0, func(it snapItem) bool {
		if it.e.key() == "src" {
			l := it.e.rec().obj.(*listObj)
			if l.Len() != 500 || l.t.At(100) != "100" {
				t.Errorf("snapshot's list changed: len %d [100]=%s", l.Len(), l.t.At(100))
			}
		}
		n++
		return true
	})
	if n != 1 {
		t.Fatalf("snapshot has %d keys, want 1", n)
	}
}

// TestCopyDirtiesWatch: a COPY onto a WATCHed key (created or replaced)
// makes the watcher's EXEC fail; a COPY from a watched key does not.
func TestCopyDirtiesWatch(t *testing.T) {
	s := startServer(t, nil)
	w, o := dialRaw(t, s.addr()), dialRaw(t, s.addr())
	for _, tc := range []struct {
		name  string
		setup [][]string
		copy  []string
		want  string
	}{
		{"created", [][]string{{"SET", "src", "v"}}, []string{"COPY", "src", "dst"}, "*-1\r\n"},
		{"replaced", [][]string{{"SET", "src", "v"}, {"SET", "dst", "old"}}, []string{"COPY", "src", "dst", "REPLACE"}, "*-1\r\n"},
		{"not replaced", [][]string{{"SET", "src", "v"}, {"SET", "dst", "old"}}, []string{"COPY", "src", "dst"}, "*1\r\n+PONG\r\n"},
		{"source only", [][]string{{"SET", "dst", "v"}}, []string{"COPY", "dst", "other"}, "*1\r\n+PONG\r\n"},
	} {
		o.do("FLUSHALL")
		for _, c := range tc.setup {
			o.do(c...)
		}
		w.do("WATCH", "dst")
		o.do(tc.copy...)
		w.do("MULTI")
		w.do("PING")
		if got := w.do("EXEC"); got != tc.want {
			t.Errorf("%s: EXEC = %q, want %q", tc.name, got, tc.want)
		}
	}
}
