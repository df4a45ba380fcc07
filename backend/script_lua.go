package backend

import (
	"crypto/sha1"
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The Lua side of scripting (script_lua.c): a prepared interpreter state
// (luaVM) with Redis' libraries and sandbox, the redis.* API, and the
// conversions between RESP replies and Lua values both ways.
//
// Sandbox. Globals live in a backing table behind an empty proxy that is
// the state's _G: reading a missing global raises "Script attempted to
// access nonexistent global variable", creating or replacing one raises
// "Attempt to modify a readonly table" (Redis 7.0 makes the globals and
// the library tables read-only; the library tables get the same proxy).
// KEYS and ARGV are set in the backing table before each run. A state is
// reused by later scripts, so nothing a script can do through the
// ordinary language survives it except changes to the tables it creates.

// luaVM is one prepared interpreter, used by one script run at a time
// (scriptEngine's pool owns it between runs).
type luaVM struct {
	L       *lua.LState
	globals *lua.LTable               // the backing globals table
	funcs   map[string]*lua.LFunction // compiled scripts of this state, by sha
	gen     uint64                    // the engine's generation (SCRIPT FLUSH) it was made in
	handler *lua.LFunction            // the error handler of a run
	run     *scriptRun                // the current run, nil between runs
	reply   replyWriter               // captures the reply of one redis.call
	// args and arena hold one redis.call's arguments, reused call after
	// call (handlers copy what they keep).
	args  [][]byte
	arena []byte
	offs  []int
	raw   []byte         // the call in canonical RESP (Client.raw while it runs)
	null  *lua.LUserData // cjson.null
	// protected are the read-only tables and their metatables:
	// setmetatable and rawset refuse them.
	protected map[*lua.LTable]bool
}

const luaSource = "@user_script"

func newLuaVM(e *scriptEngine) *luaVM {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, RegistryMaxSize: 1 << 20})
	vm := &luaVM{L: L, funcs: map[string]*lua.LFunction{}, protected: map[*lua.LTable]bool{}}
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}, {lua.CoroutineLibName, lua.OpenCoroutine}} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, name := range []string{"dofile", "loadfile", "print", "require", "module", "_printregs", "os", "io", "package", "debug", "channel"} {
		g.RawSetString(name, lua.LNil)
	}
	g.RawSetString("pcall", L.NewFunction(vm.luaPcall))
	for _, name := range []string{"setmetatable", "rawset"} {
		orig := g.RawGetString(name).(*lua.LFunction)
		g.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			if t, ok := L.Get(1).(*lua.LTable); ok && vm.protected[t] {
				L.RaiseError("Attempt to modify a readonly table")
			}
			L.Insert(orig, 1)
			L.Call(L.GetTop()-1, lua.MultRet)
			return L.GetTop()
		}))
	}
	loadstring := g.RawGetString("loadstring").(*lua.LFunction)
	g.RawSetString("loadstring", L.NewFunction(func(L *lua.LState) int {
		// Binary chunks are refused, as Redis' Lua does.
		if s, ok := L.Get(1).(lua.LString); ok && strings.HasPrefix(string(s), "\x1bLua") {
			L.Push(lua.LNil)
			L.Push(lua.LString("binary code not allowed"))
			return 2
		}
		L.Insert(loadstring, 1)
		L.Call(L.GetTop()-1, lua.MultRet)
		return L.GetTop()
	}))
	tostring := g.RawGetString("tostring")
	g.RawSetString("tostring", L.NewFunction(func(L *lua.LState) int {
		// Lua 5.1 formats numbers with "%.14g".
		if n, ok := L.Get(1).(lua.LNumber); ok {
			L.Push(lua.LString(formatLuaNumber(float64(n))))
			return 1
		}
		L.Push(tostring)
		L.Insert(tostring, 1)
		L.Pop(1)
		L.Call(L.GetTop()-1, 1)
		return 1
	}))

	redis := L.NewTable()
	api := map[string]lua.LGFunction{
		"call":               func(L *lua.LState) int { return vm.redisCall(L, true) },
		"pcall":              func(L *lua.LState) int { return vm.redisCall(L, false) },
		"sha1hex":            luaSha1hex,
		"error_reply":        luaErrorReply,
		"status_reply":       luaStatusReply,
		"log":                func(L *lua.LState) int { return luaLog(e, L) },
		"setresp":            vm.luaSetResp,
		"set_repl":           vm.luaSetRepl,
		"replicate_commands": func(L *lua.LState) int { L.Push(lua.LTrue); return 1 },
		"breakpoint":         func(L *lua.LState) int { L.Push(lua.LFalse); return 1 },
		"debug":              func(L *lua.LState) int { return 0 },
	}
	for name, fn := range api {
		redis.RawSetString(name, L.NewFunction(fn))
	}
	for name, v := range map[string]float64{"LOG_DEBUG": 0, "LOG_VERBOSE": 1, "LOG_NOTICE": 2, "LOG_WARNING": 3,
		"REPL_NONE": 0, "REPL_AOF": 1, "REPL_SLAVE": 2, "REPL_REPLICA": 2, "REPL_ALL": 3, "REDIS_VERSION_NUM": 0x07000f} {
		redis.RawSetString(name, lua.LNumber(v))
	}
	redis.RawSetString("REDIS_VERSION", lua.LString("7.0.15"))
	g.RawSetString("redis", redis)

	str := g.RawGetString("string").(*lua.LTable)
	str.RawSetString("dump", L.NewFunction(func(L *lua.LState) int {
		L.CheckFunction(1)
		L.Push(lua.LString("\x1bLua\x51")) // a binary chunk header: loadstring refuses it
		return 1
	}))
	math := g.RawGetString("math").(*lua.LTable)
	math.RawSetString("random", L.NewFunction(func(L *lua.LState) int { return luaRandom(e, L) }))
	math.RawSetString("randomseed", L.NewFunction(func(L *lua.LState) int { e.rand.seed(int32(checkNumber(L, 1))); return 0 }))

	vm.null = L.NewUserData()
	g.RawSetString("cjson", openCjson(L, vm.null))
	g.RawSetString("bit", openBit(L))
	g.RawSetString("cmsgpack", openCmsgpack(L))
	vm.handler = L.NewFunction(vm.errHandler)

	// Read-only library tables and globals (see the comment at the top).
	for _, name := range []string{"redis", "string", "table", "math", "cjson", "bit", "cmsgpack", "coroutine"} {
		if t, ok := g.RawGetString(name).(*lua.LTable); ok {
			g.RawSetString(name, vm.readOnlyProxy(t, nil))
		}
	}
	vm.globals = L.NewTable()
	g.ForEach(func(k, v lua.LValue) { vm.globals.RawSet(k, v) })
	missing := L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.ToString(2))
		return 0
	})
	vm.globals.RawSetString("_G", g)
	// The state's own global table becomes the proxy: cleared, with the
	// proxy's metatable.
	var keys []lua.LValue
	g.ForEach(func(k, _ lua.LValue) { keys = append(keys, k) })
	for _, k := range keys {
		g.RawSet(k, lua.LNil)
	}
	L.SetMetatable(g, vm.readOnlyMeta(vm.globals, missing))
	vm.protected[g] = true
	vm.protected[vm.globals] = true
	// The string metatable's __index must stay the real string library.
	return vm
}

