package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shardis/shardis/integration/harness"
)

// TestGeoDifferential sends the same random GEO command sequences to
// shardis-server and to redis-server and compares the raw replies byte
// for byte: GEOADD with coordinates in and out of range, malformed
// numbers and NX/XX/CH; GEODIST in every unit; GEOHASH; GEOPOS (also of
// members whose scores are not geohashes: ZADD of any score, inf
// included); GEORADIUS, GEORADIUSBYMEMBER, their _RO forms, GEOSEARCH and
// GEOSEARCHSTORE with every option, valid or not (WITHCOORD/WITHDIST/
// WITHHASH, COUNT [ANY], ASC/DESC, STORE/STOREDIST, BYRADIUS/BYBOX,
// FROMMEMBER/FROMLONLAT); the stored results read back with ZRANGE
// WITHSCORES (STOREDIST scores show every bit of a distance); wrong types.
// No normalisation: the replies must be identical.
func TestGeoDifferential(t *testing.T) {
	skipWithoutLibm(t)
	diffSeeds(t, 8, 3000, func(r *rand.Rand) func() []string { return (&geoGen{r: r}).next }, (*differ).check)
}

// diffSeeds runs, for each of seeds random generators, steps commands
// from next on redis-server and shardis-server (one pair of servers,
// flushed per seed), compared by check.
func diffSeeds(t *testing.T, seeds, steps int, gen func(r *rand.Rand) func() []string, check func(d *differ, args []string)) {
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
			d.same("FLUSHALL")
			next := gen(rand.New(rand.NewPCG(seed, seed*7331)))
			for i := 0; i < steps && !t.Failed(); i++ {
				check(d, next())
			}
		})
	}
}

// TestGeoFixedPoints: the examples of the GEO documentation and points at
// the edges (poles, antimeridian, equator, 0,0), searched with radii from
// 0 to the whole Earth.
func TestGeoFixedPoints(t *testing.T) {
	skipWithoutLibm(t)
	rd := harness.StartRedis(t)
	sh := startServer(t, nil)
	d := &differ{t: t, ref: dialRaw(t, rd.Addr), got: dialRaw(t, sh.addr())}
	d.same("GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")
	d.same("GEOADD", "edge", "180", "85.05112878", "ne", "-180", "-85.05112878", "sw", "0", "0", "zero",
		"179.9999", "0", "east", "-179.9999", "0", "west", "0", "85", "north", "0", "-85", "south")
	for _, k := range []string{"Sicily", "edge"} {
		d.same("GEOPOS", k, "Palermo", "Catania", "ne", "sw", "zero", "east", "west", "north", "south", "none")
		d.same("GEOHASH", k, "Palermo", "Catania", "ne", "sw", "zero", "east", "west", "north", "south", "none")
		for _, r := range []string{"0", "1", "100", "1000", "20000", "40000"} {
			for _, at := range [][2]string{{"15", "37"}, {"0", "0"}, {"180", "0"}, {"-180", "85"}, {"90", "-85"}} {
				d.same("GEORADIUS", k, at[0], at[1], r, "km", "WITHDIST", "WITHCOORD", "WITHHASH", "ASC")
				d.same("GEOSEARCH", k, "FROMLONLAT", at[0], at[1], "BYBOX", r, r, "km", "WITHDIST", "DESC")
			}
		}
	}
	d.same("GEODIST", "edge", "east", "west", "km")
	d.same("GEODIST", "edge", "ne", "sw", "mi")
	d.same("GEODIST", "edge", "north", "south")
}

// skipWithoutLibm skips the byte-for-byte GEO comparisons in a build
// without cgo, whose Go trigonometry differs from glibc's in the last bit
// (geomath_purego.go).
func skipWithoutLibm(t *testing.T) {
	if !libmExact {
		t.Skip("built without cgo: GEO distances are not bit-identical to redis-server's")
	}
}

// geoGen produces random GEO commands, including malformed ones.
type geoGen struct{ r *rand.Rand }

func (g *geoGen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g *geoGen) key() string {
	switch g.r.IntN(10) {
	case 0:
		return "str" // a string key: WRONGTYPE
	case 1:
		return "missing"
	}
	return g.pick("g1", "g2", "g3")
}

func (g *geoGen) member() string { return "m" + strconv.Itoa(g.r.IntN(40)) }

