package backend

import (
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// cmdFlags are Redis' command flags (COMMAND INFO prints their names).
// The dispatcher and later features key off them: write commands pass
// admitWrite (MISCONF now; READONLY on replicas, NOREPLICAS, CLIENT PAUSE
// WRITE and fencing later), MULTI will refuse to queue no_multi commands,
// replicas will refuse write commands from ordinary clients.
type cmdFlags uint32

const (
	flagWrite cmdFlags = 1 << iota
	flagReadonly
	flagDenyOOM
	flagAdmin
	flagPubSub
	flagNoScript
	flagBlocking
	flagLoading
	flagStale
	flagSkipMonitor
	flagSkipSlowlog
	flagFast
	flagNoAuth
	flagMayReplicate
	flagNoMulti
	flagAllowBusy
	flagMovableKeys
)

var flagNames = []struct {
	f    cmdFlags
	name string
}{
	{flagWrite, "write"}, {flagReadonly, "readonly"}, {flagDenyOOM, "denyoom"},
	{flagAdmin, "admin"}, {flagPubSub, "pubsub"}, {flagNoScript, "noscript"},
	{flagBlocking, "blocking"}, {flagLoading, "loading"}, {flagStale, "stale"},
	{flagSkipMonitor, "skip_monitor"}, {flagSkipSlowlog, "skip_slowlog"},
	{flagFast, "fast"}, {flagNoAuth, "no_auth"}, // may_replicate: hidden, as Redis does
	{flagNoMulti, "no_multi"}, {flagAllowBusy, "allow_busy"}, {flagMovableKeys, "movablekeys"},
}

// cmdSpec is one entry of the command table.
type cmdSpec struct {
	name    string // lower case; "config|get" for a subcommand
	handler func(c *Client, args [][]byte)
	// arity follows Redis: N means exactly N arguments including the
	// name, -N means at least N.
	arity int
	flags cmdFlags
	// Key positions (1-based; last -1 = the last argument; 0 = no keys).
	first, last, step int
	// keys returns the key positions when they depend on the arguments
	// (flagMovableKeys); nil otherwise.
	keys func(args [][]byte) []int

	group      string // COMMAND DOCS group: string, generic, server, connection...
	since      string
	summary    string
	complexity string
	acl        []string // ACL categories beyond those derived from group and flags

	subs   map[string]*cmdSpec
	parent *cmdSpec

	stats [statSlots]cmdCounters // INFO commandstats, by client id
}

// statSlots spreads a command's counters over cache lines so that clients
// on different cores do not contend on one counter.
const statSlots = 8

type cmdCounters struct {
	calls, nanos, failed, rejected atomic.Int64
	_                              [32]byte
}

func (c *cmdSpec) counters(cl *Client) *cmdCounters { return &c.stats[cl.id&(statSlots-1)] }

// totals sums the command's counters.
func (c *cmdSpec) totals() (calls, usec, failed, rejected int64) {
	for i := range c.stats {
		s := &c.stats[i]
		calls += s.calls.Load()
		usec += s.nanos.Load()
		failed += s.failed.Load()
		rejected += s.rejected.Load()
	}
	return calls, usec / 1000, failed, rejected
}

func (c *cmdSpec) resetStats() {
	for i := range c.stats {
		s := &c.stats[i]
		s.calls.Store(0)
		s.nanos.Store(0)
		s.failed.Store(0)
		s.rejected.Store(0)
	}
	for _, sc := range c.subs {
		sc.resetStats()
	}
}

// commandsProcessed is total_commands_processed.
func (t commandTable) commandsProcessed() int64 {
	var n int64
	for _, c := range t {
		calls, _, _, _ := c.totals()
		n += calls
		for _, sc := range c.subs {
			calls, _, _, _ := sc.totals()
			n += calls
		}
	}
	return n
}

// commandTable maps lower-case names to specs. It is built once per Server
// and not modified afterwards.
type commandTable map[string]*cmdSpec

func (t commandTable) add(specs ...*cmdSpec) {
	for _, c := range specs {
		if _, dup := t[c.name]; dup {
			panic("backend: duplicate command " + c.name)
		}
		t[c.name] = c
		for _, sc := range c.subs {
			sc.parent = c
		}
	}
}

// subcommands builds a parent's subcommand map, naming each "parent|sub".
func subcommands(parent string, specs ...*cmdSpec) map[string]*cmdSpec {
	m := make(map[string]*cmdSpec, len(specs))
	for _, s := range specs {
		m[s.name] = s
		s.name = parent + "|" + s.name
	}
	return m
}

func newCommandTable() commandTable {
	t := commandTable{}
	t.add(stringCommands()...)
	t.add(keyCommands()...)
	t.add(connectionCommands()...)
	t.add(serverCommands()...)
	t.add(hashCommands()...)
	t.add(listCommands()...)
	t.add(blockingCommands()...)
	t.add(setCommands()...)
	t.add(zsetCommands()...)
	t.add(multiCommands()...)
	t.add(watchCommands()...)
	t.add(dumpCommands()...)
	t.add(replicationCommands()...)
	t.add(migrateCommands()...)
	t.add(pubsubCommands()...)
	t.add(bitCommands()...)
	t.add(copyCommands()...)
	t.add(geoCommands()...)
	t.add(sortCommands()...)
	t.add(hllCommands()...)
	t.add(scriptingCommands()...)
	return t
}

// lookup finds a command by name, case-insensitively, without allocating.
func (t commandTable) lookup(name []byte) *cmdSpec {
	var buf [32]byte
	if len(name) > len(buf) {
		return t[strings.ToLower(string(name))]
	}
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return t[string(buf[:len(name)])]
}

func (c *cmdSpec) arityOK(n int) bool {
	if c.arity >= 0 {
		return n == c.arity
	}
	return n >= -c.arity
}

// keyPositions returns the argument indexes that are keys.
func (c *cmdSpec) keyPositions(args [][]byte) []int {
	if c.keys != nil {
		return c.keys(args)
	}
	if c.first == 0 {
		return nil
	}
	last := c.last
	if last < 0 {
		last = len(args) + last
	}
	var pos []int
	for i := c.first; i <= last && i < len(args); i += c.step {
		pos = append(pos, i)
	}
	return pos
}

func (c *cmdSpec) flagNames() []string {
	var out []string
	for _, f := range flagNames {
		if c.flags&f.f != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// aclCategories derives Redis' ACL categories.
func (c *cmdSpec) aclCategories() []string {
	var out []string
	if c.flags&flagWrite != 0 {
		out = append(out, "@write")
	}
	if c.flags&flagReadonly != 0 {
		out = append(out, "@read")
	}
	if c.flags&flagAdmin != 0 {
		out = append(out, "@admin", "@dangerous")
	}
	switch c.group {
	case "string":
		out = append(out, "@string")
	case "generic":
		out = append(out, "@keyspace")
	case "connection":
		out = append(out, "@connection")
	case "transactions":
		out = append(out, "@transaction")
	case "pubsub":
		out = append(out, "@pubsub")
	}
	if c.flags&flagFast != 0 {
		out = append(out, "@fast")
	} else {
		out = append(out, "@slow")
	}
	out = append(out, c.acl...)
	return out
}

// sortedNames returns the table's command names in order.
func (t commandTable) sortedNames() []string {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// dispatch runs one command for c, as Redis' processCommand: lookup,
// arity, authentication, write admission, then the handler. args alias the
// client's read buffer (see Client.args).
func (s *Server) dispatch(c *Client, args [][]byte) {
	if len(args) == 0 {
		return
	}
	if c.internal {
		c.clock = time.Now()
	}
	if s.busyReject(c, args) {
		return // a script runs past busy-reply-threshold (scripting.go)
	}
	if c.mx.active && s.queueMulti(c, args) {
		return // queued by MULTI, or refused (multi.go)
	}
	cmd := s.cmds.lookup(args[0])
	if cmd == nil {
		c.err(errUnknownCommand(args))
		s.stats.unknownCommands.Add(1)
		return
	}
	if cmd.subs != nil && len(args) >= 2 {
		sub := s.cmds.lookupSub(cmd, args[1])
		if sub == nil {
			c.err(errUnknownSubcommand(string(args[1]), cmd.name))
			return
		}
		cmd = sub
	}
	if !cmd.arityOK(len(args)) || cmd.handler == nil {
		c.err(errArity(cmd.name))
		cmd.counters(c).rejected.Add(1)
		return
	}
	if !c.authed && cmd.flags&flagNoAuth == 0 {
		c.err(errNoAuth)
		cmd.counters(c).rejected.Add(1)
		return
	}
	if cmd.flags&flagWrite != 0 {
		if msg := s.admitWrite(c, cmd); msg != "" {
			c.err(msg)
			cmd.counters(c).rejected.Add(1)
			return
		}
	}
	if msg := c.pubsubRefusal(cmd); msg != "" {
		c.err(msg)
		cmd.counters(c).rejected.Add(1)
		return
	}
	if msg := s.repl.admitCommand(c, cmd); msg != "" {
		c.err(msg)
		cmd.counters(c).rejected.Add(1)
		return
	}
	c.cmd.Store(cmd)
	c.args = args
	c.failed = false
	mark, off := c.replyMark(), c.pendingOff
	if s.migr.guard.on.Load() {
		s.guardedCall(c, cmd, args) // migrate_guard.go
	} else {
		cmd.handler(c, args)
	}
	if c.pendingOff != off {
		s.noteWrite(c, cmd, mark) // WAIT, repl-ack-replicas (wait.go)
	}
	ct := cmd.counters(c)
	ct.calls.Add(1)
	if c.failed {
		ct.failed.Add(1)
	}
	c.untimed = append(c.untimed, cmd)
}

// startBatch reads the clock for a batch of commands.
func (c *Client) startBatch() {
	c.clock = time.Now()
	c.lastAt.Store(c.clock.UnixMilli())
}

// flushStats charges the time since the clock was read to the commands run
// since, evenly.
func (c *Client) flushStats() {
	if len(c.untimed) == 0 {
		return
	}
	now := time.Now()
	per := int64(now.Sub(c.clock)) / int64(len(c.untimed))
	for _, cmd := range c.untimed {
		cmd.counters(c).nanos.Add(per)
	}
	c.untimed = c.untimed[:0]
	c.clock = now
}

func (t commandTable) lookupSub(parent *cmdSpec, name []byte) *cmdSpec {
	return parent.subs[strings.ToLower(string(name))]
}

// admitWrite decides whether a write command may run now; it returns the
// error to reply with, or "": MISCONF, then fencing, NOREPLICAS
// (min-replicas-to-write), READONLY on replicas; CLIENT PAUSE WRITE waits
// there (fence.go).
func (s *Server) admitWrite(c *Client, cmd *cmdSpec) string {
	if c.internal {
		return ""
	}
	if err := s.aof.writeError(); err != nil {
		return errMisconfPrefix + err.Error()
	}
	return s.repl.admitReplWrite(c)
}
