// Command shardis-proxy is shardis' RESP proxy: many pools (tenants) per
// process, static servers from YAML or live topology from ZooKeeper.
//
// This first version implements the configuration check of nutcracker:
//
//	shardis-proxy -t -c /etc/shardis/proxy.yml
//	shardis-proxy -t -c /etc/shardis/pools.d/
//
// prints the problems of the configuration (file:line, pool, key) and
// "shardis-proxy: configuration file 'X' syntax is ok" or "... is invalid"
// on standard error, and exits 0 or 1, like `nutcracker -t`.
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
// returns the exit status: 0 ok, 1 bad configuration, 2 bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	opts, status, ok := parseFlags(args, stdout, stderr)
	if !ok {
		return status
	}
	switch {
	case opts.version:
		fmt.Fprintf(stdout, "This is shardis-proxy-%s\n", version())
		return 0
	case opts.testConf:
		return checkConfig(opts.confFile, stderr)
	}
	fmt.Fprintln(stderr, "shardis-proxy: serving is not implemented yet; use -t -c FILE|DIR to check a configuration")
	return 2
}
