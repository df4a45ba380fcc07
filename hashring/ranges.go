package hashring

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DefaultSlots is the number of slots of a slot-based pool when the
// configuration does not say (`slots:`).
const DefaultSlots = 4096

// MaxSlots is the largest number of slots a pool may have. A Table keeps one
// int32 per slot, so MaxSlots bounds its size (256 KiB).
const MaxSlots = 65536

// Range is an inclusive range of slots, Lo <= Hi, written "Lo-Hi".
type Range struct {
	Lo, Hi int
}

// Len is the number of slots in r.
func (r Range) Len() int { return r.Hi - r.Lo + 1 }

// Contains reports whether slot is in r.
func (r Range) Contains(slot int) bool { return r.Lo <= slot && slot <= r.Hi }

// String formats r as "Lo-Hi" (also when Lo == Hi, so that the text can
// never be mistaken for a server weight).
func (r Range) String() string { return strconv.Itoa(r.Lo) + "-" + strconv.Itoa(r.Hi) }

// Errors of ParseRanges.
var (
	// ErrBadRange: the text is not "a-b[,c-d...]" with 0 <= a <= b < MaxSlots.
	ErrBadRange = errors.New("bad slot range")
	// ErrRangeOverlap: two ranges of the same list share slots.
	ErrRangeOverlap = errors.New("overlapping slot ranges")
)

// ParseRanges parses a comma-separated list of slot ranges such as
// "0-99,200-2047". A range is "a-b" (inclusive) or a single slot "a";
// blanks around items are ignored. The ranges are returned in the order
// written. Errors wrap ErrBadRange or ErrRangeOverlap and quote the
// offending item, e.g. `bad slot range "99-0": start after end`.
func ParseRanges(s string) ([]Range, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadRange)
	}
	items := strings.Split(s, ",")
	out := make([]Range, 0, len(items))
	for _, item := range items {
		item = strings.TrimSpace(item)
		lo, hi, dash := strings.Cut(item, "-")
		if !dash {
			hi = lo
		}
		a, err := parseSlot(lo)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBadRange, item, err)
		}
		b, err := parseSlot(hi)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBadRange, item, err)
		}
		if a > b {
			return nil, fmt.Errorf("%w %q: start after end", ErrBadRange, item)
		}
		out = append(out, Range{a, b})
	}
	if len(out) > 1 {
		sorted := slices.Clone(out)
		slices.SortFunc(sorted, func(x, y Range) int { return x.Lo - y.Lo })
		for i := 1; i < len(sorted); i++ {
			if sorted[i].Lo <= sorted[i-1].Hi {
				return nil, fmt.Errorf("%w %s and %s", ErrRangeOverlap, sorted[i-1], sorted[i])
			}
		}
	}
	return out, nil
}

func parseSlot(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("missing number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a slot number", s)
		}
	}
	if len(s) > 6 {
		return 0, fmt.Errorf("slot %s is above %d", s, MaxSlots-1)
	}
	n, _ := strconv.Atoi(s)
	if n >= MaxSlots {
		return 0, fmt.Errorf("slot %d is above %d", n, MaxSlots-1)
	}
	return n, nil
}

// FormatRanges formats ranges as ParseRanges reads them: "a-b,c-d" in the
// order given. It returns "" for no ranges.
func FormatRanges(ranges []Range) string {
	var sb strings.Builder
	for i, r := range ranges {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(r.String())
	}
	return sb.String()
}

// Owner is a named holder of slot ranges (a server or a ZooKeeper shard
// such as "redis-0000"), as checked by CheckCoverage.
type Owner struct {
	Name   string
	Ranges []Range
}

// Kinds of coverage problems; a *CoverageError unwraps to one of them.
var (
	ErrSlotsNotCovered = errors.New("slots not covered")
	ErrSlotsOverlap    = errors.New("slots owned twice")
	ErrSlotsOutOfRange = errors.New("slots out of range")
	ErrBadSlotCount    = errors.New("bad slot count")
)

// CoverageError describes the first problem CheckCoverage found, in slot
// order. Its message names the slots and the owners involved.
type CoverageError struct {
	Kind   error  // ErrSlotsNotCovered, ErrSlotsOverlap or ErrSlotsOutOfRange
	Lo, Hi int    // the slots concerned, inclusive
	Owner  string // the owner (the first one, for an overlap); "" for a gap
	Other  string // the second owner of an overlap
	Slots  int    // the slot count checked against
}

