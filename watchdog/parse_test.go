package watchdog

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const redisReplicaInfo = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:17101\r\n" +
	"master_link_status:up\r\nmaster_last_io_seconds_ago:1\r\nslave_read_repl_offset:114\r\nslave_repl_offset:87\r\n" +
	"master_replid:463ad037b663dd8356adcb4be134bfcbbb130348\r\nmaster_repl_offset:114\r\n"

func TestBackendInfoFrom(t *testing.T) {
	server, _ := ParseInfo("# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\n")
	repl, _ := ParseInfo(redisReplicaInfo)
	b, err := BackendInfoFrom(server, repl)
	if err != nil {
		t.Fatal(err)
	}
	want := BackendInfo{Version: "7.0.15", RunID: "abc", Role: "slave", MasterHost: "127.0.0.1", MasterPort: 17101,
		LinkUp: true, Offset: 87, ReplID: "463ad037b663dd8356adcb4be134bfcbbb130348"}
	if b != want {
		t.Fatalf("got %+v\nwant %+v", b, want)
	}
	if b.MasterAddr() != "127.0.0.1:17101" {
		t.Fatal(b.MasterAddr())
	}

	server, _ = ParseInfo("shardis_version:0.1.0\nrun_id:x\n")
	repl, _ = ParseInfo("role:master\nmaster_repl_offset:42\nshardis_epoch:7\nfenced:1\n")
	b, err = BackendInfoFrom(server, repl)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Shardis || b.Epoch != 7 || !b.Fenced || b.Offset != 42 || b.Role != "master" || b.MasterAddr() != "" {
		t.Fatalf("%+v", b)
	}

	for _, bad := range []string{"role:primary\n", "role:master\nmaster_repl_offset:x\n", "role:slave\nmaster_port:99999\n",
		"role:master\nmaster_repl_offset:-5\n", ""} {
		repl, _ := ParseInfo(bad)
		if _, err := BackendInfoFrom(nil, repl); !errors.Is(err, ErrBadInfo) {
			t.Errorf("%q: err %v, want ErrBadInfo", bad, err)
		}
	}
}

func TestParseInfoLimits(t *testing.T) {
	if _, err := ParseInfo(strings.Repeat("a", maxInfoLen+1)); !errors.Is(err, ErrBadInfo) {
		t.Fatal(err)
	}
	m, _ := ParseInfo("a:1\r\na:2\n# x:y\n:z\nnovalue\nb:\n")
	if m["a"] != "1" || m["b"] != "" || len(m) != 2 {
		t.Fatalf("%v", m)
	}
}

func FuzzBackendInfo(f *testing.F) {
	f.Add("# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\n", redisReplicaInfo)
	f.Add("shardis_version:0.1.0\n", "role:master\nmaster_repl_offset:42\nshardis_epoch:7\nfenced:1\n")
	f.Add("", "role:slave\nmaster_port:\n")
	f.Add("\r\n\r\n", "role:master\r\nmaster_repl_offset:9223372036854775808\r\n")
	f.Fuzz(func(t *testing.T, server, repl string) {
		s, err1 := ParseInfo(server)
		r, err2 := ParseInfo(repl)
		if err1 != nil || err2 != nil {
			return
		}
		b, err := BackendInfoFrom(s, r)
		if err != nil {
			if !errors.Is(err, ErrBadInfo) {
				t.Fatalf("error %v does not wrap ErrBadInfo", err)
			}
			return
		}
		if b.Role != "master" && b.Role != "slave" || b.Offset < 0 || b.MasterPort < 0 || b.MasterPort > 65535 {
			t.Fatalf("accepted %+v", b)
		}
	})
}

