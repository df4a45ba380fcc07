package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// TestConfAgreesWithNutcrackerCheck runs `nutcracker -t` and conf.Parse on
// the same twemproxy-syntax configurations: a configuration nutcracker
// accepts must load, one it refuses must be refused. (shardis accepts more
// on purpose — its own keys, slot ranges, reuseport, YAML flow style — so
// only twemproxy's format is compared here.)
func TestConfAgreesWithNutcrackerCheck(t *testing.T) {
	nutcracker := harness.LookPath(t, "nutcracker", "nutcracker")
	const srv = "  servers:\n   - 127.0.0.1:6379:1\n"
	pool := func(extra string) string {
		return "p:\n  listen: 127.0.0.1:22121\n  redis: true\n" + extra + srv
	}
	sample, err := os.ReadFile("../conf/testdata/nutcracker.yml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, yaml string
		ok         bool   // nutcracker -t's verdict
		differ     string // why conf decides the other way on purpose, if it does
	}{
		{"debian sample", string(sample), true, ""},
		{"minimal", pool(""), true, ""},
		{"memcached pool", "p:\n  listen: 127.0.0.1:22121\n" + srv, true, ""},
		{"quoted values", pool("  timeout: \"400\"\n  preconnect: 'true'\n"), true, ""},
		{"every twemproxy key", pool("  hash: murmur\n  hash_tag: \"{}\"\n  distribution: modula\n  timeout: 400\n  backlog: 1024\n" +
			"  preconnect: true\n  redis_auth: secret\n  redis_db: 3\n  server_connections: 4\n  auto_eject_hosts: true\n" +
			"  server_retry_timeout: 2000\n  server_failure_limit: 3\n  client_connections: 100\n  tcpkeepalive: true\n"), true, ""},
		{"random distribution", pool("  distribution: random\n"), true, ""},
		{"unix listen", "p:\n  listen: /tmp/shardis-test.sock 0600\n  redis: true\n" + srv, true, ""},
		{"unix listen without permissions", "p:\n  listen: /tmp/shardis-test.sock\n  redis: true\n" + srv, true, ""},
		{"named servers", "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n   - 127.0.0.1:6379:1 a\n   - 127.0.0.1:6380:2 b\n", true, ""},
		{"unix server", "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n   - /tmp/redis.sock:1 local\n", true, ""},
		{"big weight", "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:100000\n   - 127.0.0.1:6380:1\n", true, ""},
		{"two pools", pool("") + "q:\n  listen: 127.0.0.1:22122\n" + srv, true, ""},

		{"unknown key", pool("  sentinels: x\n"), false, ""},
		{"duplicate key", pool("  timeout: 1\n  timeout: 2\n"), false, ""},
		{"weight 0", "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:0\n", false, ""},
		{"weight not a number", "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:x\n", false, ""},
		{"server without weight", "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379\n", false, ""},
		{"server bad port", "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:99999:1\n", false, ""},
		{"missing listen", "p:\n  redis: true\n" + srv, false, ""},
		{"listen without port", "p:\n  listen: 127.0.0.1\n" + srv, false, ""},
		{"listen port 0", "p:\n  listen: 127.0.0.1:0\n" + srv, false, ""},
		{"listen port too big", "p:\n  listen: 127.0.0.1:70000\n" + srv, false, ""},
		{"listen bad permissions", "p:\n  listen: /tmp/x.sock 0999\n" + srv, true,
			"nutcracker's strtol reads \"0999\" as 0 (no permissions); shardis refuses the typo"},
		{"reuseport", pool("  reuseport: true\n"), false, "reuseport is a later twemproxy key that 0.5.0 lacks"},
		{"slot ranges", "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:7001:0-2047\n   - 127.0.0.1:7002:2048-4095\n", false,
			"slot ranges are shardis' extension"},
		{"YAML 1.2 boolean", pool("  preconnect: True\n"), false, "shardis also reads YAML 1.2 booleans"},
		{"no servers", "p:\n  listen: 127.0.0.1:22121\n", false, ""},
		{"same listen", pool("") + "q:\n  listen: 127.0.0.1:22121\n" + srv, false, ""},
		{"same pool name", pool("") + "p:\n  listen: 127.0.0.1:22122\n" + srv, false, ""},
		{"same server name", "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1 a\n   - 127.0.0.1:6380:1 a\n", false, ""},
		{"same server address", "p:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\n   - 127.0.0.1:6379:1\n", false, ""},
		{"bad hash", pool("  hash: sha1\n"), false, ""},
		{"bad distribution", pool("  distribution: consistent\n"), false, ""},
		{"hash tag of one character", pool("  hash_tag: \"{\"\n"), false, ""},
		{"hash tag of three characters", pool("  hash_tag: \"{}}\"\n"), false, ""},
		{"timeout not a number", pool("  timeout: 4s\n"), false, ""},
		{"negative timeout", pool("  timeout: -1\n"), false, ""},
		{"bool yes", pool("  preconnect: yes\n"), false, ""},
		{"server_connections 0", pool("  server_connections: 0\n"), false, ""},
		{"two documents", pool("") + "---\nq:\n  listen: 127.0.0.1:22122\n" + srv, false, ""},
		{"alias", "a: &x 127.0.0.1:22121\np:\n  listen: *x\n" + srv, false, ""},
		{"top level list", "- p\n", false, ""},
		{"empty file", "", false, ""},
	}
	dir := t.TempDir()
	for i, c := range cases {
		path := filepath.Join(dir, fmt.Sprintf("case%02d.yml", i))
		if err := os.WriteFile(path, []byte(c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(nutcracker, "-t", "-c", path).CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("%s: nutcracker -t: %v", c.name, err)
		}
		ncOK := err == nil && strings.Contains(string(out), "syntax is ok")
		if ncOK != c.ok {
			t.Errorf("%s: nutcracker -t says ok=%v, the test expects %v: %s", c.name, ncOK, c.ok, out)
		}
		_, cerr := conf.Parse(path, []byte(c.yaml))
		confOK := cerr == nil
		switch {
		case c.differ == "" && confOK != ncOK:
			t.Errorf("%s: nutcracker -t ok=%v but conf.Parse: %v", c.name, ncOK, cerr)
		case c.differ != "" && confOK == ncOK:
			t.Errorf("%s: conf.Parse agrees with nutcracker -t (ok=%v) although it should not: %s", c.name, ncOK, c.differ)
		}
	}
}
