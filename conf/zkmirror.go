package conf

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/go-zookeeper/zk"
)

// mirror keeps a copy of a znode subtree of fixed depth (the root, its
// children, and so on down depth levels) and, in watch mode, one armed
// ZooKeeper watch per node: a data watch on every node (an exists watch
// on the root while it is missing) and a children watch on every node
// above the last level.
//
// A watch is armed at most once per node: go-zookeeper keeps a channel for
// every GetW/ChildrenW call until the watch fires, so re-arming on every
// re-read would pile up channels. A node whose watch channel has fired
// (an event, or the EventNotWatching of a session expiry) is re-read and
// re-armed; a full sync re-reads every node without a new watch unless the
// node changed while its watch seemed armed (a lost watch), then re-arms.
//
// A mirror is owned by one goroutine (its watcher's); it is not safe for
// concurrent use.
type mirror struct {
	z     *ZK
	root  string
	depth int
	watch bool
	nodes map[string]*mnode
	arms  atomic.Int64 // watches armed so far (tests check that re-reads do not pile them up)
}

type mnode struct {
	exists   bool
	data     []byte
	stat     zk.Stat
	dataW    <-chan zk.Event // armed data watch (exists watch for a missing root); nil: none
	children []string        // sorted
	pzxid    int64           // children zxid when children were read
	childW   <-chan zk.Event // armed children watch; nil: none
}

func newMirror(z *ZK, root string, depth int, watch bool) *mirror {
	return &mirror{z: z, root: root, depth: depth, watch: watch, nodes: map[string]*mnode{}}
}

