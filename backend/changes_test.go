package backend

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// changesSinceSave reads INFO persistence's rdb_changes_since_last_save.
func changesSinceSave(t testing.TB, c *rawConn) int64 {
	t.Helper()
	raw := c.do("INFO", "persistence")
	for _, line := range strings.Split(raw, "\r\n") {
		if v, ok := strings.CutPrefix(line, "rdb_changes_since_last_save:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("rdb_changes_since_last_save %q", v)
			}
			return n
		}
	}
	t.Fatalf("no rdb_changes_since_last_save in %q", raw)
	return 0
}

// TestChangesSinceSave compares, command by command, how much
// rdb_changes_since_last_save grows on shardis-server and on redis-server,
// for writes that change one key each (shardis-server counts changed
// keys; Redis counts elements for some multi-element writes, e.g. SADD of
// three new members adds 3, so those are left out), writes that change
// nothing, reads, lazily expired keys and FLUSHALL; then SAVE starts the
// count again from 0 on both.
func TestChangesSinceSave(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("FLUSHALL")
	for _, c := range [][]string{
		{"SET", "a", "1"}, {"SET", "a", "2", "NX"}, {"SET", "a", "3", "XX"}, {"GET", "a"}, {"INCR", "a"},
		{"DEL", "nokey"}, {"SET", "b", "x"}, {"DEL", "a", "b"}, {"EXISTS", "a"},
		{"SET", "c", "v"}, {"EXPIRE", "c", "100"}, {"PERSIST", "c"}, {"PERSIST", "c"}, {"EXPIRE", "nokey", "10"},
		{"LPUSH", "l", "x"}, {"LPUSH", "l", "y"}, {"LPOP", "l"}, {"LPOP", "nolist"}, {"LRANGE", "l", "0", "-1"},
		{"HSET", "h", "f", "v"}, {"HSET", "h", "f", "v"}, {"HDEL", "h", "nofield"}, {"HDEL", "h", "f"},
		{"SADD", "s", "m"}, {"SADD", "s", "m"}, {"SREM", "s", "x"}, {"SREM", "s", "m"},
		{"ZADD", "z", "1", "m"}, {"ZADD", "z", "1", "m"}, {"ZINCRBY", "z", "2", "m"}, {"ZREM", "z", "m"},
		{"APPEND", "c", "w"}, {"SETRANGE", "c", "0", "Z"}, {"GETDEL", "c"}, {"GETDEL", "c"},
		{"SETBIT", "bits", "7", "1"}, {"SETBIT", "bits", "7", "1"}, {"SETBIT", "bits", "7", "0"},
		{"SET", "e", "1", "PX", "1"}, {"SLEEP"}, {"GET", "e"},
		{"MSET", "m1", "1", "m2", "2", "m3", "3"}, {"FLUSHALL"}, {"FLUSHALL"},
	} {
		if c[0] == "SLEEP" { // let e expire
			time.Sleep(20 * time.Millisecond)
			continue
		}
		r0, s0 := changesSinceSave(t, d.ref), changesSinceSave(t, d.got)
		d.same(c...)
		r1, s1 := changesSinceSave(t, d.ref), changesSinceSave(t, d.got)
		if r1-r0 != s1-s0 {
			t.Errorf("%q: rdb_changes_since_last_save grew by %d on redis-server, %d on shardis-server", c, r1-r0, s1-s0)
		}
	}
	r0, s0 := changesSinceSave(t, d.ref), changesSinceSave(t, d.got)
	for _, c := range [][]string{{"MULTI"}, {"SET", "x", "1"}, {"SET", "x", "2"}, {"INCR", "x"}, {"GET", "x"}, {"EXEC"}} {
		d.same(c...)
	}
	if r1, s1 := changesSinceSave(t, d.ref), changesSinceSave(t, d.got); r1-r0 != s1-s0 {
		t.Errorf("MULTI/EXEC: rdb_changes_since_last_save grew by %d on redis-server, %d on shardis-server", r1-r0, s1-s0)
	}
	d.same("SET", "k", "v")
	if changesSinceSave(t, d.got) == 0 {
		t.Fatal("no change counted after SET")
	}
	d.same("SAVE")
	if r, s := changesSinceSave(t, d.ref), changesSinceSave(t, d.got); r != 0 || s != 0 {
		t.Fatalf("after SAVE: redis-server %d, shardis-server %d changes", r, s)
	}
}
