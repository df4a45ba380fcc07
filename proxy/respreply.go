package proxy

import (
	"bytes"
	"errors"
)

// maxReplyLine bounds a status, error, integer or length line in a
// backend reply, so a corrupt stream cannot grow a buffer forever.
const maxReplyLine = 1 << 20

// ErrBadReply is a backend reply that is not RESP2. The connection it came
// from is reset, as nothing after it can be matched to a request.
var ErrBadReply = errors.New("protocol error in reply")

// replyScanner finds where each RESP2 reply of a backend ends, without
// copying. It is resumable: when the buffer holds only part of a reply,
// scan returns 0 and remembers how far it got, so a large reply arriving
// in many reads is scanned once.
type replyScanner struct {
	pos     int // bytes of the current reply already scanned
	pending int // elements still to scan; 0 when no reply is started
	need    int // bytes the current reply needs at least (for the caller's buffer)
}

// scan returns the length of the reply at the start of b, or 0 if b does
// not hold all of it yet (call again with b extended by more data).
func (s *replyScanner) scan(b []byte) (int, error) {
	if s.pending == 0 {
		s.pending, s.pos = 1, 0
	}
	for s.pending > 0 {
		if s.pos >= len(b) {
			s.need = s.pos + 1
			return 0, nil
		}
		i := bytes.IndexByte(b[s.pos:], '\n')
		if i < 0 {
			if len(b)-s.pos > maxReplyLine {
				return 0, s.fail("line too long")
			}
			s.need = len(b) + 1
			return 0, nil
		}
		eol := s.pos + i // index of '\n'
		if i == 0 || b[eol-1] != '\r' {
			return 0, s.fail("line not terminated by CRLF")
		}
		switch b[s.pos] {
		case '+', '-', ':':
			s.pos = eol + 1
			s.pending--
		case '$':
			n, ok := parseLen(b[s.pos+1 : eol-1])
			switch {
			case !ok || n < -1:
				return 0, s.fail("bad bulk length")
			case n == -1:
				s.pos = eol + 1
				s.pending--
				continue
			}
			end := eol + 1 + int(n) + 2
			if end > len(b) {
				s.need = end
				return 0, nil
			}
			if b[end-2] != '\r' || b[end-1] != '\n' {
				return 0, s.fail("bulk not terminated by CRLF")
			}
			s.pos = end
			s.pending--
		case '*':
			n, ok := parseLen(b[s.pos+1 : eol-1])
			if !ok || n < -1 {
				return 0, s.fail("bad array length")
			}
			s.pos = eol + 1
			s.pending--
			if n > 0 {
				s.pending += int(n)
			}
		default:
			return 0, s.fail("unexpected type byte " + quoteByte(b[s.pos]))
		}
	}
	n := s.pos
	s.pos, s.need = 0, 0
	return n, nil
}

func (s *replyScanner) fail(msg string) error {
	s.pos, s.pending, s.need = 0, 0, 0
	return &replyError{msg}
}

type replyError struct{ msg string }

func (e *replyError) Error() string        { return "protocol error in reply: " + e.msg }
func (e *replyError) Is(target error) bool { return target == ErrBadReply }

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(c) + "'"
	}
	const hex = "0123456789abcdef"
	return "0x" + string(hex[c>>4]) + string(hex[c&15])
}

// replyLen returns the length of the complete reply at the start of b, or
// -1 if b does not start with one.
func replyLen(b []byte) int {
	var s replyScanner
	n, err := s.scan(b)
	if err != nil || n == 0 {
		return -1
	}
	return n
}

// isErrorReply reports whether reply is a RESP error ("-...").
func isErrorReply(reply []byte) bool { return len(reply) > 0 && reply[0] == '-' }

// intReply returns the value of an integer reply ":<n>\r\n".
func intReply(reply []byte) (int64, bool) {
	if len(reply) < 4 || reply[0] != ':' {
		return 0, false
	}
	return parseInt64(reply[1 : len(reply)-2])
}

// arrayReply returns the element count of an array reply and the offset
// of its first element; n is -1 for a nil array.
func arrayReply(reply []byte) (n, first int, ok bool) {
	if len(reply) < 4 || reply[0] != '*' {
		return 0, 0, false
	}
	i := bytes.IndexByte(reply, '\n')
	if i < 3 {
		return 0, 0, false
	}
	v, ok := parseLen(reply[1 : i-1])
	if !ok || v < -1 {
		return 0, 0, false
	}
	return int(v), i + 1, true
}

// parseInt64 parses a decimal integer with an optional sign, without
// overflow (Redis' integer replies fit in an int64).
func parseInt64(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, b = b[0] == '-', b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// Read buffer sizes: shared server connections carry many clients'
// pipelines; dedicated ones (transactions, blocking commands, pub/sub) one
// client's.
const (
	readBufSize      = 16 << 10
	dedicatedBufSize = 4096
)

// makeRoom prepares a connection's read buffer holding unparsed bytes
// buf[r:w] for the next read: an empty buffer restarts at 0 (and one grown
// past 1 MB by a large reply goes back to size bytes); a partial reply that
// needs more than the buffer holds gets a buffer twice as large (at least
// sc.need plus 4 KB); otherwise the partial reply is moved to the front
// when less than a quarter of size is free at the end.
func (sc *replyScanner) makeRoom(buf []byte, r, w, size int) ([]byte, int, int) {
	switch {
	case r == w:
		if len(buf) > 1<<20 {
			buf = make([]byte, size)
		}
		return buf, 0, 0
	case sc.need > len(buf)-r:
		nb := make([]byte, max(2*len(buf), sc.need+4096))
		return nb, 0, copy(nb, buf[r:w])
	case len(buf)-w < size/4:
		return buf, 0, copy(buf, buf[r:w])
	}
	return buf, r, w
}
