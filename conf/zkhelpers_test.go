package conf

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// Test helpers for the ZooKeeper tests: a real ZooKeeper (harness), clients
// on it, and a TCP forwarder that plays a network partition.

// testLogger logs to the test at Debug when SHARDIS_TEST_LOG=1, else
// only warnings and errors.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SHARDIS_TEST_LOG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}

// dial opens a client on addrs (with options from cfg) and waits for its
// session; it is closed at cleanup.
func dial(t testing.TB, cfg ZKConfig, addrs ...string) *ZK {
	t.Helper()
	cfg.Servers = addrs
	if cfg.SessionTimeout == 0 {
		// Long enough that a loaded machine does not time the connection
		// out; tests of expiry choose a short one.
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	z, err := DialZooKeeper(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := z.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return z
}

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// forwarder relays TCP connections from a local port to target. Cut
// closes every relayed connection and refuses new ones until Heal: a
// client behind it is partitioned from ZooKeeper. CutNextReply closes the
// connections as soon as the server sends anything after the client's
// request it is told of: the reply to that request is lost.
type forwarder struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu        sync.Mutex
	cut       bool
	dropReply bool   // armed by CutNextReply
	match     []byte // the request to lose the reply of contains this
	sawReq    bool   // that request passed since CutNextReply
	drops     int    // replies lost so far
	conns     map[net.Conn]struct{}
}

func newForwarder(t testing.TB, target string) *forwarder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	done := make(chan struct{})
	go f.accept(done) // ends when the listener closes at cleanup
	t.Cleanup(func() {
		ln.Close()
		<-done
		f.closeAll()
	})
	return f
}

func (f *forwarder) Addr() string { return f.ln.Addr().String() }

func (f *forwarder) accept(done chan struct{}) {
	defer close(done)
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		cut := f.cut
		f.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", f.target, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns[c], f.conns[s] = struct{}{}, struct{}{}
		f.mu.Unlock()
		// Each pipe goroutine ends when either side is closed.
		go f.pipe(c, s, true)
		go f.pipe(s, c, false)
	}
}

func (f *forwarder) pipe(src, dst net.Conn, fromClient bool) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			if f.dropReply && fromClient && bytes.Contains(buf[:n], f.match) {
				f.sawReq = true
			}
			drop := f.dropReply && !fromClient && f.sawReq
			if drop {
				f.dropReply, f.sawReq = false, false
				f.drops++
			}
			f.mu.Unlock()
			if drop {
				f.closeAll()
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *forwarder) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
		delete(f.conns, c)
	}
}

// Cut partitions the clients behind f from ZooKeeper.
func (f *forwarder) Cut() {
	f.mu.Lock()
	f.cut = true
	f.mu.Unlock()
	f.closeAll()
}

// Heal ends the partition.
func (f *forwarder) Heal() {
	f.mu.Lock()
	f.cut = false
	f.mu.Unlock()
}

// CutNextReply loses the reply to the next request that contains match
// (the connection closes when the server next sends anything).
func (f *forwarder) CutNextReply(match string) {
	f.mu.Lock()
	f.dropReply, f.sawReq, f.match = true, false, []byte(match)
	f.mu.Unlock()
}

// startZooKeeper starts a ZooKeeper for one test.
func startZooKeeper(t testing.TB) *harness.ZooKeeper {
	t.Helper()
	return harness.StartZooKeeper(t)
}

// Drops is the number of replies lost by CutNextReply so far.
func (f *forwarder) Drops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drops
}
