package backend

import (
	"strconv"
	"testing"
)

// BenchmarkNotifyWrites runs SET, HSET and LPUSH through the command
// table (no network) with notify-keyspace-events off (the default) and
// KEA (each write records and publishes two messages, here to no
// subscriber). Compare "off" with the same benchmark on a tree without
// keyspace notifications: the off path is one atomic load per event.
func BenchmarkNotifyWrites(b *testing.B) {
	for _, flags := range []string{"off", "KEA"} {
		for _, cmd := range []string{"SET", "HSET", "LPUSH"} {
			b.Run(flags+"/"+cmd, func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.Dir = b.TempDir()
				s, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				c := s.newInternalClient()
				c.internal = false
				if flags != "off" {
					s.dispatch(c, [][]byte{[]byte("CONFIG"), []byte("SET"), []byte("notify-keyspace-events"), []byte(flags)})
				}
				cmds := make([][][]byte, 1024)
				raws := make([][]byte, len(cmds))
				for i := range cmds {
					n := strconv.Itoa(i)
					switch cmd {
					case "SET":
						cmds[i] = [][]byte{[]byte("SET"), []byte("key:" + n), []byte("xxx")}
					case "HSET":
						cmds[i] = [][]byte{[]byte("HSET"), []byte("myhash"), []byte("element:" + n), []byte("xxx")}
					case "LPUSH":
						cmds[i] = [][]byte{[]byte("LPUSH"), []byte("list:" + strconv.Itoa(i%16)), []byte("xxx")}
					}
					raws[i] = encodeCommand(string(cmds[i][0]), string(cmds[i][1]), string(cmds[i][2]))
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					j := i & (len(cmds) - 1)
					c.raw = raws[j]
					s.dispatch(c, cmds[j])
					c.w.Discard()
					c.untimed = c.untimed[:0]
				}
			})
		}
	}
}

// TestNotifyOffAllocs: with notifications off, recording an event
// allocates nothing and records nothing; with the class on it records.
func TestNotifyOffAllocs(t *testing.T) {
	ks := NewKeyspace(NewStream(0))
	var tx Tx
	tx.reset(ks, 0)
	key := []byte("k")
	if n := testing.AllocsPerRun(1000, func() { tx.notify(notifyString, "set", key) }); n != 0 || len(tx.events) != 0 {
		t.Fatalf("notify off: %v allocs, %d events", n, len(tx.events))
	}
	ks.SetNotifyFlags(notifyKeyspace | notifyString)
	tx.notify(notifyString, "set", key)
	if len(tx.events) != 1 {
		t.Fatalf("notify on: %d events", len(tx.events))
	}
}
