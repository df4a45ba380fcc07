package conf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// ZKConfig says how to reach ZooKeeper.
type ZKConfig struct {
	Servers        []string      // "host:port" each (ParseZooKeeperHost)
	Chroot         string        // "" or "/path": every path is taken below it
	SessionTimeout time.Duration // 0 means DefaultZooKeeperSessionTimeout
	// Auth is "user:password" for ZooKeeper digest authentication, "" for
	// none. With Auth, znodes this client creates get the ACL creator-all
	// (only clients authenticated as the same user may read or change
	// them); without, they are open to everyone (world:anyone, all).
	Auth   string
	Logger *slog.Logger // nil means slog.Default()
}

// ZooKeeperConfig returns how the pool reaches ZooKeeper (zookeeper_host,
// zookeeper_session_timeout, zookeeper_auth).
func (p *Pool) ZooKeeperConfig(log *slog.Logger) ZKConfig {
	return ZKConfig{
		Servers:        p.ZooKeeperServers,
		Chroot:         p.ZooKeeperChroot,
		SessionTimeout: p.ZooKeeperSessionTimeout,
		Auth:           p.ZooKeeperAuth,
		Logger:         log,
	}
}

// SessionEventKind is what happened to the ZooKeeper session.
type SessionEventKind int

// The session events.
const (
	// SessionConnected: a session is established (after the first
	// connect, a reconnect, or an expiry: see SessionEvent.NewSession).
	SessionConnected SessionEventKind = iota + 1
	// SessionDisconnected: the connection was lost; the session may still
	// be alive on the server (its ephemeral znodes too) until it expires.
	SessionDisconnected
	// SessionExpired: the server expired the session: its ephemeral znodes
	// and watches are gone. The client opens a new session by itself; a
	// SessionConnected with NewSession follows.
	SessionExpired
)

func (k SessionEventKind) String() string {
	switch k {
	case SessionConnected:
		return "connected"
	case SessionDisconnected:
		return "disconnected"
	case SessionExpired:
		return "expired"
	}
	return fmt.Sprintf("SessionEventKind(%d)", int(k))
}

// SessionEvent is one change of the ZooKeeper session.
type SessionEvent struct {
	Kind       SessionEventKind
	SessionID  int64  // the session concerned
	NewSession bool   // SessionConnected only: a session other than the previous one
	Server     string // the server, when known
}

// Stat is the part of a znode's stat that callers use.
type Stat struct {
	Version        int32 // data version (for check-and-set)
	Cversion       int32 // children version
	EphemeralOwner int64 // owning session id of an ephemeral znode, 0 otherwise
	NumChildren    int32
	Mzxid, Pzxid   int64 // zxid of the last data change / children change
	Ctime, Mtime   time.Time
}

func statOf(s *zk.Stat) Stat {
	if s == nil {
		return Stat{}
	}
	return Stat{
		Version: s.Version, Cversion: s.Cversion, EphemeralOwner: s.EphemeralOwner, NumChildren: s.NumChildren,
		Mzxid: s.Mzxid, Pzxid: s.Pzxid, Ctime: time.UnixMilli(s.Ctime), Mtime: time.UnixMilli(s.Mtime),
	}
}

// ZK is a ZooKeeper client for shardis: go-zookeeper's connection with the
// chroot applied to every path, digest authentication, the ACL for created
// znodes, session events to any number of subscribers, and errors that
// unwrap to this package's ErrXxx kinds. It is safe for concurrent use.
//
// Goroutines: go-zookeeper's connection goroutines, and one dispatcher
// that turns the connection's events into session events and watch
// notifications; both end with Close. Each Subscribe adds one goroutine
// that ends when it is cancelled or the ZK is closed.
type ZK struct {
	cfg  ZKConfig
	log  *slog.Logger
	conn *zk.Conn
	acl  []zk.ACL

	ready     chan struct{} // closed once the first session is up (and authenticated)
	readyOnce sync.Once
	closed    chan struct{}
	closeOnce sync.Once
	done      chan struct{} // closed when the dispatcher has ended

	connected atomic.Bool
	sessionID atomic.Int64

	// events is the queue between go-zookeeper's callback (which must not
	// block) and the dispatcher.
	evMu     sync.Mutex
	evQueue  []zk.Event
	evSignal chan struct{}

	mu        sync.Mutex
	subs      map[*subscription]struct{}
	listeners map[*nodeListener]struct{}
	lastSID   int64 // the session of the last SessionConnected
	authed    bool
}

