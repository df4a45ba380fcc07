package backend

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// HyperLogLog commands (hyperloglog.c). The value is an ordinary string in
// Redis' format (hyperloglog_repr.go). Writes build a new value — stored
// strings are immutable — and emit what Redis propagates: PFADD and
// PFMERGE as sent, PFCOUNT of one key when it refreshed the cached
// cardinality (the value changed), PFDEBUG GETREG/TODENSE when they
// converted the value to dense.

func hllCommands() []*cmdSpec {
	const g = "hyperloglog"
	acl := []string{"@hyperloglog"}
	return []*cmdSpec{
		{name: "pfadd", handler: cmdPFAdd, arity: -2, flags: flagWrite | flagDenyOOM | flagFast, first: 1, last: 1, step: 1, group: g, since: "2.8.9", acl: acl,
			summary: "Adds the specified elements to the specified HyperLogLog.", complexity: "O(1) to add every element."},
		{name: "pfcount", handler: cmdPFCount, arity: -2, flags: flagReadonly | flagMayReplicate, first: 1, last: -1, step: 1, group: g, since: "2.8.9", acl: acl,
			summary:    "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
			complexity: "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys."},
		{name: "pfmerge", handler: cmdPFMerge, arity: -2, flags: flagWrite | flagDenyOOM, first: 1, last: -1, step: 1, group: g, since: "2.8.9", acl: acl,
			summary: "Merge N different HyperLogLogs into a single one.", complexity: "O(N) to merge N HyperLogLogs, but with high constant times."},
		{name: "pfdebug", handler: cmdPFDebug, arity: 3, flags: flagWrite | flagDenyOOM | flagAdmin, first: 2, last: 2, step: 1, group: g, since: "2.8.9", acl: acl,
			summary: "Internal commands for debugging HyperLogLog values", complexity: "N/A"},
		{name: "pfselftest", handler: cmdPFSelfTest, arity: 1, flags: flagAdmin, group: g, since: "2.8.9", acl: acl,
			summary: "An internal command for testing HyperLogLog values", complexity: "N/A"},
	}
}

// hllLookup checks a live entry as isHLLObjectOrReply: its string value,
// or the error to reply with.
func hllLookup(e entry) (string, string) {
	if e.isObject() {
		return "", errWrongType
	}
	v := e.str()
	if !hllValid(v) {
		return "", errHLLWrongType
	}
	return v, ""
}

// storeHLL stores a new value for key, keeping its expiry.
func storeHLL(tx *Tx, sh *shard, key []byte, v []byte) {
	tx.put(sh, newStringEntry(hashKey(key), key, v), true)
}

func cmdPFAdd(c *Client, args [][]byte) {
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, found := tx.lookup(key)
	var b hllBuf
	updated := 0
	if !found {
		b = newHLLBuf(hllEmpty)
		updated++
	} else {
		v, msg := hllLookup(e)
		if msg != "" {
			c.err(msg)
			return
		}
		if v[4] == hllDense && !denseWouldChange(v, args[2:]) {
			c.int(0) // the common case of a large HLL: no copy
			return
		}
		b = newHLLBuf(v)
	}
	maxBytes := c.s.limits.hllSparseMax.Load()
	for _, ele := range args[2:] {
		switch b.add(ele, maxBytes) {
		case 1:
			updated++
		case -1:
			// Redis keeps what the elements before this one changed,
			// without propagating it; here the change is stored and the
			// command emitted, which replays the same way (error
			// included), so replicas and the AOF keep the same bytes.
			if updated > 0 {
				storeHLL(tx, sh, key, b.s)
				c.emitSelf(tx)
			}
			c.err(errHLLInvalid)
			return
		}
	}
	if updated == 0 {
		c.int(0)
		return
	}
	hllInvalidateCache(b.s)
	storeHLL(tx, sh, key, b.s)
	tx.notify(notifyString, "pfadd", key)
	c.emitSelf(tx)
	c.int(1)
}

// denseWouldChange reports whether adding elements raises a register of
// the dense value v.
func denseWouldChange(v string, elements [][]byte) bool {
	regs := v[hllHdrSize:]
	for _, ele := range elements {
		if index, count := hllPatLen(ele); count > denseGet(regs, index) {
			return true
		}
	}
	return false
}

