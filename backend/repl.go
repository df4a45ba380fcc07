package backend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Replication, after Redis' replication.c.
//
// A master's write stream (stream.go) is the replication stream: every
// replica reads it through its own Cursor, from the offset of a snapshot
// (full resync) or from the offset it already has (partial resync, when
// the stream still retains it: the backlog, repl-backlog-size). A replica
// applies what it receives through the command table and appends the
// master's bytes, as received, to its own stream (Tx.verbatim), so its
// offsets are the master's and its stream is a backlog its own replicas —
// or the replicas of its master, after a failover — can resume from.
//
// Files: repl.go (state, roles, REPLICAOF, ROLE, INFO), repl_master.go
// (REPLCONF, PSYNC, the goroutine feeding each replica), repl_replica.go
// (the link to the master), repl_load.go (full resync payload, the
// keyspace swap), repl_state.go (replication ID and offset kept next to
// the AOF), wait.go (WAIT, repl-ack-replicas), pause.go (CLIENT PAUSE),
// fence.go (fenced, shardis-epoch, write admission).

// ErrReplication is wrapped by the errors of the replication link.
var ErrReplication = errors.New("backend: replication")

// noReplID is Redis' all-zero replication ID (master_replid2 when unset).
var noReplID = strings.Repeat("0", 40)

// newReplID returns 40 random hex characters.
func newReplID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// replication is a server's replication state. Its goroutines (the link to
// the master, one sender per replica, the cron) run under the server's
// bgCtx and bgWG: shutdown stops them before the AOF is closed.
type replication struct {
	s *Server

	mu         sync.Mutex // guards the fields below
	masterHost string     // "" for a master
	masterPort int
	replid     string
	replid2    string
	secondOff  int64 // second_repl_offset; -1 when replid2 is unset
	link       *masterLink
	replicas   []*replicaConn
	backlog    bool      // the stream keeps repl-backlog-size bytes
	noReplicas time.Time // since when a master has had no replica (backlog TTL)
	lastPing   time.Time
	stateKey   stateIdentity // what the state file last recorded

	stateMu sync.Mutex // serialises state file writes
	started bool

	// Read on every command without the lock.
	isReplica  atomic.Bool
	linkUp     atomic.Bool
	readOnly   atomic.Bool
	serveStale atomic.Bool
	fenced     atomic.Bool
	epoch      atomic.Uint64

	minReplicas  atomic.Int64 // min-replicas-to-write, 0 = off
	minLag       atomic.Int64 // min-replicas-max-lag (seconds)
	goodReplicas atomic.Int64 // replicas with lag <= minLag (refreshed by cron)
	ackReplicas  atomic.Int64 // repl-ack-replicas
	ackTimeout   atomic.Int64 // repl-ack-timeout (ms)
	ackedN       atomic.Int64 // the ackReplicas-th highest acknowledged offset

	syncFull, syncPartialOK, syncPartialErr atomic.Int64

	acks     ackNotifier // signalled when ackedN or a replica's offset grows
	pause    pauseState
	stopping chan struct{} // closed when the server shuts down
}

func newReplication(s *Server, cfg Config) *replication {
	r := &replication{s: s, replid: newReplID(), replid2: noReplID, secondOff: -1, stopping: make(chan struct{})}
	r.applyConfig(cfg)
	r.fenced.Store(cfg.Fenced)
	r.epoch.Store(cfg.ShardisEpoch)
	return r
}

// applyConfig copies the parameters read on hot paths into atomics.
func (r *replication) applyConfig(cfg Config) {
	r.readOnly.Store(cfg.ReplicaReadOnly)
	r.serveStale.Store(cfg.ReplicaServeStaleData)
	r.minReplicas.Store(int64(cfg.MinReplicasToWrite))
	r.minLag.Store(int64(cfg.MinReplicasMaxLag))
	r.ackTimeout.Store(int64(cfg.ReplAckTimeout))
	if int64(cfg.ReplAckReplicas) != r.ackReplicas.Swap(int64(cfg.ReplAckReplicas)) {
		r.refreshAcks()
	}
}