func (e *CoverageError) Error() string {
	what, verb := "slot "+strconv.Itoa(e.Lo), " is"
	if e.Hi != e.Lo {
		what, verb = "slots "+strconv.Itoa(e.Lo)+"-"+strconv.Itoa(e.Hi), " are"
	}
	switch e.Kind {
	case ErrSlotsNotCovered:
		return what + verb + " not covered"
	case ErrSlotsOverlap:
		return what + verb + " in " + e.Owner + " and " + e.Other
	default:
		return fmt.Sprintf("%s of %s%s outside 0-%d", what, e.Owner, verb, e.Slots-1)
	}
}

// Unwrap returns e.Kind.
func (e *CoverageError) Unwrap() error { return e.Kind }

// CheckCoverage checks that the owners' ranges cover every slot in
// [0, slots) exactly once. It returns nil, an error wrapping ErrBadSlotCount
// if slots is not in [1, MaxSlots], or a *CoverageError for the first
// problem in slot order, e.g. "slots 2048-2050 are not covered",
// "slot 100 is in redis-0000 and redis-0001" or
// "slots 4096-4100 of redis-0001 are outside 0-4095".
func CheckCoverage(slots int, owners []Owner) error {
	_, err := slotOwners(slots, owners)
	return err
}

// slotOwners returns, for each slot, the index in owners of its owner; it
// fails as CheckCoverage does.
func slotOwners(slots int, owners []Owner) ([]int32, error) {
	if slots < 1 || slots > MaxSlots {
		return nil, fmt.Errorf("%w %d (want 1..%d)", ErrBadSlotCount, slots, MaxSlots)
	}
	// Out-of-range slots first: the smallest offending Lo wins.
	var bad *CoverageError
	for _, o := range owners {
		for _, r := range o.Ranges {
			if r.Hi >= slots || r.Lo < 0 {
				lo := max(r.Lo, slots)
				if r.Lo < 0 {
					lo = r.Lo
				}
				if bad == nil || lo < bad.Lo {
					bad = &CoverageError{Kind: ErrSlotsOutOfRange, Lo: lo, Hi: r.Hi, Owner: o.Name, Slots: slots}
				}
			}
		}
	}
	if bad != nil {
		return nil, bad
	}
	owner := make([]int32, slots)
	for i := range owner {
		owner[i] = -1
	}
	// Overlaps: report the smallest overlapping slot and the extent of that
	// overlap between the same two owners.
	for oi, o := range owners {
		for _, r := range o.Ranges {
			for s := r.Lo; s <= r.Hi; s++ {
				if prev := owner[s]; prev >= 0 {
					e := &CoverageError{Kind: ErrSlotsOverlap, Lo: s, Hi: s, Owner: owners[prev].Name, Other: o.Name, Slots: slots}
					if bad == nil || s < bad.Lo {
						for e.Hi+1 <= r.Hi && owner[e.Hi+1] == prev {
							e.Hi++
						}
						bad = e
					}
					continue
				}
				owner[s] = int32(oi)
			}
		}
	}
	for s := 0; s < slots; s++ {
		if owner[s] >= 0 {
			continue
		}
		e := &CoverageError{Kind: ErrSlotsNotCovered, Lo: s, Hi: s, Slots: slots}
		for e.Hi+1 < slots && owner[e.Hi+1] < 0 {
			e.Hi++
		}
		if bad == nil || s < bad.Lo {
			bad = e
		}
		break
	}
	if bad != nil {
		return nil, bad
	}
	return owner, nil
}

// MergeRanges sorts ranges and merges those that overlap or touch
// (0-9 and 10-19 become 0-19). It reorders rs in place.
func MergeRanges(rs []Range) []Range {
	slices.SortFunc(rs, func(x, y Range) int { return x.Lo - y.Lo })
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && r.Lo <= out[n-1].Hi+1 {
			out[n-1].Hi = max(out[n-1].Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// SubtractRanges returns the slots of a that are not in b, merged.
func SubtractRanges(a, b []Range) []Range {
	var out []Range
	for _, r := range a {
		cur := []Range{r}
		for _, x := range b {
			var next []Range
			for _, c := range cur {
				if x.Hi < c.Lo || x.Lo > c.Hi {
					next = append(next, c)
					continue
				}
				if c.Lo < x.Lo {
					next = append(next, Range{Lo: c.Lo, Hi: x.Lo - 1})
				}
				if c.Hi > x.Hi {
					next = append(next, Range{Lo: x.Hi + 1, Hi: c.Hi})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return MergeRanges(out)
}
