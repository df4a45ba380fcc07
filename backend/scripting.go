package backend

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (eval.c, script.c).
//
// A script runs like a transaction: every shard is locked for its whole
// run (Client.atomically with all shards: a script may touch keys it did
// not declare, and Redis runs scripts one at a time too), the commands it
// calls run through their handlers with c.atomic (no blocking, no locking
// of their own), and their emissions reach the write stream wrapped in
// MULTI/EXEC: the AOF and the replicas get the script's effects, as Redis
// 7 replicates scripts. The reply of each redis.call is captured in a
// buffer and converted to Lua values (script_lua.go).
//
// Scripts are cached by SHA1 (EVAL caches too) as compiled prototypes
// shared by every interpreter; interpreters are expensive to prepare, so
// a few are kept in a pool, each with its own instances of the functions
// it ran. SCRIPT FLUSH empties the cache and retires the pooled states.
//
// Slow scripts: after busy-reply-threshold (lua-time-limit) milliseconds
// other clients' commands are answered BUSY (except allow_busy ones such
// as SCRIPT KILL); SCRIPT KILL stops a script that has not written yet
// by cancelling its interpreter's context.

// scriptEngine is the server's scripting state; its zero value is ready.
type scriptEngine struct {
	mu      sync.RWMutex          // guards scripts, pool, gen
	scripts map[string]*luaScript // by lower-case SHA1 hex
	pool    []*luaVM
	gen     uint64 // bumped by SCRIPT FLUSH
	runMu   sync.Mutex
	runs    map[*scriptRun]struct{} // the running scripts (several when their shards differ)
	nrun    atomic.Int32            // len(runs), read without runMu
	rand    rand48                  // math.random's generator (redisLrand48)
	srv     atomic.Pointer[Server]  // for redis.log
}

// luaScript is a cached script: its body and compiled form.
type luaScript struct {
	sha   string
	body  string
	proto *lua.FunctionProto
	flags scriptFlags
	// locking is how its runs with declared keys lock: scriptLockLearn
	// (every shard, and check whether it touches only declared keys),
	// scriptLockDeclared (the declared keys' shards), scriptLockAll.
	locking atomic.Int32
}

const (
	scriptLockLearn = iota
	scriptLockDeclared
	scriptLockAll
)

// scriptFlags are the flags of a "#!lua flags=..." shebang.
type scriptFlags uint8

const (
	scriptCompat scriptFlags = 1 << iota // no shebang: Redis 6 semantics
	scriptNoWrites
	scriptAllowOOM
	scriptAllowStale
	scriptNoCluster
	scriptAllowCrossSlot
)

var scriptFlagNames = map[string]scriptFlags{
	"no-writes": scriptNoWrites, "allow-oom": scriptAllowOOM, "allow-stale": scriptAllowStale,
	"no-cluster": scriptNoCluster, "allow-cross-slot-keys": scriptAllowCrossSlot,
}

// scriptRun is one running script.
type scriptRun struct {
	c         *Client
	sc        *luaScript
	sha       string
	partial   bool // only the shards of the declared keys are locked
	restart   bool // touched an undeclared key before writing: run again with every shard
	learn     bool // every shard is locked: note whether only declared shards are touched
	declared  [numShards / 64]uint64
	strayed   bool // learn: touched a key outside the declared shards
	start     time.Time
	threshold time.Duration // busy-reply-threshold at its start (0 = none)
	readOnly  bool
	repl      int // redis.set_repl flags
	cancel    context.CancelFunc
	logged    atomic.Bool // the slow script warning was logged

	mu     sync.Mutex // orders SCRIPT KILL against the script's first write
	wrote  bool
	killed atomic.Bool
}

const (
	errNoScript    = "NOSCRIPT No matching script. Please use EVAL."
	errScriptBusy  = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
	errNotBusy     = "NOTBUSY No scripts in execution right now."
	errUnkillable  = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
	errScriptKeys  = "ERR Number of keys can't be greater than number of args"
	errScriptNeg   = "ERR Number of keys can't be negative"
	errScriptFlush = "ERR SCRIPT FLUSH only support SYNC|ASYNC option"
)

