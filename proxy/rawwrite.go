package proxy

import (
	"errors"
	"net"
	"syscall"
)

// rawWriter writes as much of a buffer as a client's socket takes
// without blocking (writeNow). The session's output owner uses it, often
// a backend reader answering many clients, which must never block on
// one; whatever is left is handed to the session's writer goroutine,
// which may block. Its callback is made once, so a write allocates
// nothing (a closure per call would escape: one allocation per reply).
// One goroutine at a time: the owner.
type rawWriter struct {
	rc  syscall.RawConn // nil: the connection has no descriptor, nothing is written
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func newRawWriter(rc syscall.RawConn) *rawWriter {
	w := &rawWriter{rc: rc}
	w.fn = func(fd uintptr) bool {
		for {
			w.n, w.err = syscall.Write(int(fd), w.b)
			if w.err != syscall.EINTR {
				return true // never wait for the socket to drain
			}
		}
	}
	return w
}

// writeNow writes what of b the socket takes now and returns how much.
func (w *rawWriter) writeNow(b []byte) (int, error) {
	if w.rc == nil || len(b) == 0 {
		return 0, nil
	}
	w.b, w.n, w.err = b, 0, nil
	cerr := w.rc.Write(w.fn)
	n, err := w.n, w.err
	w.b, w.err = nil, nil
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
