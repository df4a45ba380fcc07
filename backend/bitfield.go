package backend

import (
	"bytes"
	"math"
)

// BITFIELD and BITFIELD_RO (bitfieldGeneric in bitops.c): GET, SET and
// INCRBY of signed (i1..i64) and unsigned (u1..u63) integers at any bit
// offset, with OVERFLOW WRAP|SAT|FAIL applying to the operations after
// it. All arguments are parsed before anything runs; a write runs its
// operations on a private copy of the value, grown to the highest bit
// written, which is stored (and the command emitted as sent) when the key
// was created or grew or a value changed.

const (
	errBitfieldType     = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
	errBitfieldOverflow = "ERR Invalid OVERFLOW type specified"
	errBitfieldRO       = "ERR BITFIELD_RO only supports the GET subcommand"
)

// Operations and overflow behaviours.
const (
	bfGet = iota
	bfSet
	bfIncrBy
)

const (
	bfWrap = iota
	bfSat
	bfFail
)

type bitfieldOp struct {
	offset   uint64 // bit offset
	val      int64  // SET value or INCRBY increment
	opcode   int
	overflow int
	bits     uint
	signed   bool
}

// parseBitfield parses the subcommands (the arguments after the key):
// the operations, whether all are GETs, the highest bit a write reaches,
// or the error to reply with. Offsets may address bytes below limit.
func parseBitfield(args [][]byte, limit int64) (ops []bitfieldOp, readonly bool, highest uint64, msg string) {
	readonly = true
	overflow := bfWrap
	for j := 0; j < len(args); j++ {
		rem := len(args) - j - 1
		op := bitfieldOp{overflow: overflow}
		switch sub := args[j]; {
		case eqFoldC(sub, "get") && rem >= 2:
			op.opcode = bfGet
		case eqFoldC(sub, "set") && rem >= 3:
			op.opcode = bfSet
		case eqFoldC(sub, "incrby") && rem >= 3:
			op.opcode = bfIncrBy
		case eqFoldC(sub, "overflow") && rem >= 1:
			j++
			switch t := args[j]; {
			case eqFoldC(t, "wrap"):
				overflow = bfWrap
			case eqFoldC(t, "sat"):
				overflow = bfSat
			case eqFoldC(t, "fail"):
				overflow = bfFail
			default:
				return nil, false, 0, errBitfieldOverflow
			}
			continue
		default:
			return nil, false, 0, errSyntax
		}
		var ok bool
		if op.signed, op.bits, ok = parseBitfieldType(args[j+1]); !ok {
			return nil, false, 0, errBitfieldType
		}
		if op.offset, ok = parseBitOffset(args[j+2], true, int(op.bits), limit); !ok {
			return nil, false, 0, errBitOffset
		}
		if op.opcode != bfGet {
			readonly = false
			highest = max(highest, op.offset+uint64(op.bits)-1)
			if op.val, ok = parseInt(args[j+3]); !ok {
				return nil, false, 0, errNotInteger
			}
			j++
		}
		ops = append(ops, op)
		j += 2
	}
	return ops, readonly, highest, ""
}

// parseBitfieldType is getBitfieldTypeFromArgument: i1..i64 or u1..u63
// (the number read as C reads it, up to a NUL byte).
func parseBitfieldType(b []byte) (signed bool, n uint, ok bool) {
	if len(b) == 0 || (b[0] != 'i' && b[0] != 'u') {
		return false, 0, false
	}
	signed = b[0] == 'i'
	num := b[1:]
	if i := bytes.IndexByte(num, 0); i >= 0 {
		num = num[:i]
	}
	v, ok := parseInt(num)
	if !ok || v < 1 || (signed && v > 64) || (!signed && v > 63) {
		return false, 0, false
	}
	return signed, uint(v), true
}

// runBitfield runs ops on p, which must hold every bit a SET or INCRBY
// reaches (a GET reads bits beyond p as zeros), calling reply with each
// operation's result (ok false: nil, an overflow with FAIL). It reports
// whether a write changed a value.
func runBitfield(ops []bitfieldOp, p []byte, reply func(v int64, ok bool)) (changed bool) {
	for _, op := range ops {
		if op.opcode == bfGet {
			v := getUnsignedBitfield(p, op.offset, op.bits)
			if op.signed {
				v = uint64(signExtend(v, op.bits))
			}
			reply(int64(v), true)
			continue
		}
		var oldval, newval, retval uint64
		var overflow bool
		if op.signed {
			old := signExtend(getUnsignedBitfield(p, op.offset, op.bits), op.bits)
			var nv, wrapped int64
			var of int
			if op.opcode == bfIncrBy {
				of, wrapped = signedOverflow(old, op.val, op.bits, op.overflow)
				nv = old + op.val
				if of != 0 {
					nv = wrapped
				}
				retval = uint64(nv)
			} else {
				nv = op.val
				if of, wrapped = signedOverflow(nv, 0, op.bits, op.overflow); of != 0 {
					nv = wrapped
				}
				retval = uint64(old)
			}
			oldval, newval, overflow = uint64(old), uint64(nv), of != 0
		} else {
			old := getUnsignedBitfield(p, op.offset, op.bits)
			var nv, wrapped uint64
			var of int
			if op.opcode == bfIncrBy {
				nv = old + uint64(op.val)
				if of, wrapped = unsignedOverflow(old, op.val, op.bits, op.overflow); of != 0 {
					nv = wrapped
				}
				retval = nv
			} else {
				nv = uint64(op.val)
				if of, wrapped = unsignedOverflow(nv, 0, op.bits, op.overflow); of != 0 {
					nv = wrapped
				}
				retval = old
			}
			oldval, newval, overflow = old, nv, of != 0
		}
		if overflow && op.overflow == bfFail {
			reply(0, false)
			continue
		}
		reply(int64(retval), true)
		setUnsignedBitfield(p, op.offset, op.bits, newval)
		changed = changed || oldval != newval
	}
	return changed
}

