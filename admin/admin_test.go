package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
	"github.com/shardis/shardis/integration/harness"
)

func TestEvenSplit(t *testing.T) {
	for _, c := range []struct {
		slots, n int
		want     string
	}{
		{4096, 2, "0-2047|2048-4095"},
		{4096, 3, "0-1364|1365-2729|2730-4095"},
		{10, 4, "0-1|2-4|5-6|7-9"},
		{3, 3, "0-0|1-1|2-2"},
	} {
		var parts []string
		var owners []hashring.Owner
		for i, r := range EvenSplit(c.slots, c.n) {
			parts = append(parts, hashring.FormatRanges(r))
			owners = append(owners, hashring.Owner{Name: conf.ShardName(i), Ranges: r})
		}
		if got := strings.Join(parts, "|"); got != c.want {
			t.Errorf("EvenSplit(%d, %d) = %s, want %s", c.slots, c.n, got, c.want)
		}
		if err := hashring.CheckCoverage(c.slots, owners); err != nil {
			t.Errorf("EvenSplit(%d, %d): %v", c.slots, c.n, err)
		}
	}
}

func TestRangeArithmetic(t *testing.T) {
	r := func(s string) []hashring.Range {
		x, err := hashring.ParseRanges(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if got := hashring.FormatRanges(hashring.SubtractRanges(r("0-100,200-300"), r("50-250"))); got != "0-49,251-300" {
		t.Errorf("subtract = %s", got)
	}
	if got := hashring.FormatRanges(intersect(r("0-100,200-300"), r("50-250"))); got != "50-100,200-250" {
		t.Errorf("intersect = %s", got)
	}
	if got := hashring.SubtractRanges(r("5-9"), r("0-20")); len(got) != 0 {
		t.Errorf("subtract all = %v", got)
	}
}

// A real redis-server 7 INFO replication of a replica.
const replicaInfo = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7001\r\nmaster_link_status:up\r\n" +
	"master_last_io_seconds_ago:1\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:1500\r\nslave_repl_offset:1500\r\n" +
	"slave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n" +
	"master_replid:8f8c5e5d\r\nmaster_replid2:0000\r\nmaster_repl_offset:1500\r\nsecond_repl_offset:-1\r\n"

func TestParseReplicationInfo(t *testing.T) {
	b := parseReplicationInfo(replicaInfo)
	if b.Role != "slave" || b.Offset != 1500 || b.MasterAddr() != "127.0.0.1:7001" || b.LinkStatus != "up" {
		t.Errorf("replica: %+v", b)
	}
	m := parseReplicationInfo("role:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=7002,state=online,offset=90,lag=0\r\nmaster_repl_offset:100\r\n")
	if m.Role != "master" || m.Offset != 100 || m.ConnectedReplicas != 2 {
		t.Errorf("master: %+v", m)
	}
}

func TestCheckVerdicts(t *testing.T) {
	lag := int64(5000)
	st := &Status{Pool: "p", Valid: true, Probed: true, Masterless: []string{"redis-0001"}, Shards: []ShardStatus{
		{Name: "redis-0000", Master: &NodeStatus{Addr: "127.0.0.1:7001", Backend: &BackendInfo{Role: "master", Offset: 6000}},
			Replicas: []NodeStatus{
				{Addr: "127.0.0.1:7002", Backend: &BackendInfo{Role: "slave", MasterHost: "localhost", MasterPort: 7001, LinkStatus: "up"}, Lag: &lag},
				{Addr: "127.0.0.1:7003", Error: "dial tcp: connection refused"},
				{Addr: "127.0.0.1:7004", Backend: &BackendInfo{Role: "slave", MasterHost: "127.0.0.1", MasterPort: 7009, LinkStatus: "up"}},
				{Addr: "127.0.0.1:7005", Backend: &BackendInfo{Role: "slave", MasterHost: "127.0.0.1", MasterPort: 7001, LinkStatus: "down"}},
				{Addr: "127.0.0.1:7006", Backend: &BackendInfo{Role: "master"}},
			}},
	}}
	r := Check(st, CheckOptions{MaxLag: 1000})
	var kinds []string
	for _, p := range r.Problems {
		kinds = append(kinds, p.Kind)
	}
	want := "masterless,lag,unreachable,follows,link-down,role"
	if got := strings.Join(kinds, ","); got != want || r.Healthy {
		t.Errorf("problems %s, want %s: %+v", got, want, r.Problems)
	}
	if r := Check(st, CheckOptions{MaxLag: 10000}); len(r.Problems) != 5 {
		t.Errorf("with a larger bound: %+v", r.Problems)
	}
	st.Probed = false
	if r := Check(st, CheckOptions{}); len(r.Problems) != 1 || r.Problems[0].Kind != ProblemMasterless {
		t.Errorf("unprobed: %+v", r.Problems)
	}
}

// TestAdminOperations runs the pool and shard operations against a real
// ZooKeeper.
func TestAdminOperations(t *testing.T) {
	zkp := harness.StartZooKeeper(t)
	z, err := conf.DialZooKeeper(conf.ZKConfig{Servers: []string{zkp.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := z.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	layout, _ := conf.NewLayout("/shardis")
	a := New(z, layout)

	if _, err := a.Topology("icd"); !errors.Is(err, conf.ErrNoPool) {
		t.Fatalf("missing pool: %v", err)
	}
	top, err := a.CreatePool(PoolSpec{Name: "icd", Shards: 2, Hash: "md5", HashTag: "{}", HashTagSet: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := top.Validate(); err != nil || len(top.Shards) != 2 || top.Settings != (conf.PoolSettings{Slots: 4096, Hash: "md5", HashTag: "{}"}) {
		t.Fatalf("created %+v: %v", top, err)
	}
	if ok, _, _ := z.Exists("/shardis/proxy/icd"); !ok {
		t.Error("no proxy directory")
	}
	if _, err := a.CreatePool(PoolSpec{Name: "icd", Shards: 2}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second create: %v", err)
	}
	for _, bad := range []PoolSpec{{Name: "x", Shards: 0}, {Name: "x", Shards: 5, Slots: 4}, {Name: "x", Shards: 1, Hash: "sha"}, {Name: "a/b", Shards: 1}, {Name: "x", Shards: 1, HashTag: "{", HashTagSet: true}} {
		if _, err := a.CreatePool(bad); !errors.Is(err, ErrUsage) {
			t.Errorf("CreatePool(%+v) = %v, want ErrUsage", bad, err)
		}
	}
	pools, _ := a.ListPools()
	if strings.Join(pools, ",") != "icd" {
		t.Errorf("pools %v", pools)
	}

	// shard add: a new empty shard, then one whose range would overlap.
	name, _, err := a.AddShard("icd", "", nil, false)
	if err != nil || name != "redis-0002" {
		t.Fatalf("AddShard = %q, %v", name, err)
	}
	_, _, err = a.AddShard("icd", "extra", mustRanges(t, "100-200"), false)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "slots 100-200 are in redis-0000 and extra") {
		t.Errorf("overlapping add: %v", err)
	}
	if _, _, err := a.AddShard("icd", "redis-0002", nil, false); !errors.Is(err, ErrRefused) {
		t.Errorf("duplicate add: %v", err)
	}

	// set-range: a gap is refused and named; a move between two shards in
	// one transaction is fine.
	_, err = a.SetRanges("icd", []ShardRanges{{"redis-0000", mustRanges(t, "0-1023")}}, false)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "slots 1024-2047 are not covered") {
		t.Errorf("gap: %v", err)
	}
	// A master on redis-0000 makes the move warn that keys stay behind.
	dog, err := conf.DialZooKeeper(conf.ZKConfig{Servers: []string{zkp.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer dog.Close()
	if err := dog.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := dog.CreateMember(layout.ShardPath("icd", "redis-0000"), conf.MemberData{Addr: "127.0.0.1:7001", Role: conf.RoleMaster}); err != nil {
		t.Fatal(err)
	}
	res, err := a.SetRanges("icd", []ShardRanges{{"redis-0000", mustRanges(t, "0-1023")}, {"redis-0002", mustRanges(t, "1024-2047")}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "slots 1024-2047 move from redis-0000 to redis-0002 without their keys") {
		t.Errorf("warnings %q", res.Warnings)
	}
	if s, _ := res.Topology.Shard("redis-0002"); s.SlotCount() != 1024 || res.Topology.Validate() != nil {
		t.Errorf("after the move: %+v", s)
	}
	// Forced: written, with the problem as a warning.
	res, err = a.SetRanges("icd", []ShardRanges{{"redis-0002", nil}}, true)
	if err != nil || len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "forced") || res.Topology.Validate() == nil {
		t.Errorf("forced gap: %v %+v", err, res)
	}
	if _, err := a.SetRanges("icd", []ShardRanges{{"redis-0002", mustRanges(t, "1024-2047")}}, false); err != nil {
		t.Fatal(err)
	}

	// shard remove: refused while it owns slots or has members.
	_, err = a.RemoveShard("icd", "redis-0000", false)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "owns 1024 slots") || !strings.Contains(err.Error(), "1 live members (127.0.0.1:7001)") {
		t.Errorf("remove of a busy shard: %v", err)
	}
	if _, err := a.RemoveShard("icd", "nope", false); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no shard nope") {
		t.Errorf("remove of a missing shard: %v", err)
	}
	name, _, err = a.AddShard("icd", "", nil, false)
	if err != nil || name != "redis-0003" {
		t.Fatalf("AddShard = %q, %v", name, err)
	}
	if _, err := a.RemoveShard("icd", "redis-0003", false); err != nil {
		t.Errorf("remove of an empty shard: %v", err)
	}
	if _, err := a.RemoveShard("icd", "redis-0000", true); err != nil {
		t.Errorf("forced remove: %v", err)
	}
	if top, _ := a.Topology("icd"); len(top.Shards) != 2 {
		t.Errorf("shards after removes: %d", len(top.Shards))
	}

	// A stale read loses: the transaction checks every shard's version.
	top, _ = a.Topology("icd")
	if _, err := z.Set(layout.ShardPath("icd", "redis-0001"), conf.ShardData{Ranges: mustRanges(t, "2048-4095")}.Marshal(), -1); err != nil {
		t.Fatal(err)
	}
	ops := append(checkShardVersions(top, ""), conf.CreateOp(layout.ShardPath("icd", "late"), nil))
	if err := a.commit(ops...); !errors.Is(err, ErrConflict) {
		t.Errorf("stale transaction: %v", err)
	}
	if ok, _, _ := z.Exists(layout.ShardPath("icd", "late")); ok {
		t.Error("a stale transaction wrote")
	}

	// Status without probes, and the command line on the same ZooKeeper.
	st, err := a.Status(ctx, "icd", StatusOptions{NoProbe: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Valid || !strings.Contains(st.Error, "slots 0-1023 are not covered") || len(st.Shards) != 2 {
		t.Errorf("status: %+v", st)
	}
	testMain(t, zkp.Addr)
}

// testMain runs Main in-process: exit statuses and outputs.
func testMain(t *testing.T, zkAddr string) {
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, &out, &errb, func(k string) string {
			if k == "SHARDIS_ZK" {
				return zkAddr
			}
			return ""
		})
		return code, out.String(), errb.String()
	}
	for _, c := range []struct {
		args []string
		code int
		out  string // in stdout, or stderr if code != 0
	}{
		{[]string{"help"}, 0, "usage: shardis-admin"},
		{nil, 2, "usage: shardis-admin"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"status"}, 2, "want <pool>"},
		{[]string{"pool", "create", "x"}, 2, "--shards N is required"},
		{[]string{"--bogus", "status", "x"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"shard", "set-range", "x", "redis-0000"}, 2, "pairs"},
		{[]string{"shard", "set-range", "x", "redis-0000", "9-1"}, 2, "start after end"},
		{[]string{"--root", "/shardis", "status", "nope", "--no-probe"}, 1, "pool not found in ZooKeeper"},
		{[]string{"--root", "/shardis", "pool", "create", "cli", "--shards", "3", "--slots", "1024"}, 0, "created pool cli at /shardis/cluster/cli: 1024 slots, 3 shards"},
		{[]string{"pool", "create", "cli", "--root", "/shardis", "--shards", "3"}, 1, "already exists"},
		{[]string{"--root", "/shardis", "check", "cli", "--no-probe"}, 1, "[masterless] shard redis-0000 has no master"},
		{[]string{"--root", "/shardis", "shard", "set-range", "cli", "redis-0000", "0-300"}, 1, "after this change, slots 301-340 are not covered"},
		{[]string{"--root", "/shardis", "shard", "add", "cli", "--range", "0-10"}, 1, "slots 0-10 are in redis-0000 and redis-0003"},
		{[]string{"--root", "/shardis", "pool", "list"}, 0, "cli\nicd\n"},
		{[]string{"--zk", "127.0.0.1:1", "--timeout", "300ms", "pool", "list"}, 1, "cannot reach ZooKeeper at 127.0.0.1:1"},
	} {
		code, out, errs := run(c.args...)
		if code != c.code || !strings.Contains(out+errs, c.out) {
			t.Errorf("shardis-admin %s: exit %d, want %d; output must contain %q:\nstdout: %s\nstderr: %s", strings.Join(c.args, " "), code, c.code, c.out, out, errs)
		}
	}
	code, out, errs := run("--root", "/shardis", "--json", "status", "cli", "--no-probe")
	var st Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Shards) != 3 || st.Shards[2].Ranges != "682-1023" || !st.Valid {
		t.Errorf("status --json: exit %d, %q %s", code, out, errs)
	}
	code, out, _ = run("--root", "/shardis", "check", "cli", "--json", "--no-probe")
	var r CheckReport
	if code != 1 || json.Unmarshal([]byte(out), &r) != nil || r.Healthy || len(r.Problems) != 3 || r.Problems[0].Kind != ProblemMasterless {
		t.Errorf("check --json: exit %d, %q", code, out)
	}
}

func mustRanges(t *testing.T, s string) []hashring.Range {
	t.Helper()
	r, err := hashring.ParseRanges(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
