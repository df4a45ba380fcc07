package conf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/hashring"
)

// debianSample is where Debian's nutcracker package ships its example.
const debianSample = "/usr/share/doc/nutcracker/examples/nutcracker.yml"

func mustLoad(t *testing.T, path string) []*Pool {
	t.Helper()
	pools, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return pools
}

func byName(pools []*Pool) map[string]*Pool {
	m := map[string]*Pool{}
	for _, p := range pools {
		m[p.Name] = p
	}
	return m
}

func TestDebianSampleLoadsUnchanged(t *testing.T) {
	pools := mustLoad(t, "testdata/nutcracker.yml")
	var names []string
	for _, p := range pools {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"alpha", "beta", "gamma", "delta", "omega"}) {
		t.Fatalf("pools %v", names)
	}
	m := byName(pools)

	a := m["alpha"]
	if a.Listen.Network != "tcp" || a.Listen.Addr != "127.0.0.1:22121" || a.Hash != "fnv1a_64" ||
		a.Distribution != hashring.Ketama || !a.AutoEjectHosts || !a.Redis ||
		a.ServerRetryTimeout != 2*time.Second || a.ServerFailureLimit != 1 || len(a.Servers) != 1 {
		t.Errorf("alpha = %+v", a)
	}
	// Keys alpha does not set have twemproxy's defaults.
	if a.Timeout != 0 || a.Backlog != 512 || a.ServerConnections != 1 || a.Preconnect || a.RedisDB != 0 ||
		a.HashTag != "" || a.ClientConnections != 0 || a.TCPKeepalive {
		t.Errorf("alpha defaults = %+v", a)
	}
	if s := a.Servers[0]; s.Addr != "127.0.0.1:6379" || s.Host != "127.0.0.1" || s.Port != 6379 || s.Weight != 1 || s.Name != "" || s.Line != 10 {
		t.Errorf("alpha server = %+v", s)
	}

	b := m["beta"]
	if b.HashTag != "{}" || b.AutoEjectHosts || b.Timeout != 400*time.Millisecond || len(b.Servers) != 4 ||
		b.Servers[2].Name != "server3" || b.Servers[2].Addr != "127.0.0.1:6382" || b.ServerRetryTimeout != DefaultServerRetryTimeout {
		t.Errorf("beta = %+v", b)
	}
	g := m["gamma"]
	if g.Backlog != 1024 || !g.Preconnect || g.Redis || g.ServerFailureLimit != 3 || g.Timeout != 400*time.Millisecond {
		t.Errorf("gamma = %+v", g)
	}
	if d := m["delta"]; len(d.Servers) != 10 || d.Timeout != 100*time.Millisecond {
		t.Errorf("delta = %+v", d)
	}
	o := m["omega"]
	if o.Listen.Network != "unix" || o.Listen.Addr != "/tmp/gamma" || o.Listen.Perm != 0 || o.Hash != "hsieh" ||
		o.Servers[0].Weight != 100000 || o.Servers[1].Weight != 1 {
		t.Errorf("omega = %+v", o)
	}
	// The memcached pools load, with a warning each; the Redis ones do not warn.
	for _, p := range pools {
		w := strings.Join(p.Warnings(), "\n")
		if p.Redis != !strings.Contains(w, "shardis serves only the Redis protocol") {
			t.Errorf("pool %s (redis %v) warnings: %q", p.Name, p.Redis, w)
		}
	}
	if w := m["gamma"].Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "testdata/nutcracker.yml:26: pool gamma: redis is false") {
		t.Errorf("gamma warnings %q", w)
	}
	// Every pool routes.
	for _, p := range pools {
		if _, err := hashring.New(p.Spec()); err != nil {
			t.Errorf("pool %s: hashring.New: %v", p.Name, err)
		}
	}
}

func TestDebianSampleInstalled(t *testing.T) {
	if _, err := os.Stat(debianSample); err != nil {
		t.Skipf("%s not installed (the copy in testdata is tested above)", debianSample)
	}
	installed := mustLoad(t, debianSample)
	copied := mustLoad(t, "testdata/nutcracker.yml")
	ch := Diff(copied, installed)
	if len(ch.Unchanged) != len(copied) || len(installed) != len(copied) {
		t.Fatalf("installed sample differs from testdata copy: %+v", ch)
	}
}