// getUnsignedBitfield reads n bits at bit offset off, big endian; bits
// beyond p read as zeros.
func getUnsignedBitfield(p []byte, off uint64, n uint) uint64 {
	var v uint64
	for j := uint(0); j < n; j++ {
		var bit uint64
		if i := off >> 3; i < uint64(len(p)) {
			bit = uint64(p[i]>>(7-off&7)) & 1
		}
		v = v<<1 | bit
		off++
	}
	return v
}

// setUnsignedBitfield writes the low n bits of v at bit offset off.
func setUnsignedBitfield(p []byte, off uint64, n uint, v uint64) {
	for j := uint(0); j < n; j++ {
		bit := byte(v>>(n-1-j)) & 1
		shift := 7 - off&7
		p[off>>3] = p[off>>3]&^(1<<shift) | bit<<shift
		off++
	}
}

// signExtend reads the low n bits of v as a two's complement integer.
func signExtend(v uint64, n uint) int64 {
	if n < 64 && v&(1<<(n-1)) != 0 {
		v |= math.MaxUint64 << n
	}
	return int64(v)
}

// unsignedOverflow is checkUnsignedBitfieldOverflow: 1 on overflow, -1 on
// underflow, 0 when value+incr fits in n bits; on overflow limit is the
// result under WRAP or SAT.
func unsignedOverflow(value uint64, incr int64, n uint, ow int) (int, uint64) {
	maxv := uint64(1)<<n - 1 // n <= 63
	maxincr := int64(maxv - value)
	minincr := int64(-value)
	wrap := func() uint64 { return (value + uint64(incr)) &^ (math.MaxUint64 << n) }
	if value > maxv || (incr > 0 && incr > maxincr) {
		switch ow {
		case bfWrap:
			return 1, wrap()
		case bfSat:
			return 1, maxv
		}
		return 1, 0
	}
	if incr < 0 && incr < minincr {
		switch ow {
		case bfWrap:
			return 1, wrap() // Redis reports a wrapped underflow as 1 too
		case bfSat:
			return -1, 0
		}
		return -1, 0
	}
	return 0, 0
}

// signedOverflow is checkSignedBitfieldOverflow.
func signedOverflow(value, incr int64, n uint, ow int) (int, int64) {
	maxv := int64(math.MaxInt64)
	if n != 64 {
		maxv = 1<<(n-1) - 1
	}
	minv := -maxv - 1
	// maxincr and minincr may wrap; they are used only once value is
	// known to be in range, as in Redis.
	maxincr := int64(uint64(maxv) - uint64(value))
	minincr := minv - value
	wrap := func() int64 {
		c := uint64(value) + uint64(incr)
		if n < 64 {
			mask := uint64(math.MaxUint64) << n
			if c&(1<<(n-1)) != 0 {
				c |= mask
			} else {
				c &^= mask
			}
		}
		return int64(c)
	}
	if value > maxv || (n != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
		switch ow {
		case bfWrap:
			return 1, wrap()
		case bfSat:
			return 1, maxv
		}
		return 1, 0
	}
	if value < minv || (n != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
		switch ow {
		case bfWrap:
			return 1, wrap()
		case bfSat:
			return -1, minv
		}
		return -1, 0
	}
	return 0, 0
}

func cmdBitfield(c *Client, args [][]byte)   { bitfieldGeneric(c, args, false) }
func cmdBitfieldRO(c *Client, args [][]byte) { bitfieldGeneric(c, args, true) }

func bitfieldGeneric(c *Client, args [][]byte, ro bool) {
	ops, readonly, highest, msg := parseBitfield(args[2:], bitOffsetLimit(c))
	if msg != "" {
		c.err(msg)
		return
	}
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	reply := func(v int64, ok bool) {
		if ok {
			c.int(v)
		} else {
			c.null()
		}
	}
	if readonly {
		v, _, wrong := readString(tx, key)
		if wrong {
			c.err(errWrongType)
			return
		}
		c.array(len(ops))
		runBitfield(ops, sbytes(v), reply) // GETs only: p is not written
		return
	}
	if ro {
		c.err(errBitfieldRO)
		return
	}
	old, sh, found, ok := stringForWrite(c, tx, key)
	if !ok {
		return
	}
	n := max(len(old), int(highest>>3)+1)
	grown := !found || n != len(old)
	ne, p := newBitmapEntry(key, old, n)
	c.array(len(ops))
	// Redis creates or grows the key even when every write fails
	// (OVERFLOW FAIL) but then does not propagate it: emitting it keeps
	// replicas and the AOF equal to this server.
	applied := 0 // SET and INCRBY that wrote (Redis notifies them on a grown key)
	for _, op := range ops {
		if op.opcode != bfGet {
			applied++
		}
	}
	count := func(v int64, ok bool) {
		if !ok {
			applied--
		}
		reply(v, ok)
	}
	if changed := runBitfield(ops, p, count); changed || grown {
		tx.put(sh, ne, true)
		if changed || applied > 0 {
			tx.notify(notifyString, "setbit", key)
		}
		c.emitSelf(tx)
	}
}
