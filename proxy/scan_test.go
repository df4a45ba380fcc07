package proxy

import (
	"context"
	"fmt"
	"strconv"
	"testing"
)

func TestScanCursorCodec(t *testing.T) {
	for _, c := range []struct {
		shard  int
		cursor uint64
		exact  bool
	}{
		{0, 0, true}, {0, 1, true}, {2, 12345, true}, {1023, scanPayload, true},
		{1, scanPayload + 1, false}, {3, 1<<64 - 1, false}, {1023, 0xdeadbeefcafef00d, false},
	} {
		v := encodeScanCursor(c.shard, c.cursor)
		shard, cursor := decodeScanCursor(v)
		if shard != c.shard {
			t.Errorf("shard %d cursor %d: decoded shard %d", c.shard, c.cursor, shard)
		}
		switch {
		case c.exact && cursor != c.cursor:
			t.Errorf("shard %d cursor %d: decoded %d, want it exactly", c.shard, c.cursor, cursor)
		case !c.exact && (cursor > c.cursor || c.cursor-cursor >= 1<<scanCoarseBits):
			// A coarse cursor resumes a little before, never after.
			t.Errorf("shard %d cursor %d: decoded %d", c.shard, c.cursor, cursor)
		}
		if c.shard == 0 && c.cursor != 0 && v == 0 {
			t.Errorf("cursor %d of shard 0 encodes as 0 (the end)", c.cursor)
		}
	}
}

// TestScanAndFanout: SCAN over a 3-shard pool returns every key exactly
// once (MATCH, COUNT, TYPE passed through); DBSIZE adds up; KEYS and
// FLUSHALL/FLUSHDB need allow_admin_commands; RANDOMKEY returns a key.
func TestScanAndFanout(t *testing.T) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) {
			bs := startBackends(t, k, 3)
			servers := serverLines(bs, weight1)
			tp := startTestProxy(t, yamlPool("p", freeAddr(t), servers, "timeout: 2000")+
				yamlPool("adm", freeAddr(t), servers, "timeout: 2000", "allow_admin_commands: true"))
			ctx := context.Background()
			c := client(t, tp.addrs["p"])
			adm := client(t, tp.addrs["adm"])

			want := map[string]bool{}
			for b := 0; b < 10; b++ {
				var pairs []any
				for i := 0; i < 100; i++ {
					key := fmt.Sprintf("key:%d", b*100+i)
					pairs = append(pairs, key, i)
					want[key] = true
				}
				if err := c.MSet(ctx, pairs...).Err(); err != nil {
					t.Fatal(err)
				}
			}
			others, lists := map[string]bool{}, map[string]bool{}
			for i := 0; i < 40; i++ {
				o, l := "other:"+strconv.Itoa(i), "list:"+strconv.Itoa(i)
				if err := c.Set(ctx, o, "x", 0).Err(); err != nil {
					t.Fatal(err)
				}
				if err := c.RPush(ctx, l, "x").Err(); err != nil {
					t.Fatal(err)
				}
				others[o], lists[l], want[o], want[l] = true, true, true, true
			}
			perShard := map[int]int{}
			for key := range want {
				perShard[tp.Pool("p").Table().lookupIndex([]byte(key))]++
			}
			if len(perShard) != 3 {
				t.Fatalf("keys on shards %v", perShard)
			}

			scan := func(match, typ string, count int64) (map[string]bool, int) {
				t.Helper()
				seen := map[string]bool{}
				cursors := map[uint64]bool{}
				var cursor uint64
				calls := 0
				for {
					var keys []string
					var err error
					if typ != "" {
						keys, cursor, err = c.ScanType(ctx, cursor, match, count, typ).Result()
					} else {
						keys, cursor, err = c.Scan(ctx, cursor, match, count).Result()
					}
					if err != nil {
						t.Fatal(err)
					}
					calls++
					for _, key := range keys {
						if seen[key] {
							t.Fatalf("SCAN returned %s twice", key)
						}
						seen[key] = true
					}
					if cursor == 0 {
						return seen, calls
					}
					if cursors[cursor] {
						t.Fatalf("cursor %d came twice", cursor)
					}
					cursors[cursor] = true
					if calls > 10000 {
						t.Fatal("SCAN does not end")
					}
				}
			}
			check := func(what string, got, want map[string]bool) {
				t.Helper()
				if len(got) != len(want) {
					t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
				}
				for key := range want {
					if !got[key] {
						t.Errorf("%s: %s missing", what, key)
						return
					}
				}
			}
			all, calls := scan("", "", 50)
			check("SCAN COUNT 50", all, want)
			if calls < 3 {
				t.Errorf("a complete SCAN in %d calls over 3 shards", calls)
			}
			t.Logf("SCAN COUNT 50: %d keys in %d calls", len(all), calls)
			got, _ := scan("other:*", "", 1000)
			check("SCAN MATCH other:*", got, others)
			got, _ = scan("", "list", 1000)
			check("SCAN TYPE list", got, lists)

			rc := dialRaw(t, tp.addrs["p"])
			runExchanges(t, rc, []exchange{
				{[]string{"SCAN", "x"}, "-ERR invalid cursor\r\n"},
				{[]string{"SCAN", "-1"}, "-ERR invalid cursor\r\n"},
				{[]string{"SCAN", strconv.FormatUint(encodeScanCursor(3, 0), 10)}, "-ERR invalid cursor\r\n"},
				{[]string{"SCAN", "0", "COUNT", "0"}, "-ERR syntax error\r\n"},
				{[]string{"DBSIZE"}, fmt.Sprintf(":%d\r\n", len(want))},
				{[]string{"KEYS", "*"}, "-ERR command 'keys' is disabled in this pool (allow_admin_commands is false)\r\n"},
				{[]string{"FLUSHALL"}, "-ERR command 'flushall' is disabled in this pool (allow_admin_commands is false)\r\n"},
				{[]string{"FLUSHDB", "ASYNC"}, "-ERR command 'flushdb' is disabled in this pool (allow_admin_commands is false)\r\n"},
			})
			keys, err := adm.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			got = map[string]bool{}
			for _, key := range keys {
				if got[key] {
					t.Fatalf("KEYS returned %s twice", key)
				}
				got[key] = true
			}
			check("KEYS *", got, want)
			if keys, err := adm.Keys(ctx, "list:*").Result(); err != nil || len(keys) != len(lists) {
				t.Errorf("KEYS list:*: %d keys, %v", len(keys), err)
			}
			for i := 0; i < 5; i++ {
				if key, err := c.RandomKey(ctx).Result(); err != nil || !want[key] {
					t.Errorf("RANDOMKEY: %q %v", key, err)
				}
			}
			if err := adm.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
				t.Errorf("DBSIZE after FLUSHDB: %d %v", n, err)
			}
			runExchanges(t, rc, []exchange{
				{[]string{"RANDOMKEY"}, "$-1\r\n"},
				{[]string{"SCAN", "0"}, "*2\r\n$*"},
			})
			if all, _ := scan("", "", 10); len(all) != 0 {
				t.Errorf("SCAN of an empty pool: %d keys", len(all))
			}
		})
	}
}
