package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

// directGet reads key straight from a redis-server.
func directGet(t *testing.T, addr, key string) string {
	t.Helper()
	c := dialRaw(t, addr)
	defer c.nc.Close()
	return c.do("GET", key)
}

// expectClosed checks that the proxy closes c (after sending what it
// owed): reading returns EOF within the drain time.
func expectClosed(t *testing.T, c *rawClient, what string) {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if s, err := c.readReply(); err == nil {
		t.Fatalf("%s: got %q, want the connection closed", what, s)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: connection still open after 10 s", what)
	}
}

func expectRefused(t *testing.T, addr, what string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		nc.Close()
		t.Fatalf("%s: %s still accepts connections", what, addr)
	}
}

// TestReload: a reload adds, removes and changes pools while clients keep
// working; the unchanged pool's connection is the same one throughout.
func TestReload(t *testing.T) {
	r1, r2, r3, rg := harness.StartRedis(t), harness.StartRedis(t), harness.StartRedis(t), harness.StartRedis(t)
	keepAddr, goneAddr, changeAddr, tunedAddr, addedAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	keep := yamlPool("keep", keepAddr, []string{r1.Addr + ":1"})
	gone := yamlPool("gone", goneAddr, []string{rg.Addr + ":1"})
	change := func(server string) string { return yamlPool("change", changeAddr, []string{server + ":1"}) }
	tuned := func(extra ...string) string { return yamlPool("tuned", tunedAddr, []string{r1.Addr + ":1"}, extra...) }
	added := yamlPool("added", addedAddr, []string{r3.Addr + ":1"})

	px := startTestProxy(t, keep+gone+change(r1.Addr)+tuned())
	cKeep, cGone, cChange, cTuned := dialRaw(t, keepAddr), dialRaw(t, goneAddr), dialRaw(t, changeAddr), dialRaw(t, tunedAddr)
	for _, c := range []*rawClient{cKeep, cGone, cChange, cTuned} {
		if got := c.do("PING"); got != "+PONG\r\n" {
			t.Fatalf("PING: %q", got)
		}
	}
	if got := cChange.do("SET", "k1", "before"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}

	// A request in flight on the removed pool, and one on the changed
	// pool (old table): their servers are paused, so they are still
	// waiting for the reply when the reload happens.
	admin := dialRaw(t, rg.Addr)
	if got := admin.do("CLIENT", "PAUSE", "700", "ALL"); got != "+OK\r\n" {
		t.Fatalf("CLIENT PAUSE: %q", got)
	}
	cGone.send(cmd("SET", "g", "inflight"))
	time.Sleep(50 * time.Millisecond) // let the proxy forward it

	before := px.Pool("keep")
	if err := px.Reload(parsePools(t, keep+change(r2.Addr)+tuned("backlog: 1024")+added)); err != nil {
		t.Fatal(err)
	}

	// Unchanged: same Pool, and the same client connection keeps working.
	if px.Pool("keep") != before {
		t.Fatal("the unchanged pool was replaced")
	}
	if got := cKeep.do("SET", "kk", "v"); got != "+OK\r\n" {
		t.Fatalf("unchanged pool, same connection: %q", got)
	}
	if got := cKeep.do("GET", "kk"); got != "$1\r\nv\r\n" {
		t.Fatalf("unchanged pool, same connection: %q", got)
	}

	// Removed: refuses new connections at once; the request in flight is
	// answered, then the client is closed.
	expectRefused(t, goneAddr, "removed pool")
	if got := cGone.reply(); got != "+OK\r\n" {
		t.Fatalf("request in flight on the removed pool: %q", got)
	}
	expectClosed(t, cGone, "client of the removed pool")
	if got := directGet(t, rg.Addr, "g"); got != "$8\r\ninflight\r\n" {
		t.Fatalf("in-flight write on the removed pool: %q", got)
	}
	if px.Pool("gone") != nil {
		t.Fatal("removed pool still listed")
	}

	// Changed servers (in place): the same connection keeps working and
	// its keys now go to the new server.
	if got := cChange.do("SET", "k2", "after"); got != "+OK\r\n" {
		t.Fatalf("changed pool, same connection: %q", got)
	}
	if got := directGet(t, r2.Addr, "k2"); got != "$5\r\nafter\r\n" {
		t.Fatalf("k2 on the new server: %q", got)
	}
	if got := directGet(t, r1.Addr, "k2"); got != "$-1\r\n" {
		t.Fatalf("k2 on the old server: %q", got)
	}
	if got := cChange.do("GET", "k1"); got != "$-1\r\n" {
		t.Fatalf("k1 (on the old server) through the changed pool: %q", got)
	}

	// Changed in a key that needs a restart (backlog): the old client is
	// drained and closed; the address keeps accepting, with the new pool.
	expectClosed(t, cTuned, "client of the restarted pool")
	c := dialRaw(t, tunedAddr)
	if got := c.do("SET", "t", "1"); got != "+OK\r\n" {
		t.Fatalf("restarted pool: %q", got)
	}
	if got := px.Pool("tuned").Config().Backlog; got != 1024 {
		t.Fatalf("restarted pool backlog %v", got)
	}

	// Added.
	ca := dialRaw(t, addedAddr)
	if got := ca.do("SET", "a", "1"); got != "+OK\r\n" {
		t.Fatalf("added pool: %q", got)
	}
	if got := directGet(t, r3.Addr, "a"); got != "$1\r\n1\r\n" {
		t.Fatalf("added pool's key on its server: %q", got)
	}
	var names []string
	for _, p := range px.Pools() {
		names = append(names, p.Name())
	}
	if got := strings.Join(names, ","); got != "keep,change,tuned,added" {
		t.Fatalf("pools after reload: %s", got)
	}
	if got := cKeep.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("unchanged pool after everything: %q", got)
	}
}

