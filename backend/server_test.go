package backend

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestServerCommands(t *testing.T) {
	s := startServer(t, nil)
	rdb := client(t, s.addr())
	ctx := context.Background()
	runSteps(t, rdb, []step{
		{[]any{"PING"}, "PONG"},
		{[]any{"PING", "x"}, "x"},
		{[]any{"ECHO", "e"}, "e"},
		{[]any{"SELECT", "0"}, "OK"},
		{[]any{"SELECT", "1"}, errReply(errSelectNonZero)},
		{[]any{"SELECT", "16"}, errReply("ERR DB index is out of range")},
		{[]any{"SELECT", "x"}, errReply("ERR value is not an integer or out of range")},
		{[]any{"AUTH", "x"}, errReply(errAuthNoPass)},
		{[]any{"FUNCTION", "FLUSH"}, "OK"},
		{[]any{"FUNCTION", "LIST"}, []any{}},
		{[]any{"CONFIG", "FOO"}, errReply("ERR unknown subcommand 'FOO'. Try CONFIG HELP.")},
		{[]any{"CONFIG", "GET"}, errReply("ERR wrong number of arguments for 'config|get' command")},
		{[]any{"CONFIG", "GET", "appendfsync"}, []any{"appendfsync", "everysec"}},
		{[]any{"CONFIG", "SET", "appendfsync", "always", "hz", "20"}, "OK"},
		{[]any{"CONFIG", "GET", "appendfsync"}, []any{"appendfsync", "always"}},
		{[]any{"CONFIG", "SET", "appendfsync", "foo"}, errReply("ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no")},
		{[]any{"CONFIG", "SET", "hz", "1", "hz", "2"}, errReply("ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter")},
		{[]any{"CONFIG", "SET", "port", "1"}, errReply("ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")},
		{[]any{"CONFIG", "SET", "nope", "1"}, errReply("ERR Unknown option or number of arguments for CONFIG SET - 'nope'")},
		{[]any{"CONFIG", "SET", "maxclients", "0"}, errReply("ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive")},
		{[]any{"CONFIG", "RESETSTAT"}, "OK"},
		{[]any{"CONFIG", "REWRITE"}, errReply(errNoConfigFile)},
		{[]any{"CLIENT", "SETNAME", "bad name"}, errReply(errClientNameSpace)},
		{[]any{"CLIENT", "SETNAME", "tester"}, "OK"},
		{[]any{"CLIENT", "GETNAME"}, "tester"},
		{[]any{"CLIENT", "NO-EVICT", "on"}, "OK"},
		{[]any{"CLIENT", "SETINFO", "LIB-NAME", "mylib"}, "OK"},
		{[]any{"CLIENT", "KILL", "1.2.3.4:5"}, errReply(errNoSuchClient)},
		{[]any{"CLIENT", "FOO"}, errReply("ERR unknown subcommand 'FOO'. Try CLIENT HELP.")},
		{[]any{"COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"}, []any{"a", "b"}},
		{[]any{"COMMAND", "GETKEYS", "PING"}, errReply("ERR The command has no key arguments")},
		{[]any{"SHUTDOWN", "ABORT"}, errReply(errNotShuttingDown)},
		{[]any{"HELLO", "3"}, errReply(errNoProto)},
	})
	// INFO: every section, Redis' field names.
	info := rdb.Info(ctx, "everything").Val()
	for _, f := range []string{"# Server", "redis_version:7.0.15", "tcp_port:", "# Clients", "connected_clients:",
		"# Memory", "used_memory:", "used_memory_rss:", "# Persistence", "aof_enabled:0", "rdb_last_save_time:",
		"# Stats", "total_commands_processed:", "keyspace_hits:", "expired_keys:", "# Replication", "role:master",
		"master_repl_offset:", "# CPU", "used_cpu_sys:", "# Commandstats", "cmdstat_client|setname:calls=",
		"# Errorstats", "errorstat_ERR:count=", "# Keyspace"} {
		if !strings.Contains(info, f) {
			t.Errorf("INFO everything lacks %q", f)
		}
	}
	if i := rdb.Info(ctx, "keyspace").Val(); strings.Contains(i, "# Server") {
		t.Errorf("INFO keyspace has other sections: %s", i)
	}
	// CONFIG GET * returns pairs.
	all := rdb.Do(ctx, "CONFIG", "GET", "*").Val().([]any)
	if len(all)%2 != 0 || len(all) < 30 {
		t.Fatalf("CONFIG GET *: %d items", len(all))
	}
	// COMMAND COUNT, INFO, DOCS from the table.
	n := rdb.Do(ctx, "COMMAND", "COUNT").Val().(int64)
	if int(n) != len(s.cmds) {
		t.Fatalf("COMMAND COUNT %d, table %d", n, len(s.cmds))
	}
	ci := rdb.Do(ctx, "COMMAND", "INFO", "get", "nosuch").Val().([]any)
	if len(ci) != 2 || ci[1] != nil {
		t.Fatalf("COMMAND INFO: %#v", ci)
	}
	get := ci[0].([]any)
	if get[0] != "get" || get[1] != int64(2) || get[3] != int64(1) || get[4] != int64(1) || get[5] != int64(1) {
		t.Fatalf("COMMAND INFO get: %#v", get)
	}
	docs := rdb.Do(ctx, "COMMAND", "DOCS", "set").Val().([]any)
	if len(docs) != 2 || docs[0] != "set" {
		t.Fatalf("COMMAND DOCS set: %#v", docs)
	}
	// go-redis' own COMMAND parsing works.
	if cmds, err := rdb.Command(ctx).Result(); err != nil || cmds["get"] == nil || !cmds["get"].ReadOnly {
		t.Fatalf("go-redis COMMAND: %v", err)
	}
	// CLIENT LIST has this client with its name.
	if l := rdb.ClientList(ctx).Val(); !strings.Contains(l, "name=tester") || !strings.Contains(l, "lib-name=mylib") {
		t.Fatalf("CLIENT LIST: %s", l)
	}
	if v := rdb.Time(ctx).Val(); time.Since(v) > time.Minute || time.Since(v) < -time.Minute {
		t.Fatalf("TIME: %v", v)
	}
}

