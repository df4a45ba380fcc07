package backend

import (
	"bytes"
)

// The request parser: a port of Redis' query buffer processing
// (processInlineBuffer / processMultibulkBuffer in networking.c) working in
// place on the client's read buffer. Arguments are slices of that buffer —
// no copy, no allocation per command — valid only until the handler
// returns (a command queued for later, e.g. by MULTI, must copy them).
//
// Limits are enforced on the headers, before the bytes they announce are
// buffered: more than maxMultibulkLen arguments or a bulk over
// proto-max-bulk-len is refused at once; an unauthenticated client gets
// Redis' smaller limits (10 arguments, 16 KB bulks). The buffer grows only
// as bytes actually arrive, up to queryBufferLimit. Error texts are Redis'.

const (
	protoInlineMaxSize = 64 << 10 // Redis' PROTO_INLINE_MAX_SIZE
	maxMultibulkLen    = 1 << 20  // more arguments than this is refused
	queryBufferLimit   = 1 << 30  // Redis' client-query-buffer-limit
	readBufferSize     = 16 << 10
)

// parse results
const (
	parseNeedMore = iota
	parseReady
	parseError
)

// reader is a client's input buffer and the state of the command being
// parsed. Data is buf[start:end]; the current command begins at start.
type reader struct {
	buf   []byte
	start int // first byte of the command being parsed
	pos   int // parse position
	end   int // end of received data

	args  int   // arguments left in the multibulk; 0 = at a command start
	bulk  int64 // length of the next argument; -1 = its header is next
	offs  []int // [from, to) of each argument, relative to start
	rawOK bool  // the command's bytes are canonical RESP (CRLFs where Redis skips)

	av  [][]byte
	raw []byte // scratch for inline commands' RESP form
}

// next parses the next command. On parseReady it returns the arguments and
// the command's canonical RESP bytes (nil when the client's bytes are not
// canonical; handlers then encode the arguments). On parseError it returns
// the Redis error text (without "ERR Protocol error: ").
func (r *reader) next(authed bool, maxBulk int64) (argv [][]byte, raw []byte, st int, perr string) {
	for {
		if r.args == 0 {
			r.start = r.pos
			if r.pos >= r.end {
				return nil, nil, parseNeedMore, ""
			}
			in := r.buf[r.pos:r.end]
			if in[0] != '*' {
				nl := indexByte(in, '\n')
				if nl < 0 {
					if len(in) > protoInlineMaxSize {
						return nil, nil, parseError, "too big inline request"
					}
					return nil, nil, parseNeedMore, ""
				}
				line := in[:nl]
				if len(line) > 0 && line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
				av, ok := splitArgs(line)
				if !ok {
					return nil, nil, parseError, "unbalanced quotes in request"
				}
				r.pos += nl + 1
				if len(av) == 0 {
					continue
				}
				r.raw = appendCommand(r.raw[:0], av...)
				return av, r.raw, parseReady, ""
			}
			cr := indexByte(in, '\r')
			if cr < 0 {
				if len(in) > protoInlineMaxSize {
					return nil, nil, parseError, "too big mbulk count string"
				}
				return nil, nil, parseNeedMore, ""
			}
			if cr+2 > len(in) {
				return nil, nil, parseNeedMore, ""
			}
			n, ok := parseInt(in[1:cr])
			if !ok || n > maxMultibulkLen {
				return nil, nil, parseError, "invalid multibulk length"
			}
			if n > 10 && !authed {
				return nil, nil, parseError, "unauthenticated multibulk length"
			}
			r.rawOK = in[cr+1] == '\n'
			r.pos += cr + 2
			if n <= 0 {
				continue // Redis ignores empty multibulks
			}
			r.args = int(n)
			r.bulk = -1
			r.offs = r.offs[:0]
		}
		if r.bulk < 0 {
			in := r.buf[r.pos:r.end]
			cr := indexByte(in, '\r')
			if cr < 0 {
				if len(in) > protoInlineMaxSize {
					return nil, nil, parseError, "too big bulk count string"
				}
				return nil, nil, parseNeedMore, ""
			}
			if cr+2 > len(in) {
				return nil, nil, parseNeedMore, ""
			}
			if in[0] != '$' {
				return nil, nil, parseError, "expected '$', got '" + string(in[0]) + "'"
			}
			n, ok := parseInt(in[1:cr])
			if !ok || n < 0 || n > maxBulk {
				return nil, nil, parseError, "invalid bulk length"
			}
			if n > 16384 && !authed {
				return nil, nil, parseError, "unauthenticated bulk length"
			}
			if in[cr+1] != '\n' {
				r.rawOK = false
			}
			r.pos += cr + 2
			r.bulk = n
		}
		if int64(r.end-r.pos) < r.bulk+2 {
			return nil, nil, parseNeedMore, ""
		}
		from := r.pos - r.start
		r.offs = append(r.offs, from, from+int(r.bulk))
		r.pos += int(r.bulk)
		if r.buf[r.pos] != '\r' || r.buf[r.pos+1] != '\n' {
			r.rawOK = false // Redis skips these two bytes unchecked
		}
		r.pos += 2
		r.bulk = -1
		r.args--
		if r.args > 0 {
			continue
		}
		r.av = r.av[:0]
		base := r.buf[r.start:r.pos]
		for i := 0; i < len(r.offs); i += 2 {
			r.av = append(r.av, base[r.offs[i]:r.offs[i+1]:r.offs[i+1]])
		}
		if r.rawOK {
			raw = base
		}
		return r.av, raw, parseReady, ""
	}
}

