package backend

import (
	"bufio"
	"context"
	"io"
	"math"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// The master side: a replica connects as a client, sends REPLCONF
// (listening-port, ip-address, capa, shardis-epoch) and PSYNC. PSYNC
// answers +CONTINUE <replid> when the stream still holds the offset asked
// for and the replication ID matches (replid, or replid2 up to
// second_repl_offset), else +FULLRESYNC <replid> <offset> followed by a
// snapshot as of that offset — $EOF:<40-byte mark>\r\n, the RESP
// commands that recreate every key (the AOF rewrite's format,
// Object.Rewrite for other types), the mark. Either way a goroutine then
// feeds the replica the stream from that offset (replicaConn.serve),
// while the client's own goroutine reads its REPLCONF ACKs.

// States of a replica (INFO's state=).
const (
	replicaWaitBgsave int32 = iota // unused here: the snapshot is immediate
	replicaSendBulk                // sending the snapshot, or waiting for the first ACK after it
	replicaOnline
)

var replicaStateNames = [...]string{"wait_bgsave", "send_bulk", "online"}

// Replicas that fall this far behind are disconnected (Redis' default
// client-output-buffer-limit for replicas: 256mb hard, 64mb for 60 s).
const (
	replicaHardLimit = 256 << 20
	replicaSoftLimit = 64 << 20
	replicaSoftTime  = 60 * time.Second
)

// replicaConn is one replica attached to this server.
type replicaConn struct {
	r    *replication
	c    *Client
	ip   string
	port int

	state   atomic.Int32
	ackOff  atomic.Int64
	ackTime atomic.Int64 // unix ms of the last ACK
	sentOff atomic.Int64 // stream offset sent so far
	// bulkDone: the snapshot was sent; the next ACK puts the replica online.
	// earlyAck: an ACK came before the sender marked bulkDone (the replica
	// read the whole payload while the sender was still finishing its
	// write): the sender puts the replica online itself (goOnline).
	bulkDone atomic.Bool
	earlyAck atomic.Bool
	softAt   time.Time // since when over the soft limit (cron only)

	snap   *Snapshot // full resync: the snapshot to send first
	cursor *Cursor
	mark   string
	quit   chan struct{} // closed by stop
	done   chan struct{} // closed when serve returns
}

// cmdReplconf is REPLCONF: the handshake options and the replicas' ACKs.
func cmdReplconf(c *Client, args [][]byte) {
	if len(args)%2 == 0 {
		c.err(errSyntax)
		return
	}
	r := c.s.repl
	for i := 1; i < len(args); i += 2 {
		opt, v := args[i], args[i+1]
		switch {
		case eqFold(opt, "listening-port"):
			n, ok := parseInt(v)
			if !ok {
				c.err(errNotInteger)
				return
			}
			c.repl.port = int(n)
		case eqFold(opt, "ip-address"):
			c.repl.ip = string(v)
		case eqFold(opt, "capa"):
			switch {
			case eqFold(v, "eof"):
				c.repl.capaEOF = true
			case eqFold(v, "psync2"):
				c.repl.capaPSync2 = true
			}
		case eqFold(opt, "ack"):
			// From a replica: no reply (Redis).
			if rc := c.repl.replica; rc != nil {
				if n, ok := parseInt(v); ok {
					rc.acked(n)
				}
			}
			return
		case eqFold(opt, "getack"):
			// From our master, in the stream: the link answers it.
			return
		case eqFold(opt, "shardis-epoch"):
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				c.err(errNotInteger)
				return
			}
			if mine := r.epoch.Load(); mine < n {
				c.err(errStaleMaster(mine, n))
				r.s.log.Warn("Refusing a replica with a newer epoch", "replica", c.addr, "its_epoch", n, "shardis_epoch", mine)
				return
			}
		default:
			c.err("ERR Unrecognized REPLCONF option: " + cstr(opt))
			return
		}
	}
	c.ok()
}

// cmdSync is the old SYNC: a full resync without the +FULLRESYNC line.
func cmdSync(c *Client, _ [][]byte) { c.s.repl.syncCommand(c, "", 0, false) }

// cmdPSync is PSYNC <replid> <offset>.
func cmdPSync(c *Client, args [][]byte) {
	off, ok := parseInt(args[2])
	if !ok {
		c.err(errNotInteger)
		return
	}
	c.s.repl.syncCommand(c, string(args[1]), off, true)
}