func cmdPFCount(c *Client, args [][]byte) {
	if len(args) > 2 {
		pfcountUnion(c, args[1:])
		return
	}
	key := args[1]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, found := tx.lookupRead(key)
	if !found {
		c.int(0)
		return
	}
	v, msg := hllLookup(e)
	if msg != "" {
		c.err(msg)
		return
	}
	if hllCacheValid(v) {
		c.int(int64(binary.LittleEndian.Uint64(sbytes(v[8:16]))))
		return
	}
	card, ok := hllCount(v)
	if !ok {
		c.err(errHLLInvalid)
		return
	}
	// The value changes (its cache): Redis propagates this PFCOUNT.
	var cb [8]byte
	binary.LittleEndian.PutUint64(cb[:], card)
	tx.put(sh, newStringEntry(e.hash, key, sbytes(v[:8]), cb[:], sbytes(v[hllHdrSize:])), true)
	c.emitSelf(tx)
	c.int(int64(card))
}

// pfcountUnion is PFCOUNT of several keys: the cardinality of their
// union, computed without writing.
func pfcountUnion(c *Client, keys [][]byte) {
	var max [hllRegisters]uint8
	tx := c.begin()
	tx.lockKeys(keys...)
	defer c.commit()
	if _, ok := mergeKeys(c, tx, keys, &max); ok {
		c.int(int64(hllCountRaw(&max)))
	}
}

// mergeKeys merges the registers of the HLLs at keys (missing keys are
// empty HLLs) into max. It reports whether one of them is dense, or
// replies with the error and returns false.
func mergeKeys(c *Client, tx *Tx, keys [][]byte, max *[hllRegisters]uint8) (dense, ok bool) {
	for _, k := range keys {
		e, _, found := tx.lookupRead(k)
		if !found {
			continue
		}
		v, msg := hllLookup(e)
		if msg != "" {
			c.err(msg)
			return false, false
		}
		dense = dense || v[4] == hllDense
		if !hllMergeInto(max, v) {
			c.err(errHLLInvalid)
			return false, false
		}
	}
	return dense, true
}

func cmdPFMerge(c *Client, args [][]byte) {
	var max [hllRegisters]uint8
	dest := args[1]
	tx := c.begin()
	tx.lockKeys(args[1:]...)
	defer c.commit()
	useDense, ok := mergeKeys(c, tx, args[1:], &max)
	if !ok {
		return
	}
	e, sh, found := tx.lookup(dest)
	b := newHLLBuf(hllEmpty)
	if found {
		b = newHLLBuf(e.str()) // a valid HLL: it was merged above
	}
	if useDense && !b.toDense() {
		c.err(errHLLInvalid)
		return
	}
	maxBytes := c.s.limits.hllSparseMax.Load()
	for j, r := range max {
		if r != 0 {
			b.set(j, r, maxBytes)
		}
	}
	hllInvalidateCache(b.s)
	storeHLL(tx, sh, dest, b.s)
	tx.notify(notifyString, "pfadd", dest)
	c.emitSelf(tx)
	c.ok()
}

func cmdPFDebug(c *Client, args [][]byte) {
	sub, key := strings.ToLower(string(args[1])), args[2]
	tx := c.begin()
	tx.lockKey(key)
	defer c.commit()
	e, sh, found := tx.lookup(key)
	if !found {
		c.err("ERR The specified key does not exist")
		return
	}
	v, msg := hllLookup(e)
	if msg != "" {
		c.err(msg)
		return
	}
	// toDense converts the value and stores it; Redis propagates the
	// command that did it.
	toDense := func() (string, bool) {
		if v[4] == hllDense {
			return v, true
		}
		b := newHLLBuf(v)
		if !b.toDense() {
			c.err(errHLLInvalid)
			return "", false
		}
		storeHLL(tx, sh, key, b.s)
		c.emitSelf(tx)
		return bstr(b.s), true
	}
	switch sub {
	case "getreg":
		d, ok := toDense()
		if !ok {
			return
		}
		c.array(hllRegisters)
		regs := d[hllHdrSize:]
		for j := 0; j < hllRegisters; j++ {
			c.int(int64(denseGet(regs, j)))
		}
	case "decode":
		if v[4] != hllSparse {
			c.err("ERR HLL encoding is not sparse")
			return
		}
		c.bulkString(hllDecode(v))
	case "encoding":
		if v[4] == hllDense {
			c.status("dense")
		} else {
			c.status("sparse")
		}
	case "todense":
		conv := v[4] == hllSparse
		if _, ok := toDense(); !ok {
			return
		}
		if conv {
			c.int(1)
		} else {
			c.int(0)
		}
	default:
		// addReplyErrorFormat turns newlines into spaces.
		c.err("ERR Unknown PFDEBUG subcommand '" + strings.NewReplacer("\r", " ", "\n", " ").Replace(string(args[1])) + "'")
	}
}

