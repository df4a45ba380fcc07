package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus metrics. The proxy keeps its statistics in atomic counters
// (stats.go, hist.go) for the stats port and INFO; the collector reads
// them when /metrics is scraped, so metrics cost nothing on the request
// path. Series of a pool disappear when a reload removes it, and its
// counters start from zero when a reload restarts it (Prometheus treats
// that as a counter reset). docs/proxy-admin.md lists every metric.

const metricsNamespace = "shardis_proxy"

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(metricsNamespace+"_"+name, help, labels, nil)
}

// metricDescs are the descriptions of every metric the collector exports.
var metricDescs = struct {
	requests, requestErrors, requestDuration                        *prometheus.Desc
	clients, clientsAccepted, clientEOF, errors                     *prometheus.Desc
	ejections, fragments                                            *prometheus.Desc
	tableVersion, shards, shardsLive                                *prometheus.Desc
	zkConnected, zkUpdates, zkRefused                               *prometheus.Desc
	beRequests, beResponses, beReqBytes, beRespBytes, beErrors      *prometheus.Desc
	beConnections, beEjected, bePipeline                            *prometheus.Desc
	pools, reloads, lastReload, startTime, connections, connsOpened *prometheus.Desc
}{
	requests: newDesc("requests_total",
		"Commands answered, by pool and command (a multi-key command counts once).", "pool", "command"),
	requestErrors: newDesc("request_errors_total",
		"Commands answered with an error, by pool, command and kind: rejected (by the proxy: unknown command, "+
			"wrong arity, CROSSSLOT, no auth...) or failed (an error reply from the server, or a backend error).",
		"pool", "command", "kind"),
	requestDuration: newDesc("request_duration_seconds",
		"Time from reading a command to writing its reply, by pool and command.", "pool", "command"),
	clients: newDesc("client_connections",
		"Client connections open.", "pool"),
	clientsAccepted: newDesc("client_connections_accepted_total",
		"Client connections accepted (including those refused by client_connections).", "pool"),
	clientEOF: newDesc("client_eof_total",
		"Client connections closed by the client.", "pool"),
	errors: newDesc("errors_total",
		"Errors of a pool by kind: client (errors on client connections), forward (requests that could not "+
			"be forwarded to a server), crossslot (-CROSSSLOT replies), unknown_command, max_clients "+
			"(clients refused by client_connections).", "pool", "kind"),
	ejections: newDesc("server_ejections_total",
		"Times a server of the pool was ejected (auto_eject_hosts).", "pool"),
	fragments: newDesc("fragments_total",
		"Sub-requests created by splitting multi-key commands across shards.", "pool"),
	tableVersion: newDesc("route_table_version",
		"Version of the route table in use (incremented at each install: reload, ZooKeeper, ejection).", "pool"),
	shards: newDesc("shards",
		"Shards in the route table in use.", "pool"),
	shardsLive: newDesc("shards_live",
		"Shards of the route table in use that have a master and are not ejected.", "pool"),
	zkConnected: newDesc("zookeeper_connected",
		"1 while the pool's ZooKeeper session is established, else 0 (pools using ZooKeeper only).", "pool"),
	zkUpdates: newDesc("zookeeper_topology_updates_total",
		"Topologies from ZooKeeper installed (pools using ZooKeeper only).", "pool"),
	zkRefused: newDesc("zookeeper_topology_refused_total",
		"Topologies from ZooKeeper refused as invalid; the last good table is kept (pools using ZooKeeper only).", "pool"),
	beRequests: newDesc("backend_requests_total",
		"Requests sent to the server.", "pool", "backend"),
	beResponses: newDesc("backend_responses_total",
		"Replies received from the server.", "pool", "backend"),
	beReqBytes: newDesc("backend_request_bytes_total",
		"Bytes of requests sent to the server.", "pool", "backend"),
	beRespBytes: newDesc("backend_response_bytes_total",
		"Bytes of replies received from the server.", "pool", "backend"),
	beErrors: newDesc("backend_errors_total",
		"Server connection failures by kind: eof (closed by the server), error (connect or I/O error), timeout.",
		"pool", "backend", "kind"),
	beConnections: newDesc("backend_connections",
		"Connections to the server open.", "pool", "backend"),
	beEjected: newDesc("backend_ejected",
		"1 while the server is ejected (auto_eject_hosts), else 0.", "pool", "backend"),
	bePipeline: newDesc("backend_pipeline_depth",
		"Requests queued on the server's connections: not yet written plus written and awaiting a reply.",
		"pool", "backend"),
	pools: newDesc("pools",
		"Pools served."),
	reloads: newDesc("reloads_total",
		"Configuration reloads by result: ok (applied) or error (refused, nothing changed).", "result"),
	lastReload: newDesc("last_reload_timestamp_seconds",
		"Unix time of the last configuration reload applied (absent before the first)."),
	startTime: newDesc("start_time_seconds",
		"Unix time the proxy started."),
	connections: newDesc("connections",
		"Connections open: listeners, clients and servers (twemproxy's curr_connections)."),
	connsOpened: newDesc("connections_total",
		"Connections opened: listeners, clients and servers (twemproxy's total_connections)."),
}

// histUpperBounds are the histogram bounds in seconds.
var histUpperBounds = HistogramBounds()

// proxyCollector is a Proxy seen as a prometheus.Collector.
type proxyCollector Proxy

// Collector returns the collector of the proxy's metrics (New registers
// it on Options.Registry). It reads the statistics at each scrape.
func (px *Proxy) Collector() prometheus.Collector { return (*proxyCollector)(px) }

