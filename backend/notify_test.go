package backend

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// notifyDiffer runs commands on redis-server and shardis-server, each with
// a subscriber to every keyspace notification, and compares the replies
// and, after each command, the messages the subscribers received, in
// order.
type notifyDiffer struct {
	typeDiffer
	subRef, subGot *rawConn
	last           []string // recent commands, for the failure message
	messages       int      // notifications compared
}

func newNotifyDiffer(t *testing.T, refAddr, gotAddr, flags string) *notifyDiffer {
	d := &notifyDiffer{typeDiffer: typeDiffer{differ: differ{t: t, ref: dialRaw(t, refAddr), got: dialRaw(t, gotAddr)}}}
	d.same("CONFIG", "SET", "notify-keyspace-events", flags)
	d.same("CONFIG", "GET", "notify-keyspace-events")
	d.subRef, d.subGot = dialRaw(t, refAddr), dialRaw(t, gotAddr)
	a, b := d.subRef.do("PSUBSCRIBE", "__key*__:*"), d.subGot.do("PSUBSCRIBE", "__key*__:*")
	if a != b {
		t.Fatalf("PSUBSCRIBE: %q / %q", a, b)
	}
	d.same("FLUSHALL")
	d.events()
	return d
}

// events publishes a marker and returns what each subscriber received
// before it.
func (d *notifyDiffer) events() {
	d.t.Helper()
	d.same("PUBLISH", "__keymark__:end", "end")
	drain := func(c *rawConn) []string {
		var out []string
		for {
			m := c.reply()
			if strings.Contains(m, "__keymark__:end") {
				return out
			}
			out = append(out, m)
		}
	}
	a, b := drain(d.subRef), drain(d.subGot)
	if len(d.last) > 8 {
		d.last = d.last[len(d.last)-8:]
	}
	d.messages += len(a)
	if strings.Join(a, "") != strings.Join(b, "") {
		d.t.Fatalf("after %q:\n redis:   %q\n shardis: %q", d.last, a, b)
	}
}

func (d *notifyDiffer) run(cmd []string) {
	d.t.Helper()
	d.last = append(d.last, strings.Join(cmd, " "))
	d.checkType(cmd)
}

// TestNotifyDifferential sends the random command sequences of
// TestDifferential (strings, keys, expiries) and TestDifferentialTypes
// (hashes, lists, sets, sorted sets, MULTI/EXEC) to redis-server and
// shardis-server with several notify-keyspace-events settings and
// compares the notifications message by message, after every command.
func TestNotifyDifferential(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	for fi, flags := range []string{"KEA", "KEAn", "Kg$", "El", "Ksz", "Eh", "KExn", "AK", "KEm", "Egm"} {
		t.Run(flags, func(t *testing.T) {
			d := newNotifyDiffer(t, rd.Addr, sh.addr(), flags)
			seed := uint64(fi + 1)
			g := newCmdGen(seed)
			tg := &typeGen{r: rand.New(rand.NewPCG(seed, seed*31337))}
			for i := 0; i < 1500 && !t.Failed(); i++ {
				if i%2 == 0 {
					c := g.next()
					d.last = append(d.last, strings.Join(c, " "))
					d.check(c)
				} else {
					for _, c := range tg.next() {
						d.run(c)
					}
				}
				d.events()
			}
			t.Logf("%d commands, %d notifications compared", d.n, d.messages)
		})
	}
}

// TestNotifyConfig compares CONFIG SET/GET notify-keyspace-events with
// redis-server: canonical strings and rejected characters.
func TestNotifyConfig(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("CONFIG", "GET", "notify-keyspace-events")
	for _, v := range []string{"", "K", "E", "A", "KEA", "AKE", "g$lshzxetdn", "Ag", "gKEm", "m", "$", "KEx", "n", "x", "Ax", "KEAmn",
		"Kq", "a", "KEA ", "lshz$gxetd", "EKzyx", "t"} {
		d.same("CONFIG", "SET", "notify-keyspace-events", v)
		d.same("CONFIG", "GET", "notify-keyspace-events")
	}
	_ = fmt.Sprint()
}