// readOnlyProxy returns an empty table reading through to t and refusing
// writes; missing, when not nil, is t's own __index for absent names.
func (vm *luaVM) readOnlyProxy(t *lua.LTable, missing *lua.LFunction) *lua.LTable {
	L := vm.L
	p := L.NewTable()
	L.SetMetatable(p, vm.readOnlyMeta(t, missing))
	vm.protected[p] = true
	return p
}

// readOnlyMeta is the metatable of a read-only proxy of t.
func (vm *luaVM) readOnlyMeta(t *lua.LTable, missing *lua.LFunction) *lua.LTable {
	L := vm.L
	if missing != nil {
		mt := L.NewTable()
		mt.RawSetString("__index", missing)
		L.SetMetatable(t, mt)
	}
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	// getmetatable returns a read-only view of the metatable.
	view := L.NewTable()
	vmt := L.NewTable()
	vmt.RawSetString("__index", mt)
	vmt.RawSetString("__newindex", mt.RawGetString("__newindex"))
	vmt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(view, vmt)
	mt.RawSetString("__metatable", view)
	vm.protected[mt] = true
	vm.protected[view] = true
	return mt
}

// luaArray makes a Lua array of strings (KEYS, ARGV).
func luaArray(L *lua.LState, items [][]byte) *lua.LTable {
	t := L.CreateTable(len(items), 0)
	for _, it := range items {
		t.Append(lua.LString(it))
	}
	return t
}

