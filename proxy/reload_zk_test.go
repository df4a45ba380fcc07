package proxy

import (
	"testing"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// TestReloadZooKeeper: a ZooKeeper pool restarted by a reload follows
// ZooKeeper again and keeps its registration; removed, it unregisters.
func TestReloadZooKeeper(t *testing.T) {
	zk := harness.StartZooKeeper(t)
	r := newZKRig(t, zk, conf.ZKConfig{})
	r1, r2 := harness.StartRedis(t), harness.StartRedis(t)
	r.pool("zp", `{"slots":16}`, "0-15")
	r.member("zp", "redis-0000", r1.Addr, conf.RoleMaster)
	listen, other, maddr := freeAddr(t), freeAddr(t), freeAddr(t)
	zp := func(extra ...string) string {
		return zkPoolYAML("zp", listen, zk.Addr, r.l.PoolPath("zp"), append([]string{"zookeeper_path: " + r.l.ProxyDir("zp")}, extra...)...)
	}
	static := yamlPool("static", other, []string{r2.Addr + ":1"})
	tp := startTestProxy(t, zp()+static, func(o *Options) { o.MetricsAddr = maddr })
	waitTable(t, tp.Pool("zp"), time.Now(), 15*time.Second, "the first topology", masterIs(0, r1.Addr))
	node := r.l.ProxyNode("zp", listen)
	registered := func() bool { ok, _, _ := r.z.Exists(node); return ok }
	eventually(t, 5*time.Second, "the registration", registered)
	if v := value(scrape(t, "http://"+maddr), "shardis_proxy_zookeeper_connected", "pool=zp"); v != 1 {
		t.Fatalf("zookeeper_connected %v", v)
	}

	// In place (read_from changes): the same pool, following ZooKeeper.
	old := tp.Pool("zp")
	if err := tp.Reload(parsePools(t, zp("read_from: prefer-replica")+static)); err != nil {
		t.Fatal(err)
	}
	if tp.Pool("zp") != old || old.Config().ReadFrom != conf.ReadPreferReplica || !old.ZooKeeperStatus().Enabled {
		t.Fatal("read_from not applied in place")
	}

	// Restart (a ZooKeeper key changes): the new pool follows ZooKeeper and
	// registers the same node.
	if err := tp.Reload(parsePools(t, zp("read_from: prefer-replica", "zookeeper_refresh_interval: 20000")+static)); err != nil {
		t.Fatal(err)
	}
	p := tp.Pool("zp")
	if p == old {
		t.Fatal("pool not restarted")
	}
	waitTable(t, p, time.Now(), 15*time.Second, "the topology after the restart", masterIs(0, r1.Addr))
	eventually(t, 5*time.Second, "the registration by the new pool", func() bool {
		return registered() && p.ZooKeeperStatus().Registered
	})
	if old.ZooKeeperStatus().Enabled {
		t.Fatal("the old pool still follows ZooKeeper")
	}
	if got := dialRaw(t, listen).do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET through the restarted pool: %q", got)
	}

	// Removed: unregistered.
	if err := tp.Reload(parsePools(t, static)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the registration deleted", func() bool { return !registered() })
	if p.ZooKeeperStatus().Enabled {
		t.Fatal("the removed pool still follows ZooKeeper")
	}
	if n := tp.zks.count(); n != 0 {
		t.Fatalf("%d ZooKeeper connections left open", n)
	}
}
