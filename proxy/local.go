package proxy

import (
	"crypto/subtle"
	"strconv"
	"strings"
)

// local answers the commands the proxy serves itself (kindLocal). It runs
// on the session's reader goroutine.
func (s *session) local(req *request, ci *cmdInfo, args [][]byte) {
	switch ci.name {
	case "ping":
		switch len(args) {
		case 1:
			req.setReply([]byte("+PONG\r\n"))
		case 2:
			req.reply = appendBulk(req.reply[:0], args[1])
			req.complete()
		default:
			req.setError(msgArity("ping"))
		}
	case "echo":
		req.reply = appendBulk(req.reply[:0], args[1])
		req.complete()
	case "quit":
		req.closeAfter = true
		req.setReply([]byte("+OK\r\n"))
	case "auth":
		s.auth(req, args)
	case "select":
		n, ok := parseInt64(args[1])
		switch {
		case !ok:
			req.setError("ERR value is not an integer or out of range")
		case n != 0:
			req.setError(msgDBRange)
		default:
			req.setReply([]byte("+OK\r\n"))
		}
	case "hello":
		s.hello(req, args)
	case "info":
		req.reply = appendBulkString(req.reply[:0], s.pool.info(args[1:], s))
		req.complete()
	case "command":
		s.command(req, args)
	case "client":
		s.client(req, args)
	case "slowlog":
		s.slowlogCommand(req, args)
	default:
		req.setError(msgUnknown(ci.name))
	}
}

// checkAuth checks a password (and user, "" meaning "default") against
// the pool's redis_auth and returns the error text, or "" if it is right.
func (s *session) checkAuth(user, pass []byte) string {
	want := s.pool.config().RedisAuth
	if user != nil && string(user) != "default" {
		return msgWrongPass
	}
	if want == "" {
		if user != nil {
			return "" // the default user without a password accepts any
		}
		return msgAuthNoPass
	}
	if subtle.ConstantTimeCompare(pass, []byte(want)) != 1 {
		return msgWrongPass
	}
	return ""
}

func (s *session) auth(req *request, args [][]byte) {
	var msg string
	switch len(args) {
	case 2:
		msg = s.checkAuth(nil, args[1])
	case 3:
		msg = s.checkAuth(args[1], args[2])
	default:
		msg = msgSyntax
	}
	if msg != "" {
		req.setError(msg)
		return
	}
	s.authed = true
	req.setReply([]byte("+OK\r\n"))
}

