package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The replica side: one goroutine per REPLICAOF (masterLink.run) connects
// to the master, does Redis' handshake — PING, AUTH (masterauth),
// REPLCONF listening-port / ip-address / capa eof capa psync2, REPLCONF
// shardis-epoch (when set), PSYNC <replid> <offset+1> — then either loads
// a full snapshot (repl_load.go) or resumes, and applies the stream. It
// acknowledges (REPLCONF ACK <offset>) as soon as it has applied what it
// read, after the AOF holds it per appendfsync, and at least every
// second. It reconnects every second after a failure until REPLICAOF
// changes.

// States of the link (ROLE's words).
const (
	linkConnect int32 = iota
	linkConnecting
	linkHandshake
	linkTransfer
	linkConnected
)

var linkStateNames = [...]string{"connect", "connecting", "handshake", "sync", "connected"}

// errStale is the handshake refused by a master with an older epoch.
var errStale = errors.New("stale master")

// masterLink follows one master.
type masterLink struct {
	r      *replication
	host   string
	port   int
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	state        atomic.Int32
	lastIO       atomic.Int64 // unix ms of the last byte from the master
	downSince    atomic.Int64 // unix seconds since the link is down (0: never up)
	readOff      atomic.Int64 // slave_read_repl_offset
	transferRead atomic.Int64
	transferSize atomic.Int64

	multi     *pendingMulti // a MULTI block being received
	unknown   map[string]bool
	wantAck   bool // REPLCONF GETACK seen
	maxBulk   int64
	localPort int
}

// pendingMulti is a transaction from the master, applied at EXEC.
type pendingMulti struct {
	raw  []byte
	cmds [][][]byte
}

func newMasterLink(r *replication, host string, port int) *masterLink {
	ctx, cancel := context.WithCancel(r.s.bgCtx)
	return &masterLink{r: r, host: host, port: port, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		unknown: map[string]bool{}, maxBulk: 1 << 40}
}

func (l *masterLink) start() {
	l.r.s.bgWG.Add(1)
	go l.run() // ends when stop cancels ctx, or at shutdown
}

// stop ends the link and waits for its goroutine.
func (l *masterLink) stop() {
	l.cancel()
	<-l.done
	if l.state.Load() == linkConnected {
		l.r.s.log.Info("Connection with master lost (REPLICAOF changed)", "master", masterAddr(l.host, l.port))
	}
}

func (l *masterLink) run() {
	s := l.r.s
	defer func() {
		l.r.linkUp.Store(false)
		close(l.done)
		s.bgWG.Done()
	}()
	mc := s.newInternalClient()
	addr := masterAddr(l.host, l.port)
	for {
		err := l.session(mc)
		if l.r.linkUp.Swap(false) {
			l.downSince.Store(time.Now().Unix())
		}
		l.state.Store(linkConnect)
		if l.ctx.Err() != nil {
			return
		}
		if errors.Is(err, errStale) {
			s.log.Warn("Not syncing from a stale master, retrying", "master", addr, "error", err)
		} else {
			s.log.Warn("Replication link to MASTER failed, retrying", "master", addr, "error", err)
		}
		select {
		case <-time.After(time.Second):
		case <-l.ctx.Done():
			return
		}
	}
}

