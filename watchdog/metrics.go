package watchdog

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the watchdog's Prometheus series, registered on the
// registry given in Config (none when it is nil). Every series carries
// the shard path and the backend address as constant labels.
type metrics struct {
	state         *prometheus.GaugeVec // 1 for the current state
	role          *prometheus.GaugeVec // 1 for the backend's wanted role
	fenced        prometheus.Gauge
	offset        prometheus.Gauge
	probeLatency  prometheus.Histogram
	probeFailures prometheus.Counter
	failovers     *prometheus.CounterVec // promotions of this backend, by kind
	transitions   *prometheus.CounterVec // by target state
	hookFailures  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, shard, backend string) (*metrics, error) {
	labels := prometheus.Labels{"shard": shard, "backend": backend}
	m := &metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shardis_watchdog_state",
			Help: "1 for the watchdog's current state (START, REGISTER, FOLLOW, PROMOTE, MASTER, FENCE).", ConstLabels: labels}, []string{"state"}),
		role: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shardis_watchdog_role",
			Help: "1 for the role the watchdog gives its backend (master, replica, none).", ConstLabels: labels}, []string{"role"}),
		fenced: prometheus.NewGauge(prometheus.GaugeOpts{Name: "shardis_watchdog_backend_fenced",
			Help: "1 while the backend is fenced (refuses or holds writes).", ConstLabels: labels}),
		offset: prometheus.NewGauge(prometheus.GaugeOpts{Name: "shardis_watchdog_backend_offset",
			Help: "The backend's replication offset at the last probe.", ConstLabels: labels}),
		probeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shardis_watchdog_probe_latency_seconds",
			Help: "Latency of successful backend probes.", ConstLabels: labels,
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1}}),
		probeFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "shardis_watchdog_probe_failures_total",
			Help: "Failed backend probes.", ConstLabels: labels}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shardis_watchdog_failovers_total",
			Help: "Times this watchdog made its backend the shard's master, by kind (auto, manual).", ConstLabels: labels}, []string{"kind"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shardis_watchdog_transitions_total",
			Help: "State transitions, by the state entered.", ConstLabels: labels}, []string{"to"}),
		hookFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "shardis_watchdog_hook_failures_total",
			Help: "Runs of the --on-failover command that failed.", ConstLabels: labels}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.state, m.role, m.fenced, m.offset, m.probeLatency,
		m.probeFailures, m.failovers, m.transitions, m.hookFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"auto", "manual"} {
		m.failovers.WithLabelValues(k)
	}
	return m, nil
}

func (m *metrics) setStatus(s Status) {
	for _, st := range States() {
		v := 0.0
		if st == s.State {
			v = 1
		}
		m.state.WithLabelValues(st.String()).Set(v)
	}
	role := s.Role
	if s.State != StateMaster && s.State != StateFence && role == "master" {
		role = "none"
	}
	if role == "" {
		role = "none"
	}
	for _, r := range []string{"master", "replica", "none"} {
		v := 0.0
		if r == role {
			v = 1
		}
		m.role.WithLabelValues(r).Set(v)
	}
	if s.Fenced {
		m.fenced.Set(1)
	} else {
		m.fenced.Set(0)
	}
	m.offset.Set(float64(s.Offset))
}

// ServeMetrics serves /metrics (from g) and /healthz on addr until ctx
// ends. It returns once the listener is closed; a failure to listen is
// returned at once.
func ServeMetrics(ctx context.Context, addr string, g prometheus.Gatherer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { // ends when ctx ends
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