// hello answers HELLO [protover [AUTH user pass] [SETNAME name]]. Only
// RESP2 is spoken: HELLO 3 is refused with NOPROTO, so clients such as
// go-redis fall back to RESP2.
func (s *session) hello(req *request, args [][]byte) {
	if len(args) >= 2 {
		v, ok := parseInt64(args[1])
		if !ok {
			req.setError("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 {
			req.setError(msgNoProto)
			return
		}
	}
	authed, name, setName := s.authOK(), "", false
	for i := 2; i < len(args); i++ {
		switch {
		case equalFold(args[i], "auth") && i+2 < len(args):
			if msg := s.checkAuth(args[i+1], args[i+2]); msg != "" {
				req.setError(msg)
				return
			}
			authed = true
			i += 2
		case equalFold(args[i], "setname") && i+1 < len(args):
			if !validClientName(args[i+1]) {
				req.setError(msgClientNameSpc)
				return
			}
			name, setName = string(args[i+1]), true
			i++
		default:
			req.setError("ERR Syntax error in HELLO option '" + string(args[i]) + "'")
			return
		}
	}
	if !authed {
		req.setError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	s.authed = true
	if setName {
		s.name = name
	}
	b := appendArrayLen(req.reply[:0], 14)
	b = appendBulkString(b, "server")
	b = appendBulkString(b, "redis")
	b = appendBulkString(b, "version")
	b = appendBulkString(b, redisVersion)
	b = appendBulkString(b, "proto")
	b = appendInt(b, 2)
	b = appendBulkString(b, "id")
	b = appendInt(b, int64(s.id))
	b = appendBulkString(b, "mode")
	b = appendBulkString(b, "standalone")
	b = appendBulkString(b, "role")
	b = appendBulkString(b, "master")
	b = appendBulkString(b, "modules")
	b = appendArrayLen(b, 0)
	req.reply = b
	req.complete()
}

// redisVersion is the Redis version whose commands and replies the proxy
// follows (HELLO, INFO).
const redisVersion = "7.0.0"

func validClientName(b []byte) bool {
	for _, c := range b {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// client answers CLIENT SETNAME, GETNAME, ID, SETINFO and INFO.
func (s *session) client(req *request, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	arity := map[string]int{"setname": 3, "getname": 2, "id": 2, "setinfo": 4, "info": 2}
	n, ok := arity[sub]
	if !ok {
		req.setError(msgUnknownSub("client", sub))
		return
	}
	if len(args) != n {
		req.setError(msgArity("client|" + sub))
		return
	}
	switch sub {
	case "setname":
		if !validClientName(args[2]) {
			req.setError(msgClientNameSpc)
			return
		}
		s.name = string(args[2])
		req.setReply([]byte("+OK\r\n"))
	case "getname":
		if s.name == "" {
			req.reply = appendNil(req.reply[:0])
		} else {
			req.reply = appendBulkString(req.reply[:0], s.name)
		}
		req.complete()
	case "id":
		req.reply = appendInt(req.reply[:0], int64(s.id))
		req.complete()
	case "setinfo":
		attr := strings.ToLower(string(args[2]))
		if attr != "lib-name" && attr != "lib-ver" {
			req.setError("ERR Unrecognized option '" + string(args[2]) + "'")
			return
		}
		for _, c := range args[3] {
			if c < '!' || c > '~' {
				req.setError("ERR " + attr + " cannot contain spaces, newlines or special characters.")
				return
			}
		}
		req.setReply([]byte("+OK\r\n"))
	case "info":
		line := "id=" + strconv.FormatUint(s.id, 10) + " addr=" + s.remote + " name=" + s.name +
			" pool=" + s.pool.name + " db=0 resp=2\n"
		req.reply = appendBulkString(req.reply[:0], line)
		req.complete()
	}
}

// command answers COMMAND, COMMAND COUNT, COMMAND INFO, COMMAND LIST and a
// minimal COMMAND DOCS, describing the commands the proxy serves, as Redis
// 7 does.
func (s *session) command(req *request, args [][]byte) {
	cs := s.pool.proxy.cmds
	if len(args) == 1 {
		b := appendArrayLen(req.reply[:0], len(cs.list))
		for _, c := range cs.list {
			b = appendCommandInfo(b, c)
		}
		req.reply = b
		req.complete()
		return
	}
	sub := strings.ToLower(string(args[1]))
	switch sub {
	case "count":
		if len(args) != 2 {
			req.setError(msgArity("command|count"))
			return
		}
		req.reply = appendInt(req.reply[:0], int64(len(cs.list)))
	case "info":
		b := appendArrayLen(req.reply[:0], len(args)-2)
		for _, name := range args[2:] {
			if c := cs.lookup(name); c != nil {
				b = appendCommandInfo(b, c)
			} else {
				b = appendNil(b)
			}
		}
		req.reply = b
	case "list":
		b := appendArrayLen(req.reply[:0], len(cs.list))
		for _, c := range cs.list {
			b = appendBulkString(b, c.name)
		}
		req.reply = b
	case "docs":
		// Documentation is not kept; clients (redis-cli) work without it.
		req.reply = appendArrayLen(req.reply[:0], 0)
	default:
		req.setError(msgUnknownSub("command", sub))
		return
	}
	req.complete()
}

// appendCommandInfo appends Redis 7's 10-element COMMAND INFO entry.
func appendCommandInfo(b []byte, c *cmdInfo) []byte {
	b = appendArrayLen(b, 10)
	b = appendBulkString(b, c.name)
	b = appendInt(b, int64(c.arity))
	flags := strings.Split(c.flags, ",")
	if c.flags == "" {
		flags = nil
	}
	b = appendArrayLen(b, len(flags))
	for _, f := range flags {
		b = appendSimple(b, f)
	}
	b = appendInt(b, int64(c.first))
	b = appendInt(b, int64(c.last))
	b = appendInt(b, int64(c.step))
	b = appendArrayLen(b, 0) // ACL categories
	b = appendArrayLen(b, 0) // tips
	b = appendArrayLen(b, 0) // key specifications
	b = appendArrayLen(b, 0) // subcommands
	return b
}
