package backend

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// fsync policies (appendfsync).
const (
	fsyncNo int32 = iota
	fsyncEverysec
	fsyncAlways
)

func parseFsync(s string) int32 {
	switch s {
	case "always":
		return fsyncAlways
	case "no":
		return fsyncNo
	default:
		return fsyncEverysec
	}
}

// aof writes the stream to the append-only file.
//
// Group commit: the stream is appended to under shard locks; the bytes reach
// the file when a client finishes a batch of commands that wrote
// (Server.endBatch → sync): the first client to get mu writes everything
// appended so far — its own commands and everyone else's — and, with
// appendfsync always, fsyncs before the replies go out; the clients queued
// behind it usually find their offset already written. So the file sees
// one write (and one fsync) per group of concurrent batches, and a reply is
// never sent before its write reached the kernel (always: the disk), as in
// Redis. With everysec the fsync runs in the cron goroutine without mu.
type aof struct {
	s *Server

	mu       sync.Mutex // file writes, enabling/disabling, rewrite switch
	f        *os.File   // nil when appendonly is off
	path     string
	cur      *Cursor // stream position of the next byte for the file
	pend     []byte  // bytes taken from the stream, not yet written
	size     int64   // aof_current_size
	baseSize int64   // aof_base_size (after load or the last rewrite)

	enabled atomic.Bool
	policy  atomic.Int32
	written atomic.Int64 // stream offset known written to the file
	synced  atomic.Int64 // stream offset known fsynced
	lastErr atomic.Pointer[error]

	lastFsync    atomic.Int64 // unix ms of the last fsync
	delayedFsync atomic.Int64

	rw rewriteState
}

func newAOF(s *Server) *aof {
	a := &aof{s: s}
	return a
}

// open opens (creating if needed) the AOF at path for appending, its
// content being the stream up to the stream's current offset.
func (a *aof) open(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("backend: can't open the append-only file %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	cur, err := a.s.stream.NewCursor(a.s.stream.Offset(), false)
	if err != nil {
		f.Close()
		return err
	}
	a.mu.Lock()
	a.f, a.path, a.cur = f, path, cur
	a.size, a.baseSize = st.Size(), st.Size()
	a.written.Store(cur.Offset())
	a.synced.Store(cur.Offset())
	a.enabled.Store(true)
	a.mu.Unlock()
	return nil
}

// writeError is the last write error while it persists (MISCONF).
func (a *aof) writeError() error {
	if p := a.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// sync makes the stream up to off durable per the fsync policy: written
// to the file (everysec, no) or written and fsynced (always).
func (a *aof) sync(off int64) error {
	if !a.enabled.Load() {
		return nil
	}
	always := a.policy.Load() == fsyncAlways
	if always {
		if a.synced.Load() >= off {
			return nil
		}
	} else if a.written.Load() >= off {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	if err := a.writeLocked(); err != nil {
		return err
	}
	if always && a.synced.Load() < off {
		return a.fsyncLocked()
	}
	return nil
}

// writeLocked writes every stream byte not yet in the file.
func (a *aof) writeLocked() error {
	for {
		if len(a.pend) == 0 {
			a.pend = a.cur.ReadTo(a.pend[:0], math.MaxInt64, 4<<20)
			if len(a.pend) == 0 {
				if cap(a.pend) > 8<<20 {
					a.pend = nil
				}
				return nil
			}
		}
		n, err := a.f.Write(a.pend)
		if err != nil {
			if n > 0 {
				// Remove the partial command, as Redis does; if that
				// fails too, keep what was written and go on from there.
				if terr := a.f.Truncate(a.size); terr != nil {
					a.size += int64(n)
					a.pend = a.pend[n:]
				}
			}
			e := fmt.Errorf("%w", err)
			if a.lastErr.Swap(&e) == nil {
				a.s.log.Warn("Error writing to the AOF file", "error", err)
			}
			return err
		}
		a.size += int64(n)
		a.pend = a.pend[:0]
		a.written.Store(a.cur.Offset())
		if a.lastErr.Load() != nil {
			a.lastErr.Store(nil)
			a.s.log.Warn("AOF write error looks solved, Redis can write again.")
		}
	}
}

func (a *aof) fsyncLocked() error {
	w := a.written.Load()
	if err := a.f.Sync(); err != nil {
		e := fmt.Errorf("fsync: %w", err)
		a.lastErr.Store(&e)
		return err
	}
	a.lastFsync.Store(time.Now().UnixMilli())
	storeMax(&a.synced, w)
	return nil
}

// cron runs from the server's background goroutine: it writes what
// non-client writers (active expiry) appended, fsyncs once a second with
// everysec, retries after write errors and starts automatic rewrites.
func (a *aof) cron(now time.Time) {
	if !a.enabled.Load() {
		return
	}
	a.mu.Lock()
	if a.f == nil {
		a.mu.Unlock()
		return
	}
	_ = a.writeLocked()
	policy := a.policy.Load()
	if policy == fsyncAlways && a.synced.Load() < a.written.Load() {
		_ = a.fsyncLocked()
	}
	f := a.f
	w := a.written.Load()
	size, base := a.size, a.baseSize
	a.mu.Unlock()

	if policy == fsyncEverysec && a.synced.Load() < w && now.UnixMilli()-a.lastFsync.Load() >= 1000 {
		// Outside mu: writers go on while the disk catches up.
		if err := f.Sync(); err == nil {
			a.lastFsync.Store(now.UnixMilli())
			storeMax(&a.synced, w)
		} else if !errors.Is(err, os.ErrClosed) {
			a.s.log.Warn("Error syncing the AOF file", "error", err)
		}
	}
	a.autoRewrite(size, base)
}

// close writes and fsyncs everything and closes the file (shutdown).
func (a *aof) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.writeLocked()
	if err2 := a.f.Sync(); err == nil {
		err = err2
	}
	if err2 := a.f.Close(); err == nil {
		err = err2
	}
	a.f = nil
	a.cur.Close()
	a.cur = nil
	a.enabled.Store(false)
	return err
}

// disable turns AOF off at runtime (CONFIG SET appendonly no).
func (a *aof) disable() error {
	a.rw.cancelRunning()
	return a.close()
}

func (a *aof) fileName() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.path
}

// aofPath is the AOF's path for the current configuration.
func (s *Server) aofPath() string {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return filepath.Join(s.cfg.Dir, s.cfg.AppendFilename)
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
