package proxy

import (
	"bytes"
	"errors"
	"io"
)

// Limits of the client protocol, Redis' own (networking.c). They are
// checked before anything is allocated for a request.
const (
	// MaxBulkLen is proto-max-bulk-len: the longest argument accepted.
	MaxBulkLen = 512 << 20
	// MaxArgs is the most arguments one command may have (Redis' limit
	// for a client that has not authenticated, applied to every client).
	MaxArgs = 1 << 20
	// MaxInlineLen is the longest inline command line, and the longest
	// "*<count>" or "$<len>" line (PROTO_INLINE_MAX_SIZE).
	MaxInlineLen = 64 << 10
)

// Read buffer sizes: a session starts small (most clients send one short
// command at a time) and grows while reads fill the buffer (pipelines).
const (
	readBufMin = 4 << 10
	readBufMax = 64 << 10
)

// ProtocolError is a malformed request. Its Error text is what the client
// receives after "-ERR ", Redis' wording, e.g. "Protocol error: invalid
// bulk length"; the client is disconnected after it.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

// ErrProtocol is what every *ProtocolError matches with errors.Is.
var ErrProtocol = errors.New("protocol error")

// Is makes errors.Is(err, ErrProtocol) true for every *ProtocolError.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

var (
	errMultibulkLen   = &ProtocolError{"invalid multibulk length"}
	errBulkLen        = &ProtocolError{"invalid bulk length"}
	errBigMultibulk   = &ProtocolError{"too big mbulk count string"}
	errBigBulkCount   = &ProtocolError{"too big bulk count string"}
	errBigInline      = &ProtocolError{"too big inline request"}
	errUnbalanced     = &ProtocolError{"unbalanced quotes in request"}
	errBulkTerminator = &ProtocolError{"bulk string not terminated by CRLF"}
)

// command is one parsed client command. raw is the command as RESP (the
// bytes the client sent, or an encoding of an inline command); args alias
// raw. Both are valid until the next call of reqReader.next.
type command struct {
	raw  []byte
	args [][]byte
}

// cmdMark locates a command of the current batch before its slices are
// made: raw and args are offsets into buf (inline false) or into scratch.
type cmdMark struct {
	inline       bool
	rawLo, rawHi int
	argLo, argHi int // range in reqReader.offs
}

// reqReader reads client commands from a connection: it parses, without
// copying, every complete command that one read brought in (a client's
// whole pipeline as one batch). It keeps the state of a command that is
// not complete yet, so a large command arriving in many reads is parsed
// once (linear time), and it enforces MaxBulkLen, MaxArgs and MaxInlineLen
// before it allocates for them. It is owned by one session's reader
// goroutine.
type reqReader struct {
	rd   io.Reader
	buf  []byte
	r, w int // unparsed data is buf[r:w]

	// The command being parsed at buf[r:], if in: its argument count,
	// the position (relative to r) where its next element starts, the
	// length of the bulk whose header was read (-1: none), and its
	// arguments' offsets relative to r so far (pairs in part).
	in    bool
	nargs int
	pos   int
	bulk  int
	part  []int

	marks   []cmdMark
	offs    []int // argument offsets (pairs) of the batch's commands
	scratch []byte
	cmds    []command
	args    [][]byte
	grow    bool // the last read filled the buffer: grow it
}

func newReqReader(rd io.Reader) *reqReader {
	return &reqReader{rd: rd, buf: make([]byte, readBufMin), bulk: -1}
}

// next returns the next batch of commands: every complete command already
// buffered, reading from the connection first if there is none. The batch
// and its slices are valid until the next call. A *ProtocolError means the
// stream is unusable; the commands before the bad one have been returned
// by earlier calls (or are returned with it: handle them, then the error).
func (rr *reqReader) next() ([]command, error) {
	rr.marks = rr.marks[:0]
	rr.offs = rr.offs[:0]
	rr.scratch = rr.scratch[:0]
	for {
		err := rr.parse()
		if len(rr.marks) > 0 || err != nil {
			return rr.batch(), err
		}
		if err := rr.fill(); err != nil {
			return nil, err
		}
	}
}

