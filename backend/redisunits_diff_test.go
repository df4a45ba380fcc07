package backend

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// Regressions found by running the official Redis test units against
// shardis-server (docs/redis-tests.md), checked against redis-server.

// TestRedisUnitsRestoreErrorOrder: RESTORE reports BUSYKEY before a bad
// TTL or payload (unit/dump "RESTORE returns an error of the key already
// exists"), and IDLETIME and FREQ exclude each other.
func TestRedisUnitsRestoreErrorOrder(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("FLUSHALL")
	d.same("SET", "foo", "bar")
	for _, cmd := range [][]string{
		{"RESTORE", "foo", "0", "..."},
		{"RESTORE", "foo", "abc", "..."},
		{"RESTORE", "foo", "-1", "..."},
		{"RESTORE", "foo", "0", "...", "BAD"},
		{"RESTORE", "foo", "0", "...", "IDLETIME", "x"},
		{"RESTORE", "nokey", "abc", "..."},
		{"RESTORE", "nokey", "-1", "..."},
		{"RESTORE", "nokey", "0", "..."},
		{"RESTORE", "nokey", "0", "...", "REPLACE"},
		{"RESTORE", "foo", "abc", "...", "REPLACE"},
		{"RESTORE", "foo", "0", "...", "REPLACE"},
		{"RESTORE", "nokey", "0", "...", "FREQ", "1", "IDLETIME", "1"},
		{"RESTORE", "nokey", "0", "...", "IDLETIME", "1", "FREQ", "1"},
		{"RESTORE", "nokey", "0", "...", "IDLETIME", "-1", "FREQ", "1"},
		{"EXISTS", "nokey"},
		{"GET", "foo"},
	} {
		d.same(cmd...)
	}
}

// TestRedisUnitsConfigSetFixed: CONFIG SET of a parameter shardis-server
// only reports (save, maxmemory ...) accepts its current value, as the
// suite's `overrides {save ""}` does (unit/type/list, unit/type/set).
func TestRedisUnitsConfigSetFixed(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("CONFIG", "SET", "save", "")
	d.same("CONFIG", "GET", "save")
	d.same("CONFIG", "SET", "maxmemory", "0")
	d.same("CONFIG", "SET", "save", "", "maxmemory-policy", "noeviction")
	r := dialRaw(t, sh.addr())
	want := "-ERR CONFIG SET failed (possibly related to argument 'save') - shardis-server supports only \"\"\r\n"
	if got := r.do("CONFIG", "SET", "save", "900 1"); got != want {
		t.Fatalf("CONFIG SET save 900 1: %q, want %q", got, want)
	}
	want = "-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n"
	if got := r.do("CONFIG", "SET", "databases", "1"); got != want {
		t.Fatalf("CONFIG SET databases 1: %q, want %q", got, want)
	}
}

var blockedClientsRE = regexp.MustCompile(`blocked_clients:(\d+)`)

// TestRedisUnitsPausedClientIsBlocked: a client whose write waits for
// CLIENT PAUSE WRITE counts in INFO blocked_clients (unit/pause "Test write
// commands are paused by RO").
func TestRedisUnitsPausedClientIsBlocked(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	for _, srv := range []struct{ name, addr string }{{"redis", rd.Addr}, {"shardis", sh.addr()}} {
		ctl, w := dialRaw(t, srv.addr), dialRaw(t, srv.addr)
		blocked := func() string {
			m := blockedClientsRE.FindStringSubmatch(ctl.do("INFO", "clients"))
			if m == nil {
				t.Fatalf("%s: no blocked_clients in INFO", srv.name)
			}
			return m[1]
		}
		if got := ctl.do("CLIENT", "PAUSE", "60000", "WRITE"); got != "+OK\r\n" {
			t.Fatalf("%s: CLIENT PAUSE: %q", srv.name, got)
		}
		w.send(encodeCommand("SET", "foo", "bar"))
		deadline := time.Now().Add(10 * time.Second)
		for blocked() != "1" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: blocked_clients %s while a SET waits for the pause, want 1", srv.name, blocked())
			}
			time.Sleep(5 * time.Millisecond)
		}
		if got := ctl.do("GET", "foo"); got != "$-1\r\n" {
			t.Fatalf("%s: GET during the pause: %q", srv.name, got)
		}
		ctl.do("CLIENT", "UNPAUSE")
		if got := w.reply(); got != "+OK\r\n" {
			t.Fatalf("%s: SET after unpause: %q", srv.name, got)
		}
		if got := blocked(); got != "0" {
			t.Fatalf("%s: blocked_clients %s after the pause, want 0", srv.name, got)
		}
	}
}

// TestRedisUnitsClientKillErrors: CLIENT KILL's argument errors, among
// them an unknown USER (unit/introspection "CLIENT KILL with illegal
// arguments").
func TestRedisUnitsClientKillErrors(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	for _, cmd := range [][]string{
		{"CLIENT", "KILL"},
		{"CLIENT", "KILL", "ID", "10", "wrong_arg"},
		{"CLIENT", "KILL", "ID", "str"},
		{"CLIENT", "KILL", "ID", "-1"},
		{"CLIENT", "KILL", "ID", "0"},
		{"CLIENT", "KILL", "TYPE", "wrong_type"},
		{"CLIENT", "KILL", "USER", "wrong_user"},
		{"CLIENT", "KILL", "USER", "Default"},
		{"CLIENT", "KILL", "USER", "wrong_user", "ID", "x"},
		{"CLIENT", "KILL", "SKIPME", "yes_or_no"},
		{"CLIENT", "KILL", "USER", "default"},
		{"CLIENT", "KILL", "USER", "default", "SKIPME", "yes"},
		{"PING"},
	} {
		d.same(cmd...)
	}
}

// TestRedisUnitsProtoMaxBulkLenCap: proto-max-bulk-len cannot exceed
// 512mb. Raised to 10gb (as unit/type/list does), SETRANGE at offset 2^31-1
// (unit/type/string "SETRANGE with huge offset") made a 2 GB string whose
// length did not fit its entry (STRLEN 0), and an argument over 512mb
// could not be loaded back from the AOF.
func TestRedisUnitsProtoMaxBulkLenCap(t *testing.T) {
	sh := startServer(t, nil)
	r := dialRaw(t, sh.addr())
	want := "-ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 536870912 inclusive\r\n"
	for _, v := range []string{"10000000000", "1gb", "536870913"} {
		if got := r.do("CONFIG", "SET", "proto-max-bulk-len", v); got != want {
			t.Fatalf("CONFIG SET proto-max-bulk-len %s: %q, want %q", v, got, want)
		}
	}
	steps := [][2]string{
		{"CONFIG SET proto-max-bulk-len 512mb", "+OK\r\n"},
		{"CONFIG GET proto-max-bulk-len", "*2\r\n$18\r\nproto-max-bulk-len\r\n$9\r\n536870912\r\n"},
		{"SETRANGE K 2147483647 A", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
		{"SETRANGE K 536870908 world", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
		{"EXISTS K", ":0\r\n"},
	}
	for _, st := range steps {
		if got := r.do(strings.Fields(st[0])...); got != st[1] {
			t.Fatalf("%s: %q, want %q", st[0], got, st[1])
		}
	}
	cfg := DefaultConfig()
	if err := ParseArgs(&cfg, []string{"--proto-max-bulk-len", "1gb"}); err == nil {
		t.Fatal("--proto-max-bulk-len 1gb accepted")
	}
}
