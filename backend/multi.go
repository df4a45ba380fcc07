package backend

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// MULTI/EXEC/DISCARD (multi.c).
//
// MULTI makes dispatch queue the client's commands (queueMulti) after the
// checks Redis makes before queueing — unknown command, arity, no_multi,
// write admission — each failure flagging the transaction so that EXEC
// answers EXECABORT. EXEC runs the queue through Client.atomically: the
// shards of every key of every queued command and of every WATCHed key
// are locked at once (all shards when a queued command has no key
// positions but reads or writes the whole keyspace), the WATCH dirty flag
// is checked, then the handlers run one after the other. No other client
// sees a partial transaction; the write stream gets the transaction's
// writes wrapped in MULTI/EXEC (one command alone is not wrapped, as in
// Redis); blocked clients are served after the locks are released.
//
// Handlers run inside EXEC see c.atomic: their begin/commit are no-ops,
// blocking commands do not block (they time out at once, as Redis'
// CLIENT_DENY_BLOCKING), and they must not lock shards by other means.
// DBSIZE, KEYS and RANDOMKEY, which do, have variants here that use the
// locks EXEC holds; INFO's reply is computed just before the locks are
// taken.

// multiState is a client's transaction state, owned by its goroutine
// except dirty.
type multiState struct {
	active  bool // between MULTI and EXEC/DISCARD
	failed  bool // a command failed to queue (Redis' CLIENT_DIRTY_EXEC)
	queue   []queuedCmd
	watched []*watchRec
	// dirty is set by writers of a watched key, under its shard lock
	// (Redis' CLIENT_DIRTY_CAS).
	dirty atomic.Bool
}

type queuedCmd struct {
	cmd  *cmdSpec
	args [][]byte // private copies (the request's arguments alias the read buffer)
	raw  []byte   // the command in canonical RESP (Client.raw while it runs)
}

func multiCommands() []*cmdSpec {
	const g = "transactions"
	return []*cmdSpec{
		{name: "multi", handler: cmdMulti, arity: 1, flags: flagNoScript | flagLoading | flagStale | flagFast | flagAllowBusy, group: g, since: "1.2.0", summary: "Starts a transaction.", complexity: "O(1)"},
		{name: "exec", handler: cmdExec, arity: 1, flags: flagNoScript | flagLoading | flagStale | flagSkipSlowlog, group: g, since: "1.2.0", summary: "Executes all commands in a transaction.", complexity: "Depends on commands in the transaction"},
		{name: "discard", handler: cmdDiscard, arity: 1, flags: flagNoScript | flagLoading | flagStale | flagFast | flagAllowBusy, group: g, since: "2.0.0", summary: "Discards a transaction.", complexity: "O(N), when N is the number of queued commands"},
	}
}

// errExecAbort is EXEC's reply when queueing failed.
const errExecAbort = "EXECABORT Transaction discarded because of previous errors."

// queueMulti handles a command sent inside MULTI: it reports false for
// the commands that run at once (EXEC, DISCARD, MULTI, WATCH, QUIT,
// RESET); otherwise it queues the command, or replies with the error
// that flags the transaction.
func (s *Server) queueMulti(c *Client, args [][]byte) bool {
	cmd := s.cmds.lookup(args[0])
	if cmd == nil {
		c.mx.failed = true
		c.err(errUnknownCommand(args))
		s.stats.unknownCommands.Add(1)
		return true
	}
	switch cmd.name {
	case "exec", "discard", "multi", "watch", "quit", "reset":
		return false
	}
	if cmd.subs != nil && len(args) >= 2 {
		sub := s.cmds.lookupSub(cmd, args[1])
		if sub == nil {
			c.mx.failed = true
			c.err(errUnknownSubcommand(string(args[1]), cmd.name))
			return true
		}
		cmd = sub
	}
	if !cmd.arityOK(len(args)) || cmd.handler == nil {
		c.mx.failed = true
		c.err(errArity(cmd.name))
		cmd.counters(c).rejected.Add(1)
		return true
	}
	if !c.authed && cmd.flags&flagNoAuth == 0 {
		c.mx.failed = true
		c.err(errNoAuth)
		return true
	}
	if cmd.flags&flagNoMulti != 0 {
		c.mx.failed = true
		c.err("ERR Command not allowed inside a transaction")
		cmd.counters(c).rejected.Add(1)
		return true
	}
	if cmd.flags&flagWrite != 0 {
		if msg := s.admitWrite(c, cmd); msg != "" {
			c.mx.failed = true
			c.err(msg)
			cmd.counters(c).rejected.Add(1)
			return true
		}
	}
	raw := appendCommand(nil, args...)
	own := make([][]byte, len(args))
	off := 0
	for i, a := range args {
		// Each argument is in raw after its "$<len>\r\n" header.
		off += 1 + len(strconv.Itoa(len(a))) + 2
		if i == 0 {
			off += 1 + len(strconv.Itoa(len(args))) + 2
		}
		own[i] = raw[off : off+len(a) : off+len(a)]
		off += len(a) + 2
	}
	c.mx.queue = append(c.mx.queue, queuedCmd{cmd: cmd, args: own, raw: raw})
	c.status("QUEUED")
	return true
}

func cmdMulti(c *Client, _ [][]byte) {
	if c.mx.active {
		c.err("ERR MULTI calls can not be nested")
		return
	}
	c.mx.active = true
	c.ok()
}

func cmdDiscard(c *Client, _ [][]byte) {
	if !c.mx.active {
		c.err("ERR DISCARD without MULTI")
		return
	}
	c.discardMulti()
	c.ok()
}

