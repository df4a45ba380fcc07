// Command shardis-server is the in-tree Redis-compatible shard server.
//
//	shardis-server [/path/to/shardis.conf] [--name value ...]
//
// Parameters use redis-server's names (--port, --bind, --dir,
// --appendonly, --appendfsync, --requirepass, --maxclients, ...); see
// docs/server.md. SIGINT/SIGTERM shut down gracefully (the AOF is written
// and fsynced).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shardis/shardis/backend"
)

func main() {
	args := os.Args[1:]
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Println("usage: shardis-server [config-file] [--name value ...]   (see docs/server.md)")
		return
	}
	if len(args) == 1 && (args[0] == "-v" || args[0] == "--version") {
		fmt.Println("shardis-server v=" + backend.Version)
		return
	}
	cfg := backend.DefaultConfig()
	if err := backend.ParseArgs(&cfg, args); err != nil {
		fmt.Fprintln(os.Stderr, "shardis-server:", err)
		os.Exit(2)
	}
	cfg.ApplyThreads()
	srv, err := backend.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shardis-server:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		srv.Logger().Error("shardis-server exiting on error", "error", err)
		os.Exit(1)
	}
}
