package hashring

import (
	"errors"
	"fmt"
)

// HashFunc hashes a key (already reduced by HashTag) to 32 bits. Every
// HashFunc of this package is pure, allocation-free and safe for concurrent
// use. Note that twemproxy never hashes an empty key (it uses 0 instead);
// Table.Hash and KeySlot do the same, the raw functions do not.
type HashFunc func(key []byte) uint32

// DefaultHash is twemproxy's default hash function name.
const DefaultHash = "fnv1a_64"

// ErrUnknownHash is returned by HashByName for a name twemproxy does not know.
var ErrUnknownHash = errors.New("unknown hash")

// hashNames lists twemproxy's hash names in its own order (HASH_CODEC).
var hashNames = [...]string{
	"one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
	"fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins",
}

// HashNames returns twemproxy's hash function names, in twemproxy's order.
func HashNames() []string {
	out := make([]string, len(hashNames))
	copy(out, hashNames[:])
	return out
}

// HashByName returns the hash function twemproxy calls name (its `hash:`
// configuration key; names are case-sensitive as in twemproxy). An unknown
// name yields an error wrapping ErrUnknownHash.
func HashByName(name string) (HashFunc, error) {
	switch name {
	case "one_at_a_time":
		return OneAtATime, nil
	case "md5":
		return MD5, nil
	case "crc16":
		return CRC16, nil
	case "crc32":
		return CRC32, nil
	case "crc32a":
		return CRC32a, nil
	case "fnv1_64":
		return FNV1_64, nil
	case "fnv1a_64":
		return FNV1a_64, nil
	case "fnv1_32":
		return FNV1_32, nil
	case "fnv1a_32":
		return FNV1a_32, nil
	case "hsieh":
		return Hsieh, nil
	case "murmur":
		return Murmur, nil
	case "jenkins":
		return Jenkins, nil
	}
	return nil, fmt.Errorf("%w %q (want one of %v)", ErrUnknownHash, name, hashNames)
}

// schar converts a byte the way C converts a (signed, on x86) char read
// from a key to uint32: bytes from 0x80 up are sign-extended. twemproxy's
// FNV, one_at_a_time and hsieh hashes read keys as char, so keys with such
// bytes hash differently from the textbook algorithms; this reproduces it.
func schar(b byte) uint32 { return uint32(int32(int8(b))) }

// OneAtATime is twemproxy's "one_at_a_time" hash (Jenkins' one-at-a-time,
// bytes read as signed char).
func OneAtATime(key []byte) uint32 {
	var v uint32
	for _, b := range key {
		v += schar(b)
		v += v << 10
		v ^= v >> 6
	}
	v += v << 3
	v ^= v >> 11
	v += v << 15
	return v
}

// FNV1_64 is twemproxy's "fnv1_64": 64-bit FNV-1 (multiply, then xor with
// the sign-extended byte) truncated to its low 32 bits.
func FNV1_64(key []byte) uint32 {
	h := uint64(0xcbf29ce484222325)
	for _, b := range key {
		h *= 0x100000001b3
		h ^= uint64(int64(int8(b)))
	}
	return uint32(h)
}

// FNV1a_64 is twemproxy's "fnv1a_64", its default hash. Despite the name it
// runs in 32-bit arithmetic: the 64-bit offset basis and prime truncated to
// 32 bits (0x84222325 and 0x000001b3).
func FNV1a_64(key []byte) uint32 {
	h := uint32(0x84222325)
	for _, b := range key {
		h ^= schar(b)
		h *= 0x1b3
	}
	return h
}

// FNV1_32 is twemproxy's "fnv1_32" (32-bit FNV-1, bytes as signed char).
func FNV1_32(key []byte) uint32 {
	h := uint32(2166136261)
	for _, b := range key {
		h *= 16777619
		h ^= schar(b)
	}
	return h
}

// FNV1a_32 is twemproxy's "fnv1a_32" (32-bit FNV-1a, bytes as signed char).
func FNV1a_32(key []byte) uint32 {
	h := uint32(2166136261)
	for _, b := range key {
		h ^= schar(b)
		h *= 16777619
	}
	return h
}
