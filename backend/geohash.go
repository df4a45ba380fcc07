package backend

import "math"

// Geohash arithmetic, ported from Redis 7.0's geohash.c and
// geohash_helper.c: a point is a 52-bit interleaved geohash (26 bits of
// latitude and of longitude) stored as a sorted set score, and a radius or
// box search covers the shape with the 9 geohash boxes of one precision
// (the centre box and its neighbours), each a score range. Every
// floating-point step follows the C code operation by operation, so that
// scores, decoded coordinates and distances are the same to the bit. The
// trigonometry (sin, cos, asin) is the C library's where cgo is available
// (geomath_cgo.go): Go's math package differs from glibc in the last bit
// for a third of the inputs, which STOREDIST scores would show.

const (
	geoStepMax = 26 // 26*2 = 52 bits
	geoLatMin  = -85.05112878
	geoLatMax  = 85.05112878
	geoLongMin = -180.0
	geoLongMax = 180.0

	earthRadiusMeters = 6372797.560856
	mercatorMax       = 20037726.37
)

// geoHashBits is GeoHashBits: bits, step (precision in bits per axis).
type geoHashBits struct {
	bits uint64
	step uint8
}

func (h geoHashBits) isZero() bool { return h.bits == 0 && h.step == 0 }

type geoRange struct{ min, max float64 }

// geoArea is GeoHashArea.
type geoArea struct {
	hash      geoHashBits
	longitude geoRange
	latitude  geoRange
}

// geoNeighbors is GeoHashNeighbors.
type geoNeighbors struct {
	north, east, west, south                   geoHashBits
	northEast, southEast, northWest, southWest geoHashBits
}

// geoRadius is GeoHashRadius.
type geoRadius struct {
	hash      geoHashBits
	area      geoArea
	neighbors geoNeighbors
}

var (
	// geoDR is C's M_PI / 180.0: the double nearest pi, divided at run
	// time (Go's exact constant arithmetic would round once, not twice).
	geoPi = math.Pi
	geoDR = geoPi / 180.0

	wgs84Long = geoRange{geoLongMin, geoLongMax}
	wgs84Lat  = geoRange{geoLatMin, geoLatMax}
)

func interleave64(xlo, ylo uint32) uint64 {
	b := [...]uint64{0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF}
	s := [...]uint{1, 2, 4, 8, 16}
	x, y := uint64(xlo), uint64(ylo)
	for i := 4; i >= 0; i-- {
		x = (x | (x << s[i])) & b[i]
		y = (y | (y << s[i])) & b[i]
	}
	return x | (y << 1)
}

func deinterleave64(interleaved uint64) uint64 {
	b := [...]uint64{0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF, 0x00000000FFFFFFFF}
	s := [...]uint{0, 1, 2, 4, 8, 16}
	x, y := interleaved, interleaved>>1
	for i := 0; i < 6; i++ {
		x = (x | (x >> s[i])) & b[i]
		y = (y | (y >> s[i])) & b[i]
	}
	return x | (y << 32)
}

// geohashEncode is geohashEncode: ok false outside the ranges.
func geohashEncode(longR, latR geoRange, longitude, latitude float64, step uint8) (geoHashBits, bool) {
	if step > 32 || step == 0 || (latR.min == 0 && latR.max == 0) || (longR.min == 0 && longR.max == 0) {
		return geoHashBits{}, false
	}
	if longitude > geoLongMax || longitude < geoLongMin || latitude > geoLatMax || latitude < geoLatMin {
		return geoHashBits{}, false
	}
	if latitude < latR.min || latitude > latR.max || longitude < longR.min || longitude > longR.max {
		return geoHashBits{step: step}, false
	}
	latOffset := (latitude - latR.min) / (latR.max - latR.min)
	longOffset := (longitude - longR.min) / (longR.max - longR.min)
	latOffset *= float64(uint64(1) << step)
	longOffset *= float64(uint64(1) << step)
	return geoHashBits{bits: interleave64(uint32(latOffset), uint32(longOffset)), step: step}, true
}

// geohashDecode is geohashDecode.
func geohashDecode(longR, latR geoRange, h geoHashBits) (geoArea, bool) {
	if h.isZero() || (latR.min == 0 && latR.max == 0) || (longR.min == 0 && longR.max == 0) {
		return geoArea{}, false
	}
	a := geoArea{hash: h}
	sep := deinterleave64(h.bits)
	latScale := latR.max - latR.min
	longScale := longR.max - longR.min
	ilato := uint32(sep)
	ilono := uint32(sep >> 32)
	div := float64(uint64(1) << h.step)
	a.latitude.min = latR.min + (float64(ilato)*1.0/div)*latScale
	a.latitude.max = latR.min + (float64(ilato+1)*1.0/div)*latScale
	a.longitude.min = longR.min + (float64(ilono)*1.0/div)*longScale
	a.longitude.max = longR.min + (float64(ilono+1)*1.0/div)*longScale
	return a, true
}

