package backend

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// openCjson builds the "cjson" library Redis loads (lua-cjson 2.1): encode
// and decode with lua-cjson's output (numbers as %.14g, '/' escaped,
// sparse array detection, depth limits) and error texts, and its
// configuration functions.
func openCjson(L *lua.LState, null *lua.LUserData) *lua.LTable {
	cfg := &cjsonConfig{encodeDepth: 1000, decodeDepth: 1000, precision: 14, sparseRatio: 2, sparseSafe: 10}
	t := L.NewTable()
	t.RawSetString("null", null)
	t.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() != 1 {
			L.ArgError(1, "expected 1 argument")
		}
		e := cjsonEncoder{L: L, cfg: cfg, null: null}
		e.value(L.Get(1), 0)
		L.Push(lua.LString(e.b))
		return 1
	}))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() != 1 {
			L.ArgError(1, "expected 1 argument")
		}
		s := L.CheckString(1)
		d := cjsonDecoder{L: L, cfg: cfg, null: null, s: s}
		v := d.value(0)
		d.space()
		if d.i < len(d.s) {
			d.fail("the end", d.token())
		}
		L.Push(v)
		return 1
	}))
	intOpt := func(p *int, lo, hi int) lua.LGFunction {
		return func(L *lua.LState) int {
			if L.GetTop() >= 1 && L.Get(1) != lua.LNil {
				n := L.CheckInt(1)
				if n < lo || n > hi {
					L.ArgError(1, "expected integer between "+strconv.Itoa(lo)+" and "+strconv.Itoa(hi))
				}
				*p = n
			}
			L.Push(lua.LNumber(*p))
			return 1
		}
	}
	boolOpt := func(p *bool) lua.LGFunction {
		return func(L *lua.LState) int {
			if L.GetTop() >= 1 && L.Get(1) != lua.LNil {
				switch v := L.Get(1).(type) {
				case lua.LBool:
					*p = bool(v)
				case lua.LString:
					switch v {
					case "on":
						*p = true
					case "off":
						*p = false
					default:
						L.ArgError(1, "invalid option '"+string(v)+"'")
					}
				default:
					L.ArgError(1, "invalid option")
				}
			}
			L.Push(lua.LBool(*p))
			return 1
		}
	}
	t.RawSetString("encode_max_depth", L.NewFunction(intOpt(&cfg.encodeDepth, 1, math.MaxInt32)))
	t.RawSetString("decode_max_depth", L.NewFunction(intOpt(&cfg.decodeDepth, 1, math.MaxInt32)))
	t.RawSetString("encode_number_precision", L.NewFunction(intOpt(&cfg.precision, 1, 14)))
	t.RawSetString("encode_keep_buffer", L.NewFunction(boolOpt(&cfg.keepBuffer)))
	t.RawSetString("encode_invalid_numbers", L.NewFunction(boolOpt(&cfg.encodeInvalid)))
	t.RawSetString("decode_invalid_numbers", L.NewFunction(boolOpt(&cfg.decodeInvalid)))
	t.RawSetString("encode_sparse_array", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() >= 1 && L.Get(1) != lua.LNil {
			cfg.sparseConvert = lua.LVAsBool(L.Get(1))
		}
		if L.GetTop() >= 2 {
			cfg.sparseRatio = L.CheckInt(2)
		}
		if L.GetTop() >= 3 {
			cfg.sparseSafe = L.CheckInt(3)
		}
		L.Push(lua.LBool(cfg.sparseConvert))
		L.Push(lua.LNumber(cfg.sparseRatio))
		L.Push(lua.LNumber(cfg.sparseSafe))
		return 3
	}))
	t.RawSetString("_NAME", lua.LString("cjson"))
	t.RawSetString("_VERSION", lua.LString("2.1.0"))
	return t
}

type cjsonConfig struct {
	encodeDepth, decodeDepth, precision int
	sparseRatio, sparseSafe             int
	sparseConvert                       bool
	keepBuffer                          bool
	encodeInvalid, decodeInvalid        bool
}

type cjsonEncoder struct {
	L    *lua.LState
	cfg  *cjsonConfig
	null *lua.LUserData
	b    []byte
}

func (e *cjsonEncoder) fail(msg string) {
	e.L.RaiseError("%s", msg)
}

