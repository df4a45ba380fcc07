package backend

import "slices"

// The GEO searches (geo.c georadiusGeneric): GEORADIUS, GEORADIUSBYMEMBER,
// their _RO forms, GEOSEARCH and GEOSEARCHSTORE.

// georadiusGeneric's variants.
const (
	geoCoords      = 1 << iota // around coordinates (GEORADIUS)
	geoMember                  // around a member (GEORADIUSBYMEMBER)
	geoNoStore                 // no STORE/STOREDIST (_RO)
	geoSearch                  // GEOSEARCH's arguments
	geoSearchStore             // GEOSEARCHSTORE: STOREDIST only
)

const (
	geoSortNone = iota
	geoSortAsc
	geoSortDesc
)

// geoPoint is a search result.
type geoPoint struct {
	long, lat, dist, score float64
	member                 string
}

// geoSearchCmd is georadiusGeneric for the source key at srcIdx.
func geoSearchCmd(srcIdx int, flags int) func(c *Client, args [][]byte) {
	return func(c *Client, args [][]byte) {
		tx := c.begin()
		switch {
		case flags&geoSearchStore != 0:
			tx.lockKeys(args[1], args[2])
		case flags&(geoNoStore|geoSearch) == 0:
			pos := georadiusKeys(args)
			keys := make([][]byte, len(pos))
			for i, p := range pos {
				keys[i] = args[p]
			}
			tx.lockKeys(keys...)
		default:
			tx.lockKey(args[srcIdx])
		}
		defer c.commit()
		georadiusGeneric(c, tx, args, srcIdx, flags)
	}
}

func georadiusGeneric(c *Client, tx *Tx, args [][]byte, srcIdx int, flags int) {
	z, _, _, found, wrong := lookupObject[*zsetObj](tx, args[srcIdx], true)
	if wrong {
		c.err(errWrongType)
		return
	}
	var storeKey []byte
	storeDist := false
	var shape geoShape
	var baseArgs int
	var msg string
	switch {
	case flags&geoCoords != 0:
		baseArgs = 6
		if shape.long, shape.lat, msg = parseLongLat(args[2], args[3]); msg != "" {
			c.err(msg)
			return
		}
		if shape.radius, shape.conversion, msg = geoDistanceArg(args[4:6]); msg != "" {
			c.err(msg)
			return
		}
	case flags&geoMember != 0 && !found:
		baseArgs = 5
	case flags&geoMember != 0:
		baseArgs = 5
		var ok bool
		if shape.long, shape.lat, ok = geoMemberPos(z, args[2]); !ok {
			c.err(errGeoMember)
			return
		}
		if shape.radius, shape.conversion, msg = geoDistanceArg(args[3:5]); msg != "" {
			c.err(msg)
			return
		}
	default: // geoSearch
		baseArgs = 2
		if flags&geoSearchStore != 0 {
			baseArgs = 3
			storeKey = args[1]
		}
	}

	withDist, withHash, withCoords := false, false, false
	fromMember, fromLoc, byRadius, byBox := false, false, false, false
	sort := geoSortNone
	anyFlag := false
	var count int64
	rest := args[baseArgs:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		left := len(rest) - i - 1
		switch {
		case eqFold(a, "withdist"):
			withDist = true
		case eqFold(a, "withhash"):
			withHash = true
		case eqFold(a, "withcoord"):
			withCoords = true
		case eqFold(a, "any"):
			anyFlag = true
		case eqFold(a, "asc"):
			sort = geoSortAsc
		case eqFold(a, "desc"):
			sort = geoSortDesc
		case eqFold(a, "count") && left >= 1:
			var ok bool
			if count, ok = parseInt(rest[i+1]); !ok {
				c.err(errNotInteger)
				return
			}
			if count <= 0 {
				c.err(errGeoCount)
				return
			}
			i++
		case (eqFold(a, "store") || eqFold(a, "storedist")) && left >= 1 && flags&(geoNoStore|geoSearch) == 0:
			storeKey = rest[i+1]
			storeDist = eqFold(a, "storedist")
			i++
		case eqFold(a, "storedist") && flags&geoSearchStore != 0:
			storeDist = true
		case eqFold(a, "frommember") && left >= 1 && flags&geoSearch != 0 && !fromLoc:
			if found {
				var ok bool
				if shape.long, shape.lat, ok = geoMemberPos(z, rest[i+1]); !ok {
					c.err(errGeoMember)
					return
				}
			}
			fromMember = true
			i++
		case eqFold(a, "fromlonlat") && left >= 2 && flags&geoSearch != 0 && !fromMember:
			if shape.long, shape.lat, msg = parseLongLat(rest[i+1], rest[i+2]); msg != "" {
				c.err(msg)
				return
			}
			fromLoc = true
			i += 2
		case eqFold(a, "byradius") && left >= 2 && flags&geoSearch != 0 && !byBox:
			if shape.radius, shape.conversion, msg = geoDistanceArg(rest[i+1 : i+3]); msg != "" {
				c.err(msg)
				return
			}
			shape.box = false
			byRadius = true
			i += 2
		case eqFold(a, "bybox") && left >= 3 && flags&geoSearch != 0 && !byRadius:
			if shape.width, shape.height, shape.conversion, msg = geoBoxArg(rest[i+1 : i+4]); msg != "" {
				c.err(msg)
				return
			}
			shape.box = true
			byBox = true
			i += 3
		default:
			c.err(errSyntax)
			return
		}
	}
	if storeKey != nil && (withDist || withHash || withCoords) {
		what := "ERR STORE option in GEORADIUS"
		if flags&geoSearchStore != 0 {
			what = "ERR GEOSEARCHSTORE"
		}
		c.err(what + errGeoWithStore)
		return
	}
	if flags&geoSearch != 0 && !fromMember && !fromLoc {
		c.err(errGeoNeedFrom + cstr(args[0]))
		return
	}
	if flags&geoSearch != 0 && !byRadius && !byBox {
		c.err(errGeoNeedBy + cstr(args[0]))
		return
	}
	if anyFlag && count == 0 {
		c.err(errGeoAnyCount)
		return
	}
	if !found {
		if storeKey != nil {
			if e, sh, ok := tx.lookup(storeKey); ok {
				tx.remove(sh, e)
				tx.notify(notifyGeneric, "del", storeKey)
				c.emitSelf(tx)
			}
			c.int(0)
		} else {
			c.array(0)
		}
		return
	}
	if count != 0 && sort == geoSortNone && !anyFlag {
		sort = geoSortAsc
	}
	limit := int64(0)
	if anyFlag {
		limit = count
	}
	points := geoMembersOfAllNeighbors(z, &shape, limit)
	if len(points) == 0 && storeKey == nil {
		c.array(0)
		return
	}
	returned := len(points)
	if count != 0 && int64(returned) > count {
		returned = int(count)
	}
	if sort != geoSortNone {
		cmp := func(a, b *geoPoint) int {
			switch {
			case a.dist > b.dist:
				return 1
			case a.dist == b.dist:
				return 0
			}
			return -1
		}
		if sort == geoSortDesc {
			asc := cmp
			cmp = func(a, b *geoPoint) int { return -asc(a, b) }
		}
		if returned == len(points) {
			// glibc's qsort is a merge sort: stable.
			slices.SortStableFunc(points, func(a, b geoPoint) int { return cmp(&a, &b) })
		} else {
			pqsort(len(points), func(i, j int) int { return cmp(&points[i], &points[j]) },
				func(i, j int) { points[i], points[j] = points[j], points[i] }, 0, returned-1)
		}
	}
	points = points[:returned]
	if storeKey == nil {
		options := 0
		for _, on := range []bool{withDist, withCoords, withHash} {
			if on {
				options++
			}
		}
		c.array(returned)
		for i := range points {
			p := &points[i]
			p.dist /= shape.conversion
			if options > 0 {
				c.array(options + 1)
			}
			c.bulkString(p.member)
			if withDist {
				c.bulk(appendGeoDistance(c.num[:0], p.dist))
			}
			if withHash {
				c.int(cInt64(p.score))
			}
			if withCoords {
				c.array(2)
				c.bulkString(formatGeoCoord(p.long))
				c.bulkString(formatGeoCoord(p.lat))
			}
		}
		return
	}
	items := make([]zitem, len(points))
	for i := range points {
		p := &points[i]
		p.dist /= shape.conversion
		items[i] = zitem{score: p.score, m: p.member}
		if storeDist {
			items[i].score = p.dist
		}
	}
	if len(items) > 0 {
		storeZset(c, tx, storeKey, items, geoStoreEvent(flags))
		c.emitSelf(tx)
	} else if e, sh, ok := tx.lookup(storeKey); ok {
		tx.remove(sh, e)
		tx.notify(notifyGeneric, "del", storeKey)
		c.emitSelf(tx)
	}
	c.int(int64(returned))
}