// discardMulti ends the transaction and forgets the watched keys.
func (c *Client) discardMulti() {
	c.mx.active = false
	c.mx.failed = false
	clear(c.mx.queue)
	c.mx.queue = c.mx.queue[:0]
	c.unwatchAll()
	c.mx.dirty.Store(false)
}

// releaseMulti frees a closing client's transaction state (its WATCH
// registrations in the shards).
func (c *Client) releaseMulti() { c.discardMulti() }

// execAll are keyless commands that read or write the whole keyspace:
// EXEC locks every shard when one is queued.
var execAll = map[string]bool{"dbsize": true, "keys": true, "randomkey": true, "scan": true, "flushall": true, "flushdb": true,
	"eval": true, "evalsha": true, "eval_ro": true, "evalsha_ro": true}

// execEarly are commands whose reply is computed just before EXEC takes
// its locks (they lock shards themselves).
var execEarly = map[string]bool{"info": true}

func cmdExec(c *Client, _ [][]byte) {
	if !c.mx.active {
		c.err("ERR EXEC without MULTI")
		return
	}
	s := c.s
	if c.mx.failed {
		c.discardMulti()
		c.err(errExecAbort)
		return
	}
	queue := c.mx.queue
	for _, q := range queue {
		if q.cmd.flags&flagWrite != 0 {
			if msg := s.admitWrite(c, q.cmd); msg != "" {
				c.discardMulti()
				c.err("EXECABORT Transaction discarded because of: " + msg)
				return
			}
		} else if !c.internal && s.repl.pause.active.Load() && s.mayReplicate(q.cmd, q.args) {
			// EVAL and other may_replicate commands wait out CLIENT PAUSE WRITE.
			if !s.repl.pause.wait(c, true) {
				c.discardMulti()
				c.err("EXECABORT Transaction discarded because of: " + errShuttingDown)
				return
			}
		}
	}
	all := false
	keys := c.watchedKeys()
	early := map[int][]byte{}
	for i, q := range queue {
		all = all || sortReadsKeys(q.cmd, q.args) // SORT BY/GET patterns read any key
		if q.cmd.first == 0 && q.cmd.keys == nil {
			all = all || execAll[q.cmd.name]
			if execEarly[q.cmd.name] {
				early[i] = c.replyOf(q)
			}
			continue
		}
		for _, p := range q.cmd.keyPositions(q.args) {
			keys = append(keys, q.args[p])
		}
	}
	c.atomically(all, keys, func() {
		tx := &c.tx
		aborted := c.mx.dirty.Load() || c.watchedExpired(tx)
		c.unwatchLocked(tx)
		if aborted {
			c.nullArray()
			return
		}
		c.array(len(queue))
		for i, q := range queue {
			if b, ok := early[i]; ok {
				c.w.WriteRaw(b)
				q.cmd.counters(c).calls.Add(1)
				continue
			}
			c.runQueued(q)
		}
	})
	c.failed = false
	c.mx.active = false
	c.mx.failed = false
	clear(c.mx.queue)
	c.mx.queue = c.mx.queue[:0]
	c.mx.dirty.Store(false)
}

// runQueued runs one queued command inside EXEC.
func (c *Client) runQueued(q queuedCmd) {
	c.raw, c.args, c.failed = q.raw, q.args, false
	switch q.cmd.name {
	case "dbsize":
		execDBSize(c)
	case "keys":
		execKeys(c, q.args)
	case "randomkey":
		execRandomKey(c)
	default:
		q.cmd.handler(c, q.args)
	}
	ct := q.cmd.counters(c)
	ct.calls.Add(1)
	if c.failed {
		ct.failed.Add(1)
	}
	c.untimed = append(c.untimed, q.cmd)
}

// replyOf runs q now and returns its reply bytes.
func (c *Client) replyOf(q queuedCmd) []byte {
	w := c.w
	tmp := newReplyWriter(nil)
	c.w = tmp
	c.raw, c.args = q.raw, q.args
	q.cmd.handler(c, q.args)
	c.w = w
	return tmp.b
}

// execDBSize is DBSIZE with every shard locked by EXEC.
func execDBSize(c *Client) {
	n := 0
	for i := range c.s.ks.shards {
		n += c.tx.shardOf(uint64(i) << (64 - shardBits)).keys.Len()
	}
	c.int(int64(n))
}

// execKeys is KEYS with every shard locked by EXEC.
func execKeys(c *Client, args [][]byte) {
	pat := string(args[1])
	tx := &c.tx
	var keys []string
	for i := range c.s.ks.shards {
		sh := tx.shardOf(uint64(i) << (64 - shardBits))
		sh.keys.Ascend(0, func(e entry) bool {
			if tx.expired(sh, e) {
				return true
			}
			if k := e.key(); pat == "*" || globMatch(pat, k, false) {
				keys = append(keys, k)
			}
			return true
		})
	}
	c.array(len(keys))
	for _, k := range keys {
		c.bulkString(k)
	}
}

// execRandomKey is RANDOMKEY with every shard locked by EXEC.
func execRandomKey(c *Client) {
	tx := &c.tx
	var sizes [numShards]int
	total := 0
	for i := range sizes {
		sizes[i] = tx.shardOf(uint64(i) << (64 - shardBits)).keys.Len()
		total += sizes[i]
	}
	for try := 0; try < 100 && total > 0; try++ {
		r := rand.IntN(total)
		i := 0
		for ; r >= sizes[i]; i++ {
			r -= sizes[i]
		}
		sh := tx.shardOf(uint64(i) << (64 - shardBits))
		e, ok := sh.keys.GetAt(r)
		if ok && (!tx.expired(sh, e) || try == 99) {
			c.bulkString(e.key())
			return
		}
	}
	c.null()
}
