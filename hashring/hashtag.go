package hashring

import "bytes"

// HashTag returns the part of key that twemproxy hashes for a pool whose
// hash_tag is tag (two characters, e.g. "{}"): the bytes strictly between
// the first occurrence of tag[0] and the first occurrence of tag[1] after
// it. If tag is not two bytes long, either character is missing, or the tag
// is empty ("{}"), the whole key is returned. The result aliases key; no
// allocation is made.
//
//	HashTag([]byte("user{42}:name"), "{}") == "42"
//	HashTag([]byte("a}b{c}d"), "{}")        == "c"
//	HashTag([]byte("a{}b{c}"), "{}")        == "a{}b{c}" (empty tag: whole key)
func HashTag(key []byte, tag string) []byte {
	if len(tag) != 2 {
		return key
	}
	open := bytes.IndexByte(key, tag[0])
	if open < 0 {
		return key
	}
	close := bytes.IndexByte(key[open+1:], tag[1])
	if close <= 0 { // missing, or empty tag
		return key
	}
	return key[open+1 : open+1+close]
}
