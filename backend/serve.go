package backend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the Redis version shardis-server reports (INFO, HELLO): the
// Redis 7 behaviour it follows.
const Version = "7.0.15"

// ShardisVersion is shardis-server's own version (INFO server
// shardis_version, by which the watchdog recognises it).
const ShardisVersion = "0.1.0"

// serverStats are the INFO stats counters.
type serverStats struct {
	connections     atomic.Int64 // total_connections_received
	rejected        atomic.Int64 // rejected_connections
	unknownCommands atomic.Int64
	migratedKeys    atomic.Int64 // keys moved away by SHARDIS.MIGRATE* (migrate.go)
}

// Server is one shardis-server: a keyspace, its write stream and AOF, and
// the RESP listeners. New builds it without I/O; Serve loads the data,
// listens and serves until its context ends or SHUTDOWN.
type Server struct {
	cfgMu sync.RWMutex
	cfg   Config

	log      *slog.Logger
	logH     *logHandler
	logLevel *slog.LevelVar
	logFile  *os.File

	cmds    commandTable
	stream  *Stream
	ks      *Keyspace
	aof     *aof
	repl    *replication
	clients clientRegistry
	stats   serverStats

	protoMaxBulkLen atomic.Int64
	clientTimeout   atomic.Int64 // idle client timeout in ns, 0 = none
	memPeak         atomic.Uint64
	errs            errorStats
	save            saving
	lastSave        atomic.Int64   // unix seconds
	savedChanges    atomic.Uint64  // the keyspace's change count at the last save or load (rdb_changes_since_last_save counts from it)
	limits          typeLimits     // collection encoding thresholds (encoding.go)
	blockedClients  atomic.Int64   // clients blocked by BLPOP & co. (blocking.go)
	pubsub          pubsubHub      // channels, patterns, subscribers (pubsub.go)
	migr            migrateTargets // connections to migration targets (migrate_target.go)
	scripts         scriptEngine   // script cache, interpreters, the running script (scripting.go)

	runID   string
	started time.Time

	// Background goroutines (cron, rewrites) stop when bgCtx ends; bgWG
	// waits for them.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	state     int        // stateNew, stateServing, stateClosed
	closing   bool
	listeners []net.Listener
	connWG    sync.WaitGroup
	ready     chan struct{}
	shutdown  chan shutdownRequest
	expiry    expiryState
}

const (
	stateNew = iota
	stateServing
	stateClosed
)

type shutdownRequest struct {
	save bool // SHUTDOWN SAVE without AOF: write the snapshot file
}

// New returns a server for cfg. It does no I/O: Serve opens files and
// listens.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		logLevel: new(slog.LevelVar),
		cmds:     newCommandTable(),
		stream:   NewStream(0),
		ready:    make(chan struct{}),
		shutdown: make(chan shutdownRequest, 1),
		started:  time.Now(),
	}
	s.logLevel.Set(parseLogLevel(cfg.LogLevel))
	s.logH = newLogHandler(os.Stdout, s.logLevel)
	s.log = slog.New(s.logH)
	s.ks = NewKeyspace(s.stream)
	s.aof = newAOF(s)
	s.repl = newReplication(s, cfg)
	s.aof.policy.Store(parseFsync(cfg.AppendFsync))
	s.protoMaxBulkLen.Store(cfg.ProtoMaxBulkLen)
	s.limits.store(cfg)
	s.pubsub.limits.store(cfg)
	s.ks.events = &s.pubsub
	s.ks.SetNotifyFlags(cfg.NotifyKeyspaceEvents)
	s.migr.guard.setGuardTime(time.Duration(cfg.MigrateGuardTime) * time.Millisecond)
	s.clientTimeout.Store(int64(time.Duration(cfg.Timeout) * time.Second))
	s.save.lastDur.Store(-1)
	s.lastSave.Store(time.Now().Unix())
	var id [20]byte
	_, _ = rand.Read(id[:])
	s.runID = hex.EncodeToString(id[:])
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	return s, nil
}

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the listening addresses (after Ready).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Config returns a copy of the current configuration.
func (s *Server) Config() Config {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	c := s.cfg
	c.Bind = append([]string(nil), c.Bind...)
	return c
}

// ListenAndServe is Serve with a background context.
func (s *Server) ListenAndServe() error { return s.Serve(context.Background()) }