// hllDecode is PFDEBUG DECODE's listing of a sparse value's opcodes.
func hllDecode(v string) string {
	var sb strings.Builder
	for p := hllHdrSize; p < len(v); {
		op := v[p]
		switch {
		case sparseIsZero(op):
			fmt.Fprintf(&sb, "z:%d ", sparseZeroLen(op))
			p++
		case sparseIsXZero(op):
			fmt.Fprintf(&sb, "Z:%d ", sparseXZeroLen(op, byteAt(v, p+1)))
			p += 2
		default:
			fmt.Fprintf(&sb, "v:%d,%d ", sparseValValue(op), sparseValLen(op))
			p++
		}
	}
	return strings.Trim(sb.String(), " ")
}

// cmdPFSelfTest is pfselftestCommand: the dense register accessors keep
// every value without touching their neighbours, and dense and sparse
// HLLs fed the same 10 million elements agree, within the expected error.
func cmdPFSelfTest(c *Client, args [][]byte) {
	if msg := hllSelfTest(c.s.limits.hllSparseMax.Load()); msg != "" {
		c.err(msg)
		return
	}
	c.ok()
}

const hllTestCycles = 1000

func hllSelfTest(maxBytes int64) string {
	regs := make([]byte, hllDenseSize-hllHdrSize)
	var want [hllRegisters]uint8
	for j := 0; j < hllTestCycles; j++ {
		for i := range want {
			r := uint8(rand.Uint32() & hllRegisterMax)
			want[i] = r
			denseSet(regs, i, r)
		}
		for i := range want {
			if v := denseGet(regs, i); v != want[i] {
				return fmt.Sprintf("TESTFAILED Register %d should be %d but is %d", i, want[i], v)
			}
		}
	}

	clear(regs)
	dense := make([]byte, hllDenseSize)
	copy(dense, "HYLL")
	regs = dense[hllHdrSize:]
	sparse := newHLLBuf(hllEmpty)
	relerr := 1.04 / math.Sqrt(hllRegisters)
	checkpoint := int64(1)
	seed := rand.Uint64()
	var ele [8]byte
	for j := int64(1); j <= 10000000; j++ {
		binary.LittleEndian.PutUint64(ele[:], uint64(j)^seed)
		index, count := hllPatLen(ele[:])
		denseSetMax(regs, index, count)
		sparse.set(index, count, maxBytes)
		if j != checkpoint {
			continue
		}
		if j < maxBytes/2 && sparse.s[4] != hllSparse {
			return "TESTFAILED sparse encoding not used"
		}
		dc, _ := hllCount(bstr(dense))
		sc, _ := hllCount(bstr(sparse.s))
		if dc != sc {
			return "TESTFAILED dense/sparse disagree"
		}
		abserr := checkpoint - int64(dc)
		maxerr := uint64(math.Ceil(relerr * 6 * float64(checkpoint)))
		if j == 10 {
			maxerr = 1
		}
		if abserr < 0 {
			abserr = -abserr
		}
		if abserr > int64(maxerr) {
			return "TESTFAILED Too big error. card:" + strconv.FormatInt(checkpoint, 10) + " abserr:" + strconv.FormatInt(abserr, 10)
		}
		checkpoint *= 10
	}
	return ""
}
