package backend

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// dump returns every key with its value and absolute expiry.
func dump(t testing.TB, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		v, err := rdb.Get(ctx, k).Result()
		if err != nil {
			v = "<" + err.Error() + ">"
		}
		at := rdb.Do(ctx, "PEXPIRETIME", k).Val()
		out[k] = fmt.Sprintf("%q@%v", v, at)
	}
	return out
}

func diffDumps(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, fmt.Sprintf("%q: %s vs %s", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%q: missing vs %s", k, v))
		}
	}
	sort.Strings(d)
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("... %d more", len(d)-10))
	}
	return strings.Join(d, "\n")
}

// restartOn stops nothing: it starts a second server on dir (the first
// must have been shut down).
func aofConfig(dir string) func(*Config) {
	return func(c *Config) {
		c.Dir = dir
		c.AppendOnly = true
	}
}

// TestAOFRewriteUnderLoad: rewrites run while several clients write; after
// a restart from the rewritten AOF the keyspace is identical.
func TestAOFRewriteUnderLoad(t *testing.T) {
	dir := t.TempDir()
	var before map[string]string
	func() {
		s := startServer(t, aofConfig(dir))
		rdb := client(t, s.addr())
		ctx := context.Background()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var ops atomic.Int64
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 9))
				for {
					select {
					case <-stop:
						return
					default:
					}
					p := rdb.Pipeline()
					for i := 0; i < 32; i++ {
						k := "k" + strconv.Itoa(r.IntN(3000))
						switch r.IntN(6) {
						case 0:
							p.Set(ctx, k, strconv.Itoa(r.IntN(1000)), 0)
						case 1:
							p.Incr(ctx, "n"+strconv.Itoa(r.IntN(50)))
						case 2:
							p.Append(ctx, k, "x")
						case 3:
							p.Expire(ctx, k, time.Duration(1000+r.IntN(1000))*time.Second)
						case 4:
							p.Del(ctx, k)
						case 5:
							p.SetArgs(ctx, k, "v", redis.SetArgs{KeepTTL: true})
						}
					}
					if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && !strings.Contains(err.Error(), "not an integer") {
						t.Error(err)
						return
					}
					ops.Add(32)
				}
			}()
		}
		for i := 0; i < 3; i++ {
			time.Sleep(150 * time.Millisecond)
			if err := rdb.Do(ctx, "BGREWRITEAOF").Err(); err != nil && !strings.Contains(err.Error(), "already in progress") {
				t.Fatal(err)
			}
			waitRewrite(t, rdb)
		}
		close(stop)
		wg.Wait()
		if ops.Load() < 1000 {
			t.Fatalf("only %d writes", ops.Load())
		}
		info := rdb.Info(ctx, "persistence").Val()
		if !strings.Contains(info, "aof_rewrites:3") || !strings.Contains(info, "aof_last_bgrewrite_status:ok") {
			t.Fatalf("INFO persistence: %s", info)
		}
		before = dump(t, rdb)
	}()
	// The first server is stopped by its cleanup only at the end of the
	// test; shut it down now through a fresh server? No: use SHUTDOWN.
	t.Run("restart", func(t *testing.T) {
		// The t.Cleanup of the first server has not run yet; copy the
		// directory as it is now, which is what a crash would leave.
		copyDir := t.TempDir()
		copyFiles(t, dir, copyDir)
		s2 := startServer(t, aofConfig(copyDir))
		after := dump(t, client(t, s2.addr()))
		if d := diffDumps(before, after); d != "" {
			t.Fatalf("keyspace differs after restart:\n%s", d)
		}
	})
}

func waitRewrite(t testing.TB, rdb *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(rdb.Info(context.Background(), "persistence").Val(), "aof_rewrite_in_progress:0") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("rewrite did not finish")
}

