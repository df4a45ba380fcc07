package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
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

// proxyPoolsYAML renders the pools of the compatibility tests: a ketama
// pool with twemproxy's defaults and a modula pool with md5 and a hash tag,
// both over the same servers (two of them named).
func proxyPoolsYAML(listens []string, servers []*harness.Proc) string {
	var b strings.Builder
	pools := []struct{ name, extra string }{
		{"ketama", "  distribution: ketama\n"},
		{"modula", "  distribution: modula\n  hash: md5\n  hash_tag: \"{}\"\n"},
	}
	for i, p := range pools {
		fmt.Fprintf(&b, "%s:\n  listen: %s\n  redis: true\n  timeout: 2000\n%s  servers:\n", p.name, listens[i], p.extra)
		for j, s := range servers {
			name := ""
			if j%2 == 1 {
				name = " node" + strconv.Itoa(j)
			}
			fmt.Fprintf(&b, "   - %s:%d%s\n", s.Addr, 1+j%2, name)
		}
	}
	return b.String()
}

func proxyListen(t *testing.T) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(harness.FreePort(t)))
}

// startProxyBinary writes yaml and starts bin/shardis-proxy on it, waiting
// for the first listen address.
func startProxyBinary(t *testing.T, yaml, firstListen string, extra ...string) *harness.Proc {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "proxy.yml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(firstListen)
	p, _ := strconv.Atoi(port)
	args := append([]string{"-c", cfg, "-s", "0", "-v", "6"}, extra...)
	return harness.StartBinary(t, "./cmd/shardis-proxy", p, dir, args...)
}