func scriptingCommands() []*cmdSpec {
	const g = "scripting"
	acl := []string{"@scripting"}
	evalFlags := flagNoScript | flagSkipMonitor | flagMayReplicate | flagStale | flagMovableKeys
	roFlags := flagNoScript | flagSkipMonitor | flagStale | flagReadonly | flagMovableKeys
	const cx = "Depends on the script that is executed."
	return []*cmdSpec{
		{name: "eval", handler: func(c *Client, a [][]byte) { evalGeneric(c, a, false, false) }, arity: -3, flags: evalFlags, keys: evalKeys, group: g, since: "2.6.0", summary: "Executes a server-side Lua script.", complexity: cx, acl: acl},
		{name: "evalsha", handler: func(c *Client, a [][]byte) { evalGeneric(c, a, true, false) }, arity: -3, flags: evalFlags, keys: evalKeys, group: g, since: "2.6.0", summary: "Executes a server-side Lua script by SHA1 digest.", complexity: cx, acl: acl},
		{name: "eval_ro", handler: func(c *Client, a [][]byte) { evalGeneric(c, a, false, true) }, arity: -3, flags: roFlags, keys: evalKeys, group: g, since: "7.0.0", summary: "Executes a read-only server-side Lua script.", complexity: cx, acl: acl},
		{name: "evalsha_ro", handler: func(c *Client, a [][]byte) { evalGeneric(c, a, true, true) }, arity: -3, flags: roFlags, keys: evalKeys, group: g, since: "7.0.0", summary: "Executes a read-only server-side Lua script by SHA1 digest.", complexity: cx, acl: acl},
		{name: "script", arity: -2, group: g, since: "2.6.0", summary: "A container for Lua scripts management commands.", complexity: "Depends on subcommand.", acl: acl,
			subs: subcommands("script",
				&cmdSpec{name: "load", handler: cmdScriptLoad, arity: 3, flags: flagNoScript | flagStale, group: g, since: "2.6.0", summary: "Loads a server-side Lua script to the script cache.", complexity: "O(N) with N being the length in bytes of the script body.", acl: acl},
				&cmdSpec{name: "exists", handler: cmdScriptExists, arity: -3, flags: flagNoScript, group: g, since: "2.6.0", summary: "Determines whether server-side Lua scripts exist in the script cache.", complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).", acl: acl},
				&cmdSpec{name: "flush", handler: cmdScriptFlush, arity: -2, flags: flagNoScript, group: g, since: "2.6.0", summary: "Removes all server-side Lua scripts from the script cache.", complexity: "O(N) with N being the number of scripts in cache", acl: acl},
				&cmdSpec{name: "kill", handler: cmdScriptKill, arity: 2, flags: flagNoScript | flagAllowBusy, group: g, since: "2.6.0", summary: "Terminates a server-side Lua script during execution.", complexity: "O(1)", acl: acl},
				&cmdSpec{name: "help", handler: helpCmd("SCRIPT", scriptHelp), arity: 2, flags: flagLoading | flagStale, group: g, since: "5.0.0", summary: "Returns helpful text about the different subcommands.", complexity: "O(1)", acl: acl},
			)},
	}
}

var scriptHelp = []string{
	"EXISTS <sha1> [<sha1> ...]",
	"    Return information about the existence of the scripts in the script cache.",
	"FLUSH [ASYNC|SYNC]",
	"    Flush the Lua scripts cache. Very dangerous on replicas.",
	"    When called without the optional mode argument, the behavior is determined by the",
	"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
	"    * ASYNC: Asynchronously flush the scripts cache.",
	"    * SYNC: Synchronously flush the scripts cache.",
	"KILL",
	"    Kill the currently executing Lua script.",
	"LOAD <script>",
	"    Load a script into the scripts cache without executing it.",
}

// evalKeys are EVAL's key positions: numkeys names after the numkeys
// argument (none when numkeys is invalid).
func evalKeys(args [][]byte) []int {
	if len(args) < 3 {
		return nil
	}
	n, ok := parseInt(args[2])
	if !ok || n < 0 || n > int64(len(args)-3) {
		return nil
	}
	pos := make([]int, n)
	for i := range pos {
		pos[i] = 3 + i
	}
	return pos
}

func sha1hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

func (e *scriptEngine) lookup(sha string) *luaScript {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.scripts[sha]
}

