package backend

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"math"
	"slices"
	"strconv"
	"sync"
)

// Decoding of RDB-serialized values (RESTORE payloads): the plain types,
// Redis' integer and LZF string encodings, and the compact containers
// Redis writes — listpack, ziplist, intset, quicklist. Every read is
// bounds-checked: a damaged payload is an error, never a panic.

// restoredValue is a decoded value: a string or an Object.
type restoredValue struct {
	str []byte
	obj Object
}

type rdbReader struct {
	b   []byte
	off int
}

func errBad(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadDump}, a...)...)
}

func (r *rdbReader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errBad("truncated")
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *rdbReader) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.off) {
		return nil, errBad("truncated")
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p, nil
}

// length is rdbLoadLen; enc reports a special string encoding (the value
// is then the encoding type).
func (r *rdbReader) length() (n uint64, enc bool, err error) {
	c, err := r.byte()
	if err != nil {
		return 0, false, err
	}
	switch c >> 6 {
	case 0:
		return uint64(c & 0x3f), false, nil
	case 1:
		d, err := r.byte()
		return uint64(c&0x3f)<<8 | uint64(d), false, err
	case 2:
		switch c {
		case 0x80:
			p, err := r.bytes(4)
			if err != nil {
				return 0, false, err
			}
			return uint64(binary.BigEndian.Uint32(p)), false, nil
		case 0x81:
			p, err := r.bytes(8)
			if err != nil {
				return 0, false, err
			}
			return binary.BigEndian.Uint64(p), false, nil
		}
		return 0, false, errBad("length prefix %#x", c)
	}
	return uint64(c & 0x3f), true, nil
}

// count reads an element count, bounded by what the payload could hold.
func (r *rdbReader) count() (int, error) {
	n, enc, err := r.length()
	if err != nil {
		return 0, err
	}
	if enc || n > uint64(len(r.b)-r.off) {
		return 0, errBad("element count %d", n)
	}
	return int(n), nil
}

// str is rdbGenericLoadStringObject.
func (r *rdbReader) str() ([]byte, error) {
	n, enc, err := r.length()
	if err != nil {
		return nil, err
	}
	if !enc {
		p, err := r.bytes(n)
		return append([]byte(nil), p...), err
	}
	switch n {
	case rdbEncInt8:
		c, err := r.byte()
		return strconv.AppendInt(nil, int64(int8(c)), 10), err
	case rdbEncInt16:
		p, err := r.bytes(2)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, int64(int16(binary.LittleEndian.Uint16(p))), 10), nil
	case rdbEncInt32:
		p, err := r.bytes(4)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, int64(int32(binary.LittleEndian.Uint32(p))), 10), nil
	case rdbEncLZF:
		clen, e1, err := r.length()
		if err != nil || e1 {
			return nil, errBad("lzf length")
		}
		ulen, e2, err := r.length()
		if err != nil || e2 || ulen > maxStringLen {
			return nil, errBad("lzf length")
		}
		p, err := r.bytes(clen)
		if err != nil {
			return nil, err
		}
		return lzfDecompress(p, int(ulen))
	}
	return nil, errBad("string encoding %d", n)
}

// lzfDecompress is liblzf's lzf_decompress; the result must be exactly
// ulen bytes.
func lzfDecompress(in []byte, ulen int) ([]byte, error) {
	out := make([]byte, 0, ulen)
	for ip := 0; ip < len(in); {
		ctrl := int(in[ip])
		ip++
		if ctrl < 32 {
			n := ctrl + 1
			if ip+n > len(in) || len(out)+n > ulen {
				return nil, errBad("lzf literal")
			}
			out = append(out, in[ip:ip+n]...)
			ip += n
			continue
		}
		n := ctrl >> 5
		if n == 7 {
			if ip >= len(in) {
				return nil, errBad("lzf")
			}
			n += int(in[ip])
			ip++
		}
		if ip >= len(in) {
			return nil, errBad("lzf")
		}
		ref := len(out) - ((ctrl & 0x1f) << 8) - 1 - int(in[ip])
		ip++
		n += 2
		if ref < 0 || len(out)+n > ulen {
			return nil, errBad("lzf back reference")
		}
		for i := 0; i < n; i++ {
			out = append(out, out[ref+i])
		}
	}
	if len(out) != ulen {
		return nil, errBad("lzf length mismatch")
	}
	return out, nil
}

// decodeValue decodes a payload body (type byte and value).
func decodeValue(body []byte, lim *typeLimits) (restoredValue, error) {
	r := &rdbReader{b: body}
	typ, err := r.byte()
	if err != nil {
		return restoredValue{}, err
	}
	v, err := r.value(typ, lim)
	if err != nil {
		return v, err
	}
	if r.off != len(r.b) {
		return v, errBad("trailing bytes")
	}
	return v, nil
}

