package proxy

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// Statistics are atomic counters owned by the Proxy, its Pools and their
// servers (no global state). The stats port serves them in twemproxy's
// JSON layout (stats_json.go of nutcracker: the same field names, order
// and separators), so an existing nutcracker dashboard keeps working;
// INFO shows them Redis-style.

// proxyStats are twemproxy's process-wide connection counters. As in
// twemproxy they count every connection object: listeners, clients and
// server connections.
type proxyStats struct {
	totalConns atomic.Int64
	currConns  atomic.Int64
}

func (s *proxyStats) connOpened() { s.totalConns.Add(1); s.currConns.Add(1) }
func (s *proxyStats) connClosed() { s.currConns.Add(-1) }

func (s *proxyStats) serverConnOpened() { s.connOpened() }
func (s *proxyStats) serverConnClosed() { s.connClosed() }

// poolStats are twemproxy's pool counters plus the proxy's own.
type poolStats struct {
	clientEOF    atomic.Int64 // client_eof
	clientErr    atomic.Int64 // client_err
	serverEjects atomic.Int64 // server_ejects
	forwardError atomic.Int64 // forward_error
	fragments    atomic.Int64 // fragments

	clientsTotal    atomic.Int64 // clients accepted
	clientsRejected atomic.Int64 // refused by client_connections
	unknown         atomic.Int64 // unknown or unsupported commands
	crossSlot       atomic.Int64 // -CROSSSLOT replies

	cmds []cmdStats // by command id; the last slot is for unknown commands
}

// cmdStats are Redis' commandstats of one command.
type cmdStats struct {
	calls    atomic.Int64
	usec     atomic.Int64
	rejected atomic.Int64 // answered with an error by the proxy
	failed   atomic.Int64 // answered with an error by a server, or a backend error
	_        [32]byte     // keep commands on separate cache lines
}

// serverStats are twemproxy's server counters.
type serverStats struct {
	eof           atomic.Int64 // server_eof
	err           atomic.Int64 // server_err
	timedout      atomic.Int64 // server_timedout
	connections   atomic.Int64 // server_connections
	requests      atomic.Int64 // requests
	requestBytes  atomic.Int64 // request_bytes
	responses     atomic.Int64 // responses
	responseBytes atomic.Int64 // response_bytes
}

// sessionStats gathers one session's command statistics and adds them to
// the pool's counters when the session has nothing more to send (so a
// pipeline costs a few atomic additions, not a few per command).
type sessionStats struct {
	pool    *Pool
	entries []sessionCmdStats
}

type sessionCmdStats struct {
	id                            int
	calls, usec, rejected, failed int64
	hist                          [histBuckets]int64 // latency histogram (metrics.go)
}

func newSessionStats(p *Pool) *sessionStats { return &sessionStats{pool: p} }

// count records the reply of r, written at now (one clock read for a
// whole batch of replies: at -P 16 a clock read per reply was 2% of the
// proxy's CPU).
func (st *sessionStats) count(r *request, now time.Time) {
	if r.push {
		return // a pub/sub message
	}
	id := unknownCommandID
	if r.cmd != nil {
		id = r.cmd.id
	}
	var e *sessionCmdStats
	for i := range st.entries {
		if st.entries[i].id == id {
			e = &st.entries[i]
			break
		}
	}
	if e == nil {
		st.entries = append(st.entries, sessionCmdStats{id: id})
		e = &st.entries[len(st.entries)-1]
	}
	e.calls++
	took := now.Sub(r.start)
	e.usec += int64(took / time.Microsecond)
	e.hist[histBucket(took)]++
	if len(r.slowRaw) > 0 {
		st.pool.slowlog.note(r, took)
	}
	if isErrorReply(r.reply) {
		if r.forwarded {
			e.failed++
		} else {
			e.rejected++
		}
	}
}