// Describe sends the description of every metric.
func (c *proxyCollector) Describe(ch chan<- *prometheus.Desc) {
	d := &metricDescs
	for _, desc := range []*prometheus.Desc{
		d.requests, d.requestErrors, d.requestDuration, d.clients, d.clientsAccepted, d.clientEOF, d.errors,
		d.ejections, d.fragments, d.tableVersion, d.shards, d.shardsLive, d.zkConnected, d.zkUpdates, d.zkRefused,
		d.beRequests, d.beResponses, d.beReqBytes, d.beRespBytes, d.beErrors, d.beConnections, d.beEjected,
		d.bePipeline, d.pools, d.reloads, d.lastReload, d.startTime, d.connections, d.connsOpened,
	} {
		ch <- desc
	}
}

// Collect reads the statistics of every pool served now.
func (c *proxyCollector) Collect(ch chan<- prometheus.Metric) {
	px := (*Proxy)(c)
	d := &metricDescs
	counter := func(desc *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	pools := px.Pools()
	gauge(d.pools, float64(len(pools)))
	counter(d.reloads, px.reloads.Load(), "ok")
	counter(d.reloads, px.reloadErrors.Load(), "error")
	if at := px.lastReload.Load(); at != 0 {
		gauge(d.lastReload, float64(at)/1e9)
	}
	gauge(d.startTime, float64(px.started.UnixNano())/1e9)
	gauge(d.connections, float64(px.stats.currConns.Load()))
	counter(d.connsOpened, px.stats.totalConns.Load())
	for _, p := range pools {
		px.collectPool(ch, p, counter, gauge)
	}
}

func (px *Proxy) collectPool(ch chan<- prometheus.Metric, p *Pool,
	counter func(*prometheus.Desc, int64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	d := &metricDescs
	name := p.name
	st := &p.stats
	for id := range st.cmds {
		cs := &st.cmds[id]
		calls := cs.calls.Load()
		if calls == 0 {
			continue
		}
		cmd := "unknown"
		if id < len(px.cmds.list) {
			cmd = px.cmds.list[id].name
		}
		counter(d.requests, calls, name, cmd)
		counter(d.requestErrors, cs.rejected.Load(), name, cmd, "rejected")
		counter(d.requestErrors, cs.failed.Load(), name, cmd, "failed")
		if id < len(p.hist) {
			ch <- p.hist[id].metric(d.requestDuration, float64(cs.usec.Load())/1e6, name, cmd)
		}
	}
	gauge(d.clients, float64(p.clients.Load()), name)
	counter(d.clientsAccepted, st.clientsTotal.Load(), name)
	counter(d.clientEOF, st.clientEOF.Load(), name)
	counter(d.errors, st.clientErr.Load(), name, "client")
	counter(d.errors, st.forwardError.Load(), name, "forward")
	counter(d.errors, st.crossSlot.Load(), name, "crossslot")
	counter(d.errors, st.unknown.Load(), name, "unknown_command")
	counter(d.errors, st.clientsRejected.Load(), name, "max_clients")
	counter(d.ejections, st.serverEjects.Load(), name)
	counter(d.fragments, st.fragments.Load(), name)

	t := p.Table()
	gauge(d.tableVersion, float64(t.version), name)
	gauge(d.shards, float64(t.Len()), name)
	live := 0
	for i := range t.shards {
		if t.shards[i].errReply == nil && t.Live(i) {
			live++
		}
	}
	gauge(d.shardsLive, float64(live), name)

	if zs := p.ZooKeeperStatus(); zs.Enabled {
		v := 0.0
		if zs.Connected {
			v = 1
		}
		gauge(d.zkConnected, v, name)
		counter(d.zkUpdates, int64(zs.Updates), name)
		counter(d.zkRefused, int64(zs.Refused), name)
	}

	for _, sv := range p.statServers() {
		ss := sv.stats
		be := sv.addr
		counter(d.beRequests, ss.requests.Load(), name, be)
		counter(d.beResponses, ss.responses.Load(), name, be)
		counter(d.beReqBytes, ss.requestBytes.Load(), name, be)
		counter(d.beRespBytes, ss.responseBytes.Load(), name, be)
		counter(d.beErrors, ss.eof.Load(), name, be, "eof")
		counter(d.beErrors, ss.err.Load(), name, be, "error")
		counter(d.beErrors, ss.timedout.Load(), name, be, "timeout")
		gauge(d.beConnections, float64(ss.connections.Load()), name, be)
		ej := 0.0
		if sv.ejected() {
			ej = 1
		}
		gauge(d.beEjected, ej, name, be)
		depth := 0
		for _, bc := range sv.conns {
			in, _, out, _ := bc.queues()
			depth += in + out
		}
		gauge(d.bePipeline, float64(depth), name, be)
	}
}

// metric renders the histogram as a Prometheus histogram: cumulative
// buckets, the count being the total of the buckets (so that +Inf equals
// it) and sum the seconds given (cmdStats.usec).
func (h *cmdHist) metric(desc *prometheus.Desc, sum float64, labels ...string) prometheus.Metric {
	counts := h.snapshot()
	buckets := make(map[float64]uint64, len(histUpperBounds))
	var cum uint64
	for i, bound := range histUpperBounds {
		cum += uint64(counts[i])
		buckets[bound] = cum
	}
	cum += uint64(counts[histBuckets-1])
	return prometheus.MustNewConstHistogram(desc, cum, sum, buckets, labels...)
}
