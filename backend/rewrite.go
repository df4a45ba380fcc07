package backend

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// rewriteState tracks AOF rewrites (INFO persistence fields).
type rewriteState struct {
	mu          sync.Mutex
	running     bool
	scheduled   bool
	cancel      context.CancelFunc
	done        chan struct{}
	started     time.Time
	lastDur     time.Duration
	lastOK      bool
	count       int
	consecutive int // consecutive failures
	ran         bool
}

func (r *rewriteState) cancelRunning() {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// startRewrite starts a background AOF rewrite (BGREWRITEAOF). The
// goroutine is owned by the aof; it ends when the rewrite completes or
// fails, or when shutdown cancels it (Server.bgWG waits for it).
func (a *aof) startRewrite(reason string, enable bool) error {
	r := &a.rw
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRewriteInProgress
	}
	ctx, cancel := context.WithCancel(a.s.bgCtx)
	r.running, r.scheduled, r.cancel, r.done = true, false, cancel, make(chan struct{})
	r.started = time.Now()
	done := r.done
	r.mu.Unlock()

	a.s.log.Info("Background append only file rewriting started", "reason", reason)
	a.s.bgWG.Add(1)
	go func() {
		defer a.s.bgWG.Done()
		err := a.rewrite(ctx, enable)
		r.mu.Lock()
		r.running, r.cancel = false, nil
		r.lastDur = time.Since(r.started)
		r.lastOK = err == nil
		r.ran = true
		if err == nil {
			r.count++
			r.consecutive = 0
		} else {
			r.consecutive++
		}
		r.mu.Unlock()
		close(done)
		cancel()
		if err != nil {
			a.s.log.Warn("Background AOF rewrite failed", "error", err)
		} else {
			a.s.lastSave.Store(time.Now().Unix())
			a.s.log.Info("Background AOF rewrite finished successfully")
		}
	}()
	return nil
}

func (a *aof) rewriteRunning() bool {
	a.rw.mu.Lock()
	defer a.rw.mu.Unlock()
	return a.rw.running
}

