// Command shardis-proxy is shardis' RESP proxy: many pools (tenants) per
// process, each with its own listen address, keys spread over its
// servers as twemproxy (nutcracker) spreads them, or by slot ranges.
//
//	shardis-proxy -c /etc/shardis/proxy.yml -s 22222 -a 127.0.0.1
//	shardis-proxy -c /etc/shardis/pools.d/      # one tenant per file
//	shardis-proxy -t -c /etc/shardis/proxy.yml  # check and exit, like nutcracker -t
//
// The flags are nutcracker's (-c -t -V -D -v -o -s -a -i -p -m; -d is not
// needed under a service manager). The stats port serves nutcracker's JSON.
// SIGTERM or SIGINT stops accepting, answers the commands already read
// (up to --drain-timeout) and exits 0. SIGHUP (or POST /reload on
// --metrics-addr, which also serves Prometheus /metrics, /healthz and
// pprof) reloads the configuration. See docs/proxy.md and
// docs/proxy-admin.md.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its arguments and outputs passed in, for tests. It
// returns the exit status: 0 ok, 1 bad configuration or failure to
// serve, 2 bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	opts, status, ok := parseFlags(args, stdout, stderr)
	if !ok {
		return status
	}
	switch {
	case opts.version:
		fmt.Fprintf(stdout, "This is shardis-proxy-%s\n", version())
		return 0
	case opts.describeStats:
		describeStats(stdout)
		return 0
	case opts.testConf:
		return checkConfig(opts.confFile, stderr)
	}
	return serve(opts, stderr)
}
