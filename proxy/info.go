package proxy

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shardis/shardis/hashring"
)

// infoSections are INFO's sections in order; the default ones are those
// INFO without arguments shows.
var infoSections = []struct {
	name    string
	dflt    bool
	section func(p *Pool, s *session, b *strings.Builder)
}{
	{"server", true, (*Pool).infoServer},
	{"clients", true, (*Pool).infoClients},
	{"stats", true, (*Pool).infoStats},
	{"pool", true, (*Pool).infoPool},
	{"servers", true, (*Pool).infoServers},
	{"commandstats", false, (*Pool).infoCommandStats},
}

// info renders INFO [section ...] for a client of the pool, Redis-style:
// "# Section" headers and "field:value" lines, CRLF-terminated.
func (p *Pool) info(args [][]byte, s *session) string {
	want := map[string]bool{}
	all := len(args) == 0
	for _, a := range args {
		name := strings.ToLower(string(a))
		switch name {
		case "all", "everything":
			for _, sec := range infoSections {
				want[sec.name] = true
			}
		case "default":
			all = true
		case "proxy":
			want["server"] = true
		case "pools":
			want["pool"] = true
		case "shards":
			want["servers"] = true
		default:
			want[name] = true
		}
	}
	var b strings.Builder
	for _, sec := range infoSections {
		if !(want[sec.name] || all && sec.dflt) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + strings.ToUpper(sec.name[:1]) + sec.name[1:] + "\r\n")
		sec.section(p, s, &b)
	}
	return b.String()
}

func field(b *strings.Builder, name string, v any) {
	fmt.Fprintf(b, "%s:%v\r\n", name, v)
}

func (p *Pool) infoServer(_ *session, b *strings.Builder) {
	px := p.proxy
	up := time.Since(px.started)
	field(b, "redis_version", redisVersion)
	field(b, "shardis_version", px.version)
	field(b, "proxy", "shardis-proxy")
	field(b, "redis_mode", "proxy")
	field(b, "os", runtime.GOOS+" "+runtime.GOARCH)
	field(b, "go_version", runtime.Version())
	field(b, "process_id", os.Getpid())
	field(b, "tcp_port", p.port())
	field(b, "listen", p.config().Listen.String())
	field(b, "uptime_in_seconds", int64(up/time.Second))
	field(b, "uptime_in_days", int64(up/(24*time.Hour)))
	field(b, "pools", len(px.Pools()))
	field(b, "gomaxprocs", runtime.GOMAXPROCS(0))
}

func (p *Pool) infoClients(s *session, b *strings.Builder) {
	field(b, "connected_clients", p.clients.Load())
	field(b, "maxclients", p.config().ClientConnections)
	field(b, "client_idle_timeout_ms", p.config().ClientIdleTimeout.Milliseconds())
	if s != nil {
		field(b, "client_id", s.id)
	}
}

func (p *Pool) infoStats(_ *session, b *strings.Builder) {
	st := &p.stats
	var calls int64
	for i := range st.cmds {
		calls += st.cmds[i].calls.Load()
	}
	field(b, "total_connections_received", st.clientsTotal.Load())
	field(b, "rejected_connections", st.clientsRejected.Load())
	field(b, "total_commands_processed", calls)
	field(b, "client_eof", st.clientEOF.Load())
	field(b, "client_err", st.clientErr.Load())
	field(b, "forward_error", st.forwardError.Load())
	field(b, "fragments", st.fragments.Load())
	field(b, "server_ejects", st.serverEjects.Load())
	field(b, "crossslot_errors", st.crossSlot.Load())
	field(b, "unknown_commands", st.unknown.Load())
	field(b, "proxy_total_connections", p.proxy.stats.totalConns.Load())
	field(b, "proxy_curr_connections", p.proxy.stats.currConns.Load())
}

