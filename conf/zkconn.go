package conf

import (
	"context"
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
		zk.WithLogger(newZKLogger(z.log)),
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

// zkLogger adapts go-zookeeper's Printf logger to slog: failures at Warn,
// its chatter about connections at Debug. The same failure repeated (a
// ZooKeeper that stays down makes go-zookeeper report every retry, each
// second) is logged at Warn once per zkLogRepeat, at Debug otherwise.
type zkLogger struct {
	l    *slog.Logger
	mu   *sync.Mutex
	last map[string]time.Time // first words of a warning → when last logged at Warn
}

const zkLogRepeat = 30 * time.Second

func newZKLogger(l *slog.Logger) zkLogger {
	return zkLogger{l: l, mu: new(sync.Mutex), last: map[string]time.Time{}}
}

func (g zkLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	level := slog.LevelDebug
	low := strings.ToLower(msg)
	if (strings.Contains(low, "fail") || strings.Contains(low, "error")) && !strings.Contains(low, "<nil>") {
		level = slog.LevelWarn
		key := format
		if len(key) > 24 {
			key = key[:24]
		}
		now := time.Now()
		g.mu.Lock()
		if t, ok := g.last[key]; ok && now.Sub(t) < zkLogRepeat {
			level = slog.LevelDebug
		} else {
			g.last[key] = now
		}
		g.mu.Unlock()
	}
	g.l.Log(context.Background(), level, "go-zookeeper: "+msg)
}