// pair is a longitude and a latitude, mostly in range near one of a few
// centres (so that searches find points), sometimes out of range or not
// a number.
func (g *geoGen) pair() []string {
	switch g.r.IntN(30) {
	case 0:
		return []string{g.pick("abc", "", "nan", "inf", "-inf", "1e400", " 1", "0x10", "1"), g.pick("1", "abc", "-inf")}
	case 1:
		return []string{g.pick("180", "-180", "180.0001", "-181", "360", "0"), g.pick("85.05112878", "-85.05112878", "85.06", "-90", "90", "0")}
	}
	centres := [][2]float64{{13.36, 38.11}, {179.9, -16.5}, {0, 0}, {-150, 84}}
	c := centres[g.r.IntN(len(centres))]
	spread := math.Pow(10, float64(g.r.IntN(4)-1))
	long := max(min(c[0]+(g.r.Float64()-0.5)*spread, 180), -180)
	lat := max(min(c[1]+(g.r.Float64()-0.5)*spread, 85.05), -85.05)
	return []string{strconv.FormatFloat(long, 'f', g.r.IntN(8), 64), strconv.FormatFloat(lat, 'f', g.r.IntN(8), 64)}
}

func (g *geoGen) dist() string {
	switch g.r.IntN(40) {
	case 0:
		return g.pick("-1", "abc", "inf", "0", "1e-3")
	}
	return strconv.FormatFloat(g.r.Float64()*math.Pow(10, float64(g.r.IntN(7))), 'f', g.r.IntN(3), 64)
}

func (g *geoGen) unit() string {
	if g.r.IntN(25) == 0 {
		return g.pick("cm", "", "KMS")
	}
	return g.pick("m", "km", "KM", "mi", "ft")
}

// options returns random GEORADIUS/GEOSEARCH options; store says which
// store options make sense.
func (g *geoGen) options(store string) []string {
	var o []string
	for range g.r.IntN(5) {
		switch g.r.IntN(10) {
		case 0:
			if store == "" {
				o = append(o, "WITHDIST")
			}
		case 1:
			if store == "" {
				o = append(o, "WITHCOORD")
			}
		case 2:
			if store == "" || g.r.IntN(4) == 0 {
				o = append(o, "WITHHASH")
			}
		case 3:
			o = append(o, g.pick("ASC", "DESC", "asc"))
		case 4, 5:
			o = append(o, "COUNT", g.pick("1", "2", "3", "5", "0", "-1", "x", "100"))
			if g.r.IntN(3) == 0 {
				o = append(o, "ANY")
			}
		case 6:
			if g.r.IntN(4) == 0 {
				o = append(o, "ANY")
			}
		case 7:
			switch store {
			case "radius":
				o = append(o, g.pick("STORE", "STOREDIST"), g.pick("dst", "dst2", "g3"))
			case "search":
				o = append(o, "STOREDIST")
			}
		case 8:
			if g.r.IntN(3) == 0 {
				o = append(o, g.pick("BOGUS", "STORE", "FROMMEMBER"))
			}
		case 9:
			if g.r.IntN(4) == 0 || !(store == "radius" || store == "search") {
				o = append(o, "WITHDIST", "WITHCOORD")
			}
		}
	}
	return o
}

func (g *geoGen) from() []string {
	if g.r.IntN(2) == 0 {
		return []string{"FROMMEMBER", g.member()}
	}
	return append([]string{"FROMLONLAT"}, g.pair()...)
}

func (g *geoGen) by() []string {
	if g.r.IntN(2) == 0 {
		return []string{"BYRADIUS", g.dist(), g.unit()}
	}
	return []string{"BYBOX", g.dist(), g.dist(), g.unit()}
}

