package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// placementBackend is a tiny RESP server standing in for a Redis shard in
// the placement test: it answers +OK to SET and records which backend each
// key reached. Real redis-servers would work too, but the point of the test
// is where keys land, and a recorder tells that directly.
type placementBackend struct {
	id   int
	ln   net.Listener
	addr string
	rec  *keyRecorder

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// keyRecorder maps each key to the backend that received it.
type keyRecorder struct {
	mu       sync.Mutex
	where    map[string]int
	twice    []string // keys seen by two different backends
	badCmds  []string // commands other than SET/PING
	received int
}

func newKeyRecorder() *keyRecorder { return &keyRecorder{where: map[string]int{}} }

func (r *keyRecorder) add(key string, backend int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received++
	if prev, ok := r.where[key]; ok && prev != backend {
		r.twice = append(r.twice, fmt.Sprintf("%q on backends %d and %d", key, prev, backend))
		return
	}
	r.where[key] = backend
}

func (r *keyRecorder) lookup(key string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.where[key]
	return b, ok
}

// startPlacementBackend listens on 127.0.0.1 (port chosen by the kernel).
// The accept goroutine and one goroutine per connection are owned by the
// backend; t.Cleanup closes the listener and the connections and waits for
// all of them to end.
func startPlacementBackend(t *testing.T, id int, rec *keyRecorder) *placementBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &placementBackend{id: id, ln: ln, addr: ln.Addr().String(), rec: rec, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *placementBackend) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = struct{}{}
		b.mu.Unlock()
		b.wg.Add(1)
		go b.serve(c)
	}
}

func (b *placementBackend) serve(c net.Conn) {
	defer b.wg.Done()
	defer func() {
		c.Close()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	for {
		args, err := readCommand(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(w, "-ERR %v\r\n", err)
				w.Flush()
			}
			return
		}
		switch strings.ToUpper(args[0]) {
		case "SET":
			if len(args) != 3 {
				w.WriteString("-ERR wrong number of arguments for 'set' command\r\n")
				break
			}
			b.rec.add(args[1], b.id)
			w.WriteString("+OK\r\n")
		case "PING":
			w.WriteString("+PONG\r\n")
		default:
			b.rec.mu.Lock()
			b.rec.badCmds = append(b.rec.badCmds, args[0])
			b.rec.mu.Unlock()
			fmt.Fprintf(w, "-ERR unknown command '%s'\r\n", args[0])
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	n, err := readLen(r, '*')
	if err != nil {
		return nil, err
	}
	if n < 1 || n > 1024 {
		return nil, fmt.Errorf("bad array length %d", n)
	}
	args := make([]string, n)
	for i := range args {
		l, err := readLen(r, '$')
		if err != nil {
			return nil, err
		}
		if l < 0 || l > 1<<20 {
			return nil, fmt.Errorf("bad bulk length %d", l)
		}
		buf := make([]byte, l+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		if buf[l] != '\r' || buf[l+1] != '\n' {
			return nil, errors.New("bulk string not terminated by CRLF")
		}
		args[i] = string(buf[:l])
	}
	return args, nil
}

func readLen(r *bufio.Reader, prefix byte) (int, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 4 || line[0] != prefix || line[len(line)-2] != '\r' {
		return 0, fmt.Errorf("expected %c<n>CRLF, got %q", prefix, line)
	}
	return strconv.Atoi(line[1 : len(line)-2])
}

// pipelineSets sends SET k v for every key to addr in pipelined batches and
// checks that every reply is +OK.
func pipelineSets(addr string, keys [][]byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	const batch = 256
	for start := 0; start < len(keys); start += batch {
		end := min(start+batch, len(keys))
		for _, k := range keys[start:end] {
			fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", len(k), k)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		for i := start; i < end; i++ {
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("reply to SET %q: %w", keys[i], err)
			}
			if line != "+OK\r\n" {
				return fmt.Errorf("reply to SET %q: %q", keys[i], line)
			}
		}
	}
	return nil
}

// reservePorts returns n distinct free TCP ports on 127.0.0.1 chosen below
// the kernel's ephemeral range, so that no port handed out by bind(0) —
// harness.FreePort, or another test's client sockets — can take one of
// them between this call and the moment nutcracker binds it. All n are
// held open until every one is found, then released.
func reservePorts(t *testing.T, n int) []int {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 12000 {
				lo = v
			}
		}
	}
	var (
		ports []int
		held  []net.Listener
	)
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n && tries < 100*n; tries++ {
		p := 10000 + rand.IntN(lo-10000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // in use, or already held by us
		}
		held = append(held, l)
		ports = append(ports, p)
	}
	if len(ports) < n {
		t.Fatalf("could not reserve %d free ports below %d", n, lo)
	}
	return ports
}

// startNutcracker starts Debian's nutcracker with yaml and waits until it
// listens on every address of listens. Unlike harness.StartNutcracker it
// takes the stats port from the caller (reserved with the pool ports, so
// they cannot collide) and sends nutcracker's log (-o) to the process log
// the harness tails on failure instead of /var/log/nutcracker. It returns
// an error instead of failing the test, so that the caller can retry with
// other ports if one was taken meanwhile.
func startNutcracker(t *testing.T, yaml string, statsPort int, listens []string) (*harness.Proc, error) {
	t.Helper()
	bin := harness.LookPath(t, "nutcracker", "nutcracker")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := harness.NewProc(t, "nutcracker-"+strconv.Itoa(statsPort), bin, dir,
		"-c", cfg, "-s", strconv.Itoa(statsPort), "-a", "127.0.0.1", "-v", "5", "-o", "/dev/stderr")
	p.Addr = listens[0]
	if err := p.Start(); err != nil {
		return nil, err
	}
	for _, l := range listens {
		if err := harness.WaitTCP(l, 10*time.Second); err != nil {
			p.Kill()
			return nil, fmt.Errorf("%v\n%s", err, p.Tail(2048))
		}
	}
	return p, nil
}
