package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// testProxy is a Proxy served in-process (so -race covers it) for a
// test, stopped in t.Cleanup.
type testProxy struct {
	*Proxy
	addrs map[string]string // pool name -> listen address
	stop  func()
}

// yamlPool renders one pool of YAML; extra are more "key: value" lines.
func yamlPool(name, listen string, servers []string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  listen: %s\n  redis: true\n", name, listen)
	for _, e := range extra {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	b.WriteString("  servers:\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "   - %s\n", s)
	}
	return b.String()
}

func freeAddr(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(harness.FreePort(t)))
}

// startTestProxy parses yaml and serves it in-process.
func startTestProxy(t testing.TB, yaml string, opts ...func(*Options)) *testProxy {
	t.Helper()
	pools, err := conf.Parse("test.yml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	o := Options{Pools: pools, Logger: testLogger(t), DrainTimeout: 3 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	px, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- px.Serve(ctx) }()
	select {
	case <-px.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	tp := &testProxy{Proxy: px, addrs: map[string]string{}}
	for _, p := range px.Pools() {
		tp.addrs[p.Name()] = p.Addr().String()
	}
	stopped := false
	tp.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("proxy did not stop")
		}
	}
	t.Cleanup(tp.stop)
	return tp
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("PROXY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// client returns a go-redis client of addr, closed in t.Cleanup.
func client(t testing.TB, addr string, opts ...func(*redis.Options)) *redis.Client {
	o := &redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 4, ReadTimeout: 5 * time.Second}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// rawClient is a bare RESP connection for protocol-level checks.
type rawClient struct {
	t   testing.TB
	nc  net.Conn
	buf []byte
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawClient{t: t, nc: nc}
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// cmd encodes a command as RESP.
func cmd(args ...string) string {
	var b []byte
	b = appendArrayLen(b, len(args))
	for _, a := range args {
		b = appendBulkString(b, a)
	}
	return string(b)
}

// do sends a command and returns its reply as raw RESP.
func (c *rawClient) do(args ...string) string {
	c.t.Helper()
	c.send(cmd(args...))
	return c.reply()
}

// reply reads one complete reply as raw RESP.
func (c *rawClient) reply() string {
	c.t.Helper()
	s, err := c.readReply()
	if err != nil {
		c.t.Fatalf("read reply: %v (have %q)", err, s)
	}
	return s
}

func (c *rawClient) readReply() (string, error) {
	var sc replyScanner
	tmp := make([]byte, 64<<10)
	for {
		if len(c.buf) > 0 {
			n, err := sc.scan(c.buf)
			if err != nil {
				return string(c.buf), err
			}
			if n > 0 {
				s := string(c.buf[:n])
				c.buf = c.buf[n:]
				return s, nil
			}
		}
		k, err := c.nc.Read(tmp)
		c.buf = append(c.buf, tmp[:k]...)
		if err != nil {
			return string(c.buf), err
		}
	}
}

func statPerm(path string) (os.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Mode().Perm(), nil
}
