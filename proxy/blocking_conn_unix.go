//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// connAlive reports whether an idle connection is still usable: the
// server has neither closed it nor sent anything unasked (a peek that
// would block means both are false).
func connAlive(nc net.Conn) bool {
	rc := rawConn(nc)
	if rc == nil {
		return true
	}
	alive := false
	var b [1]byte
	err := rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && alive
}

// peerClosed reports whether the peer of rc closed its side (a read would
// return EOF) or the connection failed, without consuming anything.
func peerClosed(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	closed := false
	err := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
		case err != nil:
			closed = true
		default:
			closed = n == 0
		}
		return true
	})
	return err != nil || closed
}