// configChanged is CONFIG SET's hook: it returns the error text when the
// change is refused (the caller then restores prev).
func (r *replication) configChanged(prev, next Config) string {
	if next.ShardisEpoch < prev.ShardisEpoch {
		return "ERR epoch " + strconv.FormatUint(next.ShardisEpoch, 10) +
			" is older than the current epoch " + strconv.FormatUint(prev.ShardisEpoch, 10)
	}
	r.applyConfig(next)
	if next.ShardisEpoch != prev.ShardisEpoch {
		r.epoch.Store(next.ShardisEpoch)
		r.s.log.Info("Epoch set", "shardis_epoch", next.ShardisEpoch)
	}
	if next.Fenced != prev.Fenced {
		r.setFenced(next.Fenced)
	}
	if next.ReplBacklogSize != prev.ReplBacklogSize {
		r.mu.Lock()
		if r.backlog {
			r.s.ks.setBacklog(next.ReplBacklogSize)
		}
		r.mu.Unlock()
	}
	r.refreshGood(time.Now())
	return ""
}

// start runs after the server listens: the cron goroutine, and the link
// to the master of --replicaof.
func (r *replication) start() {
	s := r.s
	s.bgWG.Add(1)
	go r.cron() // ends with bgCtx
	cfg := s.Config()
	r.mu.Lock()
	r.started = true
	r.mu.Unlock()
	if host, port, _ := parseReplicaOf(cfg.ReplicaOf); host != "" {
		r.setMaster(host, port)
		s.log.Info("Replication configured at start", "master", masterAddr(host, port))
	}
}

// role reports "master" or "slave" (INFO's words).
func (r *replication) role() string {
	if r.isReplica.Load() {
		return "slave"
	}
	return "master"
}

// updateExpiry sets the keyspace's expiry mode: a replica, a fenced
// master and a master whose writes are paused hide expired keys instead
// of deleting them, so their stream offset does not move.
func (r *replication) updateExpiry() {
	r.s.ks.SetReplicaExpiry(r.isReplica.Load() || r.fenced.Load() || r.pause.writesPaused())
}

// setMaster makes the server a replica of host:port (REPLICAOF host port).
// Replicas of its own stay attached: they follow the new master through
// this server when it can resume; a full resync or a new replication ID
// disconnects them.
func (r *replication) setMaster(host string, port int) {
	r.mu.Lock()
	old := r.link
	r.link = nil
	r.mu.Unlock()
	if old != nil {
		old.stop()
	}
	r.mu.Lock()
	r.masterHost, r.masterPort = host, port
	r.isReplica.Store(true)
	r.linkUp.Store(false)
	r.ensureBacklogLocked(false)
	l := newMasterLink(r, host, port)
	r.link = l
	r.mu.Unlock()
	r.updateExpiry()
	r.setConfigReplicaOf(host + " " + strconv.Itoa(port))
	r.acks.broadcast() // WAIT and held writes: the role changed
	l.start()
}

// unsetMaster makes a replica a master (REPLICAOF NO ONE): the link stops,
// the replication ID moves to replid2 (so the other replicas of the old
// master can resume from this one) and a new ID starts.
func (r *replication) unsetMaster() {
	r.mu.Lock()
	old := r.link
	r.link = nil
	r.mu.Unlock()
	if old != nil {
		old.stop()
	}
	r.mu.Lock()
	r.masterHost, r.masterPort = "", 0
	r.isReplica.Store(false)
	r.linkUp.Store(false)
	r.shiftIDLocked()
	r.noReplicas = time.Now()
	r.mu.Unlock()
	r.dropReplicas() // they must learn the new ID (and resume at once)
	r.updateExpiry()
	r.setConfigReplicaOf("")
	r.saveState(true)
	r.refreshAcks()
}

