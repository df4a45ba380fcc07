package backend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	lua "github.com/yuin/gopher-lua"

	"github.com/shardis/shardis/integration/harness"
)

// scriptCorpus are scripts whose replies must be byte-identical on
// redis-server and shardis-server: conversions both ways, errors raised
// and trapped, error/status replies, cjson, bit, globals protection.
var scriptCorpus = [][]string{
	{"SET", "s", "abc"}, {"RPUSH", "l", "a", "b", "c"}, {"HSET", "h", "f", "v"}, {"SADD", "st", "m"},
	{"EVAL", "return 1", "0"},
	{"EVAL", "return 'hello'", "0"},
	{"EVAL", "return true", "0"},
	{"EVAL", "return false", "0"},
	{"EVAL", "return nil", "0"},
	{"EVAL", "return 3.99", "0"},
	{"EVAL", "return -3.99", "0"},
	{"EVAL", "return 9007199254740993", "0"},
	{"EVAL", "return 1e300", "0"},
	{"EVAL", "return -1e20", "0"},
	{"EVAL", "return 0/0", "0"},
	{"EVAL", "return {1,2,3,'ciao',{1,2}}", "0"},
	{"EVAL", "return {1,2,nil,4}", "0"},
	{"EVAL", "return {1,{2,{3,{4,{5}}}},'x',false,true,3.7}", "0"},
	{"EVAL", "return {ok='fine'}", "0"},
	{"EVAL", "return {double=3.14}", "0"},
	{"EVAL", "return {double=1/0}", "0"},
	{"EVAL", "return {err='My Error'}", "0"},
	{"EVAL", "return {err='ERR a\\nb'}", "0"},
	{"EVAL", "return {ok='a\\r\\nb'}", "0"},
	{"EVAL", "return {{ok='x'},{err='ERR y'},{}}", "0"},
	{"EVAL", "return redis.error_reply('My Error')", "0"},
	{"EVAL", "return redis.error_reply('-CODE msg')", "0"},
	{"EVAL", "return redis.error_reply('')", "0"},
	{"EVAL", "return redis.status_reply('PONG')", "0"},
	{"EVAL", "return redis.error_reply(1)", "0"},
	{"EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", "2", "k1", "k2", "a1", "a2"},
	{"EVAL", "return redis.call('get', KEYS[1])", "1", "s"},
	{"EVAL", "return redis.call('get', KEYS[1])", "1", "nokey"},
	{"EVAL", "return redis.call('lrange', 'l', 0, -1)", "0"},
	{"EVAL", "return redis.call('lrange', 'nol', 0, -1)", "0"},
	{"EVAL", "return redis.call('hgetall', 'h')", "0"},
	{"EVAL", "return redis.call('set', 'x', 'y')", "0"},
	{"EVAL", "return redis.call('set', 'n', 3.5)", "0"},
	{"EVAL", "return redis.call('set', 'n2', 0.1)", "0"},
	{"EVAL", "return redis.call('set', 'n3', 1e20)", "0"},
	{"EVAL", "return redis.call('set', 'n4', 123456789012)", "0"},
	{"GET", "n"}, {"GET", "n2"}, {"GET", "n3"}, {"GET", "n4"},
	{"EVAL", "return redis.call('incr', 'ctr')", "0"},
	{"EVAL", "return redis.call('incr', 's')", "0"},
	{"EVAL", "return redis.pcall('incr', 's')", "0"},
	{"EVAL", "return redis.call('lpush', 's', 'x')", "0"},
	{"EVAL", "local r = redis.pcall('lpush', 's', 'x'); return r['err']", "0"},
	{"EVAL", "return type(redis.call('get','nokey'))", "0"},
	{"EVAL", "return type(redis.call('set','tt','1'))", "0"},
	{"EVAL", "return redis.call('set','tt','1')['ok']", "0"},
	{"EVAL", "return redis.call('incr','x','y')", "0"},
	{"EVAL", "return redis.call('nosuchcommand')", "0"},
	{"EVAL", "return redis.call()", "0"},
	{"EVAL", "return redis.call({})", "0"},
	{"EVAL", "return redis.call('get', true)", "0"},
	{"EVAL", "return redis.pcall()", "0"},
	{"EVAL", "return redis.call('multi')", "0"},
	{"EVAL", "return redis.call('subscribe', 'c')", "0"},
	{"EVAL", "return redis.call('blpop', 'emptylist', 0)", "0"},
	{"EVAL", "return redis.call('ping')", "0"},
	{"EVAL", "return redis.call('quit')", "0"},
	{"EVAL", "return redis.call('shutdown')", "0"},
	{"EVAL", "return redis.call('script', 'load', 'return 1')", "0"},
	{"EVAL", "return redis.call('eval', 'return 1', '0')", "0"},
	{"EVAL", "return redis.call('watch', 'x')", "0"},
	{"EVAL", "return redis.call('config', 'get', 'maxmemory')", "0"},
	{"EVAL", "return redis.call('client', 'nosuchsub')", "0"},
	{"EVAL", "return redis.call('object', 'encoding', 'nokey')", "0"},
	{"EVAL", "return pcall(function() redis.call('incr','s') end)", "0"},
	{"EVAL", "local ok, e = pcall(function() redis.call('incr','s') end); return e", "0"},
	{"EVAL", "local ok, e = pcall(function() error('boom') end); return {tostring(ok), e}", "0"},
	{"EVAL", "error('x')", "0"},
	{"EVAL", "error({err='x y'})", "0"},
	{"EVAL", "error({err='ERR custom'})", "0"},
	{"EVAL", "\n\nerror('line three')", "0"},
	{"EVAL", "local function f()\n return redis.call('incr','s')\nend\nreturn f()", "0"},
	{"EVAL", "a = 5", "0"},
	{"EVAL", "return a", "0"},
	{"EVAL", "return _G", "0"},
	{"EVAL", "_G.x = 1", "0"},
	{"EVAL", "redis = 1", "0"},
	{"EVAL", "string.foo = 1", "0"},
	{"EVAL", "cjson.encode = 1", "0"},
	{"EVAL", "return dofile", "0"},
	{"EVAL", "return loadfile", "0"},
	{"EVAL", "return print", "0"},
	{"EVAL", "return require", "0"},
	{"EVAL", "return os", "0"},
	{"EVAL", "return loadstring('return 7')()", "0"},
	{"EVAL", "return redis.sha1hex('')", "0"},
	{"EVAL", "return redis.sha1hex('Pizza & Mandolino')", "0"},
	{"EVAL", "return redis.sha1hex()", "0"},
	{"EVAL", "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}", "0"},
	{"EVAL", "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}", "0"},
	{"EVAL", "redis.log(redis.LOG_WARNING, 'from a script'); return 1", "0"},
	{"EVAL", "redis.log(99, 'x')", "0"},
	{"EVAL", "redis.log('x')", "0"},
	{"EVAL", "redis.replicate_commands(); redis.set_repl(redis.REPL_ALL); return 1", "0"},
	{"EVAL", "redis.set_repl(99)", "0"},
	{"EVAL", "redis.setresp(2); return 1", "0"},
	{"EVAL", "redis.setresp(4)", "0"},
	{"EVAL", "return cjson.encode({1,2,{a=1.5}})", "0"},
	{"EVAL", "return cjson.encode({'a/b', 'q\"\\\\', '\\1\\127', 3.14159265358979, 1e20, -0.5, true, false, cjson.null})", "0"},
	{"EVAL", "return cjson.encode({})", "0"},
	{"EVAL", "return cjson.encode({a={b={c={}}}})", "0"},
	{"EVAL", "return cjson.encode({[1]=1,[100]=2})", "0"},
	{"EVAL", "return cjson.encode({1,nil,3})", "0"},
	{"EVAL", "return cjson.encode(0/0)", "0"},
	{"EVAL", "return cjson.encode(function() end)", "0"},
	{"EVAL", "return cjson.decode('[1,2,{\"a\":null}]')[3].a == cjson.null", "0"},
	{"EVAL", "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')", "0"},
	{"EVAL", "local t = cjson.decode('{\"keya\": \"a\", \"keyb\": [1, \"\\\\u00e9\\\\n\", true]}'); return {t.keya, t.keyb[1], t.keyb[2], t.keyb[3]}", "0"},
	{"EVAL", "return cjson.decode('[1,2')", "0"},
	{"EVAL", "return cjson.decode('{\"a\" 1}')", "0"},
	{"EVAL", "return cjson.decode('')", "0"},
	{"EVAL", "return cjson.decode('[1] x')", "0"},
	{"EVAL", "return cjson.encode(cjson.decode('{\"a\":[1,2,3]}'))", "0"},
	{"EVAL", "return {bit.tobit(1), bit.band(0xff, 0x0f), bit.bor(1,2,4,8,16,32,64,128), bit.bxor(1,2), bit.bnot(0)}", "0"},
	{"EVAL", "return {bit.tohex(65535), bit.tohex(-1, -4), bit.tohex(255, 2), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(1, 33), bit.ror(1, 1), bit.bswap(0x12345678)}", "0"},
	{"EVAL", "return {bit.tobit(2^32 + 5), bit.tobit(-1.5), bit.tobit(2.5), bit.band(-1, 2^31)}", "0"},
	{"EVAL", "return bit.band()", "0"},
	{"EVAL", "local e = cmsgpack.pack({1, -1, 127, 128, -33, 255, 65535, 65536, -129, -32769, 2^32, -2^31 - 1, 2^53, 0.1, 1.5, 'x', string.rep('a', 40), string.rep('b', 300), true, false}); return {e, #e}", "0"},
	{"EVAL", "return cmsgpack.pack({a=1}, {}, {{{{}}}}, -2^63, 2^63, 0/0, 1/0)", "0"},
	{"EVAL", "local t = cmsgpack.unpack(cmsgpack.pack({1, 2, {3, 'x'}, 'y', 2^40, -5.25})); return {t[1], t[3][2], t[4], tostring(t[5]), tostring(t[6])}", "0"},
	{"EVAL", "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}", "0"},
	{"EVAL", "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}", "0"},
	{"EVAL", "return cmsgpack.unpack('\\145')", "0"},
	{"EVAL", "return cmsgpack.unpack('\\193')", "0"},
	{"EVAL", "return cmsgpack.unpack_one('\\1', 5)", "0"},
	{"EVAL", "return cmsgpack.pack()", "0"},
	{"EVAL", "local a = {}; a[1] = a; return #cmsgpack.pack(a)", "0"},
	{"EVAL", "return {tostring(1e15), tostring(0.1), tostring(1/0), tostring(-1/0), tostring(12345678901234567)}", "0"},
	{"EVAL", "return string.format('%d %s %5.2f', 5, 'x', 3.14159)", "0"},
	{"EVAL", "return {string.rep('ab', 3), string.sub('hello', 2, 4), string.upper('x'), ('x'):len()}", "0"},
	{"EVAL", "return table.concat({1,2,3}, ',')", "0"},
	{"EVAL", "local t = {3,1,2}; table.sort(t); return t", "0"},
	{"EVAL", "return {math.floor(3.7), math.max(1, 5, 3), math.abs(-2), math.huge > 0}", "0"},
	{"EVAL", "return {type(KEYS), type(ARGV), #KEYS}", "0"},
	{"EVAL", "return unpack({1, 2, 3})", "0"},
	{"EVAL", "return select('#', 1, 2, 3)", "0"},
	{"EVAL", "return 'hello' --trailing comment", "0"},
	{"EVAL", "return 1", "-1"},
	{"EVAL", "return 1", "2", "a"},
	{"EVAL", "return 1", "x"},
	{"EVAL", "return 1", "99999999999999999999"},
	{"EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"},
	{"EVALSHA", "ff", "0"},
	{"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"},
	{"EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"},
	{"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "-1"},
	{"SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "ffffffffffffffffffffffffffffffffffffffff"},
	{"SCRIPT", "LOAD", "return 'loaded'"},
	{"EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"},
	{"SCRIPT", "LOAD", "return +"},
	{"EVAL", "return +", "0"},
	{"SCRIPT", "FLUSH"},
	{"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"},
	{"SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"},
	{"SCRIPT", "FLUSH", "ASYNC"},
	{"SCRIPT", "FLUSH", "SYNC"},
	{"SCRIPT", "FLUSH", "LAZY"},
	{"SCRIPT", "FLUSH", "SYNC", "X"},
	{"SCRIPT", "KILL"},
	{"SCRIPT", "EXISTS"},
	{"SCRIPT", "LOAD"},
	{"SCRIPT", "NOSUCH"},
	{"EVAL"}, {"EVAL", "return 1"}, {"EVALSHA", "x"},
	{"EVAL_RO", "return redis.call('get', KEYS[1])", "1", "s"},
	{"EVAL_RO", "return redis.call('set', 'a', 'b')", "0"},
	{"EVAL_RO", "return redis.call('publish', 'ch', 'm')", "0"},
	{"EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','b')", "0"},
	{"EVAL", "#!lua flags=no-writes\nreturn redis.call('get','s')", "0"},
	{"EVAL_RO", "#!lua\nreturn 1", "0"},
	{"EVAL", "#!lua\nreturn redis.call('set','shebang','1')", "0"},
	{"EVAL", "#!lua flags=bad\nreturn 1", "0"},
	{"EVAL", "#!lua flags=no-writes,allow-oom\nreturn 2", "0"},
	{"EVAL", "#!python\nreturn 1", "0"},
	{"EVAL", "#!lua foo=bar\nreturn 1", "0"},
	{"EVAL", "#!lua", "0"},
	{"EVAL", "#!lua\n\nerror('third')", "0"},
	{"MULTI"}, {"EVAL", "return redis.call('incr', KEYS[1])", "1", "mx"}, {"INCR", "mx"}, {"EXEC"},
	{"EVAL", "return redis.call('spop', 'nosuchset')", "0"},
	{"EVAL", "return redis.call('del', 's', 'l', 'h', 'st', 'x', 'ctr', 'tt', 'shebang', 'mx', 'n', 'n2', 'n3', 'n4')", "0"},
}

// TestScriptDifferential runs the corpus, then random script calls on
// random keys of every type (wrong types, bad arguments, bad numkeys),
// on redis-server and shardis-server and compares the raw replies.
func TestScriptDifferential(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("FLUSHALL")
	d.same("SCRIPT", "FLUSH")
	for _, cmd := range scriptCorpus {
		if a, b := d.ref.do(cmd...), d.got.do(cmd...); a != b {
			t.Errorf("command %q:\n redis:    %q\n shardis:  %q", cmd, a, b)
		}
	}
	if t.Failed() {
		return
	}
	for seed := uint64(1); seed <= 3; seed++ {
		g := newScriptGen(seed)
		for i := 0; i < 1500 && !t.Failed(); i++ {
			d.same(g.next()...)
		}
	}
}

// scriptGen makes random EVAL calls: a script template calling a random
// command, with random keys (of several types) and arguments.
type scriptGen struct{ r *rand.Rand }

func newScriptGen(seed uint64) *scriptGen { return &scriptGen{r: rand.New(rand.NewPCG(seed, 77))} }

var scriptGenBodies = []string{
	"return redis.call(ARGV[1], KEYS[1], ARGV[2])",
	"return redis.pcall(ARGV[1], KEYS[1], ARGV[2])",
	"return redis.call(ARGV[1], KEYS[1])",
	"return redis.pcall(ARGV[1], KEYS[1], ARGV[2], ARGV[3])",
	"return {redis.pcall(ARGV[1], KEYS[1], ARGV[2]), redis.pcall('type', KEYS[1])}",
	"local r = redis.pcall(ARGV[1], KEYS[1], ARGV[2]); if type(r) == 'table' and r.err then return 'E:' .. r.err end; return r",
	"local v = redis.call('get', KEYS[1]); if v == false then return redis.call('set', KEYS[1], ARGV[2]) end; return v",
	"return redis.call('incrby', KEYS[1], tonumber(ARGV[2]) or 1)",
	"return cjson.encode(redis.pcall(ARGV[1], KEYS[1], ARGV[2]))",
	"return redis.call(ARGV[1], KEYS[1], tonumber(ARGV[2]))",
}

var scriptGenCmds = []string{"get", "set", "incr", "incrby", "append", "lpush", "rpop", "llen", "sadd", "scard", "hset", "hget", "hgetall",
	"zadd", "zscore", "zcard", "del", "exists", "type", "expire", "ttl", "strlen", "getrange", "setnx", "decr", "lrange", "sismember", "NOSUCH", "PING", "multi", "blpop"}

func (g *scriptGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *scriptGen) next() []string {
	key := fmt.Sprintf("%s%d", g.pick([]string{"s", "l", "h", "z", "st"}), g.r.IntN(3))
	switch g.r.IntN(12) {
	case 0: // seed keys of every type
		switch key[0] {
		case 'l':
			return []string{"RPUSH", key, "a", "1"}
		case 'h':
			return []string{"HSET", key, "f", "1"}
		case 'z':
			if key[1] == 't' {
				return []string{"SADD", key, "m", "2"}
			}
			return []string{"ZADD", key, "1", "m"}
		}
		return []string{"SET", key, g.pick([]string{"1", "abc", "-5", "3.5"})}
	case 1: // bad numkeys
		return []string{"EVAL", "return 1", g.pick([]string{"-1", "3", "x", "1.5", ""}), key}
	case 2:
		return []string{"EVALSHA", g.pick([]string{"0000000000000000000000000000000000000000", "abc", ""}), "0"}
	}
	arg := g.pick([]string{"1", "0", "-1", "abc", "10", "3.5", "", "m", "f"})
	body := g.pick(scriptGenBodies)
	return []string{g.pick([]string{"EVAL", "EVAL", "EVAL", "EVAL_RO"}), body, "1", key, g.pick(scriptGenCmds), arg, g.pick([]string{"1", "x", "m"})}
}

// TestScriptEffectsSurviveRestart: scripts with INCR, SPOP and TIME
// dependent writes give the same data after a kill -9 and an AOF reload.
func TestScriptEffectsSurviveRestart(t *testing.T) {
	p := harness.StartShardisServer(t, "", "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	rdb := client(t, p.Addr)
	rdb.SAdd(ctx, "set", "a", "b", "c", "d", "e", "f", "g", "h")
	script := `
local n = redis.call('incr', KEYS[1])
local m = redis.call('spop', KEYS[2])
local t = redis.call('time')
redis.call('set', KEYS[3] .. n, (m or 'none') .. ':' .. t[1] .. t[2])
redis.call('pexpire', KEYS[3] .. n, 100000 + math.random(1000))
redis.call('hset', 'h', n, m or 'none')
return n`
	for i := 0; i < 10; i++ {
		if err := rdb.Eval(ctx, script, []string{"ctr", "set", "val:"}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	before := dumpAll(t, rdb)
	if len(before) < 10 {
		t.Fatalf("only %d keys", len(before))
	}
	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	compareDumps(t, "after kill -9 and AOF reload", before, dumpAll(t, client(t, p.Addr)))
}

// TestScriptReplica: a replica receives the effects of scripts (random
// and time dependent ones included) and ends with the master's data.
func TestScriptReplica(t *testing.T) {
	ctx := context.Background()
	m := startServer(t, nil)
	mc := client(t, m.addr())
	r := startReplica(t, m.addr(), nil)
	rc := client(t, r.addr())
	waitSynced(t, mc, rc)
	mc.SAdd(ctx, "set", "a", "b", "c", "d", "e")
	for i := 0; i < 20; i++ {
		err := mc.Eval(ctx, `local m = redis.call('spop', KEYS[2]); local n = redis.call('incr', KEYS[1])
redis.call('rpush', 'log', (m or '-') .. n .. ':' .. math.random(100)); return n`, []string{"ctr", "set"}).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	mc.Eval(ctx, "redis.call('set','only-one','1')", nil)
	waitSynced(t, mc, rc)
	sameDump(t, "replica after scripts", replDump(t, mc), replDump(t, rc))
}

// TestScriptConcurrentCAS: 8 clients × 1000 check-and-set increments by
// script plus plain INCRs on the same key give the exact total.
func TestScriptConcurrentCAS(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	const workers, n = 8, 1000
	script := redis.NewScript(`local v = tonumber(redis.call('get', KEYS[1]) or '0')
redis.call('set', KEYS[1], v + 1)
redis.call('set', KEYS[2], v + 1)
return v + 1`)
	var wg sync.WaitGroup
	errs := make(chan error, workers*2)
	for w := 0; w < workers; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			rdb := client(t, s.addr())
			for i := 0; i < n; i++ {
				if err := script.Run(ctx, rdb, []string{"counter", "other"}).Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			rdb := client(t, s.addr())
			for i := 0; i < n/10; i++ {
				if err := rdb.Incr(ctx, "counter").Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _ := client(t, s.addr()).Get(ctx, "counter").Int()
	if want := workers*n + workers*n/10; got != want {
		t.Fatalf("counter = %d, want %d", got, want)
	}
}

// TestScriptKill: a looping read-only script makes other clients get BUSY
// after busy-reply-threshold; SCRIPT KILL stops it; a script that wrote
// cannot be killed.
func TestScriptKill(t *testing.T) {
	s := startServer(t, func(c *Config) { c.BusyReplyThreshold = 50 })
	ctx := context.Background()
	rdb := client(t, s.addr())
	other := client(t, s.addr())
	if err := other.ScriptKill(ctx).Err(); err == nil || err.Error() != errNotBusy {
		t.Fatalf("SCRIPT KILL with no script: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- rdb.Eval(ctx, "local i = 0 while true do i = i + 1 if i % 2 == 0 then pcall(function() end) end end", nil).Err()
	}()
	waitBusy(t, other)
	if err := other.ScriptKill(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "Script killed by user with SCRIPT KILL") {
			t.Fatalf("killed script replied %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("script not killed")
	}
	if v, err := other.Ping(ctx).Result(); err != nil || v != "PONG" {
		t.Fatalf("PING after kill: %v %v", v, err)
	}

	go func() {
		done <- rdb.Eval(ctx, "redis.call('set','w','1') local t0 = redis.call('time')[1] while tonumber(redis.call('time')[1]) - t0 < 2 do end return 1", nil).Err()
	}()
	waitBusy(t, other)
	if err := other.ScriptKill(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "UNKILLABLE") {
		t.Fatalf("SCRIPT KILL of a writing script: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitBusy(t *testing.T, rdb *redis.Client) {
	t.Helper()
	for i := 0; i < 500; i++ {
		err := rdb.Ping(context.Background()).Err()
		if err != nil && strings.HasPrefix(err.Error(), "BUSY") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never BUSY: %v", rdb.Ping(context.Background()).Err())
}

// FuzzScriptCjsonDecode: cjson.decode of any input returns a value or
// raises a Lua error; it never panics or hangs.
func FuzzScriptCjsonDecode(f *testing.F) {
	for _, s := range []string{`[1,2,{"a":null}]`, `{"a" 1}`, `"\ud83d\ude00"`, `"\u12"`, `[[[[[[`, `1e999`, `-`, `{"a":[true,false,null]}`, ``, `"\`} {
		f.Add(s)
	}
	vm := newLuaVM(&scriptEngine{})
	defer vm.L.Close()
	decode := vm.L.GetField(vm.L.GetGlobal("cjson"), "decode")
	f.Fuzz(func(t *testing.T, s string) {
		L := vm.L
		L.Push(decode)
		L.Push(lua.LString(s))
		if err := L.PCall(1, 1, nil); err == nil {
			L.Pop(1)
		}
		L.SetTop(0)
	})
}

// TestScriptUndeclaredKeys: a script with declared keys locks only their
// shards; one that reads an undeclared key is run again with every shard
// locked (same result as Redis), and so are its later runs; one that
// touches an undeclared key after writing gets an error the first time
// unless the key's shard comes after the ones it holds.
func TestScriptUndeclaredKeys(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	rdb := client(t, s.addr())
	// Keys on shards lower and higher than the declared key's.
	declared := "k:0"
	for i := 1; shardIndex(hashKey([]byte(declared))) < 10 || shardIndex(hashKey([]byte(declared))) > numShards-10; i++ {
		declared = fmt.Sprintf("k:%d", i)
	}
	d := shardIndex(hashKey([]byte(declared)))
	var low, high string
	for i := 0; low == "" || high == ""; i++ {
		k := fmt.Sprintf("u:%d", i)
		switch j := shardIndex(hashKey([]byte(k))); {
		case j < d && low == "":
			low = k
		case j > d && high == "":
			high = k
		}
	}
	same := ""
	for i := 0; same == ""; i++ {
		if k := fmt.Sprintf("s:%d", i); shardIndex(hashKey([]byte(k))) == d {
			same = k
		}
	}
	rdb.Set(ctx, low, "L", 0)
	rdb.Set(ctx, high, "H", 0)

	// A script touching only its declared key: learnt, then partial.
	only := "return redis.call('incr', KEYS[1])"
	for i := 1; i <= 3; i++ {
		if v, err := rdb.Eval(ctx, only, []string{declared}).Int(); err != nil || v != i {
			t.Fatalf("declared-only run %d: %v %v", i, v, err)
		}
	}
	// Its key computed from data: runs partially with ARGV naming the
	// declared key, then strays (before or after writing).
	read := "local v = redis.call('get', ARGV[1]); return {redis.call('incr', KEYS[1]), v}"
	for _, k := range []string{declared, declared, low, low} {
		if _, err := rdb.Eval(ctx, read, []string{declared}, k).Result(); err != nil {
			t.Fatalf("read of %s: %v", k, err)
		}
	}
	up := "redis.call('incr', KEYS[1]); return redis.call('append', ARGV[1], 'x')"
	down := "redis.call('incr', KEYS[1]); return redis.call('append', ARGV[1], 'y')"
	for _, sc := range []string{up, down} {
		if err := rdb.Eval(ctx, sc, []string{declared}, same).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Eval(ctx, sc, []string{declared}, same).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rdb.Eval(ctx, up, []string{declared}, high).Int(); err != nil {
		t.Fatalf("write to an undeclared higher shard after a write: %v", err)
	}
	// A lower shard after a write: taken if free at once (never waiting).
	if err := rdb.Eval(ctx, down, []string{declared}, low).Err(); err != nil {
		t.Fatalf("write to a free undeclared lower shard after a write: %v", err)
	}
	if v, err := rdb.Eval(ctx, down, []string{declared}, low).Result(); err != nil {
		t.Fatalf("next run locks every shard: %v %v", v, err)
	}
	// ... and refused when another client holds it all the while.
	down2 := down + " -- 2"
	for i := 0; i < 2; i++ {
		if err := rdb.Eval(ctx, down2, []string{declared}, same).Err(); err != nil {
			t.Fatal(err)
		}
	}
	lowShard := &s.ks.shards[shardIndex(hashKey([]byte(low)))]
	lowShard.mu.Lock()
	err := rdb.Eval(ctx, down2, []string{declared}, low).Err()
	lowShard.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "did not declare") {
		t.Fatalf("write to a busy undeclared lower shard after a write: %v", err)
	}
	if v, err := rdb.Eval(ctx, down2, []string{declared}, low).Result(); err != nil {
		t.Fatalf("next run locks every shard: %v %v", v, err)
	}
	if v, _ := rdb.Get(ctx, declared).Int(); v != 3+4+4+1+1+1+2+1+1 {
		t.Fatalf("declared key = %d, want 18", v)
	}
	if err := rdb.Eval(ctx, "return redis.call('dbsize')", []string{"x"}).Err(); err != nil {
		t.Fatal(err)
	}
}

// FuzzScriptMsgpackUnpack: cmsgpack.unpack of any bytes returns values
// or raises a Lua error; it never panics or hangs.
func FuzzScriptMsgpackUnpack(f *testing.F) {
	for _, s := range []string{"\x93\x01\x02\x03", "\x82\xa1x\x01\xa1y\xc0", "\xdd\xff\xff\xff\xff", "\xdb\x00\x00\x00\x05ab", "\xc1", "\x91\x91\x91\x91", "\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a", "\xd3\xff\xff\xff\xff\xff\xff\xff\xfe", ""} {
		f.Add([]byte(s))
	}
	vm := newLuaVM(&scriptEngine{})
	defer vm.L.Close()
	unpack := vm.L.GetField(vm.L.GetGlobal("cmsgpack"), "unpack")
	f.Fuzz(func(t *testing.T, b []byte) {
		L := vm.L
		L.Push(unpack)
		L.Push(lua.LString(b))
		_ = L.PCall(1, lua.MultRet, nil)
		L.SetTop(0)
	})
}

// TestScriptSort compares SORT called from scripts with redis-server: a
// set sorted BY a constant comes back ordered (Redis sorts it for
// scripts, whose effects must not depend on a set's order), and a SORT
// whose BY/GET patterns read other keys works in a script whose runs lock
// only its declared key's shard (the patterns' shards are not declared).
func TestScriptSort(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("FLUSHALL")
	d.same("SADD", "myset", "a", "b", "c", "d", "e", "f", "g", "h", "i", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "z", "aa", "aaa", "azz")
	d.same("EVAL", "return redis.call('sort',KEYS[1],'by','_')", "1", "myset")
	d.same("EVAL", "return redis.call('sort',KEYS[1],'by','_','get','#','get','_:*')", "1", "myset")
	d.same("SORT", "myset", "BY", "_", "STORE", "dst")
	d.same("LRANGE", "dst", "0", "-1")
	d.same("RPUSH", "l", "1", "2", "3")
	for i := 1; i <= 3; i++ {
		d.same("SET", fmt.Sprintf("w_%d", i), fmt.Sprint(4-i))
		d.same("SET", fmt.Sprintf("o_%d", i), fmt.Sprint("obj", i))
	}
	sc := "return redis.call('sort', KEYS[1], 'by', ARGV[1], 'get', ARGV[2])"
	for i := 0; i < 3; i++ { // learnt: touches only its declared key
		d.same("EVAL", sc, "1", "l", "nosort", "#")
	}
	d.same("EVAL", sc, "1", "l", "w_*", "o_*")
	d.same("EVAL", sc, "1", "l", "w_*", "#")
	d.same("EVAL", "redis.call('incr', 'n'); return redis.call('sort', KEYS[1], 'by', 'w_*')", "1", "l")
}
