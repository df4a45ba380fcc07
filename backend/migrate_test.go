package backend

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/hashring"
)

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// TestMigrateKey: a key moves with its value, type and expiry; the source
// no longer has it; an absent key answers NOKEY; a key the target already
// holds is dropped here (the target wins); errors name the target.
func TestMigrateKey(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	a, b := client(t, src.addr()), client(t, dst.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	a.Set(ctx, "s", "v1", 0)
	a.Set(ctx, "t", "v2", 0)
	a.PExpireAt(ctx, "t", exp)
	a.HSet(ctx, "h", "f1", "x", "f2", "y")
	a.ZAdd(ctx, "z", redis.Z{Score: 1.5, Member: "m"})
	for _, k := range []string{"s", "t", "h", "z"} {
		r, err := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, k, 1000).Text()
		if err != nil || r != "OK" {
			t.Fatalf("migrate %s: %q %v", k, r, err)
		}
		if n := a.Exists(ctx, k).Val(); n != 0 {
			t.Fatalf("%s still on the source", k)
		}
	}
	if v := b.Get(ctx, "s").Val(); v != "v1" {
		t.Fatalf("s = %q", v)
	}
	if at := b.PExpireTime(ctx, "t").Val(); at != time.Duration(exp.UnixMilli())*time.Millisecond {
		t.Fatalf("t expires at %v, want %v", at, exp.UnixMilli())
	}
	if m := b.HGetAll(ctx, "h").Val(); m["f1"] != "x" || m["f2"] != "y" {
		t.Fatalf("h = %v", m)
	}
	if sc := b.ZScore(ctx, "z", "m").Val(); sc != 1.5 {
		t.Fatalf("z score %v", sc)
	}
	if r, _ := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "absent", 1000).Text(); r != "NOKEY" {
		t.Fatalf("absent key: %q", r)
	}
	// Target wins.
	b.Set(ctx, "both", "new", 0)
	a.Set(ctx, "both", "stale", 0)
	if r, err := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "both", 1000).Text(); r != "OK" {
		t.Fatalf("both: %q %v", r, err)
	}
	if v := b.Get(ctx, "both").Val(); v != "new" || a.Exists(ctx, "both").Val() != 0 {
		t.Fatalf("both: target %q, source exists %d", v, a.Exists(ctx, "both").Val())
	}
	// Errors.
	a.Set(ctx, "k", "v", 0)
	err := a.Do(ctx, "SHARDIS.MIGRATEKEY", "127.0.0.1", 1, "k", 200).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "IOERR") {
		t.Fatalf("dead target: %v", err)
	}
	if a.Get(ctx, "k").Val() != "v" {
		t.Fatal("key lost after a failed migration")
	}
	if err := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, "x", "k", 200).Err(); err == nil || err.Error() != "ERR Invalid port" {
		t.Fatalf("bad port: %v", err)
	}
}

// TestMigrateAuth: a target with requirepass is reached with AUTH.
func TestMigrateAuth(t *testing.T) {
	src := startServer(t, nil)
	dst := startServer(t, func(c *Config) { c.RequirePass = "pw" })
	a := client(t, src.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	a.Set(ctx, "k", "v", 0)
	a.Set(ctx, "k2", "v", 0)
	if err := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "k", 1000).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("without AUTH: %v", err)
	}
	if r, err := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "k", 1000, "AUTH", "pw").Text(); err != nil || r != "OK" {
		t.Fatalf("with AUTH: %q %v", r, err)
	}
	if r, err := a.Do(ctx, "SHARDIS.MIGRATESLOTS", h, p, 1000, 0, 10, "SLOTS", 1, "RANGE", 0, 0, "AUTH", "pw").Slice(); err != nil || r[1].(int64) != 1 {
		t.Fatalf("MIGRATESLOTS with AUTH: %v %v", r, err)
	}
	b := redis.NewClient(&redis.Options{Addr: dst.addr(), Password: "pw", Protocol: 2})
	defer b.Close()
	if b.DBSize(ctx).Val() != 2 || a.DBSize(ctx).Val() != 0 {
		t.Fatalf("target %d keys, source %d", b.DBSize(ctx).Val(), a.DBSize(ctx).Val())
	}
}

