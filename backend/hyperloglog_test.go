package backend

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// TestHLLDifferential sends the same random HyperLogLog sequences to
// shardis-server and to Debian's redis-server 7.0 and compares the raw
// replies byte for byte: PFADD of a few or hundreds of elements (crossing
// the sparse to dense promotion, also with other hll-sparse-max-bytes
// values), PFCOUNT of one key (cache refresh) and several, PFMERGE,
// PFDEBUG, wrong types, wrong arity, corrupted values (random SETRANGE and
// APPEND, crafted opcodes) and, after every write, GET of the raw value,
// which must be identical.
func TestHLLDifferential(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
			d.same("FLUSHALL")
			d.same("CONFIG", "SET", "hll-sparse-max-bytes", "3000")
			g := &hllGen{r: rand.New(rand.NewPCG(seed, seed*977)), ref: d.ref}
			var cmd []string
			defer func() {
				if t.Failed() {
					t.Logf("last command: %.300q", cmd)
				}
			}()
			seen := map[string]int{}
			for i := 0; i < 3000 && !t.Failed(); i++ {
				cmd = g.next()
				a, b := d.ref.do(cmd...), d.got.do(cmd...)
				if a != b {
					t.Fatalf("command #%d %.300q:\n redis:    %.300q\n shardis:  %.300q", i, cmd, a, b)
				}
				switch {
				case strings.HasPrefix(a, "-INVALIDOBJ"), strings.HasPrefix(a, "-WRONGTYPE Key is not"):
					seen[a[:10]]++
				case a == "+dense\r\n":
					seen["dense"]++
				case strings.HasPrefix(a, ":1\r\n") && strings.EqualFold(cmd[0], "pfadd"):
					seen["pfadd 1"]++
				}
				if len(cmd) > 1 && isHLLWrite(cmd[0]) {
					for _, k := range hllKeys {
						d.same("GET", k)
					}
				}
			}
			// The sequences must reach corrupt values, non-HLL strings,
			// dense values and updates.
			if len(seen) < 4 {
				t.Fatalf("sequences too tame: %v", seen)
			}
			t.Logf("%v", seen)
		})
	}
}

var hllKeys = []string{"h{t}0", "h{t}1", "h{t}2", "h{t}3", "s{t}", "l{t}"}

func isHLLWrite(name string) bool {
	switch strings.ToUpper(name) {
	case "PFADD", "PFCOUNT", "PFMERGE", "PFDEBUG", "SETRANGE", "APPEND", "SET":
		return true
	}
	return false
}

type hllGen struct {
	r   *rand.Rand
	ref *rawConn // to read a value's length for corruptions
	n   int      // element counter, for distinct elements
}

func (g *hllGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g *hllGen) key() string { return hllKeys[g.r.IntN(len(hllKeys))] }

func (g *hllGen) elements(n int) []string {
	out := make([]string, n)
	for i := range out {
		switch g.r.IntN(4) {
		case 0:
			out[i] = g.pick("a", "b", "c", "", "1", "x\r\ny", "\x00\xff", "hello world")
		default:
			g.n++
			out[i] = "e" + strconv.Itoa(g.n)
		}
	}
	return out
}

func (g *hllGen) next() []string {
	r := g.r
	switch r.IntN(30) {
	case 0, 1, 2, 3, 4, 5:
		return append([]string{"PFADD", g.key()}, g.elements(r.IntN(6))...)
	case 6, 7:
		n := 50 + r.IntN(400)
		if r.IntN(8) == 0 {
			n = 3000
		}
		return append([]string{"PFADD", g.key()}, g.elements(n)...)
	case 8, 9, 10, 11:
		return []string{"PFCOUNT", g.key()}
	case 12, 13:
		c := []string{"PFCOUNT"}
		for i := 1 + r.IntN(4); i > 0; i-- {
			c = append(c, g.key())
		}
		return c
	case 14, 15:
		c := []string{"PFMERGE", g.key()}
		for i := r.IntN(4); i > 0; i-- {
			c = append(c, g.key())
		}
		return c
	case 16:
		return []string{"PFDEBUG", g.pick("ENCODING", "decode", "TODENSE", "GETREG", "foo", "x\ny"), g.pick(g.key(), "missing")}
	case 17:
		return []string{"DEL", g.key()}
	case 18:
		return []string{"SET", g.pick("s{t}", g.key()), g.pick("bar", "HYLL", "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80")}
	case 19:
		return []string{"LPUSH", "l{t}", "x"}
	case 20:
		return g.corrupt()
	case 21:
		return []string{"PFDEBUG", "ENCODING", g.key()}
	case 22:
		return []string{"SET", g.key(), g.crafted()}
	case 23:
		return []string{"CONFIG", "SET", "hll-sparse-max-bytes", g.pick("3000", "3000", "100", "0", "20000", "1kb")}
	case 24:
		// Wrong arity.
		if r.IntN(3) == 0 {
			return []string{"PFSELFTEST", g.pick("", "x")}
		}
		return []string{g.pick("pfadd", "PFCOUNT", "PFMERGE", "PFDEBUG")}
	case 25:
		return []string{"PFDEBUG", "ENCODING"}
	case 26:
		return []string{"GETRANGE", g.key(), "0", "15"}
	case 27:
		return []string{"STRLEN", g.key()}
	case 28:
		return []string{"EXPIRE", g.key(), "1000"}
	default:
		return []string{"TTL", g.key()}
	}
}

