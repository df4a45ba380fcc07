package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The admin HTTP server (Options.MetricsAddr, --metrics-addr):
//
//	GET  /metrics       Prometheus metrics (metrics.go) and whatever else
//	                    Options.Registry holds
//	GET  /healthz       200 "ok" when every pool listens and has a route
//	                    table; 503 and the reasons otherwise
//	     /debug/pprof/  net/http/pprof
//	POST /reload        ReloadFile: 200 and a summary, or an error status
//	                    (400 invalid configuration, 503 not serving,
//	                    501 no configuration file, 500 other) and the reason
//
// It binds where it is told: keep it on a loopback or private address,
// since /reload and pprof need no credentials.

// adminServer builds the admin HTTP server; Serve runs it.
func (px *Proxy) adminServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(px.reg, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{px},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/healthz", px.handleHealthz)
	mux.HandleFunc("/reload", px.handleReload)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

// slogPrinter logs promhttp's errors.
type slogPrinter struct{ px *Proxy }

func (s slogPrinter) Println(v ...any) { s.px.log.Error("metrics", "err", fmt.Sprint(v...)) }

// Health returns nil when the proxy serves every pool: each listens and
// has a route table (a pool waiting for its first ZooKeeper topology has
// none yet); else an error naming every problem. It does not wait for a
// reload in progress.
func (px *Proxy) Health() error {
	if !px.running.Load() {
		select {
		case <-px.ready:
			return errors.New("shutting down")
		default:
			return errors.New("not serving yet")
		}
	}
	var problems []string
	for _, p := range px.Pools() {
		switch t := p.Table(); {
		case p.Addr() == nil || p.stopped.Load():
			problems = append(problems, "pool "+p.name+": not listening")
		case t == nil:
			problems = append(problems, "pool "+p.name+": no route table")
		case t.topo.Source == "zookeeper-pending":
			problems = append(problems, "pool "+p.name+": no topology from ZooKeeper yet")
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func (px *Proxy) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := px.Health(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "unhealthy: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (px *Proxy) handleReload(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	px.log.Info("reload requested over http", "remote", r.RemoteAddr)
	sum, err := px.reloadFile()
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrBadConfig), errors.Is(err, ErrNoRedisPools):
			code = http.StatusBadRequest
		case errors.Is(err, ErrNotServing):
			code = http.StatusServiceUnavailable
		case errors.Is(err, ErrNoConfFile):
			code = http.StatusNotImplemented
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "reload failed; nothing changed: %v\n", err)
		return
	}
	fmt.Fprintf(w, "reloaded: %s\n", sum)
}
