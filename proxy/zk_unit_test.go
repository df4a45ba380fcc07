package proxy

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// member builds a conf.Member for topology tests.
func zkMember(seq int64, addr string, role conf.Role) conf.Member {
	return conf.Member{Name: addr + "-" + strings.Repeat("0", 9) + string(rune('0'+seq)), Seq: seq, Addr: addr,
		Data: conf.MemberData{Addr: addr, Role: role}}
}

func TestZooKeeperTopologyConversion(t *testing.T) {
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
			{Name: "redis-0000", Ranges: r("0-511"), Master: 1, Members: []conf.Member{
				zkMember(1, "10.0.0.1:6379", conf.RoleReplica),
				zkMember(2, "10.0.0.2:6379", conf.RoleMaster),
				zkMember(3, "10.0.0.3:6379", conf.RoleReplica),
				zkMember(4, "10.0.0.3:6379", conf.RoleReplica), // a stale duplicate
				zkMember(5, "10.0.0.2:6379", conf.RoleReplica), // the master's address again
				zkMember(6, "10.0.0.4:6379", conf.RoleCandidate),
			}},
			{Name: "redis-0001", Ranges: r("512-1023"), Master: -1, Members: []conf.Member{
				zkMember(1, "10.0.0.5:6379", conf.RoleReplica),
			}},
			{Name: "redis-0002", Master: -1}, // owns no slots yet: left out
		},
	}
	if err := ct.Validate(); err != nil {
		t.Fatal(err)
	}
	got := zkTopology(ct)
	want := Topology{Distribution: hashring.Slots, Hash: "md5", HashTag: "{}", Slots: 1024, Source: "zookeeper",
		Shards: []ShardSpec{
			{Name: "redis-0000", Master: "10.0.0.2:6379", Replicas: []string{"10.0.0.1:6379", "10.0.0.3:6379"}, Ranges: r("0-511")},
			{Name: "redis-0001", Replicas: []string{"10.0.0.5:6379"}, Ranges: r("512-1023")},
		}}
	if !sameTopology(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	// A table of it: redis-0001 has no master.
	px, err := New(Options{Pools: []*conf.Pool{zkTestPool(t, "")}})
	if err != nil {
		t.Fatal(err)
	}
	p := px.Pools()[0]
	if err := p.SetTopology(got); err != nil {
		t.Fatal(err)
	}
	sh := p.Table().Shard(1)
	if string(sh.errReply) != "-CLUSTERDOWN shard redis-0001 has no master\r\n" || len(sh.replicas) != 1 {
		t.Errorf("masterless shard: %q %d", sh.errReply, len(sh.replicas))
	}

	for _, c := range []func(*Topology){
		func(t *Topology) { t.Hash = "crc32a" },
		func(t *Topology) { t.Slots = 4096 },
		func(t *Topology) { t.Shards[0].Master = "x:1" },
		func(t *Topology) { t.Shards[0].Replicas = t.Shards[0].Replicas[:1] },
		func(t *Topology) { t.Shards[1].Ranges = r("512-1022") },
		func(t *Topology) { t.Shards = t.Shards[:1] },
		func(t *Topology) { t.Source = "static" },
	} {
		o := zkTopology(ct)
		c(&o)
		if sameTopology(got, o) {
			t.Errorf("sameTopology missed a change: %+v", o)
		}
	}
}

