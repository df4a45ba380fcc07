package backend

import (
	"errors"
	"strings"
)

// Every error text a client can see, worded exactly as Redis 7 words it,
// in one place. Handlers reply with these; nothing else builds error text.
const (
	errSyntax          = "ERR syntax error"
	errNotInteger      = "ERR value is not an integer or out of range"
	errNotFloat        = "ERR value is not a valid float"
	errWrongType       = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errOverflow        = "ERR increment or decrement would overflow"
	errNaNOrInf        = "ERR increment would produce NaN or Infinity"
	errNoSuchKey       = "ERR no such key"
	errNoAuth          = "NOAUTH Authentication required."
	errWrongPass       = "WRONGPASS invalid username-password pair or user is disabled."
	errAuthNoPass      = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errStringTooLong   = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errOffsetRange     = "ERR offset is out of range"
	errInvalidCursor   = "ERR invalid cursor"
	errDBIndex         = "ERR DB index is out of range"
	errSelectNonZero   = "ERR SELECT is not allowed: shardis-server has a single database, 0"
	errNoProto         = "NOPROTO unsupported protocol version"
	errMaxClients      = "ERR max number of clients reached"
	errBGRewriteBusy   = "ERR Background append only file rewriting already in progress"
	errNoConfigFile    = "ERR The server is running without a config file"
	errNoSuchClient    = "ERR No such client"
	errClientNameSpace = "ERR Client names cannot contain spaces, newlines or special characters."
	errNotShuttingDown = "ERR No shutdown in progress."
	errMisconfPrefix   = "MISCONF Errors writing to the AOF file: "
)

func errArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

func errInvalidExpire(cmd string) string {
	return "ERR invalid expire time in '" + cmd + "' command"
}

func errUnknownSubcommand(sub, cmd string) string {
	return "ERR unknown subcommand '" + clip(sub, 128) + "'. Try " + strings.ToUpper(cmd) + " HELP."
}

// errUnknownCommand is Redis' "unknown command" text: the name and the
// first arguments, each quoted and followed by a space, 128 chars at most.
func errUnknownCommand(args [][]byte) string {
	var b strings.Builder
	for _, a := range args[1:] {
		if b.Len() >= 128 {
			break
		}
		b.WriteByte('\'')
		b.WriteString(clip(string(a), 128-b.Len()))
		b.WriteString("' ")
	}
	return "ERR unknown command '" + clip(string(args[0]), 128) + "', with args beginning with: " + b.String()
}

// clip is C's "%.*s": at most n bytes, and nothing from a NUL byte on.
func clip(s string, n int) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if n < 0 {
		n = 0
	}
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Errors returned by the Server API.
var (
	// ErrClosed is returned by Serve when the server was already shut down.
	ErrClosed = errors.New("backend: server closed")
	// ErrAOFCorrupt is wrapped when the AOF has bad data before its last
	// command; the error text carries the byte offset.
	ErrAOFCorrupt = errors.New("backend: bad file format reading the append only file")
	// ErrRewriteInProgress is returned when a rewrite is already running.
	ErrRewriteInProgress = errors.New("backend: AOF rewrite already in progress")
)

// cstr is an argument as C's "%s" prints it: up to its first NUL byte.
func cstr(b []byte) string { return clip(string(b), len(b)) }
