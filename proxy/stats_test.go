package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// jsonEntry is one key of a JSON object, with its path and value (for
// scalars) in document order.
type jsonEntry struct {
	path  string
	value any
}

// flatten walks a JSON document keeping the order of keys.
func flatten(t *testing.T, b []byte) []jsonEntry {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []jsonEntry
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok && d == '{' {
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				path := prefix + "/" + k.(string)
				out = append(out, jsonEntry{path: path})
				idx := len(out) - 1
				next, _ := peekScalar(dec)
				if next {
					v, err := dec.Token()
					if err != nil {
						return err
					}
					out[idx].value = v
					continue
				}
				if err := walk(path); err != nil {
					return err
				}
			}
			_, err = dec.Token() // '}'
			return err
		}
		return fmt.Errorf("unexpected %v", tok)
	}
	if err := walk(""); err != nil {
		t.Fatalf("stats JSON %q: %v", b, err)
	}
	return out
}

// peekScalar reports whether the next value is not an object.
func peekScalar(dec *json.Decoder) (bool, error) {
	b, err := io.ReadAll(io.LimitReader(dec.Buffered(), 64))
	if err != nil {
		return false, err
	}
	s := strings.TrimLeft(string(b), " \t\r\n:")
	return !strings.HasPrefix(s, "{"), nil
}

func fetchStats(t *testing.T, addr string) []byte {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(nc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStatsLikeNutcracker serves the same two pools with nutcracker and
// with the proxy, sends the same commands through both, and compares the
// stats JSON: the same keys in the same order, the same per-server
// request and byte counts (same placement, same replies).
func TestStatsLikeNutcracker(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 3)
	named := func(i int) string { return "1 server" + strconv.Itoa(i) }
	pools := func() string {
		return yamlPool("alpha", freeAddr(t), serverLines(backends, weight1), "hash: md5", "timeout: 1000") +
			yamlPool("beta", freeAddr(t), serverLines(backends, named), "distribution: modula")
	}
	ours := pools()
	tp := startTestProxy(t, ours, func(o *Options) {
		o.StatsAddr = "127.0.0.1:0"
		o.StatsInterval = 100 * time.Millisecond
		o.Hostname = "testhost"
	})
	theirs := pools()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(cfg, []byte(theirs), 0o644); err != nil {
		t.Fatal(err)
	}
	statsAddr := freeAddr(t)
	_, statsPort, _ := net.SplitHostPort(statsAddr)
	nc := harness.NewProc(t, "nutcracker", harness.LookPath(t, "nutcracker", "nutcracker"), dir,
		"-c", cfg, "-s", statsPort, "-a", "127.0.0.1", "-i", "100")
	nc.Addr = statsAddr
	nc.MustStart()
	theirPools := parsePools(t, theirs)
	for _, a := range []string{theirPools[0].Listen.Addr, theirPools[1].Listen.Addr} {
		if err := harness.WaitTCP(a, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	for i, p := range []string{"alpha", "beta"} {
		for _, addr := range []string{tp.addrs[p], theirPools[i].Listen.Addr} {
			rc := dialRaw(t, addr)
			for k := 0; k < 100; k++ {
				key := fmt.Sprintf("%s:key:%d", p, k)
				if got := rc.do("SET", key, strings.Repeat("v", k)); got != "+OK\r\n" {
					t.Fatalf("%s: %q", addr, got)
				}
				rc.do("GET", key)
			}
		}
	}
	time.Sleep(400 * time.Millisecond) // both aggregate every 100 ms
	a := flatten(t, fetchStats(t, tp.StatsAddr().String()))
	b := flatten(t, fetchStats(t, statsAddr))
	if len(a) != len(b) {
		t.Fatalf("%d keys, nutcracker %d:\n%v\n%v", len(a), len(b), a, b)
	}
	same := map[string]bool{"requests": true, "request_bytes": true, "responses": true, "response_bytes": true,
		"server_ejects": true, "forward_error": true, "fragments": true, "server_eof": true, "server_err": true,
		"server_timedout": true, "in_queue": true, "out_queue": true, "client_connections": true, "server_connections": true}
	for i := range a {
		if a[i].path != b[i].path {
			t.Errorf("key %d: %s, nutcracker %s", i, a[i].path, b[i].path)
			continue
		}
		leaf := a[i].path[strings.LastIndexByte(a[i].path, '/')+1:]
		if same[leaf] && fmt.Sprint(a[i].value) != fmt.Sprint(b[i].value) {
			t.Errorf("%s = %v, nutcracker %v", a[i].path, a[i].value, b[i].value)
		}
	}
	var total int64
	for _, e := range a {
		if strings.HasSuffix(e.path, "/requests") {
			n, _ := e.value.(json.Number).Int64()
			total += n
		}
	}
	if total != 400 {
		t.Errorf("%d requests counted over all servers, want 400", total)
	}
	t.Logf("%d keys compared, e.g. %v", len(a), a[len(a)-5:])
	if got := fetchStats(t, tp.StatsAddr().String()); !bytes.HasPrefix(got, []byte(`{"service":"shardis-proxy", "source":"testhost", "version":"devel", "uptime":`)) || !bytes.HasSuffix(got, []byte("}}}\n")) {
		t.Errorf("stats text: %s", got)
	}
}
