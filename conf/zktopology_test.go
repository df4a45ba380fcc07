package conf

import (
	"errors"
	"strings"
	"testing"

	"github.com/shardis/shardis/hashring"
)

func member(name, data string) *rawNode { return &rawNode{Name: name, Data: []byte(data)} }

func shardNode(name, data string, members ...*rawNode) *rawNode {
	return &rawNode{Name: name, Data: []byte(data), Children: members}
}

func seedPool() *rawNode {
	return &rawNode{Name: "icd", Data: []byte("''"), Children: []*rawNode{
		shardNode("redis-0001", `{"weight":"2048-4095"}`,
			member("172.17.32.105:6380-0000000001", `{"addr":"172.17.32.105:6380","role":"replica","epoch":0,"offset":10}`),
			member("172.17.32.106:6379-0000000000", `{"addr":"172.17.32.106:6379","role":"master","epoch":0,"offset":12}`)),
		shardNode("redis-0000", `{"weight":"0-2047"}`,
			member("172.17.32.106:6380-0000000011", `{"addr":"172.17.32.106:6380","role":"replica","offset":5}`),
			// Sorted by the number after the last '-', not by name: seq 9 < 11.
			member("172.17.32.105:6379-0000000009", `{"addr":"172.17.32.105:6379","role":"master","epoch":9}`),
			member("zz-0000000002", `{"addr":"10.9.9.9:1","role":"candidate"}`)),
	}}
}

func TestBuildTopologySeed(t *testing.T) {
	top := buildTopology("/redis/cluster/icd", DefaultPoolSettings(), seedPool())
	if err := top.Validate(); err != nil {
		t.Fatal(err)
	}
	if top.Pool != "icd" || len(top.Shards) != 2 || top.Shards[0].Name != "redis-0000" {
		t.Fatalf("pool %q shards %+v", top.Pool, top.Shards)
	}
	s := top.Shards[0]
	var seqs []int64
	for _, m := range s.Members {
		seqs = append(seqs, m.Seq)
	}
	if len(seqs) != 3 || seqs[0] != 2 || seqs[1] != 9 || seqs[2] != 11 {
		t.Errorf("member order %v, want [2 9 11]", seqs)
	}
	m, ok := s.MasterMember()
	if !ok || m.Addr != "172.17.32.105:6379" || s.Epoch() != 9 {
		t.Errorf("master %+v %v, epoch %d", m, ok, s.Epoch())
	}
	if r := s.Replicas(); len(r) != 1 || r[0].Addr != "172.17.32.106:6380" || r[0].Data.Offset != 5 {
		t.Errorf("replicas %+v", r)
	}
	if s.SlotCount() != 2048 || s.Path != "/redis/cluster/icd/redis-0000" {
		t.Errorf("slots %d path %s", s.SlotCount(), s.Path)
	}
	if ms := top.Masterless(); len(ms) != 0 {
		t.Errorf("masterless %v", ms)
	}
	spec, shards := top.Spec()
	table, err := hashring.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if got := shards[table.LookupSlot(3000)].Name; got != "redis-0001" {
		t.Errorf("slot 3000 → %s", got)
	}
}

func TestTopologyMasterRule(t *testing.T) {
	// The lowest-sequence member whose role is master, not the lowest
	// member: a stale master that registered later does not win, and a
	// member with bad data is never master.
	root := &rawNode{Name: "p", Children: []*rawNode{
		shardNode("redis-0000", `{"weight":"0-4095"}`,
			member("a:1-0000000003", `{"addr":"a:1","role":"replica"}`),
			member("b:1-0000000004", `{"addr":"b:1","role":"master"}`),
			member("c:1-0000000005", `{"addr":"c:1","role":"master"}`),
			member("d:1-0000000001", `{"addr":"d:1","role":"master"`)), // truncated JSON
	}}
	top := buildTopology("/r/cluster/p", DefaultPoolSettings(), root)
	s := top.Shards[0]
	if m, _ := s.MasterMember(); m.Addr != "b:1" || s.Epoch() != 4 {
		t.Errorf("master %q epoch %d, want b:1 epoch 4", m.Addr, s.Epoch())
	}
	if w := top.Warnings(); len(w) != 1 || !errors.Is(w[0], ErrBadZnodeData) || !strings.Contains(w[0].Error(), "d:1-0000000001") {
		t.Errorf("warnings %v", w)
	}
	if err := top.Validate(); err != nil {
		t.Errorf("a bad member must not invalidate the topology: %v", err)
	}
}

func TestTopologyValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		root *rawNode
		kind error
		msg  string
	}{
		{"missing pool", nil, ErrNoPool, "/redis/cluster/p"},
		{"no shards", &rawNode{Name: "p"}, ErrBadTopology, "no shards"},
		{"gap", &rawNode{Name: "p", Children: []*rawNode{shardNode("redis-0000", `{"weight":"0-2047"}`), shardNode("redis-0001", `{"weight":"2050-4095"}`)}},
			hashring.ErrSlotsNotCovered, "slots 2048-2049 are not covered"},
		{"overlap", &rawNode{Name: "p", Children: []*rawNode{shardNode("redis-0000", `{"weight":"0-2047"}`), shardNode("redis-0001", `{"weight":"2000-4095"}`)}},
			hashring.ErrSlotsOverlap, "slots 2000-2047 are in redis-0000 and redis-0001"},
		{"seed shards without weight", &rawNode{Name: "p", Children: []*rawNode{shardNode("redis-0000", "''"), shardNode("redis-0001", "")}},
			hashring.ErrSlotsNotCovered, "slots 0-4095 are not covered"},
		{"bad shard data", &rawNode{Name: "p", Children: []*rawNode{shardNode("redis-0000", `{"weight":"0-4095`)}},
			ErrBadZnodeData, "shard redis-0000"},
		{"bad pool data", &rawNode{Name: "p", Data: []byte(`{"slots":"x"}`), Children: []*rawNode{shardNode("redis-0000", `{"weight":"0-4095"}`)}},
			ErrBadZnodeData, `"slots" must be an integer`},
		{"pool slots", &rawNode{Name: "p", Data: []byte(`{"slots":1024}`), Children: []*rawNode{shardNode("redis-0000", `{"weight":"0-4095"}`)}},
			hashring.ErrSlotsOutOfRange, "slots 1024-4095 of redis-0000 are outside 0-1023"},
		{"migration to nowhere", &rawNode{Name: "p", Children: []*rawNode{shardNode("redis-0000", `{"weight":"0-4095","migrating":{"slots":"0-9","to":"redis-0009"}}`)}},
			ErrBadTopology, "migration to redis-0009, which does not exist"},
	} {
		top := buildTopology("/redis/cluster/p", DefaultPoolSettings(), c.root)
		err := top.Validate()
		if !errors.Is(err, ErrBadTopology) || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: Validate = %v, want %v mentioning %q", c.name, err, c.kind, c.msg)
		}
	}
}

func TestTopologyMasterlessAndSettings(t *testing.T) {
	root := &rawNode{Name: "p", Data: []byte(`{"hash":"md5","hash_tag":"{}"}`), Children: []*rawNode{
		shardNode("redis-0000", `{"weight":"0-4095","migrating":{"slots":"0-9","to":"redis-0002"}}`, member("a:1-0000000001", `{"addr":"a:1","role":"replica"}`)),
		shardNode("redis-0001", ``),                        // new, empty: needs no master
		shardNode("redis-0002", `{"weight":""}`),           // migration target: needs one
		shardNode("redis-0003", `{}`, member("b:1-1", ``)), // a candidate known by name
	}}
	top := buildTopology("/redis/cluster/p", PoolSettings{Slots: 4096, Hash: "fnv1a_64", HashTag: ""}, root)
	if err := top.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(top.Masterless(), ","); got != "redis-0000,redis-0002" {
		t.Errorf("masterless %q", got)
	}
	if top.Settings != (PoolSettings{Slots: 4096, Hash: "md5", HashTag: "{}"}) {
		t.Errorf("settings %+v", top.Settings)
	}
	if s, ok := top.Shard("redis-0003"); !ok || s.Members[0].Addr != "b:1" || s.Members[0].Data.Role != RoleCandidate {
		t.Errorf("redis-0003: %+v", s)
	}
	if _, ok := top.Shard("redis-0009"); ok {
		t.Error("found a shard that does not exist")
	}
}

func TestTopologyEqual(t *testing.T) {
	a := buildTopology("/redis/cluster/icd", DefaultPoolSettings(), seedPool())
	b := buildTopology("/redis/cluster/icd", DefaultPoolSettings(), seedPool())
	if !a.Equal(b) || !a.SameRouting(b) {
		t.Fatal("two builds of the same tree differ")
	}
	// A new published offset: not equal, same routing.
	r := seedPool()
	r.Children[0].Children[0].Data = []byte(`{"addr":"172.17.32.105:6380","role":"replica","epoch":0,"offset":99}`)
	c := buildTopology("/redis/cluster/icd", DefaultPoolSettings(), r)
	if a.Equal(c) || !a.SameRouting(c) {
		t.Errorf("offset change: Equal %v SameRouting %v", a.Equal(c), a.SameRouting(c))
	}
	// A new master: different routing.
	r = seedPool()
	r.Children[0].Children[0].Data = []byte(`{"addr":"172.17.32.105:6380","role":"master"}`)
	r.Children[0].Children[1].Data = []byte(``)
	d := buildTopology("/redis/cluster/icd", DefaultPoolSettings(), r)
	if a.SameRouting(d) {
		t.Error("master change not seen")
	}
	// A weight change.
	r = seedPool()
	r.Children[1].Data = []byte(`{"weight":"0-2046"}`)
	if a.SameRouting(buildTopology("/redis/cluster/icd", DefaultPoolSettings(), r)) {
		t.Error("weight change not seen")
	}
	var nilTop *Topology
	if a.Equal(nilTop) || !nilTop.Equal(nil) {
		t.Error("nil handling")
	}
}

func BenchmarkTopologySameRouting(b *testing.B) {
	root := &rawNode{Name: "p"}
	for i := 0; i < 64; i++ {
		root.Children = append(root.Children, shardNode(ShardName(i), `{"weight":"`+hashring.Range{Lo: i * 64, Hi: i*64 + 63}.String()+`"}`,
			member("10.0.0.1:6379-0000000001", `{"addr":"10.0.0.1:6379","role":"master"}`),
			member("10.0.0.2:6379-0000000002", `{"addr":"10.0.0.2:6379","role":"replica"}`)))
	}
	x := buildTopology("/r/p", DefaultPoolSettings(), root)
	y := buildTopology("/r/p", DefaultPoolSettings(), root)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !x.SameRouting(y) {
			b.Fatal("differ")
		}
	}
}
