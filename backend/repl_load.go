package backend

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Full resynchronisation on the replica. The payload is
// $EOF:<40-char mark>\r\n (or $<length>\r\n), then RESP commands
// recreating the data set as of the offset of +FULLRESYNC, then the mark.
// It is loaded into a private keyspace (a shadow server sharing nothing
// with this one) while clients keep reading the old data set
// (replica-serve-stale-data; Redis' repl-diskless-load swapdb); then,
// with every shard locked for a moment, the shards' tries are swapped in
// and the stream restarts at the master's offset. The AOF is rewritten
// from the new data set (Redis restarts its AOF after a sync the same
// way). A Redis master sends an RDB file, which shardis-server cannot
// load: the sync fails with ErrRDBPayload and is retried.

// ErrRDBPayload is a full resync payload in Redis' RDB format.
var ErrRDBPayload = errors.New("backend: the master sent an RDB payload: shardis-server replicates only from shardis-server")

// fullSync reads and loads the payload, then swaps it in.
func (l *masterLink) fullSync(lr *linkReader, replid string, off int64) error {
	s := l.r.s
	start := time.Now()
	var hdr string
	for {
		var err error
		if hdr, err = lr.line(); err != nil {
			return err
		}
		if hdr != "" { // empty lines are the master's keepalives
			break
		}
	}
	if hdr[0] == '-' {
		return fmt.Errorf("%w: master aborted the sync: %s", ErrReplication, hdr)
	}
	var mark []byte
	size := int64(-1)
	switch {
	case strings.HasPrefix(hdr, "$EOF:"):
		if mark = []byte(hdr[5:]); len(mark) != 40 {
			return fmt.Errorf("%w: bad EOF mark in %q", ErrReplication, hdr)
		}
		s.log.Info("MASTER <-> REPLICA sync: receiving streamed snapshot from master with EOF to memory")
	case strings.HasPrefix(hdr, "$"):
		n, err := strconv.ParseInt(hdr[1:], 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: bad bulk length in %q", ErrReplication, hdr)
		}
		size = n
		l.transferSize.Store(n)
		s.log.Info("MASTER <-> REPLICA sync: receiving snapshot from master to memory", "bytes", n)
	default:
		return fmt.Errorf("%w: bad protocol from MASTER, the first byte is not '$' (we received '%s')", ErrReplication, clip(hdr, 64))
	}
	l.transferRead.Store(0)

	shadow, err := s.newShadow()
	if err != nil {
		return err
	}
	sc := shadow.newInternalClient()
	rd := &lr.rd
	var read int64
	keys := 0
	checked := false
	for {
		if size >= 0 && read == size {
			break
		}
		if !checked {
			checked = true
			n := 5
			if size >= 0 && size < 5 {
				n = int(size)
			}
			if err := lr.need(n); err != nil {
				return err
			}
			if bytes.HasPrefix(rd.buf[rd.pos:rd.end], []byte("REDIS")) {
				return ErrRDBPayload
			}
		}
		if mark != nil && rd.args == 0 {
			if err := lr.need(1); err != nil {
				return err
			}
			if rd.buf[rd.pos] != '*' {
				if err := lr.need(40); err != nil {
					return err
				}
				if !bytes.Equal(rd.buf[rd.pos:rd.pos+40], mark) {
					return fmt.Errorf("%w: bad byte %q in the snapshot payload", ErrReplication, rd.buf[rd.pos])
				}
				lr.consume(40)
				break
			}
		}
		argv, raw, st, perr := rd.next(true, l.maxBulk)
		switch st {
		case parseNeedMore:
			if err := lr.fill(time.Now().Add(lr.timeout)); err != nil {
				return fmt.Errorf("%w: reading the snapshot from master: %w", ErrReplication, err)
			}
			continue
		case parseError:
			return fmt.Errorf("%w: bad snapshot payload: %s", ErrReplication, perr)
		}
		if raw == nil || rd.start != lr.prev {
			return fmt.Errorf("%w: non-canonical command in the snapshot payload", ErrReplication)
		}
		read += int64(rd.pos - lr.prev)
		lr.prev = rd.pos
		if size >= 0 && read > size {
			return fmt.Errorf("%w: the snapshot payload overruns its length", ErrReplication)
		}
		l.transferRead.Store(read)
		shadow.dispatch(sc, argv)
		_ = sc.w.Flush()
		keys++
		if keys%4096 == 0 {
			sc.flushStats()
			if err := l.ctx.Err(); err != nil {
				return err
			}
		}
	}
	s.log.Info("MASTER <-> REPLICA sync: snapshot received", "bytes", read, "commands", keys,
		"seconds", fmt.Sprintf("%.3f", time.Since(start).Seconds()))
	if err := l.r.swapIn(shadow, replid, off); err != nil {
		return err
	}
	s.log.Info("MASTER <-> REPLICA sync: Finished with success", "keys", s.ks.Len(), "offset", off)
	return nil
}

// newShadow returns a server that is never served: a private keyspace
// and command table to load a payload into.
func (s *Server) newShadow() (*Server, error) {
	cfg := s.Config()
	cfg.AppendOnly = false
	cfg.ReplicaOf = ""
	cfg.ConfigFile = ""
	sh, err := New(cfg)
	if err != nil {
		return nil, err
	}
	sh.log = s.log
	return sh, nil
}

// swapIn replaces the keyspace's content with shadow's and restarts the
// stream at off under the master's replid.
func (r *replication) swapIn(shadow *Server, replid string, off int64) error {
	s := r.s
	aofOn := s.aof.enabled.Load()
	s.aof.rw.cancelRunning()
	if aofOn {
		if err := s.aof.disable(); err != nil {
			s.log.Warn("Error closing the AOF before loading the master's data", "error", err)
		}
	}
	r.dropReplicas() // their cursors must go: the stream restarts
	ks := s.ks
	tx := &Tx{}
	tx.reset(ks, time.Now().UnixMilli())
	tx.lockAll()
	st := ks.stream
	st.mu.Lock()
	if len(st.cursors) > 0 {
		st.mu.Unlock()
		tx.unlock()
		return fmt.Errorf("%w: the write stream still has readers; retrying the sync", ErrReplication)
	}
	for i := range ks.shards {
		sh := &ks.shards[i]
		from := &shadow.ks.shards[i]
		if sh.hooks != nil {
			tx.shardFlushed(sh) // WATCHed keys are touched
		}
		sh.keys, sh.ttls = from.keys, from.ttls
		sh.expCursor = 0
	}
	st.rebaseLocked(off)
	st.mu.Unlock()
	tx.unlock()

	r.mu.Lock()
	r.replid, r.replid2, r.secondOff = replid, noReplID, -1
	r.mu.Unlock()
	if s.Config().AppendOnly {
		if err := s.aof.startRewrite("AOF after a full resynchronization", true); err != nil &&
			!errors.Is(err, ErrRewriteInProgress) {
			s.log.Warn("Failed enabling the AOF after the master synchronization, retrying", "error", err)
		}
	}
	return nil
}

// rebaseLocked empties the stream and moves it to offset off (a replica's
// full resynchronisation, or the offset restored at start). There must be
// no cursor.
func (s *Stream) rebaseLocked(off int64) {
	s.idle.Store(0)
	for i := range s.chunks {
		s.chunks[i] = nil
	}
	s.chunks = s.chunks[:0]
	s.start, s.end = off, off
}
