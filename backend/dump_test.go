package backend

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/integration/harness"
)

// TestDumpRestoreCrossServer: values of every type and encoding move
// from redis-server to shardis-server and back with DUMP/RESTORE; content,
// type and OBJECT ENCODING match (Redis writes listpacks, intsets,
// quicklists and LZF-compressed strings; shardis the plain RDB types).
func TestDumpRestoreCrossServer(t *testing.T) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	ctx := context.Background()
	ref, got := client(t, rd.Addr), client(t, sh.addr())
	for _, c := range []*redis.Client{ref, got} {
		populateDumpKeys(t, c)
	}
	refKeys := dumpAll(t, ref)
	if len(refKeys) < 15 {
		t.Fatalf("only %d keys", len(refKeys))
	}
	// Redis → shardis.
	for k := range refKeys {
		p, err := ref.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := got.RestoreReplace(ctx, "from-redis:"+k, 0, p).Err(); err != nil {
			t.Fatalf("RESTORE of redis-server's %s: %v", k, err)
		}
		sameKey(t, ref, k, got, "from-redis:"+k)
	}
	// shardis → Redis.
	for k := range refKeys {
		p, err := got.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.RestoreReplace(ctx, "from-shardis:"+k, 0, p).Err(); err != nil {
			t.Fatalf("redis-server RESTORE of shardis' %s: %v", k, err)
		}
		sameKey(t, got, k, ref, "from-shardis:"+k)
	}
}

func sameKey(t *testing.T, a *redis.Client, ka string, b *redis.Client, kb string) {
	t.Helper()
	ctx := context.Background()
	va, vb := dumpOne(t, a, ka), dumpOne(t, b, kb)
	if va != vb {
		t.Fatalf("%s / %s differ:\n %.300s\n %.300s", ka, kb, va, vb)
	}
	ea, eb := a.ObjectEncoding(ctx, ka).Val(), b.ObjectEncoding(ctx, kb).Val()
	if ea != eb && !(ea == "embstr" && eb == "raw") && !(ea == "raw" && eb == "embstr") {
		t.Fatalf("%s encoding %s, %s encoding %s", ka, ea, kb, eb)
	}
}

func dumpOne(t *testing.T, c *redis.Client, k string) string {
	t.Helper()
	m := dumpAll(t, c)
	v, ok := m[k]
	if !ok {
		t.Fatalf("key %s missing", k)
	}
	return v[strings.IndexByte(v, '|'):]
}

