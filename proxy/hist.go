package proxy

import (
	"sync/atomic"
	"time"
)

// Latency histograms per pool and command. A session counts its replies
// in a plain array per command (sessionCmdStats.hist) and adds it to the
// pool's atomic buckets when it has nothing more to send, as it does for
// the other command statistics (stats.go), so a pipeline costs a few
// atomic additions, not one per reply. Each bucket counts the requests
// whose latency falls in it (not cumulative); an exporter turns them into
// Prometheus' cumulative buckets, with cmdStats.calls as the count and
// cmdStats.usec as the sum. The latency is the slowlog's: from when the
// command was read to when its reply was written.

// histBounds are the upper bounds of the histogram buckets; the last
// bucket (histBuckets-1) counts everything slower than the last bound.
var histBounds = [...]time.Duration{
	100 * time.Microsecond,
	250 * time.Microsecond,
	500 * time.Microsecond,
	time.Millisecond,
	2500 * time.Microsecond,
	5 * time.Millisecond,
	10 * time.Millisecond,
	25 * time.Millisecond,
	50 * time.Millisecond,
	100 * time.Millisecond,
	250 * time.Millisecond,
	500 * time.Millisecond,
	time.Second,
	2500 * time.Millisecond,
	5 * time.Second,
	10 * time.Second,
}

// histBuckets is the number of buckets: one per bound, and +Inf.
const histBuckets = len(histBounds) + 1

// histBucket returns the bucket of a latency: the first whose bound is
// at least d.
func histBucket(d time.Duration) int {
	// Most requests are fast: a linear search ends early.
	for i, b := range histBounds {
		if d <= b {
			return i
		}
	}
	return histBuckets - 1
}

// HistogramBounds returns the upper bounds of the latency buckets in
// seconds, without the +Inf bucket (for exporters).
func HistogramBounds() []float64 {
	out := make([]float64, len(histBounds))
	for i, b := range histBounds {
		out[i] = b.Seconds()
	}
	return out
}

// cmdHist is one command's latency histogram in a pool.
type cmdHist struct {
	buckets [histBuckets]atomic.Int64
}

// add adds a session's counts and zeroes them.
func (h *cmdHist) add(counts *[histBuckets]int64) {
	for i, n := range counts {
		if n != 0 {
			h.buckets[i].Add(n)
			counts[i] = 0
		}
	}
}

// snapshot returns the counts of every bucket (not cumulative).
func (h *cmdHist) snapshot() [histBuckets]int64 {
	var out [histBuckets]int64
	for i := range h.buckets {
		out[i] = h.buckets[i].Load()
	}
	return out
}
