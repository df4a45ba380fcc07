// Command shardis-admin is the operator's tool for shardis pools in
// ZooKeeper: create pools and shards, change slot ranges, show status and
// check health.
//
//	shardis-admin --zk 10.0.0.1:2181 pool create icd --shards 2
//	shardis-admin --zk 10.0.0.1:2181 status icd
//	shardis-admin --zk 10.0.0.1:2181 check icd --max-lag 1048576
//
// See docs/admin.md. Exit status: 0 ok, 1 check failed or change refused,
// 2 usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shardis/shardis/admin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := admin.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
