package hashring

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Table maps keys to server indexes. It is immutable and safe for
// concurrent use; Lookup, Hash, Slot and LookupSlot never allocate.
type Table struct {
	dist     Distribution
	hash     HashFunc
	hashName string
	tag      string
	slots    int // Slots tables only
	live     []bool

	// ketama: sorted continuum points and the server index of each, and
	// an index of the points by the hash's top bits (see ketamaIndex)
	points []uint32
	owners []int32
	pidx   []uint32
	pshift uint
	// modula: cumulative live weights, total, and their servers
	cum   []uint32
	total uint32
	// modula and random: live servers in twemproxy's order
	order []int32
	// slots: owner of each slot
	slotOwner []int32
}

// New builds the Table for spec with every server live.
func New(spec Spec) (*Table, error) { return NewWithout(spec, nil) }

// NewWithout builds the Table for spec as twemproxy does once
// auto_eject_hosts has ejected the servers i with ejected[i] true: ketama,
// modula and random are rebuilt over the live servers only (ketama's points
// per server are recomputed from the live total weight and live count, so
// most keys of live servers stay where they were). In a Slots table
// ejection moves nothing: an ejected server keeps its slots and Live
// reports it, so the proxy can answer its keys with an error. ejected is
// nil or has one entry per server. If every server is ejected from a
// ketama, modula or random table, NewWithout fails with ErrNoLiveServers.
func NewWithout(spec Spec, ejected []bool) (*Table, error) {
	n := len(spec.Servers)
	if n == 0 {
		return nil, ErrNoServers
	}
	if ejected != nil && len(ejected) != n {
		return nil, fmt.Errorf("%w: %d for %d servers", ErrEjectedLength, len(ejected), n)
	}
	if spec.HashTag != "" && len(spec.HashTag) != 2 {
		return nil, fmt.Errorf("%w: %q", ErrBadHashTag, spec.HashTag)
	}
	hashName := spec.Hash
	if hashName == "" {
		hashName = DefaultHash
	}
	h, err := HashByName(hashName)
	if err != nil {
		return nil, err
	}
	t := &Table{dist: spec.Distribution, hash: h, hashName: hashName, tag: spec.HashTag, live: make([]bool, n)}
	for i := range t.live {
		t.live[i] = ejected == nil || !ejected[i]
	}
	if err := checkServers(spec); err != nil {
		return nil, err
	}
	switch spec.Distribution {
	case Slots:
		return t, t.buildSlots(spec)
	case Ketama, Modula, Random:
	default:
		return nil, fmt.Errorf("%w %v", ErrUnknownDistribution, spec.Distribution)
	}
	order := twemproxyOrder(spec.Servers)
	var total uint64
	for _, i := range order {
		if t.live[i] {
			t.order = append(t.order, int32(i))
			total += uint64(spec.Servers[i].Weight)
		}
	}
	if len(t.order) == 0 {
		return nil, ErrNoLiveServers
	}
	switch spec.Distribution {
	case Ketama:
		t.buildKetama(spec.Servers, uint32(total))
		t.order = nil
	case Modula:
		t.total = uint32(total)
		t.cum = make([]uint32, len(t.order))
		var c uint32
		for k, i := range t.order {
			c += uint32(spec.Servers[i].Weight)
			t.cum[k] = c
		}
	}
	return t, nil
}

// checkServers validates weights, ranges and names for the distribution.
func checkServers(spec Spec) error {
	names := make(map[string]int, len(spec.Servers))
	var total uint64
	for i, s := range spec.Servers {
		name := s.ContinuumName()
		if j, dup := names[name]; dup {
			return &ServerError{Index: i, Name: name, Err: fmt.Errorf("%w (also server %d)", ErrDuplicateServer, j)}
		}
		names[name] = i
		if spec.Distribution == Slots {
			if len(s.Ranges) == 0 {
				return &ServerError{Index: i, Name: name, Err: ErrMissingRanges}
			}
			continue
		}
		if len(s.Ranges) > 0 {
			return &ServerError{Index: i, Name: name, Err: fmt.Errorf("%w, not %v", ErrRangesNeedSlots, spec.Distribution)}
		}
		if s.Weight < 1 {
			return &ServerError{Index: i, Name: name, Err: ErrBadWeight}
		}
		total += uint64(s.Weight)
		if total > math.MaxUint32 {
			return &ServerError{Index: i, Name: name, Err: ErrWeightTotal}
		}
	}
	return nil
}

