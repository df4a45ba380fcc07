package backend

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// The HyperLogLog representation of Redis 7.0 (hyperloglog.c), byte for
// byte, so that a value moves between redis-server and shardis-server as
// an ordinary string (GET/SET, DUMP/RESTORE) and PFCOUNT gives the same
// numbers on both:
//
//	"HYLL" | encoding (0 dense, 1 sparse) | 3 unused | cardinality (LE uint64)
//
// The cached cardinality is valid unless the top bit of its last byte is
// set. Dense: 16384 registers of 6 bits, packed from the least significant
// bit of each byte. Sparse: run-length opcodes, ZERO 00xxxxxx (1..64 zero
// registers), XZERO 01xxxxxx yyyyyyyy (1..16384), VAL 1vvvvvxx (1..4
// registers of value 1..32).
//
// Redis reads one byte past the end of the string in two places: the
// second byte of an XZERO opcode that is the last byte of a corrupt value,
// and the byte after the last dense register. Both read the sds NUL
// terminator; here the readers take byteAt (0 past the end) and hllBuf
// keeps the terminator byte that the in-place updates may write.

const (
	hllP           = 14
	hllQ           = 64 - hllP
	hllRegisters   = 1 << hllP
	hllPMask       = hllRegisters - 1
	hllBits        = 6
	hllRegisterMax = 1<<hllBits - 1
	hllHdrSize     = 16
	hllDenseSize   = hllHdrSize + (hllRegisters*hllBits+7)/8
	hllDense       = 0
	hllSparse      = 1
	hllMaxEncoding = 1

	hllSparseValMaxValue = 32
	hllSparseValMaxLen   = 4
	hllSparseZeroMaxLen  = 64
	hllSparseXZeroMaxLen = 16384

	hllAlphaInf = 0.721347520444481703680 // 0.5/ln(2)
	hllSeed     = 0xadc83b19
)

// Errors as Redis words them.
const (
	errHLLInvalid   = "INVALIDOBJ Corrupted HLL object detected"
	errHLLWrongType = "WRONGTYPE Key is not a valid HyperLogLog string value."
)

// hllEmpty is createHLLObject's value: sparse, one XZERO of 16384
// registers, cached cardinality 0.
const hllEmpty = "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"

// hllValid is isHLLObjectOrReply's check of a string value.
func hllValid(v string) bool {
	if len(v) < hllHdrSize || v[:4] != "HYLL" || v[4] > hllMaxEncoding {
		return false
	}
	return v[4] != hllDense || len(v) == hllDenseSize
}

func hllCacheValid[T ~string | ~[]byte](v T) bool { return v[15]&0x80 == 0 }

func hllInvalidateCache(v []byte) { v[15] |= 0x80 }

