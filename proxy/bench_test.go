package proxy

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shardis/shardis/conf"
)

// loopReader serves the same bytes over and over.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if l.off == len(l.data) {
		l.off = 0
	}
	n := copy(p, l.data[l.off:])
	l.off += n
	return n, nil
}

func pipelineBytes(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		k := "key:" + strconv.Itoa(i*7919)
		if i%2 == 0 {
			b.WriteString(cmd("SET", k, "value-"+strconv.Itoa(i)))
		} else {
			b.WriteString(cmd("GET", k))
		}
	}
	return b.Bytes()
}

// BenchmarkReqReader parses a pipeline of SET/GET commands: the proxy's
// zero-copy reader against redcon's Reader (which copies every command and
// allocates its argument slices). ns/op is per command.
func BenchmarkReqReader(b *testing.B) {
	data := pipelineBytes(1000)
	b.Run("proxy", func(b *testing.B) {
		rr := newReqReader(&loopReader{data: data})
		b.SetBytes(int64(len(data)) / 1000)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if n == 0 {
				cmds, err := rr.next()
				if err != nil {
					b.Fatal(err)
				}
				n = len(cmds)
			}
			n--
		}
	})
	b.Run("redcon", func(b *testing.B) {
		rd := redcon.NewReader(&loopReader{data: data})
		b.SetBytes(int64(len(data)) / 1000)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rd.ReadCommand(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchPool builds a proxy over two servers that are never dialed: their
// connections are marked up, so requests queue in memory.
func benchPool(b *testing.B) (*Pool, *session) {
	yaml := yamlPool("p", "127.0.0.1:1", []string{"127.0.0.1:2:1", "127.0.0.1:3:1"})
	pools, err := conf.Parse("bench.yml", []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	px, err := New(Options{Pools: pools})
	if err != nil {
		b.Fatal(err)
	}
	p := px.Pool("p")
	for i := 0; i < p.Table().Len(); i++ {
		for _, c := range p.Table().Shard(i).master.conns {
			c.state = connUp
		}
	}
	c1, c2 := net.Pipe()
	b.Cleanup(func() { c1.Close(); c2.Close() })
	return p, newSession(p, 1, c1)
}

// drainConns answers every queued request with reply and recycles it, as
// the backend readers and the session writer would.
func drainConns(p *Pool, reply []byte) {
	for i := 0; i < p.Table().Len(); i++ {
		for _, c := range p.Table().Shard(i).master.conns {
			c.mu.Lock()
			c.wbuf = c.wbuf[:0]
			c.unsent, c.ubytes, c.sbytes = 0, 0, 0
			for c.fifo.len() > 0 {
				r, _ := c.fifo.pop()
				c.mu.Unlock()
				if r.setReply(reply) != nil {
					p.proxy.reqs.put(r)
				}
				c.mu.Lock()
			}
			c.mu.Unlock()
		}
	}
}

// BenchmarkHotPath is the proxy's per-command work without the network:
// parse a pipelined command, look the command up, hash the key, route it
// to its server, copy it into the server's write buffer, then match a
// reply to it and recycle it. ns/op and allocs/op are per command.
func BenchmarkHotPath(b *testing.B) {
	p, s := benchPool(b)
	data := pipelineBytes(1000)
	rr := newReqReader(&loopReader{data: data})
	now := time.Now()
	b.ReportAllocs()
	var cmds []command
	for b.Loop() {
		if len(cmds) == 0 {
			drainConns(p, []byte("+OK\r\n"))
			var err error
			if cmds, err = rr.next(); err != nil {
				b.Fatal(err)
			}
			s.tbl = p.table.Load()
		}
		req := p.proxy.reqs.get(s, now)
		s.dispatch(req, &cmds[0])
		cmds = cmds[1:]
		s.touched = s.touched[:0]
	}
	drainConns(p, []byte("+OK\r\n"))
}

// BenchmarkMGetSplitMerge splits an MGET of 10 keys over two servers and
// merges the two replies in key order. ns/op is per MGET.
func BenchmarkMGetSplitMerge(b *testing.B) {
	p, s := benchPool(b)
	args := []string{"MGET"}
	for i := 0; i < 10; i++ {
		args = append(args, fmt.Sprintf("key:%d", i*104729))
	}
	raw := []byte(cmd(args...))
	rr := newReqReader(bytes.NewReader(raw))
	cmds, err := rr.next()
	if err != nil {
		b.Fatal(err)
	}
	c := cmds[0]
	s.tbl = p.table.Load()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		req := p.proxy.reqs.get(s, now)
		s.dispatch(req, &c)
		s.touched = s.touched[:0]
		// Each server answers an array of as many values as it got keys.
		for i := 0; i < p.Table().Len(); i++ {
			conn := p.Table().Shard(i).master.conns[0]
			conn.mu.Lock()
			n := conn.fifo.len()
			reqs := make([]*request, 0, n)
			for conn.fifo.len() > 0 {
				r, _ := conn.fifo.pop()
				reqs = append(reqs, r)
			}
			conn.wbuf = conn.wbuf[:0]
			conn.unsent, conn.ubytes, conn.sbytes = 0, 0, 0
			conn.mu.Unlock()
			for _, r := range reqs {
				nk := 0
				for _, k := range r.parent.keySub {
					if r.parent.subs[k] == r {
						nk++
					}
				}
				r.reply = appendArrayLen(r.reply[:0], nk)
				for j := 0; j < nk; j++ {
					r.reply = appendBulkString(r.reply, "value")
				}
				r.complete()
			}
		}
		if !req.done.Load() || len(req.reply) == 0 || req.reply[0] != '*' {
			b.Fatalf("MGET not merged: %q", req.reply)
		}
		p.proxy.reqs.put(req)
	}
}

// BenchmarkReplyScan finds the end of typical replies.
func BenchmarkReplyScan(b *testing.B) {
	replies := [][]byte{[]byte("+OK\r\n"), []byte("$10\r\nvalue-1234\r\n"), []byte(":42\r\n"),
		[]byte("*3\r\n$1\r\na\r\n$-1\r\n$3\r\nabc\r\n")}
	b.ReportAllocs()
	var sc replyScanner
	i := 0
	for b.Loop() {
		if n, err := sc.scan(replies[i%len(replies)]); n == 0 || err != nil {
			b.Fatal(n, err)
		}
		i++
	}
}
