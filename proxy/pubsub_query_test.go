package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestPubSubIntrospection: PUBSUB CHANNELS, NUMSUB and NUMPAT through the
// proxy over three backends (redis-server, then shardis-server) report
// the subscriptions made through the proxy and those made on a backend
// directly; HELP and bad subcommands get the backend's own answers.
func TestPubSubIntrospection(t *testing.T) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			bs := startBackends(t, k, 3)
			p := startTestProxy(t, yamlPool("ps", freeAddr(t), serverLines(bs, weight1), "timeout: 2000"))
			tbl := p.Pool("ps").Table()
			var chans []string
			seen := map[int]bool{}
			for i := 0; len(chans) < 6 || len(seen) < 3; i++ {
				ch := fmt.Sprintf("chan:%d", i*7919)
				seen[tbl.lookupIndex([]byte(ch))] = true
				chans = append(chans, ch)
			}

			// Two clients through the proxy: one on every channel and on two
			// patterns, one on the first two channels.
			c1, c2 := client(t, p.addrs["ps"]), client(t, p.addrs["ps"])
			ps1 := c1.Subscribe(ctx, chans...)
			defer ps1.Close()
			confirm(t, ps1, len(chans))
			if err := ps1.PSubscribe(ctx, "news.*", "sport.*"); err != nil {
				t.Fatal(err)
			}
			confirm(t, ps1, 2)
			ps2 := c2.Subscribe(ctx, chans[:2]...)
			defer ps2.Close()
			confirm(t, ps2, 2)

			// A client of one backend directly, on channels of other shards
			// than the one it connects to (a new one, and one of the proxy's
			// channels, which two shards then list), and on a third pattern.
			direct := "direct:1"
			home := func(ch string) string { return tbl.Shard(tbl.lookupIndex([]byte(ch))).master.addr }
			var other string
			for _, b := range bs {
				if b.Addr != home(direct) && b.Addr != home(chans[0]) {
					other = b.Addr
					break
				}
			}
			if other == "" {
				t.Fatalf("no backend apart from %s and %s", home(direct), home(chans[0]))
			}
			dc := redis.NewClient(&redis.Options{Addr: other})
			defer dc.Close()
			dps := dc.Subscribe(ctx, direct, chans[0])
			defer dps.Close()
			confirm(t, dps, 2)
			if err := dps.PSubscribe(ctx, "direct.*"); err != nil {
				t.Fatal(err)
			}
			confirm(t, dps, 1)

			pc := client(t, p.addrs["ps"])
			got, err := pc.PubSubChannels(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(chans), direct)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("PUBSUB CHANNELS = %v, want %v", got, want)
			}
			if got, err := pc.PubSubChannels(ctx, "direct:*").Result(); err != nil || !slices.Equal(got, []string{direct}) {
				t.Errorf("PUBSUB CHANNELS direct:* = %v %v", got, err)
			}

			counts, err := pc.PubSubNumSub(ctx, chans[0], chans[2], "nosuch", direct).Result()
			if err != nil {
				t.Fatal(err)
			}
			wantCounts := map[string]int64{chans[0]: 3, chans[2]: 1, "nosuch": 0, direct: 1}
			if fmt.Sprint(counts) != fmt.Sprint(wantCounts) {
				t.Errorf("PUBSUB NUMSUB = %v, want %v", counts, wantCounts)
			}
			// The order of the reply is the order asked.
			raw := dialRaw(t, p.addrs["ps"])
			if r := raw.do("PUBSUB", "NUMSUB", "nosuch", chans[0]); r != "*4\r\n$6\r\nnosuch\r\n:0\r\n$"+fmt.Sprint(len(chans[0]))+"\r\n"+chans[0]+"\r\n:3\r\n" {
				t.Errorf("PUBSUB NUMSUB nosuch %s: %q", chans[0], r)
			}
			if r := raw.do("PUBSUB", "NUMSUB"); r != "*0\r\n" {
				t.Errorf("PUBSUB NUMSUB: %q", r)
			}

			// Every shard has the proxy's two patterns; one also the direct one.
			if n, err := pc.PubSubNumPat(ctx).Result(); err != nil || n != 3 {
				t.Errorf("PUBSUB NUMPAT = %d %v, want 3", n, err)
			}

			// What a backend answers itself.
			back := dialRaw(t, bs[0].Addr)
			for _, args := range [][]string{
				{"PUBSUB", "HELP"},
				{"PUBSUB", "NOSUCH"},
				{"PUBSUB", "NUMPAT", "extra"},
				{"PUBSUB", "CHANNELS", "a", "b"},
			} {
				want, got := back.do(args...), raw.do(args...)
				if got != want || (args[1] == "HELP" && !strings.HasPrefix(got, "*")) {
					t.Errorf("%v: proxy %q, backend %q", args, got, want)
				}
			}
			if r := raw.do("PUBSUB"); r != "-ERR wrong number of arguments for 'pubsub' command\r\n" {
				t.Errorf("PUBSUB: %q", r)
			}

			// Unsubscribed: the counts fall, once the servers have been told
			// (the proxy confirms an UNSUBSCRIBE without waiting for them).
			if err := ps2.Unsubscribe(ctx); err != nil {
				t.Fatal(err)
			}
			confirm(t, ps2, 2)
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				counts, err := pc.PubSubNumSub(ctx, chans[0]).Result()
				if err == nil && counts[chans[0]] == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("PUBSUB NUMSUB 5 s after UNSUBSCRIBE = %v %v, want 2", counts, err)
				}
			}
		})
	}
}

// confirm reads n (un)subscription confirmations.
func confirm(t *testing.T, ps *redis.PubSub, n int) {
	t.Helper()
	for range n {
		m, err := ps.ReceiveTimeout(context.Background(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(*redis.Subscription); !ok {
			t.Fatalf("not a confirmation: %#v", m)
		}
	}
}
