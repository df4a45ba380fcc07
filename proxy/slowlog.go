package proxy

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SLOWLOG at the proxy. A pool keeps the requests slower than its
// slowlog_slower_than (conf.Pool.SlowlogSlowerThan; negative: none, 0:
// every request), at most slowlog_max_len of them, newest first, in Redis'
// SLOWLOG GET layout: id, Unix time, microseconds, arguments (at most 32,
// each cut at 128 bytes, as Redis cuts them), client address, client
// name. The time measured is the proxy's: from when the command was read
// to when its reply was written to the client, so it includes the server's
// time, the network and any wait behind the client's earlier pipelined
// commands. Blocking commands (their wait is the point) and EXEC (its
// commands are logged one by one, as Redis does) are not logged.
//
// While a pool has a slowlog, each request keeps a copy of its (cut)
// arguments until its reply is written (request.slowRaw): a few dozen
// bytes copied per request.

// Redis' limits on what a slowlog entry keeps of the arguments.
const (
	slowlogMaxArgc   = 32
	slowlogMaxArgLen = 128
)

// slowlog is a pool's slow request log. configure may be called again
// (a reload); sessions started before keep their choice of noting.
type slowlog struct {
	threshold atomic.Int64 // nanoseconds; < 0: off
	maxLen    atomic.Int64

	mu      sync.Mutex
	entries []slowEntry // oldest first
	nextID  int64
}

// slowEntry is one logged request.
type slowEntry struct {
	id     int64
	at     time.Time
	took   time.Duration
	args   []byte // RESP array of the (cut) arguments
	client string
	name   string
}

// configure sets the threshold (negative: off) and the number of entries
// kept, dropping the oldest beyond it.
func (sl *slowlog) configure(threshold time.Duration, maxLen int) {
	sl.threshold.Store(int64(threshold))
	sl.maxLen.Store(int64(maxLen))
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.trimLocked()
}

func (sl *slowlog) trimLocked() {
	if n := len(sl.entries) - int(max(sl.maxLen.Load(), 0)); n > 0 {
		clear(sl.entries[:n])
		sl.entries = append(sl.entries[:0], sl.entries[n:]...)
	}
}

// enabled reports whether requests must note their arguments.
func (sl *slowlog) enabled() bool {
	return sl.threshold.Load() >= 0 && sl.maxLen.Load() > 0
}

// note logs r if it took at least the threshold. It runs on the goroutine
// writing r's reply, before r is recycled.
func (sl *slowlog) note(r *request, took time.Duration) {
	th := sl.threshold.Load()
	if th < 0 || int64(took) < th {
		return
	}
	e := slowEntry{
		at: time.Now(), took: took,
		args: append([]byte(nil), r.slowRaw...),
		name: r.slowName,
	}
	if r.sess != nil {
		e.client = r.sess.remote
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.maxLen.Load() <= 0 {
		return
	}
	e.id = sl.nextID
	sl.nextID++
	sl.entries = append(sl.entries, e)
	sl.trimLocked()
}

// length is SLOWLOG LEN.
func (sl *slowlog) length() int {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return len(sl.entries)
}

// reset is SLOWLOG RESET.
func (sl *slowlog) reset() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	clear(sl.entries)
	sl.entries = sl.entries[:0]
}

// appendGet appends SLOWLOG GET's reply: the newest n entries (all for
// n < 0), newest first.
func (sl *slowlog) appendGet(b []byte, n int) []byte {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if n < 0 || n > len(sl.entries) {
		n = len(sl.entries)
	}
	b = appendArrayLen(b, n)
	for i := len(sl.entries) - 1; i >= len(sl.entries)-n; i-- {
		e := &sl.entries[i]
		b = appendArrayLen(b, 6)
		b = appendInt(b, e.id)
		b = appendInt(b, e.at.Unix())
		b = appendInt(b, int64(e.took/time.Microsecond))
		b = append(b, e.args...)
		b = appendBulkString(b, e.client)
		b = appendBulkString(b, e.name)
	}
	return b
}

// noteSlowlog keeps the start of the command for the slowlog (see
// slowlog), unless the command is one the slowlog skips.
func (r *request) noteSlowlog(s *session, ci *cmdInfo, args [][]byte) {
	if ci == nil || ci.skipSlow {
		return
	}
	r.slowRaw = appendSlowArgs(r.slowRaw[:0], args)
	r.slowName = s.name
}

// appendSlowArgs appends args as a RESP array, cut as Redis cuts a
// slowlog entry: beyond 32 arguments the 32nd says how many more there
// are, and an argument longer than 128 bytes says how many bytes more.
func appendSlowArgs(b []byte, args [][]byte) []byte {
	n := min(len(args), slowlogMaxArgc)
	b = appendArrayLen(b, n)
	for i := 0; i < n; i++ {
		if i == slowlogMaxArgc-1 && len(args) > slowlogMaxArgc {
			b = appendBulkString(b, "... ("+strconv.Itoa(len(args)-slowlogMaxArgc+1)+" more arguments)")
			break
		}
		a := args[i]
		if len(a) > slowlogMaxArgLen {
			cut := string(a[:slowlogMaxArgLen]) + "... (" + strconv.Itoa(len(a)-slowlogMaxArgLen) + " more bytes)"
			b = appendBulkString(b, cut)
			continue
		}
		b = appendBulk(b, a)
	}
	return b
}

// slowlogCommand serves SLOWLOG GET [count], LEN, RESET and HELP for the
// pool's slowlog.
func (s *session) slowlogCommand(req *request, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	arity := map[string]int{"get": -2, "len": 2, "reset": 2, "help": 2}
	n, ok := arity[sub]
	if !ok {
		req.setError("ERR unknown subcommand '" + clipString(string(args[1]), 128) + "'. Try SLOWLOG HELP.")
		return
	}
	if (n > 0 && len(args) != n) || (n < 0 && (len(args) < -n || len(args) > 3)) {
		req.setError(msgArity("slowlog|" + sub))
		return
	}
	sl := &s.pool.slowlog
	switch sub {
	case "get":
		count := 10
		if len(args) == 3 {
			v, ok := parseInt64(args[2])
			if !ok || v < -1 {
				req.setError("ERR count should be greater than or equal to -1")
				return
			}
			count = int(min(v, int64(1)<<31))
		}
		req.reply = sl.appendGet(req.reply[:0], count)
		req.complete()
	case "len":
		req.reply = appendInt(req.reply[:0], int64(sl.length()))
		req.complete()
	case "reset":
		sl.reset()
		req.setReply(replyOK)
	case "help":
		lines := []string{
			"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"GET [<count>]",
			"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
			"    Entries are made of:",
			"    id, timestamp, time in microseconds, arguments array, client IP and port,",
			"    client name",
			"LEN",
			"    Return the length of the slowlog.",
			"RESET",
			"    Reset the slowlog.",
			"HELP",
			"    Prints this help.",
		}
		b := appendArrayLen(req.reply[:0], len(lines))
		for _, l := range lines {
			b = appendSimple(b, l)
		}
		req.reply = b
		req.complete()
	}
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
