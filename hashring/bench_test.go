package hashring

import (
	"fmt"
	"testing"
)

func benchSpec(d Distribution, n int) Spec {
	spec := Spec{Distribution: d, Hash: "fnv1a_64", HashTag: "{}", Servers: make([]Server, n)}
	per := DefaultSlots / n
	for i := range spec.Servers {
		spec.Servers[i] = Server{Addr: fmt.Sprintf("10.0.%d.%d:6379", i/250, i%250), Weight: 1 + i%3}
		if d == Slots {
			hi := (i+1)*per - 1
			if i == n-1 {
				hi = DefaultSlots - 1
			}
			spec.Servers[i].Ranges = []Range{{i * per, hi}}
		}
	}
	return spec
}

func benchLookup(b *testing.B, d Distribution, n int) {
	tb, err := New(benchSpec(d, n))
	if err != nil {
		b.Fatal(err)
	}
	ks := keys(1024)
	b.ReportAllocs()
	b.ResetTimer()
	sink := 0
	for i := 0; b.Loop(); i++ {
		sink += tb.Lookup(ks[i&1023])
	}
	_ = sink
}

func BenchmarkLookupKetama16(b *testing.B)  { benchLookup(b, Ketama, 16) }
func BenchmarkLookupKetama256(b *testing.B) { benchLookup(b, Ketama, 256) }
func BenchmarkLookupModula16(b *testing.B)  { benchLookup(b, Modula, 16) }
func BenchmarkLookupModula256(b *testing.B) { benchLookup(b, Modula, 256) }
func BenchmarkLookupSlots16(b *testing.B)   { benchLookup(b, Slots, 16) }
func BenchmarkLookupRandom16(b *testing.B)  { benchLookup(b, Random, 16) }

func benchNew(b *testing.B, d Distribution, n int) {
	spec := benchSpec(d, n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(spec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewKetama16(b *testing.B)  { benchNew(b, Ketama, 16) }
func BenchmarkNewKetama256(b *testing.B) { benchNew(b, Ketama, 256) }
func BenchmarkNewModula256(b *testing.B) { benchNew(b, Modula, 256) }
func BenchmarkNewSlots16(b *testing.B)   { benchNew(b, Slots, 16) }

func BenchmarkHash(b *testing.B) {
	key := []byte("user:1000:profile:settings")
	for _, name := range HashNames() {
		h, _ := HashByName(name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(key)))
			var sink uint32
			for b.Loop() {
				sink += h(key)
			}
			_ = sink
		})
	}
}
