package admin

import (
	"context"
	"errors"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/hashring"
)

// StatusOptions say how Status probes the backends.
type StatusOptions struct {
	NoProbe      bool          // do not contact the backends
	BackendAuth  string        // password for AUTH on the backends (the pool's redis_auth)
	ProbeTimeout time.Duration // per backend; 0 means 2 s
}

// Status is a pool's state: what ZooKeeper says, and what each backend
// says about its replication when asked.
type Status struct {
	Pool       string        `json:"pool"`
	Path       string        `json:"path"`
	Slots      int           `json:"slots"`
	Hash       string        `json:"hash,omitempty"`     // as written in the pool znode ("" if inherited)
	HashTag    *string       `json:"hash_tag,omitempty"` // as written in the pool znode (nil if inherited)
	Valid      bool          `json:"valid"`
	Error      string        `json:"error,omitempty"` // why the topology is invalid
	Masterless []string      `json:"masterless,omitempty"`
	Warnings   []string      `json:"warnings,omitempty"`
	Shards     []ShardStatus `json:"shards"`
	Proxies    []ProxyStatus `json:"proxies"`
	Probed     bool          `json:"probed"` // the backends were asked

	topology *conf.Topology
}

// Topology is the snapshot the status was made from.
func (s *Status) Topology() *conf.Topology { return s.topology }

// ShardStatus is one shard of a Status.
type ShardStatus struct {
	Name       string           `json:"name"`
	Ranges     string           `json:"ranges"`
	SlotCount  int              `json:"slot_count"`
	Migrating  *MigrationStatus `json:"migrating,omitempty"`
	Epoch      int64            `json:"epoch"` // master's sequence, -1 when masterless
	Master     *NodeStatus      `json:"master"`
	Replicas   []NodeStatus     `json:"replicas"`
	Candidates []NodeStatus     `json:"candidates,omitempty"`
	Error      string           `json:"error,omitempty"` // refused shard data
}

// MigrationStatus is a shard's migration record.
type MigrationStatus struct {
	Slots string `json:"slots"`
	To    string `json:"to"`
}

// NodeStatus is one member: its znode, what its watchdog published, and
// what its backend answered.
type NodeStatus struct {
	Addr            string       `json:"addr"`
	Member          string       `json:"member"` // znode name
	Seq             int64        `json:"seq"`
	Role            string       `json:"role"`             // published role
	PublishedOffset int64        `json:"published_offset"` // published replication offset
	Backend         *BackendInfo `json:"backend,omitempty"`
	// Lag is how many bytes a replica is behind its shard's master
	// (master's master_repl_offset - the replica's slave_repl_offset);
	// nil when either could not be read.
	Lag   *int64 `json:"lag,omitempty"`
	Error string `json:"error,omitempty"` // the probe's error, or refused member data
}

// BackendInfo is what INFO replication said.
type BackendInfo struct {
	Role              string `json:"role"`   // "master" or "slave"
	Offset            int64  `json:"offset"` // master_repl_offset (master) or slave_repl_offset (replica)
	MasterReplOffset  int64  `json:"master_repl_offset"`
	MasterHost        string `json:"master_host,omitempty"`
	MasterPort        int    `json:"master_port,omitempty"`
	LinkStatus        string `json:"master_link_status,omitempty"`
	ConnectedReplicas int    `json:"connected_slaves"`
}

// MasterAddr is "master_host:master_port" for a replica.
func (b *BackendInfo) MasterAddr() string {
	if b.MasterHost == "" {
		return ""
	}
	return net.JoinHostPort(b.MasterHost, strconv.Itoa(b.MasterPort))
}

