package hashring

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseRanges(t *testing.T) {
	good := []struct {
		in   string
		want []Range
		out  string
	}{
		{"0-2047", []Range{{0, 2047}}, "0-2047"},
		{"0-99,200-2047", []Range{{0, 99}, {200, 2047}}, "0-99,200-2047"},
		{"200-2047,0-99", []Range{{200, 2047}, {0, 99}}, "200-2047,0-99"},
		{" 0 - 99 , 100-100 ", []Range{{0, 99}, {100, 100}}, "0-99,100-100"},
		{"5", []Range{{5, 5}}, "5-5"},
		{"7,9", []Range{{7, 7}, {9, 9}}, "7-7,9-9"},
		{"65535", []Range{{65535, 65535}}, "65535-65535"},
		{"0-65535", []Range{{0, 65535}}, "0-65535"},
		{"007-010", []Range{{7, 10}}, "7-10"},
	}
	for _, c := range good {
		got, err := ParseRanges(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseRanges(%q) = %v, %v; want %v", c.in, got, err, c.want)
			continue
		}
		if s := FormatRanges(got); s != c.out {
			t.Errorf("FormatRanges(%v) = %q, want %q", got, s, c.out)
		}
	}
	bad := []struct {
		in, msg string
		kind    error
	}{
		{"", "empty", ErrBadRange},
		{"  ", "empty", ErrBadRange},
		{"99-0", `bad slot range "99-0": start after end`, ErrBadRange},
		{"0-", `"0-": missing number`, ErrBadRange},
		{"-5", `"-5": missing number`, ErrBadRange},
		{"0-99,", `"": missing number`, ErrBadRange},
		{",0-99", `"": missing number`, ErrBadRange},
		{"a-b", `"a" is not a slot number`, ErrBadRange},
		{"1-2-3", `"2-3" is not a slot number`, ErrBadRange},
		{"0x10", `"0x10" is not a slot number`, ErrBadRange},
		{"+1", `"+1" is not a slot number`, ErrBadRange},
		{"0-65536", "slot 65536 is above 65535", ErrBadRange},
		{"0-99999999999999999999", "is above 65535", ErrBadRange},
		{"0-99,50-60", "overlapping slot ranges 0-99 and 50-60", ErrRangeOverlap},
		{"50-60,0-50", "overlapping slot ranges 0-50 and 50-60", ErrRangeOverlap},
		{"3,3", "overlapping slot ranges 3-3 and 3-3", ErrRangeOverlap},
	}
	for _, c := range bad {
		got, err := ParseRanges(c.in)
		if err == nil {
			t.Errorf("ParseRanges(%q) = %v, want error", c.in, got)
			continue
		}
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseRanges(%q) error %q, want %v containing %q", c.in, err, c.kind, c.msg)
		}
	}
}