// session is one connection to the master: handshake, sync, stream.
func (l *masterLink) session(mc *Client) error {
	r, s := l.r, l.r.s
	cfg := s.Config()
	timeout := time.Duration(cfg.ReplTimeout) * time.Second
	addr := masterAddr(l.host, l.port)
	l.state.Store(linkConnecting)
	s.log.Info("Connecting to MASTER", "master", addr)
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(l.ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: connecting to MASTER %s: %w", ErrReplication, addr, err)
	}
	defer conn.Close()
	stopClose := context.AfterFunc(l.ctx, func() { conn.Close() })
	defer stopClose()
	lr := &linkReader{l: l, conn: conn, timeout: timeout}
	l.lastIO.Store(time.Now().UnixMilli())
	l.multi = nil // a transaction cut by the last disconnection is sent again

	l.state.Store(linkHandshake)
	s.log.Info("MASTER <-> REPLICA sync started")
	reply, err := lr.call("PING")
	if err != nil {
		return err
	}
	if strings.HasPrefix(reply, "-") && !strings.HasPrefix(reply, "-NOAUTH") &&
		!strings.HasPrefix(reply, "-NOPERM") && !strings.HasPrefix(reply, "-ERR operation not permitted") {
		return fmt.Errorf("%w: error reply to PING from master: '%s'", ErrReplication, reply)
	}
	s.log.Info("Master replied to PING, replication can continue...")
	if cfg.MasterAuth != "" {
		args := []string{"AUTH", cfg.MasterAuth}
		if cfg.MasterUser != "" {
			args = []string{"AUTH", cfg.MasterUser, cfg.MasterAuth}
		}
		if reply, err = lr.call(args...); err != nil {
			return err
		}
		if strings.HasPrefix(reply, "-") {
			return fmt.Errorf("%w: unable to AUTH to MASTER: %s", ErrReplication, reply)
		}
	}
	port := cfg.ReplicaAnnouncePort
	if port == 0 {
		port = s.listenPort()
	}
	if reply, err = lr.call("REPLCONF", "listening-port", strconv.Itoa(port)); err != nil {
		return err
	} else if strings.HasPrefix(reply, "-") {
		s.log.Info("(Non critical) Master does not understand REPLCONF listening-port", "reply", reply)
	}
	if cfg.ReplicaAnnounceIP != "" {
		if reply, err = lr.call("REPLCONF", "ip-address", cfg.ReplicaAnnounceIP); err != nil {
			return err
		} else if strings.HasPrefix(reply, "-") {
			s.log.Info("(Non critical) Master does not understand REPLCONF ip-address", "reply", reply)
		}
	}
	if reply, err = lr.call("REPLCONF", "capa", "eof", "capa", "psync2"); err != nil {
		return err
	} else if strings.HasPrefix(reply, "-") {
		s.log.Info("(Non critical) Master does not understand REPLCONF capa", "reply", reply)
	}
	if e := r.epoch.Load(); e > 0 {
		if reply, err = lr.call("REPLCONF", "shardis-epoch", strconv.FormatUint(e, 10)); err != nil {
			return err
		}
		if strings.HasPrefix(reply, "-ERR stale master") {
			return fmt.Errorf("%w: %s", errStale, reply[1:])
		}
	}

	id, off := r.psyncIdentity()
	s.log.Info("Trying a partial resynchronization", "request", id+":"+strconv.FormatInt(off, 10))
	if reply, err = lr.call("PSYNC", id, strconv.FormatInt(off, 10)); err != nil {
		return err
	}
	for reply == "" { // a master preparing the sync sends newlines
		if reply, err = lr.line(); err != nil {
			return err
		}
	}
	switch {
	case strings.HasPrefix(reply, "+FULLRESYNC"):
		f := strings.Fields(reply)
		if len(f) != 3 || len(f[1]) != 40 {
			return fmt.Errorf("%w: bad FULLRESYNC reply %q", ErrReplication, reply)
		}
		moff, perr := strconv.ParseInt(f[2], 10, 64)
		if perr != nil || moff < 0 {
			return fmt.Errorf("%w: bad FULLRESYNC reply %q", ErrReplication, reply)
		}
		s.log.Info("Full resync from master", "replid", f[1], "offset", moff)
		l.state.Store(linkTransfer)
		if err := l.fullSync(lr, f[1], moff); err != nil {
			return err
		}
	case strings.HasPrefix(reply, "+CONTINUE"):
		s.log.Info("Successful partial resynchronization with master.")
		if f := strings.Fields(reply); len(f) == 2 && len(f[1]) == 40 {
			r.continued(id, f[1])
		}
		s.log.Info("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")
	case strings.HasPrefix(reply, "-NOMASTERLINK"), strings.HasPrefix(reply, "-LOADING"):
		return fmt.Errorf("%w: master is currently unable to PSYNC but should be in the future: %s", ErrReplication, reply)
	default:
		return fmt.Errorf("%w: unexpected reply to PSYNC from master: %s", ErrReplication, reply)
	}
	l.state.Store(linkConnected)
	r.linkUp.Store(true)
	l.downSince.Store(0)
	return l.stream(lr, mc)
}

// listenPort is the port the server listens on (its first listener).
func (s *Server) listenPort() int {
	for _, a := range s.Addrs() {
		if ta, ok := a.(*net.TCPAddr); ok {
			return ta.Port
		}
	}
	return s.Config().Port
}

// psyncIdentity is the replication ID and offset to ask PSYNC for: this
// server's own history (Redis' cached master, or "using myself"). A
// server that has not written since its ID changed (a restart, a
// promotion without writes) asks with the previous ID, which its new
// master is more likely to know.
func (r *replication) psyncIdentity() (string, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	off := r.s.stream.Offset()
	id := r.replid
	if r.replid2 != noReplID && off == r.secondOff-1 {
		id = r.replid2
	}
	return id, off + 1
}

