package conf

import (
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// DefaultZooKeeperRoot is the root of the shardis znodes, as in the seed
// deployment.
const DefaultZooKeeperRoot = "/redis"

// Layout names the znodes of shardis under a root (default /redis):
//
//	<root>/proxy/<pool>                          persistent
//	<root>/proxy/<pool>/<host:port>              EPHEMERAL, one per live proxy
//	<root>/cluster/<pool>                        persistent, pool settings
//	<root>/cluster/<pool>/redis-0000             persistent, one per shard
//	<root>/cluster/<pool>/redis-0000/<host:port>-<seq10>
//	                                             EPHEMERAL|SEQUENTIAL, one per live watchdog
//
// A watchdog's member name may carry go-zookeeper's protected-create
// prefix, "_c_<32 hex digits>-<host:port>-<seq10>" (see ParseMemberName).
// The zero Layout uses DefaultZooKeeperRoot.
type Layout struct {
	Root string // absolute znode path, "" for DefaultZooKeeperRoot
}

// NewLayout returns the layout under root ("" for the default), checking
// that root is an absolute znode path.
func NewLayout(root string) (Layout, error) {
	if root == "" {
		root = DefaultZooKeeperRoot
	}
	if err := checkZnodePath(root); err != nil {
		return Layout{}, fmt.Errorf("%w: root: %v", ErrBadZnodeName, err)
	}
	return Layout{Root: root}, nil
}

// root is the root without a trailing '/' ("" for the znode root "/").
func (l Layout) root() string {
	if l.Root == "" {
		return DefaultZooKeeperRoot
	}
	return strings.TrimSuffix(l.Root, "/")
}

// ProxyRoot is <root>/proxy.
func (l Layout) ProxyRoot() string { return l.root() + "/proxy" }

// ClusterRoot is <root>/cluster.
func (l Layout) ClusterRoot() string { return l.root() + "/cluster" }

// ProxyDir is <root>/proxy/<pool>, the parent of the pool's proxy nodes.
func (l Layout) ProxyDir(pool string) string { return l.ProxyRoot() + "/" + pool }

// ProxyNode is <root>/proxy/<pool>/<addr>, one live proxy.
func (l Layout) ProxyNode(pool, addr string) string { return l.ProxyDir(pool) + "/" + addr }

// PoolPath is <root>/cluster/<pool>, the pool's cluster znode (what
// zookeeper_redis_path names).
func (l Layout) PoolPath(pool string) string { return l.ClusterRoot() + "/" + pool }

// ShardPath is <root>/cluster/<pool>/<shard>.
func (l Layout) ShardPath(pool, shard string) string { return l.PoolPath(pool) + "/" + shard }

// FailoverRoot is <root>/failover, where manual failover requests live.
func (l Layout) FailoverRoot() string { return l.root() + "/failover" }

// FailoverPath is <root>/failover/<pool>/<shard>: the shard's manual
// failover request (EPHEMERAL, owned by the admin's session; see
// FailoverRequest and docs/failover.md).
func (l Layout) FailoverPath(pool, shard string) string {
	return l.FailoverRoot() + "/" + pool + "/" + shard
}

// ErrNotShardPath is a path that is not <root>/cluster/<pool>/<shard>.
var ErrNotShardPath = fmt.Errorf("%w: not a shard path", ErrBadZnodeName)

// ParseShardPath splits a shard znode path <root>/cluster/<pool>/<shard>
// (e.g. /redis/cluster/icd/redis-0000) into its layout (root /redis) and
// the pool and shard names. The root may be "/" (/cluster/icd/redis-0000).
func ParseShardPath(shardPath string) (l Layout, pool, shard string, err error) {
	parts := strings.Split(shardPath, "/")
	n := len(parts)
	if !strings.HasPrefix(shardPath, "/") || n < 4 || parts[n-3] != "cluster" || parts[n-2] == "" || parts[n-1] == "" {
		return Layout{}, "", "", fmt.Errorf("%w: %q (want <root>/cluster/<pool>/<shard>, e.g. /redis/cluster/icd/redis-0000)", ErrNotShardPath, shardPath)
	}
	root := strings.Join(parts[:n-3], "/")
	if root == "" {
		root = "/"
	}
	if err := checkZnodePath(shardPath); err != nil {
		return Layout{}, "", "", fmt.Errorf("%w: %v", ErrNotShardPath, err)
	}
	return Layout{Root: root}, parts[n-2], parts[n-1], nil
}

// CheckPoolName checks a pool name for use as one znode name.
func CheckPoolName(name string) error { return checkZnodeName("pool", name) }

// CheckShardName checks a shard name for use as one znode name. Shards are
// usually called redis-0000, redis-0001, ... (ShardName), but any znode
// name that is not a member-like name is accepted.
func CheckShardName(name string) error { return checkZnodeName("shard", name) }

func checkZnodeName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty %s name", ErrBadZnodeName, what)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %s name %q", ErrBadZnodeName, what, name)
	case strings.Contains(name, "/"):
		return fmt.Errorf("%w: %s name %q contains '/'", ErrBadZnodeName, what, name)
	case strings.HasPrefix(name, protectedPrefix):
		return fmt.Errorf("%w: %s name %q starts with %q, which is reserved for protected creates", ErrBadZnodeName, what, name, protectedPrefix)
	}
	if err := checkZnodePath("/" + name); err != nil {
		return fmt.Errorf("%w: %s name: %v", ErrBadZnodeName, what, err)
	}
	return nil
}

