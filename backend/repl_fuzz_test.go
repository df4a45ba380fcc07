package backend

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the replication parsers: the state file, replicaof
// values, and what a replica reads from its master (snapshot payload and
// stream). Bad input is an error, never a panic or a hang.

func FuzzReplStateFile(f *testing.F) {
	f.Add("replid " + strings.Repeat("a", 40) + "\nreplid2 " + noReplID + "\nsecond_repl_offset -1\naof_inode 5\naof_size 10\nrepl_offset 20\naof_tail_xxhash 7\n")
	f.Add("# comment\nreplid x\n")
	f.Add("repl_offset -1\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parseStateFile(strings.NewReader(s))
		if err == nil && (len(st.replid) != 40 || st.offset < 0 || st.aofSize < 0) {
			t.Fatalf("accepted %+v", st)
		}
	})
}

func FuzzReplicaOf(f *testing.F) {
	for _, s := range []string{"127.0.0.1 6379", "no one", "", "h 70000", "a b c", "host -1", "NO ONE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, p, err := parseReplicaOf(s)
		if err == nil && h != "" && (p < 0 || p > 65535) {
			t.Fatalf("%q: port %d", s, p)
		}
	})
}

// memConn is a net.Conn reading from a buffer and discarding writes.
type memConn struct{ r io.Reader }

func (c *memConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *memConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzReplicaStream feeds bytes to a replica as a master's full resync
// payload followed by the stream.
func FuzzReplicaStream(f *testing.F) {
	mark := strings.Repeat("m", 40)
	set := string(encodeCommand("SET", "a", "1"))
	f.Add("$EOF:" + mark + "\r\n" + set + mark + string(encodeCommand("INCR", "n")) + string(encodeCommand("MULTI")) +
		string(encodeCommand("RPUSH", "l", "x")) + string(encodeCommand("EXEC")) + string(encodeCommand("PING")))
	f.Add("\n\n$" + strconv.Itoa(len(set)) + "\r\n" + set + string(encodeCommand("DEL", "a")))
	f.Add("$5\r\nREDIS")
	f.Add("$EOF:" + mark + "\r\nREDIS0010")
	f.Add("$EOF:" + mark + "\r\n" + mark + "*1\r\n$4\r\nPING\r\nx")
	f.Add("$EOF:" + mark + "\r\n" + mark + "*0\r\n")
	f.Add("-ERR no\r\n")
	f.Fuzz(func(t *testing.T, data string) {
		cfg := DefaultConfig()
		cfg.Dir = t.TempDir()
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.logH.setWriter(io.Discard)
		l := newMasterLink(s.repl, "127.0.0.1", 1)
		defer l.cancel()
		lr := &linkReader{l: l, conn: &memConn{r: bytes.NewReader([]byte(data))}, timeout: time.Second}
		if err := l.fullSync(lr, strings.Repeat("r", 40), 0); err != nil {
			return
		}
		mc := s.newInternalClient()
		if err := l.stream(lr, mc); err == nil {
			t.Fatal("stream ended without an error")
		}
	})
}
