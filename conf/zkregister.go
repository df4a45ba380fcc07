package conf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// Ephemeral keeps one ephemeral znode registered for as long as its Run
// lasts: a proxy's /redis/proxy/<pool>/<host:port>. It creates the node
// (and missing persistent parents) when a session is established, creates
// it again after a session expiry or if someone deletes it, puts its data
// back if someone changes it, and deletes it when Run ends.
//
// If the node exists and belongs to another session (typically this
// proxy's previous process, whose session has not expired yet), it is
// left alone and watched: the registration is made when it goes away.
// Two live processes registering the same path therefore never fight.
type Ephemeral struct {
	z    *ZK
	path string
	log  *slog.Logger
	kick chan struct{} // SetData wakes Run

	registered atomic.Bool
	mu         sync.Mutex
	data       []byte // guarded by mu
	written    bool   // guarded by mu: data is what the znode holds
	lastErr    error
}

// NewEphemeral returns a registration of path with data on z; Run makes
// it.
func NewEphemeral(z *ZK, path string, data []byte, log *slog.Logger) (*Ephemeral, error) {
	if err := checkZnodePath(path); err != nil || path == "/" {
		return nil, fmt.Errorf("%w: ephemeral path %q", ErrBadZnodeName, path)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Ephemeral{z: z, path: path, data: slices.Clone(data), kick: make(chan struct{}, 1),
		log: log.With("component", "zookeeper-register", "path", path)}, nil
}

// SetData changes the data the node holds; Run writes it (at once when
// registered, else when the node is created). Safe for concurrent use.
func (e *Ephemeral) SetData(data []byte) {
	e.mu.Lock()
	if bytes.Equal(e.data, data) {
		e.mu.Unlock()
		return
	}
	e.data, e.written = slices.Clone(data), false
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Written reports whether the data last given (NewEphemeral, SetData) is
// in the znode, as far as this client knows.
func (e *Ephemeral) Written() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.written && e.registered.Load()
}

func (e *Ephemeral) current() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.data
}

// wrote records that data is in the znode (if it is still the data to
// write).
func (e *Ephemeral) wrote(data []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if bytes.Equal(e.data, data) {
		e.written = true
	}
}

// Path is the registered znode.
func (e *Ephemeral) Path() string { return e.path }

// Registered reports whether the node is known to exist for this session.
func (e *Ephemeral) Registered() bool { return e.registered.Load() }

// Err is the last error met while registering, nil once registered.
func (e *Ephemeral) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastErr
}

// Run keeps the node registered until ctx ends, then deletes it (if this
// session still owns it) and returns ctx.Err(); it returns an error
// wrapping ErrZKClosed if z is closed first. Run is the only goroutine of
// an Ephemeral; call it once.
func (e *Ephemeral) Run(ctx context.Context) error {
	events, cancel := e.z.Subscribe()
	defer cancel()
	var watch <-chan zk.Event
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			e.remove()
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				e.registered.Store(false)
				return &ZKError{Op: "register", Path: e.path, Kind: ErrZKClosed, Err: errors.New("client closed")}
			}
			if ev.Kind == SessionExpired {
				e.registered.Store(false)
			}
			if ev.Kind != SessionConnected {
				continue
			}
		case <-watch:
			watch = nil
		case <-e.kick:
		case <-retry:
		}
		retry = nil
		if !e.z.Connected() {
			continue
		}
		var err error
		watch, err = e.ensure(watch)
		e.mu.Lock()
		e.lastErr = err
		e.mu.Unlock()
		if err != nil {
			e.log.Warn("zookeeper registration failed; retrying", "err", err)
			retry = time.After(watchRetry)
		}
	}
}

// ensure makes sure the node exists for this session with its data, and
// returns the armed watch on it (the one given if it has not fired).
func (e *Ephemeral) ensure(watch <-chan zk.Event) (<-chan zk.Event, error) {
	if watch != nil && fired(watch) {
		watch = nil
	}
	sid := e.z.SessionID()
	want := e.current()
	for attempt := 0; attempt < 3; attempt++ {
		var st *zk.Stat
		var data []byte
		var err error
		if watch == nil {
			var ch <-chan zk.Event
			data, st, ch, err = e.z.getW(e.path)
			if err == nil {
				watch = ch
			}
		} else {
			data, st, err = e.z.getRaw(e.path)
		}
		switch {
		case errors.Is(err, ErrNoNode):
			if err := e.z.EnsurePath(path.Dir(e.path)); err != nil {
				return watch, err
			}
			_, err := e.z.Create(e.path, want, CreateEphemeral)
			if errors.Is(err, ErrNodeExists) {
				continue // someone was faster; look again
			}
			if err != nil {
				return watch, err
			}
			e.registered.Store(true)
			e.wrote(want)
			e.log.Info("registered in zookeeper", "session", fmt.Sprintf("0x%x", sid))
			if watch == nil {
				continue // arm the watch on the new node
			}
			return watch, nil
		case err != nil:
			return watch, err
		}
		if st.EphemeralOwner != sid {
			e.registered.Store(false)
			e.log.Warn("znode held by another session; registering when it goes away",
				"owner", fmt.Sprintf("0x%x", st.EphemeralOwner), "session", fmt.Sprintf("0x%x", sid))
			return watch, nil
		}
		if !bytes.Equal(data, want) {
			if _, err := e.z.Set(e.path, want, st.Version); errors.Is(err, ErrBadVersion) {
				continue // changed meanwhile; look again
			} else if err != nil {
				return watch, err
			}
		}
		e.registered.Store(true)
		e.wrote(want)
		return watch, nil
	}
	return watch, fmt.Errorf("zookeeper register %s: the znode keeps changing", e.path)
}

