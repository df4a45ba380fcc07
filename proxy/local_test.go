package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// exchange is one command and the exact reply expected ("" for any,
// "prefix*" for a prefix).
type exchange struct {
	args []string
	want string
}

func runExchanges(t *testing.T, rc *rawClient, xs []exchange) {
	t.Helper()
	for _, x := range xs {
		got := rc.do(x.args...)
		switch {
		case x.want == "":
		case strings.HasSuffix(x.want, "*"):
			if !strings.HasPrefix(got, strings.TrimSuffix(x.want, "*")) {
				t.Errorf("%q: %q, want prefix %q", x.args, got, strings.TrimSuffix(x.want, "*"))
			}
		case got != x.want:
			t.Errorf("%q: %q, want %q", x.args, got, x.want)
		}
	}
}

func TestLocalCommandsAndErrors(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 2)
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), serverLines(backends, weight1), "hash_tag: \"{}\""))
	rc := dialRaw(t, tp.addrs["p"])
	// Two keys on different shards.
	tbl := tp.Pool("p").Table()
	var a, b string
	for i := 0; a == "" || b == ""; i++ {
		k := fmt.Sprintf("key:%d", i)
		if tbl.lookupIndex([]byte(k)) == 0 && a == "" {
			a = k
		}
		if tbl.lookupIndex([]byte(k)) == 1 && b == "" {
			b = k
		}
	}
	runExchanges(t, rc, []exchange{
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"ping", "hi"}, "$2\r\nhi\r\n"},
		{[]string{"PING", "a", "b"}, "-ERR wrong number of arguments for 'ping' command\r\n"},
		{[]string{"ECHO", "x\r\ny"}, "$4\r\nx\r\ny\r\n"},
		{[]string{"SELECT", "0"}, "+OK\r\n"},
		{[]string{"SELECT", "1"}, "-ERR DB index is out of range\r\n"},
		{[]string{"SELECT", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"AUTH", "x"}, "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"},
		{[]string{"HELLO", "3"}, "-NOPROTO unsupported protocol version\r\n"},
		{[]string{"HELLO", "2"}, "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n*"},
		{[]string{"HELLO", "x"}, "-ERR Protocol version is not an integer or out of range\r\n"},
		{[]string{"HELLO", "2", "SETNAME", "me"}, "*14\r\n*"},
		{[]string{"CLIENT", "GETNAME"}, "$2\r\nme\r\n"},
		{[]string{"CLIENT", "SETNAME", "bad name"}, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{[]string{"client", "setname", "other"}, "+OK\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$5\r\nother\r\n"},
		{[]string{"CLIENT", "ID"}, ":*"},
		{[]string{"CLIENT", "SETINFO", "LIB-NAME", "go-redis(v9)"}, "+OK\r\n"},
		{[]string{"CLIENT", "SETINFO", "LIB-COLOR", "x"}, "-ERR Unrecognized option 'LIB-COLOR'\r\n"},
		{[]string{"CLIENT", "SETNAME"}, "-ERR wrong number of arguments for 'client|setname' command\r\n"},
		{[]string{"CLIENT", "KILL", "x"}, "-ERR unknown or unsupported subcommand 'kill' for 'client'\r\n"},
		{[]string{"COMMAND", "COUNT"}, fmt.Sprintf(":%d\r\n", len(commandTable))},
		{[]string{"COMMAND", "INFO", "get", "nosuch"}, "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n$-1\r\n"},
		{[]string{"COMMAND", "DOCS"}, "*0\r\n"},
		{[]string{"FOO", "bar"}, "-ERR unknown or unsupported command 'foo'\r\n"},
		{[]string{"KEYS", "*"}, "-ERR command 'keys' is disabled in this pool (allow_admin_commands is false)\r\n"},
		{[]string{"MONITOR"}, "-ERR unknown or unsupported command 'monitor'\r\n"},
		{[]string{"SSUBSCRIBE", "c"}, "-ERR unknown or unsupported command 'ssubscribe'\r\n"},
		{[]string{"SwapDB", "0", "1"}, "-ERR unknown or unsupported command 'swapdb'\r\n"},
		{[]string{"FlushAll"}, "-ERR command 'flushall' is disabled in this pool (allow_admin_commands is false)\r\n"},
		{[]string{"GET"}, "-ERR wrong number of arguments for 'get' command\r\n"},
		{[]string{"GET", "a", "b"}, "-ERR wrong number of arguments for 'get' command\r\n"},
		{[]string{"MSET", "a"}, "-ERR wrong number of arguments for 'mset' command\r\n"},
		{[]string{"MSET", a, "1", b}, "-ERR wrong number of arguments for 'mset' command\r\n"},
		{[]string{"MSET", a, "1", b, "2"}, "+OK\r\n"},
		{[]string{"MGET", a, b, "nokey"}, "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"},
		{[]string{"EXISTS", a, b, a, "nokey"}, ":3\r\n"},
		{[]string{"RENAME", a, b}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
		{[]string{"SUNIONSTORE", "{x}d", "{x}a", "{y}b"}, ""}, // x and y may share a shard
		{[]string{"SUNIONSTORE", "{x}d", "{x}a", "{x}b"}, ":0\r\n"},
		{[]string{"EVAL", "return 1", "0"}, ":1\r\n"},
		{[]string{"EVAL", "return KEYS[1]", "1", a}, fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)},
		{[]string{"EVAL", "return 1", "2", a, b}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
		{[]string{"EVAL", "return 1", "5", a}, "-ERR Number of keys can't be greater than number of args\r\n"},
		{[]string{"XREAD", "BLOCK", "10", "STREAMS", "nostream", "0"}, "*-1\r\n"},
		{[]string{"XREAD", "BLOCK", "0", "STREAMS", a, b, "0", "0"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
		{[]string{"XREAD", "COUNT", "1", "STREAMS", a}, "-ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.\r\n"},
		{[]string{"XREAD", "COUNT", "1", "STREAMS", "nostream", "0"}, "*-1\r\n"},
		{[]string{"DEL", a, b}, ":2\r\n"},
		{[]string{"OBJECT", "ENCODING", a}, "$-1\r\n"},
		{[]string{"INFO"}, "$*"},
	})
	info := rc.do("INFO", "all")
	for _, want := range []string{"# Server\r\n", "redis_version:", "# Clients\r\nconnected_clients:1\r\n", "# Pool\r\npool:p\r\n",
		"distribution:ketama", "# Servers\r\nshard0:name=" + backends[0].Addr + ",status=up,addr=" + backends[0].Addr,
		"cmdstat_mget:calls=1,", "cmdstat_get:calls=2,usec=", "rejected_calls=2", "cmdstat_unknown:calls=", "crossslot_errors:3"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	// Inline commands, as from telnet.
	rc.send("PING\r\nset \"in line\" 'v w'\nGET \"in line\"\r\n")
	for _, want := range []string{"+PONG\r\n", "+OK\r\n", "$3\r\nv w\r\n"} {
		if got := rc.reply(); got != want {
			t.Errorf("inline: %q, want %q", got, want)
		}
	}
	// QUIT answers +OK and closes.
	rc.send(cmd("QUIT") + cmd("PING"))
	if got := rc.reply(); got != "+OK\r\n" {
		t.Errorf("QUIT: %q", got)
	}
	if got, err := rc.readReply(); err != io.EOF {
		t.Errorf("after QUIT: %q, %v (want EOF)", got, err)
	}
}

// TestProtocolErrorClosesOnlyThatClient: a malformed request gets
// "-ERR Protocol error: ..." after the replies to the commands before it,
// then that connection is closed; other clients are not affected.
func TestProtocolErrorClosesOnlyThatClient(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 1)
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), serverLines(backends, weight1)))
	good := dialRaw(t, tp.addrs["p"])
	for _, tc := range []struct{ in, want string }{
		{"*2\r\n$3\r\nGET\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"*1048577\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"},
		{"GET \"a\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
	} {
		bad := dialRaw(t, tp.addrs["p"])
		bad.send(cmd("SET", "k", "v") + tc.in)
		if got := bad.reply(); got != "+OK\r\n" {
			t.Errorf("%q: reply before the error: %q", tc.in, got)
		}
		if got := bad.reply(); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
		if got, err := bad.readReply(); err != io.EOF {
			t.Errorf("%q: connection not closed: %q %v", tc.in, got, err)
		}
		if got := good.do("GET", "k"); got != "$1\r\nv\r\n" {
			t.Errorf("other client after %q: %q", tc.in, got)
		}
	}
	if n := tp.Pool("p").stats.clientErr.Load(); n < 5 {
		t.Errorf("client_err = %d", n)
	}
}

// TestAuth: with redis_auth the proxy requires AUTH from clients (NOAUTH
// before it, even for PING) and authenticates to the servers itself.
func TestAuth(t *testing.T) {
	backends := []*harness.Proc{
		harness.StartRedis(t, "--requirepass", "s3cret"),
		harness.StartRedis(t, "--requirepass", "s3cret"),
	}
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), serverLines(backends, weight1), "redis_auth: s3cret", "redis_db: 3"))
	rc := dialRaw(t, tp.addrs["p"])
	runExchanges(t, rc, []exchange{
		{[]string{"GET", "a"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"PING"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"NOSUCH"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"HELLO", "2"}, "-NOAUTH HELLO must be called with the client already authenticated*"},
		{[]string{"AUTH", "wrong"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "bob", "s3cret"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "s3cret"}, "+OK\r\n"},
		{[]string{"SET", "a", "1"}, "+OK\r\n"},
		{[]string{"GET", "a"}, "$1\r\n1\r\n"},
	})
	runExchanges(t, dialRaw(t, tp.addrs["p"]), []exchange{
		{[]string{"HELLO", "2", "AUTH", "default", "s3cret"}, "*14\r\n*"},
		{[]string{"GET", "a"}, "$1\r\n1\r\n"},
	})
	// go-redis with a password (HELLO 3 AUTH fails with NOPROTO, then AUTH).
	c := client(t, tp.addrs["p"], func(o *redis.Options) { o.Password = "s3cret" })
	if v, err := c.Get(context.Background(), "a").Result(); err != nil || v != "1" {
		t.Fatalf("go-redis: %q %v", v, err)
	}
	// The key went to database 3 (redis_db) of its server.
	found := 0
	for _, b := range backends {
		d := dialRaw(t, b.Addr)
		d.do("AUTH", "s3cret")
		d.do("SELECT", "3")
		if d.do("GET", "a") == "$1\r\n1\r\n" {
			found++
		}
	}
	if found != 1 {
		t.Errorf("key found in db 3 of %d servers", found)
	}
}

