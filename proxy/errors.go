package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// Errors a backend request can fail with. A client sees them as
// "-ERR backend <addr>: <reason>" (see backendErrText).
var (
	// ErrTimeout: the server did not answer within the pool's timeout.
	// The connection is reset (replies can no longer be matched), and
	// every request waiting on it fails with ErrTimeout too.
	ErrTimeout = errors.New("timeout")
	// ErrEjected: auto_eject_hosts took the server out of the pool after
	// server_failure_limit failures; in a slot-based pool its keys fail
	// until a health check puts it back.
	ErrEjected = errors.New("server ejected")
	// ErrServerRemoved: a new route table no longer has the server and
	// its connections were closed.
	ErrServerRemoved = errors.New("server removed from the pool")
	// ErrServerReplaced: a reload changed server_connections, redis_db
	// or tcpkeepalive; the server's connections were replaced by new ones
	// and the old ones closed after a grace period.
	ErrServerReplaced = errors.New("server connections replaced by a reload")
	// ErrClosed: the proxy is shutting down.
	ErrClosed = errors.New("proxy shutting down")
	// ErrServerEOF: the server closed the connection.
	ErrServerEOF = errors.New("connection closed by server")
	// ErrUnexpectedReply: the server sent a reply no request was waiting
	// for.
	ErrUnexpectedReply = errors.New("reply without a request")
	// ErrQueueFull: too many requests wait on one server connection.
	ErrQueueFull = errors.New("too many requests waiting")
)

// The error replies the proxy itself gives, in Redis' wording where Redis
// has one. Each is the text after '-'.
const (
	msgCrossSlot     = "CROSSSLOT Keys in request don't hash to the same slot"
	msgNoAuth        = "NOAUTH Authentication required."
	msgWrongPass     = "WRONGPASS invalid username-password pair or user is disabled."
	msgAuthNoPass    = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	msgMaxClients    = "ERR max number of clients reached"
	msgNoProto       = "NOPROTO unsupported protocol version"
	msgDBRange       = "ERR DB index is out of range"
	msgSyntax        = "ERR syntax error"
	msgShuttingDown  = "ERR proxy shutting down"
	msgClientNameSpc = "ERR Client names cannot contain spaces, newlines or special characters."
)

// msgUnknown is the reply to a command the proxy does not serve.
func msgUnknown(name string) string {
	return "ERR unknown or unsupported command '" + name + "'"
}

// msgUnknownSub is the reply to a subcommand the proxy does not serve.
func msgUnknownSub(cmd, sub string) string {
	return "ERR unknown or unsupported subcommand '" + sub + "' for '" + cmd + "'"
}

// msgArity is Redis' reply to a command with the wrong number of
// arguments.
func msgArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// backendErrText is the reply to a request that failed at server addr:
// "ERR backend <addr>: <reason>".
func backendErrText(addr string, err error) string {
	return "ERR backend " + addr + ": " + errReason(err)
}

// msgConnClosed is the reason given for a connection the proxy closed.
const msgConnClosed = "connection closed"

// errReason turns a connection error into a short reason: "timeout",
// "connection refused", "connection closed by server", ...
func errReason(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "unknown error"
	case errors.Is(err, ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrServerEOF.Error()
	case errors.Is(err, net.ErrClosed):
		// The proxy closed the connection itself (a failover retired it,
		// a reload or a shutdown closed it): not Go's "use of closed
		// network connection".
		return msgConnClosed
	case errors.As(err, &errno):
		return errno.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return strings.TrimPrefix(opErr.Err.Error(), "os: ")
	}
	return err.Error()
}