func (p *Pool) infoPool(_ *session, b *strings.Builder) {
	cfg := p.config()
	t := p.table.Load()
	field(b, "pool", p.name)
	field(b, "hash", t.ring.HashName())
	field(b, "hash_tag", t.ring.HashTag())
	field(b, "distribution", t.topo.Distribution)
	if t.topo.Distribution == hashring.Slots {
		field(b, "slots", t.ring.Slots())
	}
	field(b, "timeout_ms", cfg.Timeout.Milliseconds())
	field(b, "server_connections", max(cfg.ServerConnections, 1))
	field(b, "auto_eject_hosts", boolInt(cfg.AutoEjectHosts))
	field(b, "server_failure_limit", cfg.ServerFailureLimit)
	field(b, "server_retry_timeout_ms", cfg.ServerRetryTimeout.Milliseconds())
	field(b, "redis_db", cfg.RedisDB)
	field(b, "auth_required", boolInt(cfg.RedisAuth != ""))
	field(b, "route_source", t.topo.Source)
	field(b, "route_table_version", t.version)
	field(b, "shards", t.Len())
	live := 0
	for i := range t.shards {
		if t.shards[i].errReply == nil && t.Live(i) {
			live++
		}
	}
	field(b, "shards_live", live)
	field(b, "read_from", cfg.ReadFrom)
	p.infoZooKeeper(b)
}

func (p *Pool) infoServers(_ *session, b *strings.Builder) {
	t := p.table.Load()
	for i := range t.shards {
		sh := &t.shards[i]
		status := "up"
		var parts []string
		parts = append(parts, "name="+sh.DisplayName())
		if sh.master == nil {
			parts = append(parts, "addr=")
			status = "nomaster"
		} else {
			sv := sh.master
			parts = append(parts, "addr="+sv.addr)
			var conns, in, out int64
			for _, c := range sv.conns {
				c.mu.Lock()
				st := c.state
				c.mu.Unlock()
				if st == connUp {
					conns++
				}
				a, _, o, _ := c.queues()
				in, out = in+int64(a), out+int64(o)
			}
			switch {
			case sv.ejected():
				status = "ejected"
			case conns == 0:
				status = sv.connStatus()
			}
			ss := sv.stats
			parts = append(parts,
				"connections="+strconv.FormatInt(conns, 10),
				"requests="+strconv.FormatInt(ss.requests.Load(), 10),
				"responses="+strconv.FormatInt(ss.responses.Load(), 10),
				"timedout="+strconv.FormatInt(ss.timedout.Load(), 10),
				"eof="+strconv.FormatInt(ss.eof.Load(), 10),
				"err="+strconv.FormatInt(ss.err.Load(), 10),
				"in_queue="+strconv.FormatInt(in, 10),
				"out_queue="+strconv.FormatInt(out, 10),
				"failures="+strconv.Itoa(int(sv.failures.Load())),
				"ejected_at="+strconv.FormatInt(sv.ejectedAt.Load(), 10),
			)
		}
		if len(sh.Replicas) > 0 {
			parts = append(parts, "replicas="+strings.Join(sh.Replicas, "|"))
		}
		if len(sh.Ranges) > 0 {
			parts = append(parts, "slots="+hashring.FormatRanges(sh.Ranges))
		} else {
			parts = append(parts, "weight="+strconv.Itoa(sh.Weight))
		}
		parts = append(parts[:1], append([]string{"status=" + status}, parts[1:]...)...)
		field(b, "shard"+strconv.Itoa(i), strings.Join(parts, ","))
	}
}

// connStatus describes a server none of whose connections is up: "idle"
// (never used), "connecting" or "down".
func (sv *server) connStatus() string {
	status := "idle"
	for _, c := range sv.conns {
		c.mu.Lock()
		st := c.state
		c.mu.Unlock()
		switch st {
		case connDown, connClosed:
			return "down"
		case connConnecting:
			status = "connecting"
		}
	}
	return status
}

func (p *Pool) infoCommandStats(_ *session, b *strings.Builder) {
	cs := p.proxy.cmds
	for id := range p.stats.cmds {
		c := &p.stats.cmds[id]
		calls := c.calls.Load()
		if calls == 0 {
			continue
		}
		name := "unknown"
		if id < len(cs.list) {
			name = cs.list[id].name
		}
		usec := c.usec.Load()
		fmt.Fprintf(b, "cmdstat_%s:calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d\r\n",
			name, calls, usec, float64(usec)/float64(calls), c.rejected.Load(), c.failed.Load())
	}
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}
