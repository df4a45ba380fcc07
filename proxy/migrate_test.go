package proxy

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
	"github.com/shardis/shardis/integration/harness"
)

// TestMigratingTopology: a migration record gives the migrating slots to
// the target in the routing (a target without slots joins, a source left
// with none leaves), records the source, and is part of the comparison.
func TestMigratingTopology(t *testing.T) {
	r := func(s string) []hashring.Range {
		rs, err := hashring.ParseRanges(s)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	ct := &conf.Topology{
		Path: "/redis/cluster/icd", Pool: "icd", Exists: true,
		Settings: conf.PoolSettings{Slots: 1024, Hash: "md5", HashTag: "{}"},
		Shards: []conf.Shard{
			{Name: "redis-0000", Ranges: r("0-511"), Migrating: &conf.Migration{Slots: r("100-199,500-511"), To: "redis-0002"}, Master: 0,
				Members: []conf.Member{zkMember(1, "10.0.0.1:6379", conf.RoleMaster)}},
			{Name: "redis-0001", Ranges: r("512-1023"), Migrating: &conf.Migration{Slots: r("512-1023"), To: "redis-0002"}, Master: -1},
			{Name: "redis-0002", Master: 0, Members: []conf.Member{
				zkMember(1, "10.0.0.3:6379", conf.RoleMaster), zkMember(2, "10.0.0.4:6379", conf.RoleReplica)}},
		},
	}
	if err := ct.Validate(); err != nil {
		t.Fatal(err)
	}
	got := zkTopology(ct)
	want := Topology{Distribution: hashring.Slots, Hash: "md5", HashTag: "{}", Slots: 1024, Source: "zookeeper",
		Shards: []ShardSpec{
			{Name: "redis-0000", Master: "10.0.0.1:6379", Ranges: r("0-99,200-499")},
			{Name: "redis-0002", Master: "10.0.0.3:6379", Replicas: []string{"10.0.0.4:6379"}, Ranges: r("100-199,500-1023")},
		},
		Migrations: []Migration{
			{Slots: r("100-199,500-511"), From: "redis-0000", To: "redis-0002", FromMaster: "10.0.0.1:6379"},
			{Slots: r("512-1023"), From: "redis-0001", To: "redis-0002"},
		}}
	if !sameTopology(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	other := want
	other.Migrations = want.Migrations[:1]
	if sameTopology(got, other) {
		t.Fatal("a different migration compares equal")
	}
	// The route table knows the source of each migrating slot.
	servers := map[string]*server{}
	resolve := func(addr string, _ ShardSpec) *server {
		if servers[addr] == nil {
			servers[addr] = &server{addr: addr}
		}
		return servers[addr]
	}
	tbl, err := newRouteTable(got, 1, resolve, nil)
	if err != nil {
		t.Fatal(err)
	}
	mt := tbl.migr
	if mt == nil || mt.srcs[mt.bySlot[150]] != servers["10.0.0.1:6379"] || mt.bySlot[99] != -1 || mt.srcs[mt.bySlot[700]] != nil {
		t.Fatalf("migration table %+v", mt)
	}
	if !mt.readsFromMaster(1) || mt.readsFromMaster(0) {
		t.Fatalf("reads of the target must go to its master: %v", mt.target)
	}
	// Without migrations: no table (the hot path's one nil check).
	ct.Shards[0].Migrating, ct.Shards[1].Migrating = nil, nil
	ct.Shards[1].Master = 0
	ct.Shards[1].Members = []conf.Member{zkMember(1, "10.0.0.2:6379", conf.RoleMaster)}
	tbl, err = newRouteTable(zkTopology(ct), 2, resolve, nil)
	if err != nil || tbl.migr != nil {
		t.Fatalf("table without migrations: %v %+v", err, tbl.migr)
	}
}

// TestMigrationRouting: a table whose shard redis-0001 migrates all its
// slots to redis-0000 (so redis-0001 is in no shard of the table): every
// key reads back through the proxy, single and multi-key, each ends on
// the target once accessed, new keys of the slots land on the target,
// and the source's connections are not retired while the migration runs.
func TestMigrationRouting(t *testing.T) {
	a := harness.StartShardisServer(t, "").Addr
	b := harness.StartShardisServer(t, "").Addr
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), []string{a + ":0-511", b + ":512-1023"}, "slots: 1024", "hash: crc32a", "hash_tag: \"{}\""),
		func(o *Options) { o.retireGrace = 100 * time.Millisecond })
	pool := tp.Pool("p")
	ctx := context.Background()
	cl := client(t, tp.addrs["p"])
	const n = 300
	for i := 0; i < n; i++ {
		if err := cl.Set(ctx, "k"+strconv.Itoa(i), i, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	da, db := client(t, a), client(t, b)
	before := db.DBSize(ctx).Val()
	if before == 0 || da.DBSize(ctx).Val() == 0 {
		t.Fatal("keys not spread")
	}
	topo := slotTopology([]string{a}, []string{"0-1023"})
	topo.Migrations = []Migration{{Slots: []hashring.Range{{Lo: 512, Hi: 1023}}, From: "redis-0001", To: "redis-0000", FromMaster: b}}
	if err := pool.SetTopology(topo); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past the retire grace
	// MSET moves each of its keys first: none is left behind on the
	// source with its old value.
	var msetArgs []any
	for i := 200; i < 240; i++ {
		msetArgs = append(msetArgs, "k"+strconv.Itoa(i), i)
	}
	if err := cl.MSet(ctx, msetArgs...).Err(); err != nil {
		t.Fatal(err)
	}
	for i := 200; i < 240; i++ {
		if db.Exists(ctx, "k"+strconv.Itoa(i)).Val() != 0 {
			t.Fatalf("k%d still on the source after MSET", i)
		}
	}
	keys := make([]string, 0, n)
	for i := 0; i < n; i += 2 {
		k := "k" + strconv.Itoa(i)
		if v, err := cl.Get(ctx, k).Result(); err != nil || v != strconv.Itoa(i) {
			t.Fatalf("GET %s = %q, %v", k, v, err)
		}
		keys = append(keys, "k"+strconv.Itoa(i+1))
	}
	vals, err := cl.MGet(ctx, keys...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != strconv.Itoa(2*i+1) {
			t.Fatalf("MGET %s = %v", keys[i], v)
		}
	}
	if err := cl.Set(ctx, "new", "v", 0).Err(); err != nil || da.Get(ctx, "new").Val() != "v" {
		t.Fatalf("new key: %v", err)
	}
	if got := db.DBSize(ctx).Val(); got != 0 {
		t.Fatalf("%d keys left on the source after every key was read", got)
	}
	if got := da.DBSize(ctx).Val(); got != n+1 {
		t.Fatalf("target has %d keys, want %d", got, n+1)
	}
	if ttl := da.TTL(ctx, "k1").Val(); ttl < 59*time.Minute {
		t.Fatalf("TTL %v after the move", ttl)
	}
}

// TestMigrationTryAgain: a key of a migrating slot whose source has no
// master gets -TRYAGAIN; inside MULTI that makes EXEC abort (never a
// partial transaction); keys of other slots are served.
func TestMigrationTryAgain(t *testing.T) {
	a := harness.StartShardisServer(t, "").Addr
	tp := startTestProxy(t, yamlPool("p", freeAddr(t), []string{a + ":0-1023"}, "slots: 1024", "hash: crc32a", "hash_tag: \"{}\""))
	topo := slotTopology([]string{a}, []string{"0-1023"})
	topo.Migrations = []Migration{{Slots: []hashring.Range{{Lo: 512, Hi: 1023}}, From: "redis-0001", To: "redis-0000"}}
	if err := tp.Pool("p").SetTopology(topo); err != nil {
		t.Fatal(err)
	}
	ring, _ := hashring.New(topo.spec())
	var in, out string
	for i := 0; in == "" || out == ""; i++ {
		k := "k" + strconv.Itoa(i)
		if ring.Slot([]byte(k)) >= 512 {
			in = k
		} else {
			out = k
		}
	}
	rc := dialRaw(t, tp.addrs["p"])
	if got := rc.do("SET", out, "1"); got != "+OK\r\n" {
		t.Fatalf("SET of a key outside the migration: %q", got)
	}
	if got := rc.do("SET", in, "1"); got != "-TRYAGAIN slot migrating from shard redis-0001, which has no master\r\n" {
		t.Fatalf("SET of a migrating key: %q", got)
	}
	rc.do("MULTI")
	rc.do("SET", out, "2")
	if got := rc.do("SET", in, "2"); !strings.HasPrefix(got, "-") {
		t.Fatalf("queued SET: %q", got)
	}
	if got := rc.do("EXEC"); !strings.HasPrefix(got, "-EXECABORT") {
		t.Fatalf("EXEC: %q", got)
	}
	if got := rc.do("GET", out); got != "$1\r\n1\r\n" {
		t.Fatalf("a partial transaction ran: %q", got)
	}
}
