package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultConfFile is where shardis-proxy looks for its pools without -c.
const defaultConfFile = "/etc/shardis/proxy.yml"

// options are the command-line flags. The names follow nutcracker's, each
// with its short and long spelling (-c and --conf-file); add new flags in
// newFlagSet.
type options struct {
	confFile      string // -c, --conf-file: a YAML file of pools or a directory of them
	testConf      bool   // -t, --test-conf: check the configuration and exit
	version       bool   // -V, --version: print the version and exit
	describeStats bool   // -D, --describe-stats: print the stats fields and exit
	verbosity     int    // -v, --verbose: nutcracker's log level 0-11
	output        string // -o, --output: log file ("" or "stderr": standard error)
	statsPort     int    // -s, --stats-port: 0 disables the stats port
	statsAddr     string // -a, --stats-addr
	statsInterval int    // -i, --stats-interval: milliseconds
	pidFile       string // -p, --pid-file: "" writes none
	mbufSize      int    // -m, --mbuf-size: accepted for nutcracker compatibility, unused
	drainTimeout  int    // --drain-timeout: milliseconds to wait for requests in flight at SIGTERM
	cpuProfile    string // --cpu-profile: write a pprof CPU profile of the whole run to this file
	threads       int    // --threads: OS threads running Go code (GOMAXPROCS); 0 = CPUs - 1, at least 1
	announce      string // --announce: host or host:port registered in ZooKeeper instead of the listen address
	metricsAddr   string // --metrics-addr: host:port of the admin HTTP server (/metrics, /healthz, pprof, POST /reload); "" serves none
}

// newFlagSet registers every flag on a new FlagSet writing its usage to w.
func newFlagSet(o *options, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("shardis-proxy", flag.ContinueOnError)
	fs.SetOutput(w)
	var pairs [][2]string // {short, long} for the usage text
	both := func(short, long string, register func(name string)) {
		register(short)
		register(long)
		pairs = append(pairs, [2]string{short, long})
	}
	both("c", "conf-file", func(n string) {
		fs.StringVar(&o.confFile, n, defaultConfFile, "set configuration file, or directory of *.yml/*.yaml files (one tenant per file)")
	})
	both("t", "test-conf", func(n string) {
		fs.BoolVar(&o.testConf, n, false, "test configuration for syntax errors and exit")
	})
	both("V", "version", func(n string) {
		fs.BoolVar(&o.version, n, false, "show version and exit")
	})
	both("D", "describe-stats", func(n string) {
		fs.BoolVar(&o.describeStats, n, false, "print stats description and exit")
	})
	both("v", "verbose", func(n string) {
		fs.IntVar(&o.verbosity, n, 5, "set logging level (0-11: <=3 errors, 4 warnings, 5-6 info, >=7 debug)")
	})
	both("o", "output", func(n string) {
		fs.StringVar(&o.output, n, "", "set logging file (default: stderr)")
	})
	both("s", "stats-port", func(n string) {
		fs.IntVar(&o.statsPort, n, 22222, "set stats monitoring port (0 disables it)")
	})
	both("a", "stats-addr", func(n string) {
		fs.StringVar(&o.statsAddr, n, "0.0.0.0", "set stats monitoring ip")
	})
	both("i", "stats-interval", func(n string) {
		fs.IntVar(&o.statsInterval, n, 30000, "set stats aggregation interval in msec")
	})
	both("p", "pid-file", func(n string) {
		fs.StringVar(&o.pidFile, n, "", "set pid file (default: none)")
	})
	both("m", "mbuf-size", func(n string) {
		fs.IntVar(&o.mbufSize, n, 16384, "accepted for nutcracker compatibility; buffers size themselves")
	})
	fs.IntVar(&o.drainTimeout, "drain-timeout", 10000, "msec to wait at SIGTERM for requests in flight")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "write a pprof CPU profile of the run to this file (for benchmarks)")
	fs.IntVar(&o.threads, "threads", 0, "threads running the proxy (GOMAXPROCS); 0: one less than the CPUs, at least 1")
	fs.StringVar(&o.announce, "announce", "", "host (or host:port) registered in ZooKeeper instead of the listen address (for 0.0.0.0 listeners, NAT)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "host:port serving Prometheus /metrics, /healthz, /debug/pprof/ and POST /reload (default: none)")
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: shardis-proxy [-htVD] [-v verbosity level] [-o output file]\n"+
			"                     [-c conf file|dir] [-s stats port] [-a stats addr]\n"+
			"                     [-i stats interval] [-p pid file] [--drain-timeout msec]\n"+
			"                     [--metrics-addr host:port]\n\nOptions:\n")
		fmt.Fprintf(w, "  -h, --help\n\tthis help\n")
		for _, p := range pairs {
			f := fs.Lookup(p[0])
			def := ""
			if f.DefValue != "" && f.DefValue != "false" {
				def = " (default: " + f.DefValue + ")"
			}
			fmt.Fprintf(w, "  -%s, --%s\n\t%s%s\n", p[0], p[1], f.Usage, def)
		}
		fmt.Fprintf(w, "  --drain-timeout\n\t%s (default: 10000)\n", fs.Lookup("drain-timeout").Usage)
		fmt.Fprintf(w, "  --cpu-profile\n\t%s\n", fs.Lookup("cpu-profile").Usage)
		fmt.Fprintf(w, "  --threads\n\t%s\n", fs.Lookup("threads").Usage)
		fmt.Fprintf(w, "  --announce host[:port]\n\t%s\n", fs.Lookup("announce").Usage)
		fmt.Fprintf(w, "  --metrics-addr host:port\n\t%s\n", fs.Lookup("metrics-addr").Usage)
	}
	return fs
}

// parseFlags parses args. When ok is false the caller exits with status
// (0 after -h, 2 after a usage error).
func parseFlags(args []string, stdout, stderr io.Writer) (o options, status int, ok bool) {
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return o, 0, false
		}
		return o, 2, false
	}
	switch {
	case o.statsPort < 0 || o.statsPort > 65535:
		fmt.Fprintf(stderr, "shardis-proxy: option -s requires a valid port\n")
		return o, 2, false
	case o.statsInterval <= 0:
		fmt.Fprintf(stderr, "shardis-proxy: option -i requires a positive number of milliseconds\n")
		return o, 2, false
	case o.verbosity < 0 || o.verbosity > 11:
		fmt.Fprintf(stderr, "shardis-proxy: option -v requires a level between 0 and 11\n")
		return o, 2, false
	case o.threads < 0:
		fmt.Fprintf(stderr, "shardis-proxy: option --threads requires a non-negative number\n")
		return o, 2, false
	case strings.ContainsAny(o.announce, " \t/,"):
		fmt.Fprintf(stderr, "shardis-proxy: option --announce requires a host or host:port\n")
		return o, 2, false
	case o.metricsAddr != "" && !validHostPort(o.metricsAddr):
		fmt.Fprintf(stderr, "shardis-proxy: option --metrics-addr requires host:port\n")
		return o, 2, false
	case o.drainTimeout < 0:
		fmt.Fprintf(stderr, "shardis-proxy: option --drain-timeout requires a non-negative number of milliseconds\n")
		return o, 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shardis-proxy: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return o, 2, false
	}
	return o, 0, true
}

// validHostPort reports whether s is "host:port" with a numeric port
// (the host may be empty: every interface).
func validHostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// version is the module version the binary was built from, or "devel".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
