package hashring

import "testing"

// katRows are known answers for every twemproxy hash, in HashNames order.
// The "apple" row is twemproxy's own (src/test_all.c, equal to
// libmemcached's tests/hash_results.h). The other rows were computed by
// twemproxy's hashkit C code compiled with gcc on amd64 (where char is
// signed, which matters for the bytes >= 0x80 below), and md5 by Python's
// hashlib; the placement test in integration/ checks the same functions
// against a running nutcracker.
var katRows = []struct {
	key  string
	want [12]uint32
}{
	{"", [12]uint32{0, 3649838548, 0, 0, 0, 2216829733, 2216829733, 2166136261, 2166136261, 0, 0, 3735928572}},
	{"apple", [12]uint32{2297466611, 3195025439, 3662830516, 10542, 2838417488, 473199127, 1488911807, 67176023, 280767167, 3738850110, 4142305122, 1442444624}},
	{"a", [12]uint32{3392050242, 3111502092, 31879, 26807, 3904355907, 2248259518, 2248273036, 84696446, 3826002220, 2472816263, 1262581116, 3768813200}},
	{"ab", [12]uint32{1172708952, 1140096536, 8156415, 7811, 2659403885, 3035314104, 3041237098, 1886858552, 1294271946, 1535905475, 3820310011, 3249891675}},
	{"abc", [12]uint32{3977453403, 2555380112, 2088017366, 13604, 891568578, 1806675403, 88168267, 1134309195, 440920331, 3843582778, 2064434216, 2403423744}},
	{"abcd", [12]uint32{3448463878, 1282538722, 1956489270, 28034, 3984772369, 4219752341, 3993445597, 3118363509, 3459545533, 984896216, 4016735919, 3574732058}},
	{"abcde", [12]uint32{3112524284, 3652474539, 2645049057, 1415, 2240272485, 1641232970, 1982031016, 238010698, 1956368136, 2222483234, 2586197722, 1560228699}},
	{"hello world!", [12]uint32{2614696403, 2398699516, 104552315, 948, 62177901, 3111880380, 3445237362, 2315368860, 2956263410, 326258531, 2139946157, 465987074}},
	{"hello world!!", [12]uint32{1395733336, 3566798167, 995583313, 11627, 2909492980, 753267029, 4029619977, 3702993077, 913226025, 4199177507, 1305796159, 2070802191}},
	{"0123456789abcdefghijklmnopqrstuvwxyz", [12]uint32{4238473396, 1030861289, 3865302296, 32181, 4256519037, 264273781, 3165122497, 50658869, 2101244225, 2023314521, 1966317114, 896061409}},
	{"\x80", [12]uint32{3273477671, 2128427405, 37256, 16314, 1069182125, 2046707807, 2046684255, 4210270879, 83079839, 3606367026, 2421514821, 2976898632}},
	{"\xff\xfe\xfd", [12]uint32{1196771768, 3259918217, 504217887, 2282, 149598061, 2481844359, 2400096983, 2437714183, 3211609367, 3649655134, 3269769215, 573299006}},
	{"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", [12]uint32{4224321546, 1719363011, 1012230207, 3247, 212833818, 1687779865, 2846718081, 833875961, 2950043617, 4203376956, 2596721327, 1261183855}},
	{"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !\x22#$%&'", [12]uint32{925293450, 1281285424, 1500283311, 3494, 228994620, 1303511381, 1606282013, 1544893557, 3388221373, 24367675, 1883143709, 2917231889}},
	{"foo{bar}baz", [12]uint32{3173175982, 3873785032, 3212901717, 17225, 3276400270, 745051293, 2963196025, 2589924413, 1511560153, 3310316629, 3912724022, 3346587682}},
	{"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", [12]uint32{2862924896, 2538016178, 3455222993, 26366, 3875423928, 3266299615, 756023439, 1526671519, 1373724879, 3035079375, 1633503750, 1566463568}},
}

func TestHashKnownAnswers(t *testing.T) {
	names := HashNames()
	if len(names) != 12 {
		t.Fatalf("HashNames() has %d names, want 12", len(names))
	}
	for i, name := range names {
		h, err := HashByName(name)
		if err != nil {
			t.Fatalf("HashByName(%q): %v", name, err)
		}
		for _, r := range katRows {
			if got := h([]byte(r.key)); got != r.want[i] {
				t.Errorf("%s(%q) = %d, want %d", name, r.key, got, r.want[i])
			}
		}
	}
}

func TestKetamaPoints(t *testing.T) {
	// twemproxy's test_all.c: ketama_hash("server1-8", 0) and (.., 3).
	p := ketamaPoints([]byte("server1-8"))
	if p[0] != 3853726576 || p[3] != 2667054752 {
		t.Fatalf("ketama points of server1-8 = %v, want [0]=3853726576 [3]=2667054752", p)
	}
}

func TestHashByNameUnknown(t *testing.T) {
	for _, name := range []string{"", "FNV1A_64", "fnv1a-64", "crc64", "sha1"} {
		if h, err := HashByName(name); err == nil || h != nil {
			t.Errorf("HashByName(%q) = %v, %v; want error", name, h, err)
		}
	}
}

func TestHashesDoNotAllocate(t *testing.T) {
	key := []byte("user:1000:profile{tag}")
	for _, name := range HashNames() {
		h, _ := HashByName(name)
		if n := testing.AllocsPerRun(100, func() { _ = h(key) }); n != 0 {
			t.Errorf("%s allocates %.1f times per call", name, n)
		}
	}
}
