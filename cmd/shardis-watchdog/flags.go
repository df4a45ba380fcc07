package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/watchdog"
)

const version = "0.1.0"

var errHelp = errors.New("help shown")

type options struct {
	cfg         watchdog.Config
	metricsAddr string
	logLevel    slog.Level
	version     bool
}

const usage = `usage: shardis-watchdog --zk HOSTS --backend host:port --shard /redis/cluster/<pool>/<shard> [flags]

Watches over one backend of one shard (see docs/watchdog.md).

`

// parseFlags reads the command line; getenv supplies SHARDIS_BACKEND_AUTH
// and SHARDIS_ZK_AUTH, used when the flags are not given (so that
// passwords need not show in ps).
func parseFlags(args []string, getenv func(string) string) (options, error) {
	o := options{cfg: watchdog.DefaultConfig()}
	fs := flag.NewFlagSet("shardis-watchdog", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	zkHosts := fs.String("zk", "", "ZooKeeper servers, host:port[,host:port...][/chroot] (required)")
	fs.StringVar(&o.cfg.Backend, "backend", "", "the local backend, host:port (required)")
	fs.StringVar(&o.cfg.Shard, "shard", "", "the shard's znode, /redis/cluster/<pool>/<shard> (required)")
	fs.StringVar(&o.cfg.Announce, "announce", "", "the backend's address as others must dial it (default: --backend)")
	fs.DurationVar(&o.cfg.ProbeInterval, "probe-interval", o.cfg.ProbeInterval, "time between two probes of the backend")
	fs.DurationVar(&o.cfg.ProbeTimeout, "probe-timeout", 0, "how long a probe (or a command to the backend) may take (default: --probe-interval)")
	fs.IntVar(&o.cfg.ProbeFailures, "probe-failures", o.cfg.ProbeFailures, "consecutive failed probes before giving up the member (a master steps down)")
	fs.DurationVar(&o.cfg.ZooKeeper.SessionTimeout, "session-timeout", o.cfg.ZooKeeper.SessionTimeout, "ZooKeeper session timeout")
	fs.StringVar(&o.cfg.BackendAuth, "backend-auth", "", "backend password, or user:password (env SHARDIS_BACKEND_AUTH)")
	fs.StringVar(&o.cfg.OnFailover, "on-failover", "", "command run when this backend becomes master; arguments: shard, old master, new master")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /healthz on host:port")
	fs.StringVar(&o.cfg.ZooKeeper.Auth, "zk-auth", "", "ZooKeeper digest credentials user:password (env SHARDIS_ZK_AUTH)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(os.Stdout, usage)
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return o, errHelp
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.version {
		return o, nil
	}
	if o.cfg.BackendAuth == "" {
		o.cfg.BackendAuth = getenv("SHARDIS_BACKEND_AUTH")
	}
	if o.cfg.ZooKeeper.Auth == "" {
		o.cfg.ZooKeeper.Auth = getenv("SHARDIS_ZK_AUTH")
	}
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return o, fmt.Errorf("--log-level: %v", err)
	}
	if *zkHosts == "" {
		return o, errors.New("--zk is required")
	}
	servers, chroot, err := conf.ParseZooKeeperHost(*zkHosts)
	if err != nil {
		return o, fmt.Errorf("--zk: %w", err)
	}
	o.cfg.ZooKeeper.Servers, o.cfg.ZooKeeper.Chroot = servers, chroot
	var missing []string
	if o.cfg.Backend == "" {
		missing = append(missing, "--backend")
	}
	if o.cfg.Shard == "" {
		missing = append(missing, "--shard")
	}
	if len(missing) > 0 {
		return o, fmt.Errorf("%s required", strings.Join(missing, " and "))
	}
	return o, o.cfg.Validate()
}

func newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
