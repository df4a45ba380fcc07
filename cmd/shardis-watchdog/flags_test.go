package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/watchdog"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{"SHARDIS_BACKEND_AUTH": "s3cret"}
	o, err := parseFlags([]string{"--zk", "10.0.0.9:2181,10.0.0.8/shardis", "--backend", "127.0.0.1:6379",
		"--shard", "/redis/cluster/icd/redis-0000", "--announce", "10.0.0.1:6379", "--probe-interval", "200ms",
		"--probe-failures", "5", "--session-timeout", "6s", "--on-failover", "/bin/true", "--zk-auth", "u:p"},
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if strings.Join(c.ZooKeeper.Servers, ",") != "10.0.0.9:2181,10.0.0.8:2181" || c.ZooKeeper.Chroot != "/shardis" ||
		c.Backend != "127.0.0.1:6379" || c.Announce != "10.0.0.1:6379" || c.ProbeInterval != 200*time.Millisecond ||
		c.ProbeFailures != 5 || c.ZooKeeper.SessionTimeout != 6*time.Second || c.BackendAuth != "s3cret" ||
		c.ZooKeeper.Auth != "u:p" || c.OnFailover != "/bin/true" {
		t.Fatalf("%+v", c)
	}
	for _, bad := range [][]string{
		{},
		{"--zk", "h:1", "--backend", "127.0.0.1:6379"},
		{"--zk", "h:1", "--backend", "127.0.0.1:6379", "--shard", "/redis/icd/redis-0000"},
		{"--zk", "h:1", "--backend", "0.0.0.0:6379", "--shard", "/redis/cluster/icd/redis-0000"},
		{"--zk", "h:1", "--backend", "127.0.0.1:6379", "--shard", "/redis/cluster/icd/redis-0000", "--probe-failures", "0"},
		{"--zk", "h:1", "--backend", "127.0.0.1:6379", "--shard", "/redis/cluster/icd/redis-0000", "extra"},
		{"--nope"},
	} {
		if _, err := parseFlags(bad, func(string) string { return "" }); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	_, err = parseFlags([]string{"--zk", "h:1", "--backend", "0.0.0.0:6379", "--shard", "/redis/cluster/icd/redis-0000"}, func(string) string { return "" })
	if !errors.Is(err, watchdog.ErrConfig) {
		t.Fatalf("%v", err)
	}
}
