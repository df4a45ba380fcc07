package admin

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// Command is one shardis-admin command.
type Command struct {
	Name    string // words that select it, e.g. "shard set-range"
	Args    string // synopsis of its arguments and flags
	Summary string // one line
	// Run runs the command with the arguments after its name. It parses
	// them with Env.Flags/Env.Parse, and returns an error wrapping
	// ErrUsage, ErrRefused or ErrCheckFailed to choose the exit status.
	Run func(ctx context.Context, e *Env, args []string) error
}

// commands is the command table. Commands of later issues (failover;
// migrate, rebalance) are added here.
func commands() []Command {
	return []Command{
		{"pool create", "<pool> --shards N [--slots 4096] [--hash NAME] [--hash-tag XY]",
			"create a pool and its shards redis-0000.. with an even split of the slots", runPoolCreate},
		{"pool list", "", "list the pools", runPoolList},
		{"shard add", "<pool> [<shard>] [--range a-b[,c-d]] [--force]",
			"add a shard (owning no slots unless --range)", runShardAdd},
		{"shard remove", "<pool> <shard> [--force]",
			"remove a shard (refused while it owns slots or has live members)", runShardRemove},
		{"shard set-range", "<pool> <shard> <a-b[,c-d]|none> [<shard> <ranges>...] [--force]",
			"set shards' slot ranges in one transaction (refused if slots would be left uncovered or owned twice)", runShardSetRange},
		{"status", "<pool> [--no-probe] [--backend-auth PASSWORD] [--probe-timeout 2s]",
			"show shards, slot ranges, masters, replicas with offsets and lag, and live proxies", runStatus},
		{"check", "<pool> [--max-lag BYTES] [--no-probe] [--backend-auth PASSWORD]",
			"exit 1 on uncovered slots, masterless shards, unreachable or lagging backends", runCheck},
		{"failover", "<pool> <shard> [--to host:port] [--timeout 10s]",
			"hand the shard's mastership to a replica with no acknowledged write lost (docs/failover.md)", runFailover},
		{"migrate", "<pool> --slots a-b[,c-d] --to <shard> | --resume [--batch 200] [--ack-timeout 30s] [--no-proxy-ack] [--settle 1s] [--backend-auth PW] [--hash H --hash-tag XY --pool-slots N]",
			"move slots and their keys to another shard online (shardis-server backends; docs/resharding.md)", runMigrate},
		{"rebalance", "<pool> [--dry-run] [migrate's flags]",
			"even out the slots over the pool's shards (e.g. after shard add) by migrating the differences", runRebalance},
	}
}

// Globals are the flags every command accepts.
type Globals struct {
	ZK             string        // --zk: "host:port[,host:port...][/chroot]"
	Root           string        // --root: znode root, default /redis
	ZKAuth         string        // --zk-auth: "user:password"
	JSON           bool          // --json
	Timeout        time.Duration // --timeout: to reach ZooKeeper
	SessionTimeout time.Duration // --session-timeout
	Verbose        bool          // -v: log ZooKeeper client events
}

// Env is what a command runs with.
type Env struct {
	Stdout, Stderr io.Writer
	G              Globals

	zk    *conf.ZK
	admin *Admin
}

// Flags returns a flag set for the command name with the global flags
// registered (so they may come anywhere on the line).
func (e *Env) Flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.globalFlags(fs)
	return fs
}

func (e *Env) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.G.ZK, "zk", e.G.ZK, "ZooKeeper `servers`: host:port[,host:port...][/chroot] (default $SHARDIS_ZK)")
	fs.StringVar(&e.G.Root, "root", e.G.Root, "znode `root` of shardis")
	fs.StringVar(&e.G.ZKAuth, "zk-auth", e.G.ZKAuth, "ZooKeeper digest `user:password` (default $SHARDIS_ZK_AUTH)")
	fs.BoolVar(&e.G.JSON, "json", e.G.JSON, "print JSON")
	fs.DurationVar(&e.G.Timeout, "timeout", e.G.Timeout, "how long to try to reach ZooKeeper")
	fs.DurationVar(&e.G.SessionTimeout, "session-timeout", e.G.SessionTimeout, "ZooKeeper session timeout")
	fs.BoolVar(&e.G.Verbose, "v", e.G.Verbose, "log ZooKeeper client events to stderr")
}

// Parse parses args with fs, flags and positional arguments in any order
// ("--" ends the flags), and returns the positional ones. A bad flag is
// an ErrUsage error.
func (e *Env) Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, fmt.Errorf("%w: help requested", ErrUsage)
			}
			return nil, fmt.Errorf("%w: %s: %v", ErrUsage, fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return append(pos, tail...), nil
}