// errTable is luaPushErrorBuff: the {err=...} table of an error text,
// "-CODE msg" or "msg" (which gets the ERR code).
func errTable(L *lua.LState, s string) *lua.LTable { return newErrTable(L, s, false) }

// commandErrTable is errTable for the error of a command called by the
// script, flagged ignore_error_stats_update as Redis does (the field is
// set first so that cjson.encode lists the fields in Redis' order).
func commandErrTable(L *lua.LState, s string) *lua.LTable { return newErrTable(L, s, true) }

func newErrTable(L *lua.LState, s string, ignoreStats bool) *lua.LTable {
	var code, msg string
	if strings.HasPrefix(s, "-") {
		if i := strings.IndexByte(s, ' '); i < 0 {
			code, msg = "ERR", s[1:]
		} else {
			code, msg = s[1:i], s[i+1:]
		}
	} else {
		code, msg = "ERR", s
	}
	msg = strings.Trim(msg, "\r\n")
	t := L.NewTable()
	if ignoreStats {
		t.RawSetString("ignore_error_stats_update", lua.LTrue)
	}
	t.RawSetString("err", lua.LString(code+" "+msg))
	return t
}

// raise raises the Lua error table of an error text.
func raise(L *lua.LState, s string) int {
	L.Error(errTable(L, s), 0)
	return 0
}

// errHandler is Redis' __redis__err__handler: it turns a raised error
// into {err=..., source=..., line=...} with the position of the innermost
// Lua frame.
func (vm *luaVM) errHandler(L *lua.LState) int {
	v := L.Get(1)
	t, ok := v.(*lua.LTable)
	if vm.run != nil && vm.run.killed.Load() {
		t, ok = errTable(L, "Script killed by user with SCRIPT KILL..."), true
	}
	if !ok {
		t = L.NewTable()
		t.RawSetString("err", lua.LString("ERR "+lua.LVAsString(L.ToStringMeta(v))))
	}
	for level := 0; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			break
		}
		if dbg.CurrentLine > 0 && dbg.What != "G" {
			t.RawSetString("source", lua.LString(luaSource))
			t.RawSetString("line", lua.LNumber(dbg.CurrentLine))
			break
		}
	}
	L.Push(t)
	return 1
}

// luaPcall is Redis' pcall: as Lua's, but an error table's message is
// returned as the error (the form scripts written for Redis 6 expect).
func (vm *luaVM) luaPcall(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.ArgError(1, "value expected")
	}
	if err := L.PCall(n-1, lua.MultRet, nil); err != nil {
		obj := lua.LValue(lua.LString(err.Error()))
		if ae, ok := err.(*lua.ApiError); ok {
			obj = ae.Object
		}
		if t, ok := obj.(*lua.LTable); ok {
			if s, ok := t.RawGetString("err").(lua.LString); ok {
				obj = s
			}
		}
		L.SetTop(0)
		L.Push(lua.LFalse)
		L.Push(obj)
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// redisCall is redis.call (raise) and redis.pcall.
func (vm *luaVM) redisCall(L *lua.LState, raiseErr bool) int {
	run := vm.run
	if run == nil {
		return raise(L, "redis.call/pcall can only be called inside a script invocation")
	}
	n := L.GetTop()
	if n == 0 {
		return vm.callError(L, raiseErr, "Please specify at least one argument for this redis lib call")
	}
	// The arguments are appended to one buffer, then sliced (the buffer
	// may move while it grows).
	arena, offs := vm.arena[:0], vm.offs[:0]
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LNumber:
			arena = strconv.AppendFloat(arena, float64(v), 'g', 17, 64)
		case lua.LString:
			arena = append(arena, v...)
		default:
			return vm.callError(L, raiseErr, "Lua redis lib command arguments must be strings or integers")
		}
		offs = append(offs, len(arena))
	}
	args, start := vm.args[:0], 0
	for _, end := range offs {
		args = append(args, arena[start:end:end])
		start = end
	}
	vm.arena, vm.offs, vm.args = arena, offs, args
	L.SetTop(0)
	msg := run.call(&vm.reply, &vm.raw, args)
	if msg != "" {
		t := commandErrTable(L, msg)
		if raiseErr {
			L.Error(t, 0)
		}
		L.Push(t)
		return 1
	}
	v, _ := respToLua(L, vm.reply.b)
	if t, ok := v.(*lua.LTable); ok && raiseErr && len(vm.reply.b) > 0 && vm.reply.b[0] == '-' {
		L.Error(t, 0)
	}
	L.Push(v)
	return 1
}

