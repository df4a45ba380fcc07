package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
	"github.com/shardis/shardis/integration/harness"
)

func TestRebalancePlan(t *testing.T) {
	mk := func(spec ...string) *conf.Topology {
		top := &conf.Topology{}
		for i := 0; i+1 < len(spec); i += 2 {
			r, _ := hashring.ParseRanges(spec[i+1])
			top.Shards = append(top.Shards, conf.Shard{Name: spec[i], Ranges: r, Master: 0, Members: []conf.Member{{}}})
		}
		return top
	}
	for _, c := range []struct {
		top  *conf.Topology
		want string
	}{
		{mk("redis-0000", "0-2047", "redis-0001", "2048-4095", "redis-0002", ""),
			"redis-0000 -> redis-0002: slots 1366-2047 (682)|redis-0001 -> redis-0002: slots 3413-4095 (683)"},
		{mk("redis-0000", "0-2047", "redis-0001", "2048-4095"), ""},
		{mk("a", "0-4095", "b", "", "c", "", "d", ""),
			"a -> b: slots 3072-4095 (1024)|a -> c: slots 2048-3071 (1024)|a -> d: slots 1024-2047 (1024)"},
		{mk("a", "0-99,200-299", "b", "100-199,300-4095"),
			"b -> a: slots 2248-4095 (1848)"},
	} {
		var got []string
		for _, m := range RebalancePlan(c.top, 4096) {
			got = append(got, m.String())
		}
		if g := strings.Join(got, "|"); g != c.want {
			t.Errorf("plan = %s\nwant   %s", g, c.want)
		}
	}
	taken, rest := takeTop([]hashring.Range{{Lo: 0, Hi: 9}, {Lo: 20, Hi: 24}}, 7)
	if hashring.FormatRanges(taken) != "8-9,20-24" || hashring.FormatRanges(rest) != "0-7" {
		t.Errorf("takeTop = %v, %v", taken, rest)
	}
}

// migrateEnv is a pool of shardis-server masters registered in a real
// ZooKeeper (no watchdogs: the test publishes the members).
type migrateEnv struct {
	a      *Admin
	dog    *conf.ZK
	layout conf.Layout
	addrs  map[string]string // shard -> master address
}