func TestCheckCoverage(t *testing.T) {
	r := func(s string) []Range {
		rs, err := ParseRanges(s)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	cases := []struct {
		slots  int
		owners []Owner
		want   string // "" = ok
		kind   error
	}{
		{4096, []Owner{{"a", r("0-2047")}, {"b", r("2048-4095")}}, "", nil},
		{4096, []Owner{{"a", r("0-99,200-4095")}, {"b", r("100-199")}}, "", nil},
		{1, []Owner{{"a", r("0")}}, "", nil},
		{4096, []Owner{{"a", r("0-2047")}, {"b", r("2051-4095")}}, "slots 2048-2050 are not covered", ErrSlotsNotCovered},
		{4096, []Owner{{"a", r("0-2047")}, {"b", r("2049-4095")}}, "slot 2048 is not covered", ErrSlotsNotCovered},
		{4096, []Owner{{"a", r("1-4095")}}, "slot 0 is not covered", ErrSlotsNotCovered},
		{4096, []Owner{{"a", r("0-4094")}}, "slot 4095 is not covered", ErrSlotsNotCovered},
		{4096, nil, "slots 0-4095 are not covered", ErrSlotsNotCovered},
		{4096, []Owner{{"redis-0000", r("0-100")}, {"redis-0001", r("100-4095")}}, "slot 100 is in redis-0000 and redis-0001", ErrSlotsOverlap},
		{4096, []Owner{{"redis-0000", r("0-2047")}, {"redis-0001", r("1000-1999,2048-4095")}}, "slots 1000-1999 are in redis-0000 and redis-0001", ErrSlotsOverlap},
		// the first problem in slot order wins: the gap at 10 before the overlap at 3000
		{4096, []Owner{{"a", r("0-9,20-3000")}, {"b", r("3000-4095")}}, "slots 10-19 are not covered", ErrSlotsNotCovered},
		{4096, []Owner{{"a", r("0-2047")}, {"redis-0001", r("2048-4100")}}, "slots 4096-4100 of redis-0001 are outside 0-4095", ErrSlotsOutOfRange},
		{16, []Owner{{"a", r("0-15")}, {"b", r("16")}}, "slot 16 of b is outside 0-15", ErrSlotsOutOfRange},
		{0, []Owner{{"a", r("0")}}, "bad slot count 0", ErrBadSlotCount},
		{MaxSlots + 1, []Owner{{"a", r("0")}}, "bad slot count 65537", ErrBadSlotCount},
	}
	for _, c := range cases {
		err := CheckCoverage(c.slots, c.owners)
		if c.want == "" {
			if err != nil {
				t.Errorf("CheckCoverage(%d, %v) = %v, want nil", c.slots, c.owners, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.kind) {
			t.Errorf("CheckCoverage(%d, %v) = %v, want %v %q", c.slots, c.owners, err, c.kind, c.want)
		}
		var ce *CoverageError
		if c.kind != ErrBadSlotCount && !errors.As(err, &ce) {
			t.Errorf("CheckCoverage(%d, %v) = %T, want *CoverageError", c.slots, c.owners, err)
		}
	}
}

func FuzzParseRanges(f *testing.F) {
	for _, s := range []string{"0-2047", "0-99,200-2047", "5", " 1 - 2 ,3", "99-0", "0-99,50-60", "", ",", "-", "0-65535", "1-2-3", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRanges(s)
		if err != nil {
			if rs != nil {
				t.Fatalf("ParseRanges(%q) returned ranges with error %v", s, err)
			}
			if !errors.Is(err, ErrBadRange) && !errors.Is(err, ErrRangeOverlap) {
				t.Fatalf("ParseRanges(%q): error %v wraps neither sentinel", s, err)
			}
			return
		}
		for _, r := range rs {
			if r.Lo < 0 || r.Lo > r.Hi || r.Hi >= MaxSlots {
				t.Fatalf("ParseRanges(%q) = bad range %v", s, r)
			}
		}
		again, err := ParseRanges(FormatRanges(rs))
		if err != nil || !slices.Equal(again, rs) {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, rs, FormatRanges(rs), again, err)
		}
		// Coverage of exactly these ranges over a slot count just past the
		// largest must either pass or name a gap, never panic.
		top := 0
		for _, r := range rs {
			top = max(top, r.Hi+1)
		}
		if err := CheckCoverage(top, []Owner{{"x", rs}}); err != nil && !errors.Is(err, ErrSlotsNotCovered) {
			t.Fatalf("CheckCoverage of %v: %v", rs, err)
		}
	})
}

func TestMergeSubtractRanges(t *testing.T) {
	r := func(s string) []Range {
		rs, err := ParseRanges(s)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	for _, c := range []struct{ a, b, want string }{
		{"0-100,200-300", "50-250", "0-49,251-300"},
		{"0-9,10-19", "", "0-19"},
		{"5-9", "0-20", ""},
		{"0-4095", "0-0,4095-4095", "1-4094"},
		{"10-20,0-5", "3-12", "0-2,13-20"},
	} {
		var b []Range
		if c.b != "" {
			b = r(c.b)
		}
		if got := FormatRanges(SubtractRanges(r(c.a), b)); got != c.want && !(c.want == "" && got == "none") {
			t.Errorf("%s - %s = %q, want %q", c.a, c.b, got, c.want)
		}
	}
	if got := FormatRanges(MergeRanges([]Range{{20, 30}, {0, 9}, {10, 15}, {25, 40}})); got != "0-15,20-40" {
		t.Errorf("merge: %s", got)
	}
}