// ShardName is the conventional name of the i-th shard: redis-0000,
// redis-0001, ... (at least four digits).
func ShardName(i int) string { return fmt.Sprintf("redis-%04d", i) }

// ShardIndex returns i for a conventional shard name "redis-<digits>".
func ShardIndex(name string) (int, bool) {
	d, ok := strings.CutPrefix(name, "redis-")
	if !ok || d == "" || len(d) > 9 || strings.Trim(d, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.Atoi(d)
	return n, true
}

// PoolName is the pool a cluster path names: its last component
// (/redis/cluster/icd → icd).
func PoolName(clusterPath string) string { return path.Base(clusterPath) }

// protectedPrefix is what go-zookeeper's CreateProtectedEphemeralSequential
// puts before the GUID.
const protectedPrefix = "_c_"

// MemberPrefix is the path given to a sequential create of a member of the
// shard at shardPath: "<shardPath>/<addr>-". ZooKeeper appends the
// ten-digit sequence number.
func MemberPrefix(shardPath, addr string) string { return shardPath + "/" + addr + "-" }

// MemberName is a parsed member znode name.
type MemberName struct {
	Addr string // the "host:port" part of the name (may be empty or stale: the data's addr wins)
	Seq  int64  // the sequence number ZooKeeper appended
	GUID string // the protected-create GUID (32 hex digits), "" if none
}

// ParseMemberName parses a member znode name, "<host:port>-<seq>" or the
// protected form "_c_<guid>-<host:port>-<seq>". The sequence is the number
// after the LAST '-' (hosts may be IPv6 addresses or names with dashes).
func ParseMemberName(name string) (MemberName, error) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return MemberName{}, fmt.Errorf("%w: member %q has no \"-<sequence>\" suffix", ErrBadZnodeName, name)
	}
	digits := name[i+1:]
	if digits == "" || len(digits) > 18 || strings.Trim(digits, "0123456789") != "" {
		return MemberName{}, fmt.Errorf("%w: member %q: sequence %q is not a number", ErrBadZnodeName, name, digits)
	}
	seq, _ := strconv.ParseInt(digits, 10, 64)
	m := MemberName{Addr: name[:i], Seq: seq}
	if rest, ok := strings.CutPrefix(m.Addr, protectedPrefix); ok && len(rest) >= 33 && rest[32] == '-' {
		if _, err := hex.DecodeString(rest[:32]); err == nil {
			m.GUID, m.Addr = rest[:32], rest[33:]
		}
	}
	return m, nil
}

// ProxyNodePath returns the znode a proxy registers at. zookeeperPath is
// the pool's zookeeper_path: either the node itself, as the seed writes it
// (/redis/proxy/icd/172.17.32.105:22121: its last component is a
// "host:port"), or the pool's proxy directory (/redis/proxy/icd), in which
// case the node is <dir>/<addr>. addr is the address clients should use
// to reach the proxy.
func ProxyNodePath(zookeeperPath, addr string) (string, error) {
	if err := checkZnodePath(zookeeperPath); err != nil {
		return "", fmt.Errorf("%w: zookeeper_path: %v", ErrBadZnodeName, err)
	}
	if zookeeperPath == "/" {
		return "", fmt.Errorf("%w: zookeeper_path is the root", ErrBadZnodeName)
	}
	if _, _, err := splitHostPort(path.Base(zookeeperPath), "proxy"); err == nil {
		return zookeeperPath, nil
	}
	if _, _, err := splitHostPort(addr, "proxy"); err != nil {
		return "", fmt.Errorf("%w: proxy address %q cannot name a znode under %s: %v", ErrBadZnodeName, addr, zookeeperPath, err)
	}
	return zookeeperPath + "/" + addr, nil
}

// ZooKeeperProxyNode is ProxyNodePath for the pool: the node named by its
// zookeeper_path, or <zookeeper_path>/<announce> when zookeeper_path is a
// directory. announce is the address clients should use ("" for the
// listen address). It returns "" and no error when the pool has no
// zookeeper_path (no registration).
func (p *Pool) ZooKeeperProxyNode(announce string) (string, error) {
	if p.ZooKeeperPath == "" {
		return "", nil
	}
	if announce == "" {
		announce = p.Listen.Addr
	}
	return ProxyNodePath(p.ZooKeeperPath, announce)
}

// ParseZooKeeperHost splits a ZooKeeper connect string,
// "host:port[,host:port...][/chroot]", into its servers ("host:port", port
// 2181 when left out) and its chroot ("" for none), as zookeeper_host is
// read.
func ParseZooKeeperHost(s string) (servers []string, chroot string, err error) {
	return parseZooKeeperHost(s)
}

// joinZnode joins a parent path and a child name.
func joinZnode(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}
