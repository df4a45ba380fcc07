package backend

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/hashring"
)

func wantTryAgain(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN ") || !strings.Contains(err.Error(), "by a migration") {
		t.Fatalf("%s: got %v, want TRYAGAIN", what, err)
	}
}

// TestMigrateGuardKey: after SHARDIS.MIGRATEKEY, a client that still
// comes to the source (a proxy without the migration record) gets
// TRYAGAIN for the moved key — reads, writes, multi-key commands and
// transactions — and never creates a stale copy; a key answered NOKEY is
// guarded too; other keys are served; RESTORE (the key coming back)
// lifts the guard.
func TestMigrateGuardKey(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	a, b := client(t, src.addr()), client(t, dst.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	a.Set(ctx, "k", "v1", 0)
	a.Set(ctx, "other", "o", 0)
	if src.migr.guard.on.Load() {
		t.Fatal("guard on before any migration")
	}
	if r, err := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "k", 1000).Text(); r != "OK" {
		t.Fatalf("migrate: %q %v", r, err)
	}
	wantTryAgain(t, "GET", a.Get(ctx, "k").Err())
	err := a.Set(ctx, "k", "stale", 0).Err()
	wantTryAgain(t, "SET", err)
	if !strings.Contains(err.Error(), `"k"`) || !strings.Contains(err.Error(), dst.addr()) {
		t.Fatalf("reply names neither key nor target: %v", err)
	}
	wantTryAgain(t, "MGET", a.MGet(ctx, "other", "k").Err())
	wantTryAgain(t, "DEL", a.Del(ctx, "other", "k").Err())
	wantTryAgain(t, "EXISTS", a.Exists(ctx, "k").Err())
	if v := a.Get(ctx, "other").Val(); v != "o" {
		t.Fatalf("other = %q", v)
	}
	if err := a.Set(ctx, "fresh", "f", 0).Err(); err != nil {
		t.Fatalf("unguarded new key: %v", err)
	}
	if v := b.Get(ctx, "k").Val(); v != "v1" {
		t.Fatalf("target k = %q", v)
	}
	// NOKEY: the caller writes the key on the target from now on.
	if r, _ := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "absent", 1000).Text(); r != "NOKEY" {
		t.Fatalf("absent: %q", r)
	}
	wantTryAgain(t, "SET absent", a.Set(ctx, "absent", "x", 0).Err())

	// A transaction touching the key is discarded as a whole at EXEC.
	var other *redis.StringCmd
	_, err = a.TxPipelined(ctx, func(pp redis.Pipeliner) error {
		other = pp.Get(ctx, "other")
		pp.Set(ctx, "other", "changed", 0)
		pp.Set(ctx, "k", "stale", 0)
		return nil
	})
	if err == nil || !strings.HasPrefix(err.Error(), "EXECABORT Transaction discarded because of: TRYAGAIN ") {
		t.Fatalf("EXEC: %v", err)
	}
	_ = other
	if v := a.Get(ctx, "other").Val(); v != "o" {
		t.Fatalf("part of an aborted transaction ran: other = %q", v)
	}
	// A transaction of unguarded keys runs.
	if _, err := a.TxPipelined(ctx, func(pp redis.Pipeliner) error {
		pp.Set(ctx, "other", "o2", 0)
		pp.Incr(ctx, "counter")
		return nil
	}); err != nil {
		t.Fatalf("EXEC of unguarded keys: %v", err)
	}
	// Nothing wrote the moved key here.
	n := 0
	for _, k := range a.Keys(ctx, "*").Val() {
		if k == "k" || k == "absent" {
			n++
		}
	}
	if n != 0 {
		t.Fatal("a stale copy was written on the source")
	}
	// The migration commands themselves are exempt.
	if r, _ := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "k", 1000).Text(); r != "NOKEY" {
		t.Fatalf("MIGRATEKEY of the moved key: %q", r)
	}
	// The key moved back (RESTORE from the other side) is served again.
	ha, pa := hostPort(t, src.addr())
	if r, err := b.Do(ctx, "SHARDIS.MIGRATEKEY", ha, pa, "k", 1000).Text(); r != "OK" {
		t.Fatalf("migrate back: %q %v", r, err)
	}
	if v, err := a.Get(ctx, "k").Result(); v != "v1" || err != nil {
		t.Fatalf("after moving back: %q %v", v, err)
	}
	tombs, _, _ := src.migr.guard.stats()
	if tombs != 1 { // "absent"
		t.Fatalf("%d tombstones, want 1", tombs)
	}
}

