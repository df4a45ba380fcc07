package proxy

import "bytes"

// keyIndexes appends to dst the indexes in args of the keys of a command
// of kind kindSameShard or kindSingle, and returns them. It returns a
// client error text instead when the keys cannot be found: the proxy then
// answers it without forwarding. An empty result (e.g. EVAL with numkeys
// 0) means the command routes like an empty key.
func keyIndexes(c *cmdInfo, args [][]byte, dst []int) ([]int, string) {
	n := len(args)
	switch c.keys {
	case keysRange:
		last := c.last
		if last < 0 {
			last += n
		}
		for i := c.first; i <= last && i < n; i += c.step {
			dst = append(dst, i)
		}
	case keysSubcommand:
		dst = append(dst, 2)
	case keysNumkeys:
		if c.withDest {
			dst = append(dst, 1)
		}
		nk, ok := parseInt64(args[c.numkeys])
		if !ok || nk < 0 || nk > int64(n-c.numkeys-1) {
			// Let the shard of the other keys (or any shard) answer
			// with Redis' own error for the bad count.
			return dst, ""
		}
		for i := c.numkeys + 1; i <= c.numkeys+int(nk); i++ {
			dst = append(dst, i)
		}
	case keysStore:
		dst = append(dst, 1)
		for i := c.numkeys; i+1 < n; i++ {
			if equalFold(args[i], "store") || equalFold(args[i], "storedist") {
				dst = append(dst, i+1)
				i++
			}
		}
	case keysStreams:
		for i := c.numkeys; i < n; i++ {
			switch {
			case equalFold(args[i], "block"):
				i++ // a blocking read: see streamBlock
			case equalFold(args[i], "streams"):
				rest := n - i - 1
				if rest == 0 || rest%2 != 0 {
					return dst, "ERR Unbalanced '" + c.name + "' list of streams: for each stream key an ID or '$' must be specified."
				}
				for k := i + 1; k <= i+rest/2; k++ {
					dst = append(dst, k)
				}
				return dst, ""
			case equalFold(args[i], "count") || equalFold(args[i], "group"):
				i++ // skip the option's value
				if equalFold(args[i-1], "group") {
					i++ // GROUP group consumer
				}
			}
		}
		return dst, "ERR syntax error"
	}
	return dst, ""
}

// equalFold reports whether b equals the lower-case ASCII word s, in any
// case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// lowerName returns the command name as a client error shows it: lower
// case, as sent.
func lowerName(name []byte) string {
	return string(bytes.ToLower(name))
}

// streamBlock returns the BLOCK milliseconds of XREAD or XREADGROUP
// (before STREAMS), and false if the command does not block.
func streamBlock(c *cmdInfo, args [][]byte) ([]byte, bool) {
	for i := c.numkeys; i+1 < len(args); i++ {
		switch {
		case equalFold(args[i], "streams"):
			return nil, false
		case equalFold(args[i], "block"):
			return args[i+1], true
		}
	}
	return nil, false
}
