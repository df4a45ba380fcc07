package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// chunkReader returns its data in pieces of random sizes (1..max bytes).
type chunkReader struct {
	data []byte
	rnd  *rand.Rand
	max  int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1 + r.rnd.IntN(r.max)
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// readAll parses everything from rd and returns the commands' arguments
// (copied) and the error that ended the stream.
func readAll(rd io.Reader) ([][]string, [][]byte, error) {
	rr := newReqReader(rd)
	var out [][]string
	var raws [][]byte
	for {
		cmds, err := rr.next()
		for _, c := range cmds {
			var args []string
			for _, a := range c.args {
				args = append(args, string(a))
			}
			out = append(out, args)
			raws = append(raws, bytes.Clone(c.raw))
		}
		if err != nil {
			return out, raws, err
		}
	}
}

func TestReqReaderTable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]string
		err  string // "" means the stream ends with EOF
	}{
		{"one", "*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}, ""},
		{"two pipelined", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
			[][]string{{"GET", "k"}, {"SET", "k", ""}}, ""},
		{"binary arg", "*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n", [][]string{{"GET", "a\r\nb"}}, ""},
		{"empty multibulk is skipped", "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}, ""},
		{"inline", "PING\r\nset k  \"a b\\x41\\n\" 'c\\'d'\n", [][]string{{"PING"}, {"set", "k", "a bA\n", "c'd"}}, ""},
		{"inline blank line", "\r\n  \n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}, ""},
		{"bad multibulk length", "*x\r\n", nil, "Protocol error: invalid multibulk length"},
		{"too many args", fmt.Sprintf("*%d\r\n", MaxArgs+1), nil, "Protocol error: invalid multibulk length"},
		{"max args header ok", fmt.Sprintf("*%d\r\n$1\r\n", MaxArgs), nil, ""},
		{"expected $", "*1\r\n:1\r\n", nil, "Protocol error: expected '$', got ':'"},
		{"negative bulk", "*1\r\n$-1\r\n", nil, "Protocol error: invalid bulk length"},
		{"bulk over 512MB", fmt.Sprintf("*1\r\n$%d\r\n", MaxBulkLen+1), nil, "Protocol error: invalid bulk length"},
		{"bulk not terminated", "*1\r\n$2\r\nabX\r\n", nil, "Protocol error: bulk string not terminated by CRLF"},
		{"bare LF header", "*1\n$4\r\nPING\r\n", nil, "Protocol error: invalid multibulk length"},
		{"command before error survives", "*1\r\n$4\r\nPING\r\n*q\r\n", [][]string{{"PING"}}, "Protocol error: invalid multibulk length"},
		{"unbalanced quotes", "set k \"abc\r\n", nil, "Protocol error: unbalanced quotes in request"},
		{"quote then letter", "set k \"abc\"d\r\n", nil, "Protocol error: unbalanced quotes in request"},
		{"big inline", strings.Repeat("a", MaxInlineLen+10), nil, "Protocol error: too big inline request"},
		{"big mbulk count", "*" + strings.Repeat("1", MaxInlineLen+10), nil, "Protocol error: too big mbulk count string"},
		{"big bulk count", "*1\r\n$" + strings.Repeat("1", MaxInlineLen+10), nil, "Protocol error: too big bulk count string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := readAll(strings.NewReader(tc.in))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("commands %q, want %q", got, tc.want)
			}
			switch {
			case tc.err == "" && !errors.Is(err, io.EOF):
				t.Errorf("error %v, want EOF", err)
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Errorf("error %v, want %q", err, tc.err)
			case tc.err != "" && !errors.Is(err, ErrProtocol):
				t.Errorf("error %v does not match ErrProtocol", err)
			}
		})
	}
}

// TestReqReaderRandomSplits feeds thousands of random commands split at
// random byte boundaries (redcon's way of testing its reader) and checks
// every command comes out whole, with raw equal to what was sent.
func TestReqReaderRandomSplits(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 8; round++ {
		maxChunk := 1 + rnd.IntN(5000)
		if round%4 == 0 {
			maxChunk = 1 + rnd.IntN(16) // tiny reads: every boundary
		}
		var want [][]string
		var stream []byte
		for i := 0; i < 500; i++ {
			n := 1 + rnd.IntN(6)
			args := make([]string, n)
			for j := range args {
				b := make([]byte, rnd.IntN(40))
				for k := range b {
					b[k] = byte(rnd.IntN(256))
				}
				if maxChunk > 1000 && rnd.IntN(50) == 0 {
					b = bytes.Repeat([]byte("x"), 70000) // larger than the buffer
				}
				args[j] = string(b)
			}
			want = append(want, args)
			stream = append(stream, cmd(args...)...)
		}
		got, raws, err := readAll(&chunkReader{data: stream, rnd: rnd, max: maxChunk})
		if !errors.Is(err, io.EOF) {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d commands, want %d", round, len(got), len(want))
		}
		for i := range want {
			if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) || string(raws[i]) != cmd(want[i]...) {
				t.Fatalf("round %d: command %d differs", round, i)
			}
		}
	}
}

