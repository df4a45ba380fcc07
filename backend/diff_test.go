package backend

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardis/shardis/integration/harness"
)

// TestDifferential sends the same random command sequences (strings and
// keys, with errors, wrong arity, expiry options and float formatting) to
// shardis-server and to Debian's redis-server and compares the raw RESP
// replies byte for byte. Normalised, because legitimately nondeterministic:
//   - KEYS: the order of the elements (compared sorted);
//   - SCAN: cursors (a full iteration from 0 must give the same key set);
//   - RANDOMKEY: the key (must be nil on both, or a key of both);
//   - TTL/PTTL/EXPIRETIME/PEXPIRETIME after a relative expiry: the two
//     servers received the command a few microseconds apart, so ±1 s/±100
//     ms is accepted.
func TestDifferential(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
			d.same("FLUSHALL")
			g := newCmdGen(seed)
			for i := 0; i < 4000 && !t.Failed(); i++ {
				d.check(g.next())
			}
		})
	}
}

// TestDifferentialFloats compares INCRBYFLOAT over values and increments
// that exercise long double rounding and Redis' "%.17Lf" formatting.
func TestDifferentialFloats(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	vals := []string{"0", "10.5", "0.1", "-0", "3.0e0", "1e308", "1.5e+20", "5.0e3", ".5", "5.", "0x10", "0x1.8p3",
		"inf", "-inf", "nan", " 1", "1 ", "abc", "", "1e-4950", "1e-5000", "1e5000", "123456789012345678901234567890",
		"-1.1", "2.5e-3", "1e-20", "3.14159265358979323846264338327950288", "9007199254740993", "1e4931", "-9223372036854775808",
		"0.30000000000000004", "17", "1_000", "+5", "++5", "1e", "1e+", ".", "-.5e-2", "INFINITY", "0X1p-3", "1.0000000000000000001"}
	incrs := []string{"0.1", "-0.1", "1", "1e308", "-1e308", "0.2", "3.3", "1e-10", "-5.5", "inf", "abc", "1e4930", "7e-3", "0x1p-2", "100"}
	for _, v := range vals {
		for _, inc := range incrs {
			d.same("SET", "f", v)
			d.same("INCRBYFLOAT", "f", inc)
			d.same("GET", "f")
			d.same("INCRBYFLOAT", "f", inc)
			d.same("INCRBYFLOAT", "g", v)
			d.same("DEL", "g")
		}
	}
}

type differ struct {
	t        testing.TB
	ref, got *rawConn
	n        int
}

// same requires identical raw replies.
func (d *differ) same(args ...string) {
	d.t.Helper()
	a, b := d.ref.do(args...), d.got.do(args...)
	if a != b {
		d.t.Fatalf("command %q:\n redis:    %q\n shardis:  %q", args, a, b)
	}
}

func (d *differ) check(args []string) {
	d.t.Helper()
	d.n++
	name := strings.ToLower(args[0])
	a, b := d.ref.do(args...), d.got.do(args...)
	if a == b {
		return
	}
	ok := false
	switch name {
	case "keys":
		ok = sortedReply(a) == sortedReply(b)
	case "randomkey":
		ok = (a == "$-1\r\n") == (b == "$-1\r\n")
	case "ttl", "expiretime":
		ok = closeInts(a, b, 1)
	case "pttl", "pexpiretime":
		ok = closeInts(a, b, 100)
	case "scan":
		ok = strings.HasPrefix(a, "*2\r\n") && strings.HasPrefix(b, "*2\r\n")
	}
	if !ok {
		d.t.Fatalf("command #%d %q:\n redis:    %q\n shardis:  %q", d.n, args, a, b)
	}
	if name == "scan" {
		d.fullScan(args[2:])
	}
}

// fullScan compares the key sets of complete SCAN iterations.
func (d *differ) fullScan(opts []string) {
	d.t.Helper()
	collect := func(r *rawConn) []string {
		cursor := "0"
		var keys []string
		for i := 0; i < 100000; i++ {
			v := parseRESP(r.do(append([]string{"SCAN", cursor}, opts...)...))
			if len(v.arr) != 2 {
				return []string{"error: " + v.s}
			}
			cursor = v.arr[0].s
			for _, k := range v.arr[1].arr {
				keys = append(keys, k.s)
			}
			if cursor == "0" {
				break
			}
		}
		sort.Strings(keys)
		return keys
	}
	a, b := collect(d.ref), collect(d.got)
	if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
		d.t.Fatalf("SCAN 0 %q full iteration:\n redis:   %.300q\n shardis: %.300q", opts, a, b)
	}
}

type respVal struct {
	kind byte
	s    string
	arr  []respVal
	null bool
}

func parseRESP(raw string) respVal {
	v, _ := parseRESPAt(bufio.NewReader(strings.NewReader(raw)))
	return v
}