// TestReloadInvalid: an invalid file, a file without Redis pools and a
// listen address in use change nothing.
func TestReloadInvalid(t *testing.T) {
	r1 := harness.StartRedis(t)
	path := filepath.Join(t.TempDir(), "proxy.yml")
	a, b := freeAddr(t), freeAddr(t)
	good := yamlPool("a", a, []string{r1.Addr + ":1"})
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	px := startTestProxy(t, good, func(o *Options) { o.ConfFile = path })
	ca := dialRaw(t, a)
	if got := ca.do("SET", "x", "1"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	pool := px.Pool("a")

	// A taken address for a new pool.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name, yaml string
		want       error
	}{
		{"syntax", good + yamlPool("b", b, []string{r1.Addr + ":1"}, "timout: 5"), ErrBadConfig},
		{"no redis pool", "m:\n  listen: " + b + "\n  servers:\n   - " + r1.Addr + ":1\n", ErrNoRedisPools},
		{"listen in use", good + yamlPool("b", busy.Addr().String(), []string{r1.Addr + ":1"}), nil},
		{"changed pool and a bad new one", yamlPool("a", a, []string{r1.Addr + ":2"}) +
			yamlPool("b", busy.Addr().String(), []string{r1.Addr + ":1"}), nil},
	}
	for _, tc := range cases {
		if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		err := px.ReloadFile()
		if err == nil {
			t.Fatalf("%s: reload succeeded", tc.name)
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Fatalf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		if ps := px.Pools(); len(ps) != 1 || ps[0] != pool {
			t.Fatalf("%s: pools changed", tc.name)
		}
		if v := pool.Table().version; v != 1 {
			t.Fatalf("%s: route table changed (version %d)", tc.name, v)
		}
		if got := ca.do("GET", "x"); got != "$1\r\n1\r\n" {
			t.Fatalf("%s: client after a failed reload: %q", tc.name, got)
		}
		expectRefused(t, b, tc.name+": pool b")
	}
	if got := px.reloadErrors.Load(); got != int64(len(cases)) {
		t.Fatalf("reload errors %d", got)
	}
	// A good file after the bad ones applies.
	if err := os.WriteFile(path, []byte(good+yamlPool("b", b, []string{r1.Addr + ":1"})), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := px.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	cb := dialRaw(t, b)
	if got := cb.do("GET", "x"); got != "$1\r\n1\r\n" {
		t.Fatalf("new pool b: %q", got)
	}
}

// TestReloadRename: a pool renamed on the same address takes the
// listening socket over; a pool moved to another address is removed and
// added.
func TestReloadRename(t *testing.T) {
	r1 := harness.StartRedis(t)
	a, b := freeAddr(t), freeAddr(t)
	px := startTestProxy(t, yamlPool("old", a, []string{r1.Addr + ":1"}))
	c := dialRaw(t, a)
	if got := c.do("PING"); got != "+PONG\r\n" {
		t.Fatal(got)
	}
	if err := px.Reload(parsePools(t, yamlPool("new", a, []string{r1.Addr + ":1"}))); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c, "client of the renamed pool")
	c2 := dialRaw(t, a)
	if got := c2.do("INFO", "pool"); !strings.Contains(got, "pool:new\r\n") {
		t.Fatalf("INFO after rename: %q", got)
	}
	// Move it.
	if err := px.Reload(parsePools(t, yamlPool("new", b, []string{r1.Addr + ":1"}))); err != nil {
		t.Fatal(err)
	}
	expectRefused(t, a, "old address")
	expectClosed(t, c2, "client at the old address")
	if got := dialRaw(t, b).do("PING"); got != "+PONG\r\n" {
		t.Fatalf("new address: %q", got)
	}
}

// TestReloadNotServing: before Serve and after it returned, Reload is
// refused.
func TestReloadNotServing(t *testing.T) {
	pools := parsePools(t, yamlPool("p", freeAddr(t), []string{"127.0.0.1:1:1"}))
	px, err := New(Options{Pools: pools})
	if err != nil {
		t.Fatal(err)
	}
	if err := px.Reload(pools); !errors.Is(err, ErrNotServing) {
		t.Fatalf("before Serve: %v", err)
	}
	if err := px.ReloadFile(); !errors.Is(err, ErrNoConfFile) {
		t.Fatalf("no conf file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- px.Serve(ctx) }()
	<-px.Ready()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := px.Reload(pools); !errors.Is(err, ErrNotServing) {
		t.Fatalf("after Serve: %v", err)
	}
}

func TestChangedKeys(t *testing.T) {
	o := parsePools(t, yamlPool("p", "127.0.0.1:1", []string{"127.0.0.1:2:1"}))[0]
	n := parsePools(t, yamlPool("p", "127.0.0.1:1", []string{"127.0.0.1:3:1"}, "timeout: 100", "slowlog_max_len: 3"))[0]
	got := changedKeys(o, n)
	if strings.Join(got, ",") != "Timeout,Servers,SlowlogMaxLen" {
		t.Fatalf("changed keys %v", got)
	}
	if !appliesInPlace(o, got) {
		t.Fatal("timeout, servers and slowlog_max_len do not apply in place")
	}
	for _, k := range append(append([]string{}, liveKeys...), serverKeys...) {
		if !appliesInPlace(o, []string{k}) {
			t.Errorf("%s does not apply in place", k)
		}
	}
	for _, k := range []string{"Listen", "Backlog", "Reuseport", "Redis", "ZooKeeperServers", "ZooKeeperPath",
		"ZooKeeperRedisPath", "ZooKeeperSessionTimeout", "ZooKeeperAuth", "ZooKeeperRefreshInterval"} {
		if appliesInPlace(o, []string{"Timeout", k}) {
			t.Errorf("%s applies in place", k)
		}
	}
	zk := parsePools(t, "z:\n  listen: 127.0.0.1:1\n  redis: true\n  zookeeper_host: 127.0.0.1:2\n  zookeeper_redis_path: /r/z\n")[0]
	if appliesInPlace(zk, []string{"Hash"}) || !appliesInPlace(zk, []string{"Timeout", "ReadFrom"}) {
		t.Error("a ZooKeeper pool: routing keys must restart it, the others not")
	}
	if keys := changedKeys(o, o); len(keys) != 0 {
		t.Fatalf("no change: %v", keys)
	}
}

// TestReloadUnderLoad: clients, INFO and /metrics scrapes run while the
// configuration is reloaded again and again (in place, restart, add,
// remove); every reply is correct (run with -race).
func TestReloadUnderLoad(t *testing.T) {
	r1, r2 := harness.StartRedis(t), harness.StartRedis(t)
	a, b, maddr := freeAddr(t), freeAddr(t), freeAddr(t)
	confA := func(server string, extra ...string) string {
		return yamlPool("a", a, []string{server + ":1"}, extra...)
	}
	px := startTestProxy(t, confA(r1.Addr), func(o *Options) { o.MetricsAddr = maddr })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() { // ends with ctx
			defer wg.Done()
			c := client(t, a, func(o *redis.Options) { o.PoolSize = 1 })
			for i := 0; ctx.Err() == nil; i++ {
				k, v := fmt.Sprintf("w%d", w), strconv.Itoa(i)
				if err := c.Set(ctx, k, v, 0).Err(); err != nil {
					if ctx.Err() == nil && !isDrained(err) {
						errc <- fmt.Errorf("SET: %w", err)
					}
					continue
				}
				got, err := c.Get(ctx, k).Result()
				switch {
				case err != nil && ctx.Err() == nil && !isDrained(err) && err != redis.Nil:
					errc <- fmt.Errorf("GET: %w", err)
				case err == nil && got != v:
					// The key moved with a reload in place between the
					// SET and the GET: the value is an older one.
					if n, _ := strconv.Atoi(got); n >= i {
						errc <- fmt.Errorf("GET %s = %q after SET %q", k, got, v)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // ends with ctx
		defer wg.Done()
		for ctx.Err() == nil {
			resp, err := http.Get("http://" + maddr + "/metrics")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if c := px.Pool("a"); c != nil {
				_ = px.statsJSON(time.Now())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	steps := []string{
		confA(r2.Addr),                  // in place
		confA(r2.Addr, "backlog: 1000"), // restart
		confA(r1.Addr, "backlog: 1000") + yamlPool("b", b, []string{r2.Addr + ":1"}), // in place + add
		confA(r1.Addr, "backlog: 1000", "slowlog_max_len: 5"),                        // in place, remove b
		confA(r1.Addr), // restart
		confA(r1.Addr, "timeout: 3000", "client_connections: 100", "client_idle_timeout: 60000"), // in place
		confA(r1.Addr, "timeout: 2000", "server_connections: 3", "auto_eject_hosts: true"),       // in place, new server connections
		confA(r2.Addr, "redis_db: 1", "preconnect: true", "read_from: prefer-replica"),           // in place, new servers and connections
		confA(r2.Addr, "tcpkeepalive: true", "allow_admin_commands: true", "slowlog_slower_than: 0"),
		confA(r2.Addr),
	}
	for i, y := range steps {
		time.Sleep(100 * time.Millisecond)
		if err := px.Reload(parsePools(t, y)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		info := dialRaw(t, a).do("INFO", "server")
		if !strings.Contains(info, "pools:") {
			t.Fatalf("INFO: %q", info)
		}
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

// isDrained reports whether err is a client of a restarted pool being
// closed after the drain (it reconnects).
func isDrained(err error) bool {
	return errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset") ||
		strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "use of closed")
}

// TestReloadInPlace: a reload changing timeout, redis_auth and
// client_connections keeps the pool and its clients: the same client
// connection (same session) keeps working, still authenticated; clients
// not yet authenticated and new ones need the new password; the new
// client limit and the new timeout apply at once. Then clients keep
// working (authenticated) while reloads change those keys and the
// server connections again and again (run with -race).
func TestReloadInPlace(t *testing.T) {
	r := harness.StartRedis(t)
	admin := dialRaw(t, r.Addr)
	// The server accepts both passwords: the proxy authenticates with
	// its redis_auth, before and after the reload.
	if got := admin.do("ACL", "SETUSER", "default", "on", ">pw1", ">pw2"); got != "+OK\r\n" {
		t.Fatalf("ACL SETUSER: %q", got)
	}
	addr := freeAddr(t)
	confP := func(extra ...string) string { return yamlPool("p", addr, []string{r.Addr + ":1"}, extra...) }
	px := startTestProxy(t, confP("redis_auth: pw1", "timeout: 10000", "client_connections: 2"))
	pool := px.Pool("p")
	const (
		ok       = "+OK\r\n"
		val      = "$1\r\nv\r\n"
		noAuth   = "-" + msgNoAuth + "\r\n"
		wrong    = "-" + msgWrongPass + "\r\n"
		maxConns = "-" + msgMaxClients + "\r\n"
	)
	c1 := dialRaw(t, addr)
	if got := c1.do("AUTH", "pw1"); got != ok {
		t.Fatalf("AUTH pw1: %q", got)
	}
	if got := c1.do("SET", "k", "v"); got != ok {
		t.Fatalf("SET: %q", got)
	}
	id := c1.do("CLIENT", "ID")
	c2 := dialRaw(t, addr) // connected, not authenticated
	if got := c2.do("GET", "k"); got != noAuth {
		t.Fatalf("GET before AUTH: %q", got)
	}
	if got := dialRaw(t, addr).reply(); got != maxConns {
		t.Fatalf("third client with client_connections 2: %q", got)
	}

	// The server pauses for 1.5 s: the first request after the reload
	// fails with the new timeout (the old 10 s timeout, armed while the
	// connection was idle, would wait for the value).
	if got := admin.do("CLIENT", "PAUSE", "1500", "ALL"); got != ok {
		t.Fatalf("CLIENT PAUSE: %q", got)
	}
	if err := px.Reload(parsePools(t, confP("redis_auth: pw2", "timeout: 300", "client_connections: 4"))); err != nil {
		t.Fatal(err)
	}
	if px.Pool("p") != pool {
		t.Fatal("the pool was restarted")
	}
	if c := pool.Config(); c.RedisAuth != "pw2" || c.Timeout != 300*time.Millisecond || c.ClientConnections != 4 {
		t.Fatalf("Config() after the reload: redis_auth %q timeout %v client_connections %d",
			c.RedisAuth, c.Timeout, c.ClientConnections)
	}
	if got := c1.do("GET", "k"); !strings.HasPrefix(got, "-ERR backend "+r.Addr+": timeout") {
		t.Fatalf("GET on a paused server with timeout 300 ms: %q", got)
	}
	// The same connection, the same session, still authenticated.
	eventually(t, 10*time.Second, "the server back after the pause", func() bool {
		return c1.do("GET", "k") == val
	})
	if got := c1.do("CLIENT", "ID"); got != id {
		t.Fatalf("CLIENT ID %q, was %q: not the same session", got, id)
	}
	// Not authenticated yet, and new clients: the new password only.
	c3 := dialRaw(t, addr)
	for name, c := range map[string]*rawClient{"connected before": c2, "new": c3} {
		if got := c.do("GET", "k"); got != noAuth {
			t.Fatalf("%s client, GET before AUTH: %q", name, got)
		}
		if got := c.do("AUTH", "pw1"); got != wrong {
			t.Fatalf("%s client, AUTH with the old password: %q", name, got)
		}
		if got := c.do("AUTH", "pw2"); got != ok {
			t.Fatalf("%s client, AUTH with the new password: %q", name, got)
		}
		if got := c.do("GET", "k"); got != val {
			t.Fatalf("%s client, GET: %q", name, got)
		}
	}
	// client_connections 4: a fourth client is accepted, a fifth refused.
	if got := dialRaw(t, addr).do("AUTH", "pw2"); got != ok {
		t.Fatalf("fourth client: %q", got)
	}
	if got := dialRaw(t, addr).reply(); got != maxConns {
		t.Fatalf("fifth client with client_connections 4: %q", got)
	}

	// Concurrent requests during reloads.
	if err := px.Reload(parsePools(t, confP("redis_auth: pw2", "timeout: 3000", "client_connections: 10"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 16)
	var wg sync.WaitGroup
	for w := range 3 {
		c := client(t, addr, func(o *redis.Options) { o.PoolSize, o.Password = 1, "pw2" })
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { // ends with ctx
			defer wg.Done()
			k := fmt.Sprintf("w%d", w)
			for i := 0; ctx.Err() == nil; i++ {
				v := strconv.Itoa(i)
				if err := c.Set(ctx, k, v, 0).Err(); err != nil {
					if ctx.Err() == nil {
						errc <- fmt.Errorf("SET: %w", err)
					}
					return
				}
				if got, err := c.Get(ctx, k).Result(); err != nil || got != v {
					if ctx.Err() == nil {
						errc <- fmt.Errorf("GET %s = %q, %v; want %q", k, got, err, v)
					}
					return
				}
			}
		}()
	}
	steps := [][]string{
		{"redis_auth: pw1", "timeout: 2000", "client_connections: 12"},
		{"redis_auth: pw2", "timeout: 3000", "client_connections: 20", "server_connections: 2"},
		{"redis_auth: pw1", "timeout: 2000", "server_connections: 3", "client_idle_timeout: 60000"},
		{"redis_auth: pw2", "timeout: 3000"},
	}
	for i, extra := range steps {
		time.Sleep(50 * time.Millisecond)
		if err := px.Reload(parsePools(t, confP(extra...))); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if px.Pool("p") != pool {
			t.Fatalf("step %d: the pool was restarted", i)
		}
		if n, want := len(pool.Table().Shard(0).master.conns), max(pool.Config().ServerConnections, 1); n != want {
			t.Fatalf("step %d: %d server connections, want %d", i, n, want)
		}
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if got := c1.do("GET", "k"); got != val {
		t.Fatalf("first connection after every reload: %q", got)
	}

	// redis_db: new server connections select the new database.
	if err := px.Reload(parsePools(t, confP("redis_auth: pw2", "timeout: 3000", "redis_db: 2"))); err != nil {
		t.Fatal(err)
	}
	if got := c1.do("SET", "dbk", "x"); got != ok {
		t.Fatalf("SET after redis_db 2: %q", got)
	}
	if got := admin.do("SELECT", "2"); got != ok {
		t.Fatalf("SELECT 2: %q", got)
	}
	if got := admin.do("GET", "dbk"); got != "$1\r\nx\r\n" {
		t.Fatalf("dbk in database 2: %q", got)
	}
	// redis_auth removed: a client that never authenticated gets in (the
	// server connections, unchanged, stay authenticated).
	cNo := dialRaw(t, addr)
	if got := cNo.do("GET", "dbk"); got != noAuth {
		t.Fatalf("GET before AUTH: %q", got)
	}
	if err := px.Reload(parsePools(t, confP("timeout: 3000", "redis_db: 2"))); err != nil {
		t.Fatal(err)
	}
	if got := cNo.do("GET", "dbk"); got != "$1\r\nx\r\n" {
		t.Fatalf("GET once redis_auth is removed: %q", got)
	}
}

// TestReloadIdleTimeout: a reload setting client_idle_timeout on a pool
// that had none starts closing idle clients; setting it back to 0 stops.
func TestReloadIdleTimeout(t *testing.T) {
	r := harness.StartRedis(t)
	addr := freeAddr(t)
	confP := func(extra ...string) string { return yamlPool("p", addr, []string{r.Addr + ":1"}, extra...) }
	px := startTestProxy(t, confP())
	c := dialRaw(t, addr)
	if got := c.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING: %q", got)
	}
	if err := px.Reload(parsePools(t, confP("client_idle_timeout: 200"))); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c, "idle client after client_idle_timeout 200 ms")
	if err := px.Reload(parsePools(t, confP())); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the idle sweeper stopped", func() bool {
		p := px.Pool("p")
		p.sweepMu.Lock()
		defer p.sweepMu.Unlock()
		return !p.sweeping
	})
	c2 := dialRaw(t, addr)
	time.Sleep(400 * time.Millisecond)
	if got := c2.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("idle client with client_idle_timeout 0: %q", got)
	}
}