// geoAreaCenter is geohashDecodeAreaToLongLat.
func geoAreaCenter(a geoArea) (float64, float64) {
	x := (a.longitude.min + a.longitude.max) / 2
	x = min(max(x, geoLongMin), geoLongMax)
	y := (a.latitude.min + a.latitude.max) / 2
	y = min(max(y, geoLatMin), geoLatMax)
	return x, y
}

// geoScoreBits is C's (uint64_t) conversion of a score as x86-64 code
// does it (cvttsd2si, with the 2^63 adjustment): any sorted set score
// decodes to some point, as in Redis.
func geoScoreBits(score float64) uint64 {
	const two63 = 9223372036854775808.0
	cvtt := func(f float64) uint64 {
		if math.IsNaN(f) || f >= two63 || f < -two63 {
			return 1 << 63
		}
		return uint64(int64(f))
	}
	if score >= two63 {
		return cvtt(score-two63) ^ 1<<63
	}
	return cvtt(score)
}

// decodeGeohash is geo.c's decodeGeohash: a score to (longitude,
// latitude). It cannot fail for step 26.
func decodeGeohash(score float64) (float64, float64) {
	a, _ := geohashDecode(wgs84Long, wgs84Lat, geoHashBits{bits: geoScoreBits(score), step: geoStepMax})
	return geoAreaCenter(a)
}

// geoEncodeScore is the 52-bit score GEOADD stores for a valid pair.
func geoEncodeScore(longitude, latitude float64) uint64 {
	h, _ := geohashEncode(wgs84Long, wgs84Lat, longitude, latitude, geoStepMax)
	return geoAlign52(h)
}

func geoAlign52(h geoHashBits) uint64 { return h.bits << (52 - uint(h.step)*2) }

// move is geohash_move_x (axis 0xaa..., the longitude bits) and
// geohash_move_y (axis 0x55..., the latitude bits): one box east/west or
// north/south (d > 0 or d < 0), wrapping around.
func (h *geoHashBits) move(d int, axis uint64) {
	if d == 0 {
		return
	}
	other := ^axis
	a := h.bits & axis
	o := h.bits & other
	zz := other >> (64 - uint(h.step)*2)
	if d > 0 {
		a = a + (zz + 1)
	} else {
		a = a | zz
		a = a - (zz + 1)
	}
	a &= axis >> (64 - uint(h.step)*2)
	h.bits = a | o
}

const (
	geoAxisX = 0xaaaaaaaaaaaaaaaa
	geoAxisY = 0x5555555555555555
)

func geohashNeighbors(h geoHashBits) geoNeighbors {
	move := func(dx, dy int) geoHashBits {
		n := h
		n.move(dx, geoAxisX)
		n.move(dy, geoAxisY)
		return n
	}
	return geoNeighbors{
		east: move(1, 0), west: move(-1, 0), south: move(0, -1), north: move(0, 1),
		northWest: move(-1, 1), northEast: move(1, 1), southEast: move(1, -1), southWest: move(-1, -1),
	}
}

// geoShape is GeoShape: a circle (radius) or a box (width, height), all
// in the unit whose size in meters is conversion.
type geoShape struct {
	box                   bool
	long, lat             float64
	conversion            float64
	radius, width, height float64
	bounds                [4]float64
}

func degRad(ang float64) float64 { return ang * geoDR }
func radDeg(ang float64) float64 { return ang / geoDR }

// geoEstimateSteps is geohashEstimateStepsByRadius.
func geoEstimateSteps(rangeMeters, lat float64) uint8 {
	if rangeMeters == 0 {
		return 26
	}
	step := 1
	for rangeMeters < mercatorMax {
		rangeMeters *= 2
		step++
	}
	step -= 2
	if lat > 66 || lat < -66 {
		step--
		if lat > 80 || lat < -80 {
			step--
		}
	}
	return uint8(min(max(step, 1), 26))
}