func (r *rdbReader) value(typ byte, lim *typeLimits) (restoredValue, error) {
	switch typ {
	case rdbTypeString:
		s, err := r.str()
		return restoredValue{str: s}, err
	case rdbTypeList:
		elems, err := r.strs(1)
		return listValue(elems, err)
	case rdbTypeSet:
		elems, err := r.strs(1)
		return setValue(elems, lim, err)
	case rdbTypeHash:
		elems, err := r.strs(2)
		return hashValue(elems, lim, err)
	case rdbTypeZset, rdbTypeZset2:
		n, err := r.count()
		if err != nil {
			return restoredValue{}, err
		}
		pairs := make([][]byte, 0, 2*n)
		for i := 0; i < n; i++ {
			m, err := r.str()
			if err != nil {
				return restoredValue{}, err
			}
			var score float64
			if typ == rdbTypeZset2 {
				p, err := r.bytes(8)
				if err != nil {
					return restoredValue{}, err
				}
				score = math.Float64frombits(binary.LittleEndian.Uint64(p))
			} else if score, err = r.oldDouble(); err != nil {
				return restoredValue{}, err
			}
			pairs = append(pairs, m, strconv.AppendFloat(nil, score, 'g', -1, 64))
		}
		return zsetValue(pairs, lim, nil)
	case rdbTypeListZiplist:
		blob, err := r.str()
		if err != nil {
			return restoredValue{}, err
		}
		elems, err := ziplistEntries(blob)
		return listValue(elems, err)
	case rdbTypeSetIntset:
		blob, err := r.str()
		if err != nil {
			return restoredValue{}, err
		}
		elems, err := intsetEntries(blob)
		return setValue(elems, lim, err)
	case rdbTypeSetListpack:
		blob, err := r.str()
		if err != nil {
			return restoredValue{}, err
		}
		elems, err := listpackEntries(blob)
		return setValue(elems, lim, err)
	case rdbTypeZsetZiplist, rdbTypeZsetListpack, rdbTypeHashZiplist, rdbTypeHashListpack:
		blob, err := r.str()
		if err != nil {
			return restoredValue{}, err
		}
		var elems [][]byte
		if typ == rdbTypeZsetZiplist || typ == rdbTypeHashZiplist {
			elems, err = ziplistEntries(blob)
		} else {
			elems, err = listpackEntries(blob)
		}
		if err == nil && len(elems)%2 != 0 {
			err = errBad("odd container")
		}
		if typ == rdbTypeZsetZiplist || typ == rdbTypeZsetListpack {
			return zsetValue(elems, lim, err)
		}
		return hashValue(elems, lim, err)
	case rdbTypeListQuicklist, rdbTypeListQuicklist2:
		n, err := r.count()
		if err != nil {
			return restoredValue{}, err
		}
		var elems [][]byte
		for i := 0; i < n; i++ {
			container := uint64(2)
			if typ == rdbTypeListQuicklist2 {
				var enc bool
				if container, enc, err = r.length(); err != nil || enc || (container != 1 && container != 2) {
					return restoredValue{}, errBad("quicklist container")
				}
			}
			blob, err := r.str()
			if err != nil {
				return restoredValue{}, err
			}
			var node [][]byte
			switch {
			case container == 1:
				node = [][]byte{blob}
			case typ == rdbTypeListQuicklist:
				node, err = ziplistEntries(blob)
			default:
				node, err = listpackEntries(blob)
			}
			if err != nil {
				return restoredValue{}, err
			}
			elems = append(elems, node...)
		}
		return listValue(elems, nil)
	}
	return restoredValue{}, errBad("unsupported type %d", typ)
}