// TestProxyNutcrackerCompat serves the same pools with nutcracker and
// shardis-proxy over the same redis-servers: keys written through either
// are read back through the other, with plain commands and with MGET/MSET
// fan-out, for ketama and modula.
func TestProxyNutcrackerCompat(t *testing.T) {
	servers := []*harness.Proc{harness.StartRedis(t), harness.StartRedis(t), harness.StartRedis(t)}
	ncListens := []string{proxyListen(t), proxyListen(t)}
	pxListens := []string{proxyListen(t), proxyListen(t)}
	harness.StartNutcracker(t, proxyPoolsYAML(ncListens, servers), ncListens[0])
	if err := harness.WaitTCP(ncListens[1], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	startProxyBinary(t, proxyPoolsYAML(pxListens, servers), pxListens[0])
	for i, pool := range []string{"ketama", "modula"} {
		// nutcracker closes connections on HELLO, which go-redis sends
		// first: both are driven with plain RESP.
		viaNC, viaPX := dialProxyRaw(t, ncListens[i]), dialProxyRaw(t, pxListens[i])
		for dir, pair := range [][2]*proxyRaw{{viaNC, viaPX}, {viaPX, viaNC}} {
			writer, reader := pair[0], pair[1]
			var keys []string
			var mset []string
			for k := 0; k < 1500; k++ {
				key := fmt.Sprintf("%s:%d:%d:%x", pool, dir, k, k*2654435761)
				if k%7 == 0 {
					key = fmt.Sprintf("%s:{tag%d}:%d:%d", pool, k%13, dir, k)
				}
				keys = append(keys, key)
				if k%2 == 0 {
					writer.must("+OK", "SET", key, "v"+key)
				} else {
					mset = append(mset, key, "v"+key)
				}
			}
			for j := 0; j < len(mset); j += 20 { // nutcracker splits MSET too
				writer.must("+OK", append([]string{"MSET"}, mset[j:min(j+20, len(mset))]...)...)
			}
			for _, key := range keys {
				reader.must("$v"+key, "GET", key)
			}
			want := []string{"*100"}
			for _, key := range keys[:100] {
				want = append(want, "$v"+key)
			}
			reader.must(strings.Join(want, " "), append([]string{"MGET"}, keys[:100]...)...)
			reader.must(":"+strconv.Itoa(len(keys)), append([]string{"DEL"}, keys...)...)
			writer.must(":0", append([]string{"EXISTS"}, keys[:50]...)...)
		}
	}
}

// TestProxyBinaryShardisServer runs bin/shardis-proxy over three
// shardis-servers with a pid file and a log file, drives it with
// concurrent go-redis clients, then stops it with SIGTERM: it exits 0 and
// removes its pid file.
func TestProxyBinaryShardisServer(t *testing.T) {
	var servers []*harness.Proc
	for i := 0; i < 3; i++ {
		servers = append(servers, harness.StartShardisServer(t, ""))
	}
	listen := proxyListen(t)
	dir := t.TempDir()
	pid, logf := filepath.Join(dir, "proxy.pid"), filepath.Join(dir, "proxy.log")
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "p:\n  listen: %s\n  redis: true\n  hash_tag: \"{}\"\n  servers:\n", listen)
	for _, s := range servers {
		fmt.Fprintf(&yaml, "   - %s:1\n", s.Addr)
	}
	px := startProxyBinary(t, yaml.String(), listen, "-p", pid, "-o", logf)
	if b, err := os.ReadFile(pid); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(px.PID()) {
		t.Fatalf("pid file %q, %v (pid %d)", b, err, px.PID())
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: listen, MaxRetries: -1})
			defer c.Close()
			for i := 0; i < 300; i++ {
				k := fmt.Sprintf("w%d:%d", w, i)
				if err := c.Set(ctx, k, i, 0).Err(); err != nil {
					errs <- err
					return
				}
			}
			keys := make([]string, 300)
			for i := range keys {
				keys[i] = fmt.Sprintf("w%d:%d", w, i)
			}
			vals, err := c.MGet(ctx, keys...).Result()
			if err != nil {
				errs <- err
				return
			}
			for i, v := range vals {
				if v != strconv.Itoa(i) {
					errs <- fmt.Errorf("MGET %s = %v", keys[i], v)
					return
				}
			}
			if n, err := c.Incr(ctx, "{w}"+strconv.Itoa(w)).Result(); err != nil || n != 1 {
				errs <- fmt.Errorf("INCR = %d, %v", n, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every server got keys.
	for _, s := range servers {
		c := redis.NewClient(&redis.Options{Addr: s.Addr})
		n, err := c.DBSize(ctx).Result()
		c.Close()
		if err != nil || n == 0 {
			t.Errorf("server %s: DBSIZE %d, %v", s.Addr, n, err)
		}
	}
	if !px.Term(15 * time.Second) {
		t.Fatal("shardis-proxy did not exit after SIGTERM")
	}
	if err := px.ExitErr(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
	if b, _ := os.ReadFile(logf); !strings.Contains(string(b), "msg=stopped") {
		t.Errorf("log file lacks the shutdown line:\n%s", b)
	}
}

// proxyRaw is a plain RESP client (nutcracker does not speak HELLO).
type proxyRaw struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialProxyRaw(t *testing.T, addr string) *proxyRaw {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &proxyRaw{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// must sends a command and checks its reply, rendered compactly: "+OK",
// ":3", "$value", "$nil", arrays as "*n elem elem...".
func (c *proxyRaw) must(want string, args ...string) {
	c.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write([]byte(b.String())); err != nil {
		c.t.Fatal(err)
	}
	got, err := c.read()
	if err != nil {
		c.t.Fatalf("%s %v: %v", args[0], args[1:min(3, len(args))], err)
	}
	if got != want {
		c.t.Fatalf("%s %v: %.200q, want %.200q", args[0], args[1:min(3, len(args))], got, want)
	}
}

func (c *proxyRaw) read() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "$nil", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", err
		}
		return "$" + string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		parts := []string{line}
		for i := 0; i < n; i++ {
			e, err := c.read()
			if err != nil {
				return "", err
			}
			parts = append(parts, e)
		}
		return strings.Join(parts, " "), nil
	}
	return line, nil
}
