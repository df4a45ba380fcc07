package backend

// hllBuf is a private copy of an HLL value being modified (PFADD, PFMERGE,
// PFDEBUG, PFSELFTEST): the stored string is immutable, so a command
// copies it, updates the copy as Redis updates its unshared sds in place,
// and stores the result. Like an sds, s keeps a terminator byte and spare
// room after len(s): Redis' in-place sparse update can read the byte at
// the end and, for a corrupt value ending in half an XZERO opcode, write
// there; later updates of the same command see it.
type hllBuf struct {
	s []byte
}

// hllSlack is sdsMakeRoomFor(3) plus the terminator.
const hllSlack = 4

func newHLLBuf(v string) hllBuf {
	s := make([]byte, len(v), len(v)+hllSlack+min(len(v)/8, 256))
	copy(s, v)
	return hllBuf{s: s}
}

// makeRoom is sdsMakeRoomFor(3): the terminator byte is kept.
func (b *hllBuf) makeRoom() {
	if cap(b.s)-len(b.s) >= hllSlack {
		return
	}
	n := make([]byte, len(b.s), 2*len(b.s)+hllSlack)
	copy(n[:len(b.s)+1], b.s[:len(b.s)+1])
	b.s = n
}

// incrLen is sdsIncrLen: it moves the end and writes the terminator.
func (b *hllBuf) incrLen(d int) {
	b.s = b.s[:len(b.s)+d]
	b.s[:len(b.s)+1][len(b.s)] = 0
}

// withTerm is the value with the terminator byte after it.
func (b *hllBuf) withTerm() []byte {
	if cap(b.s) > len(b.s) {
		return b.s[:len(b.s)+1]
	}
	return b.s
}

// add is hllAdd: 1 if a register changed, 0 if not, -1 for a corrupt
// value.
func (b *hllBuf) add(ele []byte, maxBytes int64) int {
	index, count := hllPatLen(ele)
	return b.set(index, count, maxBytes)
}

// set raises register index to count in either encoding.
func (b *hllBuf) set(index int, count uint8, maxBytes int64) int {
	switch b.s[4] {
	case hllDense:
		if denseSetMax(b.s[hllHdrSize:], index, count) {
			return 1
		}
		return 0
	case hllSparse:
		return b.sparseSet(index, count, maxBytes)
	}
	return -1
}

// toDense converts a sparse value in place (hllSparseToDense); false if
// it is corrupt. A dense value is left as it is.
func (b *hllBuf) toDense() bool {
	if b.s[4] == hllDense {
		return true
	}
	d, ok := sparseToDense(b.withTerm(), len(b.s))
	if !ok {
		return false
	}
	b.s = d
	return true
}

// sparseSet is hllSparseSet: it raises register index of a sparse value
// to count, splitting the opcode that covers it and merging equal
// neighbours, or promotes the value to dense when count does not fit a
// VAL opcode or the value would grow past maxBytes
// (hll-sparse-max-bytes). It returns 1 if the register changed, 0 if not,
// -1 for a corrupt value.
func (b *hllBuf) sparseSet(index int, count uint8, maxBytes int64) int {
	if count > hllSparseValMaxValue {
		return b.promote(index, count)
	}
	b.makeRoom()
	s := b.s[:cap(b.s)]
	end := len(b.s)

	// Step 1: find the opcode covering index.
	p, first, span, prev := hllHdrSize, 0, 0, -1
	for p < end {
		op, oplen := s[p], 1
		switch {
		case sparseIsZero(op):
			span = sparseZeroLen(op)
		case sparseIsVal(op):
			span = sparseValLen(op)
		default:
			span = sparseXZeroLen(op, s[p+1])
			oplen = 2
		}
		if index <= first+span-1 {
			break
		}
		prev = p
		p += oplen
		first += span
	}
	if span == 0 || p >= end {
		return -1
	}
	op := s[p]
	next := p + 1
	if sparseIsXZero(op) {
		next = p + 2
	}
	if next >= end {
		next = -1
	}

	// Step 2: the trivial cases, then the general split.
	switch {
	case sparseIsVal(op) && sparseValValue(op) >= int(count):
		return 0
	case sparseIsVal(op) && sparseValLen(op) == 1, sparseIsZero(op) && sparseZeroLen(op) == 1:
		s[p] = sparseVal(int(count), 1)
	default:
		var seq [5]byte
		n := 0
		last := first + span - 1
		if sparseIsVal(op) {
			cur := sparseValValue(op)
			if index != first {
				seq[n] = sparseVal(cur, index-first)
				n++
			}
			seq[n] = sparseVal(int(count), 1)
			n++
			if index != last {
				seq[n] = sparseVal(cur, last-index)
				n++
			}
		} else {
			if index != first {
				n += sparseZeros(seq[n:], index-first)
			}
			seq[n] = sparseVal(int(count), 1)
			n++
			if index != last {
				n += sparseZeros(seq[n:], last-index)
			}
		}
		// Step 3: replace the old opcode with the sequence.
		oldlen := 1
		if sparseIsXZero(op) {
			oldlen = 2
		}
		delta := n - oldlen
		if delta > 0 && int64(len(b.s)+delta) > maxBytes {
			return b.promote(index, count)
		}
		if delta != 0 && next >= 0 {
			copy(s[next+delta:], s[next:end])
		}
		b.incrLen(delta)
		copy(s[p:], seq[:n])
		end += delta
	}

	// Step 4: merge adjacent VAL opcodes of the same value, scanning up
	// to 5 opcodes from the one before the change.
	p = prev
	if p < 0 {
		p = hllHdrSize
	}
	for scan := 5; p < end && scan > 0; {
		scan--
		op := s[p]
		if sparseIsXZero(op) {
			p += 2
			continue
		}
		if sparseIsZero(op) {
			p++
			continue
		}
		if p+1 < end && sparseIsVal(s[p+1]) {
			v1, v2 := sparseValValue(op), sparseValValue(s[p+1])
			if l := sparseValLen(op) + sparseValLen(s[p+1]); v1 == v2 && l <= hllSparseValMaxLen {
				s[p+1] = sparseVal(v1, l)
				copy(s[p:], s[p+1:end+1])
				b.incrLen(-1)
				end--
				continue
			}
		}
		p++
	}
	hllInvalidateCache(b.s)
	return 1
}

// promote converts to dense and sets the register there; the register
// always changes (it needed an update that the sparse form could not
// hold), as Redis asserts.
func (b *hllBuf) promote(index int, count uint8) int {
	if !b.toDense() {
		return -1
	}
	denseSetMax(b.s[hllHdrSize:], index, count)
	return 1
}