// syncCommand is Redis' syncCommand: partial resync when possible, else
// full. psyncOff is the first byte the replica wants (Redis numbering:
// our stream offset + 1).
func (r *replication) syncCommand(c *Client, replid string, psyncOff int64, psync bool) {
	s := r.s
	if c.repl.replica != nil || c.internal {
		return
	}
	if r.isReplica.Load() && !r.linkUp.Load() {
		c.err("NOMASTERLINK Can't SYNC while not connected with my master")
		return
	}
	ip := c.repl.ip
	if ip == "" {
		ip, _, _ = net.SplitHostPort(c.addr)
	}
	name := net.JoinHostPort(ip, strconv.Itoa(c.repl.port))
	s.log.Info("Replica asks for synchronization", "replica", name)
	rc := &replicaConn{r: r, c: c, ip: ip, port: c.repl.port, quit: make(chan struct{}), done: make(chan struct{})}

	if psync {
		if cur, ok := r.tryPartial(c, name, replid, psyncOff); ok {
			rc.cursor = cur
			rc.state.Store(replicaOnline)
			rc.ackOff.Store(psyncOff - 1)
			rc.ackTime.Store(time.Now().UnixMilli())
			r.syncPartialOK.Add(1)
			r.attach(c, rc)
			return
		}
		if replid != "?" {
			r.syncPartialErr.Add(1)
		}
	}

	// Full resynchronisation: a snapshot, then the stream after it.
	r.mu.Lock()
	r.ensureBacklogLocked(!r.isReplica.Load())
	snap := s.ks.Snapshot(true)
	id := r.replid
	r.mu.Unlock()
	snap.Cursor.enableNotify()
	rc.snap, rc.cursor = snap, snap.Cursor
	rc.mark = newReplID()
	rc.state.Store(replicaSendBulk)
	r.syncFull.Add(1)
	if psync {
		c.w.WriteString("FULLRESYNC " + id + " " + strconv.FormatInt(snap.Offset, 10))
	}
	s.log.Info("Starting full resynchronization with a snapshot", "replica", name, "replid", id, "offset", snap.Offset, "keys", snap.Len())
	r.attach(c, rc)
}

// tryPartial is masterTryPartialResynchronization: it returns a cursor at
// the replica's offset and writes +CONTINUE when the replica can resume.
func (r *replication) tryPartial(c *Client, name, replid string, psyncOff int64) (*Cursor, bool) {
	s := r.s
	r.mu.Lock()
	defer r.mu.Unlock()
	if replid != r.replid && (replid != r.replid2 || psyncOff > r.secondOff) {
		if replid != "?" {
			if replid != r.replid2 {
				s.log.Info("Partial resynchronization not accepted: Replication ID mismatch", "replica", name,
					"asked", replid, "replid", r.replid, "replid2", r.replid2)
			} else {
				s.log.Info("Partial resynchronization not accepted: requested offset for the second ID is past its end",
					"replica", name, "offset", psyncOff, "second_repl_offset", r.secondOff)
			}
		} else {
			s.log.Info("Full resync requested by replica", "replica", name)
		}
		return nil, false
	}
	if !r.backlog {
		s.log.Info("Unable to partial resync with replica for lack of backlog", "replica", name, "offset", psyncOff)
		return nil, false
	}
	cur, err := s.stream.NewCursor(psyncOff-1, true)
	if err != nil {
		s.log.Info("Unable to partial resync with replica for lack of backlog", "replica", name, "offset", psyncOff)
		return nil, false
	}
	if c.repl.capaPSync2 {
		c.w.WriteString("CONTINUE " + r.replid)
	} else {
		c.w.WriteString("CONTINUE")
	}
	s.log.Info("Partial resynchronization request accepted", "replica", name, "offset", psyncOff,
		"backlog_bytes", s.stream.Offset()-(psyncOff-1))
	return cur, true
}

// attach turns c into a replica connection: the PSYNC reply goes out now,
// later replies to it are discarded (it sends only ACKs), and a goroutine
// feeds it.
func (r *replication) attach(c *Client, rc *replicaConn) {
	s := r.s
	c.flushBeforeBlocking() // the +FULLRESYNC/+CONTINUE line, before the payload
	c.w.w = io.Discard
	c.repl.replica = rc
	r.mu.Lock()
	r.replicas = append(r.replicas, rc)
	r.mu.Unlock()
	rc.sentOff.Store(rc.cursor.Offset())
	s.bgWG.Add(1)
	go rc.serve() // ends when the connection fails, stop, or shutdown
	r.refreshGood(time.Now())
	r.refreshAcks()
}

// enableNotify makes a cursor created without notify signal appends.
func (c *Cursor) enableNotify() {
	c.s.mu.Lock()
	if c.notify == nil {
		c.notify = make(chan struct{}, 1)
	}
	c.s.mu.Unlock()
}

