package backend

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// rawExchange writes data, half-closes nothing, and reads until the server
// closes the connection or quiet passes with no new bytes.
func rawExchange(t testing.TB, addr string, data []byte, quiet time.Duration) (string, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { _, _ = c.Write(data) }() // ends when written or the conn closes
	var out bytes.Buffer
	buf := make([]byte, 64<<10)
	closed := false
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				break
			}
			closed = err == io.EOF || strings.Contains(err.Error(), "reset")
			break
		}
	}
	return out.String(), closed
}

// protocolCases are Redis' own protocol tests (tests/unit/protocol.tcl)
// and more: the replies and whether the connection is closed must match.
var protocolCases = []struct {
	name string
	data string
}{
	{"empty query", "\r\n\r\nPING\r\n"},
	{"negative multibulk length", "*-10\r\nPING\r\n"},
	{"zero multibulk length", "*0\r\n*1\r\n$4\r\nPING\r\n"},
	{"out of range multibulk length", "*3000000000\r\n"},
	{"wrong multibulk payload header", "*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"},
	{"negative multibulk payload length", "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n"},
	{"out of range multibulk payload length", "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n"},
	{"non-number multibulk payload length", "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n"},
	{"multibulk not followed by bulk", "*1\r\nfoo\r\n"},
	{"generic wrong number of args", "ping x y z\r\n"},
	{"unbalanced quotes", "set \"\"\"test-key\"\"\" test-value\r\nping\r\n"},
	{"commands before a protocol error run", "*1\r\n$4\r\nPING\r\nECHO hi\r\n*1\r\n$x\r\n"},
	{"inline quoting", "SET 'a b' \"c\\x41\\n\"\r\nGET 'a b'\r\nGET a\"b c\"\r\n"},
	{"inline closing quote then char", "ECHO \"a\"b\r\n"},
	{"inline NUL ends the line", "ECHO a\x00b c\r\n"},
	{"pipelined mix", "PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING x\r\n*1\r\n$4\r\nPING\r\n"},
	{"CRLF after bulk is not checked", "*2\r\n$4\r\nECHO\r\n$2\r\nhiXY*1\r\n$4\r\nPING\r\n"},
	{"bad multibulk count", "*x\r\n"},
	{"multibulk count without CR", "*1\n$4\r\nPING\r\n"},
	{"empty count", "*\r\n"},
	{"unknown command then ok", "FOO bar\r\nPING\r\n"},
	{"lf only inline", "PING\nPING\n"},
	{"quit stops the pipeline", "PING\r\nQUIT\r\nPING\r\n"},
	{"too big inline request", "PING" + strings.Repeat("x", 70<<10)},
	{"too big bulk count string", "*1\r\n$" + strings.Repeat("1", 70<<10)},
	{"too big mbulk count string", "*" + strings.Repeat("1", 70<<10)},
}

// TestProtocolDifferential compares raw protocol behaviour with
// redis-server: replies, and that the offending client is closed.
func TestProtocolDifferential(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	for _, tc := range protocolCases {
		t.Run(tc.name, func(t *testing.T) {
			want, wantClosed := rawExchange(t, rd.Addr, []byte(tc.data), 300*time.Millisecond)
			got, gotClosed := rawExchange(t, sh.addr(), []byte(tc.data), 300*time.Millisecond)
			if want != got || wantClosed != gotClosed {
				t.Fatalf("redis: %q closed=%v\nshardis: %q closed=%v", want, wantClosed, got, gotClosed)
			}
		})
	}
	// The server and other clients carried on.
	if r := dialRaw(t, sh.addr()).do("PING"); r != "+PONG\r\n" {
		t.Fatalf("after protocol errors: %q", r)
	}
}

// TestProtocolLimitsAllocation: announcing a huge bulk (within the limit)
// and sending a little must not allocate the announced size; over the limit
// is refused at once.
func TestProtocolLimits(t *testing.T) {
	sh := startServer(t, func(c *Config) { c.ProtoMaxBulkLen = 1 << 20 })
	got, closed := rawExchange(t, sh.addr(), []byte("*2\r\n$4\r\nECHO\r\n$2097152\r\n"), 300*time.Millisecond)
	if got != "-ERR Protocol error: invalid bulk length\r\n" || !closed {
		t.Fatalf("over proto-max-bulk-len: %q closed=%v", got, closed)
	}
	// Exactly at the limit is accepted.
	payload := strings.Repeat("a", 1<<20)
	got, _ = rawExchange(t, sh.addr(), []byte("*2\r\n$4\r\nECHO\r\n$1048576\r\n"+payload+"\r\n"), time.Second)
	if len(got) != len(payload)+len("$1048576\r\n\r\n") {
		t.Fatalf("at the limit: got %d bytes", len(got))
	}
	// More than 1M arguments is refused (Redis allows up to 2^31).
	got, closed = rawExchange(t, sh.addr(), []byte("*1048577\r\n"), 300*time.Millisecond)
	if got != "-ERR Protocol error: invalid multibulk length\r\n" || !closed {
		t.Fatalf("too many arguments: %q closed=%v", got, closed)
	}
	// Unauthenticated clients get Redis' smaller limits.
	sp := startServer(t, func(c *Config) { c.RequirePass = "pw" })
	got, closed = rawExchange(t, sp.addr(), []byte("*20\r\n"), 300*time.Millisecond)
	if got != "-ERR Protocol error: unauthenticated multibulk length\r\n" || !closed {
		t.Fatalf("unauthenticated: %q closed=%v", got, closed)
	}
	got, _ = rawExchange(t, sp.addr(), []byte("AUTH pw\r\n*20\r\n"), 300*time.Millisecond)
	if got != "+OK\r\n" {
		t.Fatalf("authenticated: %q", got)
	}
}

func TestSplitArgs(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"a b  c", []string{"a", "b", "c"}, true},
		{`"a b" c`, []string{"a b", "c"}, true},
		{`'it\'s'`, []string{"it's"}, true},
		{`"\x41\x4a\n"`, []string{"AJ\n"}, true},
		{`"\x4"`, []string{"x4"}, true},
		{`a"b c"`, []string{"ab c"}, true},
		{`"unterminated`, nil, false},
		{`"a"b`, nil, false},
		{`'a'b`, nil, false},
		{"", nil, true},
		{"   ", nil, true},
	}
	for _, c := range cases {
		got, ok := splitArgs([]byte(c.in))
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		if ok != c.ok || strings.Join(gs, "|") != strings.Join(c.want, "|") {
			t.Errorf("splitArgs(%q) = %q, %v; want %q, %v", c.in, gs, ok, c.want, c.ok)
		}
	}
}
