package backend

// globMatch reports whether str matches the glob-style pattern with the
// exact semantics of Redis' stringmatchlen (KEYS, SCAN MATCH, CONFIG GET):
// '*', '?', '[...]' with ranges and '^' negation, '\' escapes; an unclosed
// '[' matches its contents; nesting of '*' is bounded like Redis' (1000).
func globMatch(pattern, str string, nocase bool) bool {
	skip := false
	return globMatchImpl(pattern, str, nocase, &skip, 0)
}

// at returns s[i], or 0 past the end (C strings are NUL-terminated and
// stringmatchlen peeks one byte ahead).
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func globMatchImpl(p, s string, nocase bool, skipLonger *bool, nesting int) bool {
	if nesting > 1000 {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatchImpl(p[1:], s, nocase, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := at(p, 0) == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if at(p, 0) == '\\' && len(p) >= 2 {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if at(p, 0) == ']' {
					break
				} else if len(p) == 0 {
					// Unclosed '[': step back so the final advance
					// leaves the pattern empty.
					p = "\x00"
					break
				} else if len(p) >= 3 && p[1] == '-' {
					// C compares (signed) chars.
					start, end, c := int(int8(p[0])), int(int8(p[2])), int(int8(s[0]))
					if start > end {
						start, end = end, start
					}
					if nocase {
						start, end, c = int(int8(lower(byte(start)))), int(int8(lower(byte(end)))), int(int8(lower(byte(c))))
					}
					p = p[2:]
					if c >= start && c <= end {
						match = true
					}
				} else {
					if !nocase {
						if p[0] == s[0] {
							match = true
						}
					} else if lower(p[0]) == lower(s[0]) {
						match = true
					}
				}
				p = p[1:]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if !nocase {
				if p[0] != s[0] {
					return false
				}
			} else if lower(p[0]) != lower(s[0]) {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