// serve writes the snapshot (full resync) and then the stream to the
// replica. Owned by the replication; it ends on a write error, stop, or
// shutdown, and then closes the connection (its client goroutine ends).
func (rc *replicaConn) serve() {
	r := rc.r
	s := r.s
	defer func() {
		if rc.snap != nil {
			rc.snap.Release()
		}
		rc.cursor.Close()
		rc.c.kill()
		r.detach(rc)
		close(rc.done)
		s.bgWG.Done()
	}()
	nc := rc.c.nc
	timeout := func() time.Duration { return time.Duration(s.Config().ReplTimeout) * time.Second }
	if rc.snap != nil {
		ctx, cancel := context.WithCancel(s.bgCtx)
		go func() { // ends with the snapshot phase
			select {
			case <-rc.quit:
				cancel()
				rc.c.kill() // unblocks a write to a stuck replica
			case <-ctx.Done():
			}
		}()
		err := rc.sendSnapshot(ctx, nc, timeout())
		cancel()
		rc.snap.Release()
		rc.snap = nil
		if err != nil {
			s.log.Warn("Full resynchronization with replica failed", "replica", rc.name(), "error", err)
			return
		}
		rc.bulkDone.Store(true)
		if rc.earlyAck.Load() {
			rc.goOnline()
		}
		s.log.Info("Synchronization with replica succeeded, waiting for its ACK", "replica", rc.name())
	}
	var buf []byte
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		buf = rc.cursor.ReadTo(buf[:0], math.MaxInt64, 1<<20)
		if len(buf) == 0 {
			if cap(buf) > 4<<20 {
				buf = nil
			}
			select {
			case <-rc.cursor.C():
			case <-tick.C:
			case <-rc.quit:
				return
			case <-s.bgCtx.Done():
				return
			}
			continue
		}
		_ = nc.SetWriteDeadline(time.Now().Add(timeout()))
		if _, err := nc.Write(buf); err != nil {
			s.log.Info("Connection with replica lost", "replica", rc.name(), "error", err)
			return
		}
		rc.sentOff.Store(rc.cursor.Offset())
	}
}

// sendSnapshot writes the full resync payload.
func (rc *replicaConn) sendSnapshot(ctx context.Context, nc net.Conn, timeout time.Duration) error {
	dw := &deadlineWriter{nc: nc, timeout: timeout}
	bw := bufio.NewWriterSize(dw, 256<<10)
	if _, err := bw.WriteString("$EOF:" + rc.mark + "\r\n"); err != nil {
		return err
	}
	if _, err := writeSnapshot(ctx, bw, rc.snap); err != nil {
		return err
	}
	if _, err := bw.WriteString(rc.mark); err != nil {
		return err
	}
	return bw.Flush()
}

// deadlineWriter sets a write deadline before each write.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	_ = w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.nc.Write(b)
}

func (rc *replicaConn) name() string { return net.JoinHostPort(rc.ip, strconv.Itoa(rc.port)) }

// acked records REPLCONF ACK <off> (the replica's client goroutine).
func (rc *replicaConn) acked(off int64) {
	rc.ackTime.Store(time.Now().UnixMilli())
	if off > rc.ackOff.Load() {
		rc.ackOff.Store(off)
	}
	if rc.state.Load() == replicaSendBulk {
		// The first ACK after the snapshot: the replica loaded it. Seen
		// before the sender marked the snapshot sent, it leaves that to
		// the sender (bulkDone and earlyAck are stored, then the other
		// loaded, in opposite orders: one of the two sees the other's).
		if rc.bulkDone.Load() {
			rc.goOnline()
		} else {
			rc.earlyAck.Store(true)
			if rc.bulkDone.Load() {
				rc.goOnline()
			}
		}
	}
	rc.r.refreshAcks()
}

// goOnline moves a replica that loaded its snapshot to online (once).
func (rc *replicaConn) goOnline() {
	if rc.state.CompareAndSwap(replicaSendBulk, replicaOnline) {
		rc.r.refreshGood(time.Now())
	}
}

// stop asks the sender to end (idempotent).
func (rc *replicaConn) stop() {
	select {
	case <-rc.quit:
	default:
		close(rc.quit)
	}
}

// detach removes rc from the replicas.
func (r *replication) detach(rc *replicaConn) {
	r.mu.Lock()
	for i, x := range r.replicas {
		if x == rc {
			r.replicas = append(r.replicas[:i], r.replicas[i+1:]...)
			break
		}
	}
	if len(r.replicas) == 0 {
		r.noReplicas = time.Now()
	}
	r.mu.Unlock()
	r.refreshGood(time.Now())
	r.refreshAcks()
}

// clientGone is called when a client's connection ends: a replica's
// sender stops.
func (r *replication) clientGone(c *Client) {
	if rc := c.repl.replica; rc != nil {
		rc.stop()
	}
}