// strs reads a count and count*per strings.
func (r *rdbReader) strs(per int) ([][]byte, error) {
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, min(n*per, 1<<16))
	for i := 0; i < n*per; i++ {
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// oldDouble is rdbLoadDoubleValue (RDB_TYPE_ZSET's text scores).
func (r *rdbReader) oldDouble() (float64, error) {
	n, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch n {
	case 253:
		return math.NaN(), errBad("nan score")
	case 254:
		return math.Inf(1), nil
	case 255:
		return math.Inf(-1), nil
	}
	p, err := r.bytes(uint64(n))
	if err != nil {
		return 0, err
	}
	f, ok, _ := strtod(string(p))
	if !ok {
		return 0, errBad("score")
	}
	return f, nil
}

func listValue(elems [][]byte, err error) (restoredValue, error) {
	if err != nil {
		return restoredValue{}, err
	}
	if len(elems) == 0 {
		return restoredValue{}, errBad("empty list")
	}
	items := make([]string, len(elems))
	for i, e := range elems {
		items[i] = string(e)
	}
	return restoredValue{obj: &listObj{t: btreeFrom(items)}}, nil
}

func setValue(elems [][]byte, lim *typeLimits, err error) (restoredValue, error) {
	if err != nil {
		return restoredValue{}, err
	}
	if len(elems) == 0 {
		return restoredValue{}, errBad("empty set")
	}
	s := newSetFor(elems[0])
	if int64(len(elems)) > lim.setIntset.Load() {
		s = &setObj{big: newSetTree()}
	}
	for _, e := range elems {
		if !s.add(lim, e) {
			return restoredValue{}, errBad("duplicate set member")
		}
	}
	return restoredValue{obj: s}, nil
}

func hashValue(elems [][]byte, lim *typeLimits, err error) (restoredValue, error) {
	if err != nil {
		return restoredValue{}, err
	}
	if len(elems) == 0 || len(elems)%2 != 0 {
		return restoredValue{}, errBad("hash size")
	}
	h := newHashObj()
	for _, e := range elems {
		h.checkValue(lim, len(e))
	}
	for i := 0; i < len(elems); i += 2 {
		if !h.set(elems[i], elems[i+1]) {
			return restoredValue{}, errBad("duplicate hash field")
		}
		h.checkLen(lim)
	}
	return restoredValue{obj: h}, nil
}

// zsetValue builds a sorted set from member, score-text pairs.
func zsetValue(pairs [][]byte, lim *typeLimits, err error) (restoredValue, error) {
	if err != nil {
		return restoredValue{}, err
	}
	if len(pairs) == 0 {
		return restoredValue{}, errBad("empty sorted set")
	}
	items := make([]zitem, 0, len(pairs)/2)
	maxLen := 0
	for i := 0; i < len(pairs); i += 2 {
		s, ok, _ := strtod(string(pairs[i+1]))
		if !ok {
			return restoredValue{}, errBad("score %q", pairs[i+1])
		}
		items = append(items, zitem{s, string(pairs[i])})
		maxLen = max(maxLen, len(pairs[i]))
	}
	sortZitems(items)
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if seen[it.m] {
			return restoredValue{}, errBad("duplicate sorted set member")
		}
		seen[it.m] = true
	}
	return restoredValue{obj: zsetFromSorted(items, fitsListpack(lim, len(items), maxLen))}, nil
}

// listpackEntries decodes a listpack (listpack.c).
func listpackEntries(lp []byte) ([][]byte, error) {
	if len(lp) < 7 || int(binary.LittleEndian.Uint32(lp)) != len(lp) || lp[len(lp)-1] != 0xFF {
		return nil, errBad("listpack header")
	}
	var out [][]byte
	p := 6
	for p < len(lp)-1 {
		c := lp[p]
		var v []byte
		var size int // encoding + data
		need := func(n int) bool { return p+n <= len(lp)-1 }
		switch {
		case c&0x80 == 0:
			v, size = strconv.AppendInt(nil, int64(c&0x7f), 10), 1
		case c&0xC0 == 0x80:
			n := int(c & 0x3f)
			if !need(1 + n) {
				return nil, errBad("listpack string")
			}
			v, size = append([]byte(nil), lp[p+1:p+1+n]...), 1+n
		case c&0xE0 == 0xC0:
			if !need(2) {
				return nil, errBad("listpack int")
			}
			u := int64(c&0x1f)<<8 | int64(lp[p+1])
			if u >= 1<<12 {
				u -= 1 << 13
			}
			v, size = strconv.AppendInt(nil, u, 10), 2
		case c&0xF0 == 0xE0:
			if !need(2) {
				return nil, errBad("listpack string")
			}
			n := int(c&0x0f)<<8 | int(lp[p+1])
			if !need(2 + n) {
				return nil, errBad("listpack string")
			}
			v, size = append([]byte(nil), lp[p+2:p+2+n]...), 2+n
		case c == 0xF0:
			if !need(5) {
				return nil, errBad("listpack string")
			}
			n := int(binary.LittleEndian.Uint32(lp[p+1:]))
			if n < 0 || !need(5+n) {
				return nil, errBad("listpack string")
			}
			v, size = append([]byte(nil), lp[p+5:p+5+n]...), 5+n
		case c >= 0xF1 && c <= 0xF4:
			w := [...]int{2, 3, 4, 8}[c-0xF1]
			if !need(1 + w) {
				return nil, errBad("listpack int")
			}
			var u uint64
			for i := w - 1; i >= 0; i-- {
				u = u<<8 | uint64(lp[p+1+i])
			}
			shift := uint(64 - 8*w)
			v, size = strconv.AppendInt(nil, int64(u<<shift)>>shift, 10), 1+w
		default:
			return nil, errBad("listpack encoding %#x", c)
		}
		p += size
		// Skip the backlen: its size follows from the entry size.
		switch {
		case size < 128:
			p++
		case size < 16384:
			p += 2
		case size < 2097152:
			p += 3
		case size < 268435456:
			p += 4
		default:
			p += 5
		}
		if p > len(lp)-1 {
			return nil, errBad("listpack backlen")
		}
		out = append(out, v)
	}
	return out, nil
}