// corrupt changes random bytes of an existing value (as the official
// fuzzing test does) or appends to it.
func (g *hllGen) corrupt() []string {
	k := hllKeys[g.r.IntN(4)]
	n, _ := strconv.Atoi(parseRESP(g.ref.do("STRLEN", k)).s)
	if n == 0 || g.r.IntN(5) == 0 {
		return []string{"APPEND", k, g.pick("hello", "\x7f", "\x80", "\x40")}
	}
	pos := g.r.IntN(n)
	if g.r.IntN(2) == 0 && n > 16 {
		pos = 16 + g.r.IntN(n-16) // the registers
	}
	return []string{"SETRANGE", k, strconv.Itoa(pos), string([]byte{byte(g.r.IntN(256))})}
}

// crafted returns a value made to hit an edge: sparse opcodes covering
// too few or too many registers, an XZERO cut after its first byte,
// a VAL run past the end, a dense value with huge registers (an infinite
// estimate), a wrong dense length.
func (g *hllGen) crafted() string {
	hdr := "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80"
	switch g.r.IntN(9) {
	case 0:
		return hdr + "\x7f\xfe" // 16383 registers
	case 1:
		return hdr + "\x7f\xff\x00" // 16385
	case 2:
		return hdr + "\x7f\xfc\x40" // XZERO cut: 16381 + 1 (terminator)
	case 3:
		return hdr + "\x7f\xfc\x83\x7f" // VAL run past... and a trailing ZERO
	case 4:
		return hdr + "\x7f\xfb\x8f\x00" // 16380 + 4 + 1
	case 5:
		d := []byte("HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80")
		regs := make([]byte, hllDenseSize-hllHdrSize)
		for i := 0; i < hllRegisters; i++ {
			denseSet(regs, i, uint8(52+g.r.IntN(12)))
		}
		return string(append(d, regs...))
	case 6:
		d := []byte("HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80")
		regs := make([]byte, hllDenseSize-hllHdrSize)
		for i := 0; i < hllRegisters; i++ {
			denseSet(regs, i, uint8(g.r.IntN(64)))
		}
		return string(append(d, regs...))
	case 7:
		return "HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + strings.Repeat("\x00", 100)
	default:
		return hdr + "\x00\x7f\xfe" + strings.Repeat("\x80", g.r.IntN(3))
	}
}

// TestHLLCountsMatchRedis: PFCOUNT equals redis-server's at every
// cardinality from 1 to 30000 in small steps (sparse, promotion, dense,
// the estimator's small and large ranges) and for unions.
func TestHLLCountsMatchRedis(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	n := 0
	for n < 30000 && !t.Failed() {
		step := 1 + n/50
		c := []string{"PFADD", "a{t}"}
		for i := 0; i < step; i++ {
			n++
			c = append(c, "m:"+strconv.Itoa(n))
		}
		d.same(c...)
		d.same("PFCOUNT", "a{t}")
		d.same("PFADD", "b{t}", "m:"+strconv.Itoa(n*3), strconv.Itoa(n))
		d.same("PFCOUNT", "a{t}", "b{t}")
	}
	d.same("PFMERGE", "c{t}", "a{t}", "b{t}")
	d.same("GET", "c{t}")
	d.same("PFCOUNT", "c{t}")
	d.same("GET", "a{t}")
}

