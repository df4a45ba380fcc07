package backend

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
)

// ReplicationConfig is the replication part of Config (embedded in it).
// Parameter names are redis-server's, with its slave-* aliases, plus
// shardis-server's own: repl-ack-replicas, repl-ack-timeout (synchronous
// acknowledgement), shardis-epoch and fenced (the watchdog's fencing, see
// docs/replication.md).
type ReplicationConfig struct {
	// ReplicaOf is "host port" of the master to follow ("replicaof",
	// "slaveof"); "" for a master. Set at start; at runtime REPLICAOF
	// changes it (CONFIG GET shows the current master).
	ReplicaOf  string
	MasterAuth string // password for the master ("masterauth")
	MasterUser string // user for the master ("masteruser")

	ReplicaReadOnly       bool // refuse writes from clients on a replica
	ReplicaServeStaleData bool // answer while the link is down (else MASTERDOWN)

	ReplBacklogSize       int64 // bytes of stream kept for partial resync
	ReplBacklogTTL        int   // seconds a master without replicas keeps its backlog (0 = forever)
	ReplTimeout           int   // seconds without traffic before a link is dropped
	ReplPingReplicaPeriod int   // seconds between the master's PINGs in the stream

	MinReplicasToWrite int // refuse writes with fewer good replicas (0 = off)
	MinReplicasMaxLag  int // a good replica acknowledged within this many seconds

	// ReplAckReplicas > 0 holds the reply to a write until that many
	// replicas acknowledged it, at most ReplAckTimeout milliseconds.
	ReplAckReplicas int
	ReplAckTimeout  int

	ReplicaAnnounceIP   string // address this replica gives its master ("replica-announce-ip")
	ReplicaAnnouncePort int    // port it gives (0 = its own port)
	ReplicaPriority     int    // INFO slave_priority (for failover tools)
	ReplicaAnnounced    bool   // INFO replica_announced

	// ShardisEpoch is the fencing token: it only grows (CONFIG SET of a
	// smaller value is refused); a replica does not sync from a master
	// with a smaller one. Fenced refuses every write at once. Neither is
	// written by CONFIG REWRITE.
	ShardisEpoch uint64
	Fenced       bool
}

// DefaultReplicationConfig returns redis-server's defaults.
func DefaultReplicationConfig() ReplicationConfig {
	return ReplicationConfig{
		ReplicaReadOnly:       true,
		ReplicaServeStaleData: true,
		ReplBacklogSize:       1 << 20,
		ReplBacklogTTL:        3600,
		ReplTimeout:           60,
		ReplPingReplicaPeriod: 10,
		MinReplicasMaxLag:     10,
		ReplAckTimeout:        1000,
		ReplicaPriority:       100,
		ReplicaAnnounced:      true,
	}
}

// minBacklog is Redis' CONFIG_REPL_BACKLOG_MIN_SIZE: smaller sizes are
// raised to it.
const minBacklog = 16 << 10

func (rc *ReplicationConfig) validate() error {
	if _, _, err := parseReplicaOf(rc.ReplicaOf); err != nil {
		return fmt.Errorf("%w: replicaof %q: %v", ErrConfig, rc.ReplicaOf, err)
	}
	return nil
}

// parseReplicaOf splits "host port" ("" or "no one": none).
func parseReplicaOf(v string) (host string, port int, err error) {
	f := strings.Fields(v)
	if len(f) == 0 || len(f) == 2 && strings.EqualFold(f[0], "no") && strings.EqualFold(f[1], "one") {
		return "", 0, nil
	}
	if len(f) != 2 {
		return "", 0, paramError("want <host> <port>")
	}
	p, perr := strconv.Atoi(f[1])
	if perr != nil || p < 0 || p > 65535 {
		return "", 0, paramError("Invalid master port")
	}
	return f[0], p, nil
}

