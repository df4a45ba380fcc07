package proxy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// direct returns a client of a backend, closed at cleanup.
func direct(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// cmdCalls is a backend's INFO commandstats calls of cmd.
func cmdCalls(t *testing.T, addr, cmd string) int {
	t.Helper()
	s, err := direct(t, addr).Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// testZKReadFrom: shards of redis-server masters with REPLICAOF replicas,
// registered as members; one pool reads from replicas only, another
// prefers them. Reads go round-robin to the replicas, writes to the
// masters; with a shard's replica gone, prefer-replica reads from its
// master and replica fails with CLUSTERDOWN.
func testZKReadFrom(t *testing.T, zk *harness.ZooKeeper) {
	r := newZKRig(t, zk, conf.ZKConfig{})
	bs := startBackends(t, backendKinds[0], 5)
	m0, r0a, r0b, m1, r1 := bs[0].Addr, bs[1].Addr, bs[2].Addr, bs[3].Addr, bs[4].Addr
	ctx := context.Background()
	for _, rep := range []struct{ replica, master *harness.Proc }{{bs[1], bs[0]}, {bs[2], bs[0]}, {bs[4], bs[3]}} {
		if err := direct(t, rep.replica.Addr).Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(rep.master.Port)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	r.pool("reads", `{"slots":1024}`, "0-511", "512-1023")
	r.member("reads", "redis-0000", m0, conf.RoleMaster)
	r.member("reads", "redis-0000", r0a, conf.RoleReplica)
	r.member("reads", "redis-0000", r0b, conf.RoleReplica)
	r.member("reads", "redis-0001", m1, conf.RoleMaster)
	r.member("reads", "redis-0001", r1, conf.RoleReplica)

	path := r.l.PoolPath("reads")
	tp := startTestProxy(t, zkPoolYAML("rep", freeAddr(t), zk.Addr, path, "read_from: replica")+
		zkPoolYAML("pref", freeAddr(t), zk.Addr, path, "read_from: prefer-replica"))
	for _, name := range []string{"rep", "pref"} {
		waitTable(t, tp.Pool(name), time.Now(), 15*time.Second, name+" with replicas", func(t *RouteTable) bool {
			return t.topo.Source == "zookeeper" && t.Len() == 2 && len(t.Shard(0).Replicas) == 2 && len(t.Shard(1).Replicas) == 1
		})
	}
	if n := tp.zks.count(); n != 1 {
		t.Errorf("%d ZooKeeper connections for two pools on the same ZooKeeper, want 1", n)
	}
	rep, pref := client(t, tp.addrs["rep"]), client(t, tp.addrs["pref"])

	// Keys of each shard.
	tbl := tp.Pool("rep").Table()
	var keys [2][]string
	for i := 0; len(keys[0]) < 20 || len(keys[1]) < 20; i++ {
		k := "key:" + strconv.Itoa(i)
		if s := tbl.lookupIndex([]byte(k)); len(keys[s]) < 20 {
			keys[s] = append(keys[s], k)
		}
	}
	all := append(append([]string(nil), keys[0]...), keys[1]...)
	for _, k := range all {
		if err := rep.Set(ctx, k, "v-"+k, 0).Err(); err != nil { // a replica would say READONLY
			t.Fatal(err)
		}
	}
	for _, rp := range []string{r0a, r0b, r1} {
		eventually(t, 10*time.Second, "replication to "+rp, func() bool {
			n, err := direct(t, rp).DBSize(ctx).Result()
			return err == nil && n >= 20
		})
	}
	for _, b := range bs {
		if err := direct(t, b.Addr).ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < 3; round++ {
		for _, k := range all {
			if v, err := rep.Get(ctx, k).Result(); err != nil || v != "v-"+k {
				t.Fatalf("GET %s: %q %v", k, v, err)
			}
		}
		vals, err := rep.MGet(ctx, all...).Result()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if v != "v-"+all[i] {
				t.Fatalf("MGET[%d] = %v", i, v)
			}
		}
		if n, err := rep.Exists(ctx, all...).Result(); err != nil || n != int64(len(all)) {
			t.Fatalf("EXISTS: %d %v", n, err)
		}
	}
	if err := rep.Set(ctx, keys[1][0], "written", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr, cmd string
		some      bool
	}{
		{m0, "get", false}, {m1, "get", false}, {m0, "mget", false}, {m1, "exists", false},
		{r0a, "get", true}, {r0b, "get", true}, {r1, "get", true},
		{r1, "mget", true}, {r1, "exists", true},
		{m1, "set", true},
	} {
		n := cmdCalls(t, c.addr, c.cmd)
		if (n > 0) != c.some {
			t.Errorf("%s on %s: %d calls", c.cmd, c.addr, n)
		}
	}
	// MGET's part for redis-0000 went to its replicas (which one depends on
	// the round-robin counter the GETs share).
	if n := cmdCalls(t, r0a, "mget") + cmdCalls(t, r0b, "mget"); n != 3 {
		t.Errorf("MGET parts on the replicas of redis-0000: %d, want 3", n)
	}
	t.Logf("GET calls: replicas of redis-0000 %d and %d (round-robin), replica of redis-0001 %d, masters %d and %d",
		cmdCalls(t, r0a, "get"), cmdCalls(t, r0b, "get"), cmdCalls(t, r1, "get"), cmdCalls(t, m0, "get"), cmdCalls(t, m1, "get"))

	// redis-0001's only replica dies (its member stays: no watchdog).
	bs[4].Kill()
	k1 := keys[1][1]
	eventually(t, 10*time.Second, "prefer-replica reading from the master", func() bool {
		for i := 0; i < 20; i++ {
			if v, err := pref.Get(ctx, k1).Result(); err != nil || v != "v-"+k1 {
				return false
			}
		}
		return true
	})
	if cmdCalls(t, m1, "get") == 0 {
		t.Error("prefer-replica: no GET reached the master")
	}
	want := "CLUSTERDOWN shard redis-0001 has no replica up (read_from: replica)"
	eventually(t, 10*time.Second, "replica-only reads refused", func() bool {
		err := rep.Get(ctx, k1).Err()
		return err != nil && err.Error() == want
	})
	if v, err := rep.Get(ctx, keys[0][0]).Result(); err != nil || v != "v-"+keys[0][0] {
		t.Errorf("read from the other shard: %q %v", v, err)
	}
	if err := rep.Set(ctx, k1, "still writable", 0).Err(); err != nil {
		t.Errorf("write to the shard without replicas: %v", err)
	}
	// Its member goes too: prefer-replica keeps reading from the master,
	// replica refuses.
	r.multi(conf.DeleteOp(fmt.Sprintf("%s/redis-0001/%s", path, memberName(t, r, "reads", "redis-0001", r1)), -1))
	waitTable(t, tp.Pool("rep"), time.Now(), 10*time.Second, "no replica", func(t *RouteTable) bool { return len(t.Shard(1).Replicas) == 0 })
	if err := rep.Get(ctx, k1).Err(); err == nil || err.Error() != want {
		t.Errorf("replica-only read of a shard without replicas: %v", err)
	}
	waitTable(t, tp.Pool("pref"), time.Now(), 10*time.Second, "no replica", func(t *RouteTable) bool { return len(t.Shard(1).Replicas) == 0 })
	if v, err := pref.Get(ctx, k1).Result(); err != nil || v != "still writable" {
		t.Errorf("prefer-replica read of a shard without replicas: %q %v", v, err)
	}
}

// memberName finds the member znode of addr in a shard.
func memberName(t *testing.T, r *zkRig, pool, shard, addr string) string {
	t.Helper()
	sh, err := conf.ReadShard(r.z, r.l.ShardPath(pool, shard))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sh.Members {
		if m.Addr == addr {
			return m.Name
		}
	}
	t.Fatalf("no member %s in %s", addr, shard)
	return ""
}
