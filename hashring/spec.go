package hashring

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Distribution is how a Table spreads keys over servers.
type Distribution uint8

// The distributions. The zero value is Ketama, twemproxy's default.
const (
	// Ketama is twemproxy's consistent hashing: 160 points per server at
	// equal weights (proportionally more or fewer otherwise), each point
	// from the MD5 of "<name>-<i>"; a key goes to the first point at or
	// after its hash, wrapping around.
	Ketama Distribution = iota
	// Modula maps a key to servers repeated by weight: hash % total weight.
	Modula
	// Random picks a live server at random for every key (twemproxy's
	// "random": useful only for caches that tolerate it).
	Random
	// Slots maps a key to slot = hash % slots and the slot to the server
	// whose ranges contain it (shardis' extension).
	Slots
)

// ErrUnknownDistribution is returned by ParseDistribution.
var ErrUnknownDistribution = errors.New("unknown distribution")

// ParseDistribution parses "ketama", "modula", "random" or "slots".
func ParseDistribution(s string) (Distribution, error) {
	switch s {
	case "ketama":
		return Ketama, nil
	case "modula":
		return Modula, nil
	case "random":
		return Random, nil
	case "slots":
		return Slots, nil
	}
	return 0, fmt.Errorf("%w %q (want ketama, modula, random or slots)", ErrUnknownDistribution, s)
}

// String returns the configuration name of d.
func (d Distribution) String() string {
	switch d {
	case Ketama:
		return "ketama"
	case Modula:
		return "modula"
	case Random:
		return "random"
	case Slots:
		return "slots"
	}
	return "Distribution(" + strconv.Itoa(int(d)) + ")"
}

// Server is one server of a Spec, as twemproxy reads
// "host:port:weight [name]" (or "/path/to/socket:weight [name]").
type Server struct {
	// Addr is "host:port" exactly as written in the configuration, or the
	// path of a unix socket (starting with '/'). Only ContinuumName reads
	// it: a Table never dials.
	Addr string
	// Name is the optional name written after the weight; "" if none.
	Name string
	// Weight is the server's weight (>= 1) for ketama, modula and random.
	Weight int
	// Ranges are the slots the server owns in a Slots table.
	Ranges []Range
}

// ContinuumName is the name twemproxy gives the server, which it hashes
// onto the ketama continuum, sorts the servers by, and requires to be
// unique: Name if set; otherwise Addr, except that a ":11211" port is
// dropped (libmemcached compatibility) and a unix socket path keeps the
// ':' that followed it ("/tmp/sock:1" is named "/tmp/sock:").
func (s Server) ContinuumName() string {
	if s.Name != "" {
		return s.Name
	}
	if strings.HasPrefix(s.Addr, "/") {
		return s.Addr + ":"
	}
	if host, ok := strings.CutSuffix(s.Addr, ":11211"); ok {
		return host
	}
	return s.Addr
}

// Spec describes a Table: the servers of a pool and how keys are spread.
type Spec struct {
	Distribution Distribution
	// Hash is a twemproxy hash name (see HashNames); "" means DefaultHash.
	Hash string
	// HashTag is "" (hash whole keys) or two characters such as "{}".
	HashTag string
	// Slots is the slot count of a Slots table; 0 means DefaultSlots.
	// Other distributions ignore it.
	Slots int
	// Servers in configuration order; Table indexes refer to this order.
	Servers []Server
}

// Errors of New and NewWithout. Errors about one server are *ServerError.
var (
	ErrNoServers       = errors.New("no servers")
	ErrNoLiveServers   = errors.New("no live servers")
	ErrBadHashTag      = errors.New("hash tag must be two characters")
	ErrBadWeight       = errors.New("weight must be at least 1")
	ErrWeightTotal     = errors.New("total weight exceeds 4294967295")
	ErrDuplicateServer = errors.New("duplicate server name")
	ErrRangesNeedSlots = errors.New("slot ranges need the slots distribution")
	ErrMissingRanges   = errors.New("server has no slot ranges")
	ErrEjectedLength   = errors.New("ejected has the wrong length")
)

// ServerError is a problem with Spec.Servers[Index].
type ServerError struct {
	Index int
	Name  string // the server's ContinuumName
	Err   error
}

func (e *ServerError) Error() string { return "server " + e.Name + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *ServerError) Unwrap() error { return e.Err }
