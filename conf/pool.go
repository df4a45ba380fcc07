package conf

import (
	"os"
	"reflect"
	"time"

	"github.com/shardis/shardis/hashring"
)

// Defaults of the twemproxy keys (twemproxy 0.5's nc_conf.h) and of the
// shardis keys. NewPool returns a Pool holding them.
const (
	DefaultHash               = hashring.DefaultHash // hash
	DefaultBacklog            = 512                  // backlog
	DefaultServerConnections  = 1                    // server_connections
	DefaultServerRetryTimeout = 30 * time.Second     // server_retry_timeout
	DefaultServerFailureLimit = 2                    // server_failure_limit

	DefaultZooKeeperSessionTimeout  = 10 * time.Second      // zookeeper_session_timeout
	DefaultZooKeeperRefreshInterval = 30 * time.Second      // zookeeper_refresh_interval
	DefaultSlots                    = hashring.DefaultSlots // slots
	DefaultReadFrom                 = ReadMaster            // read_from
	DefaultSlowlogSlowerThan        = 10 * time.Millisecond // slowlog_slower_than
	DefaultSlowlogMaxLen            = 128                   // slowlog_max_len
)

// ReadFrom says where a pool sends read-only commands.
type ReadFrom string

// The read_from values.
const (
	ReadMaster        ReadFrom = "master"         // every command to the master
	ReadReplica       ReadFrom = "replica"        // reads to a replica, or fail if none
	ReadPreferReplica ReadFrom = "prefer-replica" // reads to a replica, else the master
)

// Pool is one tenant: a listen address and the servers behind it, as the
// YAML configuration describes it (twemproxy's keys plus shardis'). Load
// and Parse return validated pools with every default filled in; a Pool
// built in code should start from NewPool and be checked with Validate.
// A Pool is a plain value: the proxy must not modify one it has loaded.
type Pool struct {
	Name string // the pool's top-level key

	// File and Line locate the pool's name in its configuration file ("",
	// 0 for a pool built in code). Equal ignores them.
	File string
	Line int

	// twemproxy keys.

	Listen       Listen                // listen: "host:port", "/path" or "/path 0666"
	Hash         string                // hash: a twemproxy hash name; default fnv1a_64
	HashTag      string                // hash_tag: "" or two characters, e.g. "{}"
	Distribution hashring.Distribution // distribution: default ketama; Slots when the servers have slot ranges
	// Timeout is how long to wait for a server's reply (timeout:, in ms);
	// 0 waits forever, twemproxy's default.
	Timeout            time.Duration
	Backlog            int           // backlog: listen queue length; default 512
	Preconnect         bool          // preconnect: connect to every server at start
	Redis              bool          // redis: Redis protocol; false (twemproxy's default) is memcached, which shardis does not serve
	RedisAuth          string        // redis_auth: password sent with AUTH to servers and required from clients
	RedisDB            int           // redis_db: database selected on server connections
	ServerConnections  int           // server_connections: connections per server; default 1
	AutoEjectHosts     bool          // auto_eject_hosts: eject a failing server from the distribution
	ServerRetryTimeout time.Duration // server_retry_timeout: how long an ejected server stays out; default 30 s
	ServerFailureLimit int           // server_failure_limit: failures before ejection; default 2
	Servers            []Server      // servers: "host:port:weight [name]" or "host:port:a-b[,c-d] [name]"
	ClientConnections  int           // client_connections: most clients at once, 0 = no limit (enforced, unlike twemproxy 0.5)
	TCPKeepalive       bool          // tcpkeepalive: TCP keepalive on server connections
	Reuseport          bool          // reuseport: SO_REUSEPORT on the listen socket

	// shardis keys.

	// ZooKeeperHost is zookeeper_host as written: "host:port[,host:port...]"
	// with an optional "/chroot" suffix. ZooKeeperServers ("host:port"
	// each) and ZooKeeperChroot ("" or "/path") are its parsed parts, and
	// the ones that count (set them when building a Pool in code).
	ZooKeeperHost            string
	ZooKeeperServers         []string
	ZooKeeperChroot          string
	ZooKeeperPath            string        // zookeeper_path: where this proxy registers (e.g. /redis/proxy/<pool>/<host:port>)
	ZooKeeperRedisPath       string        // zookeeper_redis_path: the pool's cluster path (e.g. /redis/cluster/<pool>)
	ZooKeeperSessionTimeout  time.Duration // zookeeper_session_timeout (ms); default 10 s
	ZooKeeperAuth            string        // zookeeper_auth: "user:password" for digest authentication
	ZooKeeperRefreshInterval time.Duration // zookeeper_refresh_interval (ms): periodic re-read; default 30 s, 0 = never
	Slots                    int           // slots: slot count of a slot-based pool; default 4096
	ReadFrom                 ReadFrom      // read_from: master (default), replica or prefer-replica
	AllowAdminCommands       bool          // allow_admin_commands: forward FLUSHALL/FLUSHDB/KEYS; default false
	// SlowlogSlowerThan is slowlog_slower_than (µs): requests slower than
	// this are logged; 0 logs every request, a negative value (-1) none.
	SlowlogSlowerThan time.Duration
	SlowlogMaxLen     int           // slowlog_max_len: entries kept; default 128
	ClientIdleTimeout time.Duration // client_idle_timeout (ms): close idle clients; 0 = never

	src *source // where each key was written; nil for a pool built in code
}

