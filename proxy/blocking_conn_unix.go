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
