package backend

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/cespare/xxhash/v2"
)

// The replication state file lets a restarted server resume replication
// with a partial resync. The AOF is a prefix of the write stream after a
// point (the end of its rewritten base): every byte appended to it is a
// stream byte. So one pair (AOF size F0, stream offset O0) sampled while
// both are known, with the AOF's identity (inode, and a hash of the 4 KB
// before F0 in case an inode is reused), gives the offset at the end of
// the file after any restart: O0 + (size - F0). The state is written
// (atomically: temp file, fsync, rename) whenever the replication IDs
// change — synchronously, before the change can be followed by writes —
// and when the AOF file changes (a rewrite), from the cron.
//
// At start, when the file matches the AOF that was loaded, the stream
// resumes at that offset with a backlog, the recorded ID becomes replid2
// (valid up to that offset) and a new replid starts, as Redis does for a
// master restarted from an RDB with replication info: replicas at or
// before the offset can resume from it; writes after the restart are a
// new history. A server told to follow a master asks PSYNC with the
// recorded ID when it has not written since (psyncIdentity). Without AOF
// there is no state: a restart resynchronises fully.

// stateIdentity is what a state file records, to write it only on change.
type stateIdentity struct {
	replid, replid2 string
	secondOff       int64
	inode           uint64
}

type replStateFile struct {
	replid, replid2 string
	secondOff       int64
	inode           uint64
	aofSize, offset int64
	tailSum         uint64
}

const stateTail = 4096

func (r *replication) statePath() string {
	cfg := r.s.Config()
	return filepath.Join(cfg.Dir, cfg.AppendFilename+".repl")
}

// saveState writes the state file if the AOF is on and the identity
// changed (or force).
func (r *replication) saveState(force bool) {
	s := r.s
	a := s.aof
	if !a.enabled.Load() {
		return
	}
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	r.mu.Lock()
	id := stateIdentity{replid: r.replid, replid2: r.replid2, secondOff: r.secondOff}
	last := r.stateKey
	r.mu.Unlock()
	if !force && id.replid == last.replid && id.replid2 == last.replid2 && id.secondOff == last.secondOff {
		if ino, ok := a.inode(); !ok || ino == last.inode {
			return
		}
	}
	a.mu.Lock()
	if a.f == nil || len(a.pend) > 0 {
		a.mu.Unlock()
		return
	}
	size, off, path := a.size, a.written.Load(), a.path
	st, err := a.f.Stat()
	a.mu.Unlock()
	if err != nil {
		return
	}
	id.inode = inodeOf(st)
	sum, ok := tailSum(path, size, id.inode)
	if !ok {
		return
	}
	f := replStateFile{replid: id.replid, replid2: id.replid2, secondOff: id.secondOff, inode: id.inode,
		aofSize: size, offset: off, tailSum: sum}
	if err := writeStateFile(r.statePath(), f); err != nil {
		s.log.Warn("Can't write the replication state file", "error", err)
		return
	}
	r.mu.Lock()
	r.stateKey = id
	r.mu.Unlock()
}

// inode returns the AOF's inode.
func (a *aof) inode() (uint64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return 0, false
	}
	st, err := a.f.Stat()
	if err != nil {
		return 0, false
	}
	return inodeOf(st), true
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// tailSum hashes the stateTail bytes before size in the file at path, if
// it still is the file with inode ino.
func tailSum(path string, size int64, ino uint64) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || inodeOf(st) != ino || st.Size() < size {
		return 0, false
	}
	from := max(0, size-stateTail)
	b := make([]byte, size-from)
	if _, err := f.ReadAt(b, from); err != nil && err != io.EOF {
		return 0, false
	}
	return xxhash.Sum64(b), true
}

func writeStateFile(path string, f replStateFile) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# shardis-server replication state: the AOF's stream offset and replication IDs\n")
	fmt.Fprintf(&b, "replid %s\nreplid2 %s\nsecond_repl_offset %d\naof_inode %d\naof_size %d\nrepl_offset %d\naof_tail_xxhash %d\n",
		f.replid, f.replid2, f.secondOff, f.inode, f.aofSize, f.offset, f.tailSum)
	tmp := path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = fh.Write(b.Bytes())
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
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
	return nil
}

func readStateFile(path string) (replStateFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return replStateFile{}, err
	}
	defer fh.Close()
	f, err := parseStateFile(fh)
	if err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// parseStateFile reads "key value" lines; all seven keys are required.
func parseStateFile(r io.Reader) (replStateFile, error) {
	var f replStateFile
	seen := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		var perr error
		switch k {
		case "replid":
			f.replid = v
		case "replid2":
			f.replid2 = v
		case "second_repl_offset":
			f.secondOff, perr = strconv.ParseInt(v, 10, 64)
		case "aof_inode":
			f.inode, perr = strconv.ParseUint(v, 10, 64)
		case "aof_size":
			f.aofSize, perr = strconv.ParseInt(v, 10, 64)
		case "repl_offset":
			f.offset, perr = strconv.ParseInt(v, 10, 64)
		case "aof_tail_xxhash":
			f.tailSum, perr = strconv.ParseUint(v, 10, 64)
		default:
			continue
		}
		if perr != nil {
			return f, fmt.Errorf("%w: bad %s in the replication state", ErrReplication, k)
		}
		seen++
	}
	if err := sc.Err(); err != nil {
		return f, err
	}
	if seen != 7 || len(f.replid) != 40 || f.aofSize < 0 || f.offset < 0 {
		return f, fmt.Errorf("%w: incomplete replication state", ErrReplication)
	}
	return f, nil
}

// restore runs at start, after the AOF was loaded and before it is opened
// for appending: it resumes the stream at the recorded offset when the
// state file matches the AOF.
func (r *replication) restore(cfg Config) {
	s := r.s
	if !cfg.AppendOnly {
		return
	}
	path := r.statePath()
	f, err := readStateFile(path)
	if err != nil {
		if !os.IsNotExist(err) {
			s.log.Warn("Ignoring the replication state file", "error", err)
		}
		return
	}
	aofPath := filepath.Join(cfg.Dir, cfg.AppendFilename)
	st, err := os.Stat(aofPath)
	if err != nil {
		return
	}
	ino := inodeOf(st)
	if ino != f.inode || st.Size() < f.aofSize {
		s.log.Info("The replication state file does not describe this AOF: a replica will need a full resync", "file", path)
		return
	}
	if sum, ok := tailSum(aofPath, f.aofSize, ino); !ok || sum != f.tailSum {
		s.log.Info("The replication state file does not match the AOF's content: a replica will need a full resync", "file", path)
		return
	}
	off := f.offset + st.Size() - f.aofSize
	stm := s.stream
	stm.mu.Lock()
	if len(stm.cursors) > 0 {
		stm.mu.Unlock()
		return
	}
	stm.rebaseLocked(off)
	stm.mu.Unlock()
	r.mu.Lock()
	r.replid2, r.secondOff, r.replid = f.replid, off+1, newReplID()
	r.backlog = true
	r.stateKey = stateIdentity{}
	r.mu.Unlock()
	stm.SetBacklog(cfg.ReplBacklogSize)
	s.log.Info("Restored the replication ID and offset from the AOF state file", "replid2", f.replid,
		"offset", off, "replid", r.replid)
}
