package backend

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Config is shardis-server's configuration. Every field is also a
// redis.conf-style parameter (see params): settable from the command line
// (--name value), a config file (name value) and, unless immutable,
// CONFIG SET.
type Config struct {
	Bind        []string // addresses to listen on ("bind")
	Port        int      // TCP port ("port")
	Dir         string   // working directory for data files ("dir")
	RequirePass string   // password of the default user ("requirepass")
	MaxClients  int      // connection limit ("maxclients")
	Timeout     int      // close idle clients after this many seconds, 0 = never
	LogLevel    string   // debug, verbose, notice, warning
	LogFile     string   // "" = standard output

	AppendOnly       bool   // AOF persistence on ("appendonly")
	AppendFsync      string // always, everysec, no ("appendfsync")
	AppendFilename   string // AOF file name inside Dir ("appendfilename")
	AOFLoadTruncated bool   // load an AOF whose last command is truncated
	// Automatic rewrite when the AOF grew by this percentage over its size
	// after the last rewrite (0 disables) and is at least the min size.
	AutoAOFRewritePercentage int
	AutoAOFRewriteMinSize    int64

	DBFilename      string // snapshot file of SAVE/BGSAVE inside Dir ("dbfilename")
	ProtoMaxBulkLen int64  // largest bulk string a client may send
	Hz              int    // background task frequency (active expiry)
	TCPKeepAlive    int    // seconds, 0 = off
	// MigrateGuardTime is how long (ms) a migration's source guard lasts
	// ("migrate-guard-time", 0 = off; migrate_guard.go).
	MigrateGuardTime int
	// Threads is how many OS threads run Go code (GOMAXPROCS; "threads").
	// 0 = automatic: the CPUs available minus one (at least 1), leaving a
	// core to the kernel's network stack, the watchdog and clients on the
	// same machine — Redis' io-threads advice. The GOMAXPROCS environment
	// variable, when set, wins over automatic (see ApplyThreads).
	Threads int

	// Encoding thresholds of the collection types (encoding.go).
	HashMaxListpackEntries int // hash-max-listpack-entries
	HashMaxListpackValue   int // hash-max-listpack-value
	SetMaxIntsetEntries    int // set-max-intset-entries
	ZsetMaxListpackEntries int // zset-max-listpack-entries
	ZsetMaxListpackValue   int // zset-max-listpack-value
	ListMaxListpackSize    int // list-max-listpack-size (reported only)
	ListCompressDepth      int // list-compress-depth (reported only)

	// HLLSparseMaxBytes is hll-sparse-max-bytes: the size above which a
	// HyperLogLog's sparse representation is promoted to dense.
	HLLSparseMaxBytes int64

	// ClientOutputBufferLimit is client-output-buffer-limit; the pubsub
	// class disconnects slow subscribers (pubsub_conn.go).
	ClientOutputBufferLimit OutputBufferLimits
	// BusyReplyThreshold (busy-reply-threshold, alias lua-time-limit) is
	// how long, in ms, a script runs before other clients get BUSY
	// (scripting.go).
	BusyReplyThreshold int
	// NotifyKeyspaceEvents are the keyspace notification classes
	// (notify-keyspace-events, notify.go).
	NotifyKeyspaceEvents int

	// ConfigFile is the file the configuration was read from (CONFIG
	// REWRITE writes it back); empty when none.
	ConfigFile string

	ReplicationConfig // replicaof, repl-*, min-replicas-*, fenced... (repl_config.go)
}

// DefaultConfig returns redis-server's defaults where one exists.
func DefaultConfig() Config {
	return Config{
		Bind:                     []string{"127.0.0.1"},
		Port:                     6379,
		Dir:                      ".",
		MaxClients:               10000,
		LogLevel:                 "notice",
		AppendFsync:              "everysec",
		AppendFilename:           "appendonly.aof",
		AOFLoadTruncated:         true,
		AutoAOFRewritePercentage: 100,
		AutoAOFRewriteMinSize:    64 << 20,
		DBFilename:               "dump.aof",
		ProtoMaxBulkLen:          512 << 20,
		MigrateGuardTime:         60000, // defaultGuardTime
		BusyReplyThreshold:       5000,
		Hz:                       10,
		TCPKeepAlive:             300,
		HashMaxListpackEntries:   512,
		HashMaxListpackValue:     64,
		SetMaxIntsetEntries:      512,
		ZsetMaxListpackEntries:   128,
		ZsetMaxListpackValue:     64,
		ReplicationConfig:        DefaultReplicationConfig(),
		ListMaxListpackSize:      -2,
		HLLSparseMaxBytes:        3000,
		ClientOutputBufferLimit:  DefaultOutputBufferLimits(),
	}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("config")

// Validate checks the cross-field rules that single parameters cannot.
func (c *Config) Validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("%w: port %d out of range", ErrConfig, c.Port)
	}
	if len(c.Bind) == 0 {
		return fmt.Errorf("%w: bind needs at least one address", ErrConfig)
	}
	if strings.ContainsAny(c.AppendFilename, "/\\") || c.AppendFilename == "" {
		return fmt.Errorf("%w: appendfilename can't be a path, just a filename", ErrConfig)
	}
	if strings.ContainsAny(c.DBFilename, "/\\") || c.DBFilename == "" {
		return fmt.Errorf("%w: dbfilename can't be a path, just a filename", ErrConfig)
	}
	if err := c.ReplicationConfig.validate(); err != nil {
		return err
	}
	return nil
}

