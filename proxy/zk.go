package proxy

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// ZooKeeper topologies (docs/zookeeper.md, DESIGN.md section 5). A pool
// with zookeeper_host and zookeeper_redis_path takes its shards from
// ZooKeeper: a conf.TopologyWatcher follows the pool's cluster znode and
// every snapshot that routes differently becomes a Topology (zkTopology)
// installed with SetTopology. The YAML servers, if any, are only the
// table used until ZooKeeper answers; a pool without any answers every
// key with -TRYAGAIN until then. A pool with zookeeper_path registers the
// proxy as an ephemeral znode (conf.Ephemeral). Pools that reach the same
// ZooKeeper the same way share one connection (zkClients).

// zkClients shares ZooKeeper connections between the pools of a Proxy:
// one per distinct (servers, chroot, auth, session timeout), opened by
// the first pool that needs it and closed when the last one lets it go.
type zkClients struct {
	mu sync.Mutex
	m  map[string]*zkShared
}

type zkShared struct {
	z    *conf.ZK
	refs int
}

// zkKey identifies a connection: the servers (in any order), chroot,
// credentials and session timeout.
func zkKey(cfg conf.ZKConfig) string {
	servers := slices.Clone(cfg.Servers)
	slices.Sort(servers)
	return fmt.Sprintf("%s|%s|%s|%d", strings.Join(servers, ","), cfg.Chroot, cfg.Auth, cfg.SessionTimeout)
}

// acquire returns the connection for cfg, dialling it if no pool holds
// one, and the function that lets it go (call it once).
func (c *zkClients) acquire(cfg conf.ZKConfig) (*conf.ZK, func(), error) {
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = conf.DefaultZooKeeperSessionTimeout
	}
	key := zkKey(cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	sh := c.m[key]
	if sh == nil {
		z, err := conf.DialZooKeeper(cfg)
		if err != nil {
			return nil, nil, err
		}
		sh = &zkShared{z: z}
		if c.m == nil {
			c.m = map[string]*zkShared{}
		}
		c.m[key] = sh
	}
	sh.refs++
	release := sync.OnceFunc(func() {
		c.mu.Lock()
		sh.refs--
		last := sh.refs == 0
		if last {
			delete(c.m, key)
		}
		c.mu.Unlock()
		if last {
			sh.z.Close()
		}
	})
	return sh.z, release, nil
}

// count is the number of open connections (tests).
func (c *zkClients) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// initialTopology is the table a pool starts with: its YAML servers, or,
// for a ZooKeeper pool without any, one slot-based shard that answers
// every key with -TRYAGAIN until the first topology arrives.
func initialTopology(cfg *conf.Pool) Topology {
	if len(cfg.Servers) > 0 || !cfg.UsesZooKeeper() {
		return StaticTopology(cfg)
	}
	return Topology{
		Distribution: hashring.Slots,
		Hash:         cfg.Hash,
		HashTag:      cfg.HashTag,
		Slots:        1,
		Source:       "zookeeper-pending",
		Shards: []ShardSpec{{
			Name:        "(no topology yet)",
			Ranges:      []hashring.Range{{Lo: 0, Hi: 0}},
			Unavailable: msgNoTopology(cfg.Name),
		}},
	}
}

// msgNoTopology answers the keys of a ZooKeeper pool that has no
// topology yet.
func msgNoTopology(pool string) string {
	return "TRYAGAIN pool " + pool + " has no topology from ZooKeeper yet"
}

// zkTopology converts a valid ZooKeeper snapshot into the proxy's
// Topology: one slot-based shard per shard that owns slots; its master is
// the lowest-sequence member whose role is master ("" when none: the
// shard's keys get -CLUSTERDOWN), its replicas the members whose role is
// replica. Slots, hash and hash_tag are the pool znode's, else the YAML
// pool's (conf.WatcherConfig.Defaults).
func zkTopology(t *conf.Topology) Topology {
	out := Topology{
		Distribution: hashring.Slots,
		Hash:         t.Settings.Hash,
		HashTag:      t.Settings.HashTag,
		Slots:        t.Settings.Slots,
		Source:       "zookeeper",
	}
	_, shards := t.Spec()
	for _, s := range shards {
		spec := ShardSpec{Name: s.Name, Ranges: s.Ranges}
		if m, ok := s.MasterMember(); ok {
			spec.Master = m.Addr
		}
		for _, r := range s.Replicas() {
			if r.Addr != spec.Master && !slices.Contains(spec.Replicas, r.Addr) {
				spec.Replicas = append(spec.Replicas, r.Addr)
			}
		}
		out.Shards = append(out.Shards, spec)
	}
	applyMigrations(t, &out)
	return out
}

// sameTopology reports whether a and b route alike.
func sameTopology(a, b Topology) bool {
	if a.Distribution != b.Distribution || a.Hash != b.Hash || a.HashTag != b.HashTag || a.Slots != b.Slots ||
		a.Source != b.Source || len(a.Shards) != len(b.Shards) || !sameMigrations(a.Migrations, b.Migrations) {
		return false
	}
	for i := range a.Shards {
		x, y := &a.Shards[i], &b.Shards[i]
		if x.Name != y.Name || x.Master != y.Master || x.Weight != y.Weight || x.Unavailable != y.Unavailable ||
			!slices.Equal(x.Replicas, y.Replicas) || !slices.Equal(x.Ranges, y.Ranges) {
			return false
		}
	}
	return true
}

// announceAddr is the address the pool registers in ZooKeeper: announce
// (Options.Announce: "host:port" as is, or a host joined with the pool's
// listen port), else the listen address; a wildcard listen host
// (0.0.0.0, ::) is replaced by this machine's first non-loopback IP, with
// guessed set. "" for a unix socket listener without announce.
func (p *Pool) announceAddr(announce string) (addr string, guessed bool) {
	listen := p.config().Listen
	if listen.Network != "tcp" {
		if _, _, err := net.SplitHostPort(announce); err == nil {
			return announce, false
		}
		return "", false
	}
	host, port, _ := net.SplitHostPort(listen.Addr)
	if a, ok := p.Addr().(*net.TCPAddr); ok && a.Port != 0 {
		port = fmt.Sprint(a.Port) // the port actually bound (listen: host:0)
	}
	if announce != "" {
		if _, _, err := net.SplitHostPort(announce); err == nil {
			return announce, false
		}
		return net.JoinHostPort(strings.Trim(announce, "[]"), port), false
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort(localIP(), port), true
	}
	return net.JoinHostPort(host, port), false
}

// localIP is this machine's first non-loopback unicast address (IPv4
// preferred), else 127.0.0.1.
func localIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "127.0.0.1"
	}
	var v6 string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
		if v6 == "" {
			v6 = ipn.IP.String()
		}
	}
	if v6 != "" {
		return v6
	}
	return "127.0.0.1"
}