// rewrite writes a new AOF from a snapshot plus the stream after it, then
// atomically replaces the old file. Writers are blocked only for the final
// catch-up (bytes appended since the last catch-up round) and the rename.
//
// With AOF off, the new file is written and closed; with enable (CONFIG
// SET appendonly yes) appending to it starts at the switch.
func (a *aof) rewrite(ctx context.Context, enable bool) error {
	dir := a.s.dataDir()
	final := a.s.aofPath()
	tmp := filepath.Join(dir, fmt.Sprintf("temp-rewriteaof-bg-%d.aof", os.Getpid()))
	snap := a.s.ks.Snapshot(true)
	cursor := snap.Cursor
	transferred := false
	defer func() {
		snap.Release()
		if !transferred {
			cursor.Close()
		}
	}()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("opening the temp file for AOF rewrite: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := writeSnapshot(ctx, bw, snap); err != nil {
		return err
	}
	snap.Release()
	if err := bw.Flush(); err != nil {
		return err
	}
	// Catch up with the stream while writers run, so the final step under
	// the lock copies little — but never past what the current AOF holds:
	// the bytes after that reach the new file through the AOF's own cursor
	// after the switch (reading them here too would write them twice).
	var buf []byte
	for range 8 {
		upTo := int64(math.MaxInt64)
		if a.enabled.Load() {
			upTo = a.written.Load()
		}
		buf = cursor.ReadTo(buf[:0], upTo, 8<<20)
		if len(buf) == 0 {
			break
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		if len(buf) < 256<<10 {
			break
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	enabling := a.f == nil && enable
	// Everything the old file holds (or, when enabling, everything in the
	// stream) goes into the new one; the rest follows through the cursor.
	target := int64(math.MaxInt64)
	if a.f != nil {
		target = a.cur.Offset() - int64(len(a.pend))
	}
	if s := cursor.Offset(); a.f != nil && target < s {
		// The old file is behind the snapshot: the new file already has
		// [target, s), so the AOF goes on from s.
		if a.cur.Offset() <= s {
			a.pend = a.pend[:0]
			for a.cur.Offset() < s {
				buf = a.cur.ReadTo(buf[:0], s, 8<<20)
			}
		} else {
			a.pend = append(a.pend[:0], a.pend[s-target:]...)
		}
		target = s
		a.written.Store(s)
		storeMax(&a.synced, s)
	}
	for {
		buf = cursor.ReadTo(buf[:0], target, 8<<20)
		if len(buf) == 0 {
			break
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("renaming the rewritten AOF: %w", err)
	}
	syncDir(dir)
	ok = true
	if a.f == nil && !enable {
		f.Close()
		return nil
	}
	old := a.f
	a.f = f
	a.path = final
	a.size, a.baseSize = st.Size(), st.Size()
	if enabling {
		a.cur = cursor
		transferred = true
		a.pend = a.pend[:0]
		a.written.Store(cursor.Offset())
		a.synced.Store(cursor.Offset())
		a.enabled.Store(true)
	}
	if old != nil {
		old.Close()
	}
	return nil
}

// autoRewrite starts a rewrite when the file grew past the configured
// percentage of its base size and the minimum size.
func (a *aof) autoRewrite(size, base int64) {
	a.s.cfgMu.RLock()
	perc, minSize := a.s.cfg.AutoAOFRewritePercentage, a.s.cfg.AutoAOFRewriteMinSize
	a.s.cfgMu.RUnlock()
	if perc <= 0 || size < minSize || a.rewriteRunning() {
		return
	}
	if base <= 0 {
		base = 1
	}
	growth := (size*100)/base - 100
	if growth >= int64(perc) {
		a.s.log.Info("Starting automatic rewriting of AOF", "growth_percent", growth)
		_ = a.startRewrite("automatic", false)
	}
}

// writeSnapshot writes the snapshot as RESP commands: SET key value [PXAT
// ms] for strings, the object's own commands plus PEXPIREAT for others.
// It returns the number of keys written.
func writeSnapshot(ctx context.Context, w io.Writer, snap *Snapshot) (int, error) {
	var buf []byte
	var werr error
	n := 0
	flush := func() {
		if werr == nil && len(buf) > 0 {
			_, werr = w.Write(buf)
		}
		buf = buf[:0]
	}
	snap.Range(0, func(it snapItem) bool {
		if it.e.isObject() {
			// Collections are flushed as they are written, not built
			// whole in memory (a large one is tens of megabytes).
			it.e.rec().obj.Rewrite(it.e.key(), func(args ...[]byte) {
				buf = appendCommand(buf, args...)
				if len(buf) > 64<<10 {
					flush()
				}
			})
			if it.at >= 0 {
				buf = appendCommandStrings(buf, "PEXPIREAT", it.e.key(), strconv.FormatInt(it.at, 10))
			}
		} else {
			buf = appendSnapItem(buf, it)
		}
		n++
		if len(buf) > 64<<10 {
			flush()
		}
		if n%4096 == 0 && ctx.Err() != nil {
			werr = ctx.Err()
		}
		return werr == nil
	})
	flush()
	return n, werr
}

// appendSnapItem appends the commands that recreate one key.
func appendSnapItem(b []byte, it snapItem) []byte {
	e := it.e
	key := e.key()
	if !e.isObject() {
		if it.at >= 0 {
			b = appendArrayHeader(b, 5)
			b = appendBulkString(b, "SET")
			b = appendBulkString(b, key)
			b = appendBulkString(b, e.str())
			b = appendBulkString(b, "PXAT")
			return appendBulkInt(b, it.at)
		}
		b = appendArrayHeader(b, 3)
		b = appendBulkString(b, "SET")
		b = appendBulkString(b, key)
		return appendBulkString(b, e.str())
	}
	e.rec().obj.Rewrite(key, func(args ...[]byte) { b = appendCommand(b, args...) })
	if it.at >= 0 {
		b = appendCommandStrings(b, "PEXPIREAT", key, strconv.FormatInt(it.at, 10))
	}
	return b
}

// saveSnapshot writes a point-in-time snapshot of the keyspace to path
// (SAVE, BGSAVE, and SHUTDOWN SAVE without AOF), atomically.
func (s *Server) saveSnapshot(ctx context.Context, path string) error {
	snap := s.ks.Snapshot(false)
	defer snap.Release()
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf("temp-%d.aof", os.Getpid()))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	_, err = writeSnapshot(ctx, bw, snap)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	s.lastSave.Store(time.Now().Unix())
	s.savedChanges.Store(snap.changes)
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
