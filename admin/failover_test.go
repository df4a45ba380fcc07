package admin

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Usage errors of failover are found before ZooKeeper is dialled.
func TestFailoverUsage(t *testing.T) {
	for _, args := range [][]string{
		{"failover"},
		{"failover", "icd"},
		{"failover", "icd", "redis-0000", "extra"},
		{"failover", "icd", "a/b"},
		{"failover", "icd", "redis-0000", "--timeout", "0s"},
		{"failover", "icd", "redis-0000", "--nope"},
	} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"--zk", "127.0.0.1:1"}, args...), &out, &errb, nil)
		if code != 2 || !strings.Contains(errb.String(), "usage: shardis-admin failover <pool> <shard>") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
		}
	}
}
