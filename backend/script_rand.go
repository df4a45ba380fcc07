package backend

import "sync"

// rand48 is Redis' redisLrand48 (rand.c): the 48-bit linear congruential
// generator of lrand48, one per server like Redis' (math.random of
// scripts; Redis 7 does not reseed it per script run, as scripts are
// replicated by their effects).
type rand48 struct {
	mu     sync.Mutex
	x      uint64
	seeded bool
}

const (
	rand48A    = 0x5DEECE66D
	rand48C    = 0xB
	rand48Mask = 1<<48 - 1
)

// seed is redisSrand48.
func (r *rand48) seed(s int32) {
	r.mu.Lock()
	r.x = uint64(uint32(s))<<16 | 0x330E
	r.seeded = true
	r.mu.Unlock()
}

// next is redisLrand48: 31 random bits.
func (r *rand48) next() int32 {
	r.mu.Lock()
	if !r.seeded {
		r.x, r.seeded = 0x1234ABCD330E, true
	}
	r.x = (rand48A*r.x + rand48C) & rand48Mask
	v := int32(r.x >> 17)
	r.mu.Unlock()
	return v
}
