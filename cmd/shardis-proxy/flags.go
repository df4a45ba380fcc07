package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

// defaultConfFile is where shardis-proxy looks for its pools without -c.
const defaultConfFile = "/etc/shardis/proxy.yml"

// options are the command-line flags. The names follow nutcracker's, each
// with its short and long spelling (-c and --conf-file); add new flags in
// newFlagSet.
type options struct {
	confFile string // -c, --conf-file: a YAML file of pools or a directory of them
	testConf bool   // -t, --test-conf: check the configuration and exit
	version  bool   // -V, --version: print the version and exit
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
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: shardis-proxy [-htV] [-c conf file|dir]\n\nOptions:\n")
		fmt.Fprintf(w, "  -h, --help\n\tthis help\n")
		for _, p := range pairs {
			f := fs.Lookup(p[0])
			def := ""
			if f.DefValue != "" && f.DefValue != "false" {
				def = " (default: " + f.DefValue + ")"
			}
			fmt.Fprintf(w, "  -%s, --%s\n\t%s%s\n", p[0], p[1], f.Usage, def)
		}
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
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shardis-proxy: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return o, 2, false
	}
	return o, 0, true
}

// version is the module version the binary was built from, or "devel".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