// TestNotifyScript compares the notifications of the families the random
// generators do not cover (bitmaps, HyperLogLog, geo, SORT STORE, COPY,
// RESTORE, GETEX, blocking pops served by a push, MULTI/EXEC) with
// redis-server's, under several flag sets.
func TestNotifyScript(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	script := [][]string{
		{"SET", "s", "1"}, {"SETBIT", "b", "7", "1"}, {"SETBIT", "b", "7", "1"}, {"SETBIT", "b", "100", "0"}, {"SETBIT", "s", "1", "1"},
		{"BITFIELD", "bf", "SET", "u8", "0", "0"}, {"BITFIELD", "bf", "SET", "u8", "0", "0"}, {"BITFIELD", "bf", "SET", "u8", "0", "7"},
		{"BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "9"}, {"BITFIELD", "bf2", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "9"},
		{"BITFIELD", "bf", "GET", "u8", "0"}, {"BITFIELD", "bf", "INCRBY", "u8", "64", "1"},
		{"BITOP", "AND", "dest", "b", "s"}, {"BITOP", "OR", "dest", "b", "nosuch"}, {"BITOP", "OR", "dest", "nosuch"}, {"BITOP", "OR", "dest", "nosuch"},
		{"PFADD", "hll", "a", "b"}, {"PFADD", "hll", "a"}, {"PFADD", "hll2"}, {"PFADD", "hll2", "c"}, {"PFMERGE", "hll3", "hll", "hll2"}, {"PFMERGE", "hll3"},
		{"PFCOUNT", "hll"},
		{"GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"}, {"GEOADD", "g", "XX", "13.361389", "38.115556", "Palermo"},
		{"GEOSEARCHSTORE", "gs", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"},
		{"GEOSEARCHSTORE", "gs", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "ASC"},
		{"GEORADIUS", "g", "15", "37", "200", "km", "STORE", "gr"}, {"GEORADIUS", "g", "15", "37", "200", "km", "STOREDIST", "gr"},
		{"GEOSEARCHSTORE", "gs", "nosuch", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"}, {"GEORADIUS", "nosuch", "15", "37", "200", "km", "STORE", "gr"},
		{"RPUSH", "l", "3", "1", "2"}, {"SORT", "l", "STORE", "sorted"}, {"SORT", "l", "STORE", "sorted"}, {"SORT", "nosuch", "STORE", "sorted"},
		{"SORT", "nosuch", "STORE", "sorted"},
		{"COPY", "l", "l2"}, {"COPY", "l", "l2"}, {"COPY", "l", "l2", "REPLACE"}, {"COPY", "nosuch", "l3"},
		{"SET", "r", "v"}, {"DUMP", "r"},
		{"SET", "x", "1", "EX", "100"}, {"GETEX", "x", "PERSIST"}, {"GETEX", "x", "PERSIST"}, {"GETEX", "x", "EX", "100"}, {"GETEX", "x", "PXAT", "1"},
		{"SET", "x", "1", "KEEPTTL", "GET"}, {"SET", "x", "2", "PXAT", "1"}, {"SETEX", "x", "100", "v"}, {"PSETEX", "x", "100000", "v"},
		{"GETSET", "x", "3"}, {"GETDEL", "x"}, {"GETDEL", "x"}, {"MSET", "m1", "1", "m2", "2"}, {"MSETNX", "m3", "1", "m4", "2"}, {"MSETNX", "m3", "1"},
		{"INCR", "n"}, {"DECRBY", "n", "3"}, {"INCRBYFLOAT", "n", "1.5"}, {"APPEND", "n", "x"}, {"SETRANGE", "n", "10", "y"}, {"SETRANGE", "n", "1", ""},
		{"EXPIRE", "n", "100"}, {"PEXPIRE", "n", "100000"}, {"EXPIREAT", "n", "9999999999"}, {"PEXPIREAT", "n", "99999999999"}, {"PERSIST", "n"}, {"PERSIST", "n"},
		{"EXPIRE", "n", "100", "NX"}, {"EXPIRE", "n", "100", "NX"}, {"EXPIRE", "n", "-1"}, {"EXPIRE", "nosuch", "10"},
		{"SET", "a", "1"}, {"RENAME", "a", "b2"}, {"SET", "a", "1"}, {"RENAME", "a", "b2"}, {"RENAMENX", "b2", "m1"}, {"RENAMENX", "b2", "c2"}, {"RENAME", "c2", "c2"},
		{"UNLINK", "c2", "m1", "nosuch"}, {"DEL", "m2", "m3", "m4"},
		{"MULTI"}, {"SET", "t1", "1"}, {"LPUSH", "t2", "a"}, {"LPOP", "t2"}, {"INCR", "t1"}, {"DEL", "t1"}, {"EXEC"},
		{"EVAL", "redis.call('set', KEYS[1], 'x'); redis.call('expire', KEYS[1], 100); return redis.call('del', KEYS[1])", "1", "ev"},
		{"LPUSH", "lm", "a", "b"}, {"LMOVE", "lm", "lm2", "LEFT", "RIGHT"}, {"LMOVE", "lm", "lm2", "RIGHT", "LEFT"}, {"LMOVE", "lm2", "lm2", "LEFT", "RIGHT"},
		{"RPOPLPUSH", "lm2", "lm3"}, {"LMPOP", "2", "nosuch", "lm3", "LEFT", "COUNT", "5"},
		{"ZADD", "z", "1", "a", "2", "b", "3", "c"}, {"ZINCRBY", "z", "1", "a"}, {"ZMPOP", "1", "z", "MIN"}, {"ZPOPMAX", "z", "5"}, {"ZPOPMIN", "z"},
		{"FLUSHALL"},
	}
	for _, flags := range []string{"KEA", "KEAn", "Eg$x", "Kln", "KEz", "KEm"} {
		t.Run(flags, func(t *testing.T) {
			d := newNotifyDiffer(t, rd.Addr, sh.addr(), flags)
			var restorePayload string
			for _, c := range script {
				if c[0] == "DUMP" {
					restorePayload = parseRESP(d.ref.do(c...)).s
					d.got.do(c...)
					for _, r := range [][]string{{"RESTORE", "rr", "0", restorePayload}, {"RESTORE", "rr", "0", restorePayload, "REPLACE"},
						{"RESTORE", "rr", "1", restorePayload, "REPLACE", "ABSTTL"}, {"RESTORE", "rr", "100000", restorePayload}} {
						d.run(r)
						d.events()
					}
					continue
				}
				d.run(c)
				if c[0] != "MULTI" && !inMulti(d.last) {
					d.events()
				}
			}
			t.Logf("%d notifications compared", d.messages)
		})
	}
}

// inMulti reports whether the last commands opened a MULTI not yet
// closed.
func inMulti(last []string) bool {
	for i := len(last) - 1; i >= 0; i-- {
		switch strings.Fields(last[i] + " x")[0] {
		case "EXEC", "DISCARD":
			return false
		case "MULTI":
			return true
		}
	}
	return false
}

// TestNotifyBlocked compares the notifications of a push that serves a
// blocked BLPOP, BLMOVE or BZPOPMIN with redis-server's: the push's events,
// then the pop's (and "del" of the emptied key), as Redis serves the
// blocked client after the pushing command.
func TestNotifyBlocked(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := newNotifyDiffer(t, rd.Addr, sh.addr(), "KEA")
	blockers := map[string]*rawConn{"redis": dialRaw(t, rd.Addr), "shardis": dialRaw(t, sh.addr())}
	waitBlocked := func(c *rawConn) {
		for i := 0; i < 500; i++ {
			if strings.Contains(c.do("INFO", "clients"), "blocked_clients:1") {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatal("client did not block")
	}
	for _, tc := range []struct{ block, push []string }{
		{[]string{"BLPOP", "bl", "5"}, []string{"RPUSH", "bl", "x"}},
		{[]string{"BLPOP", "bl", "5"}, []string{"RPUSH", "bl", "x", "y"}},
		{[]string{"BLMOVE", "bm", "bm2", "LEFT", "RIGHT", "5"}, []string{"LPUSH", "bm", "x"}},
		{[]string{"BRPOPLPUSH", "bm", "bm", "5"}, []string{"LPUSH", "bm", "x"}},
		{[]string{"BLMPOP", "5", "2", "q1", "q2", "RIGHT", "COUNT", "3"}, []string{"LPUSH", "q2", "a", "b"}},
		{[]string{"BZPOPMIN", "bz", "5"}, []string{"ZADD", "bz", "1", "a"}},
		{[]string{"BZMPOP", "5", "1", "bz", "MAX", "COUNT", "2"}, []string{"ZADD", "bz", "1", "a", "2", "b", "3", "c"}},
	} {
		for name, ref := range map[string]*rawConn{"redis": d.ref, "shardis": d.got} {
			blockers[name].send(encodeCommand(tc.block...))
			waitBlocked(ref)
		}
		d.last = append(d.last, strings.Join(tc.block, " "))
		d.run(tc.push)
		for _, b := range blockers {
			b.reply()
		}
		d.events()
	}
	d.same("FLUSHALL")
	d.events()
}

// TestNotifyExpired checks "expired" from the active expiry cycle (keys
// nobody reads) and from a lazy lookup (a Tx that finds the key expired
// records the event; it is published when the Tx unlocks).
func TestNotifyExpired(t *testing.T) {
	sh := startServer(t, func(c *Config) { c.NotifyKeyspaceEvents = notifyKeyevent | notifyExpired })
	sub := dialRaw(t, sh.addr())
	sub.do("SUBSCRIBE", "__keyevent@0__:expired")
	w := dialRaw(t, sh.addr())
	for _, k := range []string{"a", "b", "c"} {
		w.do("SET", k, "v", "PX", "5")
	}
	got := map[string]bool{}
	for len(got) < 3 {
		v := parseRESP(sub.reply()) // the active cycle deletes them (hz 10)
		got[v.arr[2].s] = true
	}
	if !got["a"] || !got["b"] || !got["c"] {
		t.Fatalf("expired: %v", got)
	}

	// Lazy: a lookup of an expired key, with no active cycle involved.
	ks := NewKeyspace(NewStream(0))
	var hub pubsubHub
	ks.events = &hub
	ks.SetNotifyFlags(notifyKeyspace | notifyKeyevent | notifyExpired)
	var tx Tx
	tx.reset(ks, 1000)
	tx.lockKey([]byte("k"))
	h := hashKey([]byte("k"))
	tx.put(tx.shardOf(h), newStringEntry(h, []byte("k"), []byte("v")).withExp(500), false)
	if _, _, ok := tx.lookup([]byte("k")); ok {
		t.Fatal("k should be expired")
	}
	if len(tx.events) != 1 || tx.events[0] != (keyEvent{"expired", "k"}) {
		t.Fatalf("events: %v", tx.events)
	}
	tx.unlock()
	if len(tx.events) != 0 {
		t.Fatalf("events left after unlock: %v", tx.events)
	}
}

// TestNotifyReplica: a replica notifies the writes it applies from its
// master (through the same handlers), and an expired key's deletion as
// the master's DEL ("del"), never "expired" itself, as Redis replicas do.
func TestNotifyReplica(t *testing.T) {
	m := startServer(t, nil)
	r := startReplica(t, m.addr(), func(c *Config) { c.NotifyKeyspaceEvents = notifyKeyevent | notifyAll })
	waitSynced(t, client(t, m.addr()), client(t, r.addr()))
	sub := dialRaw(t, r.addr())
	sub.do("PSUBSCRIBE", "__keyevent@0__:*")
	w := dialRaw(t, m.addr())
	for _, c := range [][]string{{"SET", "a", "1"}, {"LPUSH", "l", "x"}, {"HSET", "h", "f", "v"}, {"DEL", "a"}, {"INCRBYFLOAT", "n", "1.5"},
		{"SET", "e", "v", "PX", "30"}} {
		w.do(c...)
	}
	want := []string{"set a", "lpush l", "hset h", "del a", "set n", "set e", "expire e", "del e"}
	for i, exp := range want {
		v := parseRESP(sub.reply())
		if got := strings.TrimPrefix(v.arr[2].s, "__keyevent@0__:") + " " + v.arr[3].s; got != exp {
			t.Fatalf("message %d: %q, want %q", i, got, exp)
		}
	}
}
