//go:build !unix

package proxy

import (
	"net"
	"syscall"
)

// connAlive cannot peek on this system: an idle connection is assumed
// usable (a broken one fails its first request).
func connAlive(net.Conn) bool { return true }

// peerClosed cannot peek on this system: a client gone while blocked is
// noticed when its blocking command ends.
func peerClosed(syscall.RawConn) bool { return false }
