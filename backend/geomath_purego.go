//go:build !cgo

package backend

import "math"

// Without cgo, Go's math: it differs from glibc's in the last bit for
// about a third of the inputs, so a GEO distance can differ from
// redis-server's in its last digits (STOREDIST scores) and, rarely, a
// point exactly on a search radius falls the other way.

func libmSin(x float64) float64  { return math.Sin(x) }
func libmCos(x float64) float64  { return math.Cos(x) }
func libmAsin(x float64) float64 { return math.Asin(x) }

// libmExact reports whether the trigonometry is the C library's (Go's functions: GEO distances may differ from redis-server's in the last bit).
const libmExact = false
