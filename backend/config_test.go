package backend

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseArgsAndConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.conf")
	os.WriteFile(file, []byte("# comment\nport 7001\nappendonly yes\nappendfsync \"always\"\nbind 127.0.0.1 -::1\nauto-aof-rewrite-min-size 1mb\n"), 0o644)
	cfg := DefaultConfig()
	if err := ParseArgs(&cfg, []string{file, "--port", "7002", "--requirepass", "a", "b"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 7002 || !cfg.AppendOnly || cfg.AppendFsync != "always" || cfg.RequirePass != "a b" ||
		strings.Join(cfg.Bind, ",") != "127.0.0.1,-::1" || cfg.AutoAOFRewriteMinSize != 1<<20 || cfg.ConfigFile != file {
		t.Fatalf("parsed: %+v", cfg)
	}
	for _, bad := range [][]string{{"--port", "x"}, {"--nosuch", "1"}, {"--appendfsync", "sometimes"}, {"stray", "args"}, {"--appendfilename", "a/b"}} {
		c := DefaultConfig()
		if err := ParseArgs(&c, bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// CONFIG REWRITE writes the file back; it parses to the same values.
	cfg.Port, cfg.Dir, cfg.Bind = 0, dir, []string{"127.0.0.1"}
	s := startServer(t, func(c *Config) { *c = cfg })
	rdb := client(t, s.addr())
	ctx := context.Background()
	if err := rdb.Do(ctx, "AUTH", "a b").Err(); err != nil {
		t.Fatal(err)
	}
	rdb2 := redisWithPass(t, s.addr(), "a b")
	if err := rdb2.ConfigSet(ctx, "hz", "33").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb2.ConfigRewrite(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	re := DefaultConfig()
	if err := ParseArgs(&re, []string{file}); err != nil {
		t.Fatal(err)
	}
	if re.Hz != 33 || re.AppendFsync != "always" || re.RequirePass != "a b" {
		t.Fatalf("rewritten config: %+v", re)
	}
}

// TestSaveAndLoadSnapshot: with AOF off, SAVE writes dbfilename and a
// restart loads it.
func TestSaveAndLoadSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, func(c *Config) { c.Dir = dir })
	r := dialRaw(t, s.addr())
	r.do("SET", "a", "1")
	r.do("SET", "b", "2", "PX", "100000000")
	if got := r.do("SAVE"); got != "+OK\r\n" {
		t.Fatalf("SAVE: %q", got)
	}
	copyDir := t.TempDir()
	copyFiles(t, dir, copyDir)
	s2 := startServer(t, func(c *Config) { c.Dir = copyDir })
	r2 := dialRaw(t, s2.addr())
	if got := r2.do("MGET", "a", "b"); got != "*2\r\n$1\r\n1\r\n$1\r\n2\r\n" {
		t.Fatalf("after reload: %q", got)
	}
	if got := r2.do("PTTL", "b"); !strings.HasPrefix(got, ":9999") {
		t.Fatalf("PTTL after reload: %q", got)
	}
}
