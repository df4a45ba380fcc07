package backend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// testList is a minimal Object, written the way a type family is added
// (issue 3's lists.go will look like this): WRONGTYPE checks, copy-on-write
// through Tx.mutableObject, AOF rewrite through Rewrite.
type testList struct{ items []string }

func (l *testList) Type() string     { return "list" }
func (l *testList) Encoding() string { return "testlist" }
func (l *testList) Len() int         { return len(l.items) }
func (l *testList) Clone() Object    { return &testList{items: append([]string(nil), l.items...)} }
func (l *testList) MemoryUsage() int {
	n := 24
	for _, s := range l.items {
		n += 16 + len(s)
	}
	return n
}

func (l *testList) Rewrite(key string, emit func(args ...[]byte)) {
	for i := 0; i < len(l.items); i += rewriteBatch {
		args := [][]byte{[]byte("TESTPUSH"), []byte(key)}
		for _, s := range l.items[i:min(i+rewriteBatch, len(l.items))] {
			args = append(args, []byte(s))
		}
		emit(args...)
	}
}

func testListCommands() []*cmdSpec {
	return []*cmdSpec{
		{name: "testpush", handler: cmdTestPush, arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: "list"},
		{name: "testrange", handler: cmdTestRange, arity: 2, flags: flagReadonly, first: 1, last: 1, step: 1, group: "list"},
	}
}

func cmdTestPush(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, ok := tx.lookup(key)
	var l *testList
	switch {
	case !ok:
		l = &testList{}
		tx.putObject(key, l, false)
	case !e.isObject():
		c.err(errWrongType)
		return
	default:
		var isList bool
		if l, isList = tx.mutableObject(sh, e).(*testList); !isList {
			c.err(errWrongType)
			return
		}
	}
	for _, a := range args[2:] {
		l.items = append(l.items, string(a))
	}
	c.emitSelf(tx)
	c.int(int64(len(l.items)))
}

func cmdTestRange(c *Client, args [][]byte) {
	tx := c.begin()
	tx.lockKey(args[1])
	e, _, ok := tx.lookupRead(args[1])
	var items []string
	if ok {
		var l *testList
		isList := false
		if e.isObject() {
			l, isList = e.rec().obj.(*testList)
		}
		if !isList {
			c.commit()
			c.err(errWrongType)
			return
		}
		items = append(items, l.items...)
	}
	c.commit()
	c.array(len(items))
	for _, s := range items {
		c.bulkString(s)
	}
}

func withTestList(s *Server) { s.cmds.add(testListCommands()...) }

func TestObjectsWrongType(t *testing.T) {
	s := startServer(t, nil, withTestList)
	rdb := client(t, s.addr())
	wrong := errReply(errWrongType)
	runSteps(t, rdb, []step{
		{[]any{"TESTPUSH", "l", "a", "b"}, int64(2)},
		{[]any{"TYPE", "l"}, "list"},
		{[]any{"OBJECT", "ENCODING", "l"}, "testlist"},
		{[]any{"GET", "l"}, wrong},
		{[]any{"INCR", "l"}, wrong},
		{[]any{"INCRBYFLOAT", "l", "1"}, wrong},
		{[]any{"APPEND", "l", "x"}, wrong},
		{[]any{"STRLEN", "l"}, wrong},
		{[]any{"GETRANGE", "l", "0", "1"}, wrong},
		{[]any{"SETRANGE", "l", "0", "x"}, wrong},
		{[]any{"GETSET", "l", "x"}, wrong},
		{[]any{"GETDEL", "l"}, wrong},
		{[]any{"GETEX", "l"}, wrong},
		{[]any{"SET", "l", "x", "GET"}, wrong},
		{[]any{"MGET", "l"}, []any{nil}},
		{[]any{"SET", "s", "x"}, "OK"},
		{[]any{"TESTPUSH", "s", "x"}, wrong},
		{[]any{"EXPIRE", "l", "1000"}, int64(1)},
		{[]any{"RENAME", "l", "l2"}, "OK"},
		{[]any{"TESTRANGE", "l2"}, []any{"a", "b"}},
		{[]any{"TTL", "l2"}, int64(1000)},
		{[]any{"SCAN", "0", "TYPE", "list", "COUNT", "1000"}, []any{"0", []any{"l2"}}},
		{[]any{"SET", "l2", "now a string"}, "OK"},
		{[]any{"TYPE", "l2"}, "string"},
		{[]any{"TTL", "l2"}, int64(-1)},
	})
}

