package backend

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/tidwall/redcon"
)

// Connections. Each accepted connection gets one goroutine (serveConn,
// owned by the Server, ending when the connection closes) that loops:
// read into the client's buffer, parse and run every complete command
// (replies are appended to the client's reply buffer), then — once per
// batch — wait until the batch's writes are durable per appendfsync and
// write all replies with one syscall. A pipelined batch therefore costs one
// read and one write, like Redis' event loop, and independent clients run
// in parallel on the sharded keyspace.
//
// This replaces redcon's connection loop, whose reader copies each command
// twice, allocates per command, drops the commands it parsed before a
// protocol error (Redis runs them) and buffers whatever a header announces
// without limits. Replies are still encoded with redcon's RESP appenders.

// replyWriter buffers a client's replies (redcon's Writer, with a length).
// After the first write error every call is a no-op and Flush returns it.
type replyWriter struct {
	w   io.Writer
	b   []byte
	err error
}

func newReplyWriter(w io.Writer) *replyWriter { return &replyWriter{w: w} }

func (w *replyWriter) WriteString(s string)     { w.b = redcon.AppendString(w.b, s) }
func (w *replyWriter) WriteError(s string)      { w.b = redcon.AppendError(w.b, s) }
func (w *replyWriter) WriteBulk(b []byte)       { w.b = redcon.AppendBulk(w.b, b) }
func (w *replyWriter) WriteBulkString(s string) { w.b = redcon.AppendBulkString(w.b, s) }
func (w *replyWriter) WriteInt64(n int64)       { w.b = redcon.AppendInt(w.b, n) }
func (w *replyWriter) WriteArray(n int)         { w.b = redcon.AppendArray(w.b, n) }
func (w *replyWriter) WriteNull()               { w.b = redcon.AppendNull(w.b) }
func (w *replyWriter) WriteRaw(b []byte)        { w.b = append(w.b, b...) }
func (w *replyWriter) Len() int                 { return len(w.b) }
func (w *replyWriter) Discard()                 { w.b = w.b[:0] }

// Flush writes the buffered replies.
func (w *replyWriter) Flush() error {
	if w.err != nil {
		w.b = w.b[:0]
		return w.err
	}
	if len(w.b) == 0 {
		return nil
	}
	_, w.err = w.w.Write(w.b)
	if cap(w.b) > 1<<20 {
		w.b = nil
	} else {
		w.b = w.b[:0]
	}
	return w.err
}

// flushEarly is the reply size after which a batch's replies are written
// before the batch ends (a huge pipeline must not buffer without bound).
const flushEarly = 1 << 20

// acceptLoop accepts connections on ln until it is closed. Owned by Serve.
func (s *Server) acceptLoop(ln net.Listener) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// EMFILE and friends: back off like net/http.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("Accept error", "error", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if c := s.register(nc); c != nil {
			go s.serveConn(c) // ends when the connection closes
		}
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// register admits a connection: maxclients, the client registry and the
// connection wait group. It returns nil when refused.
func (s *Server) register(nc net.Conn) *Client {
	s.cfgMu.RLock()
	maxClients, pass := s.cfg.MaxClients, s.cfg.RequirePass
	s.cfgMu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		nc.Close()
		return nil
	}
	if s.clients.count() >= maxClients {
		s.stats.rejected.Add(1)
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write([]byte("-" + errMaxClients + "\r\n"))
		nc.Close()
		return nil
	}
	c := &Client{
		s:       s,
		nc:      nc,
		w:       newReplyWriter(nc),
		id:      s.clients.nextID.Add(1),
		addr:    nc.RemoteAddr().String(),
		laddr:   nc.LocalAddr().String(),
		fd:      fdOf(nc),
		created: time.Now(),
		authed:  pass == "",
	}
	s.clients.add(c)
	s.connWG.Add(1)
	s.stats.connections.Add(1)
	return c
}

// serveConn is a connection's goroutine.
func (s *Server) serveConn(c *Client) {
	defer func() {
		c.pubsubGone() // before Close: it sends what is queued (QUIT's +OK)
		c.nc.Close()
		c.releaseMulti()
		s.repl.clientGone(c)
		s.clients.remove(c)
		s.connWG.Done()
	}()
	rd := &c.rd
	deadline := false
	for {
		c.startBatch()
		for {
			argv, raw, st, perr := rd.next(c.authed, s.protoMaxBulkLen.Load())
			if st == parseNeedMore {
				break
			}
			if st == parseError {
				s.endBatch(c)
				c.w.WriteError("ERR Protocol error: " + perr)
				_ = c.w.Flush()
				s.log.Log(context.Background(), levelVerbose, "Protocol error from client", "error", perr, "addr", c.addr)
				return
			}
			c.raw = raw
			s.dispatch(c, argv)
			if c.quit {
				s.endBatch(c)
				_ = c.w.Flush()
				return
			}
			if c.w.Len() > flushEarly {
				s.endBatch(c)
				if c.w.Flush() != nil {
					return
				}
			}
		}
		s.endBatch(c)
		if c.w.Len() > 0 {
			// Let the other connections made runnable by the same network
			// poll run their commands first, so that the replies go out
			// back to back, as Redis writes them all before it sleeps
			// again: a client (redis-benchmark, a proxy) reading many
			// connections is then woken once for several replies, not
			// once per reply, a wake-up costing more than the write. HSET
			// -P 16: 0.95 -> 0.79 us of CPU per command, ZADD 1.9 -> 1.4;
			// commands cheaper than a wake-up do not change.
			runtime.Gosched()
		}
		if c.w.Flush() != nil {
			return
		}
		if !rd.room() {
			s.log.Warn("Closing client that reached max query buffer length", "addr", c.addr)
			return
		}
		if t := s.clientTimeout.Load(); t > 0 && c.repl.replica == nil && !c.subscribedMode() {
			_ = c.nc.SetReadDeadline(time.Now().Add(time.Duration(t)))
			deadline = true
		} else if deadline {
			_ = c.nc.SetReadDeadline(time.Time{}) // timeout set to 0 since
			deadline = false
		}
		n, err := c.nc.Read(rd.buf[rd.end:])
		rd.end += n
		if err != nil && n == 0 {
			return
		}
	}
}

// endBatch holds the batch's replies until its writes are durable. If the
// AOF cannot be written with appendfsync always, the replies are dropped
// and the connection closed: the client must not see OK for a write that
// is not on disk.
func (s *Server) endBatch(c *Client) {
	c.flushStats()
	if c.pendingOff == 0 {
		return
	}
	off := c.pendingOff
	c.pendingOff = 0
	if err := s.aof.sync(off); err != nil && s.aof.policy.Load() == fsyncAlways && c.nc != nil {
		c.w.Discard()
		c.nc.Close()
		c.repl.held = c.repl.held[:0]
		return
	}
	s.awaitAcks(c) // repl-ack-replicas (wait.go)
}