// Listen is a pool's listen address.
type Listen struct {
	Network string      // "tcp" or "unix"
	Addr    string      // "host:port" for net.Listen (IPv6 in brackets), or the socket path
	Perm    os.FileMode // unix socket permissions ("/path 0666"); 0 leaves them as created
	Raw     string      // the listen: value as written
}

// String returns the listen value as written.
func (l Listen) String() string { return l.Raw }

// Server is one entry of a pool's servers: list.
type Server struct {
	Raw     string // the entry as written
	Addr    string // "host:port" as written (twemproxy hashes this text), or the unix socket path
	Network string // "tcp" or "unix"
	Host    string // tcp host (IPv6 without brackets)
	Port    int    // tcp port
	// Weight is the server's weight; 0 when it has slot Ranges instead.
	Weight int
	Ranges []hashring.Range // slots owned, when the weight is written "a-b[,c-d]"
	Name   string           // the optional name after the weight
	Line   int              // line in the configuration file, 0 if unknown
}

// DialAddr is the address to dial: "host:port" with IPv6 in brackets, or
// the socket path.
func (s Server) DialAddr() string {
	if s.Network == "unix" {
		return s.Addr
	}
	return joinHostPort(s.Host, s.Port)
}

// DisplayName is how errors and logs name the server: its name if it has
// one, else its address.
func (s Server) DisplayName() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Addr
}

// NewPool returns a pool named name with every key at its default: the
// twemproxy defaults (hash fnv1a_64, distribution ketama, no timeout,
// backlog 512, redis false, server_connections 1, auto_eject_hosts false,
// server_retry_timeout 30 s, server_failure_limit 2, client_connections 0,
// preconnect/tcpkeepalive/reuseport false) and shardis' (slots 4096,
// read_from master, zookeeper_session_timeout 10 s,
// zookeeper_refresh_interval 30 s, allow_admin_commands false,
// slowlog_slower_than 10 ms, slowlog_max_len 128, client_idle_timeout 0).
// Listen and Servers are left empty.
func NewPool(name string) *Pool {
	return &Pool{
		Name:                     name,
		Hash:                     DefaultHash,
		Distribution:             hashring.Ketama,
		Backlog:                  DefaultBacklog,
		ServerConnections:        DefaultServerConnections,
		ServerRetryTimeout:       DefaultServerRetryTimeout,
		ServerFailureLimit:       DefaultServerFailureLimit,
		ZooKeeperSessionTimeout:  DefaultZooKeeperSessionTimeout,
		ZooKeeperRefreshInterval: DefaultZooKeeperRefreshInterval,
		Slots:                    DefaultSlots,
		ReadFrom:                 DefaultReadFrom,
		SlowlogSlowerThan:        DefaultSlowlogSlowerThan,
		SlowlogMaxLen:            DefaultSlowlogMaxLen,
	}
}