// DialZooKeeper checks cfg and starts connecting in the background; it
// does not wait for a session (see WaitConnected). Operations made before
// the first session is established fail with ErrConnectionLoss.
func DialZooKeeper(cfg ZKConfig) (*ZK, error) {
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("%w: no ZooKeeper servers", ErrBadAddress)
	}
	if cfg.Chroot == "/" {
		cfg.Chroot = ""
	}
	if cfg.Chroot != "" {
		if err := checkZnodePath(cfg.Chroot); err != nil {
			return nil, fmt.Errorf("chroot: %w", err)
		}
	}
	if cfg.Auth != "" {
		if err := checkZooKeeperAuth(cfg.Auth); err != nil {
			return nil, fmt.Errorf("zookeeper auth: %w", err)
		}
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultZooKeeperSessionTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	z := &ZK{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "zookeeper"),
		ready:     make(chan struct{}),
		closed:    make(chan struct{}),
		done:      make(chan struct{}),
		evSignal:  make(chan struct{}, 1),
		subs:      map[*subscription]struct{}{},
		listeners: map[*nodeListener]struct{}{},
		acl:       zk.WorldACL(zk.PermAll),
	}
	if cfg.Auth != "" {
		z.acl = zk.AuthACL(zk.PermAll)
	}
	conn, _, err := zk.Connect(cfg.Servers, cfg.SessionTimeout,
		zk.WithLogger(zkLogger{z.log}),
		zk.WithEventCallback(z.enqueue))
	if err != nil {
		return nil, fmt.Errorf("zookeeper %s: %w", strings.Join(cfg.Servers, ","), err)
	}
	z.conn = conn
	go z.dispatch()
	return z, nil
}

// Close ends the session (its ephemeral znodes go at once), stops the
// dispatcher and closes every subscription. It is safe to call twice.
func (z *ZK) Close() {
	z.closeOnce.Do(func() {
		close(z.closed)
		z.conn.Close()
		<-z.done
	})
}

// Config returns the configuration the client was dialled with (with
// defaults filled in).
func (z *ZK) Config() ZKConfig { return z.cfg }

// Connected reports whether a session is established right now.
func (z *ZK) Connected() bool { return z.connected.Load() }

// SessionID is the current (or last) session's id, 0 before the first.
func (z *ZK) SessionID() int64 { return z.sessionID.Load() }