// TestAuth: requirepass, NOAUTH before AUTH (but unknown commands are
// reported first, as Redis does), AUTH default <pass>, HELLO AUTH.
func TestAuth(t *testing.T) {
	s := startServer(t, func(c *Config) { c.RequirePass = "secret" })
	r := dialRaw(t, s.addr())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"GET", "k"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"FOO"}, "-ERR unknown command 'FOO', with args beginning with: \r\n"},
		{[]string{"AUTH", "bad"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "other", "secret"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"HELLO", "2"}, "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"},
		{[]string{"AUTH", "default", "secret"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$-1\r\n"},
	} {
		if got := r.do(c.args...); got != c.want {
			t.Fatalf("%q: %q, want %q", c.args, got, c.want)
		}
	}
	// go-redis with a password (HELLO 3 → NOPROTO → AUTH fallback).
	rdb := redis.NewClient(&redis.Options{Addr: s.addr(), Password: "secret"})
	defer rdb.Close()
	if err := rdb.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	bad := redis.NewClient(&redis.Options{Addr: s.addr(), Password: "nope", MaxRetries: -1})
	defer bad.Close()
	if err := bad.Ping(context.Background()).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("bad password: %v", err)
	}
}

func TestMaxClientsAndQuit(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxClients = 2 })
	a := dialRaw(t, s.addr())
	b := dialRaw(t, s.addr())
	a.do("PING")
	b.do("PING")
	got, closed := rawExchange(t, s.addr(), []byte("PING\r\n"), 300*time.Millisecond)
	if got != "-ERR max number of clients reached\r\n" || !closed {
		t.Fatalf("over maxclients: %q closed=%v", got, closed)
	}
	if r := a.do("QUIT"); r != "+OK\r\n" {
		t.Fatalf("QUIT: %q", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.clients.count() > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c := dialRaw(t, s.addr())
	if r := c.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("after QUIT freed a slot: %q", r)
	}
}

func TestClientKill(t *testing.T) {
	s := startServer(t, nil)
	victim := dialRaw(t, s.addr())
	id := strings.TrimSuffix(strings.TrimPrefix(victim.do("CLIENT", "ID"), ":"), "\r\n")
	admin := dialRaw(t, s.addr())
	if r := admin.do("CLIENT", "KILL", "ID", id); r != ":1\r\n" {
		t.Fatalf("CLIENT KILL ID: %q", r)
	}
	_ = victim.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	victim.send(encodeCommand("PING"))
	if _, err := readReply(victim.br); err == nil {
		t.Fatal("killed client still served")
	}
	if r := admin.do("CLIENT", "KILL", "ID", "999999"); r != ":0\r\n" {
		t.Fatalf("CLIENT KILL unknown: %q", r)
	}
}

// TestShutdownCommand: SHUTDOWN stops Serve cleanly, the AOF holds the
// data, and the caller's connection is closed without a reply.
func TestShutdownCommand(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.Dir = t.TempDir()
	cfg.AppendOnly = true
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.logH.setWriter(discard{})
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	<-s.Ready()
	r := dialRaw(t, s.addr())
	r.do("SET", "k", "v")
	r.send(encodeCommand("SHUTDOWN"))
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := readReply(r.br); err == nil {
		t.Fatal("SHUTDOWN replied")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after SHUTDOWN")
	}
	if err := s.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Serve: %v", err)
	}
	// Restart on the same directory: the data is back.
	cfg.Port = 0
	s2 := startServer(t, func(c *Config) { *c = cfg })
	if got := dialRaw(t, s2.addr()).do("GET", "k"); got != "$1\r\nv\r\n" {
		t.Fatalf("after restart: %q", got)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestIdleTimeout(t *testing.T) {
	s := startServer(t, nil)
	r := dialRaw(t, s.addr())
	if got := r.do("CONFIG", "SET", "timeout", "1"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	r.do("PING") // the next read waits with the 1 s deadline
	time.Sleep(1500 * time.Millisecond)
	_ = r.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	r.send(encodeCommand("PING"))
	if _, err := readReply(r.br); err == nil {
		t.Fatal("idle client not closed")
	}
}