// create returns the cached script of body, compiling and caching it
// first if needed (luaCreateFunction); on failure, the error reply.
func (e *scriptEngine) create(body []byte) (*luaScript, string) {
	sha := sha1hex(body)
	if sc := e.lookup(sha); sc != nil {
		return sc, ""
	}
	src := string(body)
	flags, skip, msg := shebangFlags(src)
	if msg != "" {
		return nil, "ERR " + msg
	}
	// The shebang line is skipped but its line feed kept, so that line
	// numbers stay the user's.
	chunk, err := parse.Parse(strings.NewReader(src[skip:]), "user_script")
	var proto *lua.FunctionProto
	if err == nil {
		proto, err = lua.Compile(chunk, "user_script")
	}
	if err == nil {
		// A chunk compiles as a vararg function, which in Lua 5.0 style
		// (gopher-lua's CompatVarArg) gets a table "arg" of its arguments
		// on every call: an allocation and a map per EVAL that no script
		// can use (Redis runs the body as "function f_<sha>() ... end",
		// where "arg" is an undeclared global).
		proto.IsVarArg &^= lua.VarArgNeedsArg
	}
	if err != nil {
		return nil, "ERR Error compiling script (new function): " + compileError(err.Error(), src[skip:])
	}
	sc := &luaScript{sha: sha, body: src, proto: proto, flags: flags}
	e.mu.Lock()
	if e.scripts == nil {
		e.scripts = map[string]*luaScript{}
	}
	if old := e.scripts[sha]; old != nil {
		sc = old
	} else {
		e.scripts[sha] = sc
	}
	e.mu.Unlock()
	return sc, ""
}

// compileError rewords gopher-lua's syntax errors as Lua 5.1 words the
// common case: "user_script:<line>: unexpected symbol near '<token>'".
func compileError(msg, src string) string {
	if m := compileErrRe.FindStringSubmatch(msg); m != nil {
		return "user_script:" + m[1] + ": unexpected symbol near '" + m[2] + "'"
	}
	if strings.Contains(msg, "at EOF") {
		return "user_script:" + strconv.Itoa(strings.Count(src, "\n")+1) + ": unexpected symbol near '<eof>'"
	}
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
}

var compileErrRe = regexp.MustCompile(`^user_script line:(\d+)\(column:\d+\) near '(.*)':\s+syntax error`)

// shebangFlags is evalExtractShebangFlags: the flags of a "#!lua" first
// line and its length, or the error text.
func shebangFlags(body string) (scriptFlags, int, string) {
	if !strings.HasPrefix(body, "#!") {
		return scriptCompat, 0, ""
	}
	end := strings.IndexByte(body, '\n')
	if end < 0 {
		return 0, 0, "Invalid script shebang"
	}
	words, ok := splitArgs([]byte(body[:end]))
	if !ok || len(words) == 0 {
		return 0, 0, "Invalid engine in script shebang"
	}
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = string(w)
	}
	if parts[0] != "#!lua" {
		return 0, 0, "Unexpected engine in script shebang: " + parts[0]
	}
	var flags scriptFlags
	for _, p := range parts[1:] {
		v, found := strings.CutPrefix(p, "flags=")
		if !found {
			return 0, 0, "Unknown lua shebang option: " + p
		}
		for _, f := range strings.Split(v, ",") {
			bit, known := scriptFlagNames[f]
			if !known {
				return 0, 0, "Unexpected flag in script shebang: " + f
			}
			flags |= bit
		}
	}
	return flags, end, ""
}

func evalGeneric(c *Client, args [][]byte, evalsha, ro bool) {
	numkeys, ok := parseInt(args[2])
	if !ok {
		c.err(errNotInteger)
		return
	}
	if numkeys > int64(len(args)-3) {
		c.err(errScriptKeys)
		return
	}
	if numkeys < 0 {
		c.err(errScriptNeg)
		return
	}
	e := c.s.scriptEngine()
	var sc *luaScript
	if evalsha {
		if len(args[1]) == 40 {
			sc = e.lookup(strings.ToLower(string(args[1])))
		}
		if sc == nil {
			c.err(errNoScript)
			return
		}
	} else {
		var msg string
		if sc, msg = e.create(args[1]); msg != "" {
			c.err(msg)
			return
		}
	}
	readOnly := ro
	if sc.flags&scriptCompat == 0 {
		if sc.flags&scriptNoWrites != 0 {
			readOnly = true
		} else {
			if msg := c.s.repl.writeRefusal(); msg != "" && !c.internal {
				if strings.HasPrefix(msg, "READONLY") {
					msg = "READONLY Can not run script with write flag on readonly replica"
				}
				c.err(msg)
				return
			}
			if err := c.s.aof.writeError(); err != nil && !c.internal {
				c.err("MISCONF Redis is configured to persist data to AOF, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts. AOF error: " + err.Error())
				return
			}
			if ro {
				c.err("ERR Can not execute a script with write flag using *_ro command.")
				return
			}
		}
	}
	e.run(c, sc, args[3:3+numkeys], args[3+numkeys:], readOnly)
}