// TestSnapshotCopyOnWrite: a snapshot keeps the keyspace as it was, strings
// and objects, while writes go on.
func TestSnapshotCopyOnWrite(t *testing.T) {
	s := startServer(t, nil, withTestList)
	rdb := client(t, s.addr())
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		rdb.Set(ctx, "k"+strconv.Itoa(i), "old", 0)
	}
	rdb.Do(ctx, "TESTPUSH", "l", "a", "b", "c")
	snap := s.ks.Snapshot(false)
	for i := 0; i < 1000; i += 2 {
		rdb.Set(ctx, "k"+strconv.Itoa(i), "new", 0)
	}
	rdb.Del(ctx, "k1")
	rdb.Do(ctx, "TESTPUSH", "l", "d")
	rdb.Set(ctx, "added", "x", 0)
	got := map[string]string{}
	snap.Range(0, func(it snapItem) bool {
		if it.e.isObject() {
			got[it.e.key()] = fmt.Sprint(it.e.rec().obj.(*testList).items)
		} else {
			got[it.e.key()] = it.e.str()
		}
		return true
	})
	snap.Release()
	if len(got) != 1001 {
		t.Fatalf("snapshot has %d keys, want 1001", len(got))
	}
	for i := 0; i < 1000; i++ {
		if v := got["k"+strconv.Itoa(i)]; v != "old" {
			t.Fatalf("snapshot k%d = %q", i, v)
		}
	}
	if got["l"] != "[a b c]" {
		t.Fatalf("snapshot list = %s", got["l"])
	}
	if v := rdb.Do(ctx, "TESTRANGE", "l").Val(); fmt.Sprint(v) != "[a b c d]" {
		t.Fatalf("live list = %v", v)
	}
	// After release, writes mutate in place (no clone) and stay correct.
	rdb.Do(ctx, "TESTPUSH", "l", "e")
	if v := rdb.Do(ctx, "TESTRANGE", "l").Val(); fmt.Sprint(v) != "[a b c d e]" {
		t.Fatalf("live list = %v", v)
	}
}

// TestAtomically: the EXEC building block runs several handlers under one
// set of locks and emits MULTI ... EXEC, which the AOF loader applies as a
// unit.
func TestAtomically(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, aofConfig(dir), func(s *Server) {
		s.cmds.add(&cmdSpec{name: "testmulti", arity: -2, flags: flagWrite, first: 1, last: -1, step: 1,
			handler: func(c *Client, args [][]byte) {
				c.atomically(false, args[1:], func() {
					for _, k := range args[1:] {
						// As EXEC will: each queued command's own args.
						inner := [][]byte{[]byte("INCR"), k}
						c.raw, c.args = nil, inner
						cmdIncr(c, inner)
					}
				})
			}})
	})
	r := dialRaw(t, s.addr())
	if got := r.do("TESTMULTI", "a", "b", "a"); got != ":1\r\n:1\r\n:2\r\n" {
		// Replies of the inner commands, in order.
		got += r.reply() + r.reply()
		if got != ":1\r\n:1\r\n:2\r\n" {
			t.Fatalf("replies: %q", got)
		}
	}
	r.do("PING")
	b, _ := os.ReadFile(filepath.Join(dir, "appendonly.aof"))
	want := "*1\r\n$5\r\nMULTI\r\n" + string(encodeCommand("INCR", "a")) + string(encodeCommand("INCR", "b")) +
		string(encodeCommand("INCR", "a")) + "*1\r\n$4\r\nEXEC\r\n"
	if string(b) != want {
		t.Fatalf("AOF:\n%q\nwant\n%q", b, want)
	}
}
