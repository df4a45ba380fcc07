package conf

import (
	"errors"
	"strconv"
	"strings"
)

// Kinds of configuration errors. Every error Load, Parse and Validate
// return is an *Error (or several joined with errors.Join) that unwraps to
// one of these.
var (
	ErrSyntax          = errors.New("YAML syntax error")
	ErrStructure       = errors.New("bad configuration structure")
	ErrNoPools         = errors.New("no pools")
	ErrUnknownKey      = errors.New("unknown key")
	ErrDuplicateKey    = errors.New("duplicate key")
	ErrMissingKey      = errors.New("missing key")
	ErrBadValue        = errors.New("bad value")
	ErrBadAddress      = errors.New("bad address")
	ErrBadWeight       = errors.New("bad weight")
	ErrSlotRanges      = errors.New("bad slot ranges")
	ErrDuplicateServer = errors.New("duplicate server")
	ErrDuplicatePool   = errors.New("duplicate pool name")
	ErrDuplicateListen = errors.New("duplicate listen address")
	ErrFile            = errors.New("cannot read configuration")
)

// Error is one configuration problem, located as precisely as the source
// allows. Its message reads
//
//	file:line: pool NAME: KEY: message
//
// with the parts that are unknown left out (a Pool built in code has no
// file; a problem with a whole file has no pool).
type Error struct {
	File string // configuration file, "" if the pool was not loaded from one
	Line int    // 1-based line, 0 if unknown
	Pool string // pool name, "" if the problem is not about one pool
	Key  string // configuration key, "" if none
	Msg  string // what is wrong
	Err  error  // one of the ErrXxx kinds (or a wrapped cause)
}

func (e *Error) Error() string {
	var sb strings.Builder
	if e.File != "" {
		sb.WriteString(e.File)
		if e.Line > 0 {
			sb.WriteString(":" + strconv.Itoa(e.Line))
		}
		sb.WriteString(": ")
	}
	if e.Pool != "" {
		sb.WriteString("pool " + e.Pool + ": ")
	}
	if e.Key != "" {
		sb.WriteString(e.Key + ": ")
	}
	sb.WriteString(e.Msg)
	return sb.String()
}

// Unwrap returns the kind of error.
func (e *Error) Unwrap() error { return e.Err }

// Errors returns the individual *Error values inside err (which may be a
// single *Error or several joined by errors.Join), in order.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		out = append(out, &Error{Msg: err.Error(), Err: err})
	}
	walk(err)
	return out
}