// twemproxyOrder returns the server indexes in the order twemproxy keeps
// its servers after validating a pool: sorted by ContinuumName, shorter
// names first, then bytewise (its string_compare), stably.
func twemproxyOrder(servers []Server) []int {
	order := make([]int, len(servers))
	names := make([]string, len(servers))
	for i := range order {
		order[i] = i
		names[i] = servers[i].ContinuumName()
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmp.Compare(len(names[a]), len(names[b])); c != 0 {
			return c
		}
		return cmp.Compare(names[a], names[b])
	})
	return order
}

func (t *Table) buildSlots(spec Spec) error {
	slots := spec.Slots
	if slots == 0 {
		slots = DefaultSlots
	}
	owners := make([]Owner, len(spec.Servers))
	for i, s := range spec.Servers {
		owners[i] = Owner{Name: s.ContinuumName(), Ranges: s.Ranges}
	}
	so, err := slotOwners(slots, owners)
	if err != nil {
		return err
	}
	t.slots, t.slotOwner = slots, so
	return nil
}

// Lookup returns the index in Spec.Servers of the server that owns key
// (before hash tag extraction; Lookup applies the table's hash tag).
func (t *Table) Lookup(key []byte) int {
	if t.dist == Random {
		return int(t.order[rand.IntN(len(t.order))])
	}
	return t.LookupHash(t.Hash(key))
}

// Hash returns the hash twemproxy dispatches key on: the table's hash
// function over HashTag(key, tag), or 0 if that is empty.
func (t *Table) Hash(key []byte) uint32 {
	key = HashTag(key, t.tag)
	if len(key) == 0 {
		return 0
	}
	return t.hash(key)
}

// LookupHash returns the server index for a hash computed by Hash. For a
// Random table it picks a live server at random.
func (t *Table) LookupHash(h uint32) int {
	switch t.dist {
	case Ketama:
		return int(t.owners[t.ketamaFind(h)])
	case Modula:
		pos := h % t.total
		lo, hi := 0, len(t.cum)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if t.cum[m] <= pos {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return int(t.order[lo])
	case Slots:
		return int(t.slotOwner[h%uint32(t.slots)])
	default:
		return int(t.order[rand.IntN(len(t.order))])
	}
}

// Slot returns the slot of key in a Slots table (hash % slots, after the
// hash tag), or -1 for other distributions.
func (t *Table) Slot(key []byte) int {
	if t.dist != Slots {
		return -1
	}
	return int(t.Hash(key) % uint32(t.slots))
}

// LookupSlot returns the index of the server owning slot in a Slots table,
// or -1 if the table is not slot-based or slot is out of range.
func (t *Table) LookupSlot(slot int) int {
	if t.dist != Slots || slot < 0 || slot >= t.slots {
		return -1
	}
	return int(t.slotOwner[slot])
}

// KeySlot returns the slot of key for a slot-based pool with hash function
// h, hash tag tag and slots slots (> 0), without a Table: hash % slots over
// HashTag(key, tag), an empty key having hash 0.
func KeySlot(h HashFunc, tag string, slots int, key []byte) int {
	key = HashTag(key, tag)
	if len(key) == 0 {
		return 0
	}
	return int(h(key) % uint32(slots))
}

// Distribution returns the table's distribution.
func (t *Table) Distribution() Distribution { return t.dist }

// HashName returns the twemproxy name of the table's hash function.
func (t *Table) HashName() string { return t.hashName }

// HashTag returns the table's hash tag ("" if none).
func (t *Table) HashTag() string { return t.tag }

// Slots returns the slot count of a Slots table, 0 for others.
func (t *Table) Slots() int { return t.slots }

// Len returns the number of servers, ejected ones included.
func (t *Table) Len() int { return len(t.live) }

// Live reports whether server i was live (not ejected) when the table was
// built.
func (t *Table) Live(i int) bool { return i >= 0 && i < len(t.live) && t.live[i] }

// LiveCount returns the number of live servers.
func (t *Table) LiveCount() int {
	n := 0
	for _, l := range t.live {
		if l {
			n++
		}
	}
	return n
}
