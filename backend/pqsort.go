package backend

// pqsort is Redis' pqsort.c (Bentley & McIlroy's quicksort, recursing
// only into the parts that overlap the ranks [lrange, rrange]) over n
// elements reached through cmp and swap: with it the elements of a
// partial sort come out in the same order as in Redis, ties included.
func pqsort(n int, cmp func(i, j int) int, swap func(i, j int), lrange, rrange int) {
	pqsortAt(0, n, cmp, swap, lrange, rrange)
}

func pqsortAt(a, n int, cmp func(i, j int) int, swap func(i, j int), lrange, rrange int) {
	vecswap := func(i, j, k int) {
		for ; k > 0; k-- {
			swap(i, j)
			i++
			j++
		}
	}
	med3 := func(x, y, z int) int {
		if cmp(x, y) < 0 {
			if cmp(y, z) < 0 {
				return y
			}
			if cmp(x, z) < 0 {
				return z
			}
			return x
		}
		if cmp(y, z) > 0 {
			return y
		}
		if cmp(x, z) < 0 {
			return x
		}
		return z
	}
	for {
		if n < 7 {
			for pm := a + 1; pm < a+n; pm++ {
				for pl := pm; pl > a && cmp(pl-1, pl) > 0; pl-- {
					swap(pl, pl-1)
				}
			}
			return
		}
		pm := a + n/2
		if n > 7 {
			pl, pn := a, a+n-1
			if n > 40 {
				d := n / 8
				pl = med3(pl, pl+d, pl+2*d)
				pm = med3(pm-d, pm, pm+d)
				pn = med3(pn-2*d, pn-d, pn)
			}
			pm = med3(pl, pm, pn)
		}
		swap(a, pm)
		pa, pb := a+1, a+1
		pc, pd := a+n-1, a+n-1
		for {
			for pb <= pc {
				r := cmp(pb, a)
				if r > 0 {
					break
				}
				if r == 0 {
					swap(pa, pb)
					pa++
				}
				pb++
			}
			for pb <= pc {
				r := cmp(pc, a)
				if r < 0 {
					break
				}
				if r == 0 {
					swap(pc, pd)
					pd--
				}
				pc--
			}
			if pb > pc {
				break
			}
			swap(pb, pc)
			pb++
			pc--
		}
		pn := a + n
		r := min(pa-a, pb-pa)
		vecswap(a, pb-r, r)
		r = min(pd-pc, pn-pd-1)
		vecswap(pb, pn-r, r)
		overlaps := func(lo, cnt int) bool {
			return !((lrange < lo && rrange < lo) || (lrange >= lo+cnt && rrange >= lo+cnt))
		}
		if r = pb - pa; r > 1 && overlaps(a, r) {
			pqsortAt(a, r, cmp, swap, lrange, rrange)
		}
		if r = pd - pc; r > 1 {
			a, n = pn-r, r
			if overlaps(a, n) {
				continue
			}
		}
		return
	}
}