func copyFiles(t testing.TB, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".aof") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeAOF(t testing.TB, dir string, cmds ...[]string) []byte {
	t.Helper()
	var b []byte
	for _, c := range cmds {
		b = append(b, encodeCommand(c...)...)
	}
	if err := os.WriteFile(filepath.Join(dir, "appendonly.aof"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func serveErr(t testing.TB, mut func(*Config)) error {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Port = 0
	mut(&cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.logH.setWriter(discard{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	select {
	case err := <-done:
		return err
	case <-s.Ready():
		cancel()
		return <-done
	}
}

func TestAOFTruncatedTail(t *testing.T) {
	dir := t.TempDir()
	good := writeAOF(t, dir, []string{"SET", "a", "1"}, []string{"SET", "b", "2"}, []string{"PEXPIREAT", "b", "99999999999999"})
	partial := encodeCommand("SET", "c", "3")
	f, _ := os.OpenFile(filepath.Join(dir, "appendonly.aof"), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(partial[:len(partial)-3])
	f.Close()

	// aof-load-truncated no: refused.
	if err := serveErr(t, func(c *Config) { c.Dir = dir; c.AppendOnly = true; c.AOFLoadTruncated = false }); !errors.Is(err, ErrAOFCorrupt) {
		t.Fatalf("truncated with aof-load-truncated no: %v", err)
	}
	s := startServer(t, aofConfig(dir))
	r := dialRaw(t, s.addr())
	if got := r.do("MGET", "a", "b", "c"); got != "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n" {
		t.Fatalf("after truncated load: %q", got)
	}
	if got := r.do("PEXPIRETIME", "b"); got != ":99999999999999\r\n" {
		t.Fatalf("expiry: %q", got)
	}
	// The partial command was cut, new writes follow the good part.
	r.do("SET", "d", "4")
	waitFile(t, filepath.Join(dir, "appendonly.aof"), append(good, encodeCommand("SET", "d", "4")...))
}

func waitFile(t testing.TB, path string, want []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == string(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:\n%q\nwant\n%q", path, b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAOFCorruptMiddle(t *testing.T) {
	dir := t.TempDir()
	head := encodeCommand("SET", "a", "1")
	bad := "*2\r\n$3\r\nDEL\r\n#1\r\na\r\n"
	tail := encodeCommand("SET", "b", "2")
	os.WriteFile(filepath.Join(dir, "appendonly.aof"), append(append(head, bad...), tail...), 0o644)
	err := serveErr(t, func(c *Config) { c.Dir = dir; c.AppendOnly = true })
	wantOff := len(head) + len("*2\r\n$3\r\nDEL\r\n")
	if !errors.Is(err, ErrAOFCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("at byte offset %d", wantOff)) {
		t.Fatalf("corrupt AOF: %v (want offset %d)", err, wantOff)
	}
	// Unknown command in the middle: refused too.
	os.WriteFile(filepath.Join(dir, "appendonly.aof"), append(encodeCommand("NOSUCH", "x"), tail...), 0o644)
	if err := serveErr(t, func(c *Config) { c.Dir = dir; c.AppendOnly = true }); !errors.Is(err, ErrAOFCorrupt) || !strings.Contains(err.Error(), "at byte offset 0") {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestAOFIncompleteMulti(t *testing.T) {
	dir := t.TempDir()
	writeAOF(t, dir, []string{"SET", "a", "1"}, []string{"MULTI"}, []string{"SET", "a", "2"}, []string{"EXEC"},
		[]string{"MULTI"}, []string{"SET", "a", "3"})
	s := startServer(t, aofConfig(dir))
	if got := dialRaw(t, s.addr()).do("GET", "a"); got != "$1\r\n2\r\n" {
		t.Fatalf("incomplete MULTI applied: %q", got)
	}
}

// TestAppendonlyAtRuntime: CONFIG SET appendonly yes writes the current
// data set, later writes are appended; a restart loads both.
func TestAppendonlyAtRuntime(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, func(c *Config) { c.Dir = dir })
	rdb := client(t, s.addr())
	ctx := context.Background()
	rdb.Set(ctx, "before", "1", time.Hour)
	if err := rdb.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	waitRewrite(t, rdb)
	rdb.Set(ctx, "after", "2", 0)
	want := dump(t, rdb)
	if !strings.Contains(rdb.Info(ctx, "persistence").Val(), "aof_enabled:1") {
		t.Fatal("aof not enabled")
	}
	copyDir := t.TempDir()
	time.Sleep(50 * time.Millisecond)
	copyFiles(t, dir, copyDir)
	s2 := startServer(t, aofConfig(copyDir))
	if d := diffDumps(want, dump(t, client(t, s2.addr()))); d != "" {
		t.Fatalf("after restart:\n%s", d)
	}
}

func TestAutoRewrite(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.AppendOnly = true
		c.AutoAOFRewriteMinSize = 64 << 10
		c.AutoAOFRewritePercentage = 100
		c.Hz = 50
	})
	rdb := client(t, s.addr())
	ctx := context.Background()
	for i := 0; i < 20000; i++ {
		rdb.Set(ctx, "same", strconv.Itoa(i), 0)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Contains(rdb.Info(ctx, "persistence").Val(), "aof_rewrites:0") {
		if time.Now().After(deadline) {
			t.Fatalf("no automatic rewrite: %s", rdb.Info(ctx, "persistence").Val())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitRewrite(t, rdb)
	st, _ := os.Stat(filepath.Join(s.Config().Dir, "appendonly.aof"))
	// 20000 SETs are ~700 KB of commands; rewrites keep one.
	if st.Size() > 300<<10 {
		t.Fatalf("AOF after automatic rewrites is %d bytes", st.Size())
	}
}

// TestFsyncAlways: with appendfsync always a reply means the write is in
// the file (checked from the file, without shutting down).
func TestFsyncAlways(t *testing.T) {
	s := startServer(t, func(c *Config) { c.AppendOnly = true; c.AppendFsync = "always" })
	rdb := client(t, s.addr())
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				rdb.Set(ctx, fmt.Sprintf("w%d:%d", w, i), "v", 0)
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(filepath.Join(s.Config().Dir, "appendonly.aof"))
	if n := strings.Count(string(b), "\r\nset\r\n"); n != 800 {
		t.Fatalf("AOF has %d SETs after 800 acknowledged", n)
	}
}

// TestAOFRewriteWhileAOFBehind: the stream is ahead of the AOF file (writes
// applied but not yet written, as between a batch's commands and its
// group commit) when a rewrite's snapshot is taken; nothing may be written
// twice or lost.
func TestAOFRewriteWhileAOFBehind(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, aofConfig(dir))
	incr := func(n int) {
		c := s.newInternalClient()
		c.internal = false // emit to the stream like a real client
		for i := 0; i < n; i++ {
			c.clock = time.Now()
			tx := c.begin()
			key := []byte("n")
			tx.lockKey(key)
			e, sh, ok := tx.lookup(key)
			v := int64(0)
			if ok {
				v, _ = parseIntString(e.str())
			}
			tx.put(sh, newStringEntry(hashKey(key), key, []byte(strconv.FormatInt(v+1, 10))), false)
			tx.emitStrings("INCR", "n")
			tx.unlock() // no endBatch: the AOF file lags behind the stream
		}
	}
	incr(100)
	if err := s.aof.startRewrite("test", false); err != nil {
		t.Fatal(err)
	}
	incr(50)
	rdb := client(t, s.addr())
	waitRewrite(t, rdb)
	incr(25)
	rdb.Set(context.Background(), "flush", "1", 0) // a client batch: group commit writes everything
	copyDir := t.TempDir()
	copyFiles(t, dir, copyDir)
	s2 := startServer(t, aofConfig(copyDir))
	if got := dialRaw(t, s2.addr()).do("GET", "n"); got != "$3\r\n175\r\n" {
		t.Fatalf("after restart n = %q, want 175", got)
	}
}