// ProxyStatus is one live proxy.
type ProxyStatus struct {
	Node    string    `json:"node"`
	Addr    string    `json:"addr"`
	Pool    string    `json:"pool,omitempty"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// Status reads pool and, unless opts.NoProbe, asks each member's backend
// for INFO replication (concurrently, opts.ProbeTimeout each).
func (a *Admin) Status(ctx context.Context, pool string, opts StatusOptions) (*Status, error) {
	t, err := a.Topology(pool)
	if err != nil {
		return nil, err
	}
	st := &Status{
		Pool: pool, Path: t.Path, Slots: t.Settings.Slots, Hash: t.Data.Hash,
		Valid: true, Masterless: t.Masterless(), Shards: []ShardStatus{}, Proxies: []ProxyStatus{},
		Probed: !opts.NoProbe, topology: t,
	}
	if t.Data.HashTagSet {
		tag := t.Data.HashTag
		st.HashTag = &tag
	}
	if err := t.Validate(); err != nil {
		st.Valid, st.Error = false, err.Error()
	}
	for _, w := range t.Warnings() {
		st.Warnings = append(st.Warnings, w.Error())
	}
	for _, s := range t.Shards {
		ss := ShardStatus{Name: s.Name, Ranges: hashring.FormatRanges(s.Ranges), SlotCount: s.SlotCount(), Epoch: s.Epoch(), Replicas: []NodeStatus{}}
		if s.DataErr != nil {
			ss.Error = s.DataErr.Error()
		}
		if m := s.Migrating; m != nil {
			ss.Migrating = &MigrationStatus{Slots: hashring.FormatRanges(m.Slots), To: m.To}
		}
		for i, m := range s.Members {
			n := NodeStatus{Addr: m.Addr, Member: m.Name, Seq: m.Seq, Role: string(m.Data.Role), PublishedOffset: m.Data.Offset}
			if m.Err != nil {
				n.Error = m.Err.Error()
			}
			switch {
			case i == s.Master:
				n := n
				ss.Master = &n
			case m.Err == nil && m.Data.Role == conf.RoleReplica:
				ss.Replicas = append(ss.Replicas, n)
			default:
				ss.Candidates = append(ss.Candidates, n)
			}
		}
		st.Shards = append(st.Shards, ss)
	}
	st.Proxies, err = a.proxies(pool)
	if err != nil {
		return nil, err
	}
	if !opts.NoProbe {
		probeAll(ctx, st, opts)
	}
	return st, nil
}

func (a *Admin) proxies(pool string) ([]ProxyStatus, error) {
	dir := a.Layout.ProxyDir(pool)
	names, _, err := a.ZK.Children(dir)
	if errors.Is(err, conf.ErrNoNode) {
		return []ProxyStatus{}, nil
	}
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := []ProxyStatus{}
	for _, name := range names {
		b, _, err := a.ZK.Get(dir + "/" + name)
		if errors.Is(err, conf.ErrNoNode) {
			continue // gone meanwhile
		}
		if err != nil {
			return nil, err
		}
		p := ProxyStatus{Node: name, Addr: name}
		if d, err := conf.ParseProxyData(b); err != nil {
			p.Error = err.Error()
		} else {
			p.Addr, p.Pool, p.Version, p.Started = d.Addr, d.Pool, d.Version, d.Started
		}
		out = append(out, p)
	}
	return out, nil
}

// probeAll fills in Backend, Lag and Error of every member.
func probeAll(ctx context.Context, st *Status, opts StatusOptions) {
	timeout := opts.ProbeTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	var nodes []*NodeStatus
	for i := range st.Shards {
		s := &st.Shards[i]
		if s.Master != nil {
			nodes = append(nodes, s.Master)
		}
		for j := range s.Replicas {
			nodes = append(nodes, &s.Replicas[j])
		}
		for j := range s.Candidates {
			nodes = append(nodes, &s.Candidates[j])
		}
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n.Addr == "" {
			continue
		}
		wg.Add(1)
		go func() { // one per backend; ends when its probe returns (timeout bounded)
			defer wg.Done()
			info, err := probe(ctx, n.Addr, opts.BackendAuth, timeout)
			if err != nil {
				if n.Error == "" {
					n.Error = err.Error()
				}
				return
			}
			n.Backend = info
		}()
	}
	wg.Wait()
	for i := range st.Shards {
		s := &st.Shards[i]
		if s.Master == nil || s.Master.Backend == nil {
			continue
		}
		for j := range s.Replicas {
			r := &s.Replicas[j]
			if r.Backend == nil || r.Backend.Role != "slave" {
				continue
			}
			lag := max(s.Master.Backend.MasterReplOffset-r.Backend.Offset, 0)
			r.Lag = &lag
		}
	}
}

// probe asks one backend for INFO replication.
func probe(ctx context.Context, addr, auth string, timeout time.Duration) (*BackendInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := redis.NewClient(&redis.Options{
		Addr: addr, Password: auth, Protocol: 2, DisableIdentity: true,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		MaxRetries: -1, PoolSize: 1,
	})
	defer c.Close()
	text, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return nil, err
	}
	return parseReplicationInfo(text), nil
}

// parseReplicationInfo reads the fields of INFO replication that status
// needs; missing or unparsable fields stay zero.
func parseReplicationInfo(text string) *BackendInfo {
	b := &BackendInfo{}
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "role":
			b.Role = v
		case "master_repl_offset":
			b.MasterReplOffset = n
		case "slave_repl_offset":
			b.Offset = n
		case "master_host":
			b.MasterHost = v
		case "master_port":
			b.MasterPort = int(n)
		case "master_link_status":
			b.LinkStatus = v
		case "connected_slaves":
			b.ConnectedReplicas = int(n)
		}
	}
	if b.Role == "master" {
		b.Offset = b.MasterReplOffset
	}
	return b
}