// shiftIDLocked is Redis' shiftReplicationId.
func (r *replication) shiftIDLocked() {
	off := r.s.stream.Offset()
	r.replid2 = r.replid
	r.secondOff = off + 1
	r.replid = newReplID()
	r.s.log.Info("Setting secondary replication ID", "replid2", r.replid2, "valid_up_to_offset", r.secondOff,
		"new_replid", r.replid)
}

// ensureBacklogLocked makes the stream keep a backlog. A master creating
// its first backlog for a replica starts a new history (newHistory), as
// Redis does ("Replication backlog created, my new replication IDs are
// ..."): no past history can be served without one.
func (r *replication) ensureBacklogLocked(newHistory bool) {
	if r.backlog {
		return
	}
	r.backlog = true
	r.s.ks.setBacklog(r.s.Config().ReplBacklogSize)
	if newHistory {
		r.replid, r.replid2, r.secondOff = newReplID(), noReplID, -1
		r.s.log.Info("Replication backlog created", "replid", r.replid, "replid2", r.replid2)
	}
}

// setConfigReplicaOf keeps CONFIG GET replicaof current.
func (r *replication) setConfigReplicaOf(v string) {
	s := r.s
	s.cfgMu.Lock()
	s.cfg.ReplicaOf = v
	s.cfgMu.Unlock()
}

// ids returns the replication IDs and second offset.
func (r *replication) ids() (replid, replid2 string, secondOff int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.replid, r.replid2, r.secondOff
}

// cron is replication's background goroutine (10 Hz): replica timeouts
// and output limits, good replicas, the master's PINGs, the backlog TTL,
// the state file and the AOF restart after a full resync.
func (r *replication) cron() {
	s := r.s
	defer s.bgWG.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.bgCtx.Done():
			return
		case now := <-t.C:
			r.cronMaster(now)
			r.refreshGood(now)
			r.saveState(false)
			r.restartAOF()
		}
	}
}

// restartAOF retries enabling the AOF when a full resync left it off
// (Redis' restartAOFAfterSYNC retry).
func (r *replication) restartAOF() {
	s := r.s
	if !s.Config().AppendOnly || s.aof.enabled.Load() || s.aof.rewriteRunning() {
		return
	}
	r.mu.Lock()
	syncing := r.link != nil && r.link.state.Load() == linkTransfer
	r.mu.Unlock()
	if syncing {
		return
	}
	if err := s.aof.startRewrite("restart the AOF after a full resynchronization", true); err != nil &&
		!errors.Is(err, ErrRewriteInProgress) {
		s.log.Warn("Failed enabling the AOF after the master synchronization, retrying", "error", err)
	}
}

// ctx is the context of replication goroutines.
func (r *replication) ctx() context.Context { return r.s.bgCtx }

// Commands: REPLICAOF/SLAVEOF, ROLE, REPLCONF, PSYNC, SYNC, WAIT.

func replicationCommands() []*cmdSpec {
	const g = "server"
	replicaof := func(name, since string) *cmdSpec {
		return &cmdSpec{name: name, handler: cmdReplicaOf, arity: 3, flags: flagAdmin | flagNoScript | flagStale, group: g, since: since, summary: "Configures a server as replica of another, or promotes it to a master.", complexity: "O(1)"}
	}
	return []*cmdSpec{
		replicaof("replicaof", "5.0.0"),
		replicaof("slaveof", "1.0.0"),
		{name: "role", handler: cmdRole, arity: 1, flags: flagNoScript | flagLoading | flagStale | flagFast, group: g, since: "2.8.12", summary: "Returns the replication role.", complexity: "O(1)", acl: []string{"@dangerous"}},
		{name: "replconf", handler: cmdReplconf, arity: -1, flags: flagAdmin | flagNoScript | flagLoading | flagStale | flagAllowBusy, group: g, since: "3.0.0", summary: "An internal command for configuring the replication stream.", complexity: "O(1)"},
		{name: "psync", handler: cmdPSync, arity: -3, flags: flagAdmin | flagNoScript | flagNoMulti, group: g, since: "2.8.0", summary: "An internal command used in replication.", complexity: ""},
		{name: "sync", handler: cmdSync, arity: 1, flags: flagAdmin | flagNoScript | flagNoMulti, group: g, since: "1.0.0", summary: "An internal command used in replication.", complexity: ""},
		{name: "wait", handler: cmdWait, arity: 3, flags: flagNoScript, group: "generic", since: "3.0.0", summary: "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", complexity: "O(1)", acl: []string{"@connection"}},
	}
}

