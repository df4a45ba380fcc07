package hashring

import (
	"bytes"
	"testing"
)

func TestHashTag(t *testing.T) {
	cases := []struct{ key, tag, want string }{
		{"user{42}:name", "{}", "42"},
		{"{42}", "{}", "42"},
		{"user:42", "{}", "user:42"},               // no open char
		{"user{42", "{}", "user{42"},               // no close char
		{"user}42{", "{}", "user}42{"},             // close only before open
		{"a}b{c}d", "{}", "c"},                     // close searched after open
		{"a{}b{c}", "{}", "a{}b{c}"},               // empty tag: whole key, not the next tag
		{"a{b{c}d}", "{}", "b{c"},                  // first open, next close
		{"{}", "{}", "{}"},                         // empty
		{"", "{}", ""},                             // empty key
		{"k$x$y", "$$", "x"},                       // same open and close char
		{"k$$y", "$$", "k$$y"},                     // same char, empty tag
		{"user{42}:name", "", "user{42}:name"},     // no hash tag configured
		{"user{42}:name", "{", "user{42}:name"},    // not two characters: ignored
		{"user{42}:name", "{}]", "user{42}:name"},  // idem
		{"x[1]{2}", "[]", "1"},                     // other brackets
		{"\xff{\x00\x01}", "{}", "\x00\x01"},       // binary
		{"foo{bar}baz{qux}", "{}", "bar"},          // only the first tag
		{"{user1000}.following", "{}", "user1000"}, // Redis Cluster style
		{"{user1000}.followers", "{}", "user1000"}, // same slot
		{"foo{}{bar}", "{}", "foo{}{bar}"},         // Redis would hash the whole key too
		{"foo{{bar}}zap", "{}", "{bar"},            // as Redis Cluster
		{"foo{bar}{zap}", "{}", "bar"},             // as Redis Cluster
		{"a{b}", "{}", "b"},                        // tag at the end
		{"{a}b", "{}", "a"},                        // tag at the start
		{"abc", "ab", "abc"},                       // open 'a', close 'b' adjacent: empty
		{"acb", "ab", "c"},                         // letters as tag characters
		{"\x80tag\x81", "\x80\x81", "tag"},         // high bytes as tag characters
		{"{\n}", "{}", "\n"},                       // any byte inside
		{"ab{cd}ef{gh}ij", "{}", "cd"},             //
		{"prefix:{", "{}", "prefix:{"},             // open at the end
		{"}{", "{}", "}{"},                         //
		{"{}{}", "{}", "{}{}"},                     //
		{"{a}{}", "{}", "a"},                       //
		{"x{yz}", "{}", "yz"},                      //
		{"x{y}z}", "{}", "y"},                      //
		{"x{{y}", "{}", "{y"},                      //
		{"tag:{1}:a", "{}", "1"},                   //
		{"tag:{1}:b", "{}", "1"},                   //
		{"tag:{12345678901234567890}", "{}", "12345678901234567890"},
	}
	for _, c := range cases {
		if got := HashTag([]byte(c.key), c.tag); string(got) != c.want {
			t.Errorf("HashTag(%q, %q) = %q, want %q", c.key, c.tag, got, c.want)
		}
	}
}

func TestHashTagNoAlloc(t *testing.T) {
	key := []byte("user{42}:name")
	if n := testing.AllocsPerRun(100, func() { _ = HashTag(key, "{}") }); n != 0 {
		t.Fatalf("HashTag allocates %.1f times", n)
	}
}

// hashTagRef is twemproxy's loop written out naively, for the fuzz target.
func hashTagRef(key []byte, tag string) []byte {
	if len(tag) != 2 {
		return key
	}
	start := -1
	for i, b := range key {
		if b == tag[0] {
			start = i
			break
		}
	}
	if start < 0 {
		return key
	}
	for j := start + 1; j < len(key); j++ {
		if key[j] == tag[1] {
			if j-start > 1 {
				return key[start+1 : j]
			}
			return key
		}
	}
	return key
}

func FuzzHashTag(f *testing.F) {
	f.Add([]byte("user{42}:name"), "{}")
	f.Add([]byte("a{}b{c}"), "{}")
	f.Add([]byte("k$x$y"), "$$")
	f.Add([]byte(""), "{}")
	f.Add([]byte("\xff{\x00}"), "{}")
	f.Add([]byte("abc"), "{")
	f.Fuzz(func(t *testing.T, key []byte, tag string) {
		got := HashTag(key, tag)
		want := hashTagRef(key, tag)
		if !bytes.Equal(got, want) {
			t.Fatalf("HashTag(%q, %q) = %q, reference %q", key, tag, got, want)
		}
		if len(got) == 0 && len(key) != 0 {
			t.Fatalf("HashTag(%q, %q) is empty", key, tag)
		}
		if !bytes.Contains(key, got) {
			t.Fatalf("HashTag(%q, %q) = %q is not part of the key", key, tag, got)
		}
	})
}
