package proxy

import "github.com/shardis/shardis/conf"

// read_from (conf.Pool.ReadFrom) decides which server of a shard a
// request goes to:
//
//   - master (the default): every request goes to the shard's master.
//   - prefer-replica: a read-only command (Redis' "readonly" flag, e.g.
//     GET, MGET's per-shard parts, EXISTS, EVAL_RO) goes to a replica
//     whose connection is up, round-robin over the shard's replicas; with
//     none up it goes to the master (and replicas never used are started
//     so that they are up for the next reads).
//   - replica: the same, but with no replica up it goes to a replica
//     still connecting, and with none at all it fails at once with
//     "-CLUSTERDOWN shard <name> has no replica up (read_from: replica)";
//     it never reads from the master.
//
// Writes, and every command without the readonly flag, go to the master.
// Replicas are the shard's members whose role is replica (ZooKeeper
// topologies); a static pool has none. A read served by a replica may
// not see a write the same client made just before (replication is
// asynchronous), and a shard without a master still answers reads from
// its replicas.
//
// Commands that must stay on one connection with other commands
// (transactions, blocking commands) must not be routed by target: they
// go to sh.master.

// msgNoReplica is the reply of a read in a read_from: replica pool when
// no replica of the shard is up.
func msgNoReplica(shard string) string {
	return "CLUSTERDOWN shard " + shard + " has no replica up (read_from: replica)"
}

// target returns the server req goes to in shard sh, or the error reply
// to give at once. It runs on the session's reader goroutine.
func (s *session) target(req *request, sh *Shard) (*server, []byte) {
	mode := s.pool.config().ReadFrom
	if mode != conf.ReadReplica && mode != conf.ReadPreferReplica || req.cmd == nil || !req.cmd.readonly {
		return sh.master, sh.errReply
	}
	if s.tbl != nil && s.tbl.migr.readsFromMaster(sh.Index) {
		return sh.master, sh.errReply // keys arriving by migration (migrate.go)
	}
	if sv := s.pickReplica(sh, mode == conf.ReadReplica); sv != nil {
		return sv, nil
	}
	if mode == conf.ReadPreferReplica {
		return sh.master, sh.errReply
	}
	return nil, appendError(nil, msgNoReplica(sh.DisplayName()))
}

// pickReplica returns the next replica of sh (round-robin over the pool)
// whose connection for this session is up; with orConnecting, failing
// that, one whose connection is being made (requests queue on it). It
// starts the connections of replicas never used. nil if none fits.
func (s *session) pickReplica(sh *Shard, orConnecting bool) *server {
	n := uint64(len(sh.replicas))
	if n == 0 {
		return nil
	}
	start := s.pool.readRR.Add(1)
	var connecting *server
	for i := uint64(0); i < n; i++ {
		sv := sh.replicas[(start+i)%n]
		if sv.ejected() || sv.isClosed() {
			continue
		}
		c := sv.connFor(s.id)
		c.mu.Lock()
		st := c.state
		if st == connIdle {
			c.startLocked()
			st = c.state
		}
		c.mu.Unlock()
		switch st {
		case connUp:
			return sv
		case connConnecting:
			if connecting == nil {
				connecting = sv
			}
		}
	}
	if orConnecting {
		return connecting
	}
	return nil
}
