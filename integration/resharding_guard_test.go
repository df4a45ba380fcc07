package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// TestReshardingStaticProxyGuard: a proxy that does not follow ZooKeeper
// (a static YAML pool with the ranges from before the migration, invisible
// to the migrator) keeps routing the migrated slots to the source. After
// the migration its reads and writes of those keys get TRYAGAIN from the
// source (the source guard, docs/resharding.md#the-source-guard): it
// never reads a miss and never leaves a stale copy on the source; keys of
// other slots are served as before.
func TestReshardingStaticProxyGuard(t *testing.T) {
	p := newReshardPool(t)
	ctx := context.Background()
	top, tbl, shards := p.topology()
	var servers []string
	for _, s := range top.Shards {
		var rs []string
		for _, r := range s.Ranges {
			rs = append(rs, fmt.Sprintf("%d-%d", r.Lo, r.Hi))
		}
		servers = append(servers, fmt.Sprintf("   - %s:%s\n", p.master[s.Name], strings.Join(rs, ",")))
	}
	port := harness.FreePort(t)
	dir := t.TempDir()
	yml := fmt.Sprintf("icd:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 10000\n  hash: fnv1a_64\n  hash_tag: \"{}\"\n  servers:\n%s", port, strings.Join(servers, ""))
	path := filepath.Join(dir, "static.yml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	static := redis.NewClient(&redis.Options{Addr: harness.StartBinary(t, "./cmd/shardis-proxy", port, dir, "-c", path, "-s", "0").Addr, Protocol: 2, MaxRetries: -1})
	defer static.Close()

	// Keys of both shards, through the static proxy (same placement).
	const n = 400
	key := func(i int) string { return "g:" + strconv.Itoa(i) }
	for i := 0; i < n; i++ {
		if err := static.Set(ctx, key(i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	src := shards[tbl.Lookup([]byte(key(0)))]
	var rs []string
	for _, r := range src.Ranges {
		rs = append(rs, fmt.Sprintf("%d-%d", r.Lo, r.Hi))
	}
	p.runAdmin("shard", "add", "icd")
	p.addMaster("redis-0002")
	out := p.runAdmin("migrate", "icd", "--slots", strings.Join(rs, ","), "--to", "redis-0002", "--settle", "100ms")
	if !strings.Contains(out, "done:") {
		t.Fatalf("migrate: %s", out)
	}

	srcC := redis.NewClient(&redis.Options{Addr: p.master[src.Name], Protocol: 2})
	dstC := redis.NewClient(&redis.Options{Addr: p.master["redis-0002"], Protocol: 2})
	defer srcC.Close()
	defer dstC.Close()
	srcKeys := srcC.DBSize(ctx).Val()
	moved, others := 0, 0
	for i := 0; i < n; i++ {
		k := key(i)
		if shards[tbl.Lookup([]byte(k))].Name == src.Name {
			moved++
			for what, err := range map[string]error{
				"GET": static.Get(ctx, k).Err(),
				"SET": static.Set(ctx, k, "stale", 0).Err(),
				"DEL": static.Del(ctx, k).Err(),
			} {
				if err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN") {
					t.Fatalf("%s %s through the stale proxy: %v, want TRYAGAIN", what, k, err)
				}
			}
			if v := dstC.Get(ctx, k).Val(); v != strconv.Itoa(i) {
				t.Fatalf("%s = %q on the target, want %d", k, v, i)
			}
		} else {
			others++
			if v, err := static.Get(ctx, k).Result(); v != strconv.Itoa(i) || err != nil {
				t.Fatalf("%s (not migrated) = %q %v", k, v, err)
			}
		}
	}
	if moved == 0 || others == 0 {
		t.Fatalf("%d keys migrated, %d not", moved, others)
	}
	// A new key of the migrated slots is refused too (it belongs on the
	// target).
	for i := n; ; i++ {
		if k := key(i); shards[tbl.Lookup([]byte(k))].Name == src.Name {
			if err := static.Set(ctx, k, "new", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN") {
				t.Fatalf("new key %s through the stale proxy: %v", k, err)
			}
			break
		}
	}
	if got := srcC.DBSize(ctx).Val(); got != srcKeys || got != 0 {
		t.Fatalf("the source holds %d keys (had %d after the migration), want none", got, srcKeys)
	}
}
