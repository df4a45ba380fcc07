package backend

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
)

// ErrOffsetGone is returned by Stream.NewCursor for an offset whose bytes
// are no longer retained (behind the backlog).
var ErrOffsetGone = errors.New("backend: stream offset no longer retained")

// Stream is the ordered log of every applied write, as RESP commands in a
// deterministic, replayable form, with a global byte offset (Redis'
// master_repl_offset). Writers append while they hold the key's shard
// lock(s), so for any key the order in the stream is the order of
// application. The AOF reads it through a Cursor; replication (backlog,
// replicas) will read the same bytes through more cursors.
//
// Bytes are kept in chunks from the oldest offset any cursor still needs
// (or the backlog size behind the end, whichever is older) to the end.
// With no cursor and no backlog nothing is stored, only the offset moves,
// without taking the stream's lock (Keyspace.Snapshot and NewCursor hold
// every shard lock while they activate the stream, so no append can race
// with the switch).
type Stream struct {
	mu      sync.Mutex
	active  atomic.Bool // a cursor or a backlog exists
	idle    atomic.Int64
	start   int64    // offset of chunks[0][0]
	end     int64    // offset after the last byte appended
	chunks  [][]byte // retained bytes, each of capacity chunkSize
	cursors map[*Cursor]struct{}
	backlog int64 // bytes to keep behind end regardless of cursors
	spare   []byte
}

const chunkSize = 64 << 10

// NewStream returns an empty stream starting at offset start.
func NewStream(start int64) *Stream {
	return &Stream{start: start, end: start, cursors: map[*Cursor]struct{}{}}
}

// Offset returns the offset after the last appended byte.
func (s *Stream) Offset() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end + s.idle.Load()
}

// settleLocked folds the offset advanced by lock-free appends into end.
func (s *Stream) settleLocked() {
	if n := s.idle.Swap(0); n != 0 {
		s.end += n
		s.start = s.end
	}
}

func (s *Stream) updateActiveLocked() {
	s.active.Store(len(s.cursors) > 0 || s.backlog > 0)
}

// SetBacklog sets how many bytes behind the end are kept for late
// readers (repl-backlog-size).
func (s *Stream) SetBacklog(n int64) {
	s.mu.Lock()
	s.settleLocked()
	s.backlog = n
	s.updateActiveLocked()
	s.trimLocked()
	s.mu.Unlock()
}

// Append adds b (one or more complete commands) and returns the offset
// after it. Callers hold the shard locks of the keys the commands touch.
func (s *Stream) Append(b []byte) int64 {
	if !s.active.Load() {
		// Nobody reads the bytes: only the offset moves. The returned
		// offset is used for durability waits, which are no-ops then.
		return s.idle.Add(int64(len(b)))
	}
	s.mu.Lock()
	end := s.appendLocked(b)
	s.mu.Unlock()
	return end
}

func (s *Stream) appendLocked(b []byte) int64 {
	s.settleLocked()
	for len(b) > 0 {
		var last []byte
		if n := len(s.chunks); n > 0 {
			last = s.chunks[n-1]
		}
		if last == nil || len(last) == cap(last) {
			c := s.spare
			s.spare = nil
			if c == nil || cap(c) < chunkSize {
				c = make([]byte, 0, chunkSize)
			}
			s.chunks = append(s.chunks, c[:0])
			last = s.chunks[len(s.chunks)-1]
		}
		n := min(cap(last)-len(last), len(b))
		s.chunks[len(s.chunks)-1] = append(last, b[:n]...)
		b = b[n:]
		s.end += int64(n)
	}
	for c := range s.cursors {
		if c.notify != nil {
			select {
			case c.notify <- struct{}{}:
			default:
			}
		}
	}
	return s.end
}

// trimLocked drops whole chunks that no cursor and no backlog needs.
func (s *Stream) trimLocked() {
	keep := s.end - s.backlog
	for c := range s.cursors {
		keep = min(keep, c.off)
	}
	for len(s.chunks) > 0 {
		c := s.chunks[0]
		cend := s.start + int64(len(c))
		if cend > keep {
			break
		}
		s.start = cend
		s.chunks[0] = nil
		s.chunks = s.chunks[1:]
		if cap(c) == chunkSize {
			s.spare = c[:0]
		}
	}
	if len(s.chunks) == 0 {
		s.start = s.end
	}
}

// Cursor reads the stream from an offset. A cursor keeps its bytes
// retained until it advances or closes. Its methods must not be called
// concurrently with each other.
type Cursor struct {
	s      *Stream
	off    int64
	notify chan struct{} // nil unless created with notify
}

// NewCursor returns a cursor at off (s.Offset() for "from now on"). With
// notify, C() receives a signal after appends.
func (s *Stream) NewCursor(off int64, notify bool) (*Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newCursorLocked(off, notify)
}

func (s *Stream) newCursorLocked(off int64, notify bool) (*Cursor, error) {
	s.settleLocked()
	if off < s.start || off > s.end {
		return nil, ErrOffsetGone
	}
	c := &Cursor{s: s, off: off}
	if notify {
		c.notify = make(chan struct{}, 1)
	}
	s.cursors[c] = struct{}{}
	s.updateActiveLocked()
	return c, nil
}

// Offset is the offset of the next byte the cursor returns.
func (c *Cursor) Offset() int64 { return c.off }

// C signals after appends (nil unless created with notify).
func (c *Cursor) C() <-chan struct{} { return c.notify }

// ReadTo appends to dst the bytes from the cursor up to offset upTo (or
// the end, if earlier) and at most max bytes, and advances the cursor.
func (c *Cursor) ReadTo(dst []byte, upTo int64, max int) []byte {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	upTo = min(upTo, s.end, c.off+int64(max))
	if c.off < s.start {
		// Cannot happen: a cursor retains its bytes.
		panic("backend: stream cursor behind retained data")
	}
	pos := s.start
	for _, ch := range s.chunks {
		cend := pos + int64(len(ch))
		if c.off < cend && c.off < upTo {
			from := c.off - pos
			to := min(cend, upTo) - pos
			dst = append(dst, ch[from:to]...)
			c.off = pos + to
		}
		pos = cend
		if pos >= upTo {
			break
		}
	}
	s.trimLocked()
	return dst
}

// Close releases the cursor's retention.
func (c *Cursor) Close() {
	s := c.s
	s.mu.Lock()
	delete(s.cursors, c)
	s.updateActiveLocked()
	s.trimLocked()
	s.mu.Unlock()
}

// RESP encoding of stream commands.

func appendArrayHeader(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

func appendBulk(b []byte, v []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

func appendBulkString(b []byte, v string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

func appendBulkInt(b []byte, n int64) []byte {
	var tmp [24]byte
	return appendBulk(b, strconv.AppendInt(tmp[:0], n, 10))
}

// appendCommand encodes args as a RESP array of bulk strings.
func appendCommand(b []byte, args ...[]byte) []byte {
	b = appendArrayHeader(b, len(args))
	for _, a := range args {
		b = appendBulk(b, a)
	}
	return b
}

// appendCommandStrings is appendCommand for strings.
func appendCommandStrings(b []byte, args ...string) []byte {
	b = appendArrayHeader(b, len(args))
	for _, a := range args {
		b = appendBulkString(b, a)
	}
	return b
}
