package backend

import (
	"encoding/binary"
	"math"

	lua "github.com/yuin/gopher-lua"
)

// openCmsgpack builds the "cmsgpack" library Redis loads (lua-cmsgpack
// 0.4.0, deps/lua/src/lua_cmsgpack.c): pack, unpack, unpack_one and
// unpack_limit with its encoding choices (smallest integer form, float
// when a number is exactly a float32, tables as arrays when their keys
// are exactly 1..n, nesting cut at 16 levels with nil).
func openCmsgpack(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(msgpackPack))
	t.RawSetString("unpack", L.NewFunction(func(L *lua.LState) int { return msgpackUnpack(L, 0, 0) }))
	t.RawSetString("unpack_one", L.NewFunction(func(L *lua.LState) int {
		off := optInteger(L, 2)
		L.SetTop(1)
		return msgpackUnpack(L, 1, off)
	}))
	t.RawSetString("unpack_limit", L.NewFunction(func(L *lua.LState) int {
		limit := int64(checkNumber(L, 2))
		off := optInteger(L, 3)
		L.SetTop(1)
		return msgpackUnpack(L, limit, off)
	}))
	t.RawSetString("_NAME", lua.LString("cmsgpack"))
	t.RawSetString("_VERSION", lua.LString("lua-cmsgpack 0.4.0"))
	t.RawSetString("_COPYRIGHT", lua.LString("Copyright (C) 2012, Salvatore Sanfilippo"))
	t.RawSetString("_DESCRIPTION", lua.LString("MessagePack C implementation for Lua"))
	return t
}

func optInteger(L *lua.LState, i int) int64 {
	if L.Get(i) == lua.LNil {
		return 0
	}
	return int64(checkNumber(L, i))
}

const msgpackMaxNesting = 16

func msgpackPack(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.RaiseError("bad argument #0 to 'pack' (MessagePack pack needs input.)")
	}
	var b []byte
	for i := 1; i <= n; i++ {
		b = msgpackEncode(b, L.Get(i), 0)
	}
	L.Push(lua.LString(b))
	return 1
}

func msgpackEncode(b []byte, v lua.LValue, level int) []byte {
	switch v := v.(type) {
	case lua.LString:
		return msgpackBytes(b, string(v))
	case lua.LBool:
		if v {
			return append(b, 0xc3)
		}
		return append(b, 0xc2)
	case lua.LNumber:
		f := float64(v)
		if !math.IsInf(f, 0) && float64(luaToInt64(f)) == f {
			return msgpackInt(b, luaToInt64(f))
		}
		if float64(float32(f)) == f {
			b = append(b, 0xca)
			return binary.BigEndian.AppendUint32(b, math.Float32bits(float32(f)))
		}
		b = append(b, 0xcb)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
	case *lua.LTable:
		if level == msgpackMaxNesting {
			return append(b, 0xc0)
		}
		if n, ok := msgpackArrayLen(v); ok {
			b = msgpackHeader(b, uint64(n), 0x90, 0xdc, 0xdd)
			for j := 1; j <= n; j++ {
				b = msgpackEncode(b, v.RawGetInt(j), level+1)
			}
			return b
		}
		// Next, not ForEach: ForEach walks a Go map, in random order.
		n := 0
		for k, _ := v.Next(lua.LNil); k != lua.LNil; k, _ = v.Next(k) {
			n++
		}
		b = msgpackHeader(b, uint64(n), 0x80, 0xde, 0xdf)
		for k, val := v.Next(lua.LNil); k != lua.LNil; k, val = v.Next(k) {
			b = msgpackEncode(b, k, level+1)
			b = msgpackEncode(b, val, level+1)
		}
		return b
	}
	return append(b, 0xc0)
}

// msgpackArrayLen is table_is_an_array: keys exactly 1..n.
func msgpackArrayLen(t *lua.LTable) (int, bool) {
	count, max := 0, 0
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		n, isNum := k.(lua.LNumber)
		f := float64(n)
		if !isNum || f <= 0 || f != math.Trunc(f) || f > math.MaxInt32 {
			return 0, false
		}
		if int(f) > max {
			max = int(f)
		}
		count++
	}
	return count, max == count
}

func msgpackHeader(b []byte, n uint64, fix, b16, b32 byte) []byte {
	switch {
	case n <= 15:
		return append(b, fix|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, b16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, b32), uint32(n))
}