func populateDumpKeys(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx := context.Background()
	do := func(args ...any) {
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	do("SET", "s:int", "12345")
	do("SET", "s:neg", "-9223372036854775808")
	do("SET", "s:short", "hello")
	do("SET", "s:long", strings.Repeat("abcdefgh", 200)) // LZF-compressed by Redis
	do("SET", "s:bin", "\x00\xff\r\n")
	do("RPUSH", "l:small", "a", "1", "-300", "70000", "-5000000000", strings.Repeat("x", 100))
	args := []any{"RPUSH", "l:big"}
	for i := 0; i < 5000; i++ {
		args = append(args, "elem"+strconv.Itoa(i%300), i)
	}
	do(args...)
	do("RPUSH", "l:huge-elem", strings.Repeat("q", 10000), "y") // plain quicklist node
	do("SADD", "set:int", 1, 2, 3, -70000, 5000000000)
	do("SADD", "set:str", "a", "b", "c")
	args = []any{"SADD", "set:big"}
	for i := 0; i < 1000; i++ {
		args = append(args, i)
	}
	do(args...)
	do("HSET", "h:small", "a", "1", "b", "two", "n", "-12")
	args = []any{"HSET", "h:big"}
	for i := 0; i < 600; i++ {
		args = append(args, "f"+strconv.Itoa(i), strings.Repeat("v", i%80))
	}
	do(args...)
	do("ZADD", "z:small", 1, "a", 2.5, "b", "-inf", "c", "inf", "d", 1e300, "e", 0.1, "f", 12345, "g")
	args = []any{"ZADD", "z:big"}
	for i := 0; i < 300; i++ {
		args = append(args, float64(i)/7, "m"+strconv.Itoa(i))
	}
	do(args...)
	do("ZADD", "z:longmember", 1, strings.Repeat("m", 100))
}

// TestRestoreSemantics: options, errors and the write stream.
func TestRestoreSemantics(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, aofConfig(dir))
	c := client(t, s.addr())
	ctx := context.Background()
	c.RPush(ctx, "src", "a", "b")
	c.PExpire(ctx, "src", time.Hour)
	p := c.Dump(ctx, "src").Val()
	r := dialRaw(t, s.addr())
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"RESTORE", "src", "0", p}, "-BUSYKEY Target key name already exists.\r\n"},
		{[]string{"RESTORE", "dst", "-1", p}, "-ERR Invalid TTL value, must be >= 0\r\n"},
		{[]string{"RESTORE", "dst", "x", p}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"RESTORE", "dst", "0", p[:len(p)-1] + "x"}, "-ERR DUMP payload version or checksum are wrong\r\n"},
		{[]string{"RESTORE", "dst", "0", "\x00"}, "-ERR DUMP payload version or checksum are wrong\r\n"},
		{[]string{"RESTORE", "dst", "0", p, "FOO"}, "-ERR syntax error\r\n"},
		{[]string{"RESTORE", "dst", "0", p, "IDLETIME", "-1"}, "-ERR Invalid IDLETIME value, must be >= 0\r\n"},
		{[]string{"RESTORE", "dst", "0", p, "FREQ", "256"}, "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n"},
		{[]string{"RESTORE", "dst", "0", p, "IDLETIME", "10", "FREQ", "5"}, "-ERR syntax error\r\n"}, // exclusive, as Redis
		{[]string{"RESTORE", "dst", "0", p, "FREQ", "5", "IDLETIME", "10"}, "-ERR syntax error\r\n"},
		{[]string{"RESTORE", "dst", "0", p, "IDLETIME", "10"}, "+OK\r\n"},
		{[]string{"LRANGE", "dst", "0", "-1"}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{[]string{"TTL", "dst"}, ":-1\r\n"},
		{[]string{"RESTORE", "dst", "5000", p, "REPLACE"}, "+OK\r\n"},
		{[]string{"TTL", "dst"}, ":5\r\n"},
		{[]string{"RESTORE", "dst", "1000", p, "REPLACE", "ABSTTL"}, "+OK\r\n"},
		{[]string{"EXISTS", "dst"}, ":0\r\n"},
		{[]string{"DUMP", "nokey"}, "$-1\r\n"},
	}
	for _, st := range steps {
		if got := r.do(st.args...); got != st.want {
			t.Fatalf("%.60q: %q, want %q", st.args, got, st.want)
		}
	}
	at := time.Now().Add(time.Hour).UnixMilli()
	r.do("RESTORE", "kept", strconv.FormatInt(at, 10), p, "ABSTTL")
	// Damaged payloads with a valid footer are refused, never crash.
	body := []byte(p[:len(p)-10])
	for i := range body {
		for _, delta := range []byte{1, 0x40, 0x80} {
			bad := append([]byte(nil), body...)
			bad[i] += delta
			bad = binary.LittleEndian.AppendUint16(bad, rdbVersion)
			bad = binary.LittleEndian.AppendUint64(bad, crc64Jones(0, bad))
			if v := r.do("RESTORE", "fuzz", "0", string(bad), "REPLACE"); v != "+OK\r\n" && v != "-ERR Bad data format\r\n" {
				t.Fatalf("damaged payload: %q", v)
			}
		}
	}
	// The AOF replays RESTOREs with their absolute expiry.
	s2 := startServer(t, func(c *Config) { c.Dir = dir; c.AppendOnly = true })
	c2 := client(t, s2.addr())
	if v := c2.Do(ctx, "PEXPIRETIME", "kept").Val(); v != at {
		t.Fatalf("restored key's expiry after reload: %v, want %d", v, at)
	}
	if v := c2.LRange(ctx, "kept", 0, -1).Val(); strings.Join(v, ",") != "a,b" {
		t.Fatalf("restored key after reload: %v", v)
	}
}

func TestCRC64Jones(t *testing.T) {
	if v := crc64Jones(0, []byte("123456789")); v != 0xe9c6d914c4b8d9ca {
		t.Fatalf("crc64 = %#x", v)
	}
}

// FuzzRestorePayload: any payload body decodes or fails cleanly.
func FuzzRestorePayload(f *testing.F) {
	seeds := []string{
		"\x00\x05hello", "\x00\xc0\x7b", "\x00\xc3\x05\x0a\x01ab\xe0\x04\x01",
		"\x01\x02\x01a\x01b", "\x02\x01\x01x", "\x04\x01\x01f\x01v",
		"\x05\x01\x01m\x00\x00\x00\x00\x00\x00\xf0\x3f",
		"\x0b\x10\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x02\x00",
		"\x10\x0d\x0d\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff",
		"\x12\x01\x02\x0b\x0b\x00\x00\x00\x01\x00\x81a\x02\xff",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	var lim typeLimits
	lim.store(DefaultConfig())
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodeValue(body, &lim)
	})
}