// zkTestPool is a ZooKeeper pool without servers (not connected: New
// does not dial).
func zkTestPool(t *testing.T, readFrom string) *conf.Pool {
	t.Helper()
	y := "icd:\n  listen: 127.0.0.1:1\n  redis: true\n  zookeeper_host: 127.0.0.1:1\n  zookeeper_redis_path: /redis/cluster/icd\n"
	if readFrom != "" {
		y += "  read_from: " + readFrom + "\n"
	}
	pools, err := conf.Parse("t.yml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return pools[0]
}

// TestZooKeeperPoolPending: a ZooKeeper pool without servers answers
// every key -TRYAGAIN at once until its first topology, and keys only.
func TestZooKeeperPoolPending(t *testing.T) {
	cfg := zkTestPool(t, "")
	cfg.Listen.Addr = freeAddr(t)
	cfg.ZooKeeperServers = []string{freeAddr(t)} // nothing listens: never connects
	px, err := New(Options{Pools: []*conf.Pool{cfg}, DrainTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tp := serveProxy(t, px)
	c := dialRaw(t, tp.addrs["icd"])
	if got := c.do("GET", "k"); got != "-TRYAGAIN pool icd has no topology from ZooKeeper yet\r\n" {
		t.Errorf("GET: %q", got)
	}
	if got := c.do("MGET", "a", "b", "c"); !strings.HasPrefix(got, "-TRYAGAIN") {
		t.Errorf("MGET: %q", got)
	}
	if got := c.do("PING"); got != "+PONG\r\n" {
		t.Errorf("PING: %q", got)
	}
	info := c.do("INFO", "pool")
	for _, want := range []string{"route_source:zookeeper-pending", "zookeeper:1", "zk_connected:0", "zk_synced:0", "zk_path:/redis/cluster/icd"} {
		if !strings.Contains(info, want+"\r\n") {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	st := px.Pools()[0].ZooKeeperStatus()
	if !st.Enabled || st.Connected || st.Synced || st.Path != "/redis/cluster/icd" {
		t.Errorf("status: %+v", st)
	}
}

// serveProxy serves px in-process until the test ends.
func serveProxy(t *testing.T, px *Proxy) *testProxy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- px.Serve(ctx) }()
	select {
	case <-px.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	tp := &testProxy{Proxy: px, addrs: map[string]string{}}
	for _, p := range px.Pools() {
		tp.addrs[p.Name()] = p.Addr().String()
	}
	tp.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("proxy did not stop")
		}
	})
	t.Cleanup(tp.stop)
	return tp
}

func TestAnnounceAddr(t *testing.T) {
	mk := func(listen string) *Pool {
		y := "icd:\n  listen: \"" + listen + "\"\n  redis: true\n  zookeeper_host: 127.0.0.1:1\n  zookeeper_redis_path: /redis/cluster/icd\n"
		pools, err := conf.Parse("t.yml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		p := &Pool{}
		p.cfg.Store(pools[0])
		return p
	}
	for _, c := range []struct {
		listen, announce, want string
		guessed                bool
	}{
		{"10.1.2.3:22121", "", "10.1.2.3:22121", false},
		{"10.1.2.3:22121", "proxy-1.example", "proxy-1.example:22121", false},
		{"10.1.2.3:22121", "203.0.113.5:32768", "203.0.113.5:32768", false},
		{"0.0.0.0:22121", "10.9.9.9", "10.9.9.9:22121", false},
		{"[::1]:22121", "", "[::1]:22121", false},
		{"[::]:22121", "fd00::5", "[fd00::5]:22121", false},
		{"/tmp/p.sock", "", "", false},
		{"/tmp/p.sock", "10.0.0.1:7000", "10.0.0.1:7000", false},
	} {
		got, guessed := mk(c.listen).announceAddr(c.announce)
		if got != c.want || guessed != c.guessed {
			t.Errorf("listen %s announce %q: %q %v, want %q %v", c.listen, c.announce, got, guessed, c.want, c.guessed)
		}
	}
	got, guessed := mk("0.0.0.0:22121").announceAddr("")
	host, port, err := net.SplitHostPort(got)
	if err != nil || port != "22121" || !guessed || net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		t.Errorf("wildcard listen: %q %v", got, guessed)
	}
}

func TestZooKeeperConnectionKey(t *testing.T) {
	a := conf.ZKConfig{Servers: []string{"b:2181", "a:2181"}, Chroot: "/x", SessionTimeout: time.Second}
	b := conf.ZKConfig{Servers: []string{"a:2181", "b:2181"}, Chroot: "/x", SessionTimeout: time.Second}
	if zkKey(a) != zkKey(b) {
		t.Error("server order changes the key")
	}
	for _, f := range []func(*conf.ZKConfig){
		func(c *conf.ZKConfig) { c.Chroot = "/y" },
		func(c *conf.ZKConfig) { c.Auth = "u:p" },
		func(c *conf.ZKConfig) { c.SessionTimeout = 2 * time.Second },
		func(c *conf.ZKConfig) { c.Servers = []string{"a:2181"} },
	} {
		c := b
		c.Servers = append([]string(nil), b.Servers...)
		f(&c)
		if zkKey(c) == zkKey(a) {
			t.Errorf("same key for %+v", c)
		}
	}
}