// WaitConnected waits until a session is established (and authenticated)
// or ctx ends.
func (z *ZK) WaitConnected(ctx context.Context) error {
	for {
		select {
		case <-z.ready:
			if z.Connected() {
				return nil
			}
		case <-z.closed:
			return &ZKError{Op: "connect", Kind: ErrZKClosed, Err: zk.ErrClosing}
		case <-ctx.Done():
			return &ZKError{Op: "connect " + strings.Join(z.cfg.Servers, ","), Kind: ErrConnectionLoss, Err: ctx.Err()}
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// enqueue is go-zookeeper's event callback: it must not block.
func (z *ZK) enqueue(ev zk.Event) {
	z.evMu.Lock()
	z.evQueue = append(z.evQueue, ev)
	z.evMu.Unlock()
	select {
	case z.evSignal <- struct{}{}:
	default:
	}
}

// dispatch is the dispatcher goroutine; it ends on Close.
func (z *ZK) dispatch() {
	defer close(z.done)
	defer z.closeSubscriptions()
	for {
		select {
		case <-z.closed:
			return
		case <-z.evSignal:
		}
		z.evMu.Lock()
		q := z.evQueue
		z.evQueue = nil
		z.evMu.Unlock()
		for _, ev := range q {
			z.handle(ev)
		}
	}
}

func (z *ZK) handle(ev zk.Event) {
	if ev.Type != zk.EventSession {
		if p, ok := z.rel(ev.Path); ok {
			z.notifyListeners(p)
		}
		return
	}
	switch ev.State {
	case zk.StateHasSession:
		sid := z.conn.SessionID()
		if z.cfg.Auth != "" && !z.authed {
			// go-zookeeper resends credentials on every later connection
			// once one AddAuth has succeeded.
			if err := z.conn.AddAuth("digest", []byte(z.cfg.Auth)); err != nil {
				z.log.Warn("zookeeper authentication failed; retrying on the next connection", "err", err)
				return
			}
			z.authed = true
		}
		z.sessionID.Store(sid)
		z.connected.Store(true)
		z.readyOnce.Do(func() { close(z.ready) })
		z.mu.Lock()
		isNew := sid != z.lastSID
		z.lastSID = sid
		z.mu.Unlock()
		z.log.Info("zookeeper session established", "server", ev.Server, "session", fmt.Sprintf("0x%x", sid), "new", isNew)
		z.broadcast(SessionEvent{Kind: SessionConnected, SessionID: sid, NewSession: isNew, Server: ev.Server})
	case zk.StateDisconnected:
		if z.connected.Swap(false) {
			z.log.Warn("zookeeper disconnected", "server", ev.Server, "session", fmt.Sprintf("0x%x", z.SessionID()))
			z.broadcast(SessionEvent{Kind: SessionDisconnected, SessionID: z.SessionID(), Server: ev.Server})
		}
	case zk.StateExpired:
		z.connected.Store(false)
		z.mu.Lock()
		old := z.lastSID
		z.mu.Unlock()
		z.log.Warn("zookeeper session expired", "session", fmt.Sprintf("0x%x", old))
		z.broadcast(SessionEvent{Kind: SessionExpired, SessionID: old, Server: ev.Server})
	case zk.StateAuthFailed:
		z.log.Error("zookeeper authentication failed", "server", ev.Server)
	}
}

// Subscribe returns a channel of session events and a function that
// cancels the subscription (and closes the channel). The first event is
// the current state (SessionConnected or SessionDisconnected); events are
// never dropped and arrive in order, however slowly the channel is read.
// The channel is closed when the ZK is closed.
func (z *ZK) Subscribe() (<-chan SessionEvent, func()) {
	s := &subscription{signal: make(chan struct{}, 1), out: make(chan SessionEvent), done: make(chan struct{})}
	z.mu.Lock()
	select {
	case <-z.closed:
		z.mu.Unlock()
		close(s.out)
		return s.out, func() {}
	default:
	}
	first := SessionEvent{Kind: SessionDisconnected, SessionID: z.lastSID}
	if z.connected.Load() {
		first = SessionEvent{Kind: SessionConnected, SessionID: z.lastSID}
	}
	s.push(first)
	z.subs[s] = struct{}{}
	z.mu.Unlock()
	go s.run()
	return s.out, func() {
		z.mu.Lock()
		delete(z.subs, s)
		z.mu.Unlock()
		s.stop()
	}
}

func (z *ZK) broadcast(ev SessionEvent) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for s := range z.subs {
		s.push(ev)
	}
}

func (z *ZK) closeSubscriptions() {
	z.mu.Lock()
	defer z.mu.Unlock()
	for s := range z.subs {
		s.stop()
		delete(z.subs, s)
	}
	for l := range z.listeners {
		delete(z.listeners, l)
	}
}

// subscription is one Subscribe: an unbounded queue drained by its own
// goroutine (run), which ends when stop is called.
type subscription struct {
	mu       sync.Mutex
	queue    []SessionEvent
	signal   chan struct{}
	out      chan SessionEvent
	done     chan struct{}
	stopOnce sync.Once
}

func (s *subscription) push(ev SessionEvent) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *subscription) stop() { s.stopOnce.Do(func() { close(s.done) }) }

func (s *subscription) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.signal:
				continue
			case <-s.done:
				return
			}
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.done:
			return
		}
	}
}

// nodeListener is told the (chroot-relative) path of every watch event,
// including the EventNotWatching that go-zookeeper sends for each watch a
// session expiry or Close cancels. fn runs on the dispatcher: it must not
// block.
type nodeListener struct{ fn func(path string) }

func (z *ZK) addNodeListener(fn func(path string)) func() {
	l := &nodeListener{fn}
	z.mu.Lock()
	z.listeners[l] = struct{}{}
	z.mu.Unlock()
	return func() {
		z.mu.Lock()
		delete(z.listeners, l)
		z.mu.Unlock()
	}
}

func (z *ZK) notifyListeners(path string) {
	z.mu.Lock()
	ls := make([]*nodeListener, 0, len(z.listeners))
	for l := range z.listeners {
		ls = append(ls, l)
	}
	z.mu.Unlock()
	for _, l := range ls {
		l.fn(path)
	}
}

// abs is the server path of p (which is relative to the chroot).
func (z *ZK) abs(p string) string {
	if z.cfg.Chroot == "" {
		return p
	}
	if p == "/" {
		return z.cfg.Chroot
	}
	return z.cfg.Chroot + p
}

// rel is the chroot-relative path of a server path, false if it is outside
// the chroot.
func (z *ZK) rel(p string) (string, bool) {
	if z.cfg.Chroot == "" {
		return p, true
	}
	if p == z.cfg.Chroot {
		return "/", true
	}
	if r, ok := strings.CutPrefix(p, z.cfg.Chroot+"/"); ok {
		return "/" + r, true
	}
	return "", false
}

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

// zkLogger adapts go-zookeeper's Printf logger to slog: failures at Warn,
// its chatter about connections at Debug.
type zkLogger struct{ l *slog.Logger }

func (g zkLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	level := slog.LevelDebug
	low := strings.ToLower(msg)
	if (strings.Contains(low, "fail") || strings.Contains(low, "error")) && !strings.Contains(low, "<nil>") {
		level = slog.LevelWarn
	}
	g.l.Log(context.Background(), level, "go-zookeeper: "+msg)
}