func cmdReplicaOf(c *Client, args [][]byte) {
	r := c.s.repl
	if c.repl.replica != nil {
		c.err("ERR Command is not valid when client is a replica.")
		return
	}
	if eqFold(args[1], "no") && eqFold(args[2], "one") {
		if r.isReplica.Load() {
			r.unsetMaster()
			c.s.log.Info("MASTER MODE enabled (user request from '" + c.info(time.Now()) + "')")
		}
		c.ok()
		return
	}
	port, ok := parseInt(args[2])
	if !ok || port < 0 || port > 65535 {
		c.err("ERR Invalid master port")
		return
	}
	host := string(args[1])
	// Fencing does not survive REPLICAOF host port: a replica refuses
	// writes anyway (READONLY). It survives REPLICAOF NO ONE, which the
	// watchdog sends while promoting, before lifting the fence itself.
	r.clearFence()
	r.mu.Lock()
	same := r.masterHost != "" && strings.EqualFold(r.masterHost, host) && r.masterPort == int(port)
	r.mu.Unlock()
	if same {
		c.s.log.Info("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.")
		c.status("OK Already connected to specified master")
		return
	}
	r.setMaster(host, int(port))
	c.s.log.Info("REPLICAOF " + masterAddr(host, int(port)) + " enabled (user request from '" + c.info(time.Now()) + "')")
	c.ok()
}

func cmdRole(c *Client, _ [][]byte) {
	r := c.s.repl
	r.mu.Lock()
	host, port, l := r.masterHost, r.masterPort, r.link
	reps := append([]*replicaConn(nil), r.replicas...)
	r.mu.Unlock()
	if host == "" {
		c.array(3)
		c.bulkString("master")
		c.int(c.s.stream.Offset())
		var online []*replicaConn
		for _, rc := range reps {
			if rc.state.Load() == replicaOnline {
				online = append(online, rc)
			}
		}
		c.array(len(online))
		for _, rc := range online {
			c.array(3)
			c.bulkString(rc.ip)
			c.bulkString(strconv.Itoa(rc.port))
			c.bulkString(strconv.FormatInt(rc.ackOff.Load(), 10))
		}
		return
	}
	c.array(5)
	c.bulkString("slave")
	c.bulkString(host)
	c.int(int64(port))
	st := "connect"
	off := int64(-1)
	if l != nil {
		st = linkStateNames[l.state.Load()]
		if l.state.Load() == linkConnected {
			off = c.s.stream.Offset()
		}
	}
	c.bulkString(st)
	c.int(off)
}