// continued handles +CONTINUE <replid>. When the master's ID is the one
// asked for and this server had not used its own current ID (a restart,
// a promotion without writes), the master's ID simply becomes this
// server's. Otherwise the master has a new ID (it was promoted): it
// becomes this replica's history, the old ID staying valid up to the
// current offset, as Redis does.
func (r *replication) continued(asked, id string) {
	r.mu.Lock()
	changed := id != r.replid
	if changed {
		if id == asked && asked == r.replid2 && r.s.stream.Offset() == r.secondOff-1 {
			r.replid, r.replid2, r.secondOff = id, noReplID, -1
			changed = false
		} else {
			r.replid2 = r.replid
			r.secondOff = r.s.stream.Offset() + 1
			r.replid = id
		}
	}
	r.mu.Unlock()
	if changed {
		r.s.log.Info("Master replication ID changed", "replid", id)
		r.dropReplicas() // sub-replicas must learn the new ID
	}
	r.saveState(true)
}

// stream applies the master's stream until the connection fails.
func (l *masterLink) stream(lr *linkReader, mc *Client) error {
	s := l.r.s
	rd := &lr.rd
	var lastAck int64 = -1
	var lastAckAt time.Time
	for {
		for {
			if rd.args == 0 {
				if rd.pos >= rd.end {
					break
				}
				if rd.buf[rd.pos] != '*' {
					return fmt.Errorf("%w: unexpected byte %q in the replication stream", ErrReplication, rd.buf[rd.pos])
				}
			}
			argv, raw, st, perr := rd.next(true, l.maxBulk)
			if st == parseNeedMore {
				break
			}
			if st == parseError {
				return fmt.Errorf("%w: protocol error in the replication stream: %s", ErrReplication, perr)
			}
			if raw == nil || rd.start != lr.prev {
				return fmt.Errorf("%w: non-canonical command in the replication stream", ErrReplication)
			}
			lr.prev = rd.pos
			l.apply(mc, argv, raw)
		}
		mc.flushStats()
		off := s.stream.Offset()
		l.readOff.Store(off + int64(rd.end-lr.prev))
		now := time.Now()
		if off != lastAck || l.wantAck || now.Sub(lastAckAt) >= time.Second {
			if err := l.sendAck(lr, off); err != nil {
				return err
			}
			lastAck, lastAckAt, l.wantAck = off, now, false
		}
		err := lr.fill(now.Add(time.Second))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if idle := time.Since(time.UnixMilli(l.lastIO.Load())); idle > lr.timeout {
				return fmt.Errorf("%w: MASTER timeout: no data nor PING received for %s", ErrReplication, idle.Round(time.Second))
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: connection with master lost: %w", ErrReplication, err)
		}
	}
}

// sendAck acknowledges off once the AOF holds it (per appendfsync).
func (l *masterLink) sendAck(lr *linkReader, off int64) error {
	if err := l.r.s.aof.sync(off); err != nil {
		l.r.s.log.Warn("Acknowledging data not written to the AOF", "error", err)
	}
	b := appendCommandStrings(nil, "REPLCONF", "ACK", strconv.FormatInt(off, 10))
	_ = lr.conn.SetWriteDeadline(time.Now().Add(lr.timeout))
	if _, err := lr.conn.Write(b); err != nil {
		return fmt.Errorf("%w: sending REPLCONF ACK: %w", ErrReplication, err)
	}
	return nil
}

// apply runs one command from the master. Its bytes go to this server's
// stream as received (Tx.verbatim), under the shard locks of the keys it
// changes, so offsets match the master's and snapshots stay consistent.
func (l *masterLink) apply(mc *Client, argv [][]byte, raw []byte) {
	s := l.r.s
	if pm := l.multi; pm != nil {
		pm.raw = append(pm.raw, raw...)
		if !eqFold(argv[0], "exec") {
			cp := make([][]byte, len(argv))
			for i, a := range argv {
				cp[i] = append([]byte(nil), a...)
			}
			pm.cmds = append(pm.cmds, cp)
			return
		}
		l.multi = nil
		mc.tx.verbatim = pm.raw
		mc.atomically(true, nil, func() {
			for _, a := range pm.cmds {
				l.dispatch(mc, a)
			}
		})
		if mc.tx.verbatim != nil {
			s.stream.Append(mc.tx.verbatim)
			mc.tx.verbatim = nil
		}
		return
	}
	switch {
	case eqFold(argv[0], "multi"):
		l.multi = &pendingMulti{raw: append([]byte(nil), raw...)}
		return
	case eqFold(argv[0], "ping"):
	case eqFold(argv[0], "replconf"):
		if len(argv) >= 2 && eqFold(argv[1], "getack") {
			l.wantAck = true
		}
	case eqFold(argv[0], "select"):
		if len(argv) != 2 || string(argv[1]) != "0" {
			l.warnOnce("select", "The master selects a database other than 0: its writes there are applied to database 0")
		}
	default:
		mc.tx.verbatim = raw
		l.dispatch(mc, argv)
		if mc.tx.verbatim == nil {
			return // appended when the command released its locks
		}
		mc.tx.verbatim = nil // it touched no key, or was skipped
	}
	s.stream.Append(raw)
}