func newMigrateEnv(t *testing.T, shards int, spare int) *migrateEnv {
	zkp := harness.StartZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	dial := func() *conf.ZK {
		z, err := conf.DialZooKeeper(conf.ZKConfig{Servers: []string{zkp.Addr}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(z.Close)
		if err := z.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		return z
	}
	z, dog := dial(), dial()
	layout, _ := conf.NewLayout("/redis")
	env := &migrateEnv{a: New(z, layout), dog: dog, layout: layout, addrs: map[string]string{}}
	if _, err := env.a.CreatePool(PoolSpec{Name: "icd", Shards: shards, Hash: "md5", HashTag: "{}", HashTagSet: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < spare; i++ {
		if _, _, err := env.a.AddShard("icd", "", nil, false); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < shards+spare; i++ {
		p := harness.StartShardisServer(t, "")
		name := conf.ShardName(i)
		if _, err := dog.CreateMember(layout.ShardPath("icd", name), conf.MemberData{Addr: p.Addr, Role: conf.RoleMaster}); err != nil {
			t.Fatal(err)
		}
		env.addrs[name] = p.Addr
	}
	return env
}

func (env *migrateEnv) owner(t *testing.T, key string) string {
	top, err := env.a.Topology("icd")
	if err != nil {
		t.Fatal(err)
	}
	spec, shards := top.Spec()
	tbl, err := hashring.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return shards[tbl.Lookup([]byte(key))].Name
}

// load writes n keys to the masters that own them; it returns the keys.
func (env *migrateEnv) load(t *testing.T, n int) []string {
	ctx := context.Background()
	top, _ := env.a.Topology("icd")
	spec, shards := top.Spec()
	tbl, _ := hashring.New(spec)
	pipes := map[string]redis.Pipeliner{}
	var keys []string
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k:%d", i)
		sh := shards[tbl.Lookup([]byte(k))].Name
		p := pipes[sh]
		if p == nil {
			c := redis.NewClient(&redis.Options{Addr: env.addrs[sh], Protocol: 2})
			t.Cleanup(func() { c.Close() })
			p = c.Pipeline()
			pipes[sh] = p
		}
		if i%2 == 0 {
			p.Set(ctx, k, i, time.Hour)
		} else {
			p.HSet(ctx, k, "f", i)
		}
		keys = append(keys, k)
	}
	for _, p := range pipes {
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// verify checks that every key is on the master its shard's ranges say,
// and only there.
func (env *migrateEnv) verify(t *testing.T, keys []string) {
	t.Helper()
	ctx := context.Background()
	clients := map[string]*redis.Client{}
	total := int64(0)
	for sh, addr := range env.addrs {
		c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2})
		defer c.Close()
		clients[sh] = c
		total += c.DBSize(ctx).Val()
	}
	if total != int64(len(keys)) {
		t.Fatalf("%d keys on the masters, want %d", total, len(keys))
	}
	top, _ := env.a.Topology("icd")
	if err := top.Validate(); err != nil {
		t.Fatal(err)
	}
	spec, shards := top.Spec()
	tbl, _ := hashring.New(spec)
	for i, k := range keys {
		sh := shards[tbl.Lookup([]byte(k))].Name
		if clients[sh].Exists(ctx, k).Val() != 1 {
			t.Fatalf("%s is not on %s", k, sh)
		}
		if i%2 == 0 && clients[sh].TTL(ctx, k).Val() < 50*time.Minute {
			t.Fatalf("%s lost its TTL", k)
		}
	}
}

// TestMigrateAndRebalance: rebalance 2 shards onto 3; an interrupted
// migration is resumed; a redis-server master is refused.
func TestMigrateAndRebalance(t *testing.T) {
	env := newMigrateEnv(t, 2, 1)
	keys := env.load(t, 6000)
	ctx := context.Background()
	opt := MigrateOptions{Settle: -1, Batch: 100, ProgressEvery: time.Millisecond}

	// Interrupted: cancel after the first progress line, then resume.
	cctx, cancel := context.WithCancel(ctx)
	var lines []string
	var mu sync.Mutex
	o := opt
	o.Progress = func(l string) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
		if strings.Contains(l, "keys/s") {
			cancel()
		}
	}
	_, err := env.a.Migrate(cctx, "icd", mustRanges(t, "1366-2047"), "redis-0002", o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted migration: %v (%q)", err, lines)
	}
	top, _ := env.a.Topology("icd")
	if s, _ := top.Shard("redis-0000"); s.Migrating == nil || s.Migrating.To != "redis-0002" {
		t.Fatalf("no migration record after the interruption: %+v", s)
	}
	// A second, different migration of the same source is refused.
	if _, err := env.a.Migrate(ctx, "icd", mustRanges(t, "0-10"), "redis-0001", opt); !errors.Is(err, ErrRefused) {
		t.Fatalf("concurrent migration: %v", err)
	}
	lines = nil
	o.Progress = func(l string) { lines = append(lines, l) }
	moves, reps, err := env.a.Rebalance(ctx, "icd", o, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || !reps[0].Resumed || len(moves) != 1 || moves[0].String() != "redis-0001 -> redis-0002: slots 3413-4095 (683)" {
		t.Fatalf("moves %v, reports %+v", moves, reps)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "ETA") {
		t.Errorf("no progress line: %q", lines)
	}
	env.verify(t, keys)
	top, _ = env.a.Topology("icd")
	for _, s := range top.Shards {
		if s.Migrating != nil || s.SlotCount() < 1365 || s.SlotCount() > 1366 {
			t.Fatalf("after rebalance: %s %s %+v", s.Name, hashring.FormatRanges(s.Ranges), s.Migrating)
		}
	}
	if moves, _, _ := env.a.Rebalance(ctx, "icd", o, true, nil); len(moves) != 0 {
		t.Fatalf("balanced pool still has a plan: %v", moves)
	}

	// redis-server: refused before anything is written.
	rd := harness.StartRedis(t)
	if _, _, err := env.a.AddShard("icd", "redis-0003", nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := env.dog.CreateMember(env.layout.ShardPath("icd", "redis-0003"), conf.MemberData{Addr: rd.Addr, Role: conf.RoleMaster}); err != nil {
		t.Fatal(err)
	}
	_, err = env.a.Migrate(ctx, "icd", mustRanges(t, "0-10"), "redis-0003", opt)
	if !errors.Is(err, ErrNeedsShardisServer) || !strings.Contains(err.Error(), "migration needs shardis-server backends") {
		t.Fatalf("redis-server target: %v", err)
	}
	top, _ = env.a.Topology("icd")
	if s, _ := top.Shard("redis-0000"); s.Migrating != nil {
		t.Fatal("a refused migration left a record")
	}
}

func TestMigrateUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate"}, "want <pool>"},
		{[]string{"migrate", "icd"}, "give --slots and --to, or --resume"},
		{[]string{"migrate", "icd", "--resume", "--to", "redis-0001"}, "give --slots and --to, or --resume"},
		{[]string{"migrate", "icd", "--slots", "9-1", "--to", "redis-0001"}, "start after end"},
		{[]string{"migrate", "icd", "--slots", "1-9"}, "--to"},
		{[]string{"rebalance"}, "want <pool>"},
		{[]string{"rebalance", "icd", "--hash-tag", "{"}, "two characters"},
	} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), c.args, &out, &errb, nil)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

func TestMigrationSettings(t *testing.T) {
	top := &conf.Topology{Path: "/redis/cluster/icd"}
	if _, err := migrationSettings(top, MigrateOptions{}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "give --hash and --hash-tag") {
		t.Errorf("unknown hash: %v", err)
	}
	s, err := migrationSettings(top, MigrateOptions{Hash: "MD5", HashTagSet: true})
	if err != nil || s != (conf.PoolSettings{Slots: 4096, Hash: "md5"}) {
		t.Errorf("from flags: %+v %v", s, err)
	}
	top.Data = conf.PoolData{Slots: 1024, Hash: "crc32a", HashTag: "{}", HashTagSet: true}
	if s, err := migrationSettings(top, MigrateOptions{}); err != nil || s != (conf.PoolSettings{Slots: 1024, Hash: "crc32a", HashTag: "{}"}) {
		t.Errorf("from the znode: %+v %v", s, err)
	}
	for _, o := range []MigrateOptions{{Hash: "md5"}, {HashTag: "[]", HashTagSet: true}, {Slots: 4096}} {
		if _, err := migrationSettings(top, o); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "contradicts") {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