// param is one configuration parameter.
type param struct {
	name      string
	get       func(c *Config) string
	set       func(c *Config, v string) error // v already validated by the parser
	immutable bool
	norewrite bool // runtime state: CONFIG REWRITE leaves it out
}

// paramError is the reason text of a rejected value, as Redis words it.
type paramError string

func (e paramError) Error() string { return string(e) }

func boolParam(name string, f func(c *Config) *bool) param {
	return param{name: name,
		get: func(c *Config) string { return yesNo(*f(c)) },
		set: func(c *Config, v string) error {
			switch strings.ToLower(v) {
			case "yes":
				*f(c) = true
			case "no":
				*f(c) = false
			default:
				return paramError("argument must be 'yes' or 'no'")
			}
			return nil
		}}
}

func intParam(name string, lo, hi int64, f func(c *Config) *int) param {
	return param{name: name,
		get: func(c *Config) string { return strconv.Itoa(*f(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return paramError("argument couldn't be parsed into an integer")
			}
			if n < lo || n > hi {
				return paramError(fmt.Sprintf("argument must be between %d and %d inclusive", lo, hi))
			}
			*f(c) = int(n)
			return nil
		}}
}

func memParam(name string, lo, hi int64, f func(c *Config) *int64) param {
	return param{name: name,
		get: func(c *Config) string { return strconv.FormatInt(*f(c), 10) },
		set: func(c *Config, v string) error {
			n, ok := parseMemory(v)
			if !ok {
				return paramError("argument must be a memory value")
			}
			if n < lo || n > hi {
				return paramError(fmt.Sprintf("argument must be between %d and %d inclusive", lo, hi))
			}
			*f(c) = n
			return nil
		}}
}

func enumParam(name string, values []string, f func(c *Config) *string) param {
	return param{name: name,
		get: func(c *Config) string { return *f(c) },
		set: func(c *Config, v string) error {
			for _, x := range values {
				if strings.EqualFold(x, v) {
					*f(c) = x
					return nil
				}
			}
			return paramError("argument(s) must be one of the following: " + strings.Join(values, ", "))
		}}
}

func stringParam(name string, f func(c *Config) *string) param {
	return param{name: name,
		get: func(c *Config) string { return *f(c) },
		set: func(c *Config, v string) error { *f(c) = v; return nil }}
}

// fixedParam is a read-only parameter reporting how shardis-server behaves
// (tools ask for them), e.g. databases 1, save "". Unless Redis has it
// immutable too, CONFIG SET accepts its own value (test suites and tools
// set save "" or maxmemory 0) and refuses any other.
func fixedParam(name, value string) param {
	return param{name: name, immutable: fixedImmutable[name],
		get: func(*Config) string { return value },
		set: func(_ *Config, v string) error {
			if v != value {
				return paramError("shardis-server supports only " + strconv.Quote(value))
			}
			return nil
		}}
}

// fixedImmutable are the fixed parameters Redis does not CONFIG SET.
var fixedImmutable = map[string]bool{"databases": true, "cluster-enabled": true, "daemonize": true}

// params is the parameter table; CONFIG GET/SET, the command line and
// config files go through it. Order is CONFIG GET's order.
var params = append([]param{
	{name: "bind", immutable: true,
		get: func(c *Config) string { return strings.Join(c.Bind, " ") },
		set: func(c *Config, v string) error {
			f := strings.Fields(v)
			if len(f) == 0 {
				return paramError("bind needs at least one address")
			}
			c.Bind = f
			return nil
		}},
	withImmutable(intParam("port", 0, 65535, func(c *Config) *int { return &c.Port })),
	withImmutable(stringParam("dir", func(c *Config) *string { return &c.Dir })),
	stringParam("requirepass", func(c *Config) *string { return &c.RequirePass }),
	intParam("maxclients", 1, math.MaxUint32, func(c *Config) *int { return &c.MaxClients }),
	intParam("timeout", 0, math.MaxInt32, func(c *Config) *int { return &c.Timeout }),
	enumParam("loglevel", []string{"debug", "verbose", "notice", "warning"}, func(c *Config) *string { return &c.LogLevel }),
	withImmutable(stringParam("logfile", func(c *Config) *string { return &c.LogFile })),
	boolParam("appendonly", func(c *Config) *bool { return &c.AppendOnly }),
	enumParam("appendfsync", []string{"everysec", "always", "no"}, func(c *Config) *string { return &c.AppendFsync }),
	withImmutable(stringParam("appendfilename", func(c *Config) *string { return &c.AppendFilename })),
	boolParam("aof-load-truncated", func(c *Config) *bool { return &c.AOFLoadTruncated }),
	intParam("auto-aof-rewrite-percentage", 0, math.MaxInt32, func(c *Config) *int { return &c.AutoAOFRewritePercentage }),
	memParam("auto-aof-rewrite-min-size", 0, math.MaxInt64, func(c *Config) *int64 { return &c.AutoAOFRewriteMinSize }),
	stringParam("dbfilename", func(c *Config) *string { return &c.DBFilename }),
	intParam("migrate-guard-time", 0, math.MaxInt32, func(c *Config) *int { return &c.MigrateGuardTime }),
	withImmutable(intParam("threads", 0, 1024, func(c *Config) *int { return &c.Threads })),
	// At most 512mb (maxStringLen): a string keeps its length in 30 bits
	// of its entry, and the AOF and replication readers take arguments up
	// to that size.
	memParam("proto-max-bulk-len", 1<<20, maxStringLen, func(c *Config) *int64 { return &c.ProtoMaxBulkLen }),
	{name: "hz",
		get: func(c *Config) string { return strconv.Itoa(c.Hz) },
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return paramError("argument couldn't be parsed into an integer")
			}
			// Redis clamps hz to 1..500 silently.
			c.Hz = int(max(1, min(n, 500)))
			return nil
		}},
	withImmutable(intParam("tcp-keepalive", 0, math.MaxInt32, func(c *Config) *int { return &c.TCPKeepAlive })),
	intParam("hash-max-listpack-entries", 0, math.MaxInt32, func(c *Config) *int { return &c.HashMaxListpackEntries }),
	intParam("hash-max-ziplist-entries", 0, math.MaxInt32, func(c *Config) *int { return &c.HashMaxListpackEntries }),
	intParam("hash-max-listpack-value", 0, math.MaxInt32, func(c *Config) *int { return &c.HashMaxListpackValue }),
	intParam("hash-max-ziplist-value", 0, math.MaxInt32, func(c *Config) *int { return &c.HashMaxListpackValue }),
	intParam("set-max-intset-entries", 0, math.MaxInt32, func(c *Config) *int { return &c.SetMaxIntsetEntries }),
	intParam("zset-max-listpack-entries", 0, math.MaxInt32, func(c *Config) *int { return &c.ZsetMaxListpackEntries }),
	intParam("zset-max-ziplist-entries", 0, math.MaxInt32, func(c *Config) *int { return &c.ZsetMaxListpackEntries }),
	intParam("zset-max-listpack-value", 0, math.MaxInt32, func(c *Config) *int { return &c.ZsetMaxListpackValue }),
	intParam("zset-max-ziplist-value", 0, math.MaxInt32, func(c *Config) *int { return &c.ZsetMaxListpackValue }),
	intParam("list-max-listpack-size", math.MinInt32, math.MaxInt32, func(c *Config) *int { return &c.ListMaxListpackSize }),
	intParam("list-max-ziplist-size", math.MinInt32, math.MaxInt32, func(c *Config) *int { return &c.ListMaxListpackSize }),
	intParam("list-compress-depth", 0, math.MaxInt32, func(c *Config) *int { return &c.ListCompressDepth }),
	memParam("hll-sparse-max-bytes", 0, math.MaxInt64, func(c *Config) *int64 { return &c.HLLSparseMaxBytes }),
	notifyParam(),
	fixedParam("databases", "1"),
	fixedParam("save", ""),
	fixedParam("maxmemory", "0"),
	fixedParam("maxmemory-policy", "noeviction"),
	fixedParam("cluster-enabled", "no"),
	fixedParam("daemonize", "no"),
	fixedParam("protected-mode", "no"),
	fixedParam("appendonly-rdb-preamble", "no"),
	fixedParam("aof-use-rdb-preamble", "no"),
	fixedParam("lazyfree-lazy-expire", "no"),
}, append(replicationParams(), append(pubsubParams(), scriptingParams()...)...)...)

