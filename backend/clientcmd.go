package backend

import (
	"strings"
	"time"
)

// The CLIENT command family.

func clientCommand() *cmdSpec {
	const g = "connection"
	return &cmdSpec{name: "client", arity: -2, group: g, since: "2.4.0", summary: "A container for client connection commands.", complexity: "Depends on subcommand.",
		subs: subcommands("client",
			&cmdSpec{name: "id", handler: func(c *Client, _ [][]byte) { c.int(c.id) }, arity: 2, flags: flagNoScript | flagLoading | flagStale, group: g, since: "5.0.0", summary: "Returns the unique client ID of the connection.", complexity: "O(1)"},
			&cmdSpec{name: "getname", handler: cmdClientGetName, arity: 2, flags: flagNoScript | flagLoading | flagStale, group: g, since: "2.6.9", summary: "Returns the name of the connection.", complexity: "O(1)"},
			&cmdSpec{name: "setname", handler: cmdClientSetName, arity: 3, flags: flagNoScript | flagLoading | flagStale, group: g, since: "2.6.9", summary: "Sets the connection name.", complexity: "O(1)"},
			&cmdSpec{name: "setinfo", handler: cmdClientSetInfo, arity: 4, flags: flagNoScript | flagLoading | flagStale, group: g, since: "7.2.0", summary: "Sets information specific to the client or connection.", complexity: "O(1)"},
			&cmdSpec{name: "list", handler: cmdClientList, arity: -2, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: g, since: "2.4.0", summary: "Lists open connections.", complexity: "O(N) where N is the number of client connections"},
			&cmdSpec{name: "info", handler: func(c *Client, _ [][]byte) { c.bulkString(c.info(time.Now()) + "\n") }, arity: 2, flags: flagNoScript | flagLoading | flagStale, group: g, since: "6.2.0", summary: "Returns information about the connection.", complexity: "O(1)"},
			&cmdSpec{name: "kill", handler: cmdClientKill, arity: -3, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: g, since: "2.4.0", summary: "Terminates open connections.", complexity: "O(N) where N is the number of client connections"},
			&cmdSpec{name: "no-evict", handler: onOffOK, arity: 3, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: g, since: "7.0.0", summary: "Sets the client eviction mode of the connection.", complexity: "O(1)"},
			&cmdSpec{name: "no-touch", handler: onOffOK, arity: 3, flags: flagNoScript | flagLoading | flagStale, group: g, since: "7.2.0", summary: "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", complexity: "O(1)"},
			&cmdSpec{name: "unblock", handler: cmdClientUnblock, arity: -3, flags: flagAdmin | flagNoScript | flagLoading | flagStale, group: g, since: "5.0.0", summary: "Unblocks a client blocked by a blocking command from a different connection.", complexity: "O(log N) where N is the number of client connections"},
			clientPauseCommand(), // pause.go
			clientUnpauseCommand(),
			&cmdSpec{name: "getredir", handler: func(c *Client, _ [][]byte) { c.int(-1) }, arity: 2, flags: flagNoScript | flagLoading | flagStale, group: g, since: "6.0.0", summary: "Returns the client ID to which the connection's tracking notifications are redirected.", complexity: "O(1)"},
			&cmdSpec{name: "help", handler: helpCmd("CLIENT", clientHelp), arity: 2, flags: flagLoading | flagStale, group: g, since: "5.0.0", summary: "Returns helpful text about the different subcommands.", complexity: "O(1)"},
		)}
}

var clientHelp = []string{
	"GETNAME",
	"    Return the name of the current connection.",
	"ID",
	"    Return the ID of the current connection.",
	"INFO",
	"    Return information about the current client connection.",
	"KILL <ip:port>",
	"    Kill connection made from <ip:port>.",
	"KILL <option> <value> [<option> <value> [...]]",
	"    Kill connections. Options are:",
	"    * ADDR (<ip:port>|<unixsocket>:0)",
	"      Kill connections made from the specified address",
	"    * LADDR (<ip:port>|<unixsocket>:0)",
	"      Kill connections made to specified local address",
	"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
	"      Kill connections by type.",
	"    * USER <username>",
	"      Kill connections authenticated by <username>.",
	"    * SKIPME (YES|NO)",
	"      Skip killing current connection (default: yes).",
	"    * ID <client-id>",
	"      Kill connections by client id.",
	"    * MAXAGE <maxage>",
	"      Kill connections older than the specified age.",
	"LIST [options ...]",
	"    Return information about client connections. Options:",
	"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
	"      Return clients of specified type.",
	"    * ID <client-id> [<client-id> ...]",
	"      Return clients with specified IDs only.",
	"SETNAME <name>",
	"    Assign the name <name> to the current connection.",
	"SETINFO <option> <value>",
	"    Set client meta attr. Options are:",
	"    * LIB-NAME: the client lib name.",
	"    * LIB-VER: the client lib version.",
	"NO-EVICT (ON|OFF)",
	"    Protect current client connection from eviction.",
	"PAUSE <timeout> [WRITE|ALL]",
	"    Suspend all, or just write, clients for <timeout> milliseconds.",
	"UNPAUSE",
	"    Stop the current client pause, resuming traffic.",
	"UNBLOCK <clientid> [TIMEOUT|ERROR]",
	"    Unblock the specified blocked client.",
}

