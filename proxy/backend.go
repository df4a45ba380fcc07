package proxy

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Backend connection settings that are not configuration keys.
const (
	// defaultDialTimeout bounds a connect (and AUTH/SELECT) when the pool
	// has no timeout.
	defaultDialTimeout = 2 * time.Second
	// Reconnect backoff after a failed or broken connection.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
	// maxConnPending bounds the requests queued on one server connection;
	// a session waits for room beyond it.
	maxConnPending = 65536
	// retireGrace is how long a server a new route table dropped keeps
	// serving requests of older tables before its connections close.
	retireGrace = 5 * time.Second
)

// server is one backend address of a pool: its server_connections
// connections, its auto-eject state and its statistics. Servers are keyed
// by address in their pool and outlive route tables, which point at them.
type server struct {
	pool     *Pool
	addr     string // as written in the topology
	name     string // the name statistics use (twemproxy's server name)
	network  string // "tcp" or "unix"
	dialAddr string
	conns    []*backendConn
	stats    *serverStats // shared with the server this one replaced (renewServers)
	// dedicated are the connections transactions and blocking commands
	// lease (blocking_conn.go).
	dedicated *dedicatedPool

	failures  atomic.Int32 // consecutive failures (auto_eject_hosts)
	ejectedAt atomic.Int64 // UnixMicro of the ejection, 0 when live

	mu       sync.Mutex
	revived  chan struct{} // closed when an ejection ends; replaced at each
	closed   chan struct{} // closed by close
	closeErr error
	retired  *time.Timer // set while the server waits to be closed
}

func newServer(p *Pool, addr, name string) *server {
	sv := &server{
		pool: p, addr: addr, name: name,
		revived:   make(chan struct{}),
		closed:    make(chan struct{}),
		dedicated: newDedicatedPool(),
		stats:     &serverStats{},
	}
	sv.network, sv.dialAddr = dialTarget(addr)
	n := max(p.config().ServerConnections, 1)
	sv.conns = make([]*backendConn, n)
	for i := range sv.conns {
		sv.conns[i] = newBackendConn(sv)
	}
	return sv
}

// dialTarget turns an address as written ("host:port" split at the last
// ':', so a bare IPv6 address works as in twemproxy, or a socket path)
// into what net.Dial takes.
func dialTarget(addr string) (network, dial string) {
	if strings.HasPrefix(addr, "/") {
		return "unix", addr
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "tcp", addr
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr[:i], "["), "]")
	return "tcp", net.JoinHostPort(host, addr[i+1:])
}

// connFor returns the connection a session uses: always the same one for
// a session, so that a client's commands to one server keep their order.
func (sv *server) connFor(session uint64) *backendConn {
	return sv.conns[session%uint64(len(sv.conns))]
}

// start connects every connection now (preconnect).
func (sv *server) start() {
	for _, c := range sv.conns {
		c.mu.Lock()
		c.startLocked()
		c.mu.Unlock()
	}
}

// close closes the server's connections; requests waiting on them and
// any sent later fail with err.
func (sv *server) close(err error) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	select {
	case <-sv.closed:
		return
	default:
	}
	sv.closeErr = err
	close(sv.closed)
	for _, c := range sv.conns {
		c.kick()
	}
	sv.dedicated.closeAll(err)
}

func (sv *server) isClosed() bool {
	select {
	case <-sv.closed:
		return true
	default:
		return false
	}
}

func (sv *server) closedErr() error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.closeErr
}

// dial connects to the server and runs the handshake: AUTH with the
// pool's redis_auth, SELECT its redis_db.
func (sv *server) dial() (net.Conn, error) {
	cfg := sv.pool.config()
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultDialTimeout
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	if cfg.TCPKeepalive {
		d.KeepAlive = 0 // Go's default keepalive period
	}
	nc, err := d.Dial(sv.network, sv.dialAddr)
	if err != nil {
		return nil, err
	}
	var hs []byte
	var steps []string
	if cfg.RedisAuth != "" {
		hs = appendCommand(hs, []byte("AUTH"), []byte(cfg.RedisAuth))
		steps = append(steps, "AUTH")
	}
	if cfg.RedisDB != 0 {
		hs = appendCommand(hs, []byte("SELECT"), []byte(strconv.Itoa(cfg.RedisDB)))
		steps = append(steps, "SELECT "+strconv.Itoa(cfg.RedisDB))
	}
	if len(steps) > 0 {
		if err := handshake(nc, hs, steps, time.Now().Add(timeout)); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return nc, nil
}

// handshake writes cmds and expects +OK to each of steps, before deadline.
func handshake(nc net.Conn, cmds []byte, steps []string, deadline time.Time) error {
	_ = nc.SetDeadline(deadline)
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(cmds); err != nil {
		return err
	}
	replies, err := readReplies(nc, len(steps))
	if err != nil {
		return err
	}
	for i, r := range replies {
		if string(r) != "+OK\r\n" {
			return fmt.Errorf("%s failed: %s", steps[i], strings.TrimSpace(strings.TrimPrefix(string(r), "-")))
		}
	}
	return nil
}

// readReplies reads n complete replies from nc (handshakes and health
// checks only; the request path has its own reader).
func readReplies(nc net.Conn, n int) ([][]byte, error) {
	var (
		buf  = make([]byte, 0, 512)
		sc   replyScanner
		out  [][]byte
		tmp  [512]byte
		from int
	)
	for len(out) < n {
		m, err := sc.scan(buf[from:])
		if err != nil {
			return nil, err
		}
		if m > 0 {
			out = append(out, buf[from:from+m])
			from += m
			continue
		}
		k, err := nc.Read(tmp[:])
		buf = append(buf, tmp[:k]...)
		if err != nil && k == 0 {
			return nil, err
		}
	}
	return out, nil
}

// ejected reports whether auto_eject_hosts has taken the server out.
func (sv *server) ejected() bool { return sv.ejectedAt.Load() != 0 }

// revivedChan returns the channel closed when the current ejection ends.
func (sv *server) revivedChan() chan struct{} {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.revived
}
