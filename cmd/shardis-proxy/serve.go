package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/proxy"
)

// serve loads the configuration and runs the proxy until SIGTERM/SIGINT;
// SIGHUP reloads the configuration.
func serve(opts options, stderr io.Writer) int {
	logOut := stderr
	if opts.output != "" && opts.output != "stderr" {
		f, err := os.OpenFile(opts.output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "shardis-proxy: opening log file: %v\n", err)
			return 1
		}
		defer f.Close()
		logOut = f
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: logLevel(opts.verbosity)}))

	pools, err := conf.Load(opts.confFile)
	if err != nil {
		for _, e := range conf.Errors(err) {
			log.Error("configuration", "err", e.Error())
		}
		fmt.Fprintf(stderr, "shardis-proxy: configuration file '%s' syntax is invalid\n", opts.confFile)
		return 1
	}
	for _, p := range pools {
		for _, w := range p.Warnings() {
			log.Warn("configuration", "warning", w)
		}
	}
	po := proxy.Options{
		Pools:         pools,
		StatsInterval: time.Duration(opts.statsInterval) * time.Millisecond,
		Logger:        log,
		Version:       version(),
		DrainTimeout:  time.Duration(opts.drainTimeout) * time.Millisecond,
		Announce:      opts.announce,
		ConfFile:      opts.confFile,
		MetricsAddr:   opts.metricsAddr,
		Registry:      registry(),
	}
	if opts.statsPort > 0 {
		po.StatsAddr = net.JoinHostPort(opts.statsAddr, strconv.Itoa(opts.statsPort))
	}
	px, err := proxy.New(po)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if opts.pidFile != "" {
		if err := os.WriteFile(opts.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Error("cannot write pid file", "err", err)
			return 1
		}
		defer os.Remove(opts.pidFile)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() { // ends with ctx
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the configuration", "conf", opts.confFile)
				_ = px.ReloadFile() // logs what it did, or why nothing changed
			}
		}
	}()

	runtime.GOMAXPROCS(threads(opts.threads, runtime.GOMAXPROCS(0)))
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			log.Error("cannot create CPU profile", "err", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Error("cannot start CPU profile", "err", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	log.Info("shardis-proxy starting", "version", version(), "conf", opts.confFile, "pid", os.Getpid(), "threads", runtime.GOMAXPROCS(0))
	if err := px.Serve(ctx); err != nil {
		log.Error("cannot serve", "err", err)
		return 1
	}
	return 0
}

// threads is the GOMAXPROCS the proxy runs with: the --threads flag, or
// by default one less than the CPUs Go found (cpus: GOMAXPROCS at start,
// which follows the container's CPU limit), at least one. The proxy's
// work is system calls; a Go thread with nothing to do spins, sleeps and
// is woken again, and on a machine where the clients or the servers
// share the cores that costs more than the second thread brings:
// measured on 2 cores with redis-benchmark and two redis-servers, one
// thread does 0.87-1.02x nutcracker's ops/s at -P 1 and two 0.73-0.95x
// (docs/proxy.md, Benchmark). A machine given to the proxy alone can
// set --threads to its CPUs.
func threads(flag, cpus int) int {
	if flag > 0 {
		return flag
	}
	return max(1, cpus-1)
}

// registry is the Prometheus registry /metrics serves: the proxy's
// metrics (New registers them) plus the Go runtime's and the process'.
func registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// logLevel maps nutcracker's verbosity (LOG_ERR 3, LOG_WARN 4, LOG_NOTICE
// 5, LOG_INFO 6, LOG_DEBUG 7 and above) to a slog level.
func logLevel(v int) slog.Level {
	switch {
	case v <= 3:
		return slog.LevelError
	case v == 4:
		return slog.LevelWarn
	case v <= 6:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// describeStats prints the stats fields, like nutcracker -D.
func describeStats(w io.Writer) {
	fmt.Fprint(w, `This is shardis-proxy-`+version()+`

pool stats:
  client_eof          "# eof on client connections"
  client_err          "# errors on client connections"
  client_connections  "# active client connections"
  server_ejects       "# times backend server was ejected"
  forward_error       "# times we encountered a forwarding error"
  fragments           "# fragments created from a multi-vector request"

server stats:
  server_eof          "# eof on server connections"
  server_err          "# errors on server connections"
  server_timedout     "# timeouts on server connections"
  server_connections  "# active server connections"
  server_ejected_at   "timestamp when server was ejected in usec since epoch"
  requests            "# requests"
  request_bytes       "total request bytes"
  responses           "# responses"
  response_bytes      "total response bytes"
  in_queue            "# requests in incoming queue"
  in_queue_bytes      "current request bytes in incoming queue"
  out_queue           "# requests in outgoing queue"
  out_queue_bytes     "current request bytes in outgoing queue"
`)
}
