package conf

import (
	"errors"
	"testing"
)

func TestLayoutPaths(t *testing.T) {
	var zero Layout
	l, err := NewLayout("/shardis/prod")
	if err != nil {
		t.Fatal(err)
	}
	root, err := NewLayout("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{zero.ProxyDir("icd"), "/redis/proxy/icd"},
		{zero.ProxyNode("icd", "10.0.0.1:22121"), "/redis/proxy/icd/10.0.0.1:22121"},
		{zero.PoolPath("icd"), "/redis/cluster/icd"},
		{zero.ShardPath("icd", "redis-0001"), "/redis/cluster/icd/redis-0001"},
		{l.PoolPath("icd"), "/shardis/prod/cluster/icd"},
		{l.ProxyRoot(), "/shardis/prod/proxy"},
		{root.ClusterRoot(), "/cluster"},
		{MemberPrefix("/redis/cluster/icd/redis-0000", "[::1]:6379"), "/redis/cluster/icd/redis-0000/[::1]:6379-"},
		{ShardName(0), "redis-0000"},
		{ShardName(12345), "redis-12345"},
		{PoolName("/redis/cluster/icd"), "icd"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	for _, bad := range []string{"redis", "/a//b", "/a/", "/a/../b"} {
		if _, err := NewLayout(bad); !errors.Is(err, ErrBadZnodeName) {
			t.Errorf("NewLayout(%q) = %v, want ErrBadZnodeName", bad, err)
		}
	}
}

func TestShardIndexAndNames(t *testing.T) {
	if i, ok := ShardIndex("redis-0042"); !ok || i != 42 {
		t.Errorf("ShardIndex(redis-0042) = %d, %v", i, ok)
	}
	for _, bad := range []string{"redis-", "redis-x1", "shard-1", "redis-1234567890"} {
		if _, ok := ShardIndex(bad); ok {
			t.Errorf("ShardIndex(%q) ok", bad)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "_c_x", "a\x01"} {
		if err := CheckShardName(bad); !errors.Is(err, ErrBadZnodeName) {
			t.Errorf("CheckShardName(%q) = %v", bad, err)
		}
	}
	if err := CheckPoolName("icd-prod"); err != nil {
		t.Error(err)
	}
}

func TestParseMemberName(t *testing.T) {
	guid := "0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		name string
		want MemberName
	}{
		{"172.17.32.105:6379-0000000000", MemberName{Addr: "172.17.32.105:6379", Seq: 0}},
		{"172.17.32.106:6380-0000000001", MemberName{Addr: "172.17.32.106:6380", Seq: 1}},
		{"redis-a-1.example.com:6379-0000000123", MemberName{Addr: "redis-a-1.example.com:6379", Seq: 123}},
		{"[::1]:6379-0000000007", MemberName{Addr: "[::1]:6379", Seq: 7}},
		{"fe80::1-x:6379-0000000009", MemberName{Addr: "fe80::1-x:6379", Seq: 9}},
		{"_c_" + guid + "-10.0.0.1:6379-0000000042", MemberName{Addr: "10.0.0.1:6379", Seq: 42, GUID: guid}},
		{"_c_short-10.0.0.1:6379-0000000042", MemberName{Addr: "_c_short-10.0.0.1:6379", Seq: 42}},
		{"-0000000003", MemberName{Addr: "", Seq: 3}},
	} {
		got, err := ParseMemberName(c.name)
		if err != nil || got != c.want {
			t.Errorf("ParseMemberName(%q) = %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	for _, bad := range []string{"10.0.0.1:6379", "10.0.0.1:6379-", "a-12x", "a-1234567890123456789"} {
		if _, err := ParseMemberName(bad); !errors.Is(err, ErrBadZnodeName) {
			t.Errorf("ParseMemberName(%q) = %v, want ErrBadZnodeName", bad, err)
		}
	}
}

func TestProxyNodePath(t *testing.T) {
	for _, c := range []struct{ zpath, addr, want string }{
		// The seed writes the node itself.
		{"/redis/proxy/icd/172.17.32.105:22121", "0.0.0.0:22121", "/redis/proxy/icd/172.17.32.105:22121"},
		{"/redis/proxy/icd", "10.0.0.5:22121", "/redis/proxy/icd/10.0.0.5:22121"},
		{"/redis/proxy/icd", "[::1]:22121", "/redis/proxy/icd/[::1]:22121"},
		{"/redis/proxy/icd/proxy-host.example:22121", "x:1", "/redis/proxy/icd/proxy-host.example:22121"},
	} {
		got, err := ProxyNodePath(c.zpath, c.addr)
		if err != nil || got != c.want {
			t.Errorf("ProxyNodePath(%q, %q) = %q, %v; want %q", c.zpath, c.addr, got, err, c.want)
		}
	}
	for _, c := range [][2]string{{"/redis/proxy/icd", "/tmp/sock"}, {"redis/proxy", "a:1"}, {"/", "a:1"}, {"/redis/proxy/icd", ""}} {
		if _, err := ProxyNodePath(c[0], c[1]); !errors.Is(err, ErrBadZnodeName) {
			t.Errorf("ProxyNodePath(%q, %q) = %v, want ErrBadZnodeName", c[0], c[1], err)
		}
	}
	p := NewPool("icd")
	if got, err := p.ZooKeeperProxyNode(""); got != "" || err != nil {
		t.Errorf("no zookeeper_path: %q, %v", got, err)
	}
	p.ZooKeeperPath = "/redis/proxy/icd"
	p.Listen = Listen{Network: "tcp", Addr: "127.0.0.1:22121"}
	if got, _ := p.ZooKeeperProxyNode(""); got != "/redis/proxy/icd/127.0.0.1:22121" {
		t.Errorf("listen address: %q", got)
	}
	if got, _ := p.ZooKeeperProxyNode("10.1.1.1:22121"); got != "/redis/proxy/icd/10.1.1.1:22121" {
		t.Errorf("announce address: %q", got)
	}
}

func TestParseZooKeeperHost(t *testing.T) {
	s, chroot, err := ParseZooKeeperHost("a:1,b/shardis/x")
	if err != nil || len(s) != 2 || s[0] != "a:1" || s[1] != "b:2181" || chroot != "/shardis/x" {
		t.Errorf("got %v %q %v", s, chroot, err)
	}
}
