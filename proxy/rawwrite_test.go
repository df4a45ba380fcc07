package proxy

import (
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRawWriterNoAllocs(t *testing.T) {
	a, b := tcpPair(t)
	go func() { _, _ = io.Copy(io.Discard, b) }()
	w := newRawWriter(rawConn(a))
	msg := []byte("+OK\r\n")
	allocs := testing.AllocsPerRun(1000, func() {
		if n, err := w.writeNow(msg); n != len(msg) || err != nil {
			t.Fatalf("writeNow = %d, %v", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("writeNow allocates %.1f times per call, want 0", allocs)
	}
}

func TestRawWriterNeverBlocks(t *testing.T) {
	a, b := tcpPair(t) // b never reads: a's socket fills up
	w := newRawWriter(rawConn(a))
	chunk := make([]byte, 1<<20)
	total := 0
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := w.writeNow(chunk)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n < len(chunk) {
			break // the socket took what it could: a partial write, no wait
		}
		if time.Now().After(deadline) {
			t.Fatalf("the socket took %d bytes and still has room", total)
		}
	}
	if n, err := w.writeNow(chunk); n != 0 || err != nil {
		t.Errorf("writeNow on a full socket = %d, %v; want 0, nil", n, err)
	}
	// The peer reads everything that was accepted.
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	a.Close()
	got, err := io.Copy(io.Discard, b)
	if err != nil || int(got) != total {
		t.Errorf("peer read %d bytes (%v), want %d", got, err, total)
	}
	if n, err := w.writeNow(chunk); err == nil {
		t.Errorf("writeNow after Close = %d, nil; want an error", n)
	}
	if n, err := (&rawWriter{}).writeNow(chunk); n != 0 || err != nil {
		t.Errorf("writeNow without a descriptor = %d, %v", n, err)
	}
}