func TestSeedPool(t *testing.T) {
	pools := mustLoad(t, "testdata/seed.yml")
	if len(pools) != 1 {
		t.Fatalf("%d pools", len(pools))
	}
	p := pools[0]
	if !p.SlotBased() || p.Distribution != hashring.Slots || p.Hash != "md5" || p.HashTag != "{}" || p.Slots != 4096 {
		t.Fatalf("seed pool = %+v", p)
	}
	if !slices.Equal(p.Servers[0].Ranges, []hashring.Range{{Lo: 0, Hi: 2047}}) || !slices.Equal(p.Servers[1].Ranges, []hashring.Range{{Lo: 2048, Hi: 4095}}) || p.Servers[0].Weight != 0 {
		t.Fatalf("seed servers = %+v", p.Servers)
	}
	if p.ZooKeeperHost != "127.0.0.1:2181" || !slices.Equal(p.ZooKeeperServers, []string{"127.0.0.1:2181"}) || p.ZooKeeperChroot != "" ||
		p.ZooKeeperPath != "/redis/proxy/icd/127.0.0.1:22121" || p.ZooKeeperRedisPath != "/redis/cluster/icd" ||
		p.ZooKeeperSessionTimeout != 5*time.Second || p.ZooKeeperRefreshInterval != DefaultZooKeeperRefreshInterval || !p.UsesZooKeeper() {
		t.Fatalf("seed zookeeper keys = %+v", p)
	}
	w := strings.Join(p.Warnings(), "\n")
	if !strings.Contains(w, "testdata/seed.yml:7: pool icd: distribution modula is ignored") {
		t.Errorf("warnings %q", w)
	}
	tb, err := hashring.New(p.Spec())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "user:1", "{tag}x"} {
		slot := tb.Slot([]byte(k))
		want := 0
		if slot >= 2048 {
			want = 1
		}
		if got := tb.Lookup([]byte(k)); got != want || uint32(slot) != hashring.MD5(hashring.HashTag([]byte(k), "{}"))%4096 {
			t.Errorf("key %q: slot %d server %d", k, slot, got)
		}
	}
}

func TestLoadDirectory(t *testing.T) {
	pools := mustLoad(t, "testdata/tenants")
	var names []string
	for _, p := range pools {
		names = append(names, p.Name)
	}
	// file order (10-alpha.yml, 20-beta.yaml), hidden file and README skipped
	if !slices.Equal(names, []string{"alpha", "beta", "gamma"}) {
		t.Fatalf("pools %v", names)
	}
	m := byName(pools)
	if m["alpha"].File != filepath.Join("testdata/tenants", "10-alpha.yml") || m["beta"].Line != 1 || m["gamma"].Line != 22 {
		t.Errorf("positions: %s %d %d", m["alpha"].File, m["beta"].Line, m["gamma"].Line)
	}
	b := m["beta"]
	if !b.SlotBased() || b.Slots != 16 || b.Hash != "murmur" || b.ReadFrom != ReadPreferReplica || !b.AllowAdminCommands ||
		b.SlowlogSlowerThan != -time.Microsecond || b.SlowlogMaxLen != 1024 || b.ClientIdleTimeout != 300*time.Second ||
		b.ClientConnections != 10000 || !b.TCPKeepalive || !b.Reuseport || b.ZooKeeperAuth != "proxy:secret" ||
		b.ZooKeeperRefreshInterval != 10*time.Second || b.ZooKeeperChroot != "/shardis" ||
		!slices.Equal(b.ZooKeeperServers, []string{"zk1:2181", "zk2:2181", "zk3:2181"}) {
		t.Errorf("beta = %+v", b)
	}
	if w := strings.Join(b.Warnings(), "\n"); strings.Contains(w, "ignored") || !strings.Contains(w, "client_connections 10000 is enforced") {
		t.Errorf("beta warnings %q", w)
	}
	g := m["gamma"]
	if g.Listen.Network != "unix" || g.Listen.Addr != "/tmp/shardis-gamma.sock" || g.Listen.Perm != 0o660 || len(g.Servers) != 0 || !g.UsesZooKeeper() {
		t.Errorf("gamma = %+v", g)
	}
	// Defaults of the shardis keys.
	a := m["alpha"]
	if a.Slots != 4096 || a.ReadFrom != ReadMaster || a.AllowAdminCommands || a.SlowlogSlowerThan != 10*time.Millisecond ||
		a.SlowlogMaxLen != 128 || a.ClientIdleTimeout != 0 || a.ZooKeeperSessionTimeout != 10*time.Second || a.UsesZooKeeper() {
		t.Errorf("alpha shardis defaults = %+v", a)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("testdata/does-not-exist.yml"); err == nil || !strings.HasPrefix(err.Error(), "testdata/does-not-exist.yml: ") {
		t.Errorf("missing file: %v", err)
	}
	empty := t.TempDir()
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "no *.yml or *.yaml files") {
		t.Errorf("empty directory: %v", err)
	}
	// Names and listen addresses must be unique across files.
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yml", "one:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n   - 127.0.0.1:6379:1\n")
	write("b.yml", "two:\n  redis: true\n  listen: 0.0.0.0:22121\n  servers:\n   - 127.0.0.1:6379:1\n"+
		"one:\n  listen: 127.0.0.1:22125\n  servers:\n   - 127.0.0.1:6379:1\n")
	write("c.yml", "three:\n  listen: 127.0.0.1:bad\n  servers:\n   - 127.0.0.1:6379:1\n")
	_, err := Load(dir)
	errs := Errors(err)
	got := make([]string, len(errs))
	for i, e := range errs {
		got[i] = e.Error()
	}
	want := []string{
		filepath.Join(dir, "c.yml") + `:2: pool three: listen: bad address: "127.0.0.1:bad": port "bad" is not a number`,
		filepath.Join(dir, "b.yml") + ":6: pool one: pool one is already defined at " + filepath.Join(dir, "a.yml") + ":1",
		filepath.Join(dir, "b.yml") + ":3: pool two: listen: 0.0.0.0:22121 has a listen address that overlaps pool one (127.0.0.1:22121 at " + filepath.Join(dir, "a.yml") + ":2)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