// TestClientLimitAndIdle: client_connections is enforced and
// client_idle_timeout closes idle clients only.
func TestClientLimitAndIdle(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 1)
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), serverLines(backends, weight1), "client_connections: 2", "client_idle_timeout: 400"))
	c1, c2 := dialRaw(t, tp.addrs["p"]), dialRaw(t, tp.addrs["p"])
	c1.do("PING")
	c2.do("PING")
	c3 := dialRaw(t, tp.addrs["p"])
	if got, _ := c3.readReply(); got != "-ERR max number of clients reached\r\n" {
		t.Errorf("third client: %q", got)
	}
	if _, err := c3.readReply(); err != io.EOF {
		t.Errorf("third client not closed: %v", err)
	}
	// c1 stays busy, c2 idles.
	deadline := time.Now().Add(1200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if got := c1.do("PING"); got != "+PONG\r\n" {
			t.Fatalf("busy client: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c2.readReply(); err != io.EOF {
		t.Errorf("idle client not closed: %v", err)
	}
	// Its place is free again.
	c4 := dialRaw(t, tp.addrs["p"])
	if got := c4.do("PING"); got != "+PONG\r\n" {
		t.Errorf("new client after idle close: %q", got)
	}
}

// TestUnixSocketAndSkippedMemcachedPool: a pool listens on a unix socket
// with its permissions; a memcached pool (redis: false) is skipped.
func TestUnixSocketAndSkippedMemcachedPool(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 1)
	sock := t.TempDir() + "/proxy.sock"
	yaml := yamlPool("u", sock+" 0600", serverLines(backends, weight1)) +
		"mc:\n  listen: " + freeAddr(t) + "\n  servers:\n   - 127.0.0.1:11211:1\n"
	tp := startTestProxy(t, yaml)
	if len(tp.Pools()) != 1 || tp.Pool("mc") != nil {
		t.Fatalf("pools served: %d", len(tp.Pools()))
	}
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, nc: nc}
	defer nc.Close()
	if got := rc.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Errorf("%q", got)
	}
	fi, err := statPerm(sock)
	if err != nil || fi != 0o600 {
		t.Errorf("socket permissions %o, %v", fi, err)
	}
}
