package backend

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// fuzzServer is one in-process server shared by a fuzzing process.
var fuzzServer struct {
	once sync.Once
	s    *Server
}

// FuzzCommandPath feeds arbitrary bytes to the command path (protocol
// guard, redcon, dispatch, every handler) through a real connection: the
// server must never panic, must close or keep the connection without
// hanging once the client stops sending, and other clients must keep
// working.
func FuzzCommandPath(f *testing.F) {
	for _, tc := range protocolCases {
		f.Add([]byte(tc.data))
	}
	g := newCmdGen(42)
	for i := 0; i < 64; i++ {
		f.Add(encodeCommand(g.next()...))
	}
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n10\r\n*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n"))
	f.Add([]byte("CONFIG SET hz 100\r\nCONFIG GET *\r\nINFO everything\r\nCOMMAND DOCS\r\nCLIENT LIST\r\n"))
	f.Add([]byte("MULTI\r\nSET a b\r\nEXEC\r\n"))
	f.Add([]byte("*1\r\n$8\r\nSHUTDOWX\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzServer.once.Do(func() { fuzzServer.s = startDetached(t) })
		s := fuzzServer.s
		// SHUTDOWN would stop the shared server; CONFIG SET could make it
		// unusable (requirepass, maxclients): the command path for those
		// is exercised by their own tests.
		if containsFold(data, "shutdown") || containsFold(data, "requirepass") || containsFold(data, "maxclients") ||
			containsFold(data, "appendonly") || containsFold(data, "proto-max") || containsFold(data, "timeout") ||
			containsFold(data, "kill") {
			return
		}
		c, err := net.DialTimeout("tcp", s.addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		go func() { // ends when written or the connection closes
			_, _ = c.Write(data)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		// The server closes the connection (a reset when it closes with
		// unread input, after a protocol error, like Redis) or waits for
		// more: then the client's EOF ends it. Only a timeout is a hang.
		if _, err := io.Copy(io.Discard, c); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection did not end after the client stopped sending: %v", err)
			}
		}
		p, err := net.DialTimeout("tcp", s.addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		_ = p.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := p.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 7)
		if _, err := io.ReadFull(p, buf); err != nil || string(buf) != "+PONG\r\n" {
			t.Fatalf("other client after fuzz input: %q %v", buf, err)
		}
	})
}

// startDetached starts a server that lives as long as the fuzzing process
// (the fuzz engine runs many inputs per process).
func startDetached(t *testing.T) *Server {
	dir, err := os.MkdirTemp("", "shardis-fuzz-")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.Dir = dir
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.logH.setWriter(io.Discard)
	go func() { _ = s.Serve(context.Background()) }() // lives until the process exits
	<-s.Ready()
	return s
}

func containsFold(b []byte, word string) bool {
	n := len(word)
	for i := 0; i+n <= len(b); i++ {
		if eqFold(b[i:i+n], word) {
			return true
		}
	}
	return false
}