func parseRESPAt(br *bufio.Reader) (respVal, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return respVal{}, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	v := respVal{kind: line[0]}
	switch line[0] {
	case '+', '-', ':':
		v.s = line[1:]
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			v.null = true
			return v, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return v, err
		}
		v.s = string(buf[:n])
	case '*':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			v.null = true
			return v, nil
		}
		for i := 0; i < n; i++ {
			sub, err := parseRESPAt(br)
			if err != nil {
				return v, err
			}
			v.arr = append(v.arr, sub)
		}
	}
	return v, nil
}

func sortedReply(raw string) string {
	v := parseRESP(raw)
	var s []string
	for _, e := range v.arr {
		s = append(s, e.s)
	}
	sort.Strings(s)
	return string(v.kind) + strings.Join(s, "\x00")
}

func closeInts(a, b string, tol int64) bool {
	va, vb := parseRESP(a), parseRESP(b)
	if va.kind != ':' || vb.kind != ':' {
		return false
	}
	x, _ := strconv.ParseInt(va.s, 10, 64)
	y, _ := strconv.ParseInt(vb.s, 10, 64)
	if x < 0 || y < 0 {
		return x == y
	}
	d := x - y
	return d <= tol && d >= -tol
}

// cmdGen produces random string/key commands, including malformed ones.
type cmdGen struct {
	r    *rand.Rand
	base int64 // a fixed "now" in ms for absolute expiries
}

func newCmdGen(seed uint64) *cmdGen {
	return &cmdGen{r: rand.New(rand.NewPCG(seed, seed*7919)), base: time.Now().UnixMilli()}
}

func (g *cmdGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g *cmdGen) key() string { return g.pick("k0", "k1", "k2", "k3", "k4", "{k}5", "k:6", "K7", "") }

func (g *cmdGen) val() string {
	return g.pick("v", "10", "-5", "0", "9223372036854775807", "-9223372036854775808", "abc", "", "3.5",
		"1e3", "hello world", "007", "+1", " 1", "12345678901234567890", "x\r\ny", "\x00\xff", "-0", "1.5e+20")
}

func (g *cmdGen) intArg() string {
	return g.pick("0", "1", "-1", "5", "100", "-100", "abc", "9223372036854775807", "-9223372036854775808", "3.5", "", "2", "10")
}

// ttlSecs are relative expiries that cannot elapse during a test run, or
// invalid ones.
func (g *cmdGen) ttlSecs() string {
	return g.pick("1000", "2000", "0", "-1", "abc", "9223372036854775807", "100000", "3.5", "")
}

func (g *cmdGen) absSecs() string {
	return g.pick(strconv.FormatInt(g.base/1000+5000, 10), strconv.FormatInt(g.base/1000-5000, 10), "1", "0", "-5", "abc")
}

func (g *cmdGen) absMs() string {
	return g.pick(strconv.FormatInt(g.base+5000000, 10), strconv.FormatInt(g.base-5000, 10), "1", "0", "abc")
}

func (g *cmdGen) setOpts() []string {
	var o []string
	for i := g.r.IntN(4); i > 0; i-- {
		switch g.r.IntN(10) {
		case 0:
			o = append(o, g.pick("NX", "nx"))
		case 1:
			o = append(o, g.pick("XX", "xX"))
		case 2:
			o = append(o, g.pick("GET", "get"))
		case 3:
			o = append(o, "KEEPTTL")
		case 4:
			o = append(o, "EX", g.ttlSecs())
		case 5:
			o = append(o, "PX", g.pick("1000000", "0", "-3", "abc"))
		case 6:
			// SET never gets a past time: the key would stay in memory,
			// logically expired, until each server's active expiry cycle
			// reclaims it, making DBSIZE timing-dependent.
			o = append(o, "EXAT", g.pick(strconv.FormatInt(g.base/1000+5000, 10), "0", "-5", "abc"))
		case 7:
			o = append(o, "PXAT", g.pick(strconv.FormatInt(g.base+5000000, 10), "0", "abc"))
		case 8:
			o = append(o, g.pick("EX", "PERSIST", "FOO"))
		case 9:
			o = append(o, "PERSIST")
		}
	}
	return o
}

func (g *cmdGen) keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = g.key()
	}
	return out
}

