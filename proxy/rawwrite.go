package proxy

import (
	"errors"
	"net"
	"syscall"
)

// writeNow writes as much of b as the socket takes without blocking and
// returns how much it wrote. Goroutines that must never block on a
// client or server (a backend reader answering many clients, a session
// reader feeding many servers) use it; whatever is left is handed to the
// connection's writer goroutine, which may block. rc nil means the
// connection has no file descriptor: nothing is written.
func writeNow(rc syscall.RawConn, b []byte) (int, error) {
	if rc == nil || len(b) == 0 {
		return 0, nil
	}
	var (
		n   int
		err error
	)
	cerr := rc.Write(func(fd uintptr) bool {
		for {
			n, err = syscall.Write(int(fd), b)
			if err != syscall.EINTR {
				return true // never wait for the socket to drain
			}
		}
	})
	if cerr != nil {
		return 0, cerr
	}
	if n < 0 {
		n = 0
	}
	if errors.Is(err, syscall.EAGAIN) {
		err = nil
	}
	return n, err
}

// rawConn returns nc's syscall.RawConn, or nil.
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