// fired reports whether a watch channel has delivered its event (or was
// closed); a nil channel counts as fired (no watch armed).
func fired(ch <-chan zk.Event) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sync brings the copy up to date: every node whose watch fired (all of
// them when full) is read again. On error the copy stays usable and the
// nodes not yet read are read by the next sync.
func (m *mirror) sync(full bool) error {
	return m.syncNode(m.root, 0, full)
}

func (m *mirror) syncNode(path string, level int, full bool) error {
	n := m.nodes[path]
	if n == nil {
		n = &mnode{}
		m.nodes[path] = n
		full = true // a new node: read it and everything under it
	}
	dataFired := !m.watch || fired(n.dataW)
	if dataFired {
		n.dataW = nil
	}
	if full || dataFired {
		if err := m.readData(path, n, level == 0); err != nil {
			return err
		}
	}
	if !n.exists {
		m.dropChildren(path, n)
		return nil
	}
	if level >= m.depth {
		return nil
	}
	childFired := !m.watch || fired(n.childW)
	if childFired {
		n.childW = nil
	}
	if full || childFired {
		if err := m.readChildren(path, n); err != nil {
			if !errors.Is(err, ErrNoNode) {
				return err
			}
			// Deleted since its data was read; its data watch has fired.
			n.exists = false
			m.dropChildren(path, n)
			return nil
		}
	}
	for _, c := range n.children {
		if err := m.syncNode(joinZnode(path, c), level+1, full); err != nil {
			return err
		}
	}
	return nil
}

// readData reads a node's data, arming its data watch if none is armed.
// Only the root gets an exists watch while missing: a missing child is
// dropped when its parent's children watch fires.
func (m *mirror) readData(path string, n *mnode, isRoot bool) error {
	if !m.watch {
		data, st, err := m.z.getRaw(path)
		if errors.Is(err, ErrNoNode) {
			n.exists, n.data, n.stat = false, nil, zk.Stat{}
			return nil
		}
		if err != nil {
			return err
		}
		n.exists, n.data, n.stat = true, data, *st
		return nil
	}
	if n.dataW != nil {
		// A full sync with the watch armed: read without a new watch.
		data, st, err := m.z.getRaw(path)
		switch {
		case errors.Is(err, ErrNoNode):
			if !n.exists {
				return nil // still missing; the exists watch stays armed
			}
		case err != nil:
			return err
		case n.exists && st.Mzxid == n.stat.Mzxid:
			n.data, n.stat = data, *st
			return nil
		}
		// Changed although no event was seen when this sync began: the
		// event is in the channel now, or the watch was lost. Re-arm.
		fired(n.dataW)
		n.dataW = nil
	}
	m.arms.Add(1)
	data, st, ch, err := m.z.getW(path)
	if err == nil {
		n.exists, n.data, n.stat, n.dataW = true, data, *st, ch
		return nil
	}
	if !errors.Is(err, ErrNoNode) {
		return err
	}
	n.exists, n.data, n.stat = false, nil, zk.Stat{}
	if !isRoot {
		return nil
	}
	m.arms.Add(1)
	ok, _, ch, err := m.z.existsW(path)
	if err != nil {
		return err
	}
	n.dataW = ch
	if !ok {
		return nil
	}
	// Created between the two calls: ch is now a data watch; read the data
	// under it.
	data, st, err = m.z.getRaw(path)
	if errors.Is(err, ErrNoNode) {
		return nil // and gone again: ch fires for the deletion
	}
	if err != nil {
		return err
	}
	n.exists, n.data, n.stat = true, data, *st
	return nil
}

// readChildren lists a node's children, arming its children watch if none
// is armed, and forgets the subtrees of children that went away.
func (m *mirror) readChildren(path string, n *mnode) error {
	var names []string
	var pzxid int64
	got := false
	if m.watch && n.childW != nil {
		c, st, err := m.z.childrenRaw(path)
		if err != nil {
			return err
		}
		if st.Pzxid == n.pzxid {
			names, pzxid, got = c, st.Pzxid, true
		} else {
			fired(n.childW) // changed: the event came in meanwhile, or the watch was lost
			n.childW = nil
		}
	}
	if !got {
		if m.watch {
			m.arms.Add(1)
			c, st, ch, err := m.z.childrenW(path)
			if err != nil {
				return err
			}
			names, pzxid, n.childW = c, st.Pzxid, ch
		} else {
			c, st, err := m.z.childrenRaw(path)
			if err != nil {
				return err
			}
			names, pzxid = c, st.Pzxid
		}
	}
	names = slices.Clone(names)
	slices.Sort(names)
	for _, old := range n.children {
		if _, ok := slices.BinarySearch(names, old); !ok {
			m.drop(joinZnode(path, old))
		}
	}
	n.children, n.pzxid = names, pzxid
	return nil
}

// drop forgets path and everything cached below it.
func (m *mirror) drop(path string) {
	delete(m.nodes, path)
	prefix := path + "/"
	for p := range m.nodes {
		if strings.HasPrefix(p, prefix) {
			delete(m.nodes, p)
		}
	}
}

func (m *mirror) dropChildren(path string, n *mnode) {
	for _, c := range n.children {
		m.drop(joinZnode(path, c))
	}
	n.children, n.pzxid = nil, 0
}

// snapshot returns the copy as a tree of rawNodes, nil if the root does
// not exist. Children that vanished between listing and reading are left
// out. The data slices are shared with the cache, which never modifies a
// slice it has stored.
func (m *mirror) snapshot() *rawNode {
	return m.snap(m.root, "", 0)
}

func (m *mirror) snap(path, name string, level int) *rawNode {
	n := m.nodes[path]
	if n == nil || !n.exists {
		return nil
	}
	r := &rawNode{Name: name, Data: n.data, Version: n.stat.Version, Owner: n.stat.EphemeralOwner, Czxid: n.stat.Czxid, Mzxid: n.stat.Mzxid}
	if level < m.depth {
		for _, c := range n.children {
			if cr := m.snap(joinZnode(path, c), c, level+1); cr != nil {
				r.Children = append(r.Children, cr)
			}
		}
	}
	return r
}

// under reports whether p is root or below it.
func under(p, root string) bool {
	return p == root || strings.HasPrefix(p, root+"/") || root == "/"
}