func (vm *luaVM) callError(L *lua.LState, raiseErr bool, msg string) int {
	t := errTable(L, msg)
	if raiseErr {
		L.Error(t, 0)
	}
	L.Push(t)
	return 1
}

// respToLua converts one RESP2 reply to a Lua value
// (redisProtocolToLuaType) and returns the bytes after it.
func respToLua(L *lua.LState, b []byte) (lua.LValue, []byte) {
	if len(b) < 3 {
		return lua.LFalse, nil
	}
	i := strings.Index(string(b), "\r\n")
	if i < 0 {
		return lua.LFalse, nil
	}
	line, rest := b[1:i], b[i+2:]
	switch b[0] {
	case ':':
		n, _ := strconv.ParseInt(string(line), 10, 64)
		return lua.LNumber(n), rest
	case '$':
		n, _ := strconv.Atoi(string(line))
		if n < 0 || n+2 > len(rest) {
			return lua.LFalse, rest
		}
		return lua.LString(rest[:n]), rest[n+2:]
	case '+':
		t := L.NewTable()
		t.RawSetString("ok", lua.LString(line))
		return t, rest
	case '-':
		return commandErrTable(L, "-"+string(line)), rest
	case '*':
		n, _ := strconv.Atoi(string(line))
		if n < 0 {
			return lua.LFalse, rest
		}
		t := L.CreateTable(n, 0)
		for j := 0; j < n; j++ {
			var v lua.LValue
			v, rest = respToLua(L, rest)
			t.RawSetInt(j+1, v)
		}
		return t, rest
	}
	return lua.LFalse, nil
}

// luaToRESP writes a script's Lua return value as a reply
// (luaReplyToRedisReply).
// countErr is called for each error reply written (errorstats), except
// those of commands the script called, already counted.
func luaToRESP(w *replyWriter, v lua.LValue, depth int, countErr func(string)) {
	if depth > 7000 {
		w.WriteError("ERR reached lua stack limit")
		countErr("ERR reached lua stack limit")
		return
	}
	switch v := v.(type) {
	case lua.LString:
		w.WriteBulkString(string(v))
	case lua.LBool:
		if v {
			w.WriteInt64(1)
		} else {
			w.WriteNull()
		}
	case lua.LNumber:
		w.WriteInt64(luaToInt64(float64(v)))
	case *lua.LTable:
		if s, ok := v.RawGetString("err").(lua.LString); ok {
			msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(string(s))
			w.WriteError(msg)
			if v.RawGetString("ignore_error_stats_update") != lua.LTrue {
				countErr(msg)
			}
			return
		}
		if s, ok := v.RawGetString("ok").(lua.LString); ok {
			w.WriteString(strings.NewReplacer("\r", " ", "\n", " ").Replace(string(s)))
			return
		}
		if d, ok := v.RawGetString("double").(lua.LNumber); ok {
			w.WriteBulk(appendScore(nil, float64(d))) // addReplyDouble
			return
		}
		n := 0
		for v.RawGetInt(n+1) != lua.LNil {
			n++
		}
		w.WriteArray(n)
		for j := 1; j <= n; j++ {
			luaToRESP(w, v.RawGetInt(j), depth+1, countErr)
		}
	default:
		w.WriteNull()
	}
}

