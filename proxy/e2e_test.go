package proxy

import (
	"context"
	"testing"

	"github.com/shardis/shardis/integration/harness"
)

func TestSmoke(t *testing.T) {
	r1, r2 := harness.StartRedis(t), harness.StartRedis(t)
	listen := freeAddr(t)
	tp := startTestProxy(t, yamlPool("p", listen, []string{r1.Addr + ":1", r2.Addr + ":1"}))
	c := client(t, tp.addrs["p"])
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if err := c.Set(ctx, "k"+string(rune('a'+i%26))+string(rune('0'+i%10)), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	v, err := c.Get(ctx, "ka0").Result()
	t.Log(v, err)
	rc := dialRaw(t, tp.addrs["p"])
	t.Logf("%q", rc.do("MGET", "ka0", "kb1", "kc2", "nope"))
	t.Logf("%q", rc.do("PING"))
	t.Logf("%q", rc.do("FOO"))
	t.Logf("%q", rc.do("GET"))
}