// scriptEngine returns the server's engine, tied to the server.
func (s *Server) scriptEngine() *scriptEngine {
	e := &s.scripts
	if e.srv.Load() == nil {
		e.srv.Store(s)
	}
	return e
}

// getVM takes a prepared interpreter from the pool or makes one.
func (e *scriptEngine) getVM() *luaVM {
	e.mu.Lock()
	if n := len(e.pool); n > 0 {
		vm := e.pool[n-1]
		e.pool = e.pool[:n-1]
		e.mu.Unlock()
		return vm
	}
	gen := e.gen
	e.mu.Unlock()
	vm := newLuaVM(e)
	vm.gen = gen
	return vm
}

// maxPooledVMs bounds the pool: scripts on different shards run in
// parallel, each with its own interpreter, while waiting for their locks
// too; making one costs far more than a run.
const maxPooledVMs = 64

// putVM returns an interpreter to the pool (closing it when the pool is
// full or it predates a SCRIPT FLUSH).
func (e *scriptEngine) putVM(vm *luaVM) {
	e.mu.Lock()
	if vm.gen == e.gen && len(e.pool) < maxPooledVMs {
		e.pool = append(e.pool, vm)
		vm = nil
	}
	e.mu.Unlock()
	if vm != nil {
		vm.L.Close()
	}
}

// cached is INFO's number_of_cached_scripts.
func (e *scriptEngine) cached() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.scripts)
}

// flush is SCRIPT FLUSH.
func (e *scriptEngine) flush() {
	e.mu.Lock()
	e.scripts = nil
	e.gen++
	pool := e.pool
	e.pool = nil
	e.mu.Unlock()
	for _, vm := range pool {
		vm.L.Close()
	}
}

func (e *scriptEngine) log(level int, msg string) {
	s := e.srv.Load()
	if s == nil {
		return
	}
	switch level {
	case 0, 1:
		s.log.Debug(msg)
	case 2:
		s.log.Info(msg)
	default:
		s.log.Warn(msg)
	}
}

// busyThreshold is busy-reply-threshold (lua-time-limit).
func (s *Server) busyThreshold() time.Duration {
	s.cfgMu.RLock()
	ms := s.cfg.BusyReplyThreshold
	s.cfgMu.RUnlock()
	return time.Duration(ms) * time.Millisecond
}

// busyRefusal is the BUSY reply for c's command while another client's
// script runs past busy-reply-threshold; "" when cmd may run.
func (s *Server) busyRefusal(c *Client, cmd *cmdSpec) string {
	if cmd.flags&flagAllowBusy != 0 || c.internal {
		return ""
	}
	r := s.scripts.oldest(c)
	if r == nil || r.threshold <= 0 || time.Since(r.start) < r.threshold {
		return ""
	}
	if !r.logged.Swap(true) {
		s.log.Warn(fmt.Sprintf("Slow script detected: still in execution after %d milliseconds. You can try killing the script using the SCRIPT KILL command. Script name is: %s.", time.Since(r.start).Milliseconds(), r.sha))
	}
	return errScriptBusy
}

// busyReject answers c's command BUSY while another client's script runs
// past busy-reply-threshold (processCommand's check, before MULTI queues
// the command: the transaction is flagged, EXEC aborts).
func (s *Server) busyReject(c *Client, args [][]byte) bool {
	if s.scripts.nrun.Load() == 0 {
		return false
	}
	cmd := s.cmds.lookup(args[0])
	if cmd != nil && cmd.subs != nil && len(args) >= 2 {
		cmd = s.cmds.lookupSub(cmd, args[1])
	}
	if cmd == nil {
		return false
	}
	msg := s.busyRefusal(c, cmd)
	if msg == "" {
		return false
	}
	cmd.counters(c).rejected.Add(1)
	if c.mx.active {
		if cmd.name == "exec" {
			c.discardMulti()
			c.err("EXECABORT Transaction discarded because of: " + msg)
			return true
		}
		c.mx.failed = true
	}
	c.err(msg)
	return true
}