// Admin connects to ZooKeeper (once) and returns an Admin on it.
func (e *Env) Admin(ctx context.Context) (*Admin, error) {
	if e.admin != nil {
		return e.admin, nil
	}
	if e.G.ZK == "" {
		return nil, fmt.Errorf("%w: --zk is required (or set SHARDIS_ZK)", ErrUsage)
	}
	servers, chroot, err := conf.ParseZooKeeperHost(e.G.ZK)
	if err != nil {
		return nil, fmt.Errorf("%w: --zk %q: %v", ErrUsage, e.G.ZK, err)
	}
	layout, err := conf.NewLayout(e.G.Root)
	if err != nil {
		return nil, fmt.Errorf("%w: --root: %v", ErrUsage, err)
	}
	level := slog.LevelError
	if e.G.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	z, err := conf.DialZooKeeper(conf.ZKConfig{Servers: servers, Chroot: chroot, SessionTimeout: e.G.SessionTimeout, Auth: e.G.ZKAuth, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	cctx, cancel := context.WithTimeout(ctx, e.G.Timeout)
	defer cancel()
	if err := z.WaitConnected(cctx); err != nil {
		z.Close()
		return nil, fmt.Errorf("cannot reach ZooKeeper at %s within %v", e.G.ZK, e.G.Timeout)
	}
	e.zk, e.admin = z, New(z, layout)
	return e.admin, nil
}

// Close closes the ZooKeeper connection, if any.
func (e *Env) Close() {
	if e.zk != nil {
		e.zk.Close()
	}
}

// JSONOut writes v as indented JSON to stdout.
func (e *Env) JSONOut(v any) error {
	enc := json.NewEncoder(e.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Warn writes warnings to stderr.
func (e *Env) Warn(ws []string) {
	for _, w := range ws {
		fmt.Fprintf(e.Stderr, "warning: %s\n", w)
	}
}

// Main runs shardis-admin with args (the program name left out) and
// returns the exit status: 0 ok, 1 check failed, change refused or
// ZooKeeper failed, 2 usage error. getenv reads the environment
// (SHARDIS_ZK, SHARDIS_ZK_AUTH); nil means none.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	e := &Env{Stdout: stdout, Stderr: stderr, G: Globals{
		ZK: getenv("SHARDIS_ZK"), ZKAuth: getenv("SHARDIS_ZK_AUTH"), Root: conf.DefaultZooKeeperRoot,
		Timeout: 10 * time.Second, SessionTimeout: 10 * time.Second,
	}}
	defer e.Close()
	// Global flags before the command.
	fs := flag.NewFlagSet("shardis-admin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.globalFlags(fs)
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "shardis-admin: %v\n", err)
		usage(stderr)
		return 2
	}
	rest := fs.Args()
	if *help || (len(rest) > 0 && rest[0] == "help") {
		usage(stdout)
		return 0
	}
	if len(rest) == 0 {
		usage(stderr)
		return 2
	}
	cmd, args, ok := lookup(rest)
	if !ok {
		fmt.Fprintf(stderr, "shardis-admin: unknown command %q\n", strings.Join(rest[:min(2, len(rest))], " "))
		usage(stderr)
		return 2
	}
	err := cmd.Run(ctx, e, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "shardis-admin %s: %v\nusage: shardis-admin %s %s\n", cmd.Name, strings.TrimPrefix(err.Error(), "usage: "), cmd.Name, cmd.Args)
		return 2
	default:
		fmt.Fprintf(stderr, "shardis-admin %s: %v\n", cmd.Name, err)
		return 1
	}
}

// lookup finds the command whose name is the longest prefix of words.
func lookup(words []string) (Command, []string, bool) {
	var best Command
	n := 0
	for _, c := range commands() {
		parts := strings.Fields(c.Name)
		if len(parts) > len(words) || len(parts) <= n {
			continue
		}
		match := true
		for i, p := range parts {
			if words[i] != p {
				match = false
				break
			}
		}
		if match {
			best, n = c, len(parts)
		}
	}
	return best, words[min(n, len(words)):], n > 0
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `usage: shardis-admin --zk HOSTS[/chroot] [--root /redis] [--zk-auth user:pw] [--json] COMMAND ...

commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace(c.Name+" "+c.Args), c.Summary)
	}
	fmt.Fprintf(w, `
global flags (anywhere on the line):
  --zk HOSTS          ZooKeeper connect string, e.g. 10.0.0.1:2181,10.0.0.2:2181/shardis ($SHARDIS_ZK)
  --root PATH         znode root (default /redis)
  --zk-auth USER:PW   ZooKeeper digest authentication ($SHARDIS_ZK_AUTH)
  --json              JSON output
  --timeout D         how long to try to reach ZooKeeper (default 10s)
  -v                  log ZooKeeper client events

exit status: 0 ok, 1 check failed / change refused / ZooKeeper error, 2 usage error
`)
}

// parseRanges reads a command-line range list; "none" or "" is no slots.
func parseRanges(s string) ([]hashring.Range, error) {
	if s == "" || s == "none" || s == "-" {
		return nil, nil
	}
	r, err := hashring.ParseRanges(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return r, nil
}

func wantArgs(pos []string, lo, hi int, names string) error {
	if len(pos) < lo || len(pos) > hi {
		return fmt.Errorf("%w: want %s, got %d argument(s)", ErrUsage, names, len(pos))
	}
	return nil
}
