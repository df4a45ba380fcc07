package backend

import (
	"math"
	"math/big"
	"strconv"
)

// GEO commands (geo.c), on top of the sorted set: a member's score is the
// 52-bit geohash of its position (geohash.go). GEOADD is ZADD of the
// computed scores; the searches walk the score ranges of the 9 geohash
// boxes that cover the shape and keep the points inside it. Writes
// (GEOADD, GEORADIUS ... STORE, GEOSEARCHSTORE) are emitted as sent: their
// effect is deterministic given the keyspace.

const (
	errGeoPair      = "ERR invalid longitude,latitude pair "
	errGeoUnit      = "ERR unsupported unit provided. please use M, KM, FT, MI"
	errGeoMember    = "ERR could not decode requested zset member"
	errGeoCount     = "ERR COUNT must be > 0"
	errGeoAnyCount  = "ERR the ANY argument requires COUNT argument"
	errGeoNegRadius = "ERR radius cannot be negative"
	errGeoNegBox    = "ERR height or width cannot be negative"
	errGeoWithStore = " is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
	errGeoNeedFrom  = "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for "
	errGeoNeedBy    = "ERR exactly one of BYRADIUS and BYBOX can be specified for "
	errGeoNumRadius = "ERR need numeric radius"
	errGeoNumWidth  = "ERR need numeric width"
	errGeoNumHeight = "ERR need numeric height"
	geoHashAlphabet = "0123456789bcdefghjkmnpqrstuvwxyz"
)

