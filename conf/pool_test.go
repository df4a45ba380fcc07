package conf

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/hashring"
)

func codePool() *Pool {
	p := NewPool("code")
	p.Redis = true
	p.Listen = Listen{Network: "tcp", Addr: "127.0.0.1:22121", Raw: "127.0.0.1:22121"}
	p.Servers = []Server{
		{Network: "tcp", Addr: "127.0.0.1:6379", Host: "127.0.0.1", Port: 6379, Weight: 1},
		{Network: "tcp", Addr: "127.0.0.1:6380", Host: "127.0.0.1", Port: 6380, Weight: 2, Name: "second"},
	}
	return p
}

func TestValidateCodePool(t *testing.T) {
	if err := codePool().Validate(); err != nil {
		t.Fatalf("valid pool: %v", err)
	}
	if w := codePool().Warnings(); len(w) != 0 {
		t.Fatalf("warnings %q", w)
	}
	cases := []struct {
		mutate func(*Pool)
		want   string
		kind   error
	}{
		{func(p *Pool) { p.Listen = Listen{} }, "pool code: listen: missing", ErrMissingKey},
		{func(p *Pool) { p.Listen.Addr = "127.0.0.1" }, `pool code: listen: "127.0.0.1": address 127.0.0.1: missing port in address`, ErrBadAddress},
		{func(p *Pool) { p.Listen = Listen{Network: "unix", Addr: "rel.sock"} }, "is not an absolute path", ErrBadAddress},
		{func(p *Pool) { p.Hash = "FNV" }, `pool code: hash: unknown hash "FNV"`, ErrBadValue},
		{func(p *Pool) { p.Timeout = -time.Second }, "pool code: timeout: is negative", ErrBadValue},
		{func(p *Pool) { p.ServerConnections = 0 }, "pool code: server_connections: must be at least 1", ErrBadValue},
		{func(p *Pool) { p.Slots = 0 }, "pool code: slots: must be in 1..65536", ErrBadValue},
		{func(p *Pool) { p.ReadFrom = "any" }, `pool code: read_from: "any" is not master, replica or prefer-replica`, ErrBadValue},
		{func(p *Pool) { p.ZooKeeperSessionTimeout = 0 }, "pool code: zookeeper_session_timeout: must be positive", ErrBadValue},
		{func(p *Pool) { p.Servers = nil }, "pool code: servers: no servers", ErrMissingKey},
		{func(p *Pool) { p.Servers[1].Weight = 0 }, `pool code: servers: server "second": weight 0`, ErrBadWeight},
		{func(p *Pool) { p.Servers[1].Name = "" }, "", nil},
		{func(p *Pool) { p.Servers[1].Addr = "127.0.0.1:6379"; p.Servers[1].Name = "" }, "does not match host", ErrBadAddress},
		{func(p *Pool) { p.Servers[1].Port = 6379; p.Servers[1].Addr = "127.0.0.1:6379"; p.Servers[1].Name = "" }, `has the same name "127.0.0.1:6379"`, ErrDuplicateServer},
		{func(p *Pool) {
			p.Distribution = hashring.Slots
			p.Servers[0].Ranges = []hashring.Range{{Lo: 0, Hi: 99}}
			p.Servers[1].Ranges = []hashring.Range{{Lo: 100, Hi: 4095}}
		}, "", nil},
		{func(p *Pool) {
			p.Distribution = hashring.Slots
			p.Servers[0].Ranges = []hashring.Range{{Lo: 0, Hi: 99}}
			p.Servers[1].Ranges = []hashring.Range{{Lo: 99, Hi: 4095}}
		}, "pool code: servers: slot 99 is in 127.0.0.1:6379 and second (slots: 4096)", ErrSlotRanges},
		{func(p *Pool) { p.Servers[0].Ranges = []hashring.Range{{Lo: 0, Hi: 4095}} }, "has a weight but server", ErrSlotRanges},
		{func(p *Pool) { p.ZooKeeperRedisPath = "/redis/cluster/code" }, "pool code: zookeeper_redis_path: needs zookeeper_host", ErrMissingKey},
		{func(p *Pool) { p.ZooKeeperServers = []string{"zk:99999"} }, `pool code: zookeeper_host: "zk:99999": port 99999 is not in 1-65535`, ErrBadAddress},
	}
	for i, c := range cases {
		p := codePool()
		c.mutate(p)
		err := p.Validate()
		if c.want == "" {
			if err != nil {
				t.Errorf("case %d: %v", i, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.kind) {
			t.Errorf("case %d: Validate() = %v, want %v containing %q", i, err, c.kind, c.want)
		}
		for _, e := range Errors(err) {
			if e.File != "" || e.Line != 0 {
				t.Errorf("case %d: a pool built in code has no position, got %s:%d", i, e.File, e.Line)
			}
		}
	}
}

func TestSpec(t *testing.T) {
	p := codePool()
	p.Hash, p.HashTag, p.Distribution = "murmur", "{}", hashring.Modula
	spec := p.Spec()
	if spec.Hash != "murmur" || spec.HashTag != "{}" || spec.Distribution != hashring.Modula || spec.Slots != 4096 ||
		len(spec.Servers) != 2 || spec.Servers[1].Name != "second" || spec.Servers[1].Weight != 2 || spec.Servers[0].Addr != "127.0.0.1:6379" {
		t.Fatalf("spec %+v", spec)
	}
	tb, err := hashring.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if i := tb.Lookup([]byte("x")); i < 0 || i > 1 {
		t.Fatalf("Lookup = %d", i)
	}
}

func TestEqualAndDiff(t *testing.T) {
	a, err := Parse("a.yml", []byte(pool("listen: 127.0.0.1:22121", "redis: true", "servers:", "   - 127.0.0.1:6379:1 one")))
	if err != nil {
		t.Fatal(err)
	}
	// Same pool written differently, elsewhere, with defaults spelled out.
	b, err := Parse("b.yml", []byte("\n\np:\n  servers:\n   - 127.0.0.1:6379:1   one\n  redis: \"true\"\n  backlog: 512\n  listen: 127.0.0.1:22121\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !a[0].Equal(b[0]) || !b[0].Equal(a[0]) {
		t.Fatalf("equal pools differ:\n%+v\n%+v", a[0], b[0])
	}
	for i, mutate := range []func(*Pool){
		func(p *Pool) { p.Timeout = time.Second },
		func(p *Pool) { p.Servers[0].Weight = 2 },
		func(p *Pool) { p.Servers = append(p.Servers, p.Servers[0]) },
		func(p *Pool) { p.Listen.Addr = "127.0.0.1:22122" },
		func(p *Pool) { p.ZooKeeperServers = []string{"zk:2181"} },
		func(p *Pool) { p.Servers[0].Ranges = []hashring.Range{{Lo: 0, Hi: 1}} },
		func(p *Pool) { p.Name = "q" },
	} {
		c := *b[0]
		c.Servers = append([]Server(nil), b[0].Servers...)
		mutate(&c)
		if a[0].Equal(&c) {
			t.Errorf("mutation %d not detected", i)
		}
	}
	if b[0].Servers[0].Weight != 1 {
		t.Fatal("mutation leaked")
	}
	var nilPool *Pool
	if a[0].Equal(nil) || !nilPool.Equal(nil) {
		t.Error("nil handling")
	}

	old := []*Pool{codePool(), a[0]}
	old[0].Name = "gone"
	changed := *a[0]
	changed.Timeout = time.Second
	added := codePool()
	added.Name = "new"
	ch := Diff(old, []*Pool{added, &changed})
	if len(ch.Added) != 1 || ch.Added[0].Name != "new" || len(ch.Removed) != 1 || ch.Removed[0].Name != "gone" ||
		len(ch.Changed) != 1 || ch.Changed[0][0] != a[0] || ch.Changed[0][1] != &changed || len(ch.Unchanged) != 0 {
		t.Fatalf("Diff = %+v", ch)
	}
	ch = Diff(a, b)
	if len(ch.Unchanged) != 1 || len(ch.Added)+len(ch.Removed)+len(ch.Changed) != 0 {
		t.Fatalf("Diff of equal configurations = %+v", ch)
	}
}

func TestSuggest(t *testing.T) {
	for in, want := range map[string]string{
		"timout": "timeout", "Listen": "listen", "hash-tag": "hash_tag", "server": "servers",
		"zookeeper_hosts": "zookeeper_host", "auto_eject_host": "auto_eject_hosts", "xyz": "", "": "",
	} {
		if got := suggest(in); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