func (g *cmdGen) next() []string {
	r := g.r
	var c []string
	switch r.IntN(44) {
	case 0, 1:
		c = []string{"GET", g.key()}
	case 2, 3, 4:
		c = append([]string{"SET", g.key(), g.val()}, g.setOpts()...)
	case 5:
		c = []string{"SETNX", g.key(), g.val()}
	case 6:
		c = []string{"SETEX", g.key(), g.ttlSecs(), g.val()}
	case 7:
		c = []string{"PSETEX", g.key(), g.pick("1000000", "0", "-1", "x"), g.val()}
	case 8:
		c = []string{"GETSET", g.key(), g.val()}
	case 9:
		c = []string{"GETDEL", g.key()}
	case 10:
		c = append([]string{"GETEX", g.key()}, g.setOpts()...)
	case 11:
		c = append([]string{"MGET"}, g.keys(1+r.IntN(4))...)
	case 12:
		c = []string{g.pick("MSET", "MSETNX")}
		for i := r.IntN(3) + 1; i > 0; i-- {
			c = append(c, g.key(), g.val())
		}
		if r.IntN(6) == 0 {
			c = c[:len(c)-1]
		}
	case 13, 14:
		c = []string{g.pick("INCR", "DECR"), g.key()}
	case 15:
		c = []string{g.pick("INCRBY", "DECRBY"), g.key(), g.intArg()}
	case 16:
		c = []string{"INCRBYFLOAT", g.key(), g.pick("0.1", "-1.5", "1e3", "abc", "3", "1e308", "0x10", "inf", "2.5e-3")}
	case 17:
		c = []string{"APPEND", g.key(), g.val()}
	case 18:
		c = []string{"STRLEN", g.key()}
	case 19:
		c = []string{g.pick("GETRANGE", "SUBSTR"), g.key(), g.intArg(), g.intArg()}
	case 20:
		c = []string{"SETRANGE", g.key(), g.pick("0", "1", "3", "-1", "abc", "20", "536870912"), g.val()}
	case 21:
		c = append([]string{g.pick("DEL", "UNLINK")}, g.keys(1+r.IntN(3))...)
	case 22:
		c = append([]string{g.pick("EXISTS", "TOUCH")}, g.keys(1+r.IntN(3))...)
	case 23:
		c = []string{"TYPE", g.key()}
	case 24, 25:
		c = []string{g.pick("EXPIRE", "PEXPIRE"), g.key(), g.pick("1000000", "2000000", "0", "-1", "abc", "9223372036854775807", "-9223372036854775808")}
		c = append(c, g.expireFlags()...)
	case 26:
		c = []string{"EXPIREAT", g.key(), g.absSecs()}
		c = append(c, g.expireFlags()...)
	case 27:
		c = []string{"PEXPIREAT", g.key(), g.absMs()}
		c = append(c, g.expireFlags()...)
	case 28, 29:
		c = []string{g.pick("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"), g.key()}
	case 30:
		c = []string{"PERSIST", g.key()}
	case 31:
		c = []string{g.pick("RENAME", "RENAMENX"), g.key(), g.key()}
	case 32:
		c = []string{"DBSIZE"}
	case 33:
		c = []string{"KEYS", g.pick("*", "k*", "k?", "*[0-3]", "{*", "K*", "[^k]*", "k\\:6", "*:*")}
	case 34:
		c = []string{"SCAN", "0"}
		if r.IntN(2) == 0 {
			c = append(c, "MATCH", g.pick("k*", "*", "{*"))
		}
		if r.IntN(2) == 0 {
			c = append(c, "COUNT", g.pick("1", "2", "100"))
		}
		if r.IntN(4) == 0 {
			c = append(c, "TYPE", g.pick("string", "STRING", "list"))
		}
	case 35:
		c = []string{"RANDOMKEY"}
	case 36:
		if r.IntN(10) == 0 {
			c = []string{g.pick("FLUSHDB", "FLUSHALL")}
		} else {
			c = []string{"EXISTS", g.key()}
		}
	case 37:
		c = []string{g.pick("PING", "ECHO"), g.val()}
	case 38:
		// Unknown commands and subcommands.
		c = []string{g.pick("FOO", "getx", "CONFIG", "CLIENT", "OBJECT"), g.pick("bar", "x y"), g.val()}
	case 39, 40:
		// Wrong arity: a valid command with arguments dropped or added.
		base := g.next()
		if r.IntN(2) == 0 && len(base) > 1 {
			c = base[:r.IntN(len(base))]
			if len(c) == 0 {
				c = base[:1]
			}
		} else {
			c = append(base, g.val(), g.val())
		}
	case 41:
		// Mixed case names.
		base := g.next()
		base[0] = strings.ToUpper(base[0][:1]) + strings.ToLower(base[0][1:])
		c = base
	case 42:
		c = []string{"SCAN", g.pick("abc", "-1", "+0", "", " 1", "18446744073709551616"), "COUNT", g.pick("0", "-1", "x", "5")}
		return c
	case 43:
		c = []string{"SET", g.key(), g.val(), "EX", g.pick("1000", "2000"), g.pick("PX", "EXAT", "KEEPTTL", "EX"), "1000"}
	}
	return c
}

func (g *cmdGen) expireFlags() []string {
	if g.r.IntN(3) != 0 {
		return nil
	}
	var f []string
	for i := 1 + g.r.IntN(2); i > 0; i-- {
		f = append(f, g.pick("NX", "XX", "GT", "LT", "nx", "FOO"))
	}
	return f
}
