package watchdog

import (
	"fmt"
	"net"

	"github.com/shardis/shardis/conf"
)

// The manual failover request (docs/failover.md). An operator's
// `shardis-admin failover` creates one EPHEMERAL znode per shard,
//
//	<root>/failover/<pool>/<shard>
//	{"id":"9f2c…","master":"127.0.0.1:7001-0000000003","target":"127.0.0.1:7002",
//	 "timeout_ms":10000,"state":"requested","offset":0}
//
// that the shard's watchdogs obey: the master's watchdog pauses writes and
// writes state "paused" with its offset; the target's watchdog waits until
// its backend has that offset, promotes it and switches both members'
// roles and deletes the request in one transaction. The znode belongs to
// the admin's session, so it goes away if the admin dies; the master's
// watchdog also gives up RequestGrace after timeout_ms on its own clock.
//
// The znode's path and its codec are conf's (Layout.FailoverPath,
// conf.FailoverRequest); the names below are the watchdog's for them.

// Request states.
const (
	RequestRequested = conf.FailoverRequested // written by the admin
	RequestPaused    = conf.FailoverPaused    // written by the master's watchdog, with Offset
)

// MaxRequestTimeout bounds a request's timeout_ms.
const MaxRequestTimeout = conf.MaxFailoverTimeout

// ErrBadRequest is a failover request znode whose data is refused
// (conf.ErrBadFailoverRequest).
var ErrBadRequest = conf.ErrBadFailoverRequest

// ErrNotShardPath is a --shard path that is not <root>/cluster/<pool>/<shard>
// (conf.ErrNotShardPath).
var ErrNotShardPath = conf.ErrNotShardPath

// FailoverRequest is the data of a failover request znode.
type FailoverRequest = conf.FailoverRequest

// ParseFailoverRequest parses a request znode's data
// (conf.ParseFailoverRequest): unknown fields are ignored; missing or
// invalid known fields are errors wrapping ErrBadRequest.
func ParseFailoverRequest(b []byte) (FailoverRequest, error) { return conf.ParseFailoverRequest(b) }

// ShardPathParts splits a shard znode path <root>/cluster/<pool>/<shard>
// (e.g. /redis/cluster/icd/redis-0000) into the root, pool and shard.
func ShardPathParts(shardPath string) (root, pool, shard string, err error) {
	l, pool, shard, err := conf.ParseShardPath(shardPath)
	if err != nil {
		return "", "", "", err
	}
	return l.Root, pool, shard, nil
}

// RequestPath is the failover request znode of the shard at shardPath:
// <root>/failover/<pool>/<shard>.
func RequestPath(shardPath string) (string, error) {
	l, pool, shard, err := conf.ParseShardPath(shardPath)
	if err != nil {
		return "", err
	}
	return l.FailoverPath(pool, shard), nil
}

// splitAddr checks a "host:port" address.
func splitAddr(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		return "", 0, fmt.Errorf("address %q has no host", addr)
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p <= 0 || p > 65535 || fmt.Sprint(p) != port {
		return "", 0, fmt.Errorf("address %q: bad port %q", addr, port)
	}
	return host, p, nil
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, fmt.Sprint(port))
}
