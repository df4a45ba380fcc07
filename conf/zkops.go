package conf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-zookeeper/zk"
)

// gate fails fast before the first session: go-zookeeper would queue the
// request until a server answers, and an unauthenticated request could
// create a znode with the wrong ACL.
func (z *ZK) gate(op, path string) error {
	select {
	case <-z.ready:
		return nil
	case <-z.closed:
		return &ZKError{Op: op, Path: path, Kind: ErrZKClosed, Err: zk.ErrClosing}
	default:
		return &ZKError{Op: op, Path: path, Kind: ErrConnectionLoss, Err: errors.New("no session established yet")}
	}
}

func checkPath(op, path string) error {
	if err := checkZnodePath(path); err != nil {
		return &ZKError{Op: op, Path: path, Kind: ErrBadZnodeName, Err: err}
	}
	return nil
}

// Get returns a znode's data and stat.
func (z *ZK) Get(path string) ([]byte, Stat, error) {
	if err := z.pre("get", path); err != nil {
		return nil, Stat{}, err
	}
	b, st, err := z.conn.Get(z.abs(path))
	return b, statOf(st), zkErr("get", path, err)
}

// Children returns a znode's children names (in no particular order).
func (z *ZK) Children(path string) ([]string, Stat, error) {
	if err := z.pre("children", path); err != nil {
		return nil, Stat{}, err
	}
	c, st, err := z.conn.Children(z.abs(path))
	return c, statOf(st), zkErr("children", path, err)
}

// Exists reports whether a znode exists, and its stat if it does.
func (z *ZK) Exists(path string) (bool, Stat, error) {
	if err := z.pre("exists", path); err != nil {
		return false, Stat{}, err
	}
	ok, st, err := z.conn.Exists(z.abs(path))
	return ok, statOf(st), zkErr("exists", path, err)
}

// CreateMode is how a znode is created.
type CreateMode int32

// The create modes.
const (
	CreatePersistent          CreateMode = 0
	CreateEphemeral           CreateMode = zk.FlagEphemeral
	CreateSequential          CreateMode = zk.FlagSequence
	CreateEphemeralSequential CreateMode = zk.FlagEphemeral | zk.FlagSequence
)

// Create creates a znode with the client's ACL and returns its path (with
// the sequence number, for a sequential mode).
func (z *ZK) Create(path string, data []byte, mode CreateMode) (string, error) {
	if mode&CreateSequential == 0 {
		if err := checkPath("create", path); err != nil {
			return "", err
		}
	}
	if err := z.gate("create", path); err != nil {
		return "", err
	}
	p, err := z.conn.Create(z.abs(path), data, int32(mode), z.acl)
	if err != nil {
		return "", zkErr("create", path, err)
	}
	r, _ := z.rel(p)
	return r, nil
}

// Set writes a znode's data if its version is still version (-1: any
// version) and returns the new stat; a lost race is ErrBadVersion.
func (z *ZK) Set(path string, data []byte, version int32) (Stat, error) {
	if err := z.pre("set", path); err != nil {
		return Stat{}, err
	}
	st, err := z.conn.Set(z.abs(path), data, version)
	return statOf(st), zkErr("set", path, err)
}

// Delete deletes a znode if its version is still version (-1: any).
func (z *ZK) Delete(path string, version int32) error {
	if err := z.pre("delete", path); err != nil {
		return err
	}
	return zkErr("delete", path, z.conn.Delete(z.abs(path), version))
}

// Sync makes the server this client talks to catch up with the leader, so
// that the next reads see every write committed before the call.
func (z *ZK) Sync(path string) error {
	if err := z.pre("sync", path); err != nil {
		return err
	}
	_, err := z.conn.Sync(z.abs(path))
	return zkErr("sync", path, err)
}

// EnsurePath creates path and its missing parents as persistent znodes
// with empty data (the chroot too, if missing). Existing znodes are left
// as they are.
func (z *ZK) EnsurePath(path string) error {
	if err := z.pre("create", path); err != nil {
		return err
	}
	full := z.abs(path)
	if full == "/" {
		return nil
	}
	parts := strings.Split(full[1:], "/")
	cur := ""
	for _, c := range parts {
		cur += "/" + c
		ok, _, err := z.conn.Exists(cur)
		if err != nil {
			return zkErr("exists", cur, err)
		}
		if ok {
			continue
		}
		if _, err := z.conn.Create(cur, nil, 0, z.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return zkErr("create", cur, err)
		}
	}
	return nil
}