// TestMigrateSlots: a range of slots moves in batches while other slots
// stay; the cursor walk ends with "0"; COUNTSLOTS agrees before and
// after; concurrent writers through MIGRATEKEY never see a key on both
// sides or on neither.
func TestMigrateSlots(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	a, b := client(t, src.addr()), client(t, dst.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	const n, slots = 3000, 64
	hf, _ := hashring.HashByName("md5")
	slotOf := func(k string) int { return hashring.KeySlot(hf, "{}", slots, []byte(k)) }
	pipe := a.Pipeline()
	want := 0
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("key:{%d}", i)
		switch i % 3 {
		case 0:
			pipe.Set(ctx, k, i, 0)
		case 1:
			pipe.Set(ctx, k, i, time.Hour)
		default:
			pipe.RPush(ctx, k, "a", i)
		}
		if s := slotOf(k); s >= 10 && s <= 40 {
			want++
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	spec := []any{"HASH", "md5", "TAG", "{}", "SLOTS", slots, "RANGE", 10, 40}
	count := func(c *redis.Client) int64 {
		v, err := c.Do(ctx, append([]any{"SHARDIS.COUNTSLOTS"}, spec...)...).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := count(a); got != int64(want) {
		t.Fatalf("COUNTSLOTS %d, want %d", got, want)
	}
	cursor, moved, calls := "0", int64(0), 0
	for {
		args := append([]any{"SHARDIS.MIGRATESLOTS", h, p, 2000, cursor, 100}, spec...)
		r, err := a.Do(ctx, args...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		cursor = r[0].(string)
		moved += r[1].(int64)
		calls++
		if cursor == "0" {
			break
		}
	}
	if moved != int64(want) || calls < 2 {
		t.Fatalf("moved %d in %d calls, want %d", moved, calls, want)
	}
	if count(a) != 0 || count(b) != int64(want) {
		t.Fatalf("after: source %d, target %d", count(a), count(b))
	}
	if got := a.DBSize(ctx).Val() + b.DBSize(ctx).Val(); got != n {
		t.Fatalf("%d keys in all, want %d", got, n)
	}
	for i := 0; i < n; i += 7 {
		k := fmt.Sprintf("key:{%d}", i)
		s := slotOf(k)
		c := a
		if s >= 10 && s <= 40 {
			c = b
		}
		if c.Exists(ctx, k).Val() != 1 {
			t.Fatalf("%s (slot %d) is not where it should be", k, s)
		}
		if i%3 == 1 {
			if ttl := c.TTL(ctx, k).Val(); ttl < 59*time.Minute {
				t.Fatalf("%s ttl %v", k, ttl)
			}
		}
	}
	if err := a.Do(ctx, "SHARDIS.MIGRATESLOTS", h, p, 100, 0, 10, "RANGE", 5).Err(); err == nil {
		t.Fatal("bad RANGE accepted")
	}
}

// TestMigrateLargeValues: batches of large values are cut at
// migrateBatchBytes; every key still moves, intact.
func TestMigrateLargeValues(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	a, b := client(t, src.addr()), client(t, dst.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	big := strings.Repeat("x", 1<<20)
	for i := 0; i < 12; i++ {
		a.Set(ctx, "big"+strconv.Itoa(i), big+strconv.Itoa(i), 0)
	}
	cursor, calls := "0", 0
	for {
		r, err := a.Do(ctx, "SHARDIS.MIGRATESLOTS", h, p, 5000, cursor, 100, "SLOTS", 1, "RANGE", 0, 0).Slice()
		if err != nil {
			t.Fatal(err)
		}
		calls++
		if cursor = r[0].(string); cursor == "0" {
			break
		}
	}
	if calls < 3 {
		t.Errorf("12 MB moved in %d calls: batches not bounded", calls)
	}
	for i := 0; i < 12; i++ {
		if v := b.Get(ctx, "big"+strconv.Itoa(i)).Val(); v != big+strconv.Itoa(i) {
			t.Fatalf("big%d: %d bytes", i, len(v))
		}
	}
	if a.DBSize(ctx).Val() != 0 {
		t.Fatal("keys left on the source")
	}
}

// TestMigrateConcurrentWriters: while the slots move, writers increment
// counters the way a proxy does (MIGRATEKEY on the source, then INCR on
// the target); no increment is lost and every key ends on the target.
func TestMigrateConcurrentWriters(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	a, b := client(t, src.addr()), client(t, dst.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	const n = 2000
	pipe := a.Pipeline()
	for i := 0; i < n; i++ {
		pipe.Set(ctx, "c"+strconv.Itoa(i), 0, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const writers, rounds = 4, 300
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				k := "c" + strconv.Itoa((w*rounds+r)%n)
				if err := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, k, 2000).Err(); err != nil {
					errs <- err
					return
				}
				if err := b.Incr(ctx, k).Err(); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	cursor := "0"
	for {
		r, err := a.Do(ctx, "SHARDIS.MIGRATESLOTS", h, p, 2000, cursor, 50, "SLOTS", 16, "RANGE", 0, 15).Slice()
		if err != nil {
			t.Fatal(err)
		}
		if cursor = r[0].(string); cursor == "0" {
			break
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if a.DBSize(ctx).Val() != 0 || b.DBSize(ctx).Val() != n {
		t.Fatalf("source %d keys, target %d", a.DBSize(ctx).Val(), b.DBSize(ctx).Val())
	}
	sum := int64(0)
	for i := 0; i < n; i++ {
		v, _ := b.Get(ctx, "c"+strconv.Itoa(i)).Int64()
		sum += v
	}
	if sum != writers*rounds {
		t.Fatalf("sum %d, want %d", sum, writers*rounds)
	}
}

// TestMigrateReplicated: the source's deletions reach its replica (the
// write stream), and a replica refuses to migrate (READONLY).
func TestMigrateReplicated(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	rep := startReplica(t, src.addr(), nil)
	a, b, r := client(t, src.addr()), client(t, dst.addr()), client(t, rep.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	for i := 0; i < 100; i++ {
		a.Set(ctx, "k"+strconv.Itoa(i), i, 0)
	}
	waitSynced(t, a, r)
	if err := r.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "k1", 1000).Err(); err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
		t.Fatalf("replica: %v", err)
	}
	if err := a.Do(ctx, "SHARDIS.MIGRATESLOTS", h, p, 1000, 0, 1000, "SLOTS", 1, "RANGE", 0, 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, a, r)
	if n := r.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("replica still has %d keys", n)
	}
	if n := b.DBSize(ctx).Val(); n != 100 {
		t.Fatalf("target has %d keys", n)
	}
}

func FuzzParseSlotSpec(f *testing.F) {
	for _, s := range []string{"RANGE 1 2", "HASH md5 TAG {} SLOTS 4096 RANGE 0 4095", "tag  range 3 3 auth pw", "SLOTS 0 RANGE 0 0", "RANGE 5", "hash nope range 1 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var args [][]byte
		for _, w := range strings.Split(s, " ") {
			args = append(args, []byte(w))
		}
		sp, err := ParseSlotSpec(args)
		if err != nil {
			return
		}
		if sp.Lo < 0 || sp.Hi < sp.Lo || sp.Hi >= sp.Slots || sp.Slots > 65536 {
			t.Fatalf("%q: accepted %+v", s, sp)
		}
		if sl := sp.Slot("some{key}"); sl < 0 || sl >= sp.Slots {
			t.Fatalf("slot %d", sl)
		}
	})
}

// FuzzMigrateReply: the target's reply reader never panics or loops, and
// an error reply's text is returned as is.
func FuzzMigrateReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-BUSYKEY Target key name already exists.\r\n", ":1\r\n", "$3\r\nabc\r\n", "$-1\r\n",
		"*2\r\n$1\r\na\r\n:2\r\n", "*-1\r\n", "-\r\n", "$99\r\nshort\r\n", "?\r\n", "+OK\n", "*1\r\n*1\r\n-ERR x\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		mc := &migrateConn{r: bufio.NewReader(bytes.NewReader(b))}
		for i := 0; i < 100; i++ {
			msg, err := mc.readReply()
			if err != nil {
				return
			}
			if i == 0 && b[0] == '-' && msg != "ERR" && !bytes.Contains(b, []byte(msg)) {
				t.Fatalf("error text %q not from %q", msg, b)
			}
		}
	})
}
