package backend

import (
	"sort"
	"strings"
)

// The COMMAND family, built from the command table.

func commandCommand() *cmdSpec {
	const g = "server"
	return &cmdSpec{name: "command", handler: cmdCommandAll, arity: -1, flags: flagLoading | flagStale, group: g, since: "2.8.13", summary: "Returns detailed information about all commands.", complexity: "O(N) where N is the total number of Redis commands",
		subs: subcommands("command",
			&cmdSpec{name: "count", handler: func(c *Client, _ [][]byte) { c.int(int64(len(c.s.cmds))) }, arity: 2, flags: flagLoading | flagStale, group: g, since: "2.8.13", summary: "Returns a count of commands.", complexity: "O(1)"},
			&cmdSpec{name: "info", handler: cmdCommandInfo, arity: -2, flags: flagLoading | flagStale, group: g, since: "2.8.13", summary: "Returns information about one, multiple or all commands.", complexity: "O(N) where N is the number of commands to look up"},
			&cmdSpec{name: "docs", handler: cmdCommandDocs, arity: -2, flags: flagLoading | flagStale, group: g, since: "7.0.0", summary: "Returns documentary information about one, multiple or all commands.", complexity: "O(N) where N is the number of commands to look up"},
			&cmdSpec{name: "list", handler: cmdCommandList, arity: -2, flags: flagLoading | flagStale, group: g, since: "7.0.0", summary: "Returns a list of command names.", complexity: "O(N) where N is the total number of Redis commands"},
			&cmdSpec{name: "getkeys", handler: cmdCommandGetKeys, arity: -3, flags: flagLoading | flagStale, group: g, since: "2.8.13", summary: "Extracts the key names from an arbitrary command.", complexity: "O(N) where N is the number of arguments to the command"},
			&cmdSpec{name: "help", handler: helpCmd("COMMAND", commandHelp), arity: 2, flags: flagLoading | flagStale, group: g, since: "5.0.0", summary: "Returns helpful text about the different subcommands.", complexity: "O(1)"},
		)}
}

var commandHelp = []string{
	"(no subcommand)",
	"    Return details about all Redis commands.",
	"COUNT",
	"    Return the total number of commands in this Redis server.",
	"LIST",
	"    Return a list of all commands in this Redis server.",
	"INFO [<command-name> ...]",
	"    Return details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"DOCS [<command-name> ...]",
	"    Return documentation details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"GETKEYS <full-command>",
	"    Return the keys from a full Redis command.",
}

func cmdCommandAll(c *Client, _ [][]byte) {
	names := c.s.cmds.sortedNames()
	c.array(len(names))
	for _, n := range names {
		writeCommandInfo(c, c.s.cmds[n])
	}
}

func cmdCommandInfo(c *Client, args [][]byte) {
	if len(args) == 2 {
		cmdCommandAll(c, args)
		return
	}
	c.array(len(args) - 2)
	for _, a := range args[2:] {
		if sp := c.s.lookupFullName(string(a)); sp != nil {
			writeCommandInfo(c, sp)
		} else {
			c.nullArray()
		}
	}
}

// lookupFullName finds "get" or "config|get".
func (s *Server) lookupFullName(name string) *cmdSpec {
	name = strings.ToLower(name)
	parent, sub, isSub := strings.Cut(name, "|")
	sp := s.cmds[parent]
	if sp == nil || !isSub {
		return sp
	}
	return sp.subs[sub]
}

// writeCommandInfo writes Redis 7's COMMAND INFO entry: name, arity, flags,
// first key, last key, step, ACL categories, tips, key specs, subcommands.
func writeCommandInfo(c *Client, sp *cmdSpec) {
	c.array(10)
	c.bulkString(sp.name)
	c.int(int64(sp.arity))
	flags := sp.flagNames()
	c.array(len(flags))
	for _, f := range flags {
		c.status(f)
	}
	c.int(int64(sp.first))
	c.int(int64(sp.last))
	c.int(int64(sp.step))
	acl := sp.aclCategories()
	c.array(len(acl))
	for _, a := range acl {
		c.status(a)
	}
	c.array(0) // tips
	writeKeySpecs(c, sp)
	subs := sortedSubs(sp)
	c.array(len(subs))
	for _, s := range subs {
		writeCommandInfo(c, s)
	}
}

