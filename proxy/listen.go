package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/shardis/shardis/conf"
)

// ErrAddrInUse: a unix socket path is already served by another process.
var ErrAddrInUse = errors.New("address already in use")

// listen opens a pool's listener: TCP with the pool's backlog and
// optionally SO_REUSEPORT, or a unix socket (a stale socket file left by
// a dead process is replaced) with the configured permissions.
func listen(l conf.Listen, backlog int, reuseport bool) (net.Listener, error) {
	lc := net.ListenConfig{}
	if reuseport {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setReusePort(fd) }); err != nil {
				return err
			}
			return serr
		}
	}
	var (
		ln  net.Listener
		err error
	)
	switch l.Network {
	case "unix":
		if err := removeStaleSocket(l.Addr); err != nil {
			return nil, err
		}
		ln, err = lc.Listen(context.Background(), "unix", l.Addr)
		if err == nil && l.Perm != 0 {
			if err := os.Chmod(l.Addr, l.Perm); err != nil {
				ln.Close()
				return nil, err
			}
		}
	default:
		ln, err = lc.Listen(context.Background(), "tcp", l.Addr)
	}
	if err != nil {
		return nil, err
	}
	if backlog > 0 {
		setBacklog(ln, backlog)
	}
	return ln, nil
}

// setBacklog applies the pool's backlog: Go listens with the system's
// somaxconn, and a second listen(2) on a listening socket changes it.
func setBacklog(ln net.Listener, backlog int) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { _ = syscall.Listen(int(fd), backlog) })
}

// removeStaleSocket removes a unix socket file nobody accepts on.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil // absent, or not a socket: let listen report it
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: %w", path, ErrAddrInUse)
	}
	return os.Remove(path)
}