func (g *geoGen) next() []string {
	k := g.key()
	switch g.r.IntN(16) {
	case 0, 1, 2:
		c := []string{"GEOADD", k}
		if g.r.IntN(4) == 0 {
			c = append(c, g.pick("NX", "XX", "CH", "nx", "ch"))
		}
		if g.r.IntN(8) == 0 {
			c = append(c, g.pick("NX", "XX", "CH", "GT"))
		}
		for range 1 + g.r.IntN(4) {
			c = append(c, g.pair()...)
			c = append(c, g.member())
		}
		if g.r.IntN(20) == 0 {
			c = c[:len(c)-1]
		}
		return c
	case 3:
		c := []string{"GEODIST", k, g.member(), g.member()}
		if g.r.IntN(2) == 0 {
			c = append(c, g.unit())
		}
		if g.r.IntN(15) == 0 {
			c = append(c, "extra")
		}
		return c
	case 4:
		return []string{g.pick("GEOHASH", "GEOPOS"), k, g.member(), g.member(), g.member()}
	case 5:
		c := append([]string{g.pick("GEORADIUS", "GEORADIUS_RO"), k}, g.pair()...)
		c = append(c, g.dist(), g.unit())
		store := ""
		if c[0] == "GEORADIUS" {
			store = "radius"
		}
		return append(c, g.options(store)...)
	case 6:
		c := []string{g.pick("GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"), k, g.member(), g.dist(), g.unit()}
		store := ""
		if c[0] == "GEORADIUSBYMEMBER" {
			store = "radius"
		}
		return append(c, g.options(store)...)
	case 7, 8:
		c := []string{"GEOSEARCH", k}
		if g.r.IntN(25) != 0 {
			c = append(c, g.from()...)
		}
		if g.r.IntN(25) != 0 {
			c = append(c, g.by()...)
		}
		if g.r.IntN(25) == 0 {
			c = append(c, g.from()...)
		}
		return append(c, g.options("")...)
	case 9:
		c := []string{"GEOSEARCHSTORE", g.pick("dst", "dst2", "g3", "dst", "str"), k}
		c = append(c, g.from()...)
		c = append(c, g.by()...)
		return append(c, g.options("search")...)
	case 10:
		return []string{"ZRANGE", g.pick("dst", "dst2", "g3"), "0", "-1", "WITHSCORES"}
	case 11:
		// Scores that are not geohashes still decode to a point.
		return []string{"ZADD", g.pick("g1", "g2"), g.pick("-1", "0", "inf", "-inf", "4503599627370496", "1e19", "3.5", "1e300", "-5e18"), g.member()}
	case 12:
		return []string{"ZREM", g.pick("g1", "g2", "g3"), g.member()}
	case 13:
		return []string{"SET", "str", "v"}
	case 14:
		return []string{"OBJECT", "ENCODING", g.pick("dst", "dst2", "g1")}
	default:
		return []string{"EXISTS", g.pick("dst", "dst2")}
	}
}

// FuzzGeoShape: any sorted set score decodes to a point in range and has
// an 11-character geohash; a search with any centre and any shape size
// (zero, huge, infinite) terminates, and every point it returns is
// inside the shape by the distance it reports.
func FuzzGeoShape(f *testing.F) {
	f.Add(3479099956230698.0, 15.0, 37.0, 200.0, 200.0, 1000.0, false)
	f.Add(-1.0, 180.0, 85.05112878, 0.0, 0.0, 1.0, true)
	f.Add(math.Inf(1), -180.0, -85.05112878, 4e7, 1e-300, 0.3048, false)
	f.Add(1e19, 0.0, 0.0, math.Inf(1), 5.0, 1609.34, true)
	f.Fuzz(func(t *testing.T, score, long, lat, radius, height, conversion float64, box bool) {
		if math.IsNaN(score) {
			score = 0 // a sorted set holds no NaN
		}
		x, y := decodeGeohash(score)
		if !(x >= geoLongMin && x <= geoLongMax && y >= geoLatMin && y <= geoLatMax) {
			t.Fatalf("score %v decodes to %v,%v", score, x, y)
		}
		if h := geohashString(score); len(h) != 11 {
			t.Fatalf("geohash %q", h)
		}
		// Arguments as the parsers let them through.
		if !(long >= geoLongMin && long <= geoLongMax && lat >= geoLatMin && lat <= geoLatMax) ||
			!(radius >= 0) || !(height >= 0) || (conversion != 1 && conversion != 1000 && conversion != 0.3048 && conversion != 1609.34) {
			return
		}
		z := newZsetObj(false)
		z.insert("s", score)
		z.insert("p", float64(geoEncodeScore(long, lat)))
		z.insert("q", float64(geoEncodeScore(max(long-0.01, geoLongMin), lat)))
		s := geoShape{box: box, long: long, lat: lat, conversion: conversion, radius: radius, width: radius, height: height}
		for _, p := range geoMembersOfAllNeighbors(z, &s, 0) {
			if !box && p.dist > radius*conversion {
				t.Fatalf("%s at %v m, outside radius %v", p.member, p.dist, radius*conversion)
			}
		}
	})
}
