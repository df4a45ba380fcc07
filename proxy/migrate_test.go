package proxy

import (
	"testing"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
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
