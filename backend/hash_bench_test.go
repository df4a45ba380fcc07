package backend

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// bigHash is a tree-form hash of n fields "element:<i>", as
// redis-benchmark's HSET builds with -r n.
func bigHash(n int) (*hashObj, [][]byte) {
	h := newHashObj()
	h.toBig()
	h.listpack = false
	fields := make([][]byte, n)
	for i := range fields {
		fields[i] = []byte("element:" + strconv.Itoa(i))
		h.set(fields[i], []byte("xxx"))
	}
	return h, fields
}

// BenchmarkHashSetExisting is HSET of an existing field of a 100k-field
// hash (redis-benchmark -t hset -r 100000 after its first pass).
func BenchmarkHashSetExisting(b *testing.B) {
	h, fields := bigHash(100000)
	r := rand.New(rand.NewPCG(1, 2))
	v := []byte("xxx")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.set(fields[r.IntN(len(fields))], v)
	}
}

// BenchmarkHashGet is HGET of an existing field of a 100k-field hash.
func BenchmarkHashGet(b *testing.B) {
	h, fields := bigHash(100000)
	r := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := h.get(fields[r.IntN(len(fields))]); !ok {
			b.Fatal("missing field")
		}
	}
}