// TestMigrateGuardSlots: while SHARDIS.MIGRATESLOTS migrates a range, a
// missing key of the range gets TRYAGAIN (moved or never written: it
// belongs on the target), a key of the range still here is served, and
// keys outside the range are untouched.
func TestMigrateGuardSlots(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	a, b := client(t, src.addr()), client(t, dst.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	const slots = 64
	hf, _ := hashring.HashByName("md5")
	in := func(k string) bool { s := hashring.KeySlot(hf, "{}", slots, []byte(k)); return s >= 10 && s <= 40 }
	var inKeys, outKeys []string
	for i := 0; len(inKeys) < 300 || len(outKeys) < 50; i++ {
		k := fmt.Sprintf("key:{%d}", i)
		if in(k) {
			inKeys = append(inKeys, k)
		} else {
			outKeys = append(outKeys, k)
		}
		a.Set(ctx, k, k, 0)
	}
	spec := []any{"HASH", "md5", "TAG", "{}", "SLOTS", slots, "RANGE", 10, 40}
	// One small batch: some keys of the range moved, others still here.
	r, err := a.Do(ctx, append([]any{"SHARDIS.MIGRATESLOTS", h, p, 2000, 0, 20}, spec...)...).Slice()
	if err != nil || r[1].(int64) == 0 {
		t.Fatalf("batch: %v %v", r, err)
	}
	moved, here := 0, 0
	for _, k := range inKeys {
		if b.Exists(ctx, k).Val() == 1 {
			moved++
			wantTryAgain(t, "GET moved "+k, a.Get(ctx, k).Err())
			wantTryAgain(t, "SET moved "+k, a.Set(ctx, k, "stale", 0).Err())
		} else {
			here++
			if v, err := a.Get(ctx, k).Result(); v != k || err != nil {
				t.Fatalf("key of the range still here: %q %v", v, err)
			}
		}
	}
	if moved == 0 || here == 0 {
		t.Fatalf("moved %d, here %d", moved, here)
	}
	var newIn, newOut string
	for i := 100000; newIn == "" || newOut == ""; i++ {
		k := fmt.Sprintf("new:{%d}", i)
		if in(k) {
			newIn = k
		} else {
			newOut = k
		}
	}
	wantTryAgain(t, "SET new key of the range", a.Set(ctx, newIn, "x", 0).Err())
	if err := a.Set(ctx, newOut, "x", 0).Err(); err != nil {
		t.Fatalf("new key outside the range: %v", err)
	}
	for _, k := range outKeys[:20] {
		if v, err := a.Get(ctx, k).Result(); v != k || err != nil {
			t.Fatalf("key outside the range: %q %v", v, err)
		}
	}
	// COUNTSLOTS (read-only, exempt) and the rest of the walk.
	cursor := r[0].(string)
	for cursor != "0" {
		r, err := a.Do(ctx, append([]any{"SHARDIS.MIGRATESLOTS", h, p, 2000, cursor, 100}, spec...)...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		cursor = r[0].(string)
	}
	if n, err := a.Do(ctx, append([]any{"SHARDIS.COUNTSLOTS"}, spec...)...).Int64(); n != 0 || err != nil {
		t.Fatalf("COUNTSLOTS %d %v", n, err)
	}
	// Keys of a guarded range need no tombstone.
	if r, _ := a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, newIn, 1000).Text(); r != "NOKEY" {
		t.Fatalf("MIGRATEKEY %s: %q", newIn, r)
	}
	if tombs, ranges, _ := src.migr.guard.stats(); tombs != 0 || ranges != 1 {
		t.Fatalf("%d tombstones, %d ranges; want 0, 1", tombs, ranges)
	}
	for _, k := range inKeys {
		if v := b.Get(ctx, k).Val(); v != k {
			t.Fatalf("target %s = %q (a stale write reached it?)", k, v)
		}
	}
}

// TestMigrateGuardExpires: the guard lasts migrate-guard-time after the
// last migration command, then the state is freed and dispatch no longer
// checks; 0 disables it.
func TestMigrateGuardExpires(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	a := client(t, src.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	if err := a.ConfigSet(ctx, "migrate-guard-time", "300").Err(); err != nil {
		t.Fatal(err)
	}
	a.Set(ctx, "k", "v", 0)
	a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "k", 1000)
	a.Do(ctx, "SHARDIS.MIGRATESLOTS", h, p, 1000, 0, 10, "RANGE", 0, 4095)
	wantTryAgain(t, "GET", a.Get(ctx, "k").Err())
	wantTryAgain(t, "GET other", a.Get(ctx, "x").Err())
	deadline := time.Now().Add(5 * time.Second)
	for a.Get(ctx, "k").Err() != redis.Nil {
		if time.Now().After(deadline) {
			t.Fatalf("guard still on: %v", a.Get(ctx, "k").Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.Set(ctx, "x", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for src.migr.guard.on.Load() {
		if time.Now().After(deadline) {
			tombs, ranges, _ := src.migr.guard.stats()
			t.Fatalf("guard state kept: %d tombstones, %d ranges", tombs, ranges)
		}
		a.Get(ctx, "x")
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.ConfigSet(ctx, "migrate-guard-time", "0").Err(); err != nil {
		t.Fatal(err)
	}
	a.Set(ctx, "y", "v", 0)
	a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "y", 1000)
	if src.migr.guard.on.Load() {
		t.Fatal("guard time 0 still guards")
	}
	if err := a.Get(ctx, "y").Err(); err != redis.Nil {
		t.Fatalf("GET y: %v", err)
	}
}

// TestMigrateGuardConcurrentStaleWriter: a client of the source that
// knows nothing of the migration (a stale proxy) writes keys of the range
// while the migrator moves them: each write either succeeds here (and the
// key, with that value, then moves) or gets TRYAGAIN — never a copy left
// behind or a value lost.
func TestMigrateGuardConcurrentStaleWriter(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	a, b := client(t, src.addr()), client(t, dst.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	const n = 2000
	for i := 0; i < n; i++ {
		a.Set(ctx, fmt.Sprintf("k%d", i), "0", 0)
	}
	last := make([]string, n) // the last value written with OK
	for i := range last {
		last[i] = "0"
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := client(t, src.addr())
		for round := 1; ; round++ {
			for i := 0; i < n; i += 3 {
				select {
				case <-stop:
					return
				default:
				}
				v := fmt.Sprint(round)
				err := w.Set(ctx, fmt.Sprintf("k%d", i), v, 0).Err()
				if err == nil {
					last[i] = v
				} else if !strings.HasPrefix(err.Error(), "TRYAGAIN") {
					t.Errorf("SET: %v", err)
					return
				}
			}
		}
	}()
	cursor := "0"
	for {
		r, err := a.Do(ctx, "SHARDIS.MIGRATESLOTS", h, p, 2000, cursor, 50, "RANGE", 0, 4095).Slice()
		if err != nil {
			t.Fatal(err)
		}
		cursor = r[0].(string)
		if cursor == "0" {
			break
		}
	}
	close(stop)
	wg.Wait()
	if m := a.DBSize(ctx).Val(); m != 0 {
		t.Fatalf("%d keys left on the source", m)
	}
	for i := 0; i < n; i++ {
		if v := b.Get(ctx, fmt.Sprintf("k%d", i)).Val(); v != last[i] {
			t.Fatalf("k%d = %q on the target, last written %q", i, v, last[i])
		}
	}
}

// TestMigrateGuardAtomic: a key cannot move between the guard's check
// (the key is here: served) and the command: a move that starts then
// waits for the command, and takes its write along.
func TestMigrateGuardAtomic(t *testing.T) {
	src, dst := startServer(t, nil), startServer(t, nil)
	a, b := client(t, src.addr()), client(t, dst.addr())
	ctx := context.Background()
	h, p := hostPort(t, dst.addr())
	a.Set(ctx, "k", "old", 0)
	a.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "other", 1000) // guard on (NOKEY tombstone)
	m := client(t, src.addr())
	done := make(chan error, 1)
	var once sync.Once
	guardCheckedHook = func(c *Client) {
		if c.cmd.Load().name != "set" {
			return
		}
		once.Do(func() {
			go func() { done <- m.Do(ctx, "SHARDIS.MIGRATEKEY", h, p, "k", 2000).Err() }()
			time.Sleep(100 * time.Millisecond)
		})
	}
	t.Cleanup(func() { guardCheckedHook = nil })
	if err := a.Set(ctx, "k", "new", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := b.Get(ctx, "k").Val(); v != "new" {
		t.Fatalf("target k = %q, want the write made during the move", v)
	}
	if n := a.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("%d keys left on the source", n)
	}
}

// BenchmarkMigrateGuard: dispatch of GET (present keys) and of GET/SET of
// missing keys by an ordinary client, without guard state ("off": one
// atomic load), and with a range guard of a migration to elsewhere whose
// range does not hold the keys ("on": keys locked around check and
// handler; a missing key also costs a tombstone lookup and one hash).
func BenchmarkMigrateGuard(b *testing.B) {
	for _, on := range []bool{false, true} {
		s := startServer(b, nil)
		c := &Client{s: s, w: newReplyWriter(io.Discard), authed: true, id: s.clients.nextID.Add(1), created: time.Now(), fd: -1}
		c.startBatch()
		hf, _ := hashring.HashByName("fnv1a_64")
		var in []byte
		for i := 0; ; i++ {
			k := []byte("x" + strconv.Itoa(i))
			if hashring.KeySlot(hf, "", 4096, k) == 7 {
				in = k
				break
			}
		}
		if on {
			sp, err := ParseSlotSpec([][]byte{[]byte("RANGE"), []byte("7"), []byte("7")})
			if err != nil {
				b.Fatal(err)
			}
			s.migr.guard.addRange(&sp, "127.0.0.1:1")
			if !s.migr.guard.on.Load() {
				b.Fatal("guard off")
			}
		}
		keys := make([][]byte, 1024)
		for i := range keys {
			keys[i] = []byte("k" + strconv.Itoa(i))
			s.dispatch(c, [][]byte{[]byte("SET"), keys[i], []byte("v")})
		}
		name := "off"
		if on {
			name = "on"
		}
		for _, cmd := range []string{"GET", "GETmissing"} {
			b.Run(name+"/"+cmd, func(b *testing.B) {
				args := [][]byte{[]byte("GET"), nil}
				for i := 0; i < b.N; i++ {
					args[1] = keys[i&1023]
					if cmd == "GETmissing" {
						args[1] = append(keys[i&1023][:len(keys[i&1023]):len(keys[i&1023])], 'm')
					}
					s.dispatch(c, args)
					if i&255 == 0 {
						c.w.b = c.w.b[:0]
						c.untimed = c.untimed[:0]
					}
				}
			})
		}
		c.w.b = c.w.b[:0]
		s.dispatch(c, [][]byte{[]byte("GET"), in})
		if on != strings.Contains(string(c.w.b), "TRYAGAIN") {
			b.Fatalf("guard on=%v, GET of a missing key of the range: %q", on, c.w.b)
		}
	}
}
