package backend

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseAll feeds data to a reader in chunks of the given sizes (cycled)
// and returns every parsed command (and the error that ended parsing).
func parseAll(data []byte, chunks []int) (out []string) {
	var r reader
	pos := 0
	for ci := 0; ; ci++ {
		for {
			argv, raw, st, perr := r.next(true, 1<<20)
			if st == parseNeedMore {
				break
			}
			if st == parseError {
				return append(out, "ERR "+perr)
			}
			out = append(out, fmt.Sprintf("%q raw=%v", argv, raw != nil))
		}
		if pos >= len(data) {
			return out
		}
		if !r.room() {
			return append(out, "LIMIT")
		}
		n := len(data) - pos
		if len(chunks) > 0 {
			n = min(n, max(1, chunks[ci%len(chunks)]))
		}
		n = copy(r.buf[r.end:], data[pos:pos+n])
		r.end += n
		pos += n
	}
}

// TestParserSplits: parsing gives the same commands whatever the read
// boundaries (every split of a pipeline, like redcon's own tests).
func TestParserSplits(t *testing.T) {
	g := newCmdGen(9)
	var pipe []byte
	for i := 0; i < 300; i++ {
		pipe = append(pipe, encodeCommand(g.next()...)...)
	}
	pipe = append(pipe, "PING\r\nSET 'a b' \"c\\x41\"\r\n*0\r\n*1\r\n$4\r\nPING\r\n"...)
	whole := parseAll(pipe, nil)
	if len(whole) != 303 {
		t.Fatalf("parsed %d commands, want 303", len(whole))
	}
	for _, chunks := range [][]int{{1}, {2}, {3, 7}, {16384}, {5, 1, 100}} {
		if got := parseAll(pipe, chunks); strings.Join(got, "\n") != strings.Join(whole, "\n") {
			t.Fatalf("chunks %v: results differ", chunks)
		}
	}
}

// FuzzParser: arbitrary bytes never panic the request parser, and the
// result does not depend on how the bytes were split into reads.
func FuzzParser(f *testing.F) {
	for _, tc := range protocolCases {
		f.Add([]byte(tc.data), uint8(3))
	}
	g := newCmdGen(5)
	for i := 0; i < 32; i++ {
		f.Add(encodeCommand(g.next()...), uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		whole := parseAll(data, nil)
		got := parseAll(data, []int{int(split%17) + 1, int(split/17) + 1})
		if strings.Join(got, "\n") != strings.Join(whole, "\n") {
			t.Fatalf("split %d changes the parse:\n%q\n%q", split, whole, got)
		}
	})
}

// FuzzAOFReader: an arbitrary file never panics the AOF reader; every
// outcome is a command, the clean end, a truncation or a format error
// with an offset inside the file.
func FuzzAOFReader(f *testing.F) {
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n"))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb"))
	f.Add([]byte("*2\r\n$3\r\nDEL\r\n#1\r\na\r\n"))
	f.Add([]byte("*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ar := &aofReader{r: bufio.NewReader(bytes.NewReader(data))}
		for i := 0; i < 1000; i++ {
			_, err := ar.next()
			if err == nil {
				continue
			}
			if fe, ok := err.(*formatError); ok && (fe.off < 0 || fe.off > int64(len(data))) {
				t.Fatalf("offset %d outside the file (%d bytes)", fe.off, len(data))
			}
			return
		}
	})
}

// TestLoadFileErrors runs the loader on a few damaged files end to end.
func TestLoadFileErrors(t *testing.T) {
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s.logH.setWriter(discard{})
	dir := t.TempDir()
	p := filepath.Join(dir, "x.aof")
	os.WriteFile(p, []byte("*1\r\n$4\r\nPING\r\nxyz"), 0o644)
	if _, err := s.loadFile(p, true); err == nil || !strings.Contains(err.Error(), "byte offset 14") {
		t.Fatalf("garbage after a command: %v", err)
	}
}