func msgpackBytes(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= 0xff:
		b = append(b, 0xd9, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func msgpackInt(b []byte, n int64) []byte {
	if n >= 0 {
		switch {
		case n <= 127:
			return append(b, byte(n))
		case n <= 0xff:
			return append(b, 0xcc, byte(n))
		case n <= 0xffff:
			return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
		case n <= 0xffffffff:
			return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	}
	switch {
	case n >= -32:
		return append(b, byte(int8(n)))
	case n >= -128:
		return append(b, 0xd0, byte(n))
	case n >= -32768:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(n))
	case n >= -2147483648:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// msgpackUnpack is mp_unpack_full: every value of the string (limit and
// offset 0), or at most limit values from offset, preceded then by the
// next offset (-1 at the end).
func msgpackUnpack(L *lua.LState, limit, offset int64) int {
	s := L.CheckString(1)
	all := limit == 0 && offset == 0
	if offset < 0 || limit < 0 {
		L.RaiseError("Invalid request to unpack with offset of %d and limit of %d.", offset, len(s))
	} else if offset > int64(len(s)) {
		L.RaiseError("Start offset %d greater than input length %d.", offset, len(s))
	}
	if all {
		limit = math.MaxInt32
	}
	d := msgpackDecoder{L: L, b: []byte(s[offset:])}
	var out []lua.LValue
	for cnt := int64(0); len(d.b) > 0 && cnt < limit; cnt++ {
		v := d.value(0)
		switch d.err {
		case 1:
			L.RaiseError("Missing bytes in input.")
		case 2:
			L.RaiseError("Bad data format in input.")
		}
		out = append(out, v)
	}
	if !all {
		next := int64(len(s) - len(d.b))
		if len(d.b) == 0 {
			next = -1
		}
		L.Push(lua.LNumber(next))
	}
	for _, v := range out {
		L.Push(v)
	}
	if all {
		return len(out)
	}
	return len(out) + 1
}

type msgpackDecoder struct {
	L   *lua.LState
	b   []byte
	err int // 1: missing bytes, 2: bad format
}

func (d *msgpackDecoder) need(n uint64) bool {
	if uint64(len(d.b)) < n {
		d.err = 1
		return false
	}
	return true
}

// msgpackMaxDepth is where Lua's C stack limit would stop lua-cmsgpack.
const msgpackMaxDepth = 8000

func (d *msgpackDecoder) value(depth int) lua.LValue {
	if depth > msgpackMaxDepth {
		d.L.RaiseError("too many return values at once; use unpack_one or unpack_limit instead.")
	}
	if !d.need(1) {
		return lua.LNil
	}
	c := d.b[0]
	be := binary.BigEndian
	fixed := func(n uint64) []byte {
		if !d.need(n) {
			return nil
		}
		p := d.b[1:n]
		d.b = d.b[n:]
		return p
	}
	str := func(hdr, l uint64) lua.LValue {
		if !d.need(hdr + l) {
			return lua.LNil
		}
		v := lua.LString(d.b[hdr : hdr+l])
		d.b = d.b[hdr+l:]
		return v
	}
	switch c {
	case 0xcc:
		if p := fixed(2); p != nil {
			return lua.LNumber(p[0])
		}
	case 0xd0:
		if p := fixed(2); p != nil {
			return lua.LNumber(int8(p[0]))
		}
	case 0xcd:
		if p := fixed(3); p != nil {
			return lua.LNumber(be.Uint16(p))
		}
	case 0xd1:
		if p := fixed(3); p != nil {
			return lua.LNumber(int16(be.Uint16(p)))
		}
	case 0xce:
		if p := fixed(5); p != nil {
			return lua.LNumber(be.Uint32(p))
		}
	case 0xd2:
		if p := fixed(5); p != nil {
			return lua.LNumber(int32(be.Uint32(p)))
		}
	case 0xcf: // lua_pushunsigned is lua_pushinteger: above 2^63-1 it wraps
		if p := fixed(9); p != nil {
			return lua.LNumber(int64(be.Uint64(p)))
		}
	case 0xd3:
		if p := fixed(9); p != nil {
			return lua.LNumber(int64(be.Uint64(p)))
		}
	case 0xc0:
		d.b = d.b[1:]
		return lua.LNil
	case 0xc3:
		d.b = d.b[1:]
		return lua.LTrue
	case 0xc2:
		d.b = d.b[1:]
		return lua.LFalse
	case 0xca:
		if p := fixed(5); p != nil {
			return lua.LNumber(math.Float32frombits(be.Uint32(p)))
		}
	case 0xcb:
		if p := fixed(9); p != nil {
			return lua.LNumber(math.Float64frombits(be.Uint64(p)))
		}
	case 0xd9:
		if d.need(2) {
			return str(2, uint64(d.b[1]))
		}
	case 0xda:
		if d.need(3) {
			return str(3, uint64(be.Uint16(d.b[1:])))
		}
	case 0xdb:
		if d.need(5) {
			return str(5, uint64(be.Uint32(d.b[1:])))
		}
	case 0xdc:
		if p := fixed(3); p != nil {
			return d.array(uint64(be.Uint16(p)), depth)
		}
	case 0xdd:
		if p := fixed(5); p != nil {
			return d.array(uint64(be.Uint32(p)), depth)
		}
	case 0xde:
		if p := fixed(3); p != nil {
			return d.hash(uint64(be.Uint16(p)), depth)
		}
	case 0xdf:
		if p := fixed(5); p != nil {
			return d.hash(uint64(be.Uint32(p)), depth)
		}
	default:
		switch {
		case c&0x80 == 0:
			d.b = d.b[1:]
			return lua.LNumber(c)
		case c&0xe0 == 0xe0:
			d.b = d.b[1:]
			return lua.LNumber(int8(c))
		case c&0xe0 == 0xa0:
			return str(1, uint64(c&0x1f))
		case c&0xf0 == 0x90:
			d.b = d.b[1:]
			return d.array(uint64(c&0xf), depth)
		case c&0xf0 == 0x80:
			d.b = d.b[1:]
			return d.hash(uint64(c&0xf), depth)
		}
		d.err = 2
	}
	return lua.LNil
}

func (d *msgpackDecoder) array(n uint64, depth int) lua.LValue {
	t := d.L.NewTable()
	for i := uint64(1); i <= n; i++ {
		v := d.value(depth + 1)
		if d.err != 0 {
			return t
		}
		t.RawSetInt(int(i), v)
	}
	return t
}

func (d *msgpackDecoder) hash(n uint64, depth int) lua.LValue {
	t := d.L.NewTable()
	for ; n > 0; n-- {
		k := d.value(depth + 1)
		if d.err != 0 {
			return t
		}
		v := d.value(depth + 1)
		if d.err != 0 {
			return t
		}
		if k == lua.LNil {
			d.L.RaiseError("table index is nil")
		}
		if f, ok := k.(lua.LNumber); ok && math.IsNaN(float64(f)) {
			d.L.RaiseError("table index is NaN")
		}
		t.RawSet(k, v)
	}
	return t
}
