package backend

import (
	"strconv"
)

// Fencing and the replication checks of command admission.
//
// fenced (CONFIG SET fenced yes) refuses every write at once with a
// READONLY error naming the epoch: the watchdog fences a master the moment
// it may no longer be the one ZooKeeper names (docs/replication.md,
// CONTRACTS.md). shardis-epoch is the fencing token: it only grows, and a
// replica does not sync from a master whose epoch is older than its own
// (REPLCONF shardis-epoch in the handshake).
//
// Admission follows Redis' processCommand order: MISCONF (the AOF),
// NOREPLICAS (min-replicas-to-write), READONLY (a read-only replica),
// MASTERDOWN (replica-serve-stale-data no), then CLIENT PAUSE, which
// waits. The fence comes first of the replication checks: a fenced server
// refuses writes whatever its role.

// Error texts (Redis' where Redis has them).
const (
	errReadOnlyReplica = "READONLY You can't write against a read only replica."
	errNoGoodReplicas  = "NOREPLICAS Not enough good replicas to write."
	errMasterDown      = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
)

func errFenced(epoch uint64) string {
	return "READONLY You can't write against a fenced master (epoch " + strconv.FormatUint(epoch, 10) + ")."
}

// errStaleMaster is a master's answer to REPLCONF shardis-epoch from a
// replica that has seen a newer epoch.
func errStaleMaster(mine, theirs uint64) string {
	return "ERR stale master: epoch " + strconv.FormatUint(mine, 10) + " is older than " + strconv.FormatUint(theirs, 10)
}

// admitReplWrite is the replication part of admitWrite: fencing,
// min-replicas-to-write and read-only replicas; then CLIENT PAUSE, after
// which the checks run again (Redis re-processes a postponed command: a
// fence set during the pause refuses the write).
func (r *replication) admitReplWrite(c *Client) string {
	for {
		if msg := r.writeRefusal(); msg != "" {
			return msg
		}
		if !r.pause.active.Load() {
			return ""
		}
		if !r.pause.wait(c, true) {
			return errShuttingDown
		}
	}
}

// errShuttingDown answers a write that waited for a pause when the server
// stops.
const errShuttingDown = "ERR The server is shutting down"

func (r *replication) writeRefusal() string {
	if r.fenced.Load() {
		return errFenced(r.epoch.Load())
	}
	if r.isReplica.Load() {
		if r.readOnly.Load() {
			return errReadOnlyReplica
		}
		return ""
	}
	if n := r.minReplicas.Load(); n > 0 && r.minLag.Load() > 0 && r.goodReplicas.Load() < n {
		return errNoGoodReplicas
	}
	return ""
}

// admitCommand runs for every command after the write checks: MASTERDOWN,
// then CLIENT PAUSE ALL (or WRITE for may_replicate commands) — writes
// waited in admitReplWrite.
func (r *replication) admitCommand(c *Client, cmd *cmdSpec) string {
	if c.internal {
		return ""
	}
	if r.isReplica.Load() && !r.linkUp.Load() && !r.serveStale.Load() && cmd.flags&flagStale == 0 {
		return errMasterDown
	}
	if cmd.flags&flagWrite == 0 && r.pause.active.Load() {
		if !r.pause.wait(c, cmd.flags&flagMayReplicate != 0) {
			return errShuttingDown
		}
	}
	return ""
}

// setFenced switches fencing (CONFIG SET fenced, REPLICAOF host port).
func (r *replication) setFenced(on bool) {
	if r.fenced.Swap(on) != on {
		if on {
			r.s.log.Warn("Fenced: refusing writes", "shardis_epoch", r.epoch.Load())
		} else {
			r.s.log.Info("Fence lifted", "shardis_epoch", r.epoch.Load())
		}
	}
	r.updateExpiry()
}

// clearFence lifts the fence and records it in the configuration
// (REPLICAOF host port: fencing does not survive it).
func (r *replication) clearFence() {
	s := r.s
	s.cfgMu.Lock()
	s.cfg.Fenced = false
	s.cfgMu.Unlock()
	r.setFenced(false)
}