func (e *cjsonEncoder) number(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if !e.cfg.encodeInvalid {
			e.fail("Cannot serialise number: must not be NaN or Inf")
		}
		switch {
		case math.IsNaN(f):
			e.b = append(e.b, "nan"...)
		case f > 0:
			e.b = append(e.b, "inf"...)
		default:
			e.b = append(e.b, "-inf"...)
		}
		return
	}
	e.b = strconv.AppendFloat(e.b, f, 'g', e.cfg.precision, 64)
}

const cjsonHex = "0123456789abcdef"

func (e *cjsonEncoder) str(s string) {
	e.b = append(e.b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			e.b = append(e.b, '\\', '"')
		case '\\':
			e.b = append(e.b, '\\', '\\')
		case '/':
			e.b = append(e.b, '\\', '/')
		case '\b':
			e.b = append(e.b, '\\', 'b')
		case '\f':
			e.b = append(e.b, '\\', 'f')
		case '\n':
			e.b = append(e.b, '\\', 'n')
		case '\r':
			e.b = append(e.b, '\\', 'r')
		case '\t':
			e.b = append(e.b, '\\', 't')
		default:
			if c < 0x20 || c == 0x7f {
				e.b = append(e.b, '\\', 'u', '0', '0', cjsonHex[c>>4], cjsonHex[c&15])
			} else {
				e.b = append(e.b, c)
			}
		}
	}
	e.b = append(e.b, '"')
}

func (e *cjsonEncoder) value(v lua.LValue, depth int) {
	switch v := v.(type) {
	case lua.LString:
		e.str(string(v))
	case lua.LNumber:
		e.number(float64(v))
	case lua.LBool:
		if v {
			e.b = append(e.b, "true"...)
		} else {
			e.b = append(e.b, "false"...)
		}
	case *lua.LNilType:
		e.b = append(e.b, "null"...)
	case *lua.LUserData:
		if v == e.null {
			e.b = append(e.b, "null"...)
			return
		}
		e.fail("Cannot serialise userdata: type not supported")
	case *lua.LTable:
		depth++
		if depth > e.cfg.encodeDepth {
			e.fail("Cannot serialise, excessive nesting (" + strconv.Itoa(depth) + ")")
		}
		if n := e.arrayLen(v); n > 0 {
			e.b = append(e.b, '[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					e.b = append(e.b, ',')
				}
				e.value(v.RawGetInt(i), depth)
			}
			e.b = append(e.b, ']')
			return
		}
		e.b = append(e.b, '{')
		first := true
		k, val := v.Next(lua.LNil)
		for k != lua.LNil {
			if !first {
				e.b = append(e.b, ',')
			}
			first = false
			switch k := k.(type) {
			case lua.LString:
				e.str(string(k))
			case lua.LNumber:
				e.b = append(e.b, '"')
				e.number(float64(k))
				e.b = append(e.b, '"')
			default:
				e.fail("Cannot serialise " + k.Type().String() + ": table key must be a number or string")
			}
			e.b = append(e.b, ':')
			e.value(val, depth)
			k, val = v.Next(k)
		}
		e.b = append(e.b, '}')
	default:
		e.fail("Cannot serialise " + v.Type().String() + ": type not supported")
	}
}

// arrayLen is lua_array_length: the array size when every key is a
// positive integer (0 for an object or an empty table); it fails on an
// excessively sparse array.
func (e *cjsonEncoder) arrayLen(t *lua.LTable) int {
	max, items := 0, 0
	k, _ := t.Next(lua.LNil)
	for k != lua.LNil {
		n, ok := k.(lua.LNumber)
		if !ok || float64(n) < 1 || float64(n) != math.Floor(float64(n)) {
			return 0
		}
		if int(n) > max {
			max = int(n)
		}
		items++
		k, _ = t.Next(k)
	}
	if e.cfg.sparseRatio > 0 && max > items*e.cfg.sparseRatio && max > e.cfg.sparseSafe {
		if !e.cfg.sparseConvert {
			e.fail("Cannot serialise table: excessively sparse array")
		}
		return 0
	}
	return max
}

type cjsonDecoder struct {
	L    *lua.LState
	cfg  *cjsonConfig
	null *lua.LUserData
	s    string
	i    int
}

func (d *cjsonDecoder) space() {
	for d.i < len(d.s) && strings.IndexByte(" \t\r\n", d.s[d.i]) >= 0 {
		d.i++
	}
}

