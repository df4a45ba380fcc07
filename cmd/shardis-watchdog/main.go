// Command shardis-watchdog watches over one backend (shardis-server or
// redis-server) of one shard: it registers it in ZooKeeper, makes it a
// replica of the shard's master, promotes it when the master is gone, and
// fences it when it must not take writes. See docs/watchdog.md.
//
//	shardis-watchdog --zk HOSTS --backend host:port --shard /redis/cluster/<pool>/<shard>
//	    [--announce host:port] [--probe-interval 500ms] [--probe-timeout 500ms] [--probe-failures 3]
//	    [--session-timeout 4s] [--backend-auth PASSWORD|USER:PASSWORD]
//	    [--on-failover CMD] [--metrics-addr host:port] [--zk-auth user:pw]
//
// SIGINT/SIGTERM stop it: a master's backend is fenced first, then the
// member goes away with the ZooKeeper session and a replica takes over.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shardis/shardis/watchdog"
)

func main() {
	opts, err := parseFlags(os.Args[1:], os.Getenv)
	if errors.Is(err, errHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shardis-watchdog:", err)
		os.Exit(2)
	}
	if opts.version {
		fmt.Println("shardis-watchdog v=" + version)
		return
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts.cfg.Registry = reg
	opts.cfg.Logger = newLogger(opts.logLevel)
	w, err := watchdog.New(opts.cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shardis-watchdog:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if opts.metricsAddr != "" {
		errc := make(chan error, 1)
		go func() { errc <- watchdog.ServeMetrics(ctx, opts.metricsAddr, reg, opts.cfg.Logger) }() // ends with ctx
		defer func() {
			if err := <-errc; err != nil {
				opts.cfg.Logger.Error("metrics server", "err", err)
			}
		}()
	}
	if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		opts.cfg.Logger.Error("shardis-watchdog exiting on error", "err", err)
		stop()
		os.Exit(1)
	}
}
