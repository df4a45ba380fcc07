package watchdog

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardis/shardis/conf"
)

// Defaults of a watchdog (the flags of shardis-watchdog).
const (
	DefaultProbeInterval  = 500 * time.Millisecond
	DefaultProbeFailures  = 3
	DefaultSessionTimeout = 4 * time.Second
	DefaultPublishEvery   = 2 * time.Second
	DefaultHookTimeout    = time.Minute
	// DefaultExitPause is how long a redis-server master stays paused
	// (CLIENT PAUSE WRITE) when its watchdog stops: its member goes away
	// with the watchdog's session, a replica takes over, and the old
	// master must not take writes meanwhile. shardis-server stays fenced
	// until told otherwise.
	DefaultExitPause = 30 * time.Second
)

// ErrConfig is an invalid watchdog configuration.
var ErrConfig = errors.New("invalid watchdog configuration")

// Config configures a Watchdog. Start from DefaultConfig.
type Config struct {
	// ZooKeeper says how to reach ZooKeeper (Servers is required;
	// SessionTimeout defaults to DefaultSessionTimeout).
	ZooKeeper conf.ZKConfig
	// Shard is the shard's znode, <root>/cluster/<pool>/<shard>.
	Shard string
	// Backend is the local backend's "host:port", as the watchdog dials it.
	Backend string
	// Announce is the backend's address as other members and proxies
	// must dial it ("" means Backend), like Redis' cluster-announce-ip.
	Announce string
	// BackendAuth is the backend's password, or "user:password" for an
	// ACL user ("" for none). The same credentials are used to read the
	// other members' offsets before a promotion.
	BackendAuth string
	// ProbeInterval is the time between two probes of the backend (and
	// the core's tick).
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe and one backend command; 0 means
	// ProbeInterval.
	ProbeTimeout time.Duration
	// ProbeFailures is how many consecutive failed probes make the
	// watchdog give up its member.
	ProbeFailures int
	// FreshFor: see CoreConfig.FreshFor; 0 means twice the session
	// timeout plus ProbeFailures probe intervals.
	FreshFor time.Duration
	// PublishEvery: see CoreConfig.PublishEvery; 0 means DefaultPublishEvery.
	PublishEvery time.Duration
	// PauseFor is the length of each CLIENT PAUSE sent to fence a
	// redis-server backend (renewed every ProbeInterval while fenced); 0
	// means max(4 probe intervals, 2 s).
	PauseFor time.Duration
	// ExitPause: see DefaultExitPause; negative means do not fence on exit.
	ExitPause time.Duration
	// OnFailover is a shell command run (asynchronously) when this
	// watchdog's backend becomes the shard's master, with the shard path,
	// the old master and the new master as arguments. "" for none.
	OnFailover string
	// HookTimeout bounds one run of OnFailover.
	HookTimeout time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registry receives the watchdog's metrics; nil for none.
	Registry prometheus.Registerer
}

// DefaultConfig returns the defaults: probes every 500 ms, three failures,
// a 4 s ZooKeeper session.
func DefaultConfig() Config {
	return Config{
		ZooKeeper:     conf.ZKConfig{SessionTimeout: DefaultSessionTimeout},
		ProbeInterval: DefaultProbeInterval,
		ProbeFailures: DefaultProbeFailures,
		PublishEvery:  DefaultPublishEvery,
		ExitPause:     DefaultExitPause,
		HookTimeout:   DefaultHookTimeout,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if len(c.ZooKeeper.Servers) == 0 {
		errs = append(errs, errors.New("no ZooKeeper servers (--zk)"))
	}
	if _, _, _, err := ShardPathParts(c.Shard); err != nil {
		errs = append(errs, fmt.Errorf("--shard: %w", err))
	}
	if _, _, err := splitAddr(c.Backend); err != nil {
		errs = append(errs, fmt.Errorf("--backend: %v", err))
	}
	if c.Announce != "" {
		if _, _, err := splitAddr(c.Announce); err != nil {
			errs = append(errs, fmt.Errorf("--announce: %v", err))
		}
	}
	if host, _, err := net.SplitHostPort(c.announce()); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			errs = append(errs, fmt.Errorf("--announce: %s is not an address others can dial; give --announce", c.announce()))
		}
	}
	if c.ProbeInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("--probe-interval %v is below 10ms", c.ProbeInterval))
	}
	if c.ProbeTimeout < 0 {
		errs = append(errs, fmt.Errorf("probe timeout %v is negative", c.ProbeTimeout))
	}
	if c.ProbeFailures < 1 {
		errs = append(errs, fmt.Errorf("--probe-failures %d is below 1", c.ProbeFailures))
	}
	if t := c.ZooKeeper.SessionTimeout; t != 0 && t < time.Second {
		errs = append(errs, fmt.Errorf("--session-timeout %v is below 1s", t))
	}
	if c.HookTimeout < 0 || c.PublishEvery < 0 || c.FreshFor < 0 || c.PauseFor < 0 {
		errs = append(errs, errors.New("negative duration"))
	}
	if strings.ContainsRune(c.OnFailover, 0) {
		errs = append(errs, errors.New("--on-failover contains a NUL byte"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

func (c *Config) announce() string {
	if c.Announce != "" {
		return c.Announce
	}
	return c.Backend
}

// withDefaults fills the derived defaults.
func (c Config) withDefaults() Config {
	if c.ZooKeeper.SessionTimeout == 0 {
		c.ZooKeeper.SessionTimeout = DefaultSessionTimeout
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = c.ProbeInterval
	}
	if c.FreshFor == 0 {
		c.FreshFor = 2*c.ZooKeeper.SessionTimeout + time.Duration(c.ProbeFailures)*c.ProbeInterval
	}
	if c.PublishEvery == 0 {
		c.PublishEvery = DefaultPublishEvery
	}
	if c.PauseFor == 0 {
		c.PauseFor = max(4*c.ProbeInterval, 2*time.Second)
	}
	if c.HookTimeout == 0 {
		c.HookTimeout = DefaultHookTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Announce = c.announce()
	return c
}

func (c Config) coreConfig() CoreConfig {
	return CoreConfig{
		Addr:          c.Announce,
		ProbeFailures: c.ProbeFailures,
		FreshFor:      c.FreshFor,
		PublishEvery:  c.PublishEvery,
		RetryAfter:    c.ProbeInterval,
	}
}
