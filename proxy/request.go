package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxKeptReply is the largest reply buffer a recycled request keeps.
const maxKeptReply = 64 << 10

// request is one client command on its way through the proxy. A session's
// reader creates it, a backend connection (or the session itself, for a
// local command or an immediate error) completes it, and the session's
// writer sends its reply in arrival order and recycles it.
//
// A command split over several shards (MGET, MSET, DEL, ...) is a parent
// request with one sub-request per shard; the last sub-request to
// complete merges the replies into the parent and completes it.
type request struct {
	sess  *session
	cmd   *cmdInfo // nil for an unknown command or a protocol error
	start time.Time
	reply []byte

	// done is set, with release semantics, once reply is final; the
	// session writer reads reply only after it sees done.
	done atomic.Bool
	// closeAfter: close the client connection once this reply is sent
	// (QUIT, a protocol error).
	closeAfter bool
	// forwarded: the reply came from a server (for statistics).
	forwarded bool
	// push: a pub/sub message, not the reply to a command (no statistics).
	push bool

	// SCAN: the shard scanned and the next live shard (-1: none); scan.go.
	scanShard, scanNext int32
	// slowRaw is the start of the command, kept while the pool has a
	// slowlog, and slowName the client's name (slowlog.go).
	slowRaw  []byte
	slowName string

	// split commands
	parent  *request
	subs    []*request
	pending atomic.Int32 // sub-requests not complete yet
	keySub  []int32      // sub-request index of each key, in key order
}

// requestPool recycles requests; it belongs to a Proxy.
type requestPool struct{ p sync.Pool }

func (rp *requestPool) get(s *session, start time.Time) *request {
	r, _ := rp.p.Get().(*request)
	if r == nil {
		r = &request{}
	}
	r.sess, r.start = s, start
	return r
}

// put recycles r and its sub-requests. r must be complete and no longer
// referenced by any queue.
func (rp *requestPool) put(r *request) {
	for i, sub := range r.subs {
		rp.put(sub)
		r.subs[i] = nil
	}
	r.subs = r.subs[:0]
	if cap(r.reply) > maxKeptReply {
		r.reply = nil
	}
	r.reply = r.reply[:0]
	r.sess, r.cmd, r.parent = nil, nil, nil
	r.closeAfter, r.forwarded, r.push = false, false, false
	r.slowRaw, r.slowName = r.slowRaw[:0], ""
	r.keySub = r.keySub[:0]
	r.done.Store(false)
	rp.p.Put(r)
}

// setReply makes b the reply (copied) and completes r. It returns the
// session to wake, or nil (see complete).
func (r *request) setReply(b []byte) *session {
	r.reply = append(r.reply[:0], b...)
	return r.complete()
}

// setError completes r with the error reply "-<msg>".
func (r *request) setError(msg string) *session {
	r.reply = appendError(r.reply[:0], msg)
	return r.complete()
}

// complete marks r done. For a sub-request, the last one to complete
// merges the parent's reply and completes the parent. It returns the
// session whose writer must be woken because a reply it waits for is
// ready, or nil if none is (a sub-request whose siblings still run).
// Callers batch the wake-ups (see session.wakeWriter).
func (r *request) complete() *session {
	if p := r.parent; p != nil {
		if p.pending.Add(-1) != 0 {
			return nil
		}
		p.merge()
		return p.complete()
	}
	s := r.sess
	r.done.Store(true)
	return s
}