// mayReplicate tells whether a command queued by MULTI may write, for
// EXEC's CLIENT PAUSE WRITE check: its may_replicate flag, except for
// EVAL and EVALSHA of a cached script with a shebang, whose flags decide
// (evalGetCommandFlags: no-writes scripts do not wait).
func (s *Server) mayReplicate(cmd *cmdSpec, args [][]byte) bool {
	if cmd.flags&flagMayReplicate == 0 {
		return false
	}
	if cmd.name != "eval" && cmd.name != "evalsha" {
		return true
	}
	sha := strings.ToLower(string(args[1]))
	if cmd.name == "eval" {
		sha = sha1hex(args[1])
	}
	if sc := s.scripts.lookup(sha); sc != nil {
		return sc.flags&scriptCompat != 0 || sc.flags&scriptNoWrites == 0
	}
	if cmd.name == "eval" {
		flags, _, msg := shebangFlags(string(args[1]))
		return msg != "" || flags&scriptCompat != 0 || flags&scriptNoWrites == 0
	}
	return true
}

// abort stops the running script, written or not (server shutdown).
func (e *scriptEngine) abort() {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	for r := range e.runs {
		r.mu.Lock()
		r.killed.Store(true)
		r.mu.Unlock()
		r.cancel()
	}
}

// oldest returns the longest running script not run by c (nil: none).
func (e *scriptEngine) oldest(c *Client) *scriptRun {
	if e.nrun.Load() == 0 {
		return nil
	}
	e.runMu.Lock()
	defer e.runMu.Unlock()
	var old *scriptRun
	for r := range e.runs {
		if r.c != c && (old == nil || r.start.Before(old.start)) {
			old = r
		}
	}
	return old
}

func (e *scriptEngine) started(r *scriptRun) {
	e.runMu.Lock()
	if e.runs == nil {
		e.runs = map[*scriptRun]struct{}{}
	}
	e.runs[r] = struct{}{}
	e.nrun.Add(1)
	e.runMu.Unlock()
}

func (e *scriptEngine) finished(r *scriptRun) {
	e.runMu.Lock()
	delete(e.runs, r)
	e.nrun.Add(-1)
	e.runMu.Unlock()
}

// run runs sc for c and replies. Scripts without keys lock every shard.
// A script with declared keys first runs with every shard locked while
// its calls are checked (learn): if it touched only the declared keys'
// shards, its later runs lock just those, else every shard. If such a
// run touches another shard anyway (keys computed from data), before it
// wrote it is run again from the start with every shard locked; after,
// the shard is locked if it comes after those held (ascending order
// cannot deadlock), else the call fails; from then on the script locks
// every shard.
func (e *scriptEngine) run(c *Client, sc *luaScript, keys, argv [][]byte, readOnly bool) {
	partial := !c.atomic && len(keys) > 0 && sc.locking.Load() == scriptLockDeclared
	for !e.runOnce(c, sc, keys, argv, readOnly, partial) {
		partial = false
	}
}

