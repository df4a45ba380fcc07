package backend

import (
	"crypto/subtle"
)

// Connection commands: PING, ECHO, QUIT, AUTH, SELECT, HELLO, RESET and
// the CLIENT family (clientcmd.go).

func connectionCommands() []*cmdSpec {
	const g = "connection"
	return []*cmdSpec{
		{name: "ping", handler: cmdPing, arity: -1, flags: flagFast | flagStale, group: g, since: "1.0.0", summary: "Returns the server's liveliness response.", complexity: "O(1)"},
		{name: "echo", handler: cmdEcho, arity: 2, flags: flagFast | flagStale | flagLoading, group: g, since: "1.0.0", summary: "Returns the given string.", complexity: "O(1)"},
		{name: "quit", handler: cmdQuit, arity: -1, flags: flagNoAuth | flagFast | flagStale | flagLoading | flagAllowBusy, group: g, since: "1.0.0", summary: "Closes the connection.", complexity: "O(1)"},
		{name: "auth", handler: cmdAuth, arity: -2, flags: flagNoAuth | flagFast | flagStale | flagLoading | flagNoScript | flagAllowBusy, group: g, since: "1.0.0", summary: "Authenticates the connection.", complexity: "O(N) where N is the number of passwords defined for the user"},
		{name: "select", handler: cmdSelect, arity: 2, flags: flagFast | flagStale | flagLoading, group: g, since: "1.0.0", summary: "Changes the selected database.", complexity: "O(1)"},
		{name: "hello", handler: cmdHello, arity: -1, flags: flagNoAuth | flagFast | flagStale | flagLoading | flagNoScript | flagAllowBusy, group: g, since: "6.0.0", summary: "Handshakes with the Redis server.", complexity: "O(1)"},
		{name: "reset", handler: cmdReset, arity: 1, flags: flagNoAuth | flagFast | flagStale | flagLoading | flagNoScript | flagAllowBusy, group: g, since: "6.2.0", summary: "Resets the connection.", complexity: "O(1)"},
		clientCommand(),
	}
}

func cmdPing(c *Client, args [][]byte) {
	if c.subscribedMode() {
		// RESP2 subscribed mode: a message-like reply.
		if len(args) > 2 {
			c.err(errArity("ping"))
			return
		}
		c.array(2)
		c.bulkString("pong")
		if len(args) == 2 {
			c.bulk(args[1])
		} else {
			c.bulkString("")
		}
		return
	}
	switch len(args) {
	case 1:
		c.status("PONG")
	case 2:
		c.bulk(args[1])
	default:
		c.err(errArity("ping"))
	}
}

func cmdEcho(c *Client, args [][]byte) { c.bulk(args[1]) }

func cmdQuit(c *Client, args [][]byte) {
	c.ok()
	c.quit = true
}

// checkPassword compares in constant time.
func (s *Server) checkPassword(user, pass string) bool {
	s.cfgMu.RLock()
	want := s.cfg.RequirePass
	s.cfgMu.RUnlock()
	if user != "default" {
		return false
	}
	if want == "" {
		return true // nopass: any password
	}
	return subtle.ConstantTimeCompare([]byte(pass), []byte(want)) == 1
}

func (s *Server) passwordSet() bool {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.cfg.RequirePass != ""
}

func cmdAuth(c *Client, args [][]byte) {
	if len(args) > 3 {
		c.err(errSyntax)
		return
	}
	user, pass := "default", ""
	if len(args) == 2 {
		if !c.s.passwordSet() {
			c.err(errAuthNoPass)
			return
		}
		pass = string(args[1])
	} else {
		user, pass = string(args[1]), string(args[2])
	}
	if !c.s.checkPassword(user, pass) {
		c.err(errWrongPass)
		return
	}
	c.authed = true
	c.ok()
}

func cmdSelect(c *Client, args [][]byte) {
	n, ok := parseInt(args[1])
	if !ok || n < -1<<31 || n > 1<<31-1 {
		c.err(errNotInteger)
		return
	}
	if n != 0 {
		if n < 0 || n >= 16 {
			c.err(errDBIndex)
		} else {
			c.err(errSelectNonZero)
		}
		return
	}
	c.ok()
}

func cmdHello(c *Client, args [][]byte) {
	next := 1
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		if !ok {
			c.err("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 {
			// RESP3 is not provided: clients fall back to RESP2.
			c.err(errNoProto)
			return
		}
		next = 2
	}
	var user, pass, name []byte
	haveAuth, haveName := false, false
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case eqFold(args[j], "auth") && more >= 2:
			user, pass, haveAuth = args[j+1], args[j+2], true
			j += 2
		case eqFold(args[j], "setname") && more >= 1:
			name, haveName = args[j+1], true
			if !validClientName(name) {
				c.err(errClientNameSpace)
				return
			}
			j++
		default:
			c.err("ERR Syntax error in HELLO option '" + cstr(args[j]) + "'")
			return
		}
	}
	if haveAuth {
		if !c.s.checkPassword(string(user), string(pass)) {
			c.err(errWrongPass)
			return
		}
		c.authed = true
	}
	if !c.authed {
		c.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if haveName {
		c.setName(string(name))
	}
	c.array(14)
	c.bulkString("server")
	c.bulkString("redis")
	c.bulkString("version")
	c.bulkString(Version)
	c.bulkString("proto")
	c.int(2)
	c.bulkString("id")
	c.int(c.id)
	c.bulkString("mode")
	c.bulkString("standalone")
	c.bulkString("role")
	if c.s.repl.isReplica.Load() {
		c.bulkString("replica")
	} else {
		c.bulkString("master")
	}
	c.bulkString("modules")
	c.array(0)
}

func cmdReset(c *Client, args [][]byte) {
	c.discardMulti()
	c.pubsubReset()
	c.setName("")
	c.authed = !c.s.passwordSet()
	c.status("RESET")
}

// validClientName is Redis' validateClientName: printable ASCII, no space.
func validClientName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}