// flush adds the gathered counts to the pool.
func (st *sessionStats) flush() {
	for i := range st.entries {
		e := &st.entries[i]
		if e.calls == 0 {
			continue
		}
		c := &st.pool.stats.cmds[e.id]
		c.calls.Add(e.calls)
		c.usec.Add(e.usec)
		if e.rejected > 0 {
			c.rejected.Add(e.rejected)
		}
		if e.failed > 0 {
			c.failed.Add(e.failed)
		}
		st.pool.hist[e.id].add(&e.hist)
		e.calls, e.usec, e.rejected, e.failed = 0, 0, 0, 0
	}
	if len(st.entries) > 32 {
		st.entries = st.entries[:0]
	}
}

// twemproxyLess orders names as twemproxy sorts pools and servers:
// shorter first, then bytewise.
func twemproxyCompare(a, b string) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
}

// statsJSON renders the statistics in nutcracker's stats-port format.
func (p *Proxy) statsJSON(now time.Time) []byte {
	b := make([]byte, 0, 1024)
	b = append(b, `{"service":`...)
	b = appendJSONString(b, "shardis-proxy")
	b = append(b, `, "source":`...)
	b = appendJSONString(b, p.hostname)
	b = append(b, `, "version":`...)
	b = appendJSONString(b, p.version)
	b = appendField(b, ", ", "uptime", int64(now.Sub(p.started)/time.Second))
	b = appendField(b, ", ", "timestamp", now.Unix())
	b = appendField(b, ", ", "total_connections", p.stats.totalConns.Load())
	b = appendField(b, ", ", "curr_connections", p.stats.currConns.Load())
	pools := p.Pools()
	slices.SortStableFunc(pools, func(a, b *Pool) int { return twemproxyCompare(a.name, b.name) })
	for i, pl := range pools {
		sep := ","
		if i == 0 {
			sep = ", "
		}
		b = append(b, sep...)
		b = appendJSONString(b, pl.name)
		b = append(b, `: {`...)
		st := &pl.stats
		b = appendField(b, "", "client_eof", st.clientEOF.Load())
		b = appendField(b, ", ", "client_err", st.clientErr.Load())
		b = appendField(b, ", ", "client_connections", pl.clients.Load())
		b = appendField(b, ", ", "server_ejects", st.serverEjects.Load())
		b = appendField(b, ", ", "forward_error", st.forwardError.Load())
		b = appendField(b, ", ", "fragments", st.fragments.Load())
		for j, sv := range pl.statServers() {
			sep := ","
			if j == 0 {
				sep = ", "
			}
			b = append(b, sep...)
			b = appendJSONString(b, sv.name)
			b = append(b, `: {`...)
			ss := sv.stats
			var in, inBytes, out, outBytes int
			for _, c := range sv.conns {
				a, ab, o, ob := c.queues()
				in, inBytes, out, outBytes = in+a, inBytes+ab, out+o, outBytes+ob
			}
			b = appendField(b, "", "server_eof", ss.eof.Load())
			b = appendField(b, ", ", "server_err", ss.err.Load())
			b = appendField(b, ", ", "server_timedout", ss.timedout.Load())
			b = appendField(b, ", ", "server_connections", ss.connections.Load())
			b = appendField(b, ", ", "server_ejected_at", sv.ejectedAt.Load())
			b = appendField(b, ", ", "requests", ss.requests.Load())
			b = appendField(b, ", ", "request_bytes", ss.requestBytes.Load())
			b = appendField(b, ", ", "responses", ss.responses.Load())
			b = appendField(b, ", ", "response_bytes", ss.responseBytes.Load())
			b = appendField(b, ", ", "in_queue", int64(in))
			b = appendField(b, ", ", "in_queue_bytes", int64(inBytes))
			b = appendField(b, ", ", "out_queue", int64(out))
			b = appendField(b, ", ", "out_queue_bytes", int64(outBytes))
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

func appendField(b []byte, sep, name string, v int64) []byte {
	b = append(b, sep...)
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendInt(b, v, 10)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
