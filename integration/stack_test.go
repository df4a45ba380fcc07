package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// The seed walkthrough (../shared/seeds/004: twemproxy + ZooKeeper + a
// watchdog), done with our tools and real processes only: shardis-admin
// creates a 3-shard pool, each shard a master and a replica with a
// shardis-watchdog beside each, one shardis-proxy; redis-cli writes keys
// through the proxy; one master's node is frozen as `docker pause` does
// (SIGSTOP of the backend and its watchdog); the same keys are read back
// through the proxy from the promoted replica; the old node is thawed and
// rejoins as a replica, as `shardis-admin status` shows.

type stack struct {
	t       *testing.T
	zk      *harness.ZooKeeper
	admin   string
	cli     string
	pool    string
	nodes   map[string]*stackNode // by backend address
	proxy   *harness.Proc         // the first of proxies
	proxies []*harness.Proc
}

type stackNode struct {
	shard    string
	addr     string
	backend  *harness.Proc
	watchdog *harness.Proc
}

// adminStatus is the part of `shardis-admin --json status` the test reads.
type adminStatus struct {
	Valid  bool `json:"valid"`
	Shards []struct {
		Name   string `json:"name"`
		Ranges string `json:"ranges"`
		Master *struct {
			Addr string `json:"addr"`
		} `json:"master"`
		Replicas []struct {
			Addr    string `json:"addr"`
			Backend *struct {
				Role       string `json:"role"`
				MasterHost string `json:"master_host"`
				MasterPort any    `json:"master_port"`
				LinkStatus string `json:"master_link_status"`
			} `json:"backend"`
		} `json:"replicas"`
	} `json:"shards"`
	Proxies []struct {
		Addr string `json:"addr"`
	} `json:"proxies"`
}