// token names the token at the current position as lua-cjson does.
func (d *cjsonDecoder) token() string {
	if d.i >= len(d.s) {
		return "T_END"
	}
	switch d.s[d.i] {
	case '{':
		return "T_OBJ_BEGIN"
	case '}':
		return "T_OBJ_END"
	case '[':
		return "T_ARR_BEGIN"
	case ']':
		return "T_ARR_END"
	case ',':
		return "T_COMMA"
	case ':':
		return "T_COLON"
	case '"':
		return "T_STRING"
	case 't', 'f':
		if strings.HasPrefix(d.s[d.i:], "true") || strings.HasPrefix(d.s[d.i:], "false") {
			return "T_BOOLEAN"
		}
	case 'n':
		if strings.HasPrefix(d.s[d.i:], "null") {
			return "T_NULL"
		}
	default:
		if c := d.s[d.i]; c == '-' || (c >= '0' && c <= '9') {
			return "T_NUMBER"
		}
	}
	return "invalid token"
}

func (d *cjsonDecoder) fail(expected, found string) {
	d.L.RaiseError("Expected %s but found %s at character %d", expected, found, d.i+1)
}

func (d *cjsonDecoder) value(depth int) lua.LValue {
	d.space()
	if d.i >= len(d.s) {
		d.fail("value", "T_END")
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		return lua.LString(d.str())
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case strings.HasPrefix(d.s[d.i:], "true"):
		d.i += 4
		return lua.LTrue
	case strings.HasPrefix(d.s[d.i:], "false"):
		d.i += 5
		return lua.LFalse
	case strings.HasPrefix(d.s[d.i:], "null"):
		d.i += 4
		return d.null
	}
	d.fail("value", d.token())
	return lua.LNil
}

func (d *cjsonDecoder) nest(depth int) {
	if depth > d.cfg.decodeDepth {
		d.L.RaiseError("Found too many nested data structures (%d) at character %d", depth, d.i+1)
	}
}

func (d *cjsonDecoder) object(depth int) lua.LValue {
	d.nest(depth)
	d.i++
	t := d.L.NewTable()
	d.space()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return t
	}
	for {
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			d.fail("object key string", d.token())
		}
		k := d.str()
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			d.fail("colon", d.token())
		}
		d.i++
		t.RawSetString(k, d.value(depth))
		d.space()
		if d.i < len(d.s) && d.s[d.i] == '}' {
			d.i++
			return t
		}
		if d.i >= len(d.s) || d.s[d.i] != ',' {
			d.fail("comma or object end", d.token())
		}
		d.i++
	}
}

func (d *cjsonDecoder) array(depth int) lua.LValue {
	d.nest(depth)
	d.i++
	t := d.L.NewTable()
	d.space()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return t
	}
	for n := 1; ; n++ {
		t.RawSetInt(n, d.value(depth))
		d.space()
		if d.i < len(d.s) && d.s[d.i] == ']' {
			d.i++
			return t
		}
		if d.i >= len(d.s) || d.s[d.i] != ',' {
			d.fail("comma or array end", d.token())
		}
		d.i++
	}
}

func (d *cjsonDecoder) number() lua.LValue {
	start := d.i
	for d.i < len(d.s) && strings.IndexByte("0123456789+-.eE", d.s[d.i]) >= 0 {
		d.i++
	}
	f, err := strconv.ParseFloat(d.s[start:d.i], 64)
	if err != nil && !strings.Contains(err.Error(), "range") {
		d.i = start
		d.fail("value", "invalid number")
	}
	return lua.LNumber(f)
}

func (d *cjsonDecoder) str() string {
	start := d.i
	d.i++
	var b []byte
	for {
		if d.i >= len(d.s) {
			d.i = start
			d.fail("value", "invalid token")
		}
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return string(b)
		case c == '\\':
			if d.i+1 >= len(d.s) {
				d.i = start
				d.fail("value", "invalid escape code")
			}
			d.i++
			switch e := d.s[d.i]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := d.hex4(d.i + 1)
				if !ok {
					d.i = start
					d.fail("value", "invalid unicode escape code")
				}
				d.i += 4
				if utf16.IsSurrogate(r) {
					if r2, ok2 := d.hex4(d.i + 3); ok2 && strings.HasPrefix(d.s[d.i+1:], "\\u") {
						r = utf16.DecodeRune(r, r2)
						d.i += 6
					} else {
						d.i = start
						d.fail("value", "invalid unicode escape code")
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				d.i = start
				d.fail("value", "invalid escape code")
			}
			d.i++
		default:
			b = append(b, c)
			d.i++
		}
	}
}

func (d *cjsonDecoder) hex4(at int) (rune, bool) {
	if at+4 > len(d.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(d.s[at:at+4], 16, 32)
	return rune(n), err == nil
}