// TestReqReaderLinear checks that a command with many arguments arriving
// a few bytes at a time is parsed in linear time: it must finish quickly
// even with 200,000 arguments fed 7 bytes per read.
func TestReqReaderLinear(t *testing.T) {
	args := make([]string, 200000)
	for i := range args {
		args[i] = "a"
	}
	stream := cmd(args...)
	got, _, err := readAll(&chunkReader{data: []byte(stream), rnd: rand.New(rand.NewPCG(3, 4)), max: 7})
	if !errors.Is(err, io.EOF) || len(got) != 1 || len(got[0]) != len(args) {
		t.Fatalf("got %d commands, err %v", len(got), err)
	}
}

// TestReqReaderNoAllocBeforeData: a huge bulk length alone allocates
// nothing big; the buffer grows only as data arrives.
func TestReqReaderNoAllocBeforeData(t *testing.T) {
	rr := newReqReader(strings.NewReader(fmt.Sprintf("*1\r\n$%d\r\nabc", MaxBulkLen)))
	_, err := rr.next()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err %v", err)
	}
	if len(rr.buf) > readBufMax {
		t.Errorf("buffer of %d bytes for %d bytes received", len(rr.buf), rr.w)
	}
}

func FuzzReqReader(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n"))
	f.Add([]byte("PING\r\nset a \"b\\x41\" 'c'\n"))
	f.Add([]byte("*0\r\n*-1\r\n*1\r\n$-1\r\n"))
	f.Add([]byte("*1\r\n$2\r\nabX\r\n"))
	f.Add([]byte("*1048577\r\n"))
	f.Add([]byte("*1\r\n$536870913\r\n"))
	f.Add([]byte("set k \"unterminated\r\n"))
	f.Add([]byte("*2\r\n$4\r\nMGET\r\n$-0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, max := range []int{1, 3, len(data) + 1} {
			got, raws, err := readAll(&chunkReader{data: data, rnd: rand.New(rand.NewPCG(5, 6)), max: max})
			if err == nil {
				t.Fatal("stream ended without an error")
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, ErrProtocol) {
				t.Fatalf("unexpected error %v", err)
			}
			for i, args := range got {
				if len(args) == 0 {
					t.Fatalf("command %d has no arguments", i)
				}
				// raw is the RESP encoding of the arguments.
				if string(raws[i]) != cmd(args...) {
					t.Fatalf("command %d: raw %q is not the encoding of %q", i, raws[i], args)
				}
			}
		}
	})
}

func TestReplyScanner(t *testing.T) {
	good := []string{
		"+OK\r\n", "-ERR x\r\n", ":42\r\n", "$-1\r\n", "$0\r\n\r\n", "$3\r\na\nb\r\n",
		"*-1\r\n", "*0\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "*2\r\n*1\r\n+x\r\n*0\r\n",
	}
	for _, g := range good {
		for cut := 0; cut < len(g); cut++ {
			var sc replyScanner
			if n, err := sc.scan([]byte(g[:cut])); n != 0 || err != nil {
				t.Errorf("%q cut at %d: %d %v", g, cut, n, err)
			}
			// resume with the whole reply
			if n, err := sc.scan([]byte(g + "+next\r\n")); n != len(g) || err != nil {
				t.Errorf("%q resumed after %d: %d %v", g, cut, n, err)
			}
		}
	}
	for _, b := range []string{"x\r\n", "+OK\n", "$x\r\n", "$-2\r\n", "$1\r\nab\r\n", "*-2\r\n", "%1\r\n"} {
		var sc replyScanner
		if _, err := sc.scan([]byte(b)); !errors.Is(err, ErrBadReply) {
			t.Errorf("%q: err %v", b, err)
		}
	}
}

func FuzzReplyScanner(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "$-1\r\n", "*3\r\n*1\r\n:1\r\n$0\r\n\r\n-E\r\n", "$5\r\nab"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var whole replyScanner
		n, err := whole.scan(data)
		// Feeding the same bytes one at a time must agree.
		var inc replyScanner
		m, ierr := 0, error(nil)
		for i := 1; i <= len(data); i++ {
			m, ierr = inc.scan(data[:i])
			if m != 0 || ierr != nil {
				break
			}
		}
		if (err == nil) != (ierr == nil) || (err == nil && n != m) {
			t.Fatalf("whole %d %v, incremental %d %v", n, err, m, ierr)
		}
		if n > len(data) {
			t.Fatalf("length %d beyond %d bytes", n, len(data))
		}
	})
}
