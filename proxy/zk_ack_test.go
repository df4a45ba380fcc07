package proxy

import (
	"testing"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
	"github.com/shardis/shardis/integration/harness"
)

// TestZooKeeperAck: a proxy acknowledges in its registration znode the
// shard data versions of the topology it routes with — a migration
// record once it routes the migrating slots through the target — and
// never a topology it refused.
func TestZooKeeperAck(t *testing.T) {
	zk := harness.StartZooKeeper(t)
	r := newZKRig(t, zk, conf.ZKConfig{})
	r.pool("ack", `{"slots":4096,"hash":"md5","hash_tag":"{}"}`, "0-2047", "2048-4095")
	tp := startTestProxy(t, zkPoolYAML("ack", freeAddr(t), zk.Addr, r.l.PoolPath("ack"), "zookeeper_path: "+r.l.ProxyDir("ack")))
	p := tp.Pool("ack")
	node := r.l.ProxyNode("ack", tp.addrs["ack"])
	applied := func() map[string]int32 {
		b, _, err := r.z.Get(node)
		if err != nil {
			return nil
		}
		d, err := conf.ParseProxyData(b)
		if err != nil {
			t.Fatalf("registration data %s: %v", b, err)
		}
		return d.Applied
	}
	is := func(m map[string]int32, v0, v1 int32) bool {
		return m != nil && len(m) == 2 && m["redis-0000"] == v0 && m["redis-0001"] == v1
	}
	eventually(t, 15*time.Second, "the first acknowledgement", func() bool { return is(applied(), 0, 0) })

	// The migration record: acknowledged with the version written, and
	// by then the table routes the slots through the target.
	rec := conf.ShardData{Ranges: mustParseRanges(t, "0-2047"), Migrating: &conf.Migration{Slots: mustParseRanges(t, "100-511"), To: "redis-0001"}}
	st, err := r.z.Set(r.l.ShardPath("ack", "redis-0000"), rec.Marshal(), 0)
	if err != nil || st.Version != 1 {
		t.Fatalf("set record: %v, version %d", err, st.Version)
	}
	eventually(t, 5*time.Second, "the record's acknowledgement", func() bool { return is(applied(), 1, 0) })
	if m := p.Table().topo.Migrations; len(m) != 1 || m[0].From != "redis-0000" || m[0].To != "redis-0001" {
		t.Fatalf("acknowledged the record, but the table's migrations are %+v", m)
	}
	if st := p.ZooKeeperStatus(); st.Acked["redis-0000"] != 1 {
		t.Errorf("ZooKeeperStatus().Acked = %v", st.Acked)
	}

	// An invalid topology (overlapping ranges) is refused: the
	// acknowledgement stays.
	refused := p.ZooKeeperStatus().Refused
	if _, err := r.z.Set(r.l.ShardPath("ack", "redis-0001"), []byte(`{"weight":"2000-4095"}`), 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the refusal", func() bool { return p.ZooKeeperStatus().Refused > refused })
	time.Sleep(3 * ackDrain)
	if a := applied(); !is(a, 1, 0) {
		t.Fatalf("after a refused topology, applied = %v; want redis-0000:1 redis-0001:0", a)
	}

	// The switch (both shards rewritten in one transaction): acknowledged.
	r.multi(conf.SetOp(r.l.ShardPath("ack", "redis-0000"), []byte(`{"weight":"0-99,512-2047"}`), 1),
		conf.SetOp(r.l.ShardPath("ack", "redis-0001"), []byte(`{"weight":"100-511,2048-4095"}`), 1))
	eventually(t, 5*time.Second, "the switch's acknowledgement", func() bool { return is(applied(), 2, 2) })
	if m := p.Table().topo.Migrations; len(m) != 0 {
		t.Fatalf("after the switch, migrations %+v", m)
	}

	// Someone else overwriting the registration: the proxy puts its
	// acknowledgement back.
	if _, err := r.z.Set(node, []byte(`{"addr":"`+tp.addrs["ack"]+`"}`), -1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the registration restored", func() bool { return is(applied(), 2, 2) })
}

func mustParseRanges(t *testing.T, s string) []hashring.Range {
	t.Helper()
	rs, err := hashring.ParseRanges(s)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