// murmurHash64A is Redis' endian-neutral MurmurHash2, 64-bit version.
func murmurHash64A(key []byte, seed uint64) uint64 {
	const m = 0xc6a4a7935bd1e995
	const r = 47
	h := seed ^ (uint64(len(key)) * m)
	n := len(key) &^ 7
	for i := 0; i < n; i += 8 {
		k := binary.LittleEndian.Uint64(key[i:])
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
	}
	t := key[n:]
	switch len(t) {
	case 7:
		h ^= uint64(t[6]) << 48
		fallthrough
	case 6:
		h ^= uint64(t[5]) << 40
		fallthrough
	case 5:
		h ^= uint64(t[4]) << 32
		fallthrough
	case 4:
		h ^= uint64(t[3]) << 24
		fallthrough
	case 3:
		h ^= uint64(t[2]) << 16
		fallthrough
	case 2:
		h ^= uint64(t[1]) << 8
		fallthrough
	case 1:
		h ^= uint64(t[0])
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// hllPatLen is hllPatLen: the register an element hashes to and the
// length of its 000..1 pattern (1..51).
func hllPatLen(ele []byte) (int, uint8) {
	h := murmurHash64A(ele, hllSeed)
	index := int(h & hllPMask)
	h >>= hllP
	h |= 1 << hllQ
	return index, uint8(bits.TrailingZeros64(h) + 1)
}

// byteAt is s[i], or the NUL terminator Redis reads past the end.
func byteAt[T ~string | ~[]byte](s T, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// denseGet reads register reg of the dense registers r. A register whose
// first bit is at 0 or 2 of its byte lies in that byte: Redis also reads
// the next byte but shifts it out, so it is not touched here (the last
// register is such a one).
func denseGet[T ~string | ~[]byte](r T, reg int) uint8 {
	b, fb := reg*hllBits/8, uint(reg*hllBits&7)
	v := uint(r[b]) >> fb
	if fb > 8-hllBits {
		v |= uint(r[b+1]) << (8 - fb)
	}
	return uint8(v & hllRegisterMax)
}

// denseSet is HLL_DENSE_SET_REGISTER for val <= 63.
func denseSet(r []byte, reg int, val uint8) {
	b, fb := reg*hllBits/8, uint(reg*hllBits&7)
	v := uint(val)
	r[b] &^= byte(hllRegisterMax << fb)
	r[b] |= byte(v << fb)
	if fb > 8-hllBits {
		r[b+1] &^= byte(hllRegisterMax >> (8 - fb))
		r[b+1] |= byte(v >> (8 - fb))
	}
}

// denseSetMax is hllDenseSet: it raises the register to count and
// reports whether it changed.
func denseSetMax(r []byte, reg int, count uint8) bool {
	if count > denseGet(r, reg) {
		denseSet(r, reg, count)
		return true
	}
	return false
}

// denseRegHisto is hllDenseRegHisto: 16 registers per 12 bytes.
func denseRegHisto[T ~string | ~[]byte](r T, h *[64]int) {
	for j := 0; j < hllRegisters*hllBits/8; j += 12 {
		r := r[j : j+12]
		h[r[0]&63]++
		h[(r[0]>>6|r[1]<<2)&63]++
		h[(r[1]>>4|r[2]<<4)&63]++
		h[(r[2]>>2)&63]++
		h[r[3]&63]++
		h[(r[3]>>6|r[4]<<2)&63]++
		h[(r[4]>>4|r[5]<<4)&63]++
		h[(r[5]>>2)&63]++
		h[r[6]&63]++
		h[(r[6]>>6|r[7]<<2)&63]++
		h[(r[7]>>4|r[8]<<4)&63]++
		h[(r[8]>>2)&63]++
		h[r[9]&63]++
		h[(r[9]>>6|r[10]<<2)&63]++
		h[(r[10]>>4|r[11]<<4)&63]++
		h[(r[11]>>2)&63]++
	}
}

// Sparse opcodes.
func sparseIsZero(op byte) bool  { return op&0xc0 == 0 }
func sparseIsXZero(op byte) bool { return op&0xc0 == 0x40 }
func sparseIsVal(op byte) bool   { return op&0x80 != 0 }
func sparseZeroLen(op byte) int  { return int(op&0x3f) + 1 }
func sparseValValue(op byte) int { return int(op>>2&0x1f) + 1 }
func sparseValLen(op byte) int   { return int(op&3) + 1 }
func sparseXZeroLen(op, next byte) int {
	return (int(op&0x3f)<<8 | int(next)) + 1
}
func sparseVal(val, n int) byte { return byte((val-1)<<2|(n-1)) | 0x80 }

// sparseZeros writes a ZERO or XZERO opcode for n registers and returns
// its length.
func sparseZeros(p []byte, n int) int {
	if n > hllSparseZeroMaxLen {
		n--
		p[0], p[1] = byte(n>>8)|0x40, byte(n)
		return 2
	}
	p[0] = byte(n - 1)
	return 1
}

// sparseRegHisto is hllSparseRegHisto over v[hllHdrSize:]; it reports
// whether the opcodes cover exactly the 16384 registers.
func sparseRegHisto(v string, h *[64]int) bool {
	idx := 0
	for p := hllHdrSize; p < len(v); {
		op := v[p]
		switch {
		case sparseIsZero(op):
			n := sparseZeroLen(op)
			idx += n
			h[0] += n
			p++
		case sparseIsXZero(op):
			n := sparseXZeroLen(op, byteAt(v, p+1))
			idx += n
			h[0] += n
			p += 2
		default:
			n := sparseValLen(op)
			idx += n
			h[sparseValValue(op)] += n
			p++
		}
	}
	return idx == hllRegisters
}

// sparseToDense is hllSparseToDense for the sparse value s[:end] (s may
// hold the terminator byte after end): the dense value, with s's header
// and encoding dense, or false if the opcodes do not cover exactly the
// 16384 registers. Redis 7.0 counts in a C int, which a value of 2^32
// zero registers wraps (CVE-2025-32023): here it stops as soon as the
// count passes 16384, as later Redis versions do.
func sparseToDense[T ~string | ~[]byte](s T, end int) ([]byte, bool) {
	d := make([]byte, hllDenseSize)
	for i := 0; i < hllHdrSize; i++ {
		d[i] = s[i]
	}
	d[4] = hllDense
	regs := d[hllHdrSize:]
	idx := 0
	for p := hllHdrSize; p < end && idx <= hllRegisters; {
		op := s[p]
		switch {
		case sparseIsZero(op):
			idx += sparseZeroLen(op)
			p++
		case sparseIsXZero(op):
			idx += sparseXZeroLen(op, byteAt(s, p+1))
			p += 2
		default:
			n, val := sparseValLen(op), uint8(sparseValValue(op))
			if n+idx > hllRegisters {
				return nil, false
			}
			for ; n > 0; n-- {
				denseSet(regs, idx, val)
				idx++
			}
			p++
		}
	}
	return d, idx == hllRegisters
}

// hllMergeInto is hllMerge: max[i] = MAX(max[i], register i of v) for a
// validated value v; false if v is a corrupt sparse value.
func hllMergeInto(max *[hllRegisters]uint8, v string) bool {
	if v[4] == hllDense {
		regs := v[hllHdrSize:]
		for i := range max {
			if r := denseGet(regs, i); r > max[i] {
				max[i] = r
			}
		}
		return true
	}
	i := 0
	for p := hllHdrSize; p < len(v) && i <= hllRegisters; {
		op := v[p]
		switch {
		case sparseIsZero(op):
			i += sparseZeroLen(op)
			p++
		case sparseIsXZero(op):
			i += sparseXZeroLen(op, byteAt(v, p+1))
			p += 2
		default:
			n, val := sparseValLen(op), uint8(sparseValValue(op))
			if n+i > hllRegisters {
				return false
			}
			for ; n > 0; n-- {
				if val > max[i] {
					max[i] = val
				}
				i++
			}
			p++
		}
	}
	return i == hllRegisters
}

// hllSigma and hllTau are the helper functions of Otmar Ertl's estimator
// ("New cardinality estimation algorithms for HyperLogLog sketches",
// arXiv:1702.01284) as Redis computes them. The float64() conversions keep
// the compiler from fusing multiply-adds, which Redis' build does not.
func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		zPrime := z
		z += float64(x * y)
		y += y
		if zPrime == z {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		zPrime := z
		y *= 0.5
		d := 1 - x
		z -= float64(float64(d*d) * y)
		if zPrime == z {
			return z / 3
		}
	}
}

// hllEstimate is the estimator of hllCount over a register histogram.
func hllEstimate(h *[64]int) uint64 {
	m := float64(hllRegisters)
	z := float64(m * hllTau((m-float64(h[hllQ+1]))/m))
	for j := hllQ; j >= 1; j-- {
		z += float64(h[j])
		z *= 0.5
	}
	z += float64(m * hllSigma(float64(h[0])/m))
	return llroundToUint(hllAlphaInf * m * m / z)
}

// llroundToUint is (uint64_t)(double)llroundl(x) on x86-64: llroundl
// gives LLONG_MIN for a value out of range (a corrupt dense value can make
// the estimate infinite), which converts to 1<<63.
func llroundToUint(x float64) uint64 {
	r := math.Round(x)
	if math.IsNaN(r) || r >= 1<<63 || r < -(1<<63) {
		return 1 << 63
	}
	if r < 0 {
		return uint64(int64(r)) // never for an estimate: all terms are >= 0
	}
	return uint64(r)
}

// hllCount is hllCount for a validated value: false if it is a corrupt
// sparse value.
func hllCount(v string) (uint64, bool) {
	var h [64]int
	if v[4] == hllDense {
		denseRegHisto(v[hllHdrSize:], &h)
	} else if !sparseRegHisto(v, &h) {
		return 0, false
	}
	return hllEstimate(&h), true
}

// hllCountRaw is hllCount of the internal raw encoding (one byte per
// register), PFCOUNT's union of several keys.
func hllCountRaw(max *[hllRegisters]uint8) uint64 {
	var h [64]int
	for _, r := range max {
		h[r&63]++
	}
	return hllEstimate(&h)
}
