package conf

import (
	"errors"
	"testing"
	"time"
)

func TestFailoverRequestCodec(t *testing.T) {
	r := FailoverRequest{ID: "9f2c", Master: "127.0.0.1:7001-0000000003", Target: "127.0.0.1:7002",
		Timeout: 10 * time.Second, State: FailoverPaused, Offset: 1234}
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
	if err != nil || got.Target != "[::1]:7002" || got.Offset != 0 || got.State != FailoverRequested || got.Timeout != 5*time.Millisecond {
		t.Fatalf("%+v %v", got, err)
	}
	for _, c := range []struct{ in, msg string }{
		{``, `bad znode data: failover request: empty`},
		{`null`, `bad znode data: failover request: empty`},
		{`[]`, `bad znode data: failover request: want a JSON object, got an array`},
		{`{"id":"x"}`, `bad znode data: failover request: missing "master"`},
		{`{"id":"","master":"m","target":"h:1","timeout_ms":5,"state":"requested"}`, `bad znode data: failover request: missing "id"`},
		{`{"id":"x","master":"m","target":"nohost","timeout_ms":5,"state":"requested"}`, `bad znode data: failover request: "target": bad address: "nohost" is not "host:port"`},
		{`{"id":"x","master":"m","target":"h:0","timeout_ms":5,"state":"requested"}`, `bad znode data: failover request: "target": bad address: "h:0": port 0 is not in 1-65535`},
		{`{"id":"x","master":"m","target":"h:1","timeout_ms":0,"state":"requested"}`, `bad znode data: failover request: "timeout_ms" is 0, want 1..600000`},
		{`{"id":"x","master":"m","target":"h:1","timeout_ms":600001,"state":"requested"}`, `bad znode data: failover request: "timeout_ms" is 600001, want 1..600000`},
		{`{"id":"x","master":"m","target":"h:1","timeout_ms":5,"state":"done"}`, `bad znode data: failover request: "state" "done" is not "requested" or "paused"`},
		{`{"id":"x","master":"m","target":"h:1","timeout_ms":5,"state":"paused","offset":-1}`, `bad znode data: failover request: "offset" is -1, want 0..9223372036854775807`},
		{`{"id":"x","master":"m","target":"h:1","timeout_ms":5,"state":"paused"} {}`, `bad znode data: failover request: data after the JSON object`},
		{`{"id":1,"master":"m","target":"h:1","timeout_ms":5,"state":"paused"}`, `bad znode data: failover request: "id" must be a string, got "1"`},
		{`{"id":"x","id":"y","master":"m","target":"h:1","timeout_ms":5,"state":"paused"}`, `bad znode data: failover request: field "id" is repeated`},
		{`{"id":"x","master":"m","target":"h:1","timeout_ms":1e3,"state":"paused"}`, `bad znode data: failover request: "timeout_ms" must be an integer, got "1e3"`},
	} {
		_, err := ParseFailoverRequest([]byte(c.in))
		if !errors.Is(err, ErrBadFailoverRequest) || !errors.Is(err, ErrBadZnodeData) {
			t.Errorf("%s: err %v, want ErrBadFailoverRequest", c.in, err)
			continue
		}
		if err.Error() != c.msg {
			t.Errorf("%s:\n got %s\nwant %s", c.in, err, c.msg)
		}
	}
}

func FuzzFailoverRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"9f2c","master":"127.0.0.1:7001-0000000003","target":"127.0.0.1:7002","timeout_ms":10000,"state":"paused","offset":1234}`,
		`{"id":"x","master":"m-1","target":"[::1]:7002","timeout_ms":5,"state":"requested","by":"ops"}`,
		`{"id":"x","master":"m","target":"h:1","timeout_ms":5,"state":"paused"} {}`,
		`{"timeout_ms":1e3}`, `''`, `{"id":"x","id":"y"}`, `{"offset":{"a":[1,2]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseFailoverRequest(b)
		if err != nil {
			if !errors.Is(err, ErrBadFailoverRequest) || !errors.Is(err, ErrBadZnodeData) {
				t.Fatalf("error %v does not wrap ErrBadFailoverRequest and ErrBadZnodeData", err)
			}
			return
		}
		again, err := ParseFailoverRequest(r.Marshal())
		if err != nil || again != r {
			t.Fatalf("round trip: %+v → %+v, %v", r, again, err)
		}
	})
}

func TestShardPathAndFailoverPath(t *testing.T) {
	for _, c := range []struct{ in, root, pool, shard, failover string }{
		{"/redis/cluster/icd/redis-0000", "/redis", "icd", "redis-0000", "/redis/failover/icd/redis-0000"},
		{"/cluster/p/s", "/", "p", "s", "/failover/p/s"},
		{"/a/b/cluster/p/s", "/a/b", "p", "s", "/a/b/failover/p/s"},
	} {
		l, pool, sh, err := ParseShardPath(c.in)
		if err != nil || l.Root != c.root || pool != c.pool || sh != c.shard || l.FailoverPath(pool, sh) != c.failover ||
			l.ShardPath(pool, sh) != c.in {
			t.Errorf("%s: %+v %q %q %v → %q", c.in, l, pool, sh, err, l.FailoverPath(pool, sh))
		}
	}
	for _, bad := range []string{"", "redis/cluster/icd/redis-0000", "/redis/icd/redis-0000", "/redis/cluster/icd/", "/redis/cluster//x", "/a//cluster/p/s"} {
		if _, _, _, err := ParseShardPath(bad); !errors.Is(err, ErrNotShardPath) || !errors.Is(err, ErrBadZnodeName) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	var zero Layout
	if got := zero.FailoverPath("icd", "redis-0001"); got != "/redis/failover/icd/redis-0001" {
		t.Errorf("FailoverPath: %s", got)
	}
}
