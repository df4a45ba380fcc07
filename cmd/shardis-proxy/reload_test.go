package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/shardis/shardis/integration/harness"
)

func TestMetricsAddrFlag(t *testing.T) {
	o, status, ok := parseFlags([]string{"--metrics-addr", "127.0.0.1:22223"}, io.Discard, io.Discard)
	if !ok || status != 0 || o.metricsAddr != "127.0.0.1:22223" {
		t.Fatalf("--metrics-addr: %+v %d %v", o, status, ok)
	}
	if o, _, ok := parseFlags(nil, io.Discard, io.Discard); !ok || o.metricsAddr != "" {
		t.Fatalf("default: %q", o.metricsAddr)
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "a:b:c"} {
		status, _, stderr := runArgs("--metrics-addr", bad)
		if status != 2 || !strings.Contains(stderr, "--metrics-addr requires host:port") {
			t.Errorf("--metrics-addr %q: %d %q", bad, status, stderr)
		}
	}
	if _, _, stderr := runArgs("-h"); !strings.Contains(stderr, "--metrics-addr host:port") {
		t.Errorf("usage without --metrics-addr: %q", stderr)
	}
}

// respConn is one client connection speaking RESP, for checking that a
// connection survives a reload.
type respConn struct {
	nc net.Conn
	r  *bufio.Reader
}

func dialResp(t *testing.T, addr string) *respConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &respConn{nc: nc, r: bufio.NewReader(nc)}
}

// do sends a command and returns its reply: a simple string without its
// "+", a bulk string's payload ("(nil)" for a null), else the first line.
func (c *respConn) do(args ...string) (string, error) {
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.nc, b.String()); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if strings.HasPrefix(line, "+") {
		return line[1:], nil
	}
	if !strings.HasPrefix(line, "$") {
		return line, nil
	}
	n, _ := strconv.Atoi(line[1:])
	if n < 0 {
		return "(nil)", nil
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func (c *respConn) must(t *testing.T, want string, args ...string) {
	t.Helper()
	got, err := c.do(args...)
	if err != nil || got != want {
		t.Fatalf("%v: %q %v, want %q", args, got, err, want)
	}
}

func pool(name, listen string, servers ...string) string {
	s := name + ":\n  listen: " + listen + "\n  redis: true\n  servers:\n"
	for _, sv := range servers {
		s += "   - " + sv + ":1\n"
	}
	return s
}

// waitLog waits until the process' log has n lines containing s.
func waitLog(t *testing.T, p *harness.Proc, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(p.Log)
		if strings.Count(string(b), s) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never had %d× %q:\n%s", n, s, p.Tail(3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scrapeMetrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func reloadsTotal(fams map[string]*dto.MetricFamily, result string) float64 {
	for _, m := range fams["shardis_proxy_reloads_total"].GetMetric() {
		if m.GetLabel()[0].GetValue() == result {
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// TestSIGHUP runs shardis-proxy and reloads it with SIGHUP: a pool
// added, one removed, one whose servers change, then an invalid file,
// while a client of the unchanged pool keeps working on one connection.
func TestSIGHUP(t *testing.T) {
	r1, r2 := harness.StartRedis(t), harness.StartRedis(t)
	port := func() string { return "127.0.0.1:" + strconv.Itoa(harness.FreePort(t)) }
	keep, gone, change, added, metrics := port(), port(), port(), port(), port()
	dir := t.TempDir()
	path := filepath.Join(dir, "proxy.yml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(pool("keep", keep, r1.Addr) + pool("gone", gone, r1.Addr) + pool("change", change, r1.Addr))
	bin := harness.Build(t, "./cmd/shardis-proxy")
	px := harness.NewProc(t, "shardis-proxy", bin, dir, "-c", path, "-s", "0", "--metrics-addr", metrics)
	px.Addr = metrics
	px.Port, _ = strconv.Atoi(metrics[strings.LastIndexByte(metrics, ':')+1:])
	px.MustStart()

	// A client of the unchanged pool works on one connection all along.
	cKeep := dialResp(t, keep)
	cKeep.must(t, "PONG", "PING")
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		ops     atomic.Int64
		failure atomic.Pointer[error]
	)
	wg.Add(1)
	go func() { // ends when stop is set or the connection fails
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			v := strconv.Itoa(i)
			got, err := cKeep.do("SET", "loop", v)
			if err == nil && got == "OK" {
				got, err = cKeep.do("GET", "loop")
			}
			if err != nil || got != v {
				e := fmt.Errorf("unchanged pool's connection, op %d: %q %v", i, got, err)
				failure.Store(&e)
				return
			}
			ops.Add(1)
		}
	}()
	cChange := dialResp(t, change)
	cChange.must(t, "OK", "SET", "k1", "before")

	// Reload: gone removed, change moved to r2, added added.
	write(pool("keep", keep, r1.Addr) + pool("change", change, r2.Addr) + pool("added", added, r2.Addr))
	if err := px.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, px, "configuration reloaded", 1)
	for _, line := range []string{"pool added", "pool removed", "pool changed in place"} {
		waitLog(t, px, line, 1)
	}
	if nc, err := net.DialTimeout("tcp", gone, time.Second); err == nil {
		nc.Close()
		t.Fatal("removed pool still accepts connections")
	}
	cChange.must(t, "OK", "SET", "k2", "after")
	dialResp(t, r2.Addr).must(t, "after", "GET", "k2")
	dialResp(t, r1.Addr).must(t, "(nil)", "GET", "k2")
	dialResp(t, added).must(t, "OK", "SET", "a", "1")
	dialResp(t, r2.Addr).must(t, "1", "GET", "a")

	// An invalid file changes nothing.
	write(pool("keep", keep, r1.Addr) + "change:\n  listen: " + change + "\n  redis: true\n  timout: 1\n")
	if err := px.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, px, "configuration reload failed; nothing changed", 1)
	waitLog(t, px, "unknown key \\\"timout\\\"", 1)
	dialResp(t, added).must(t, "1", "GET", "a")
	cChange.must(t, "after", "GET", "k2")
	if nc, err := net.DialTimeout("tcp", gone, time.Second); err == nil {
		nc.Close()
		t.Fatal("removed pool accepts connections again")
	}

	fams := scrapeMetrics(t, metrics)
	if ok, bad := reloadsTotal(fams, "ok"), reloadsTotal(fams, "error"); ok != 1 || bad != 1 {
		t.Errorf("reloads_total ok=%v error=%v", ok, bad)
	}
	if fams["go_goroutines"] == nil || fams["process_start_time_seconds"] == nil {
		t.Error("no Go runtime or process metrics")
	}
	resp, err := http.Get("http://" + metrics + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %s", resp.Status)
	}

	before := ops.Load()
	for ops.Load() < before+10 && failure.Load() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if e := failure.Load(); e != nil {
		t.Fatal(*e)
	}
	if !px.Term(10 * time.Second) {
		t.Fatal("shardis-proxy did not stop on SIGTERM")
	}
	if err := px.ExitErr(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}