// TestHLLValuesCrossServers: HLL values made by redis-server, copied with
// GET/SET or DUMP/RESTORE into shardis-server (and back), count the same
// and keep being updated identically.
func TestHLLValuesCrossServers(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	ctx := context.Background()
	ref, got := client(t, rd.Addr), client(t, sh.addr())
	for _, n := range []int{0, 1, 10, 200, 1000, 5000, 50000} {
		key := "x" + strconv.Itoa(n)
		els := make([]any, 0, n)
		for i := 0; i < n; i++ {
			els = append(els, "el"+strconv.Itoa(i))
		}
		if err := ref.PFAdd(ctx, key, els...).Err(); err != nil {
			t.Fatal(err)
		}
		raw := ref.Get(ctx, key).Val()
		if err := got.Set(ctx, key, raw, 0).Err(); err != nil {
			t.Fatal(err)
		}
		// From shardis-server to redis-server, with DUMP/RESTORE.
		dump, err := got.Dump(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.RestoreReplace(ctx, key+"b", 0, dump).Err(); err != nil {
			t.Fatal(err)
		}
		// From redis-server to shardis-server, with DUMP/RESTORE (LZF).
		rdump := ref.Dump(ctx, key).Val()
		if err := got.RestoreReplace(ctx, key+"c", 0, rdump).Err(); err != nil {
			t.Fatal(err)
		}
		if a, b := ref.Get(ctx, key+"b").Val(), got.Get(ctx, key+"c").Val(); a != raw || b != raw {
			t.Fatalf("n=%d: RESTOREd values differ from the original", n)
		}
		want := ref.PFCount(ctx, key).Val()
		for _, c := range []struct {
			rdb *redis.Client
			key string
		}{{got, key}, {ref, key + "b"}, {got, key + "c"}} {
			if have, err := c.rdb.PFCount(ctx, c.key).Result(); err != nil || have != want {
				t.Fatalf("n=%d %s: PFCOUNT %d %v, want %d", n, c.key, have, err, want)
			}
		}
		ref.PFAdd(ctx, key, "more", "and more")
		got.PFAdd(ctx, key, "more", "and more")
		ref.PFCount(ctx, key)
		got.PFCount(ctx, key)
		if a, b := ref.Get(ctx, key).Val(), got.Get(ctx, key).Val(); a != b {
			t.Fatalf("n=%d: values differ after PFADD/PFCOUNT (len %d, %d)", n, len(a), len(b))
		}
	}
}

// TestHLLProtocolDetails: errors, replies and flags that the random
// sequences may not reach.
func TestHLLProtocolDetails(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("CONFIG", "RESETSTAT")
	defer func() {
		// Read lookups count keyspace hits and misses, write lookups do
		// not: PFCOUNT and PFMERGE's sources read, PFADD, PFDEBUG and
		// PFMERGE's destination write.
		for _, f := range []string{"keyspace_hits", "keyspace_misses"} {
			a, b := infoField(parseRESP(d.ref.do("INFO", "stats")).s, f), infoField(parseRESP(d.got.do("INFO", "stats")).s, f)
			if a != b || a <= 0 {
				t.Errorf("%s: redis %d, shardis %d", f, a, b)
			}
		}
	}()
	d.same("PFADD", "h")
	d.same("GET", "h")
	d.same("PFDEBUG", "DECODE", "h")
	d.same("PFDEBUG", "GETREG", "h")
	d.same("PFDEBUG", "ENCODING", "h")
	d.same("PFADD", "h", "a", "b", "c")
	d.same("PFDEBUG", "DECODE", "h")
	d.same("PFCOUNT", "h")
	d.same("PFCOUNT", "h")
	d.same("PFDEBUG", "TODENSE", "h")
	d.same("PFDEBUG", "TODENSE", "h")
	d.same("PFDEBUG", "DECODE", "h")
	d.same("PFDEBUG", "nosuch", "h")
	d.same("PFDEBUG", "nosuch", "missing")
	d.same("PFDEBUG", "nosuch\r\nx", "h")
	d.same("PFMERGE", "dst")
	d.same("GET", "dst")
	d.same("PFCOUNT", "missing", "h")
	d.same("PFADD", "str", "x")
	d.same("SET", "str", "x")
	d.same("PFADD", "str", "x")
	d.same("PFCOUNT", "str", "h")
	d.same("PFMERGE", "h", "str")
	d.same("SET", "int", "12345")
	d.same("PFCOUNT", "int")
	d.same("RPUSH", "list", "x")
	d.same("PFCOUNT", "list")
	d.same("PFCOUNT", "h", "list")
	d.same("PFMERGE", "list", "h")
	d.same("PFDEBUG", "ENCODING", "list")
	d.same("PFSELFTEST", "x")
	d.same("PFDEBUG", "GETREG")
	for _, name := range []string{"pfadd", "pfcount", "pfmerge", "pfdebug", "pfselftest"} {
		a, b := parseRESP(d.ref.do("COMMAND", "INFO", name)), parseRESP(d.got.do("COMMAND", "INFO", name))
		if len(a.arr) != 1 || len(b.arr) != 1 || len(b.arr[0].arr) < 7 {
			t.Fatalf("COMMAND INFO %s: %#v", name, b)
		}
		ra, rb := a.arr[0].arr, b.arr[0].arr
		for i := 0; i < 6; i++ { // name, arity, flags, first, last, step
			if fmt.Sprint(ra[i]) != fmt.Sprint(rb[i]) {
				t.Errorf("COMMAND INFO %s field %d: redis %v, shardis %v", name, i, ra[i], rb[i])
			}
		}
		if sortedReply(encodeArr(ra[6])) != sortedReply(encodeArr(rb[6])) {
			t.Errorf("COMMAND INFO %s ACL categories: redis %v, shardis %v", name, ra[6], rb[6])
		}
	}
	// A corrupt dense value whose registers are all above 51: the
	// estimate is infinite, llroundl gives LLONG_MIN on x86-64.
	regs := make([]byte, hllDenseSize-hllHdrSize)
	for i := 0; i < hllRegisters; i++ {
		denseSet(regs, i, 60)
	}
	d.same("SET", "inf", "HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80"+string(regs))
	if a, b := d.ref.do("PFCOUNT", "inf", "missing"), d.got.do("PFCOUNT", "inf", "missing"); a != ":-9223372036854775808\r\n" || b != a {
		t.Fatalf("PFCOUNT of the infinite estimate: redis %q, shardis %q", a, b)
	}
	d.same("PFCOUNT", "inf")
	d.same("GET", "inf")
	// WATCH: a PFCOUNT that refreshes the cache modifies the key (Redis
	// signals it), a PFADD that changes no register or a cached PFCOUNT
	// does not.
	w := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	for _, touch := range [][]string{{"PFCOUNT", "wk"}, {"PFADD", "wk", "a"}, {"PFADD", "wk", "zz"}, {"PFMERGE", "wk"}} {
		d.same("DEL", "wk")
		d.same("PFADD", "wk", "a", "b")
		if touch[0] != "PFCOUNT" {
			d.same("PFCOUNT", "wk")
		}
		w.same("WATCH", "wk")
		d.same(touch...)
		w.same("MULTI")
		w.same("GET", "wk")
		w.same("EXEC")
	}
	d.same("CONFIG", "GET", "hll-sparse-max-bytes")
	d.same("CONFIG", "SET", "hll-sparse-max-bytes", "-1")
	d.same("CONFIG", "SET", "hll-sparse-max-bytes", "2kb")
	d.same("CONFIG", "GET", "hll-sparse-max-bytes")
}

// encodeArr re-encodes a parsed array of simple strings for sortedReply.
func encodeArr(v respVal) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(v.arr))
	for _, e := range v.arr {
		fmt.Fprintf(&b, "+%s\r\n", e.s)
	}
	return b.String()
}