func sortedSubs(sp *cmdSpec) []*cmdSpec {
	out := make([]*cmdSpec, 0, len(sp.subs))
	for _, s := range sp.subs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// writeKeySpecs writes one key spec derived from first/last/step.
func writeKeySpecs(c *Client, sp *cmdSpec) {
	if sp.first == 0 {
		c.array(0)
		return
	}
	c.array(1)
	c.array(6)
	c.bulkString("flags")
	if sp.flags&flagPubSub != 0 {
		c.array(1)
		c.status("not_key") // shard channels (SSUBSCRIBE, SPUBLISH)
	} else if sp.flags&flagWrite != 0 {
		c.array(2)
		c.status("RW")
		c.status("update")
	} else {
		c.array(2)
		c.status("RO")
		c.status("access")
	}
	c.bulkString("begin_search")
	c.array(4)
	c.bulkString("type")
	c.bulkString("index")
	c.bulkString("spec")
	c.array(2)
	c.bulkString("index")
	c.int(int64(sp.first))
	c.bulkString("find_keys")
	c.array(4)
	c.bulkString("type")
	c.bulkString("range")
	c.bulkString("spec")
	c.array(6)
	last := sp.last
	if last >= 0 {
		last -= sp.first
	}
	c.bulkString("lastkey")
	c.int(int64(last))
	c.bulkString("keystep")
	c.int(int64(sp.step))
	c.bulkString("limit")
	c.int(0)
}

func cmdCommandDocs(c *Client, args [][]byte) {
	var specs []*cmdSpec
	if len(args) == 2 {
		for _, n := range c.s.cmds.sortedNames() {
			specs = append(specs, c.s.cmds[n])
		}
	} else {
		for _, a := range args[2:] {
			if sp := c.s.lookupFullName(string(a)); sp != nil {
				specs = append(specs, sp)
			}
		}
	}
	c.array(2 * len(specs))
	for _, sp := range specs {
		c.bulkString(sp.name)
		writeCommandDoc(c, sp)
	}
}

// writeCommandDoc writes the documentation map (RESP2: flat array).
func writeCommandDoc(c *Client, sp *cmdSpec) {
	n := 4
	if len(sp.subs) > 0 {
		n++
	}
	c.array(2 * n)
	c.bulkString("summary")
	c.bulkString(sp.summary)
	c.bulkString("since")
	c.bulkString(sp.since)
	c.bulkString("group")
	c.bulkString(sp.group)
	c.bulkString("complexity")
	c.bulkString(sp.complexity)
	if len(sp.subs) > 0 {
		subs := sortedSubs(sp)
		c.bulkString("subcommands")
		c.array(2 * len(subs))
		for _, s := range subs {
			c.bulkString(s.name)
			writeCommandDoc(c, s)
		}
	}
}

func cmdCommandList(c *Client, args [][]byte) {
	var filter func(sp *cmdSpec) bool
	if len(args) > 2 {
		if len(args) != 5 || !eqFold(args[2], "filterby") {
			c.err(errSyntax)
			return
		}
		v := strings.ToLower(string(args[4]))
		switch {
		case eqFold(args[3], "pattern"):
			filter = func(sp *cmdSpec) bool { return globMatch(v, sp.name, true) }
		case eqFold(args[3], "aclcat"):
			filter = func(sp *cmdSpec) bool {
				for _, a := range sp.aclCategories() {
					if a == "@"+v {
						return true
					}
				}
				return false
			}
		case eqFold(args[3], "module"):
			filter = func(*cmdSpec) bool { return false }
		default:
			c.err(errSyntax)
			return
		}
	}
	var out []string
	for _, n := range c.s.cmds.sortedNames() {
		sp := c.s.cmds[n]
		if filter == nil || filter(sp) {
			out = append(out, sp.name)
		}
		for _, s := range sortedSubs(sp) {
			if filter == nil || filter(s) {
				out = append(out, s.name)
			}
		}
	}
	c.array(len(out))
	for _, n := range out {
		c.bulkString(n)
	}
}

func cmdCommandGetKeys(c *Client, args [][]byte) {
	target := args[2:]
	sp := c.s.cmds.lookup(target[0])
	if sp != nil && sp.subs != nil && len(target) >= 2 {
		sp = c.s.cmds.lookupSub(sp, target[1])
	}
	if sp == nil {
		c.err("ERR Invalid command specified")
		return
	}
	if !sp.arityOK(len(target)) {
		c.err("ERR Invalid number of arguments specified for command")
		return
	}
	pos := sp.keyPositions(target)
	if len(pos) == 0 {
		c.err("ERR The command has no key arguments")
		return
	}
	c.array(len(pos))
	for _, p := range pos {
		c.bulk(target[p])
	}
}
