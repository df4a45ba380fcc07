package backend

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

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

// TestCopyGeoSortPersist: the keys COPY, GEOSEARCHSTORE, GEORADIUS STORE
// and SORT ... STORE write survive kill -9 and restart (AOF replay), then
// an AOF rewrite and another restart; and a replica receives the same
// keyspace.
func TestCopyGeoSortPersist(t *testing.T) {
	p := harness.StartShardisServer(t, "", "--appendonly", "yes", "--appendfsync", "always")
	rdb := client(t, p.Addr)
	writeCopyGeoSort(t, rdb)
	before := dumpAll(t, rdb)
	if len(before) < 12 {
		t.Fatalf("only %d keys", len(before))
	}
	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	rdb = client(t, p.Addr)
	compareDumps(t, "after kill -9", before, dumpAll(t, rdb))
	if err := rdb.BgRewriteAOF(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	awaitRewrites(t, rdb, 1)
	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	compareDumps(t, "after rewrite and kill -9", before, dumpAll(t, client(t, p.Addr)))

	master := startServer(t, nil)
	replica := startReplica(t, master.addr(), nil)
	mc, rc := client(t, master.addr()), client(t, replica.addr())
	writeCopyGeoSort(t, mc)
	waitSynced(t, mc, rc)
	sameDump(t, "replica", replDump(t, mc), replDump(t, rc))
}

// writeCopyGeoSort writes keys through COPY, the GEO stores and SORT
// STORE (including stores that replace or delete their destination, and
// destinations with an expiry).
func writeCopyGeoSort(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	do := func(args ...any) {
		if err := rdb.Do(ctx, args...).Err(); err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	do("GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania", "2.35", "48.85", "Paris")
	do("SET", "str", "v", "PX", 3600000)
	do("RPUSH", "list", "3", "1", "2", "10")
	do("SADD", "set", "b", "a", "c")
	do("HSET", "hash", "f", "v")
	do("HSET", "w_1", "f", "9")
	do("HSET", "w_2", "f", "-1")
	do("SET", "o_3", "three")
	for _, k := range []string{"str", "list", "set", "hash", "geo"} {
		do("COPY", k, "copy:"+k)
	}
	do("COPY", "geo", "str2", "REPLACE")
	do("SET", "gs", "old", "PX", 3600000)
	do("GEOSEARCHSTORE", "gs", "geo", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km", "ASC")
	do("GEOSEARCHSTORE", "gsd", "geo", "FROMMEMBER", "Paris", "BYBOX", "3000", "3000", "km", "STOREDIST")
	do("GEOSEARCHSTORE", "gone", "geo", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m")
	do("GEORADIUS", "geo", "15", "37", "200", "km", "STOREDIST", "gr")
	do("GEORADIUSBYMEMBER", "geo", "Palermo", "1000", "km", "COUNT", "2", "STORE", "grm")
	do("SORT", "list", "STORE", "sorted")
	do("SORT", "list", "BY", "w_*->f", "GET", "#", "GET", "o_*", "STORE", "sorted2")
	do("SORT", "set", "BY", "nosort", "STORE", "sorted3")
	do("SET", "sorted4", "old")
	do("SORT", "list", "LIMIT", "1", "2", "DESC", "STORE", "sorted4")
	do("SET", "sorted5", "old")
	do("SORT", "nolist", "STORE", "sorted5")
	do("MULTI")
	do("SORT", "list", "BY", "w_*->f", "STORE", "sorted6")
	do("COPY", "sorted6", "copy:sorted6")
	do("EXEC")
}