// TestHLLSelfTest runs PFSELFTEST (the register accessors, dense/sparse
// agreement and the estimator's error up to 10 million elements).
func TestHLLSelfTest(t *testing.T) {
	if msg := hllSelfTest(3000); msg != "" {
		t.Fatal(msg)
	}
}

// TestHLLSparseSetMatchesDense: for random register updates, the sparse
// representation (kept sparse with a huge hll-sparse-max-bytes) decodes
// to the same registers as a dense one, and its opcodes stay canonical
// enough to cover exactly 16384 registers.
func TestHLLSparseSetMatchesDense(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for round := 0; round < 200; round++ {
		sp := newHLLBuf(hllEmpty)
		dense, _ := sparseToDense(hllEmpty, len(hllEmpty))
		for i := r.IntN(2000); i > 0; i-- {
			idx, cnt := r.IntN(hllRegisters), uint8(1+r.IntN(32))
			if round%3 == 0 {
				idx = r.IntN(40) // crowded: VAL merges
			}
			a := sp.set(idx, cnt, 1<<30)
			b := 0
			if denseSetMax(dense[hllHdrSize:], idx, cnt) {
				b = 1
			}
			if a != b {
				t.Fatalf("round %d set(%d,%d): sparse %d dense %d", round, idx, cnt, a, b)
			}
		}
		if sp.s[4] != hllSparse {
			t.Fatal("promoted despite the limit")
		}
		got, ok := sparseToDense(sp.s, len(sp.s))
		if !ok || string(got[hllHdrSize:]) != string(dense[hllHdrSize:]) {
			t.Fatalf("round %d: sparse decodes to other registers (ok=%v)", round, ok)
		}
		c1, ok1 := hllCount(bstr(sp.s))
		c2, _ := hllCount(bstr(dense))
		if !ok1 || c1 != c2 {
			t.Fatalf("round %d: counts %d %d", round, c1, c2)
		}
	}
}