// masterAddr is host:port for dialing.
func masterAddr(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// replicationParams are the replication parameters of the params table.
func replicationParams() []param {
	replicaOf := param{name: "replicaof", immutable: true,
		get: func(c *Config) string { return c.ReplicaOf },
		set: func(c *Config, v string) error {
			h, p, err := parseReplicaOf(v)
			if err != nil {
				return err
			}
			c.ReplicaOf = ""
			if h != "" {
				c.ReplicaOf = h + " " + strconv.Itoa(p)
			}
			return nil
		}}
	slaveOf := replicaOf
	slaveOf.name = "slaveof"
	backlog := memParam("repl-backlog-size", 1, math.MaxInt64, func(c *Config) *int64 { return &c.ReplBacklogSize })
	set := backlog.set
	backlog.set = func(c *Config, v string) error {
		if err := set(c, v); err != nil {
			return err
		}
		c.ReplBacklogSize = max(c.ReplBacklogSize, minBacklog)
		return nil
	}
	epoch := param{name: "shardis-epoch", norewrite: true,
		get: func(c *Config) string { return strconv.FormatUint(c.ShardisEpoch, 10) },
		set: func(c *Config, v string) error {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return paramError("argument couldn't be parsed into an unsigned integer")
			}
			c.ShardisEpoch = n
			return nil
		}}
	fenced := boolParam("fenced", func(c *Config) *bool { return &c.Fenced })
	fenced.norewrite = true
	return []param{
		replicaOf, slaveOf,
		stringParam("masterauth", func(c *Config) *string { return &c.MasterAuth }),
		stringParam("masteruser", func(c *Config) *string { return &c.MasterUser }),
		boolParam("replica-read-only", func(c *Config) *bool { return &c.ReplicaReadOnly }),
		boolParam("slave-read-only", func(c *Config) *bool { return &c.ReplicaReadOnly }),
		boolParam("replica-serve-stale-data", func(c *Config) *bool { return &c.ReplicaServeStaleData }),
		boolParam("slave-serve-stale-data", func(c *Config) *bool { return &c.ReplicaServeStaleData }),
		backlog,
		intParam("repl-backlog-ttl", 0, math.MaxInt32, func(c *Config) *int { return &c.ReplBacklogTTL }),
		intParam("repl-timeout", 1, math.MaxInt32, func(c *Config) *int { return &c.ReplTimeout }),
		intParam("repl-ping-replica-period", 1, math.MaxInt32, func(c *Config) *int { return &c.ReplPingReplicaPeriod }),
		intParam("repl-ping-slave-period", 1, math.MaxInt32, func(c *Config) *int { return &c.ReplPingReplicaPeriod }),
		intParam("min-replicas-to-write", 0, math.MaxInt32, func(c *Config) *int { return &c.MinReplicasToWrite }),
		intParam("min-slaves-to-write", 0, math.MaxInt32, func(c *Config) *int { return &c.MinReplicasToWrite }),
		intParam("min-replicas-max-lag", 0, math.MaxInt32, func(c *Config) *int { return &c.MinReplicasMaxLag }),
		intParam("min-slaves-max-lag", 0, math.MaxInt32, func(c *Config) *int { return &c.MinReplicasMaxLag }),
		intParam("repl-ack-replicas", 0, math.MaxInt32, func(c *Config) *int { return &c.ReplAckReplicas }),
		intParam("repl-ack-timeout", 1, math.MaxInt32, func(c *Config) *int { return &c.ReplAckTimeout }),
		stringParam("replica-announce-ip", func(c *Config) *string { return &c.ReplicaAnnounceIP }),
		stringParam("slave-announce-ip", func(c *Config) *string { return &c.ReplicaAnnounceIP }),
		intParam("replica-announce-port", 0, 65535, func(c *Config) *int { return &c.ReplicaAnnouncePort }),
		intParam("slave-announce-port", 0, 65535, func(c *Config) *int { return &c.ReplicaAnnouncePort }),
		intParam("replica-priority", 0, math.MaxInt32, func(c *Config) *int { return &c.ReplicaPriority }),
		intParam("slave-priority", 0, math.MaxInt32, func(c *Config) *int { return &c.ReplicaPriority }),
		boolParam("replica-announced", func(c *Config) *bool { return &c.ReplicaAnnounced }),
		epoch,
		fenced,
		// How shardis-server replicates, for tools that ask.
		fixedParam("repl-diskless-sync", "yes"),
		fixedParam("repl-diskless-sync-delay", "0"),
		fixedParam("repl-diskless-load", "swapdb"),
		fixedParam("repl-disable-tcp-nodelay", "no"),
	}
}