// dropReplicas disconnects every replica and waits for their senders
// (full resync of this server, or a new replication ID).
func (r *replication) dropReplicas() {
	r.mu.Lock()
	reps := append([]*replicaConn(nil), r.replicas...)
	r.mu.Unlock()
	for _, rc := range reps {
		rc.stop()
	}
	for _, rc := range reps {
		select {
		case <-rc.done:
		case <-time.After(10 * time.Second):
			r.s.log.Warn("A replica's sender did not stop", "replica", rc.name())
		}
	}
}

// refreshGood counts the good replicas (online, acknowledged within
// min-replicas-max-lag seconds), as Redis' refreshGoodSlavesCount.
func (r *replication) refreshGood(now time.Time) {
	lag := r.minLag.Load()
	r.mu.Lock()
	n := int64(0)
	for _, rc := range r.replicas {
		if rc.state.Load() == replicaOnline && now.Unix()-rc.ackTime.Load()/1000 <= lag {
			n++
		}
	}
	r.mu.Unlock()
	r.goodReplicas.Store(n)
}

// cronMaster: replica timeouts and output limits, PINGs into the stream,
// the backlog TTL.
func (r *replication) cronMaster(now time.Time) {
	s := r.s
	cfg := s.Config()
	end := s.stream.Offset()
	r.mu.Lock()
	reps := append([]*replicaConn(nil), r.replicas...)
	isMaster := !r.isReplica.Load()
	ping := isMaster && len(reps) > 0 && now.Sub(r.lastPing) >= time.Duration(cfg.ReplPingReplicaPeriod)*time.Second
	if ping {
		r.lastPing = now
	}
	ttlOver := isMaster && r.backlog && len(reps) == 0 && cfg.ReplBacklogTTL > 0 &&
		now.Sub(r.noReplicas) > time.Duration(cfg.ReplBacklogTTL)*time.Second
	if ttlOver {
		r.backlog = false
		s.ks.setBacklog(0)
		// Redis changes the replication ID when it frees the backlog.
		r.replid, r.replid2, r.secondOff = newReplID(), noReplID, -1
	}
	r.mu.Unlock()
	if ttlOver {
		s.log.Info("Replication backlog freed after its TTL without replicas", "seconds", cfg.ReplBacklogTTL)
	}
	for _, rc := range reps {
		lag := end - rc.sentOff.Load()
		switch {
		case lag > replicaHardLimit:
			s.log.Warn("Disconnecting a replica over the output limit", "replica", rc.name(), "behind_bytes", lag)
			rc.stop()
		case lag > replicaSoftLimit:
			if rc.softAt.IsZero() {
				rc.softAt = now
			} else if now.Sub(rc.softAt) > replicaSoftTime {
				s.log.Warn("Disconnecting a replica over the soft output limit", "replica", rc.name(), "behind_bytes", lag)
				rc.stop()
			}
		default:
			rc.softAt = time.Time{}
		}
		if rc.state.Load() == replicaOnline && now.UnixMilli()-rc.ackTime.Load() > int64(cfg.ReplTimeout)*1000 {
			s.log.Warn("Disconnecting timedout replica", "replica", rc.name())
			rc.stop()
		}
	}
	// PINGs keep replicas' links alive; not while writes are paused or
	// fenced, so that the offset stays put for a failover.
	if ping && !r.pause.writesPaused() && !r.fenced.Load() {
		s.stream.Append(pingCommand)
	}
}

var pingCommand = []byte("*1\r\n$4\r\nPING\r\n")

// shutdown is the graceful shutdown's wait for the replicas (Redis'
// shutdown-timeout): writes are paused, and the online replicas get up to
// timeout to acknowledge everything, so a clean stop loses nothing that
// was replicated asynchronously. Writes waiting for a pause are then
// refused (the server stops).
func (r *replication) shutdown(timeout time.Duration) {
	defer close(r.stopping)
	if r.isReplica.Load() {
		return
	}
	r.mu.Lock()
	n := 0
	for _, rc := range r.replicas {
		if rc.state.Load() == replicaOnline {
			n++
		}
	}
	r.mu.Unlock()
	if n == 0 {
		return
	}
	s := r.s
	r.pauseClients(timeout, false)
	off := s.stream.Offset()
	s.log.Info("Waiting for replicas before shutting down", "replicas", n, "offset", off)
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		ch := r.acks.wait()
		got := r.countAcked(off)
		if got >= n {
			s.log.Info("The replicas are in sync", "replicas", got)
			return
		}
		select {
		case <-ch:
		case <-t.C:
			s.log.Warn("Shutting down before every replica is in sync", "in_sync", r.countAcked(off), "replicas", n)
			return
		}
	}
}