// TestHLLWriteStream: HLL writes (PFCOUNT's cache refresh, PFDEBUG's
// conversion, MULTI, a TTL included) reach a replica byte for byte and
// survive kill -9 and restart (AOF reload), then an AOF rewrite, kill -9
// and restart.
func TestHLLWriteStream(t *testing.T) {
	p := harness.StartShardisServer(t, "", "--appendonly", "yes", "--appendfsync", "always")
	rdb := client(t, p.Addr)
	rep := startReplica(t, p.Addr, nil)
	rrdb := client(t, rep.addr())
	ctx := context.Background()
	hllWorkload(t, rdb)
	before := hllValues(t, rdb)
	if len(before) < 10 {
		t.Fatalf("only %d keys", len(before))
	}
	waitSynced(t, rdb, rrdb)
	compareHLLValues(t, "replica", before, hllValues(t, rrdb))

	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	rdb = client(t, p.Addr)
	compareHLLValues(t, "after kill -9", before, hllValues(t, rdb))

	if err := rdb.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	awaitRewrites(t, rdb, 1)
	rdb.PFAdd(ctx, "after", "x", "y")
	rdb.PFCount(ctx, "after")
	before = hllValues(t, rdb)
	p.Kill()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	compareHLLValues(t, "after rewrite and kill -9", before, hllValues(t, client(t, p.Addr)))
}

func compareHLLValues(t *testing.T, when string, want, got map[string]string) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d keys, want %d", when, len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: key %q differs (len %d, want %d)", when, k, len(got[k]), len(v))
		}
	}
}