// ziplistEntries decodes a ziplist (ziplist.c).
func ziplistEntries(zl []byte) ([][]byte, error) {
	if len(zl) < 11 || int(binary.LittleEndian.Uint32(zl)) != len(zl) || zl[len(zl)-1] != 0xFF {
		return nil, errBad("ziplist header")
	}
	var out [][]byte
	p := 10
	for p < len(zl)-1 {
		if zl[p] == 0xFE {
			p += 5
		} else {
			p++
		}
		if p >= len(zl)-1 {
			return nil, errBad("ziplist entry")
		}
		c := zl[p]
		need := func(n int) bool { return p+n <= len(zl)-1 }
		var v []byte
		switch {
		case c>>6 == 0:
			n := int(c & 0x3f)
			if !need(1 + n) {
				return nil, errBad("ziplist string")
			}
			v = append([]byte(nil), zl[p+1:p+1+n]...)
			p += 1 + n
		case c>>6 == 1:
			if !need(2) {
				return nil, errBad("ziplist string")
			}
			n := int(c&0x3f)<<8 | int(zl[p+1])
			if !need(2 + n) {
				return nil, errBad("ziplist string")
			}
			v = append([]byte(nil), zl[p+2:p+2+n]...)
			p += 2 + n
		case c == 0x80:
			if !need(5) {
				return nil, errBad("ziplist string")
			}
			n := int(binary.BigEndian.Uint32(zl[p+1:]))
			if n < 0 || !need(5+n) {
				return nil, errBad("ziplist string")
			}
			v = append([]byte(nil), zl[p+5:p+5+n]...)
			p += 5 + n
		case c == 0xC0 || c == 0xD0 || c == 0xE0 || c == 0xF0 || c == 0xFE:
			w := zipIntWidth(c)
			if !need(1 + w) {
				return nil, errBad("ziplist int")
			}
			var u uint64
			for i := w - 1; i >= 0; i-- {
				u = u<<8 | uint64(zl[p+1+i])
			}
			shift := uint(64 - 8*w)
			v = strconv.AppendInt(nil, int64(u<<shift)>>shift, 10)
			p += 1 + w
		case c >= 0xF1 && c <= 0xFD:
			v = strconv.AppendInt(nil, int64(c&0x0f)-1, 10)
			p++
		default:
			return nil, errBad("ziplist encoding %#x", c)
		}
		out = append(out, v)
	}
	return out, nil
}

// intsetEntries decodes an intset (intset.c).
func intsetEntries(is []byte) ([][]byte, error) {
	if len(is) < 8 {
		return nil, errBad("intset header")
	}
	w := int(binary.LittleEndian.Uint32(is))
	n := int(binary.LittleEndian.Uint32(is[4:]))
	if (w != 2 && w != 4 && w != 8) || n < 0 || len(is) != 8+w*n {
		return nil, errBad("intset size")
	}
	out := make([][]byte, n)
	for i := range out {
		p := is[8+i*w:]
		var v int64
		switch w {
		case 2:
			v = int64(int16(binary.LittleEndian.Uint16(p)))
		case 4:
			v = int64(int32(binary.LittleEndian.Uint32(p)))
		default:
			v = int64(binary.LittleEndian.Uint64(p))
		}
		out[i] = strconv.AppendInt(nil, v, 10)
	}
	if !slices.IsSortedFunc(out, func(a, b []byte) int {
		x, _ := parseInt(a)
		y, _ := parseInt(b)
		return cmp.Compare(x, y)
	}) {
		return nil, errBad("intset order")
	}
	return out, nil
}

// jonesTable is the CRC-64 table of Redis' crc64 (Jones polynomial,
// reflected), built on first use.
var jonesTable = sync.OnceValue(func() *crc64.Table { return crc64.MakeTable(0x95AC9329AC4BC9B5) })

// crc64Jones is Redis' crc64(crc, p) (no pre/post inversion).
func crc64Jones(crc uint64, p []byte) uint64 { return ^crc64.Update(^crc, jonesTable(), p) }

// zipIntWidth is the byte width of a ziplist integer encoding.
func zipIntWidth(c byte) int {
	switch c {
	case 0xC0:
		return 2
	case 0xD0:
		return 4
	case 0xE0:
		return 8
	case 0xF0:
		return 3
	}
	return 1
}
