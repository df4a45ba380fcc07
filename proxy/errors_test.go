package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestErrReason: the reason a client reads in "-ERR backend <addr>:
// <reason>" is short and never Go's own wording.
func TestErrReason(t *testing.T) {
	opErr := func(err error) error { return &net.OpError{Op: "read", Net: "tcp", Err: err} }
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "unknown error"},
		{ErrTimeout, "timeout"},
		{opErr(os.ErrDeadlineExceeded), "timeout"},
		{io.EOF, "connection closed by server"},
		{fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), "connection closed by server"},
		// A connection the proxy closed itself (a failover retired it):
		// not "use of closed network connection".
		{net.ErrClosed, "connection closed"},
		{opErr(net.ErrClosed), "connection closed"},
		{fmt.Errorf("write: %w", opErr(net.ErrClosed)), "connection closed"},
		{opErr(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), "connection refused"},
		{ErrServerReplaced, "server connections replaced by a reload"},
		{errors.New("AUTH failed: WRONGPASS"), "AUTH failed: WRONGPASS"},
	} {
		if got := errReason(tc.err); got != tc.want {
			t.Errorf("errReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	got := backendErrText("127.0.0.1:39635", opErr(net.ErrClosed))
	if want := "ERR backend 127.0.0.1:39635: connection closed"; got != want {
		t.Fatalf("backendErrText = %q, want %q", got, want)
	}
}
