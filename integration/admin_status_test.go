package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/admin"
	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// adminCLI runs the built shardis-admin against one ZooKeeper.
type adminCLI struct {
	t   *testing.T
	bin string
	zk  string
}

// run runs shardis-admin with args and returns its exit status, stdout
// and stderr.
func (c adminCLI) run(args ...string) (int, string, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--zk", c.zk}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("shardis-admin %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// must runs args and requires exit status code and text in the output.
func (c adminCLI) must(code int, text string, args ...string) string {
	c.t.Helper()
	got, out, errs := c.run(args...)
	if got != code || !strings.Contains(out+errs, text) {
		c.t.Fatalf("shardis-admin %s: exit %d (want %d), output must contain %q\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), got, code, text, out, errs)
	}
	return out
}

func redisClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAdminStatusWithBackends creates a pool with the built shardis-admin
// against a real ZooKeeper, registers real redis-server backends as
// members (the watchdog's part, done here by hand) and a proxy, and checks
// status and check, their exit statuses and their JSON.
func TestAdminStatusWithBackends(t *testing.T) {
	zkp := harness.StartZooKeeper(t)
	cli := adminCLI{t: t, bin: harness.Build(t, "./cmd/shardis-admin"), zk: zkp.Addr}
	ctx := context.Background()

	// Usage errors and a missing pool.
	cli.must(2, "unknown command", "frobnicate")
	cli.must(2, "--shards N is required", "pool", "create", "icd")
	cli.must(1, "pool not found in ZooKeeper", "status", "icd")

	out := cli.must(0, "created pool icd at /redis/cluster/icd: 4096 slots, 2 shards", "pool", "create", "icd", "--shards", "2", "--hash", "md5", "--hash-tag", "{}")
	t.Logf("pool create:\n%s", out)
	cli.must(1, "already exists", "pool", "create", "icd", "--shards", "2")
	// No masters yet: check fails, naming the shards.
	cli.must(1, "[masterless] shard redis-0000 has no master", "check", "icd")

	// Shard redis-0000: a redis-server master with a replica; shard
	// redis-0001: a shardis-server master alone.
	m0, r0, m1 := harness.StartRedis(t), harness.StartRedis(t), harness.StartShardisServer(t, "")
	host, port, _ := net.SplitHostPort(m0.Addr)
	mc, rc := redisClient(t, m0.Addr), redisClient(t, r0.Addr)
	if err := rc.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if err := mc.Set(ctx, "k"+strconv.Itoa(i), strings.Repeat("v", 100), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, _ := rc.Info(ctx, "replication").Result()
		mi, _ := mc.Info(ctx, "replication").Result()
		if strings.Contains(info, "master_link_status:up") && field(info, "slave_repl_offset") == field(mi, "master_repl_offset") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica did not catch up:\n%s\n%s", info, mi)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The watchdogs' registrations, one ZooKeeper session each.
	layout := conf.Layout{}
	dial := func() *conf.ZK {
		z, err := conf.DialZooKeeper(conf.ZKConfig{Servers: []string{zkp.Addr}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(z.Close)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := z.WaitConnected(cctx); err != nil {
			t.Fatal(err)
		}
		return z
	}
	register := func(shard, addr string, role conf.Role) (*conf.ZK, conf.MemberNode) {
		z := dial()
		m, err := z.CreateMember(layout.ShardPath("icd", shard), conf.MemberData{Addr: addr, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return z, m
	}
	dog0, master0 := register("redis-0000", m0.Addr, conf.RoleMaster)
	register("redis-0000", r0.Addr, conf.RoleReplica)
	register("redis-0001", m1.Addr, conf.RoleMaster)
	// A proxy's registration.
	reg, err := conf.NewEphemeral(dial(), layout.ProxyNode("icd", "127.0.0.1:22121"),
		conf.ProxyData{Addr: "127.0.0.1:22121", Pool: "icd", Started: time.Now(), Version: "test"}.Marshal(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopReg := context.WithCancel(ctx)
	regDone := make(chan error, 1)
	go func() { regDone <- reg.Run(rctx) }()
	defer func() { stopReg(); <-regDone }()
	deadline = time.Now().Add(10 * time.Second)
	for !reg.Registered() {
		if time.Now().After(deadline) {
			t.Fatal("proxy not registered")
		}
		time.Sleep(20 * time.Millisecond)
	}

	out = cli.must(0, "redis-0000", "status", "icd")
	t.Logf("status:\n%s", out)
	for _, want := range []string{m0.Addr, r0.Addr, m1.Addr, "replica of " + m0.Addr + ", link up", "master, 1 replicas", "proxies (1):", "127.0.0.1:22121 version test", `hash md5, hash_tag "{}"`} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q", want)
		}
	}
	out = cli.must(0, `"pool": "icd"`, "status", "icd", "--json")
	var st admin.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	s0 := st.Shards[0]
	if s0.Master == nil || s0.Master.Addr != m0.Addr || s0.Master.Backend == nil || s0.Master.Backend.Role != "master" ||
		len(s0.Replicas) != 1 || s0.Replicas[0].Lag == nil || *s0.Replicas[0].Lag != 0 || s0.Replicas[0].Backend.Offset != s0.Master.Backend.Offset ||
		s0.Replicas[0].Backend.Offset < 20000 || s0.Epoch != master0.Seq {
		t.Errorf("shard redis-0000 in JSON: %s", out)
	}
	if len(st.Proxies) != 1 || st.Proxies[0].Version != "test" || !st.Valid || len(st.Masterless) != 0 {
		t.Errorf("pool in JSON: %s", out)
	}
	cli.must(0, "pool icd: healthy", "check", "icd")

	// Failures check must see, one at a time.
	r0.Kill()
	out = cli.must(1, "[unreachable] shard redis-0000: replica "+r0.Addr+" does not answer", "check", "icd", "--probe-timeout", "500ms")
	var rep admin.CheckReport
	if code, js, _ := cli.run("check", "icd", "--json", "--probe-timeout", "500ms"); code != 1 || json.Unmarshal([]byte(js), &rep) != nil || rep.Healthy || rep.Problems[0].Kind != admin.ProblemUnreachable {
		t.Errorf("check --json: exit %d %s", code, js)
	}
	if err := r0.Restart(); err != nil {
		t.Fatal(err)
	}
	// Restarted without REPLICAOF: a registered replica that says master.
	cli.must(1, "[role] shard redis-0000: replica "+r0.Addr+` reports role "master"`, "check", "icd")
	// The master's watchdog goes: the shard is masterless.
	dog0.Close()
	cli.must(1, "[masterless] shard redis-0000 has no master", "check", "icd", "--no-probe")
	// A forced gap: uncovered slots.
	cli.must(1, "after this change, slots 0-99 are not covered", "shard", "set-range", "icd", "redis-0000", "100-2047")
	cli.must(0, "", "shard", "set-range", "icd", "redis-0000", "100-2047", "--force")
	out = cli.must(1, "[uncovered]", "check", "icd", "--no-probe")
	if !strings.Contains(out, "slots 0-99 are not covered") {
		t.Errorf("check output: %s", out)
	}
	cli.must(1, "it owns 1948 slots", "shard", "remove", "icd", "redis-0000")
}

// field returns the value of name in INFO text.
func field(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}
