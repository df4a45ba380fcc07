package conf

import (
	"errors"

	"github.com/go-zookeeper/zk"
)

// Kinds of ZooKeeper errors. Every error the ZooKeeper helpers of this
// package return for a failed operation is a *ZKError that unwraps both to
// one of these and to go-zookeeper's own error, so callers write
// errors.Is(err, conf.ErrBadVersion) without importing go-zookeeper.
var (
	// ErrNoNode: the znode (or, for a create, its parent) does not exist.
	ErrNoNode = errors.New("znode does not exist")
	// ErrNodeExists: a create found the znode already there.
	ErrNodeExists = errors.New("znode already exists")
	// ErrBadVersion: a check-and-set (set or delete with a version) lost
	// the race: the znode changed since it was read.
	ErrBadVersion = errors.New("znode version conflict")
	// ErrNotEmpty: a delete found children under the znode.
	ErrNotEmpty = errors.New("znode has children")
	// ErrNoAuth: the ACL of the znode refuses this client (wrong or missing
	// zookeeper_auth), or a create asked for an ACL the client cannot set.
	ErrNoAuth = errors.New("not authorized by the znode's ACL")
	// ErrSessionExpired: the ZooKeeper session expired; its ephemeral
	// znodes and watches are gone. The client opens a new session by itself.
	ErrSessionExpired = errors.New("ZooKeeper session expired")
	// ErrConnectionLoss: the connection to ZooKeeper was lost (or none
	// could be made) before the answer came; the operation may or may not
	// have been applied.
	ErrConnectionLoss = errors.New("ZooKeeper connection lost")
	// ErrZKClosed: the client was closed.
	ErrZKClosed = errors.New("ZooKeeper client closed")
	// ErrBadZnodeData: a znode holds data that its codec refuses.
	ErrBadZnodeData = errors.New("bad znode data")
	// ErrBadZnodeName: a znode name or path that the layout refuses.
	ErrBadZnodeName = errors.New("bad znode name")
	// ErrNoPool: the pool's cluster znode does not exist.
	ErrNoPool = errors.New("pool not found in ZooKeeper")
	// ErrBadTopology: a pool's topology fails Topology.Validate.
	ErrBadTopology = errors.New("invalid topology")
)

// ZKError is a failed ZooKeeper operation. It unwraps to its Kind (one of
// the ErrXxx above, nil when none fits) and to the underlying error.
type ZKError struct {
	Op   string // "get", "children", "create", "set", "delete", "exists", "multi", ...
	Path string // the znode path, without the chroot
	Kind error
	Err  error
}

func (e *ZKError) Error() string {
	msg := "zookeeper " + e.Op
	if e.Path != "" {
		msg += " " + e.Path
	}
	if e.Kind != nil {
		return msg + ": " + e.Kind.Error()
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the kind and the underlying error.
func (e *ZKError) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// zkErr wraps a go-zookeeper error as a *ZKError (nil stays nil).
func zkErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var ze *ZKError
	if errors.As(err, &ze) {
		return err
	}
	return &ZKError{Op: op, Path: path, Kind: zkKind(err), Err: err}
}

// zkKind maps a go-zookeeper error to one of the ErrXxx kinds.
func zkKind(err error) error {
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return ErrNoNode
	case errors.Is(err, zk.ErrNodeExists):
		return ErrNodeExists
	case errors.Is(err, zk.ErrBadVersion):
		return ErrBadVersion
	case errors.Is(err, zk.ErrNotEmpty):
		return ErrNotEmpty
	case errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrAuthFailed), errors.Is(err, zk.ErrInvalidACL):
		return ErrNoAuth
	case errors.Is(err, zk.ErrSessionExpired):
		return ErrSessionExpired
	case errors.Is(err, zk.ErrConnectionClosed), errors.Is(err, zk.ErrNoServer), errors.Is(err, zk.ErrSessionMoved):
		return ErrConnectionLoss
	case errors.Is(err, zk.ErrClosing):
		return ErrZKClosed
	case errors.Is(err, zk.ErrInvalidPath):
		return ErrBadZnodeName
	}
	return nil
}

// retryable reports whether err is a passing ZooKeeper condition (a lost
// connection or an expired session) after which the same operation may
// succeed once the client has reconnected.
func retryable(err error) bool {
	return errors.Is(err, ErrConnectionLoss) || errors.Is(err, ErrSessionExpired)
}