// Serve loads the data set (AOF or snapshot file), listens on every bind
// address and serves clients until ctx ends or a client sends SHUTDOWN;
// then it shuts down gracefully: stops accepting, closes the clients,
// writes and fsyncs the AOF. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return ErrClosed
	}
	s.state = stateServing
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.state = stateClosed
		s.mu.Unlock()
		s.bgCancel()
		if s.logFile != nil {
			s.logH.setWriter(os.Stdout)
			s.logFile.Close()
		}
	}()

	cfg := s.Config()
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("backend: can't open the log file: %w", err)
		}
		s.logFile = f
		s.logH.setWriter(f)
	}
	s.log.Info("shardis-server starting", "version", Version, "pid", os.Getpid(), "go", runtime.Version(), "threads", runtime.GOMAXPROCS(0))
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("backend: data directory: %w", err)
	}
	if err := s.loadData(cfg); err != nil {
		return err
	}
	s.repl.restore(cfg) // replication ID and offset of the loaded AOF
	if cfg.AppendOnly {
		if err := s.aof.open(filepath.Join(cfg.Dir, cfg.AppendFilename)); err != nil {
			return err
		}
	}
	if err := s.listen(ctx, cfg); err != nil {
		_ = s.aof.close()
		return err
	}

	s.bgWG.Add(1)
	go s.cron() // ends when bgCtx ends
	s.repl.start()

	errc := make(chan error, len(s.listeners))
	for _, ln := range s.listeners {
		go func() { errc <- s.acceptLoop(ln) }() // ends when its listener closes
	}
	close(s.ready)
	for _, l := range s.listeners {
		s.log.Info("Ready to accept connections tcp", "addr", l.Addr().String())
	}

	var req shutdownRequest
	var serveErr error
	select {
	case <-ctx.Done():
		s.log.Warn("Received shutdown request, scheduling shutdown...")
	case req = <-s.shutdown: // logged by SHUTDOWN
	case serveErr = <-errc:
		s.log.Warn("Listener failed", "error", serveErr)
	}
	return errors.Join(serveErr, s.stop(req))
}

// listen opens every bind address.
func (s *Server) listen(ctx context.Context, cfg Config) error {
	lc := net.ListenConfig{KeepAlive: time.Duration(cfg.TCPKeepAlive) * time.Second}
	if cfg.TCPKeepAlive == 0 {
		lc.KeepAlive = -1
	}
	for _, b := range cfg.Bind {
		addr := net.JoinHostPort(trimBind(b), fmt.Sprint(cfg.Port))
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			for _, l := range s.listeners {
				l.Close()
			}
			return fmt.Errorf("backend: listen %s: %w", addr, err)
		}
		s.mu.Lock()
		s.listeners = append(s.listeners, ln)
		s.mu.Unlock()
	}
	return nil
}

// trimBind accepts Redis' "-::1" (optional address) form.
func trimBind(b string) string {
	if len(b) > 0 && b[0] == '-' {
		return b[1:]
	}
	return b
}

// stop is the graceful shutdown: no new clients, close the connected ones
// and wait for their goroutines, stop background work, make the AOF
// durable.
func (s *Server) stop(req shutdownRequest) error {
	s.mu.Lock()
	s.closing = true
	for _, l := range s.listeners {
		l.Close() // its accept loop ends
	}
	s.mu.Unlock()
	s.repl.shutdown(10 * time.Second)
	s.scripts.abort() // a running script would hold every shard (scripting.go)
	for _, c := range s.clients.list() {
		c.kill()
	}
	waitTimeout(&s.connWG, 10*time.Second)
	s.migr.closeAll()
	s.aof.rw.cancelRunning()
	s.bgCancel()
	s.bgWG.Wait()
	var err error
	if s.aof.enabled.Load() {
		s.log.Info("Calling fsync() on the AOF file.")
		err = s.aof.close()
	} else if req.save {
		err = s.saveSnapshot(context.Background(), s.snapshotPath())
	}
	if err != nil {
		s.log.Warn("Error while shutting down", "error", err)
		return err
	}
	s.log.Warn("shardis-server is now ready to exit, bye bye...")
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }() // ends when wg drains; leaks at worst until then
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// requestShutdown asks Serve to shut down (SHUTDOWN command).
func (s *Server) requestShutdown(req shutdownRequest) {
	select {
	case s.shutdown <- req:
	default:
	}
}

// loadData loads the AOF (appendonly yes) or the snapshot file.
func (s *Server) loadData(cfg Config) error {
	start := time.Now()
	var path string
	var truncate bool
	if cfg.AppendOnly {
		path, truncate = filepath.Join(cfg.Dir, cfg.AppendFilename), cfg.AOFLoadTruncated
	} else {
		path, truncate = filepath.Join(cfg.Dir, cfg.DBFilename), false
	}
	n, err := s.loadFile(path, truncate)
	if err != nil {
		return err
	}
	s.savedChanges.Store(s.ks.changes()) // what was loaded is on disk
	if n > 0 {
		s.log.Info("DB loaded from disk", "file", path, "commands", n, "keys", s.ks.Len(),
			"seconds", fmt.Sprintf("%.3f", time.Since(start).Seconds()))
	}
	return nil
}

func (s *Server) dataDir() string {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.cfg.Dir
}

func (s *Server) snapshotPath() string {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return filepath.Join(s.cfg.Dir, s.cfg.DBFilename)
}
