package backend

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// errTruncated marks an AOF that ends in the middle of a command.
var errTruncated = errors.New("truncated")

// aofReader reads the strict RESP of an AOF: arrays of bulk strings only.
type aofReader struct {
	r   *bufio.Reader
	off int64 // bytes consumed
}

// formatError is a corruption at a byte offset.
type formatError struct {
	off int64
	msg string
}

func (e *formatError) Error() string { return fmt.Sprintf("%s at byte offset %d", e.msg, e.off) }

// next reads one command. It returns io.EOF at a clean end, errTruncated
// when the file ends inside a command and a *formatError for bad bytes.
func (ar *aofReader) next() ([][]byte, error) {
	start := ar.off
	n, err := ar.header('*', start)
	if err != nil {
		return nil, err
	}
	if n < 1 || n > maxMultibulkLen {
		return nil, &formatError{start, "invalid multibulk length"}
	}
	args := make([][]byte, n)
	for i := range args {
		at := ar.off
		l, err := ar.header('$', at)
		if err == io.EOF {
			return nil, errTruncated
		}
		if err != nil {
			return nil, err
		}
		if l < 0 || l > maxStringLen {
			return nil, &formatError{at, "invalid bulk length"}
		}
		b, err := readN(ar.r, l+2)
		if err != nil {
			return nil, errTruncated
		}
		ar.off += l + 2
		if b[l] != '\r' || b[l+1] != '\n' {
			return nil, &formatError{ar.off - 2, "expected CRLF after bulk data"}
		}
		args[i] = b[:l:l]
	}
	return args, nil
}

// readN reads exactly n bytes. Large lengths come from the file, which may
// be damaged: the buffer grows as bytes actually arrive instead of being
// allocated from the header.
func readN(r io.Reader, n int64) ([]byte, error) {
	if n <= 1<<20 {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	var buf bytes.Buffer
	m, err := io.CopyN(&buf, r, n)
	if m != n {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// header reads "<prefix><integer>\r\n".
func (ar *aofReader) header(prefix byte, at int64) (int64, error) {
	c, err := ar.r.ReadByte()
	if err != nil {
		if at == ar.off && prefix == '*' {
			return 0, io.EOF
		}
		return 0, errTruncated
	}
	ar.off++
	if c != prefix {
		return 0, &formatError{ar.off - 1, fmt.Sprintf("expected '%c', got %q", prefix, c)}
	}
	line, err := ar.r.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return 0, &formatError{ar.off, "header line too long"}
		}
		return 0, errTruncated
	}
	ar.off += int64(len(line))
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return 0, &formatError{ar.off - 1, "expected CRLF"}
	}
	n, ok := parseInt(line[:len(line)-2])
	if !ok {
		return 0, &formatError{at + 1, "invalid number"}
	}
	return n, nil
}

// loadFile replays a RESP command file (AOF or snapshot) into the
// keyspace. A truncated last command (or an unterminated MULTI) is dropped
// and, if truncate, cut from the file; bad bytes before the end are an
// error naming the byte offset. It returns the number of commands applied.
func (s *Server) loadFile(path string, truncate bool) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	ar := &aofReader{r: bufio.NewReaderSize(f, 1<<20)}
	c := s.newInternalClient()
	applied := 0
	var multi [][][]byte // commands of an open MULTI
	multiAt := int64(-1)
	good := int64(0) // offset after the last applied command
	for {
		start := ar.off
		args, err := ar.next()
		if err == io.EOF {
			break
		}
		if err == errTruncated {
			cut := start
			if multiAt >= 0 {
				cut = multiAt
			}
			return applied, s.truncatedAOF(path, cut, ar.off, truncate)
		}
		var fe *formatError
		if errors.As(err, &fe) {
			return applied, fmt.Errorf("%w %s: %v (make a backup of the file, then fix or truncate it)", ErrAOFCorrupt, path, fe)
		}
		if err != nil {
			return applied, err
		}
		name := strings.ToLower(string(args[0]))
		switch {
		case name == "multi":
			multi, multiAt = multi[:0], start
			continue
		case name == "exec" && multiAt >= 0:
			for _, a := range multi {
				if err := s.applyLoaded(c, a, path, start); err != nil {
					return applied, err
				}
				applied++
			}
			multi, multiAt = nil, -1
			good = ar.off
			continue
		case multiAt >= 0:
			multi = append(multi, args)
			continue
		}
		if err := s.applyLoaded(c, args, path, start); err != nil {
			return applied, err
		}
		applied++
		good = ar.off
	}
	if multiAt >= 0 {
		s.log.Warn("Revert incomplete MULTI/EXEC transaction in AOF file", "file", path, "offset", multiAt)
		return applied, s.truncatedAOF(path, multiAt, good, truncate)
	}
	return applied, nil
}

func (s *Server) applyLoaded(c *Client, args [][]byte, path string, at int64) error {
	if s.cmds.lookup(args[0]) == nil {
		return fmt.Errorf("%w %s: unknown command '%s' at byte offset %d", ErrAOFCorrupt, path, clip(string(args[0]), 128), at)
	}
	c.raw = nil
	s.dispatch(c, args)
	_ = c.w.Flush()
	return nil
}

// truncatedAOF handles a file that ends inside a command at offset cut.
func (s *Server) truncatedAOF(path string, cut, size int64, truncate bool) error {
	if !truncate {
		return fmt.Errorf("%w %s: unexpected end of file at byte offset %d (aof-load-truncated is off)", ErrAOFCorrupt, path, size)
	}
	s.log.Warn("!!! Warning: short read while loading the AOF file !!!", "file", path, "truncating_at", cut)
	if err := os.Truncate(path, cut); err != nil {
		return fmt.Errorf("backend: truncating the AOF at %d: %w", cut, err)
	}
	s.log.Warn("AOF loaded anyway because aof-load-truncated is enabled")
	return nil
}