// dispatch applies one command through the command table.
func (l *masterLink) dispatch(mc *Client, argv [][]byte) {
	s := l.r.s
	if s.cmds.lookup(argv[0]) == nil {
		l.warnOnce(strings.ToLower(string(argv[0])), "The master sent a command shardis-server does not know; it is skipped: "+clip(string(argv[0]), 64))
		return
	}
	mc.raw = nil
	s.dispatch(mc, argv)
	_ = mc.w.Flush()
}

func (l *masterLink) warnOnce(key, msg string) {
	if !l.unknown[key] {
		l.unknown[key] = true
		l.r.s.log.Warn(msg)
	}
}

// linkReader reads the master's replies, payload and stream into a
// request reader's buffer. prev is the end of the last byte consumed:
// every byte must belong to a command (no skipped bytes), or the offsets
// would drift.
type linkReader struct {
	l       *masterLink
	conn    net.Conn
	rd      reader
	prev    int
	timeout time.Duration
}

var errUnexpectedBytes = fmt.Errorf("%w: unexpected bytes in the replication stream", ErrReplication)

// fill reads more bytes (at least one) before deadline.
func (lr *linkReader) fill(deadline time.Time) error {
	rd := &lr.rd
	if rd.args == 0 {
		if rd.pos != lr.prev {
			return errUnexpectedBytes
		}
		rd.start = rd.pos
	} else if rd.start != lr.prev {
		return errUnexpectedBytes
	}
	if !rd.room() {
		return fmt.Errorf("%w: a command from the master exceeds the query buffer limit", ErrReplication)
	}
	lr.prev = rd.start
	_ = lr.conn.SetReadDeadline(deadline)
	n, err := lr.conn.Read(rd.buf[rd.end:])
	rd.end += n
	if n > 0 {
		lr.l.lastIO.Store(time.Now().UnixMilli())
	}
	if err != nil && n == 0 {
		return err
	}
	return nil
}

// line reads one reply line (without CRLF).
func (lr *linkReader) line() (string, error) {
	rd := &lr.rd
	for {
		if rd.buf != nil {
			if i := bytes.IndexByte(rd.buf[rd.pos:rd.end], '\n'); i >= 0 {
				ln := string(rd.buf[rd.pos : rd.pos+i])
				lr.consume(i + 1)
				return strings.TrimSuffix(ln, "\r"), nil
			}
			if rd.end-rd.pos > protoInlineMaxSize {
				return "", fmt.Errorf("%w: reply line too long", ErrReplication)
			}
		}
		if err := lr.fill(time.Now().Add(lr.timeout)); err != nil {
			return "", fmt.Errorf("%w: reading from master: %w", ErrReplication, err)
		}
	}
}

// consume drops n bytes at the read position.
func (lr *linkReader) consume(n int) {
	rd := &lr.rd
	rd.pos += n
	rd.start = rd.pos
	lr.prev = rd.pos
}

// need makes n bytes available at the read position.
func (lr *linkReader) need(n int) error {
	for lr.rd.buf == nil || lr.rd.end-lr.rd.pos < n {
		if err := lr.fill(time.Now().Add(lr.timeout)); err != nil {
			return fmt.Errorf("%w: reading from master: %w", ErrReplication, err)
		}
	}
	return nil
}

// call sends one command and reads its one-line reply.
func (lr *linkReader) call(args ...string) (string, error) {
	_ = lr.conn.SetWriteDeadline(time.Now().Add(lr.timeout))
	if _, err := lr.conn.Write(appendCommandStrings(nil, args...)); err != nil {
		return "", fmt.Errorf("%w: sending %s to master: %w", ErrReplication, args[0], err)
	}
	return lr.line()
}