// runOnce is one attempt of run; false when it must be run again with
// every shard locked (nothing was written or replied).
func (e *scriptEngine) runOnce(c *Client, sc *luaScript, keys, argv [][]byte, readOnly, partial bool) bool {
	vm := e.getVM()
	L := vm.L
	fn := vm.funcs[sc.sha]
	if fn == nil {
		fn = L.NewFunctionFromProto(sc.proto)
		vm.funcs[sc.sha] = fn
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &scriptRun{c: c, sc: sc, sha: sc.sha, partial: partial, start: time.Now(), threshold: c.s.busyThreshold(), readOnly: readOnly, repl: 3, cancel: cancel}
	run.learn = !c.atomic && !partial && len(keys) > 0 && sc.locking.Load() == scriptLockLearn
	for _, k := range keys {
		i := shardIndex(hashKey(k))
		run.declared[i>>6] |= 1 << (uint(i) & 63)
	}
	vm.run = run
	L.SetContext(ctx)
	body := func() {
		e.started(run)
		defer e.finished(run)
		raw, args := c.raw, c.args
		defer func() { c.raw, c.args = raw, args }()
		vm.globals.RawSetString("KEYS", luaArray(L, keys))
		vm.globals.RawSetString("ARGV", luaArray(L, argv))
		L.Push(fn)
		err := L.PCall(0, 1, vm.handler)
		if run.restart {
			L.SetTop(0)
			return
		}
		c.failed = false
		countErr := func(msg string) {
			c.failed = true
			c.s.errs.add(msg)
		}
		if err != nil {
			msg, counted := scriptErrorText(err, sc.sha, run.killed.Load())
			c.w.WriteError(msg)
			if counted {
				c.failed = true
			} else {
				countErr(msg)
			}
		} else {
			luaToRESP(c.w, L.Get(-1), 0, countErr)
		}
		L.SetTop(0)
	}
	switch {
	case c.atomic:
		body()
	case partial:
		c.atomically(false, keys, body)
	default:
		c.atomically(true, nil, body)
	}
	L.RemoveContext()
	cancel()
	vm.run = nil
	vm.globals.RawSetString("KEYS", lua.LNil)
	vm.globals.RawSetString("ARGV", lua.LNil)
	e.putVM(vm)
	if run.learn {
		next := int32(scriptLockDeclared)
		if run.strayed {
			next = scriptLockAll
		}
		sc.locking.CompareAndSwap(scriptLockLearn, next)
	}
	return !run.restart
}

// scriptErrorText is the reply of a failed script: the error table's
// message and where it was raised (luaCallFunction); counted when the
// error is a called command's, already in the error statistics.
func scriptErrorText(err error, sha string, killed bool) (string, bool) {
	var obj lua.LValue = lua.LString(err.Error())
	if ae, ok := err.(*lua.ApiError); ok && ae.Object != nil {
		obj = ae.Object
	}
	t, ok := obj.(*lua.LTable)
	if !ok {
		if killed {
			return "ERR Script killed by user with SCRIPT KILL...", false
		}
		return "ERR Error running script " + sha + ", " + clip(lua.LVAsString(obj), 100), false
	}
	msg := lua.LVAsString(t.RawGetString("err"))
	src, line := t.RawGetString("source"), t.RawGetString("line")
	if src != lua.LNil && line != lua.LNil {
		msg += " script: " + sha + ", on " + lua.LVAsString(src) + ":" + lua.LVAsString(line) + "."
	}
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(msg), t.RawGetString("ignore_error_stats_update") == lua.LTrue
}

// call runs one command of the script (scriptCall) with its reply in w
// (raw is the interpreter's buffer for the command's canonical form,
// reused call after call); it returns the error text when the command
// may not run.
func (r *scriptRun) call(w *replyWriter, raw *[]byte, args [][]byte) string {
	c := r.c
	s := c.s
	if r.killed.Load() {
		return "Script killed by user with SCRIPT KILL..."
	}
	cmd := s.cmds.lookup(args[0])
	if cmd != nil && cmd.subs != nil && len(args) >= 2 {
		cmd = s.cmds.lookupSub(cmd, args[1])
	}
	if cmd == nil {
		return "Unknown Redis command called from script"
	}
	if !cmd.arityOK(len(args)) || cmd.handler == nil {
		return "Wrong number of args calling Redis command from script"
	}
	if cmd.flags&flagNoScript != 0 || cmd.name == "quit" { // QUIT is noscript in Redis
		return "This Redis command is not allowed from script"
	}
	if cmd.name == "info" {
		// INFO reads every shard under its own locks, which the script holds.
		return "INFO is not available inside scripts on shardis-server"
	}
	// PUBLISH is may_replicate in Redis (not flagged so in the table).
	if r.learn && !r.strayed && !r.keysIn(cmd, args, func(i int) bool { return r.declared[i>>6]&(1<<(uint(i)&63)) != 0 }) {
		r.strayed = true
	}
	if r.partial && !r.keysIn(cmd, args, r.c.tx.isLocked) {
		r.sc.locking.Store(scriptLockAll)
		r.mu.Lock()
		wrote := r.wrote
		if !wrote {
			// Unwind the script (as SCRIPT KILL does) and run it again.
			r.restart = true
			r.killed.Store(true)
			r.cancel()
		}
		r.mu.Unlock()
		if !wrote {
			return "Script attempted to access a key it did not declare"
		}
		if !r.lockMore(cmd, args) {
			return "Script attempted to access a key it did not declare, after writing: shardis-server could not lock it (later runs of this script lock every shard)"
		}
	}
	if r.readOnly && (cmd.flags&(flagWrite|flagMayReplicate) != 0 || cmd.name == "publish" || cmd.name == "spublish") {
		return "Write commands are not allowed from read-only scripts."
	}
	if cmd.flags&flagWrite != 0 {
		r.mu.Lock()
		if r.killed.Load() {
			r.mu.Unlock()
			return "Script killed by user with SCRIPT KILL..."
		}
		if !r.wrote && !c.internal {
			if err := s.aof.writeError(); err != nil {
				r.mu.Unlock()
				return "-" + errMisconfPrefix + err.Error()
			}
			if msg := s.repl.writeRefusal(); msg != "" {
				r.mu.Unlock()
				return "-" + msg
			}
		}
		r.wrote = true
		r.mu.Unlock()
	}
	tx := &c.tx
	noEmit, old := tx.noEmit, c.w
	c.fromScript = true
	defer func() { tx.noEmit, c.w, c.fromScript = noEmit, old, false }() // also if the handler panics
	if r.repl == 0 {
		tx.noEmit = true
	}
	w.b = w.b[:0]
	c.w = w
	// Handlers may emit c.raw as is (SET's fast path): give them the
	// canonical form, as EXEC does.
	*raw = appendCommand((*raw)[:0], args...)
	c.runQueued(queuedCmd{cmd: cmd, args: args, raw: *raw})
	return ""
}

// keysIn tells whether the shards of every key cmd touches are in (held
// by the script's Tx, or declared).
func (r *scriptRun) keysIn(cmd *cmdSpec, args [][]byte, in func(int) bool) bool {
	if cmd.first == 0 && cmd.keys == nil {
		return !execAll[cmd.name] // whole-keyspace commands need every shard
	}
	if sortReadsKeys(cmd, args) {
		return false // BY/GET patterns may read any key
	}
	for _, p := range cmd.keyPositions(args) {
		if !in(shardIndex(hashKey(args[p]))) {
			return false
		}
	}
	return true
}

// lockMore locks the missing shards of cmd's keys for a script that
// already holds others: shards after those held are locked as usual
// (ascending order cannot deadlock); a shard before them only if it is
// free now (tryLockShard: never waiting, so no deadlock either), retried
// for a moment. False when it cannot (a whole-keyspace command, or a
// lower shard busy all that time).
func (r *scriptRun) lockMore(cmd *cmdSpec, args [][]byte) bool {
	if cmd.first == 0 && cmd.keys == nil || sortReadsKeys(cmd, args) {
		return false
	}
	tx := &r.c.tx
	var need []int
	for _, p := range cmd.keyPositions(args) {
		if i := shardIndex(hashKey(args[p])); !tx.isLocked(i) && !slices.Contains(need, i) {
			need = append(need, i)
		}
	}
	slices.Sort(need)
	for _, i := range need {
		if n := len(tx.order); n == 0 || i > int(tx.order[n-1]) {
			tx.lockShard(i)
			continue
		}
		got := false
		for try := 0; try < 1000 && !got; try++ {
			if got = tx.tryLockShard(i); !got {
				runtime.Gosched()
			}
		}
		if !got {
			return false
		}
	}
	return true
}

// kill is SCRIPT KILL.
func (e *scriptEngine) kill() string {
	r := e.oldest(nil)
	if r == nil {
		return errNotBusy
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wrote {
		return errUnkillable
	}
	r.killed.Store(true)
	r.cancel()
	return ""
}

func cmdScriptKill(c *Client, _ [][]byte) {
	if msg := c.s.scriptEngine().kill(); msg != "" {
		c.err(msg)
		return
	}
	c.ok()
}

func cmdScriptLoad(c *Client, args [][]byte) {
	sc, msg := c.s.scriptEngine().create(args[2])
	if msg != "" {
		c.err(msg)
		return
	}
	c.bulkString(sc.sha)
}

func cmdScriptExists(c *Client, args [][]byte) {
	e := c.s.scriptEngine()
	c.array(len(args) - 2)
	for _, a := range args[2:] {
		if e.lookup(strings.ToLower(string(a))) != nil {
			c.int(1)
		} else {
			c.int(0)
		}
	}
}

func cmdScriptFlush(c *Client, args [][]byte) {
	if len(args) > 3 || (len(args) == 3 && !eqFold(args[2], "sync") && !eqFold(args[2], "async")) {
		c.err(errScriptFlush)
		return
	}
	c.s.scriptEngine().flush()
	c.ok()
}

// scriptingParams are the scripting configuration parameters.
func scriptingParams() []param {
	p := intParam("busy-reply-threshold", 0, 1<<62, func(c *Config) *int { return &c.BusyReplyThreshold })
	alias := p
	alias.name = "lua-time-limit"
	return []param{p, alias}
}
