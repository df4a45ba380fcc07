package backend

import (
	"bytes"
	"io"
	"net"
	"strconv"
)

// The protocol guard sits between the socket and redcon's reader. It is a
// port of Redis' query buffer processing (processInlineBuffer and
// processMultibulkBuffer in networking.c): limits are enforced on the
// headers, before any byte of a large argument is buffered, so a client
// cannot make the server allocate more than proto-max-bulk-len for one
// argument, nor announce more than maxMultibulkLen arguments. Inline
// commands are split with Redis' sdssplitargs rules and handed to redcon
// as RESP, so redcon only ever parses well-formed RESP and never takes a
// protocol decision of its own (it would drop the commands parsed before
// the bad one, which Redis executes).
//
// On a protocol error the guard delivers the bytes before it; when redcon
// asks for more (it has executed and flushed everything before), the guard
// writes "-ERR Protocol error: ..." and reports EOF, so that client alone
// is closed.

const (
	protoInlineMaxSize = 64 << 10 // Redis' PROTO_INLINE_MAX_SIZE
	maxMultibulkLen    = 1 << 20  // more arguments than this is refused
	guardReadSize      = 16 << 10
)

type guardListener struct {
	net.Listener
	s *Server
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, s: l.s, bulkLeft: -1}, nil
}

// guardConn is one client's guarded connection. Only the client's redcon
// goroutine calls Read and Write.
type guardConn struct {
	net.Conn
	s      *Server
	client *Client // set by the accept callback (authentication limits)

	in   []byte // received, not yet processed
	out  []byte // validated RESP, not yet delivered
	rbuf []byte

	args     int   // arguments left in the current multibulk (0 = at a command)
	bulkLeft int64 // bytes left of the current argument incl. CRLF; -1 = header next

	resume bool   // process g.in again: stopped after a command while unauthenticated
	fail   string // protocol error to report once out is drained
	rerr   error  // read error to report once out is drained
}

func (g *guardConn) Read(p []byte) (int, error) {
	for {
		if len(g.out) > 0 {
			n := copy(p, g.out)
			g.out = g.out[n:]
			if len(g.out) == 0 {
				g.out = g.out[:0:0]
				if cap(g.out) > 1<<20 {
					g.out = nil
				}
			}
			return n, nil
		}
		if g.resume {
			// Unauthenticated: the previous command has run since.
			g.resume = false
			g.process()
			continue
		}
		if g.fail != "" {
			g.s.log.Debug("Protocol error from client", "error", g.fail, "addr", g.RemoteAddr().String())
			_, _ = g.Conn.Write([]byte("-ERR Protocol error: " + g.fail + "\r\n"))
			return 0, io.EOF
		}
		if g.rerr != nil {
			return 0, g.rerr
		}
		if g.rbuf == nil {
			g.rbuf = make([]byte, guardReadSize)
		}
		n, err := g.Conn.Read(g.rbuf)
		if n > 0 {
			g.in = append(g.in, g.rbuf[:n]...)
			g.process()
		}
		if err != nil {
			g.rerr = err
		}
	}
}

func (g *guardConn) authed() bool {
	return g.client == nil || g.client.authed
}

// indexByte is C's strchr on the query buffer: a NUL byte ends the search,
// so a delimiter after a NUL is not found (Redis then waits for more).
func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
		if x == 0 {
			return -1
		}
	}
	return -1
}

// process moves complete, valid pieces of g.in to g.out. While the client
// is not authenticated it stops after each complete command, as Redis
// parses one command at a time: an AUTH must run before the limits for
// the next command are chosen.
func (g *guardConn) process() {
	in := g.in
	for len(in) > 0 && g.fail == "" {
		if g.args == 0 && len(g.out) > 0 && !g.authed() {
			g.resume = true
			break
		}
		switch {
		case g.args == 0 && in[0] != '*':
			nl := indexByte(in, '\n')
			if nl < 0 {
				if len(in) > protoInlineMaxSize {
					g.fail = "too big inline request"
				}
				goto done
			}
			line := in[:nl]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			argv, ok := splitArgs(line)
			if !ok {
				g.fail = "unbalanced quotes in request"
				goto done
			}
			in = in[nl+1:]
			if len(argv) > 0 {
				g.out = appendCommand(g.out, argv...)
			}
		case g.args == 0:
			cr := indexByte(in, '\r')
			if cr < 0 {
				if len(in) > protoInlineMaxSize {
					g.fail = "too big mbulk count string"
				}
				goto done
			}
			if cr+2 > len(in) {
				goto done
			}
			n, ok := parseInt(in[1:cr])
			if !ok || n > maxMultibulkLen {
				g.fail = "invalid multibulk length"
				goto done
			}
			if n > 10 && !g.authed() {
				g.fail = "unauthenticated multibulk length"
				goto done
			}
			in = in[cr+2:]
			if n > 0 {
				g.args = int(n)
				g.bulkLeft = -1
				g.out = appendArrayHeader(g.out, int(n))
			}
		case g.bulkLeft < 0:
			cr := indexByte(in, '\r')
			if cr < 0 {
				if len(in) > protoInlineMaxSize {
					g.fail = "too big bulk count string"
				}
				goto done
			}
			if cr+2 > len(in) {
				goto done
			}
			if in[0] != '$' {
				g.fail = "expected '$', got '" + string(in[0]) + "'"
				goto done
			}
			n, ok := parseInt(in[1:cr])
			if !ok || n < 0 || n > g.s.protoMaxBulkLen.Load() {
				g.fail = "invalid bulk length"
				goto done
			}
			if n > 16384 && !g.authed() {
				g.fail = "unauthenticated bulk length"
				goto done
			}
			in = in[cr+2:]
			g.bulkLeft = n + 2
			g.out = append(g.out, '$')
			g.out = strconv.AppendInt(g.out, n, 10)
			g.out = append(g.out, '\r', '\n')
		default:
			// Argument bytes, then two bytes Redis skips unchecked:
			// they are passed on as CRLF.
			take := min(int64(len(in)), g.bulkLeft)
			if data := g.bulkLeft - 2; data > 0 {
				g.out = append(g.out, in[:min(take, data)]...)
			}
			crlfBefore := min(2, g.bulkLeft)
			crlfAfter := min(2, g.bulkLeft-take)
			g.out = append(g.out, "\r\n"[2-crlfBefore:2-crlfAfter]...)
			g.bulkLeft -= take
			in = in[take:]
			if g.bulkLeft == 0 {
				g.bulkLeft = -1
				g.args--
			}
		}
	}
done:
	// Keep the unprocessed rest; compact to avoid unbounded growth.
	if len(in) == 0 {
		g.in = g.in[:0]
		if cap(g.in) > 1<<20 {
			g.in = nil
		}
	} else if len(in) < len(g.in) {
		g.in = append(g.in[:0], in...)
	}
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