func withImmutable(p param) param { p.immutable = true; return p }

func lookupParam(name string) *param {
	for i := range params {
		if strings.EqualFold(params[i].name, name) {
			return &params[i]
		}
	}
	return nil
}

// Set sets one parameter by its redis.conf name.
func (c *Config) Set(name, value string) error {
	p := lookupParam(name)
	if p == nil {
		return fmt.Errorf("%w: unknown parameter %q", ErrConfig, name)
	}
	if err := p.set(c, value); err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrConfig, name, value, err)
	}
	return nil
}

// Get returns a parameter's value by name.
func (c *Config) Get(name string) (string, bool) {
	p := lookupParam(name)
	if p == nil {
		return "", false
	}
	return p.get(c), true
}

// ParseArgs applies redis-server style arguments to c: an optional config
// file path first (or --config FILE anywhere), then "--name value..."
// pairs, later ones overriding earlier ones and the file.
func ParseArgs(c *Config, args []string) error {
	type kv struct{ name, value string }
	var sets []kv
	file := ""
	i := 0
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		file = args[0]
		i = 1
	}
	for i < len(args) {
		a := args[i]
		if !strings.HasPrefix(a, "--") || len(a) == 2 {
			return fmt.Errorf("%w: unexpected argument %q (want --name value)", ErrConfig, a)
		}
		name := a[2:]
		j := i + 1
		for j < len(args) && !strings.HasPrefix(args[j], "--") {
			j++
		}
		value := strings.Join(args[i+1:j], " ")
		if name == "config" {
			file = value
		} else {
			sets = append(sets, kv{name, value})
		}
		i = j
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
		err = c.Load(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		c.ConfigFile = file
	}
	for _, s := range sets {
		if err := c.Set(s.name, s.value); err != nil {
			return err
		}
	}
	return c.Validate()
}