// SlotBased reports whether the pool's servers own slot ranges.
func (p *Pool) SlotBased() bool { return p.Distribution == hashring.Slots }

// UsesZooKeeper reports whether the pool's topology comes from ZooKeeper
// (zookeeper_host and zookeeper_redis_path are set). Its Servers, if any,
// are then only the starting point.
func (p *Pool) UsesZooKeeper() bool { return len(p.ZooKeeperServers) > 0 && p.ZooKeeperRedisPath != "" }

// Spec returns the hashring specification of the pool's static servers,
// in configuration order (so Table indexes are indexes into p.Servers).
func (p *Pool) Spec() hashring.Spec {
	spec := hashring.Spec{
		Distribution: p.Distribution,
		Hash:         p.Hash,
		HashTag:      p.HashTag,
		Slots:        p.Slots,
		Servers:      make([]hashring.Server, len(p.Servers)),
	}
	for i, s := range p.Servers {
		spec.Servers[i] = hashring.Server{Addr: s.Addr, Name: s.Name, Weight: s.Weight, Ranges: s.Ranges}
	}
	return spec
}

// Equal reports whether p and q configure the same pool: every key equal,
// wherever they were written (File, Line and the lines of servers are
// ignored). The proxy keeps an equal pool running across a reload.
func (p *Pool) Equal(q *Pool) bool {
	if p == nil || q == nil {
		return p == q
	}
	a, b := p.comparable(), q.comparable()
	return reflect.DeepEqual(a, b)
}

// comparable returns a copy of p without source positions and texts as
// written (only their parsed values count), with nil and empty slices made
// alike.
func (p *Pool) comparable() Pool {
	c := *p
	c.File, c.Line, c.src = "", 0, nil
	c.Listen.Raw = ""
	c.ZooKeeperHost = "" // compared through ZooKeeperServers and ZooKeeperChroot
	c.Servers = nil
	for _, s := range p.Servers {
		s.Line, s.Raw = 0, ""
		if len(s.Ranges) == 0 {
			s.Ranges = nil
		}
		c.Servers = append(c.Servers, s)
	}
	if len(c.ZooKeeperServers) == 0 {
		c.ZooKeeperServers = nil
	}
	return c
}

// Changes is the difference between two configurations, by pool name.
type Changes struct {
	Added     []*Pool    // pools only in the new configuration
	Removed   []*Pool    // pools only in the old configuration
	Changed   [][2]*Pool // {old, new} pools with the same name that differ
	Unchanged []*Pool    // pools of the new configuration equal to the old
}

// Diff compares an old and a new configuration, matching pools by name.
// Each list keeps the order of the configuration it comes from.
func Diff(old, new []*Pool) Changes {
	var ch Changes
	byName := make(map[string]*Pool, len(old))
	for _, p := range old {
		byName[p.Name] = p
	}
	seen := make(map[string]bool, len(new))
	for _, n := range new {
		seen[n.Name] = true
		o, ok := byName[n.Name]
		switch {
		case !ok:
			ch.Added = append(ch.Added, n)
		case o.Equal(n):
			ch.Unchanged = append(ch.Unchanged, n)
		default:
			ch.Changed = append(ch.Changed, [2]*Pool{o, n})
		}
	}
	for _, o := range old {
		if !seen[o.Name] {
			ch.Removed = append(ch.Removed, o)
		}
	}
	return ch
}