// helpCmd replies with Redis' HELP layout: a header line, the lines, and
// the closing HELP line.
func helpCmd(name string, lines []string) func(c *Client, args [][]byte) {
	return func(c *Client, _ [][]byte) {
		c.array(len(lines) + 3)
		c.status(name + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
		for _, l := range lines {
			c.status(l)
		}
		c.status("HELP")
		c.status("    Print this help.")
	}
}

func onOffOK(c *Client, args [][]byte) {
	if !eqFold(args[2], "on") && !eqFold(args[2], "off") {
		c.err(errSyntax)
		return
	}
	c.ok()
}

func cmdClientGetName(c *Client, _ [][]byte) {
	if n := c.getName(); n != "" {
		c.bulkString(n)
		return
	}
	c.null()
}

func cmdClientSetName(c *Client, args [][]byte) {
	if !validClientName(args[2]) {
		c.err(errClientNameSpace)
		return
	}
	c.setName(string(args[2]))
	c.ok()
}

func cmdClientSetInfo(c *Client, args [][]byte) {
	v := string(args[3])
	for _, ch := range args[3] {
		if ch < '!' || ch > '~' {
			c.err("ERR " + cstr(args[2]) + " cannot contain spaces, newlines or special characters.")
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case eqFold(args[2], "lib-name"):
		c.libName = v
	case eqFold(args[2], "lib-ver"):
		c.libVer = v
	default:
		c.err("ERR Unrecognized option '" + cstr(args[2]) + "'")
		return
	}
	c.ok()
}

func cmdClientList(c *Client, args [][]byte) {
	var ids map[int64]bool
	typ := ""
	for i := 2; i < len(args); i++ {
		switch {
		case eqFold(args[i], "type") && i+1 < len(args):
			typ = strings.ToLower(string(args[i+1]))
			switch typ {
			case "normal", "master", "replica", "slave", "pubsub":
			default:
				c.err("ERR Unknown client type '" + cstr(args[i+1]) + "'")
				return
			}
			i++
		case eqFold(args[i], "id") && i+1 < len(args):
			ids = map[int64]bool{}
			for i++; i < len(args); i++ {
				id, ok := parseInt(args[i])
				if !ok || id <= 0 {
					c.err("ERR Invalid client ID")
					return
				}
				ids[id] = true
			}
		default:
			c.err(errSyntax)
			return
		}
	}
	now := time.Now()
	var b strings.Builder
	for _, o := range c.s.clients.list() {
		if ids != nil && !ids[o.id] {
			continue
		}
		if typ != "" && typ != o.clientType() {
			continue
		}
		b.WriteString(o.info(now))
		b.WriteByte('\n')
	}
	c.bulkString(b.String())
}

func cmdClientKill(c *Client, args [][]byte) {
	if len(args) == 3 {
		// Old form: CLIENT KILL addr:port.
		for _, o := range c.s.clients.list() {
			if o.addr == string(args[2]) {
				c.ok()
				c.s.killClient(c, o)
				return
			}
		}
		c.err(errNoSuchClient)
		return
	}
	var (
		id          int64
		addr, laddr string
		typ         string
		maxAge      int64 = -1
		skipMe            = true
	)
	if (len(args)-2)%2 != 0 {
		c.err(errSyntax)
		return
	}
	for i := 2; i < len(args); i += 2 {
		v := args[i+1]
		switch {
		case eqFold(args[i], "id"):
			n, ok := parseInt(v)
			if !ok || n <= 0 {
				c.err("ERR client-id should be greater than 0")
				return
			}
			id = n
		case eqFold(args[i], "type"):
			typ = strings.ToLower(string(v))
			switch typ {
			case "normal", "master", "replica", "slave", "pubsub":
			default:
				c.err("ERR Unknown client type '" + cstr(v) + "'")
				return
			}
		case eqFold(args[i], "addr"):
			addr = string(v)
		case eqFold(args[i], "laddr"):
			laddr = string(v)
		case eqFold(args[i], "user"):
			// The only user is "default" (requirepass); Redis refuses
			// an unknown one.
			if string(v) != "default" {
				c.err("ERR No such user '" + cstr(v) + "'")
				return
			}
		case eqFold(args[i], "skipme"):
			switch {
			case eqFold(v, "yes"):
				skipMe = true
			case eqFold(v, "no"):
				skipMe = false
			default:
				c.err(errSyntax)
				return
			}
		case eqFold(args[i], "maxage"):
			n, ok := parseInt(v)
			if !ok {
				c.err(errNotInteger)
				return
			}
			maxAge = n
		default:
			c.err(errSyntax)
			return
		}
	}
	now := time.Now()
	killed := int64(0)
	var self bool
	for _, o := range c.s.clients.list() {
		switch {
		case id != 0 && o.id != id,
			addr != "" && o.addr != addr,
			laddr != "" && o.laddr != laddr,
			typ != "" && typ != o.clientType(),
			maxAge >= 0 && int64(now.Sub(o.created)/time.Second) < maxAge,
			skipMe && o == c:
			continue
		}
		if o == c {
			self = true
		} else {
			o.kill()
		}
		killed++
	}
	c.int(killed)
	if self {
		c.quit = true
	}
}

// killClient closes o; when o is the caller, after its reply.
func (s *Server) killClient(c, o *Client) {
	if o == c {
		c.quit = true
		return
	}
	o.kill()
}