func geoCommands() []*cmdSpec {
	const g = "geo"
	acl := []string{"@geo"}
	const radiusCx = "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."
	const searchCx = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape"
	return []*cmdSpec{
		{name: "geoadd", handler: cmdGeoAdd, arity: -5, flags: flagWrite | flagDenyOOM, first: 1, last: 1, step: 1, group: g, acl: acl, since: "3.2.0", summary: "Adds one or more members to a geospatial index. The key is created if it doesn't exist.", complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set."},
		{name: "geodist", handler: cmdGeoDist, arity: -4, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "3.2.0", summary: "Returns the distance between two members of a geospatial index.", complexity: "O(log(N))"},
		{name: "geohash", handler: cmdGeoHash, arity: -2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "3.2.0", summary: "Returns members from a geospatial index as geohash strings.", complexity: "O(log(N)) for each member requested, where N is the number of elements in the sorted set."},
		{name: "geopos", handler: cmdGeoPos, arity: -2, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "3.2.0", summary: "Returns the longitude and latitude of members from a geospatial index.", complexity: "O(N) where N is the number of members requested."},
		{name: "georadius", handler: geoSearchCmd(1, geoCoords), arity: -6, flags: flagWrite | flagDenyOOM | flagMovableKeys, first: 1, last: 1, step: 1, keys: georadiusKeys, group: g, acl: acl, since: "3.2.0", summary: "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", complexity: radiusCx},
		{name: "georadius_ro", handler: geoSearchCmd(1, geoCoords|geoNoStore), arity: -6, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "3.2.10", summary: "Returns members from a geospatial index that are within a distance from a coordinate.", complexity: radiusCx},
		{name: "georadiusbymember", handler: geoSearchCmd(1, geoMember), arity: -5, flags: flagWrite | flagDenyOOM | flagMovableKeys, first: 1, last: 1, step: 1, keys: georadiusKeys, group: g, acl: acl, since: "3.2.0", summary: "Queries a geospatial index for members within a distance from a member, optionally stores the result.", complexity: radiusCx},
		{name: "georadiusbymember_ro", handler: geoSearchCmd(1, geoMember|geoNoStore), arity: -5, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "3.2.10", summary: "Returns members from a geospatial index that are within a distance from a member.", complexity: radiusCx},
		{name: "geosearch", handler: geoSearchCmd(1, geoSearch), arity: -7, flags: flagReadonly, first: 1, last: 1, step: 1, group: g, acl: acl, since: "6.2.0", summary: "Queries a geospatial index for members inside an area of a box or a circle.", complexity: searchCx},
		{name: "geosearchstore", handler: geoSearchCmd(2, geoSearch|geoSearchStore), arity: -8, flags: flagWrite | flagDenyOOM, first: 1, last: 2, step: 1, group: g, acl: acl, since: "6.2.0", summary: "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", complexity: searchCx},
	}
}

// georadiusKeys is georadiusGetKeys, but with the argument after every
// STORE or STOREDIST from position 5 on, not only the last one: the
// handler locks them all (COMMAND GETKEYS, from Redis' key specs, lists
// the first of each).
func georadiusKeys(args [][]byte) []int {
	keys := []int{1}
	for i := 5; i < len(args); i++ {
		if (eqFold(args[i], "store") || eqFold(args[i], "storedist")) && i+1 < len(args) {
			keys = append(keys, i+1)
			i++
		}
	}
	return keys
}

// cmdGeoAdd is GEOADD key [NX|XX] [CH] longitude latitude member ...:
// ZADD of the members' geohash scores.
func cmdGeoAdd(c *Client, args [][]byte) {
	longIdx := 2
	nx, xx := false, false
opts:
	for ; longIdx < len(args); longIdx++ {
		switch {
		case eqFold(args[longIdx], "nx"):
			nx = true
		case eqFold(args[longIdx], "xx"):
			xx = true
		case eqFold(args[longIdx], "ch"):
		default:
			break opts
		}
	}
	if (len(args)-longIdx)%3 != 0 || (xx && nx) {
		c.err(errSyntax)
		return
	}
	n := (len(args) - longIdx) / 3
	zargs := make([][]byte, 0, longIdx+2*n)
	zargs = append(zargs, []byte("zadd"))
	zargs = append(zargs, args[1:longIdx]...)
	for i := 0; i < n; i++ {
		at := longIdx + 3*i
		long, lat, msg := parseLongLat(args[at], args[at+1])
		if msg != "" {
			c.err(msg)
			return
		}
		score := strconv.AppendUint(nil, geoEncodeScore(long, lat), 10)
		zargs = append(zargs, score, args[at+2])
	}
	zaddGeneric(c, zargs, 0)
}

// parseLongLat is extractLongLatOrReply.
func parseLongLat(longArg, latArg []byte) (float64, float64, string) {
	long, ok := parseScore(longArg)
	if !ok {
		return 0, 0, errNotFloat
	}
	lat, ok := parseScore(latArg)
	if !ok {
		return 0, 0, errNotFloat
	}
	if long < geoLongMin || long > geoLongMax || lat < geoLatMin || lat > geoLatMax {
		return 0, 0, errGeoPair + formatCFixed(long, 6) + "," + formatCFixed(lat, 6)
	}
	return long, lat, ""
}

// formatCFixed is C's "%.<prec>f" of a double (inf as "inf").
func formatCFixed(f float64, prec int) string {
	s := strconv.FormatFloat(f, 'f', prec, 64)
	switch s {
	case "+Inf":
		return "inf"
	case "-Inf":
		return "-inf"
	}
	return s
}

// geoUnit is extractUnitOrReply: the unit's size in meters.
func geoUnit(b []byte) (float64, bool) {
	switch {
	case eqFold(b, "m"):
		return 1, true
	case eqFold(b, "km"):
		return 1000, true
	case eqFold(b, "ft"):
		return 0.3048, true
	case eqFold(b, "mi"):
		return 1609.34, true
	}
	return 0, false
}

// geoDistanceArg is extractDistanceOrReply: radius and unit.
func geoDistanceArg(args [][]byte) (radius, conversion float64, msg string) {
	radius, ok := parseScore(args[0])
	if !ok {
		return 0, 0, errGeoNumRadius
	}
	if radius < 0 {
		return 0, 0, errGeoNegRadius
	}
	if conversion, ok = geoUnit(args[1]); !ok {
		return 0, 0, errGeoUnit
	}
	return radius, conversion, ""
}

// geoBoxArg is extractBoxOrReply: width, height and unit.
func geoBoxArg(args [][]byte) (width, height, conversion float64, msg string) {
	width, ok := parseScore(args[0])
	if !ok {
		return 0, 0, 0, errGeoNumWidth
	}
	if height, ok = parseScore(args[1]); !ok {
		return 0, 0, 0, errGeoNumHeight
	}
	if height < 0 || width < 0 {
		return 0, 0, 0, errGeoNegBox
	}
	if conversion, ok = geoUnit(args[2]); !ok {
		return 0, 0, 0, errGeoUnit
	}
	return width, height, conversion, ""
}

// appendGeoDistance is addReplyDoubleDistance (fixedpoint_d2string with
// 4 decimals: the value times 10^4 rounded to nearest even, as llrint).
func appendGeoDistance(b []byte, d float64) []byte {
	v := cInt64(math.RoundToEven(d * 10000))
	if v < 0 {
		b = append(b, '-')
	}
	u := uint64(v)
	if v < 0 {
		u = uint64(-v)
	}
	digits := strconv.AppendUint(nil, u, 10)
	for len(digits) < 5 {
		digits = append([]byte{'0'}, digits...)
	}
	b = append(b, digits[:len(digits)-4]...)
	b = append(b, '.')
	return append(b, digits[len(digits)-4:]...)
}

// formatGeoCoord is addReplyHumanLongDouble of a coordinate.
func formatGeoCoord(f float64) string {
	return formatLongDoubleHuman(longDouble{f: new(big.Float).SetFloat64(f)})
}

// geoMemberPos reads a member's position (longLatFromMember).
func geoMemberPos(z *zsetObj, m []byte) (float64, float64, bool) {
	s, ok := z.score(m)
	if !ok {
		return 0, 0, false
	}
	x, y := decodeGeohash(s)
	return x, y, true
}

func cmdGeoDist(c *Client, args [][]byte) {
	toMeter := 1.0
	if len(args) == 5 {
		var ok bool
		if toMeter, ok = geoUnit(args[4]); !ok {
			c.err(errGeoUnit)
			return
		}
	} else if len(args) > 5 {
		c.err(errSyntax)
		return
	}
	z, found, ok := readZset(c, args[1])
	if !ok {
		return
	}
	defer c.commit()
	if !found {
		c.null()
		return
	}
	x1, y1, ok1 := geoMemberPos(z, args[2])
	x2, y2, ok2 := geoMemberPos(z, args[3])
	if !ok1 || !ok2 {
		c.null()
		return
	}
	c.bulk(appendGeoDistance(nil, geoDistance(x1, y1, x2, y2)/toMeter))
}

func cmdGeoHash(c *Client, args [][]byte) {
	geoEachMember(c, args, func(score float64) { c.bulkString(geohashString(score)) }, c.null)
}

// geoEachMember replies with one element per member argument of
// GEOHASH/GEOPOS: present for a member of the sorted set, missing for
// any other (or a missing key).
func geoEachMember(c *Client, args [][]byte, present func(score float64), missing func()) {
	z, found, ok := readZset(c, args[1])
	if !ok {
		return
	}
	defer c.commit()
	c.array(len(args) - 2)
	for _, m := range args[2:] {
		if found {
			if s, ok := z.score(m); ok {
				present(s)
				continue
			}
		}
		missing()
	}
}

// geohashString is GEOHASH's 11-character standard geohash of a score:
// decoded, then encoded again with the standard latitude range ±90.
func geohashString(score float64) string {
	x, y := decodeGeohash(score)
	h, _ := geohashEncode(geoRange{-180, 180}, geoRange{-90, 90}, x, y, 26)
	var buf [11]byte
	for i := range buf {
		idx := 0
		if i < 10 {
			idx = int((h.bits >> (52 - (uint(i)+1)*5)) & 0x1f)
		}
		buf[i] = geoHashAlphabet[idx]
	}
	return string(buf[:])
}

func cmdGeoPos(c *Client, args [][]byte) {
	geoEachMember(c, args, func(score float64) {
		x, y := decodeGeohash(score)
		c.array(2)
		c.bulkString(formatGeoCoord(x))
		c.bulkString(formatGeoCoord(y))
	}, c.nullArray)
}

// cInt64 is C's (long long) conversion of a double on x86-64
// (cvttsd2si): truncation, LLONG_MIN when out of range or NaN.
func cInt64(f float64) int64 {
	if f != f || f >= 9223372036854775808.0 || f < -9223372036854775808.0 {
		return -1 << 63
	}
	return int64(f)
}
