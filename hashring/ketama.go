package hashring

import (
	"math"
	"slices"
	"strconv"
)

// ketamaPointsPerServer is twemproxy's KETAMA_POINTS_PER_SERVER: the points
// a server gets when all weights are equal (four per MD5 digest).
const ketamaPointsPerServer = 160

// ketamaPointCount is twemproxy's points for one live server:
//
//	pct = (float)weight / (float)total_weight;
//	floorf((float)(pct * 160 / 4 * (float)nlive + 0.0000000001)) * 4
//
// evaluated in the same precisions (float32 steps, one float64 addition);
// the explicit conversions keep the compiler from fusing operations.
func ketamaPointCount(weight, total uint32, nlive int) uint32 {
	pct := float32(weight) / float32(total)
	x := float32(pct * float32(ketamaPointsPerServer))
	x = float32(x / float32(4))
	x = float32(x * float32(nlive))
	y := float32(float64(x) + 0.0000000001)
	return uint32(float32(math.Floor(float64(y))) * 4)
}

// buildKetama lays out the continuum as twemproxy's ketama_update: for each
// live server in twemproxy's order, points/4 digests of "<name>-<i>", four
// points each, then sorted by value. glibc's qsort is a merge sort, so equal
// values keep their insertion order, which decides ties on lookup; sorting
// value<<32|insertion index reproduces that with a fast unstable sort.
func (t *Table) buildKetama(servers []Server, total uint32) {
	nlive := len(t.order)
	keys := make([]uint64, 0, nlive*ketamaPointsPerServer+4)
	owner := make([]int32, 0, cap(keys)) // server of each point, by insertion index
	buf := make([]byte, 0, 96)
	for _, si := range t.order {
		s := servers[si]
		n := ketamaPointCount(uint32(s.Weight), total, nlive) / 4
		buf = append(buf[:0], s.ContinuumName()...)
		buf = append(buf, '-')
		base := len(buf)
		for i := uint32(0); i < n; i++ {
			buf = strconv.AppendUint(buf[:base], uint64(i), 10)
			for _, v := range ketamaPoints(buf) {
				keys = append(keys, uint64(v)<<32|uint64(len(owner)))
				owner = append(owner, si)
			}
		}
	}
	slices.Sort(keys)
	t.points = make([]uint32, len(keys))
	t.owners = make([]int32, len(keys))
	for i, k := range keys {
		t.points[i], t.owners[i] = uint32(k>>32), owner[uint32(k)]
	}
	t.pidx, t.pshift = ketamaIndex(t.points)
}

// ketamaIndex divides the hash space into 2^bits equal buckets, about one
// point per bucket (at most 2^16), and returns for each bucket b the index
// of the first point >= its start (idx[b]; idx[2^bits] = len(points)) and
// the shift that gives a hash's bucket. A lookup then searches only its
// bucket's points instead of the whole continuum: a binary search over
// 320 points (two servers) was 3% of the proxy's CPU at -P 16, its
// branches unpredictable for random keys.
func ketamaIndex(points []uint32) ([]uint32, uint) {
	bits := uint(1)
	for bits < 16 && 1<<bits < len(points) {
		bits++
	}
	shift := 32 - bits
	idx := make([]uint32, 1<<bits+1)
	p := 0
	for b := range 1 << bits {
		start := uint32(b) << shift
		for p < len(points) && points[p] < start {
			p++
		}
		idx[b] = uint32(p)
	}
	idx[1<<bits] = uint32(len(points))
	return idx, shift
}

// ketamaFind is ketamaSearch through the bucket index: the first point
// >= h is among the points of h's bucket, or it is the first point of a
// later bucket, idx[b+1] (or, past the last point, the wrap to 0).
func (t *Table) ketamaFind(h uint32) int {
	b := h >> t.pshift
	return firstAtLeast(t.points, int(t.pidx[b]), int(t.pidx[b+1]), h)
}

// ketamaSearch returns the index of the first point >= h, or 0 if there is
// none (the continuum wraps), as twemproxy's ketama_dispatch.
func ketamaSearch(points []uint32, h uint32) int {
	return firstAtLeast(points, 0, len(points), h)
}

// firstAtLeast returns the index of the first point >= h, searching
// points[lo:hi] and answering hi if none there is, or 0 past the last
// point (the continuum wraps).
func firstAtLeast(points []uint32, lo, hi int, h uint32) int {
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if points[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(points) {
		return 0
	}
	return lo
}