// writeInfo is INFO replication, with Redis' field names and order, plus
// shardis-server's fenced and shardis_epoch.
func (r *replication) writeInfo(w infoWriter) {
	s := r.s
	now := time.Now()
	cfg := s.Config()
	r.mu.Lock()
	host, port, l := r.masterHost, r.masterPort, r.link
	replid, replid2, second := r.replid, r.replid2, r.secondOff
	reps := append([]*replicaConn(nil), r.replicas...)
	backlog := r.backlog
	r.mu.Unlock()
	off := s.stream.Offset()
	w.b.WriteString("# Replication\r\n")
	w.kv("role", r.role())
	if host != "" {
		up := r.linkUp.Load()
		lastIO, read, transfer := -1, off, false
		var tRead, tSize int64
		down := int64(-1)
		if l != nil {
			if up {
				lastIO = int(now.Unix() - l.lastIO.Load()/1000)
			}
			if rd := l.readOff.Load(); rd > off {
				read = rd
			}
			transfer = l.state.Load() == linkTransfer
			tRead, tSize = l.transferRead.Load(), l.transferSize.Load()
			if ds := l.downSince.Load(); ds > 0 {
				down = now.Unix() - ds
			}
		}
		w.kv("master_host", host)
		w.kv("master_port", port)
		w.kv("master_link_status", map[bool]string{true: "up", false: "down"}[up])
		w.kv("master_last_io_seconds_ago", lastIO)
		w.kv("master_sync_in_progress", b01(transfer))
		w.kv("slave_read_repl_offset", read)
		w.kv("slave_repl_offset", off)
		if transfer {
			perc := 0.0
			if tSize > 0 {
				perc = float64(tRead) / float64(tSize) * 100
			}
			w.kv("master_sync_total_bytes", tSize)
			w.kv("master_sync_read_bytes", tRead)
			w.kv("master_sync_left_bytes", tSize-tRead)
			w.kv("master_sync_perc", strconv.FormatFloat(perc, 'f', 2, 64))
			w.kv("master_sync_last_io_seconds_ago", now.Unix()-l.lastIO.Load()/1000)
		}
		if !up {
			w.kv("master_link_down_since_seconds", down)
		}
		w.kv("slave_priority", cfg.ReplicaPriority)
		w.kv("slave_read_only", b01(cfg.ReplicaReadOnly))
		w.kv("replica_announced", b01(cfg.ReplicaAnnounced))
	}
	w.kv("connected_slaves", len(reps))
	if cfg.MinReplicasToWrite > 0 && cfg.MinReplicasMaxLag > 0 {
		w.kv("min_slaves_good_slaves", r.goodReplicas.Load())
	}
	for i, rc := range reps {
		st := rc.state.Load()
		lag := int64(0)
		if st == replicaOnline {
			lag = now.Unix() - rc.ackTime.Load()/1000
		}
		w.kv("slave"+strconv.Itoa(i), "ip="+rc.ip+",port="+strconv.Itoa(rc.port)+",state="+replicaStateNames[st]+
			",offset="+strconv.FormatInt(rc.ackOff.Load(), 10)+",lag="+strconv.FormatInt(lag, 10))
	}
	w.kv("master_failover_state", "no-failover")
	w.kv("master_replid", replid)
	w.kv("master_replid2", replid2)
	w.kv("master_repl_offset", off)
	w.kv("second_repl_offset", second)
	first, hist := int64(0), int64(0)
	if backlog {
		start, end := s.stream.bounds()
		first, hist = start+1, end-start
	}
	w.kv("repl_backlog_active", b01(backlog))
	w.kv("repl_backlog_size", cfg.ReplBacklogSize)
	w.kv("repl_backlog_first_byte_offset", first)
	w.kv("repl_backlog_histlen", hist)
	w.kv("fenced", b01(r.fenced.Load()))
	w.kv("shardis_epoch", r.epoch.Load())
	w.kv("repl_ack_replicas", r.ackReplicas.Load())
}

// bounds returns the retained range [start, end) of the stream.
func (s *Stream) bounds() (start, end int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	return s.start, s.end
}

// resetStats is CONFIG RESETSTAT's part.
func (r *replication) resetStats() {
	r.syncFull.Store(0)
	r.syncPartialOK.Store(0)
	r.syncPartialErr.Store(0)
}

// backlogMemory is INFO's mem_replication_backlog: the stream bytes
// retained (backlog and replicas not yet served).
func (r *replication) backlogMemory() int64 {
	start, end := r.s.stream.bounds()
	return end - start
}

// setBacklog sets the stream's backlog with every shard locked: switching
// the stream between its lock-free idle mode and retaining bytes must not
// race with an append (writers append holding their shard lock), as for
// Snapshot and StreamCursor.
func (ks *Keyspace) setBacklog(n int64) {
	for i := range ks.shards {
		ks.shards[i].mu.Lock()
	}
	ks.stream.SetBacklog(n)
	for i := len(ks.shards) - 1; i >= 0; i-- {
		ks.shards[i].mu.Unlock()
	}
}
