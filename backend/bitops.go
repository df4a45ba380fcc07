package backend

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// Bit commands (bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP
// here, BITFIELD and BITFIELD_RO in bitfield.go, LCS (t_string.c) in
// lcs.go. Bit 0 is the most significant bit of the first byte.
//
// Stored strings are immutable, so a write builds the new value in a
// fresh block (newBitmapEntry: one copy of the old value, O(n) per SETBIT
// on an n-byte bitmap, where Redis changes one byte in place). A write that
// changes nothing — SETBIT of a bit to its value, BITFIELD SET of the same
// value — stores and emits nothing, as Redis neither modifies nor
// propagates it (WATCH is not touched either). The writes are
// deterministic and emitted as sent.

func bitCommands() []*cmdSpec {
	const g = "bitmap"
	acl := []string{"@bitmap"}
	return []*cmdSpec{
		{name: "setbit", handler: cmdSetBit, arity: 4, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.2.0", summary: "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", complexity: "O(1)"},
		{name: "getbit", handler: cmdGetBit, arity: 3, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.2.0", summary: "Returns a bit value by offset.", complexity: "O(1)"},
		{name: "bitcount", handler: cmdBitCount, arity: -2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.6.0", summary: "Counts the number of set bits (population counting) in a string.", complexity: "O(N)"},
		{name: "bitpos", handler: cmdBitPos, arity: -3, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "2.8.7", summary: "Finds the first set (1) or clear (0) bit in a string.", complexity: "O(N)"},
		{name: "bitop", handler: cmdBitOp, arity: -4, flags: flagWrite | flagDenyOOM, first: 2, last: -1, step: 1, group: g, acl: acl, since: "2.6.0", summary: "Performs bitwise operations on multiple strings, and stores the result.", complexity: "O(N)"},
		{name: "bitfield", handler: cmdBitfield, arity: -2, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, acl: acl, since: "3.2.0", summary: "Performs arbitrary bitfield integer operations on strings.", complexity: "O(1) for each subcommand specified"},
		{name: "bitfield_ro", handler: cmdBitfieldRO, arity: -2, flags: flagReadonly | flagFast, first: 1, last: 1, step: 1, group: g, acl: acl, since: "6.0.0", summary: "Performs arbitrary read-only bitfield integer operations on strings.", complexity: "O(1) for each subcommand specified"},
		{name: "lcs", handler: cmdLCS, arity: -3, flags: flagReadonly, first: 1, last: 2, step: 1, group: "string", since: "7.0.0", summary: "Finds the longest common substring.", complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively"},
	}
}

const (
	errBitOffset = "ERR bit offset is not an integer or out of range"
	errBitValue  = "ERR bit is not an integer or out of range"
	errBitArg    = "ERR The bit argument must be 1 or 0."
	errBitopNot  = "ERR BITOP NOT must be called with a single source key."
)

// eqFoldC is eqFold with C's strcasecmp semantics, which Redis uses for
// option names: the argument ends at its first NUL byte.
func eqFoldC(b []byte, s string) bool {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return eqFold(b, s)
}

// bitOffsetLimit is the bytes a bit offset may address: proto-max-bulk-len,
// except for the AOF loader and the master link (Redis' mustObeyClient),
// which Redis does not limit and which are held to what this server can
// store.
func bitOffsetLimit(c *Client) int64 {
	if c.internal {
		return maxStringLen
	}
	return c.s.protoMaxBulkLen.Load()
}

// parseBitOffset is getBitOffsetFromArgument: a bit offset, or with hash
// (BITFIELD) "#N" for N*nbits; false when it is not an integer, negative,
// or addresses a byte at or beyond limit.
func parseBitOffset(arg []byte, hash bool, nbits int, limit int64) (uint64, bool) {
	usehash := hash && nbits > 0 && len(arg) > 0 && arg[0] == '#'
	if usehash {
		arg = arg[1:]
	}
	off, ok := parseInt(arg)
	if !ok {
		return 0, false
	}
	if usehash {
		off *= int64(nbits) // wraps as in C; a negative result is refused
	}
	if off < 0 || off>>3 >= limit {
		return 0, false
	}
	return uint64(off), true
}

// newBitmapEntry packs key and an n-byte value starting with old (zero
// padded) into one block, as newStringEntry does, and returns the value's
// bytes: private, and so writable, until the entry is stored.
func newBitmapEntry(key []byte, old string, n int) (entry, []byte) {
	b := make([]byte, len(key)+n)
	copy(b, key)
	copy(b[len(key):], old)
	e := entry{hash: hashKey(key), ptr: unsafe.Pointer(unsafe.SliceData(b)),
		meta: uint64(len(key)) | uint64(n)<<metaValShift}
	return e, b[len(key):]
}

// stringForWrite looks key up for a bit write (lookupStringForBitCommand):
// its string value, its shard and whether it exists; false once WRONGTYPE
// is replied.
func stringForWrite(c *Client, tx *Tx, key []byte) (old string, sh *shard, found, ok bool) {
	e, sh, found := tx.lookup(key)
	if found && e.isObject() {
		c.err(errWrongType)
		return "", nil, false, false
	}
	if found {
		old = e.str()
	}
	return old, sh, found, true
}

func cmdSetBit(c *Client, args [][]byte) {
	off, ok := parseBitOffset(args[2], false, 0, bitOffsetLimit(c))
	if !ok {
		c.err(errBitOffset)
		return
	}
	on, ok := parseInt(args[3])
	if !ok || on&^1 != 0 {
		c.err(errBitValue)
		return
	}
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	old, sh, found, ok := stringForWrite(c, tx, key)
	if !ok {
		return
	}
	i := int(off >> 3)
	shift := 7 - off&7
	var cur byte
	if i < len(old) {
		cur = old[i]
	}
	was := int64(cur>>shift) & 1
	// Redis counts a write when the key is created or grows, or the bit
	// changes; otherwise nothing is stored or propagated.
	if !found || i >= len(old) || was != on {
		ne, v := newBitmapEntry(key, old, max(len(old), i+1))
		v[i] = cur&^(1<<shift) | byte(on)<<shift
		tx.put(sh, ne, true)
		tx.notify(notifyString, "setbit", key)
		c.emitSelf(tx)
	}
	c.int(was)
}

// readStringKey is readString in a Tx of its own: the value stays valid
// after the unlock (stored strings are immutable).
func readStringKey(c *Client, key []byte) (v string, found, wrong bool) {
	tx := c.begin()
	tx.lockKey(key)
	v, found, wrong = readString(tx, key)
	c.commit()
	return v, found, wrong
}

func cmdGetBit(c *Client, args [][]byte) {
	off, ok := parseBitOffset(args[2], false, 0, bitOffsetLimit(c))
	if !ok {
		c.err(errBitOffset)
		return
	}
	v, found, wrong := readStringKey(c, args[1])
	if wrong {
		c.err(errWrongType)
		return
	}
	var bit int64
	if i := off >> 3; found && i < uint64(len(v)) {
		bit = int64(v[i]>>(7-off&7)) & 1
	}
	c.int(bit)
}

// bitRange is the byte range of BITCOUNT and BITPOS once their start, end
// and unit are applied (Redis' code shared by both): bytes start..end, and
// for a BIT range the masks of the bits of the first and last byte that
// lie outside it.
type bitRange struct {
	start, end          int64
	firstMask, lastMask byte
}

// clip converts start and end (inclusive, negative from the end) of a
// string of n bytes, in bits with isbit, to the byte range.
func (r *bitRange) clip(n int64, isbit bool) {
	if isbit {
		n <<= 3
	}
	if r.start < 0 {
		r.start += n
	}
	if r.end < 0 {
		r.end += n
	}
	r.start = max(r.start, 0)
	r.end = max(r.end, 0)
	if r.end >= n {
		r.end = n - 1
	}
	if isbit && r.start <= r.end {
		r.firstMask = ^byte(1<<(8-r.start&7) - 1)
		r.lastMask = byte(1<<(7-r.end&7) - 1)
		r.start >>= 3
		r.end >>= 3
	}
}

// parseBitUnit parses BYTE or BIT.
func parseBitUnit(b []byte) (isbit, ok bool) {
	switch {
	case eqFoldC(b, "bit"):
		return true, true
	case eqFoldC(b, "byte"):
		return false, true
	}
	return false, false
}

func cmdBitCount(c *Client, args [][]byte) {
	v, found, wrong := readStringKey(c, args[1])
	switch {
	case !found:
		c.int(0)
		return
	case wrong:
		c.err(errWrongType)
		return
	}
	var r bitRange
	switch len(args) {
	case 4, 5:
		var ok1, ok2 bool
		r.start, ok1 = parseInt(args[2])
		if ok1 {
			r.end, ok2 = parseInt(args[3])
		}
		if !ok1 || !ok2 {
			c.err(errNotInteger)
			return
		}
		if r.start < 0 && r.end < 0 && r.start > r.end {
			c.int(0)
			return
		}
		isbit := false
		if len(args) == 5 {
			var ok bool
			if isbit, ok = parseBitUnit(args[4]); !ok {
				c.err(errSyntax)
				return
			}
		}
		r.clip(int64(len(v)), isbit)
	case 2:
		r.end = int64(len(v)) - 1
	default:
		c.err(errSyntax)
		return
	}
	if r.start > r.end {
		c.int(0)
		return
	}
	n := popcount(sbytes(v[r.start : r.end+1]))
	n -= int64(bits.OnesCount8(v[r.start]&r.firstMask) + bits.OnesCount8(v[r.end]&r.lastMask))
	c.int(n)
}

// popcount is redisPopcount: the number of bits set in b.
func popcount(b []byte) int64 {
	n := 0
	for ; len(b) >= 8; b = b[8:] {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(b))
	}
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return int64(n)
}

// bitpos is redisBitpos: the position of the first bit equal to bit in b;
// when there is none, -1 for a 1 and len(b)*8 for a 0 (the string is taken
// as zero padded on the right).
func bitpos(b []byte, bit int64) int64 {
	skip := byte(0)
	if bit == 0 {
		skip = 0xff
	}
	word := uint64(skip) * 0x0101010101010101
	i := 0
	for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:]) == word {
		i += 8
	}
	for ; i < len(b); i++ {
		if x := b[i]; x != skip {
			if bit == 0 {
				x = ^x
			}
			return int64(i)*8 + int64(bits.LeadingZeros8(x))
		}
	}
	if bit == 1 {
		return -1
	}
	return int64(len(b)) * 8
}

func cmdBitPos(c *Client, args [][]byte) {
	bit, ok := parseInt(args[2])
	if !ok {
		c.err(errNotInteger)
		return
	}
	if bit != 0 && bit != 1 {
		c.err(errBitArg)
		return
	}
	v, found, wrong := readStringKey(c, args[1])
	switch {
	case !found:
		// A missing key is an infinite run of zeros.
		c.int(-bit)
		return
	case wrong:
		c.err(errWrongType)
		return
	}
	var r bitRange
	endGiven := false
	switch len(args) {
	case 4, 5, 6:
		if r.start, ok = parseInt(args[3]); !ok {
			c.err(errNotInteger)
			return
		}
		isbit := false
		if len(args) == 6 {
			if isbit, ok = parseBitUnit(args[5]); !ok {
				c.err(errSyntax)
				return
			}
		}
		if len(args) >= 5 {
			if r.end, ok = parseInt(args[4]); !ok {
				c.err(errNotInteger)
				return
			}
			endGiven = true
		} else {
			r.end = int64(len(v)) - 1 // no unit without an end: bytes
		}
		r.clip(int64(len(v)), isbit)
	case 3:
		r.end = int64(len(v)) - 1
	default:
		c.err(errSyntax)
		return
	}
	if r.start > r.end {
		c.int(-1) // an empty range holds neither a 0 nor a 1
		return
	}
	pos, start, n := bitposRange(sbytes(v), bit, r)
	// With an explicit end, the bits right of the range are not zero
	// padding: not finding a 0 in it is -1.
	if endGiven && bit == 0 && pos == n<<3 {
		c.int(-1)
		return
	}
	if pos != -1 {
		pos += start << 3
	}
	c.int(pos)
}

// bitposRange is the search of bitposCommand over the range r of p: the
// position found (relative to the start byte, with bitpos' not-found
// values) and the start byte and byte count it is relative to, which
// Redis then adjusts by.
func bitposRange(p []byte, bit int64, r bitRange) (pos, start, n int64) {
	start, n = r.start, r.end-r.start+1
	// masked is the byte at i with the bits outside the range made
	// "not found".
	masked := func(i int64, mask byte) []byte {
		if bit == 1 {
			return []byte{p[i] &^ mask}
		}
		return []byte{p[i] | mask}
	}
	if r.firstMask != 0 {
		mask := r.firstMask
		if r.lastMask != 0 && n == 1 {
			mask |= r.lastMask
		}
		pos = bitpos(masked(start, mask), bit)
		if n == 1 || (pos != -1 && pos != 8) {
			return pos, start, n
		}
		start++
		n--
	}
	cur := n
	if r.lastMask != 0 {
		cur--
	}
	if cur > 0 {
		pos = bitpos(p[start:start+cur], bit)
		if n == cur || (pos != -1 && pos != cur<<3) {
			return pos, start, n
		}
		start += cur
		n -= cur
	}
	return bitpos(masked(r.end, r.lastMask), bit), start, n
}

// BITOP operations.
const (
	bitAnd = iota
	bitOr
	bitXor
	bitNot
)

func cmdBitOp(c *Client, args [][]byte) {
	var op int
	switch name := args[1]; {
	case eqFoldC(name, "and"):
		op = bitAnd
	case eqFoldC(name, "or"):
		op = bitOr
	case eqFoldC(name, "xor"):
		op = bitXor
	case eqFoldC(name, "not"):
		op = bitNot
	default:
		c.err(errSyntax)
		return
	}
	if op == bitNot && len(args) != 4 {
		c.err(errBitopNot)
		return
	}
	dest := args[2]
	tx := c.begin()
	tx.lockKeys(args[2:]...)
	defer c.commit()
	srcs := make([]string, len(args)-3)
	maxlen := 0
	for j, k := range args[3:] {
		e, _, found := tx.lookupRead(k)
		if !found {
			continue // a missing key is a string of zeros
		}
		if e.isObject() {
			c.err(errWrongType)
			return
		}
		srcs[j] = e.str()
		maxlen = max(maxlen, len(srcs[j]))
	}
	if maxlen == 0 {
		// An empty result deletes the destination (and Redis propagates
		// BITOP itself then).
		if e, sh, found := tx.lookup(dest); found {
			tx.remove(sh, e)
			tx.notify(notifyGeneric, "del", dest)
			c.emitSelf(tx)
		}
		c.int(0)
		return
	}
	ne, res := newBitmapEntry(dest, "", maxlen)
	bitop(res, op, srcs)
	tx.put(tx.shardOf(ne.hash), ne, false)
	tx.notify(notifyString, "set", dest)
	c.emitSelf(tx)
	c.int(int64(maxlen))
}

// bitop computes op over srcs into res (len(res) is the longest source;
// shorter sources are zero padded), 8 bytes at a time.
func bitop(res []byte, op int, srcs []string) {
	for j := 0; j < len(res); j += 8 {
		w := load64(srcs[0], j)
		for _, s := range srcs[1:] {
			switch x := load64(s, j); op {
			case bitAnd:
				w &= x
			case bitOr:
				w |= x
			case bitXor:
				w ^= x
			}
		}
		if op == bitNot {
			w = ^w
		}
		if j+8 <= len(res) {
			binary.LittleEndian.PutUint64(res[j:], w)
		} else {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], w)
			copy(res[j:], b[:])
		}
	}
}

// load64 reads bytes j..j+7 of s, zero padded, little endian.
func load64(s string, j int) uint64 {
	if j+8 <= len(s) {
		return binary.LittleEndian.Uint64(sbytes(s[j : j+8]))
	}
	var b [8]byte
	if j < len(s) {
		copy(b[:], s[j:])
	}
	return binary.LittleEndian.Uint64(b[:])
}