// luaToInt64 is C's (long long) cast of a double on x86-64: truncation,
// and INT64_MIN for NaN and values out of range.
func luaToInt64(f float64) int64 {
	if math.IsNaN(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0 {
		return math.MinInt64
	}
	return int64(f)
}

func luaSha1hex(L *lua.LState) int {
	if L.GetTop() != 1 {
		return raise(L, "wrong number of arguments")
	}
	s := ""
	switch v := L.Get(1).(type) {
	case lua.LString:
		s = string(v)
	case lua.LNumber:
		s = lua.LVAsString(v)
	}
	sum := sha1.Sum([]byte(s))
	L.Push(lua.LString(hex.EncodeToString(sum[:])))
	return 1
}

func luaErrorReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		L.Push(errTable(L, "wrong number or type of arguments"))
		return 1
	}
	e := string(s)
	if !strings.HasPrefix(e, "-") {
		e = "-" + e
	}
	L.Push(errTable(L, e))
	return 1
}

func luaStatusReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		L.Push(errTable(L, "wrong number or type of arguments"))
		return 1
	}
	t := L.NewTable()
	t.RawSetString("ok", s)
	L.Push(t)
	return 1
}

// luaLog is redis.log: the arguments after the level, space separated,
// to the server log.
func luaLog(e *scriptEngine, L *lua.LState) int {
	n := L.GetTop()
	if n < 2 {
		return raise(L, "redis.log() requires two arguments or more.")
	}
	lv, ok := L.Get(1).(lua.LNumber)
	if !ok {
		if s, isStr := L.Get(1).(lua.LString); isStr {
			f, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64)
			lv, ok = lua.LNumber(f), err == nil
		}
	}
	if !ok {
		return raise(L, "First argument must be a number (log level).")
	}
	level := int(lv)
	if level < 0 || level > 3 {
		return raise(L, "Invalid debug level.")
	}
	var parts []string
	for i := 2; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString, lua.LNumber:
			parts = append(parts, lua.LVAsString(v))
		}
	}
	e.log(level, strings.Join(parts, " "))
	return 0
}

func (vm *luaVM) luaSetResp(L *lua.LState) int {
	if vm.run == nil {
		return raise(L, "redis.setresp can only be called inside a script invocation")
	}
	if L.GetTop() != 1 {
		return raise(L, "redis.setresp() requires one argument.")
	}
	n, _ := L.Get(1).(lua.LNumber)
	switch int(n) {
	case 2:
		return 0
	case 3:
		return raise(L, "RESP3 is not supported by shardis-server scripts.")
	}
	return raise(L, "RESP version must be 2 or 3.")
}

func (vm *luaVM) luaSetRepl(L *lua.LState) int {
	if vm.run == nil {
		return raise(L, "redis.set_repl can only be called inside a script invocation")
	}
	if L.GetTop() != 1 {
		return raise(L, "redis.set_repl() requires one argument.")
	}
	n, _ := L.Get(1).(lua.LNumber)
	flags := int(n)
	if flags&^3 != 0 {
		return raise(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
	}
	vm.run.repl = flags
	return 0
}

// luaRandom is Redis' math.random: Lua 5.1's, on redisLrand48.
func luaRandom(e *scriptEngine, L *lua.LState) int {
	const max = 0x7fffffff
	r := float64(e.rand.next()%max) / max
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(r))
	case 1:
		u := int(checkNumber(L, 1))
		if u < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(r*float64(u)) + 1))
	case 2:
		l, u := int(checkNumber(L, 1)), L.CheckInt(2)
		if l > u {
			L.ArgError(2, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(r*float64(u-l+1)) + float64(l)))
	default:
		L.RaiseError("wrong number of arguments")
	}
	return 1
}

// formatLuaNumber is Lua 5.1's number to string conversion ("%.14g").
func formatLuaNumber(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}