// hllWorkload writes HLLs through every writing path.
func hllWorkload(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	do := func(args ...any) {
		if err := rdb.Do(ctx, args...).Err(); err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for k := 0; k < 4; k++ {
		key := "hll" + strconv.Itoa(k)
		for i := 0; i < 20*(k*k*k+1); i++ {
			args := []any{"PFADD", key}
			for j := 0; j < 10; j++ {
				args = append(args, fmt.Sprintf("%d-%d-%d", k, i, j))
			}
			do(args...)
			if i%7 == 0 {
				do("PFCOUNT", key)
			}
		}
	}
	do("PFCOUNT", "hll0", "hll1", "hll2")
	do("PFMERGE", "merged", "hll0", "hll1")
	do("PFMERGE", "merged2", "hll3", "hll2")
	do("PFCOUNT", "merged")
	do("PFADD", "todense", "a", "b")
	do("PFDEBUG", "TODENSE", "todense")
	do("PFADD", "getreg", "a")
	do("PFCOUNT", "getreg")
	do("PFDEBUG", "GETREG", "getreg")
	do("PFADD", "ttl", "a")
	do("PEXPIRE", "ttl", 3600000)
	do("PFADD", "ttl", "b")
	do("PFCOUNT", "ttl")
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.PFAdd(ctx, "multi", "a", "b")
		p.PFCount(ctx, "multi")
		p.PFMerge(ctx, "multi", "hll1")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// hllValues reads every key's raw value and expiry.
func hllValues(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, k := range rdb.Keys(ctx, "*").Val() {
		v, err := rdb.Get(ctx, k).Result()
		if err != nil {
			t.Fatalf("GET %s: %v", k, err)
		}
		exp := rdb.PExpireTime(ctx, k).Val()
		out[k] = v + "|" + strconv.FormatInt(int64(exp), 10)
	}
	return out
}

// FuzzHLLValue stores arbitrary bytes as an HLL value and runs every HLL
// reader and writer on it: the decoders directly (cross-checked) and the
// commands through the command table (PFCOUNT, PFADD, PFMERGE, PFDEBUG)
// of an in-process server. No panic, no hang, no read out of bounds; the
// decoders agree on whether a value is corrupt, and the commands reply
// with a count or an error.
func FuzzHLLValue(f *testing.F) {
	g := &hllGen{r: rand.New(rand.NewPCG(1, 2))}
	for i := 0; i < 20; i++ {
		f.Add([]byte(g.crafted()), []byte("a"))
	}
	f.Add([]byte(hllEmpty), []byte("x"))
	f.Add([]byte("HYLL"), []byte(""))
	f.Add([]byte("HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x40"), []byte("e"))
	b := newHLLBuf(hllEmpty)
	for i := 0; i < 300; i++ {
		b.add([]byte(strconv.Itoa(i)), 3000)
		if i%50 == 0 {
			f.Add(append([]byte(nil), b.s...), []byte(strconv.Itoa(i*7)))
		}
	}
	cfg := DefaultConfig()
	cfg.Dir = f.TempDir()
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	s.logH.setWriter(io.Discard)
	var out bytes.Buffer
	c := s.newInternalClient()
	c.internal = false // emit the write stream too
	c.w = newReplyWriter(&out)
	do := func(args ...string) string {
		out.Reset()
		bargs := make([][]byte, len(args))
		for i, a := range args {
			bargs[i] = []byte(a)
		}
		c.startBatch()
		s.dispatch(c, bargs)
		_ = c.w.Flush()
		return out.String()
	}
	f.Fuzz(func(t *testing.T, val, ele []byte) {
		valid := checkHLLDecoders(t, val, ele)
		key := "fuzz:hll"
		do("SET", key, string(val))
		if r := do("PFCOUNT", key); !strings.HasPrefix(r, ":") && (valid || !strings.HasPrefix(r, "-")) {
			t.Fatalf("PFCOUNT of %.80q (%d bytes): %q", val, len(val), r)
		}
		do("PFCOUNT", key, "fuzz:other")
		do("PFDEBUG", "DECODE", key)
		do("PFADD", key, string(ele), "b", "c")
		do("PFMERGE", "fuzz:other", key)
		do("PFDEBUG", "GETREG", key)
		do("SET", key, string(val))
		do("PFDEBUG", "TODENSE", key)
		do("DEL", "fuzz:other")
	})
}

// checkHLLDecoders runs the in-process readers and writers on val and
// checks that they agree on whether a sparse value is corrupt.
func checkHLLDecoders(t *testing.T, val, ele []byte) bool {
	v := string(val)
	if !hllValid(v) {
		return false
	}
	_, okCount := hllCount(v)
	var max [hllRegisters]uint8
	okMerge := hllMergeInto(&max, v)
	dense, okDense := sparseToDense(v, len(v))
	if v[4] == hllDense {
		okDense = true
		dense = val
	}
	if okCount != okMerge || okMerge != okDense {
		t.Fatalf("decoders disagree on %q: count %v merge %v todense %v", v, okCount, okMerge, okDense)
	}
	if v[4] == hllSparse {
		hllDecode(v)
	}
	if okDense {
		c1, _ := hllCount(v)
		c2, _ := hllCount(bstr(dense))
		if c1 != c2 || hllCountRaw(&max) != c1 {
			t.Fatalf("counts disagree on %q: %d %d %d", v, c1, c2, hllCountRaw(&max))
		}
	}
	b := newHLLBuf(v)
	for i := 0; i < 3; i++ {
		res := b.add(append(append([]byte(nil), ele...), byte(i)), int64(1+len(ele)*100))
		if res == -1 {
			break
		}
		if okDense && !hllValid(bstr(b.s)) {
			t.Fatalf("a valid value became invalid after an add: %q", b.s)
		}
	}
	return okDense
}