// remove deletes the node if this session owns it.
func (e *Ephemeral) remove() {
	defer e.registered.Store(false)
	if !e.z.Connected() {
		return // the session's end removes it
	}
	_, st, err := e.z.Get(e.path)
	if err != nil || st.EphemeralOwner != e.z.SessionID() {
		return
	}
	if err := e.z.Delete(e.path, st.Version); err != nil && !errors.Is(err, ErrNoNode) {
		e.log.Warn("zookeeper unregister failed", "err", err)
		return
	}
	e.log.Info("unregistered from zookeeper")
}

// MemberNode is a member znode this client created.
type MemberNode struct {
	Path    string // full path, e.g. /redis/cluster/icd/redis-0000/_c_<guid>-10.0.0.1:6379-0000000007
	Name    string // last component
	Seq     int64  // the sequence number: the member's place in the shard's queue
	Version int32  // data version, for UpdateMember's check-and-set
}

// CreateMember registers a watchdog in the shard at shardPath: an
// EPHEMERAL|SEQUENTIAL znode named "<addr>-<seq10>" behind go-zookeeper's
// protected-create prefix ("_c_<guid>-"), holding data. The shard znode
// must exist (ErrNoNode otherwise).
//
// A watchdog never gets two members of itself: if this session already
// owns a member for data.Addr in the shard (the reply to an earlier
// create was lost, and that call failed), that member is reused (its data
// set to data) and any further ones deleted; if the reply to this create
// is lost, the znode is found again by its GUID or, failing that, by this
// session's ownership. To go to the back of the queue, DeleteMember first.
func (z *ZK) CreateMember(shardPath string, data MemberData) (MemberNode, error) {
	if err := data.Validate(); err != nil {
		return MemberNode{}, err
	}
	if err := z.pre("create", shardPath); err != nil {
		return MemberNode{}, err
	}
	sid := z.SessionID()
	if m, ok, err := z.adoptMember(shardPath, data, sid); err != nil || ok {
		return m, err
	}
	p, err := z.conn.CreateProtectedEphemeralSequential(z.abs(MemberPrefix(shardPath, data.Addr)), data.Marshal(), z.acl)
	if err == nil && p != "" {
		rel, _ := z.rel(p)
		name := path.Base(rel)
		mn, perr := ParseMemberName(name)
		if perr != nil {
			return MemberNode{}, perr
		}
		return MemberNode{Path: rel, Name: name, Seq: mn.Seq}, nil
	}
	if err == nil {
		// go-zookeeper gives up after three lost replies without an error.
		err = zk.ErrConnectionClosed
	}
	werr := zkErr("create", MemberPrefix(shardPath, data.Addr), err)
	if !errors.Is(werr, ErrConnectionLoss) || z.SessionID() != sid || !z.Connected() {
		return MemberNode{}, werr
	}
	// The session survived: the create may have been applied.
	if m, ok, err := z.adoptMember(shardPath, data, sid); err == nil && ok {
		return m, nil
	}
	return MemberNode{}, werr
}

// adoptMember finds this session's members for data.Addr in the shard,
// keeps the lowest (with data written to it) and deletes the others.
func (z *ZK) adoptMember(shardPath string, data MemberData, sid int64) (MemberNode, bool, error) {
	all, err := z.FindMembers(shardPath, sid)
	if err != nil {
		return MemberNode{}, false, err
	}
	var mine []MemberNode
	for _, m := range all {
		if mn, _ := ParseMemberName(m.Name); mn.Addr == data.Addr {
			mine = append(mine, m)
		}
	}
	if len(mine) == 0 {
		return MemberNode{}, false, nil
	}
	for _, extra := range mine[1:] {
		if err := z.DeleteMember(extra.Path, -1); err != nil {
			return MemberNode{}, false, err
		}
	}
	m := mine[0]
	b, st, err := z.Get(m.Path)
	if err != nil {
		return MemberNode{}, false, err
	}
	if !bytes.Equal(b, data.Marshal()) {
		if st, err = z.Set(m.Path, data.Marshal(), st.Version); err != nil {
			return MemberNode{}, false, err
		}
	}
	m.Version = st.Version
	return m, true, nil
}

// FindMembers returns the members of the shard owned by session (this
// client's SessionID, usually), lowest sequence first.
func (z *ZK) FindMembers(shardPath string, session int64) ([]MemberNode, error) {
	names, _, err := z.Children(shardPath)
	if err != nil {
		return nil, err
	}
	var out []MemberNode
	for _, name := range names {
		mn, err := ParseMemberName(name)
		if err != nil {
			continue
		}
		p := joinZnode(shardPath, name)
		_, st, err := z.Get(p)
		if errors.Is(err, ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if st.EphemeralOwner == session {
			out = append(out, MemberNode{Path: p, Name: name, Seq: mn.Seq, Version: st.Version})
		}
	}
	slices.SortFunc(out, func(a, b MemberNode) int {
		if a.Seq != b.Seq {
			if a.Seq < b.Seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// UpdateMember writes a member's data if its version is still version
// (check-and-set) and returns the new version. A concurrent change is
// ErrBadVersion, a deleted member (e.g. after a session expiry) ErrNoNode.
func (z *ZK) UpdateMember(memberPath string, data MemberData, version int32) (int32, error) {
	if err := data.Validate(); err != nil {
		return 0, err
	}
	st, err := z.Set(memberPath, data.Marshal(), version)
	if err != nil {
		return 0, err
	}
	return st.Version, nil
}

// DeleteMember deletes a member if its version is still version (-1:
// any); a missing member is not an error.
func (z *ZK) DeleteMember(memberPath string, version int32) error {
	err := z.Delete(memberPath, version)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}
