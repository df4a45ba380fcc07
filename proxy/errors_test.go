package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
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

// fakeConn is a server connection whose Read waits for readEOF and then
// returns EOF, and whose Write blocks until the connection is closed.
type fakeConn struct {
	net.Conn // nil: the other methods are not called
	readEOF  chan struct{}
	writing  chan struct{}
	closed   chan struct{}
	once     sync.Once
}

func (f *fakeConn) Read([]byte) (int, error) {
	select {
	case <-f.readEOF:
		return 0, io.EOF
	case <-f.closed:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
	}
}

func (f *fakeConn) Write([]byte) (int, error) {
	close(f.writing)
	<-f.closed
	return 0, &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
}

func (f *fakeConn) Close() error                       { f.once.Do(func() { close(f.closed) }); return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error    { return nil }
func (f *fakeConn) SetDeadline(time.Time) error        { return nil }
func (f *fakeConn) SetWriteDeadline(t time.Time) error { return nil }

// TestBackendConnReason: the server closes the connection while the
// proxy is writing to it; the reader closes it and the writer's write
// fails with net.ErrClosed. The requests fail with the reader's reason
// (the server closed the connection), not the writer's.
func TestBackendConnReason(t *testing.T) {
	pools := parsePools(t, yamlPool("p", "127.0.0.1:1", []string{"127.0.0.1:2:1"}))
	px, err := New(Options{Pools: pools})
	if err != nil {
		t.Fatal(err)
	}
	p := px.Pool("p")
	c := p.Table().Shard(0).master.conns[0]
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	s := newSession(p, 1, c1)
	c.mu.Lock()
	c.state = connConnecting // not connIdle: enqueue must not dial
	c.mu.Unlock()
	c.enqueue(px.reqs.get(s, time.Now()), []byte(cmd("GET", "k")))
	f := &fakeConn{readEOF: make(chan struct{}), writing: make(chan struct{}), closed: make(chan struct{})}
	errc := make(chan error, 1)
	go func() { errc <- c.serve(f) }()
	select {
	case <-f.writing:
	case <-time.After(10 * time.Second):
		t.Fatal("the request was not written")
	}
	close(f.readEOF)
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
	}
	if got := errReason(err); got != ErrServerEOF.Error() {
		t.Fatalf("serve: %v (reason %q), want the reader's EOF", err, got)
	}
}
