package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runArgs(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	status := run(args, &out, &errOut)
	return status, out.String(), errOut.String()
}

func TestCheckOK(t *testing.T) {
	for _, args := range [][]string{
		{"-t", "-c", "../../conf/testdata/seed.yml"},
		{"--test-conf", "--conf-file", "../../conf/testdata/seed.yml"},
		{"-t", "-c=../../conf/testdata/seed.yml"},
	} {
		status, _, stderr := runArgs(args...)
		want := "shardis-proxy: configuration file '../../conf/testdata/seed.yml' syntax is ok\n"
		if status != 0 || !strings.HasSuffix(stderr, want) {
			t.Errorf("%v: status %d, stderr %q", args, status, stderr)
		}
		if !strings.Contains(stderr, "warning: ../../conf/testdata/seed.yml:7: pool icd: distribution modula is ignored") {
			t.Errorf("%v: missing warning in %q", args, stderr)
		}
	}
}

func TestCheckDebianSampleWarnsAboutMemcached(t *testing.T) {
	status, _, stderr := runArgs("-t", "-c", "../../conf/testdata/nutcracker.yml")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	for _, pool := range []string{"gamma", "delta", "omega"} {
		if !strings.Contains(stderr, "pool "+pool+": redis is false (memcached, twemproxy's default): shardis serves only the Redis protocol") {
			t.Errorf("no memcached warning for %s in %q", pool, stderr)
		}
	}
	if strings.Contains(stderr, "pool alpha") || strings.Contains(stderr, "pool beta") {
		t.Errorf("warning for a Redis pool: %q", stderr)
	}
}

func TestCheckDirectory(t *testing.T) {
	status, _, stderr := runArgs("-t", "-c", "../../conf/testdata/tenants")
	if status != 0 || !strings.HasSuffix(stderr, "configuration file '../../conf/testdata/tenants' syntax is ok\n") {
		t.Fatalf("status %d, stderr %q", status, stderr)
	}
}

func TestCheckInvalid(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(path, []byte("p:\n  listen: 127.0.0.1\n  timout: 1\n  servers:\n   - 127.0.0.1:6379:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	status, stdout, stderr := runArgs("-t", "-c", path)
	want := "shardis-proxy: " + path + ":2: pool p: listen: bad address: \"127.0.0.1\" is not \"host:port\"\n" +
		"shardis-proxy: " + path + ":3: pool p: unknown key \"timout\" (did you mean \"timeout\"?)\n" +
		"shardis-proxy: " + path + ":5: pool p: servers: bad weight: \"127.0.0.1:6379:0\": weight is 0 (a server needs a weight of at least 1)\n" +
		"shardis-proxy: configuration file '" + path + "' syntax is invalid\n"
	if status != 1 || stderr != want || stdout != "" {
		t.Fatalf("status %d\nstderr:\n%s\nwant:\n%s", status, stderr, want)
	}
	status, _, stderr = runArgs("-t", "-c", filepath.Join(dir, "missing.yml"))
	if status != 1 || !strings.Contains(stderr, "missing.yml: stat ") || !strings.HasSuffix(stderr, "syntax is invalid\n") {
		t.Fatalf("missing file: status %d, %q", status, stderr)
	}
}

func TestUsage(t *testing.T) {
	if status, _, stderr := runArgs("-x"); status != 2 || !strings.Contains(stderr, "-c, --conf-file") {
		t.Errorf("unknown flag: %d %q", status, stderr)
	}
	if status, _, stderr := runArgs("-h"); status != 0 || !strings.Contains(stderr, "-t, --test-conf") {
		t.Errorf("-h: %d %q", status, stderr)
	}
	if status, _, _ := runArgs("-t", "extra"); status != 2 {
		t.Errorf("extra argument: status %d", status)
	}
	if status, stdout, _ := runArgs("-V"); status != 0 || !strings.HasPrefix(stdout, "This is shardis-proxy-") {
		t.Errorf("-V: %d %q", status, stdout)
	}
	if status, _, stderr := runArgs("-c", "/nonexistent/proxy.yml", "-s", "0"); status != 1 || !strings.Contains(stderr, "configuration file '/nonexistent/proxy.yml' syntax is invalid") {
		t.Errorf("serving a missing file: %d %q", status, stderr)
	}
	for _, bad := range [][]string{{"-s", "70000"}, {"-i", "0"}, {"-v", "12"}, {"--drain-timeout", "-1"}} {
		if status, _, _ := runArgs(bad...); status != 2 {
			t.Errorf("%v: status %d, want 2", bad, status)
		}
	}
	if status, stdout, _ := runArgs("-D"); status != 0 || !strings.Contains(stdout, "out_queue_bytes") {
		t.Errorf("-D: %d %q", status, stdout)
	}
}

func TestThreadsDefault(t *testing.T) {
	for _, c := range []struct{ flag, cpus, want int }{
		{0, 1, 1}, {0, 2, 1}, {0, 8, 7}, {2, 2, 2}, {4, 1, 4},
	} {
		if got := threads(c.flag, c.cpus); got != c.want {
			t.Errorf("threads(--threads %d, %d CPUs) = %d, want %d", c.flag, c.cpus, got, c.want)
		}
	}
	if status, _, _ := runArgs("--threads", "-1"); status != 2 {
		t.Errorf("--threads -1: status %d, want 2", status)
	}
}
