package proxy

import (
	"context"
	"fmt"
	"testing"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// TestPlacement writes keys through the proxy and reads each one back
// directly from the backend that hashring names for it (and checks no
// other backend has it), for ketama, modula and slot-range pools, with
// and without a hash tag and with MSET fan-out.
func TestPlacement(t *testing.T) {
	backends := startBackends(t, backendKinds[0], 3)
	ranges := []string{"0-1000,3000-4095", "1001-1999", "2000-2999"}
	pools := []struct {
		name   string
		suffix func(i int) string
		extra  []string
	}{
		{"ketama", weight1, []string{"distribution: ketama"}},
		{"modula", func(i int) string { return fmt.Sprint(i + 1) }, []string{"distribution: modula", "hash: murmur"}},
		{"slots", func(i int) string { return ranges[i] }, []string{"hash: crc32a", "hash_tag: \"{}\""}},
	}
	var yaml string
	for _, p := range pools {
		yaml += yamlPool(p.name, freeAddr(t), serverLines(backends, p.suffix), p.extra...)
	}
	tp := startTestProxy(t, yaml)
	cfgs, err := conf.Parse("test.yml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	direct := make([]*rawClient, len(backends))
	for i, b := range backends {
		direct[i] = dialRaw(t, b.Addr)
	}
	for i, p := range pools {
		table, err := hashring.New(cfgs[i].Spec())
		if err != nil {
			t.Fatal(err)
		}
		c := client(t, tp.addrs[p.name])
		var keys []string
		var mset []any
		for k := 0; k < 600; k++ {
			key := fmt.Sprintf("%s:%d:%x", p.name, k, k*2654435761)
			if k%5 == 0 {
				key = fmt.Sprintf("%s:{user%d}:%d", p.name, k%17, k)
			}
			keys = append(keys, key)
			if k%2 == 0 {
				if err := c.Set(ctx, key, "v"+key, 0).Err(); err != nil {
					t.Fatal(err)
				}
			} else {
				mset = append(mset, key, "v"+key)
			}
		}
		if err := c.MSet(ctx, mset...).Err(); err != nil {
			t.Fatal(err)
		}
		perBackend := make([]int, len(backends))
		for _, key := range keys {
			owner := table.Lookup([]byte(key))
			perBackend[owner]++
			for b := range backends {
				got := direct[b].do("GET", key)
				want := "$-1\r\n"
				if b == owner {
					want = fmt.Sprintf("$%d\r\nv%s\r\n", len(key)+1, key)
				}
				if got != want {
					t.Fatalf("pool %s: key %q on backend %d: %q, want %q (owner %d)", p.name, key, b, got, want, owner)
				}
			}
		}
		for b, n := range perBackend {
			if n == 0 {
				t.Errorf("pool %s: no key on backend %d", p.name, b)
			}
		}
		// Clean up for the next pool (they share the backends).
		if n, err := c.Del(ctx, keys...).Result(); err != nil || n != int64(len(keys)) {
			t.Fatalf("pool %s: DEL = %d, %v", p.name, n, err)
		}
	}
}