func (s *stack) adminRun(args ...string) (string, error) {
	all := append([]string{"--zk", s.zk.Addr}, args...)
	cmd := exec.Command(s.admin, all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("shardis-admin %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// status runs `shardis-admin --json status`; with probe false, ZooKeeper
// only (a frozen backend would hold up the probe for its timeout).
func (s *stack) status(probe bool) (*adminStatus, error) {
	args := []string{"--json", "status", s.pool}
	if !probe {
		args = append(args, "--no-probe")
	}
	out, err := s.adminRun(args...)
	if err != nil {
		return nil, err
	}
	var st adminStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("status JSON: %v: %s", err, out)
	}
	return &st, nil
}

// waitFor polls cond every 100 ms until it returns "" (done) or timeout,
// then fails with the last reason.
func (s *stack) waitFor(what string, timeout time.Duration, cond func() string) time.Duration {
	s.t.Helper()
	start := time.Now()
	var why string
	for time.Since(start) < timeout {
		if why = cond(); why == "" {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("%s: not within %v: %s", what, timeout, why)
	return 0
}

// redisCLI pipes commands into the real redis-cli, as an operator does.
func (s *stack) redisCLI(port int, input string) (string, error) {
	cmd := exec.Command(s.cli, "-h", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// stackOptions shape a stack.
type stackOptions struct {
	kind        backendKind
	shards      int
	replicas    int      // per shard (default 1)
	proxies     int      // default 1
	backendArgs []string // extra backend arguments
}

func startStack(t *testing.T, kind backendKind, shards int) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{kind: kind, shards: shards})
}

func startStackWith(t *testing.T, o stackOptions) *stack {
	kind, shards := o.kind, o.shards
	if o.replicas == 0 {
		o.replicas = 1
	}
	if o.proxies == 0 {
		o.proxies = 1
	}
	s := &stack{
		t:     t,
		zk:    harness.StartZooKeeper(t),
		admin: harness.Build(t, "./cmd/shardis-admin"),
		cli:   harness.LookPath(t, "redis-cli", "redis-tools"),
		pool:  "icd",
		nodes: map[string]*stackNode{},
	}
	if _, err := s.adminRun("pool", "create", s.pool, "--shards", strconv.Itoa(shards), "--hash", "fnv1a_64", "--hash-tag", "{}"); err != nil {
		t.Fatal(err)
	}
	wd := harness.Build(t, "./cmd/shardis-watchdog")
	for i := 0; i < shards; i++ {
		shard := fmt.Sprintf("redis-%04d", i)
		for j := 0; j <= o.replicas; j++ {
			var b *harness.Proc
			if kind == kindRedis {
				b = harness.StartRedis(t, append([]string{"--appendonly", "yes"}, o.backendArgs...)...)
			} else {
				b = harness.StartShardisServer(t, "", append([]string{"--appendonly", "yes", "--fenced", "yes"}, o.backendArgs...)...)
			}
			n := &stackNode{shard: shard, addr: b.Addr, backend: b}
			n.watchdog = harness.NewProc(t, fmt.Sprintf("watchdog-%s-%d", shard, j), wd, t.TempDir(),
				"--zk", s.zk.Addr, "--backend", b.Addr, "--shard", "/redis/cluster/"+s.pool+"/"+shard,
				"--probe-interval", "200ms", "--probe-failures", "3", "--session-timeout", "2s")
			n.watchdog.MustStart()
			s.nodes[b.Addr] = n
		}
	}
	for i := 0; i < o.proxies; i++ {
		s.proxies = append(s.proxies, s.startProxy())
	}
	s.proxy = s.proxies[0]
	return s
}

// startProxy starts one shardis-proxy of the pool on a free port.
func (s *stack) startProxy() *harness.Proc {
	t := s.t
	port := harness.FreePort(t)
	dir := t.TempDir()
	yml := fmt.Sprintf(`%s:
  listen: 127.0.0.1:%d
  hash: fnv1a_64
  hash_tag: "{}"
  redis: true
  timeout: 2000
  zookeeper_host: %s
  zookeeper_path: /redis/proxy/%s
  zookeeper_redis_path: /redis/cluster/%s
  zookeeper_session_timeout: 4000
`, s.pool, port, s.zk.Addr, s.pool, s.pool)
	cfg := filepath.Join(dir, "proxy.yml")
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := harness.NewProc(t, "shardis-proxy-"+strconv.Itoa(port), harness.Build(t, "./cmd/shardis-proxy"), dir,
		"-c", cfg, "-a", "127.0.0.1", "-s", strconv.Itoa(harness.FreePort(t)))
	p.Addr, p.Port = fmt.Sprintf("127.0.0.1:%d", port), port
	p.MustStart()
	return p
}

// healthy: `shardis-admin check` passes (every shard has a master, every
// replica follows it with its link up and no lag bound exceeded).
func (s *stack) healthy() string {
	out, err := s.adminRun("check", s.pool)
	if err != nil {
		return out + err.Error()
	}
	return ""
}

func TestSeedWalkthrough(t *testing.T) {
	for _, kind := range []backendKind{kindShardis, kindRedis} {
		t.Run(string(kind), func(t *testing.T) { seedWalkthrough(t, kind) })
	}
}

func seedWalkthrough(t *testing.T, kind backendKind) {
	const shards, keys = 3, 600
	s := startStack(t, kind, shards)
	s.waitFor("pool healthy", 30*time.Second, s.healthy)

	// Write through the proxy with redis-cli.
	var in strings.Builder
	for i := 0; i < keys; i++ {
		fmt.Fprintf(&in, "SET seed:%d value-%d\n", i, i)
	}
	s.waitFor("writes through the proxy", 15*time.Second, func() string {
		out, err := s.redisCLI(s.proxy.Port, in.String())
		if err != nil {
			return err.Error() + out
		}
		if n := strings.Count(out, "OK\n"); n != keys {
			return fmt.Sprintf("%d of %d OK: %.300s", n, keys, out)
		}
		return ""
	})
	// The keys spread over every shard (placement by ZooKeeper's ranges).
	for addr, n := range s.nodes {
		out, err := s.redisCLI(harnessPort(addr), "DBSIZE\n")
		if err != nil || strings.TrimSpace(out) == "0" {
			t.Fatalf("backend %s of %s holds no keys (%q, %v)", addr, n.shard, out, err)
		}
	}
	s.waitFor("replicas caught up", 20*time.Second, s.healthy)

	st, err := s.status(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Proxies) != 1 || st.Proxies[0].Addr != s.proxy.Addr {
		t.Fatalf("registered proxies %+v, want %s", st.Proxies, s.proxy.Addr)
	}
	victim := st.Shards[0]
	if victim.Master == nil || len(victim.Replicas) != 1 {
		t.Fatalf("shard %s: master %+v replicas %+v", victim.Name, victim.Master, victim.Replicas)
	}
	old := s.nodes[victim.Master.Addr]
	heir := victim.Replicas[0].Addr

	// docker pause: freeze the backend and its watchdog.
	old.watchdog.Pause()
	old.backend.Pause()
	took := s.waitFor("replica promoted", 20*time.Second, func() string {
		st, err := s.status(false)
		if err != nil {
			return err.Error()
		}
		for _, sh := range st.Shards {
			if sh.Name == victim.Name {
				if sh.Master == nil || sh.Master.Addr != heir {
					return fmt.Sprintf("master %+v", sh.Master)
				}
			}
		}
		return ""
	})
	t.Logf("%s: %s promoted %v after the pause", kind, heir, took.Round(time.Millisecond))

	// Every key reads back through the proxy, the paused shard's from the
	// promoted replica.
	var get strings.Builder
	for i := 0; i < keys; i++ {
		fmt.Fprintf(&get, "GET seed:%d\n", i)
	}
	s.waitFor("keys read back through the proxy", 15*time.Second, func() string {
		out, err := s.redisCLI(s.proxy.Port, get.String())
		if err != nil {
			return err.Error()
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != keys {
			return fmt.Sprintf("%d replies for %d keys: %.300s", len(lines), keys, out)
		}
		for i, l := range lines {
			if l != fmt.Sprintf("value-%d", i) {
				return fmt.Sprintf("seed:%d = %q", i, l)
			}
		}
		return ""
	})
	// And every shard takes writes again (50 keys: some land on the
	// failed-over shard).
	var after strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&after, "SET after:%d yes\n", i)
	}
	if out, err := s.redisCLI(s.proxy.Port, after.String()); err != nil || strings.Count(out, "OK\n") != 50 {
		t.Fatalf("writes after failover: %q %v", out, err)
	}

	// docker unpause: the old master comes back as a replica of the new one.
	old.backend.Resume()
	old.watchdog.Resume()
	back := s.waitFor("old master rejoined as replica", 30*time.Second, func() string {
		st, err := s.status(true)
		if err != nil {
			return err.Error()
		}
		for _, sh := range st.Shards {
			if sh.Name != victim.Name {
				continue
			}
			if sh.Master == nil || sh.Master.Addr != heir {
				return fmt.Sprintf("master %+v", sh.Master)
			}
			for _, r := range sh.Replicas {
				if r.Addr == old.addr && r.Backend != nil && r.Backend.Role == "slave" && r.Backend.LinkStatus == "up" {
					return ""
				}
			}
			return fmt.Sprintf("replicas %+v", sh.Replicas)
		}
		return "shard gone"
	})
	t.Logf("%s: %s rejoined as replica %v after the resume", kind, old.addr, back.Round(time.Millisecond))
	s.waitFor("pool healthy again", 20*time.Second, s.healthy)
	// The rejoined node holds what was written while it was frozen: the
	// same data set as the new master.
	s.waitFor("old master has the new writes", 10*time.Second, func() string {
		a, _ := s.redisCLI(harnessPort(old.addr), "DBSIZE\n")
		b, _ := s.redisCLI(harnessPort(heir), "DBSIZE\n")
		if a != b || strings.TrimSpace(a) == fmt.Sprint(keys/shards) {
			return fmt.Sprintf("DBSIZE old %s, new master %s", strings.TrimSpace(a), strings.TrimSpace(b))
		}
		return ""
	})
	out, _ := s.adminRun("status", s.pool)
	t.Logf("shardis-admin status after the walkthrough:\n%s", out)
}

func harnessPort(addr string) int {
	p, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	return p
}