func TestFailoverRequestCodec(t *testing.T) {
	r := FailoverRequest{ID: "9f2c", Master: "127.0.0.1:7001-0000000003", Target: "127.0.0.1:7002",
		Timeout: 10 * time.Second, State: RequestPaused, Offset: 1234}
	b := r.Marshal()
	if string(b) != `{"id":"9f2c","master":"127.0.0.1:7001-0000000003","target":"127.0.0.1:7002","timeout_ms":10000,"state":"paused","offset":1234}` {
		t.Fatal(string(b))
	}
	got, err := ParseFailoverRequest(b)
	if err != nil || got != r {
		t.Fatalf("%+v %v", got, err)
	}
	// Unknown fields are ignored; offset is optional.
	got, err = ParseFailoverRequest([]byte(`{"id":"x","master":"m-1","target":"[::1]:7002","timeout_ms":5,"state":"requested","by":"ops"}`))
	if err != nil || got.Target != "[::1]:7002" || got.Offset != 0 {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `{"id":"x"}`,
		`{"id":"","master":"m","target":"h:1","timeout_ms":5,"state":"requested"}`,
		`{"id":"x","master":"m","target":"nohost","timeout_ms":5,"state":"requested"}`,
		`{"id":"x","master":"m","target":"h:0","timeout_ms":5,"state":"requested"}`,
		`{"id":"x","master":"m","target":"h:1","timeout_ms":0,"state":"requested"}`,
		`{"id":"x","master":"m","target":"h:1","timeout_ms":600001,"state":"requested"}`,
		`{"id":"x","master":"m","target":"h:1","timeout_ms":5,"state":"done"}`,
		`{"id":"x","master":"m","target":"h:1","timeout_ms":5,"state":"paused","offset":-1}`,
		`{"id":"x","master":"m","target":"h:1","timeout_ms":5,"state":"paused"} {}`,
		`{"id":1,"master":"m","target":"h:1","timeout_ms":5,"state":"paused"}`,
	} {
		if _, err := ParseFailoverRequest([]byte(bad)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: err %v, want ErrBadRequest", bad, err)
		}
	}
}

func FuzzFailoverRequest(f *testing.F) {
	f.Add([]byte(`{"id":"9f2c","master":"127.0.0.1:7001-0000000003","target":"127.0.0.1:7002","timeout_ms":10000,"state":"paused","offset":1234}`))
	f.Add([]byte(`{"id":"x","master":"m-1","target":"[::1]:7002","timeout_ms":5,"state":"requested","by":"ops"}`))
	f.Add([]byte(`{"id":"x","master":"m","target":"h:1","timeout_ms":5,"state":"paused"} {}`))
	f.Add([]byte(`{"timeout_ms":1e3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseFailoverRequest(b)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			return
		}
		again, err := ParseFailoverRequest(r.Marshal())
		if err != nil || again != r {
			t.Fatalf("round trip: %+v → %+v, %v", r, again, err)
		}
	})
}

func TestShardPaths(t *testing.T) {
	for _, c := range []struct{ in, root, pool, shard, req string }{
		{"/redis/cluster/icd/redis-0000", "/redis", "icd", "redis-0000", "/redis/failover/icd/redis-0000"},
		{"/cluster/p/s", "/", "p", "s", "/failover/p/s"},
		{"/a/b/cluster/p/s", "/a/b", "p", "s", "/a/b/failover/p/s"},
	} {
		root, pool, sh, err := ShardPathParts(c.in)
		req, err2 := RequestPath(c.in)
		if err != nil || err2 != nil || root != c.root || pool != c.pool || sh != c.shard || req != c.req {
			t.Errorf("%s: %q %q %q %q %v %v", c.in, root, pool, sh, req, err, err2)
		}
	}
	for _, bad := range []string{"", "redis/cluster/icd/redis-0000", "/redis/icd/redis-0000", "/redis/cluster/icd/", "/redis/cluster//x"} {
		if _, _, _, err := ShardPathParts(bad); !errors.Is(err, ErrNotShardPath) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestSplitAuth(t *testing.T) {
	for _, c := range []struct{ in, user, pass string }{
		{"", "", ""}, {"secret", "", "secret"}, {"alice:pw", "alice", "pw"}, {":pw", "", ":pw"}, {"a b:c", "", "a b:c"},
	} {
		if u, p := splitAuth(c.in); u != c.user || p != c.pass {
			t.Errorf("%q: %q %q", c.in, u, p)
		}
	}
}