// boundingBox is geohashBoundingBox.
func (s *geoShape) boundingBox() {
	height, width := s.conversion*s.radius, s.conversion*s.radius
	if s.box {
		height, width = s.conversion*(s.height/2), s.conversion*(s.width/2)
	}
	latDelta := radDeg(height / earthRadiusMeters)
	longDeltaTop := radDeg(width / earthRadiusMeters / libmCos(degRad(s.lat+latDelta)))
	longDeltaBottom := radDeg(width / earthRadiusMeters / libmCos(degRad(s.lat-latDelta)))
	if s.lat < 0 {
		s.bounds[0] = s.long - longDeltaBottom
		s.bounds[2] = s.long + longDeltaBottom
	} else {
		s.bounds[0] = s.long - longDeltaTop
		s.bounds[2] = s.long + longDeltaTop
	}
	s.bounds[1] = s.lat - latDelta
	s.bounds[3] = s.lat + latDelta
}

// areas is geohashCalculateAreasByShapeWGS84.
func (s *geoShape) areas() geoRadius {
	s.boundingBox()
	minLon, minLat, maxLon, maxLat := s.bounds[0], s.bounds[1], s.bounds[2], s.bounds[3]
	radiusMeters := s.radius
	if s.box {
		radiusMeters = math.Sqrt((s.width/2)*(s.width/2) + (s.height/2)*(s.height/2))
	}
	radiusMeters *= s.conversion
	steps := geoEstimateSteps(radiusMeters, s.lat)
	hash, _ := geohashEncode(wgs84Long, wgs84Lat, s.long, s.lat, steps)
	neighbors := geohashNeighbors(hash)
	area, _ := geohashDecode(wgs84Long, wgs84Lat, hash)

	decrease := false
	north, _ := geohashDecode(wgs84Long, wgs84Lat, neighbors.north)
	south, _ := geohashDecode(wgs84Long, wgs84Lat, neighbors.south)
	east, _ := geohashDecode(wgs84Long, wgs84Lat, neighbors.east)
	west, _ := geohashDecode(wgs84Long, wgs84Lat, neighbors.west)
	if north.latitude.max < maxLat || south.latitude.min > minLat ||
		east.longitude.max < maxLon || west.longitude.min > minLon {
		decrease = true
	}
	if steps > 1 && decrease {
		steps--
		hash, _ = geohashEncode(wgs84Long, wgs84Lat, s.long, s.lat, steps)
		neighbors = geohashNeighbors(hash)
		area, _ = geohashDecode(wgs84Long, wgs84Lat, hash)
	}
	if steps >= 2 {
		n := &neighbors
		if area.latitude.min < minLat {
			n.south, n.southWest, n.southEast = geoHashBits{}, geoHashBits{}, geoHashBits{}
		}
		if area.latitude.max > maxLat {
			n.north, n.northEast, n.northWest = geoHashBits{}, geoHashBits{}, geoHashBits{}
		}
		if area.longitude.min < minLon {
			n.west, n.southWest, n.northWest = geoHashBits{}, geoHashBits{}, geoHashBits{}
		}
		if area.longitude.max > maxLon {
			n.east, n.southEast, n.northEast = geoHashBits{}, geoHashBits{}, geoHashBits{}
		}
	}
	return geoRadius{hash: hash, area: area, neighbors: neighbors}
}

// geoLatDistance is geohashGetLatDistance.
func geoLatDistance(lat1d, lat2d float64) float64 {
	return earthRadiusMeters * math.Abs(degRad(lat2d)-degRad(lat1d))
}

// geoDistance is geohashGetDistance (haversine).
func geoDistance(lon1d, lat1d, lon2d, lat2d float64) float64 {
	lon1r := degRad(lon1d)
	lon2r := degRad(lon2d)
	v := libmSin((lon2r - lon1r) / 2)
	if v == 0.0 {
		return geoLatDistance(lat1d, lat2d)
	}
	lat1r := degRad(lat1d)
	lat2r := degRad(lat2d)
	u := libmSin((lat2r - lat1r) / 2)
	a := u*u + libmCos(lat1r)*libmCos(lat2r)*v*v
	return 2.0 * earthRadiusMeters * libmAsin(math.Sqrt(a))
}

// within is geoWithinShape: the point of score, its distance from the
// centre, and whether it is inside the shape.
func (s *geoShape) within(score float64) (x, y, dist float64, ok bool) {
	x, y = decodeGeohash(score)
	if !s.box {
		dist = geoDistance(s.long, s.lat, x, y)
		return x, y, dist, !(dist > s.radius*s.conversion) // a NaN distance is in, as in C
	}
	widthM, heightM := s.width*s.conversion, s.height*s.conversion
	if geoLatDistance(y, s.lat) > heightM/2 {
		return x, y, 0, false
	}
	if geoDistance(x, y, s.long, y) > widthM/2 {
		return x, y, 0, false
	}
	return x, y, geoDistance(s.long, s.lat, x, y), true
}
