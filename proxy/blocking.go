package proxy

import (
	"math"
	"strconv"
	"time"
)

// Blocking commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX,
// BLMPOP, BZMPOP, and XREAD/XREADGROUP with BLOCK. Their keys must share
// a shard. Each runs on a dedicated
// connection to the shard's master (blocking_conn.go), never on the
// pipelined connections, so a client blocked for a minute delays nobody
// else. A session keeps using the same dedicated connection for the
// blocking commands it sends to a server while one is still waiting, so
// that they run one after the other as they would on one Redis
// connection; the connection goes back to the pool once nothing waits on
// it.
//
// The pool's timeout bounds the wait for a reply as usual, extended by
// the command's own timeout (0: block forever, so no limit at all).
//
// As in Redis, a blocked client's later commands wait until the
// blocking command is answered (the session's reader holds them; see
// waitUnblocked). A client that disconnects while blocked gets its
// dedicated connection closed, not handed back: the server would otherwise still pop an
// element for a client that is gone, and it would be lost. This costs a
// dial for the next blocking command. Redis does the same for a blocked
// client that disconnects (the command is cancelled with the client).

// blockTimeout returns how long a blocking command may block: its timeout
// argument (seconds, fractions allowed), -1 for forever (0), and 0 for a
// value the server will refuse at once.
func blockTimeout(ci *cmdInfo, args [][]byte) time.Duration {
	arg := args[len(args)-1]
	switch ci.keys {
	case keysNumkeys: // BLMPOP, BZMPOP: timeout numkeys key...
		arg = args[1]
	case keysStreams: // XREAD, XREADGROUP: BLOCK milliseconds
		ms, _ := streamBlock(ci, args)
		n, ok := parseInt64(ms)
		switch {
		case !ok || n < 0:
			return 0
		case n == 0:
			return -1
		}
		return time.Duration(n) * time.Millisecond
	}
	f, err := strconv.ParseFloat(string(arg), 64)
	switch {
	case err != nil || math.IsNaN(f) || f < 0:
		return 0
	case f == 0 || f > float64(math.MaxInt64/int64(time.Second)):
		return -1
	}
	return time.Duration(f * float64(time.Second))
}

// blocking serves a blocking command outside a transaction.
func (s *session) blocking(req *request, ci *cmdInfo, c *command) {
	idx, msg := keyIndexes(ci, c.args, s.keyIdx[:0])
	s.keyIdx = idx
	if msg != "" {
		req.setError(msg)
		return
	}
	var shard int
	if len(idx) > 0 {
		shard = s.tbl.lookupIndex(c.args[idx[0]])
	} else {
		shard = s.tbl.lookupIndex(nil) // a bad numkeys: the server answers the error
	}
	for _, i := range idx {
		if s.tbl.lookupIndex(c.args[i]) != shard {
			s.pool.stats.crossSlot.Add(1)
			req.setError(msgCrossSlot)
			return
		}
	}
	sh := s.tbl.Shard(shard)
	if sh.errReply != nil {
		req.setReply(sh.errReply)
		return
	}
	s.settle() // after the client's earlier commands, as on one Redis connection
	x := s.ext()
	if x.unblocked == nil {
		x.unblocked = make(chan struct{}, 1)
	}
	e := dedicatedEntry{req: req, wait: blockTimeout(ci, c.args), notify: x.unblocked}
	sv := sh.master
	if d := x.blocking[sv]; d != nil {
		if d.requeue(s, e, c.raw) {
			x.touchDedicated(d)
			d.handBack()
			x.blockedOn = d
			return
		}
		delete(x.blocking, sv)
	}
	d, err := sv.leaseDedicated(s)
	if err != nil {
		s.pool.stats.forwardError.Add(1)
		req.setError(backendErrText(sv.addr, err))
		return
	}
	if x.blocking == nil {
		x.blocking = map[*server]*dedicatedConn{}
	}
	x.blocking[sv] = d
	if d.queue(e, c.raw) {
		x.touchDedicated(d)
		x.blockedOn = d
	}
	d.handBack()
}

// waitUnblocked holds the session's reader while its blocking command
// waits, as Redis holds a blocked client: the client's later commands
// run once it is answered. The batch so far is already queued and
// flushed. While it waits it watches the client's socket: a client that
// goes away has its blocking connection closed (which answers the
// command with an error and ends the wait).
func (s *session) waitUnblocked() {
	x := s.x
	d := x.blockedOn
	x.blockedOn = nil
	tick := time.NewTicker(blockedPeekInterval)
	defer tick.Stop()
	aborted := false
	for {
		select {
		case <-x.unblocked:
			return
		case <-tick.C:
			if !aborted && peerClosed(s.rc) {
				d.abortOwned(s)
				aborted = true
			}
		}
	}
}

// blockedPeekInterval is how often a blocked client's socket is checked
// for a disconnect.
const blockedPeekInterval = 50 * time.Millisecond

// requeue queues a command on a connection s released but that still
// awaits replies (so it is not back in the pool yet) and takes it back;
// false if it is handed back, leased by another session or broken
// (nothing is done then).
func (d *dedicatedConn) requeue(s *session, e dedicatedEntry, raw []byte) bool {
	d.mu.Lock()
	if d.owner != s || d.broken != nil || (d.release && len(d.fifo) == 0) {
		d.mu.Unlock()
		return false
	}
	d.release = false
	d.pushLocked(e, raw)
	d.mu.Unlock()
	return true
}