// room prepares the buffer for a read: consumed bytes are dropped (the
// command in progress moves to the front) and the buffer doubles when
// full. It returns false when the command in progress exceeds
// queryBufferLimit.
func (r *reader) room() bool {
	if r.buf == nil {
		r.buf = make([]byte, readBufferSize)
	}
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.pos -= r.start
		r.end = n
		r.start = 0
	}
	if r.end == 0 && len(r.buf) > 4*readBufferSize {
		r.buf = make([]byte, readBufferSize) // give back a big buffer
	}
	if r.end == len(r.buf) {
		if len(r.buf) >= queryBufferLimit {
			return false
		}
		nb := make([]byte, 2*len(r.buf))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	return true
}

// indexByte is C's strchr on the query buffer: a NUL byte ends the search,
// so a delimiter after a NUL is not found (Redis then waits for more).
func indexByte(b []byte, c byte) int {
	i := bytes.IndexByte(b, c)
	if i < 0 {
		return -1
	}
	if z := bytes.IndexByte(b[:i], 0); z >= 0 {
		return -1
	}
	return i
}

// splitArgs is Redis' sdssplitargs: whitespace-separated tokens, "double
// quotes" with \n \r \t \b \a \xHH escapes, 'single quotes' with \',
// a closing quote must be followed by a space or the end. A NUL byte ends
// the line, as in C.
func splitArgs(line []byte) ([][]byte, bool) {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	at := func(i int) byte {
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	var argv [][]byte
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p >= len(line) {
			return argv, true
		}
		inq, insq, done := false, false, false
		cur := []byte{}
		for !done {
			c := at(p)
			switch {
			case inq:
				if c == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)) {
					cur = append(cur, byte(hexVal(at(p+2))*16+hexVal(at(p+3))))
					p += 3
				} else if c == '\\' && at(p+1) != 0 {
					p++
					e := at(p)
					switch e {
					case 'n':
						e = '\n'
					case 'r':
						e = '\r'
					case 't':
						e = '\t'
					case 'b':
						e = '\b'
					case 'a':
						e = '\a'
					}
					cur = append(cur, e)
				} else if c == '"' {
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return nil, false
					}
					done = true
				} else if c == 0 {
					return nil, false
				} else {
					cur = append(cur, c)
				}
			case insq:
				if c == '\\' && at(p+1) == '\'' {
					p++
					cur = append(cur, '\'')
				} else if c == '\'' {
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return nil, false
					}
					done = true
				} else if c == 0 {
					return nil, false
				} else {
					cur = append(cur, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, c)
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		argv = append(argv, cur)
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
