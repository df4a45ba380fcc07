//go:build cgo

package backend

/*
#cgo LDFLAGS: -lm
#include <math.h>
*/
import "C"

// The C library's sin, cos and asin, which redis-server uses for GEO
// distances: with them distances and STOREDIST scores are bit-identical
// to redis-server's on the same libc (glibc here).

func libmSin(x float64) float64  { return float64(C.sin(C.double(x))) }
func libmCos(x float64) float64  { return float64(C.cos(C.double(x))) }
func libmAsin(x float64) float64 { return float64(C.asin(C.double(x))) }

// libmExact reports whether the trigonometry is the C library's (glibc's functions: GEO results are bit-identical to redis-server's).
const libmExact = true
