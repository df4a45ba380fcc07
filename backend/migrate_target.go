package backend

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// migrateTargets caches connections to the servers keys are migrated to
// (SHARDIS.MIGRATEKEY, SHARDIS.MIGRATESLOTS), like Redis' MIGRATE cached
// sockets: a connection is taken for one exchange and handed back, so
// several clients migrating to the same target run in parallel, each on
// its own connection. Idle connections are closed after migrateIdle and
// all of them when the server stops.
type migrateTargets struct {
	mu     sync.Mutex
	idle   map[string][]*migrateConn // by "host:port|password"
	closed bool

	// guard answers TRYAGAIN for keys migrated away (migrate_guard.go).
	guard migrateGuard
}

// migrateIdle is how long an unused cached connection is kept.
const migrateIdle = 30 * time.Second

// migrateMaxIdle bounds the idle connections kept per target.
const migrateMaxIdle = 8

// migrateConn is one connection to a target: a buffered RESP writer and
// reader, used by one client at a time.
type migrateConn struct {
	key  string
	nc   net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	used time.Time
}

// errTargetReply is a target's error reply (e.g. BUSYKEY): the connection
// stays usable.
type errTargetReply struct{ msg string }

func (e *errTargetReply) Error() string { return e.msg }

// take returns a connection to addr (a cached one, or a new one dialled
// within timeout, authenticated with password when given).
func (m *migrateTargets) take(addr, password string, timeout time.Duration) (*migrateConn, error) {
	key := addr + "|" + password
	now := time.Now()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errors.New("server is shutting down")
	}
	list := m.idle[key]
	for len(list) > 0 {
		mc := list[len(list)-1]
		list = list[:len(list)-1]
		if now.Sub(mc.used) < migrateIdle {
			m.idle[key] = list
			m.mu.Unlock()
			return mc, nil
		}
		mc.nc.Close()
	}
	delete(m.idle, key)
	m.mu.Unlock()
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	mc := &migrateConn{key: key, nc: nc, r: bufio.NewReaderSize(nc, 16<<10), w: bufio.NewWriterSize(nc, 64<<10)}
	if password != "" {
		mc.send("AUTH", password)
		if _, err := mc.flushRead(timeout, 1); err != nil {
			nc.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return mc, nil
}

// give hands mc back (ok) or closes it (after an I/O error).
func (m *migrateTargets) give(mc *migrateConn, ok bool) {
	if !ok {
		mc.nc.Close()
		return
	}
	mc.used = time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || len(m.idle[mc.key]) >= migrateMaxIdle {
		mc.nc.Close()
		return
	}
	if m.idle == nil {
		m.idle = map[string][]*migrateConn{}
	}
	m.idle[mc.key] = append(m.idle[mc.key], mc)
}

// closeAll closes the idle connections; later takes fail.
func (m *migrateTargets) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, list := range m.idle {
		for _, mc := range list {
			mc.nc.Close()
		}
	}
	m.idle = nil
}

// send buffers one command.
func (mc *migrateConn) send(args ...string) {
	mc.w.Write(appendCommandStrings(nil, args...))
}

// sendBytes buffers one command of byte arguments.
func (mc *migrateConn) sendBytes(args ...[]byte) {
	mc.w.Write(appendCommand(nil, args...))
}

// flushRead writes the buffered commands and reads n replies. An I/O or
// protocol error is returned as is (the connection is then unusable); the
// replies' own errors are in the result as *errTargetReply, nil for a
// success.
func (mc *migrateConn) flushRead(timeout time.Duration, n int) ([]error, error) {
	_ = mc.nc.SetDeadline(time.Now().Add(timeout))
	if err := mc.w.Flush(); err != nil {
		return nil, err
	}
	out := make([]error, n)
	for i := range out {
		msg, err := mc.readReply()
		if err != nil {
			return nil, err
		}
		if msg != "" {
			out[i] = &errTargetReply{msg}
		}
	}
	if n == 1 && out[0] != nil {
		return out, out[0]
	}
	return out, nil
}

// readReply reads one reply, skipping its content; for an error reply it
// returns the error's text (else "").
func (mc *migrateConn) readReply() (string, error) {
	line, err := mc.r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return "", errors.New("protocol error in the target's reply")
	}
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '+', ':':
		return "", nil
	case '-':
		if body == "" {
			body = "ERR"
		}
		return body, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return "", errors.New("protocol error in the target's reply")
		}
		if n >= 0 {
			if _, err := mc.r.Discard(n + 2); err != nil {
				return "", err
			}
		}
		return "", nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return "", errors.New("protocol error in the target's reply")
		}
		for i := 0; i < n; i++ {
			if _, err := mc.readReply(); err != nil {
				return "", err
			}
		}
		return "", nil
	}
	return "", errors.New("protocol error in the target's reply")
}
