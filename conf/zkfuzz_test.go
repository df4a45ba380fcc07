package conf

import (
	"errors"
	"maps"
	"reflect"
	"testing"
)

// The znode data fuzz targets: bad data must give an error wrapping
// ErrBadZnodeData, never a panic; what is accepted must survive a Marshal
// and Parse round trip unchanged.

func FuzzPoolData(f *testing.F) {
	for _, s := range []string{"", "''", "null", `{}`, `{"slots":4096,"hash":"md5","hash_tag":"{}"}`,
		`{"hash_tag":""}`, `{"slots":1,"slots":2}`, `{"slots":4096.5}`, `{"hash":"x"}`, `[`, `{"a":{"b":[1,2,{}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParsePoolData(b)
		if err != nil {
			if !errors.Is(err, ErrBadZnodeData) {
				t.Fatalf("%q: error %v does not wrap ErrBadZnodeData", b, err)
			}
			return
		}
		back, err := ParsePoolData(d.Marshal())
		if err != nil || back != d {
			t.Fatalf("%q: round trip %s → %+v, %v; want %+v", b, d.Marshal(), back, err, d)
		}
	})
}

func FuzzShardData(f *testing.F) {
	for _, s := range []string{"", "''", `{"weight":"0-2047"}`, `{"weight":"0-99,200-2047"}`, `{"weight":""}`,
		`{"weight":"0-2047","migrating":{"slots":"100-511","to":"redis-0002"}}`, `{"weight":"5-1"}`,
		`{"weight":"0-10,5-6"}`, `{"weight":"0-65535"}`, `{"weight":"0-65536"}`, `{"migrating":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseShardData(b)
		if err != nil {
			if !errors.Is(err, ErrBadZnodeData) {
				t.Fatalf("%q: error %v does not wrap ErrBadZnodeData", b, err)
			}
			return
		}
		back, err := ParseShardData(d.Marshal())
		if err != nil || !reflect.DeepEqual(back, d) {
			t.Fatalf("%q: round trip %s → %+v, %v; want %+v", b, d.Marshal(), back, err, d)
		}
	})
}

func FuzzMemberData(f *testing.F) {
	for _, s := range []string{"", `{"addr":"10.0.0.1:6379","role":"master","epoch":7,"offset":123}`,
		`{"addr":"[::1]:6379","role":"replica"}`, `{"addr":"h:1","role":"candidate","x":[{}]}`,
		`{"addr":"h","role":"master"}`, `{"addr":"h:1","role":"master","offset":-1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseMemberData(b)
		if err != nil {
			if !errors.Is(err, ErrBadZnodeData) {
				t.Fatalf("%q: error %v does not wrap ErrBadZnodeData", b, err)
			}
			return
		}
		if d.Addr == "" { // empty data: a candidate known by name only
			return
		}
		back, err := ParseMemberData(d.Marshal())
		if err != nil || back != d {
			t.Fatalf("%q: round trip %s → %+v, %v; want %+v", b, d.Marshal(), back, err, d)
		}
	})
}

func FuzzProxyData(f *testing.F) {
	for _, s := range []string{`{"addr":"10.0.0.5:22121","pool":"icd","started":"2024-05-01T10:00:00Z","version":"0.1.0"}`,
		`{"addr":"x:1"}`, `{"addr":"x:1","started":"2024-05-01T10:00:00.123456789+02:00"}`, ``, `{"pool":1}`,
		`{"addr":"x:1","applied":{"redis-0000":7,"redis-0001":0}}`, `{"addr":"x:1","applied":{}}`,
		`{"addr":"x:1","applied":{"redis-0000":-1}}`, `{"addr":"x:1","applied":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseProxyData(b)
		if err != nil {
			if !errors.Is(err, ErrBadZnodeData) {
				t.Fatalf("%q: error %v does not wrap ErrBadZnodeData", b, err)
			}
			return
		}
		back, err := ParseProxyData(d.Marshal())
		if err != nil || back.Addr != d.Addr || back.Pool != d.Pool || back.Version != d.Version || !back.Started.Equal(d.Started) ||
			(back.Applied == nil) != (d.Applied == nil) || !maps.Equal(back.Applied, d.Applied) {
			t.Fatalf("%q: round trip %s → %+v, %v; want %+v", b, d.Marshal(), back, err, d)
		}
	})
}

func FuzzMemberName(f *testing.F) {
	for _, s := range []string{"172.17.32.105:6379-0000000000", "[::1]:6379-0000000007",
		"_c_0123456789abcdef0123456789abcdef-10.0.0.1:6379-0000000042", "x", "-", "a-", "-1", "_c_-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		m, err := ParseMemberName(name)
		if err != nil {
			if !errors.Is(err, ErrBadZnodeName) {
				t.Fatalf("%q: error %v does not wrap ErrBadZnodeName", name, err)
			}
			return
		}
		if m.Seq < 0 {
			t.Fatalf("%q: negative sequence %d", name, m.Seq)
		}
	})
}