func (z *ZK) pre(op, path string) error {
	if err := checkPath(op, path); err != nil {
		return err
	}
	return z.gate(op, path)
}

// Op is one operation of a Multi.
type Op struct {
	kind    string // "create", "set", "delete", "check"
	path    string
	data    []byte
	version int32
	mode    CreateMode
}

// CreateOp creates a persistent znode.
func CreateOp(path string, data []byte) Op { return Op{kind: "create", path: path, data: data} }

// SetOp sets a znode's data if its version is version (-1: any).
func SetOp(path string, data []byte, version int32) Op {
	return Op{kind: "set", path: path, data: data, version: version}
}

// DeleteOp deletes a znode if its version is version (-1: any).
func DeleteOp(path string, version int32) Op { return Op{kind: "delete", path: path, version: version} }

// CheckOp fails the Multi unless the znode's version is version.
func CheckOp(path string, version int32) Op { return Op{kind: "check", path: path, version: version} }

// Multi applies every op or none (a ZooKeeper transaction). The error
// names the first op that failed and unwraps to its kind, e.g.
// ErrBadVersion when a concurrent writer changed a checked znode.
func (z *ZK) Multi(ops ...Op) error {
	if len(ops) == 0 {
		return nil
	}
	reqs := make([]any, len(ops))
	for i, o := range ops {
		if err := checkPath("multi "+o.kind, o.path); err != nil {
			return err
		}
		p := z.abs(o.path)
		switch o.kind {
		case "create":
			reqs[i] = &zk.CreateRequest{Path: p, Data: o.data, Acl: z.acl, Flags: int32(o.mode)}
		case "set":
			reqs[i] = &zk.SetDataRequest{Path: p, Data: o.data, Version: o.version}
		case "delete":
			reqs[i] = &zk.DeleteRequest{Path: p, Version: o.version}
		case "check":
			reqs[i] = &zk.CheckVersionRequest{Path: p, Version: o.version}
		default:
			return fmt.Errorf("conf: zero Op in Multi")
		}
	}
	if err := z.gate("multi", ops[0].path); err != nil {
		return err
	}
	res, err := z.conn.Multi(reqs...)
	for i, r := range res {
		if r.Error != nil && zkKind(r.Error) != nil {
			return zkErr("multi "+ops[i].kind, ops[i].path, r.Error)
		}
	}
	if err != nil {
		return zkErr("multi", ops[0].path, err)
	}
	for i, r := range res {
		if r.Error != nil {
			return zkErr("multi "+ops[i].kind, ops[i].path, r.Error)
		}
	}
	return nil
}

// getW, childrenW and existsW set a watch; they are for the watchers of
// this package, which track the returned channels.
func (z *ZK) getW(path string) ([]byte, *zk.Stat, <-chan zk.Event, error) {
	if err := z.gate("get", path); err != nil {
		return nil, nil, nil, err
	}
	b, st, ch, err := z.conn.GetW(z.abs(path))
	return b, st, ch, zkErr("get", path, err)
}

func (z *ZK) childrenW(path string) ([]string, *zk.Stat, <-chan zk.Event, error) {
	if err := z.gate("children", path); err != nil {
		return nil, nil, nil, err
	}
	c, st, ch, err := z.conn.ChildrenW(z.abs(path))
	return c, st, ch, zkErr("children", path, err)
}

func (z *ZK) existsW(path string) (bool, *zk.Stat, <-chan zk.Event, error) {
	if err := z.gate("exists", path); err != nil {
		return false, nil, nil, err
	}
	ok, st, ch, err := z.conn.ExistsW(z.abs(path))
	return ok, st, ch, zkErr("exists", path, err)
}

func (z *ZK) getRaw(path string) ([]byte, *zk.Stat, error) {
	if err := z.gate("get", path); err != nil {
		return nil, nil, err
	}
	b, st, err := z.conn.Get(z.abs(path))
	return b, st, zkErr("get", path, err)
}

func (z *ZK) childrenRaw(path string) ([]string, *zk.Stat, error) {
	if err := z.gate("children", path); err != nil {
		return nil, nil, err
	}
	c, st, err := z.conn.Children(z.abs(path))
	return c, st, zkErr("children", path, err)
}