// Load applies redis.conf-style lines: "name value...", '#' comments,
// values optionally in double quotes.
func (c *Config) Load(r io.Reader) error {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		name, value, _ := strings.Cut(t, " ")
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			if u, err := strconv.Unquote(value); err == nil {
				value = u
			}
		}
		if err := c.Set(name, value); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
	return sc.Err()
}

// WriteTo writes every settable parameter in redis.conf form (CONFIG
// REWRITE).
func (c *Config) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	b.WriteString("# shardis-server configuration (written by CONFIG REWRITE)\n")
	names := make([]string, 0, len(params))
	byName := map[string]*param{}
	for i := range params {
		p := &params[i]
		if p.set == nil || p.norewrite {
			continue
		}
		names = append(names, p.name)
		byName[p.name] = p
	}
	sort.Strings(names)
	for _, n := range names {
		v := byName[n].get(c)
		fmt.Fprintf(&b, "%s %s\n", n, strconv.Quote(v))
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// parseMemory is Redis' memtoull: a number with an optional unit (b, k, kb,
// m, mb, g, gb; case-insensitive; k = 1000, kb = 1024).
func parseMemory(s string) (int64, bool) {
	low := strings.ToLower(s)
	mul := int64(1)
	for _, u := range []struct {
		suf string
		mul int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}} {
		if strings.HasSuffix(low, u.suf) {
			low = strings.TrimSuffix(low, u.suf)
			mul = u.mul
			break
		}
	}
	if low == "" {
		return 0, false
	}
	for _, ch := range low {
		if ch < '0' || ch > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(low, 10, 64)
	if err != nil || n > math.MaxInt64/mul {
		return 0, false
	}
	return n * mul, true
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ApplyThreads sets GOMAXPROCS from c.Threads and returns the value in
// force: an explicit "threads" wins; otherwise a GOMAXPROCS environment
// variable is kept; otherwise the available CPUs (as the Go runtime counts
// them, cgroup limits included) minus one, at least 1.
func (c *Config) ApplyThreads() int {
	switch {
	case c.Threads > 0:
		runtime.GOMAXPROCS(c.Threads)
	case os.Getenv("GOMAXPROCS") != "":
	default:
		runtime.GOMAXPROCS(max(1, runtime.GOMAXPROCS(0)-1))
	}
	return runtime.GOMAXPROCS(0)
}