// geoMembersOfAllNeighbors is membersOfAllNeighbors: the points inside
// the shape from the centre box and its neighbours, at most limit (when
// not 0).
func geoMembersOfAllNeighbors(z *zsetObj, s *geoShape, limit int64) []geoPoint {
	r := s.areas()
	n := &r.neighbors
	boxes := [9]geoHashBits{r.hash, n.north, n.south, n.east, n.west, n.northEast, n.northWest, n.southEast, n.southWest}
	var out []geoPoint
	last := 0
	for i, b := range boxes {
		if b.isZero() {
			continue
		}
		if last != 0 && b == boxes[last] {
			continue // huge radius: a neighbour can be the box just searched
		}
		if len(out) > 0 && limit > 0 && int64(len(out)) >= limit {
			break
		}
		minScore := float64(geoAlign52(b))
		b.bits++
		maxScore := float64(geoAlign52(b))
		out = geoPointsInRange(z, minScore, maxScore, s, out, limit)
		last = i
	}
	return out
}

// geoPointsInRange is geoGetPointsInRange: members with min <= score <
// max inside the shape, appended to out.
func geoPointsInRange(z *zsetObj, minScore, maxScore float64, s *geoShape, out []geoPoint, limit int64) []geoPoint {
	if minScore >= maxScore { // zslIsInRange with max excluded
		return out
	}
	from := z.firstWhere(func(a zitem) bool { return a.score < minScore })
	z.ord.Ascend(from, func(_ int, it zitem) bool {
		if !(it.score < maxScore) {
			return false
		}
		if x, y, dist, ok := s.within(it.score); ok {
			out = append(out, geoPoint{long: x, lat: y, dist: dist, score: it.score, member: it.m})
		}
		return !(len(out) > 0 && limit > 0 && int64(len(out)) >= limit)
	})
	return out
}