// batch turns the marks of the commands parsed into slices.
func (rr *reqReader) batch() []command {
	rr.cmds = rr.cmds[:0]
	rr.args = rr.args[:0]
	for _, m := range rr.marks {
		src := rr.buf
		if m.inline {
			src = rr.scratch
		}
		for i := m.argLo; i < m.argHi; i += 2 {
			rr.args = append(rr.args, src[rr.offs[i]:rr.offs[i+1]])
		}
	}
	k := 0
	for _, m := range rr.marks {
		src := rr.buf
		if m.inline {
			src = rr.scratch
		}
		n := (m.argHi - m.argLo) / 2
		rr.cmds = append(rr.cmds, command{raw: src[m.rawLo:m.rawHi], args: rr.args[k : k+n : k+n]})
		k += n
	}
	return rr.cmds
}

// fill reads more data, first making room: the unparsed bytes move to
// the front, and the buffer doubles when it is full (a large command) or
// when the last read filled it (a pipelining client, up to readBufMax).
// It never grows ahead of the data: a client announcing a 512 MB argument
// costs memory only as the bytes arrive.
func (rr *reqReader) fill() error {
	if rr.r == rr.w && !rr.in && len(rr.buf) > readBufMax {
		rr.buf, rr.r, rr.w = make([]byte, readBufMax), 0, 0 // a large command is done
	}
	if rr.r > 0 && (rr.r == rr.w || len(rr.buf)-rr.w < readBufMin) {
		rr.w = copy(rr.buf, rr.buf[rr.r:rr.w])
		rr.r = 0
	}
	if rr.w == len(rr.buf) || rr.grow && len(rr.buf) < readBufMax {
		nb := make([]byte, 2*len(rr.buf))
		rr.w = copy(nb, rr.buf[rr.r:rr.w])
		rr.buf, rr.r = nb, 0
	}
	n, err := rr.rd.Read(rr.buf[rr.w:])
	rr.grow = rr.w+n == len(rr.buf)
	rr.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// parse parses the complete commands in buf[r:w] into marks.
func (rr *reqReader) parse() error {
	for {
		if !rr.in {
			if rr.r == rr.w {
				return nil
			}
			if rr.buf[rr.r] != '*' {
				ok, err := rr.parseInline()
				if !ok || err != nil {
					return err
				}
				continue
			}
			ok, err := rr.parseHeader()
			if !ok || err != nil {
				return err
			}
			if !rr.in { // *0 or *-1: nothing to do, as Redis
				continue
			}
		}
		for len(rr.part) < 2*rr.nargs {
			ok, err := rr.parseArg()
			if !ok || err != nil {
				return err
			}
		}
		lo := len(rr.offs)
		for _, o := range rr.part {
			rr.offs = append(rr.offs, rr.r+o)
		}
		rr.marks = append(rr.marks, cmdMark{rawLo: rr.r, rawHi: rr.r + rr.pos, argLo: lo, argHi: len(rr.offs)})
		rr.r += rr.pos
		rr.in, rr.part = false, rr.part[:0]
	}
}

// line finds the '\r' ending the line that starts at buf[from], Redis'
// way (it searches for '\r' and requires the '\n' after it). It returns
// -1 if the line is not complete yet.
func (rr *reqReader) line(from int) int {
	i := bytes.IndexByte(rr.buf[from:rr.w], '\r')
	if i < 0 || from+i+1 == rr.w {
		return -1
	}
	return from + i
}

// parseHeader parses "*<count>\r\n" at r.
func (rr *reqReader) parseHeader() (bool, error) {
	cr := rr.line(rr.r)
	if cr < 0 {
		if rr.w-rr.r > MaxInlineLen {
			return false, errBigMultibulk
		}
		return false, nil
	}
	if rr.buf[cr+1] != '\n' {
		return false, errMultibulkLen
	}
	n, ok := parseLen(rr.buf[rr.r+1 : cr])
	if !ok || n > MaxArgs {
		return false, errMultibulkLen
	}
	if n <= 0 {
		rr.r = cr + 2
		return true, nil
	}
	rr.in, rr.nargs, rr.pos, rr.bulk = true, int(n), cr+2-rr.r, -1
	rr.part = rr.part[:0]
	return true, nil
}

// parseArg parses the next "$<len>\r\n<data>\r\n" of the command at r.
func (rr *reqReader) parseArg() (bool, error) {
	at := rr.r + rr.pos
	if rr.bulk < 0 {
		if at >= rr.w {
			return false, nil
		}
		if rr.buf[at] != '$' {
			return false, &ProtocolError{"expected '$', got '" + string(rr.buf[at]) + "'"}
		}
		cr := rr.line(at)
		if cr < 0 {
			if rr.w-at > MaxInlineLen {
				return false, errBigBulkCount
			}
			return false, nil
		}
		if rr.buf[cr+1] != '\n' {
			return false, errBulkLen
		}
		n, ok := parseLen(rr.buf[at+1 : cr])
		if !ok || n < 0 || n > MaxBulkLen {
			return false, errBulkLen
		}
		rr.bulk = int(n)
		rr.pos = cr + 2 - rr.r
		at = cr + 2
	}
	if rr.w-at < rr.bulk+2 {
		return false, nil
	}
	if rr.buf[at+rr.bulk] != '\r' || rr.buf[at+rr.bulk+1] != '\n' {
		return false, errBulkTerminator
	}
	rr.part = append(rr.part, rr.pos, rr.pos+rr.bulk)
	rr.pos += rr.bulk + 2
	rr.bulk = -1
	return true, nil
}

// parseLen parses a RESP length exactly as Redis' string2ll does: "0",
// or an optional '-' and 1 to 18 digits without a leading zero. Being as
// strict as the backends matters: the proxy forwards the bytes it parsed,
// and a server reading them differently would desynchronize a connection
// other clients share.
func parseLen(b []byte) (int64, bool) {
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseInline parses an inline command (a line of words, as typed in
// telnet) at r, splitting it as Redis' sdssplitargs does (double quotes
// with \n \r \t \b \a \xHH escapes, single quotes with \'), and encodes it
// as RESP in scratch so that it can be forwarded like any other command.
func (rr *reqReader) parseInline() (bool, error) {
	nl := bytes.IndexByte(rr.buf[rr.r:rr.w], '\n')
	if nl < 0 {
		if rr.w-rr.r > MaxInlineLen {
			return false, errBigInline
		}
		return false, nil
	}
	if nl > MaxInlineLen {
		return false, errBigInline
	}
	line := rr.buf[rr.r : rr.r+nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	offLo := len(rr.offs)
	var err error
	rr.scratch, rr.offs, err = splitArgs(rr.scratch, rr.offs, line)
	if err != nil {
		return false, err
	}
	rr.r += nl + 1
	n := (len(rr.offs) - offLo) / 2
	if n == 0 {
		rr.offs = rr.offs[:offLo]
		return true, nil
	}
	rawLo := len(rr.scratch)
	rr.scratch = appendArrayLen(rr.scratch, n)
	for i := offLo; i < len(rr.offs); i += 2 {
		lo, hi := rr.offs[i], rr.offs[i+1]
		rr.scratch = appendBulkLen(rr.scratch, hi-lo)
		rr.scratch = append(rr.scratch, rr.scratch[lo:hi]...)
		rr.scratch = append(rr.scratch, '\r', '\n')
	}
	rr.marks = append(rr.marks, cmdMark{inline: true, rawLo: rawLo, rawHi: len(rr.scratch), argLo: offLo, argHi: len(rr.offs)})
	return true, nil
}

// splitArgs appends the words of line to dst, and their offsets in dst
// (pairs) to offs, with sdssplitargs' rules.
func splitArgs(dst []byte, offs []int, line []byte) ([]byte, []int, error) {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return dst, offs, nil
		}
		lo := len(dst)
		inq, insq := false, false
	word:
		for {
			switch {
			case inq:
				switch {
				case i == len(line):
					return dst, offs, errUnbalanced
				case line[i] == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					dst = append(dst, unhex(line[i+2])<<4|unhex(line[i+3]))
					i += 4
				case line[i] == '\\' && i+1 < len(line):
					c := line[i+1]
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					dst = append(dst, c)
					i += 2
				case line[i] == '"':
					i++
					if i < len(line) && !isSpace(line[i]) {
						return dst, offs, errUnbalanced
					}
					break word
				default:
					dst = append(dst, line[i])
					i++
				}
			case insq:
				switch {
				case i == len(line):
					return dst, offs, errUnbalanced
				case line[i] == '\\' && i+1 < len(line) && line[i+1] == '\'':
					dst = append(dst, '\'')
					i += 2
				case line[i] == '\'':
					i++
					if i < len(line) && !isSpace(line[i]) {
						return dst, offs, errUnbalanced
					}
					break word
				default:
					dst = append(dst, line[i])
					i++
				}
			default:
				if i == len(line) {
					break word
				}
				switch c := line[i]; {
				case isSpace(c):
					break word
				case c == '"':
					inq = true
				case c == '\'':
					insq = true
				default:
					dst = append(dst, c)
				}
				i++
			}
		}
		offs = append(offs, lo, len(dst))
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
