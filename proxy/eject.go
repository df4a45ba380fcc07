package proxy

import (
	"errors"
	"io"
	"net"
	"time"
)

// auto_eject_hosts, as twemproxy does it: every failed connect and every
// broken connection (error, EOF, timeout) of a server counts as a failure,
// a reply resets the count, and server_failure_limit consecutive failures
// eject the server: the pool's route table is rebuilt without it (ketama,
// modula and random move its keys to the other servers; a slot-based pool
// answers its keys with an error). Unlike twemproxy, which puts a server
// back blindly after server_retry_timeout, an ejected server returns only
// once a health check (connect, AUTH/SELECT, PING) succeeds; the check is
// repeated every server_retry_timeout.

// noteBroken counts a failed connect or a broken connection.
func (sv *server) noteBroken(err error) {
	cfg := sv.pool.config()
	if !cfg.AutoEjectHosts || sv.ejected() {
		return
	}
	if int(sv.failures.Add(1)) >= max(cfg.ServerFailureLimit, 1) {
		sv.eject(err)
	}
}

// noteOK records that the server answered.
func (sv *server) noteOK() {
	if sv.failures.Load() != 0 {
		sv.failures.Store(0)
	}
}

// eject takes the server out of the pool's distribution and starts its
// health check.
func (sv *server) eject(cause error) {
	sv.mu.Lock()
	if sv.ejectedAt.Load() != 0 || sv.isClosed() {
		sv.mu.Unlock()
		return
	}
	sv.revived = make(chan struct{})
	sv.ejectedAt.Store(time.Now().UnixMicro())
	sv.mu.Unlock()
	p := sv.pool
	p.stats.serverEjects.Add(1)
	p.log.Warn("server ejected", "server", sv.addr, "failures", sv.failures.Load(), "err", errReason(cause),
		"retry", p.config().ServerRetryTimeout)
	p.rebuild("ejected " + sv.addr)
	sv.startHealthCheck()
}

// startHealthCheck starts the health check of an ejected server.
func (sv *server) startHealthCheck() {
	p := sv.pool
	p.wg.Add(1)
	go func() { // owned by the server; ends when it is back or closed
		defer p.wg.Done()
		sv.healthLoop()
	}()
}

// healthLoop checks an ejected server every server_retry_timeout and puts
// it back once it answers PING.
func (sv *server) healthLoop() {
	p := sv.pool
	for {
		retry := p.config().ServerRetryTimeout // a reload may change it
		if retry <= 0 {
			retry = minBackoff
		}
		select {
		case <-time.After(retry):
		case <-sv.closed:
			return
		}
		if !sv.ejected() {
			return // put back by a reload turning auto_eject_hosts off
		}
		if err := sv.ping(); err != nil {
			p.log.Debug("ejected server still failing", "server", sv.addr, "err", errReason(err))
			continue
		}
		if sv.revive() {
			p.log.Info("ejected server is back", "server", sv.addr)
			p.rebuild("revived " + sv.addr)
		}
		return
	}
}

// revive ends the server's ejection (the caller rebuilds the route
// table) and reports whether it was ejected.
func (sv *server) revive() bool {
	if !sv.ejected() {
		return false
	}
	// Let requests queue on the connections (instead of failing at
	// once) before keys route here again.
	for _, c := range sv.conns {
		c.mu.Lock()
		if c.state == connDown {
			c.state = connConnecting
		}
		c.mu.Unlock()
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.ejectedAt.Load() == 0 {
		return false
	}
	sv.failures.Store(0)
	sv.ejectedAt.Store(0)
	close(sv.revived)
	return true
}

// errNoPong is a health check that got something other than PONG.
var errNoPong = errors.New("health check: no PONG")

// ping opens a connection to the server (with AUTH/SELECT) and sends PING.
func (sv *server) ping() error {
	nc, err := sv.dial()
	if err != nil {
		return err
	}
	defer nc.Close()
	timeout := sv.pool.config().Timeout
	if timeout <= 0 {
		timeout = defaultDialTimeout
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	if _, err := nc.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	replies, err := readReplies(nc, 1)
	if err != nil {
		return err
	}
	if string(replies[0]) != "+PONG\r\n" {
		return errNoPong
	}
	return nil
}

// isEOF reports whether err means the peer closed the connection.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
