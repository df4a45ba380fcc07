package proxy

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// scrape fetches and parses /metrics with the Prometheus text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// sample finds the metric of family name whose labels are exactly labels
// ("k=v" each); nil if there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value, or -1 if absent.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := sample(fams, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

func httpDo(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsCount: /metrics parses and counts exactly what the client
// sent.
func TestMetricsCount(t *testing.T) {
	r1 := harness.StartRedis(t)
	maddr := freeAddr(t)
	px := startTestProxy(t, yamlPool("p", freeAddr(t), []string{r1.Addr + ":1"}),
		func(o *Options) { o.MetricsAddr = maddr })
	if got := px.MetricsAddr().String(); got != maddr {
		t.Fatalf("MetricsAddr %s", got)
	}
	base := "http://" + maddr
	c := dialRaw(t, px.addrs["p"])
	const gets = 7
	if got := c.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	for range gets {
		if got := c.do("GET", "k"); got != "$1\r\nv\r\n" {
			t.Fatal(got)
		}
	}
	c.do("LPUSH", "l", "a")
	if got := c.do("GET", "l"); !strings.HasPrefix(got, "-WRONGTYPE") {
		t.Fatalf("GET of a list: %q", got)
	}
	if got := c.do("NOSUCHCMD", "x"); !strings.HasPrefix(got, "-ERR unknown") {
		t.Fatalf("unknown command: %q", got)
	}

	// The session adds its counts once it has sent its replies: wait
	// for the last ones to land.
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams = scrape(t, base)
		if value(fams, "shardis_proxy_requests_total", "pool=p", "command=unknown") == 1 &&
			value(fams, "shardis_proxy_requests_total", "pool=p", "command=get") == gets+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts never reached: get=%v unknown=%v",
				value(fams, "shardis_proxy_requests_total", "pool=p", "command=get"),
				value(fams, "shardis_proxy_requests_total", "pool=p", "command=unknown"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	be := "backend=" + r1.Addr
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"shardis_proxy_requests_total", []string{"pool=p", "command=get"}, gets + 1},
		{"shardis_proxy_requests_total", []string{"pool=p", "command=set"}, 1},
		{"shardis_proxy_requests_total", []string{"pool=p", "command=lpush"}, 1},
		{"shardis_proxy_requests_total", []string{"pool=p", "command=ping"}, -1}, // never sent: no series
		{"shardis_proxy_request_errors_total", []string{"pool=p", "command=get", "kind=failed"}, 1},
		{"shardis_proxy_request_errors_total", []string{"pool=p", "command=get", "kind=rejected"}, 0},
		{"shardis_proxy_request_errors_total", []string{"pool=p", "command=set", "kind=failed"}, 0},
		{"shardis_proxy_request_errors_total", []string{"pool=p", "command=unknown", "kind=rejected"}, 1},
		{"shardis_proxy_errors_total", []string{"pool=p", "kind=unknown_command"}, 1},
		{"shardis_proxy_errors_total", []string{"pool=p", "kind=forward"}, 0},
		{"shardis_proxy_client_connections", []string{"pool=p"}, 1},
		{"shardis_proxy_client_connections_accepted_total", []string{"pool=p"}, 1},
		{"shardis_proxy_backend_requests_total", []string{"pool=p", be}, gets + 3},
		{"shardis_proxy_backend_responses_total", []string{"pool=p", be}, gets + 3},
		{"shardis_proxy_backend_connections", []string{"pool=p", be}, 1},
		{"shardis_proxy_backend_ejected", []string{"pool=p", be}, 0},
		{"shardis_proxy_backend_pipeline_depth", []string{"pool=p", be}, 0},
		{"shardis_proxy_backend_errors_total", []string{"pool=p", be, "kind=timeout"}, 0},
		{"shardis_proxy_server_ejections_total", []string{"pool=p"}, 0},
		{"shardis_proxy_shards", []string{"pool=p"}, 1},
		{"shardis_proxy_shards_live", []string{"pool=p"}, 1},
		{"shardis_proxy_pools", nil, 1},
		{"shardis_proxy_reloads_total", []string{"result=ok"}, 0},
		{"shardis_proxy_zookeeper_connected", []string{"pool=p"}, -1}, // no ZooKeeper: no series
	}
	for _, c := range checks {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if f := fams["shardis_proxy_requests_total"]; f.GetType() != dto.MetricType_COUNTER || f.GetHelp() == "" {
		t.Errorf("requests_total: type %v help %q", f.GetType(), f.GetHelp())
	}
	h := sample(fams, "shardis_proxy_request_duration_seconds", "pool=p", "command=get")
	if h == nil || h.Histogram == nil {
		t.Fatal("no latency histogram for GET")
	}
	if got := h.Histogram.GetSampleCount(); got != gets+1 {
		t.Errorf("GET histogram count %d, want %d", got, gets+1)
	}
	bs := h.Histogram.GetBucket()
	if len(bs) != len(histBounds)+1 { // the text format lists +Inf

		t.Fatalf("%d buckets", len(bs))
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].GetCumulativeCount() < bs[i-1].GetCumulativeCount() {
			t.Fatalf("buckets not cumulative: %v", bs)
		}
	}
	if last := bs[len(bs)-2]; last.GetUpperBound() != 10 || last.GetCumulativeCount() != gets+1 {
		t.Errorf("10 s bucket: %v", last)
	}
	if first := bs[0]; first.GetUpperBound() != 0.0001 {
		t.Errorf("first bucket: %v", first)
	}
	if h.Histogram.GetSampleSum() <= 0 || h.Histogram.GetSampleSum() > 5 {
		t.Errorf("GET histogram sum %v s", h.Histogram.GetSampleSum())
	}
}

// TestAdminHTTP: /healthz, pprof and POST /reload.
func TestAdminHTTP(t *testing.T) {
	r1 := harness.StartRedis(t)
	path := filepath.Join(t.TempDir(), "proxy.yml")
	a, b, maddr := freeAddr(t), freeAddr(t), freeAddr(t)
	good := yamlPool("a", a, []string{r1.Addr + ":1"})
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	px := startTestProxy(t, good, func(o *Options) { o.ConfFile, o.MetricsAddr = path, maddr })
	base := "http://" + maddr
	if code, body := httpDo(t, "GET", base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := httpDo(t, "GET", base+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/: %d", code)
	}
	if code, _ := httpDo(t, "GET", base+"/debug/pprof/cmdline"); code != 200 {
		t.Fatalf("/debug/pprof/cmdline: %d", code)
	}
	if code, _ := httpDo(t, "GET", base+"/reload"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /reload: %d", code)
	}

	// A pool added over HTTP.
	if err := os.WriteFile(path, []byte(good+yamlPool("b", b, []string{r1.Addr + ":1"})), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := httpDo(t, "POST", base+"/reload")
	if code != 200 || !strings.Contains(body, "added=b ") || !strings.Contains(body, "unchanged=a") {
		t.Fatalf("POST /reload: %d %q", code, body)
	}
	if got := dialRaw(t, b).do("PING"); got != "+PONG\r\n" {
		t.Fatalf("pool b: %q", got)
	}
	// An invalid file: 400 with the reason, nothing changed.
	if err := os.WriteFile(path, []byte(good+"b:\n  listen: "+b+"\n  redis: true\n  servers:\n   - nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body = httpDo(t, "POST", base+"/reload")
	if code != http.StatusBadRequest || !strings.Contains(body, "proxy.yml:") || !strings.Contains(body, "nothing changed") {
		t.Fatalf("POST /reload of an invalid file: %d %q", code, body)
	}
	if px.Pool("b") == nil {
		t.Fatal("pool b removed by an invalid reload")
	}
	fams := scrape(t, base)
	if v := value(fams, "shardis_proxy_reloads_total", "result=ok"); v != 1 {
		t.Errorf("reloads ok %v", v)
	}
	if v := value(fams, "shardis_proxy_reloads_total", "result=error"); v != 1 {
		t.Errorf("reloads error %v", v)
	}
	if v := value(fams, "shardis_proxy_pools"); v != 2 {
		t.Errorf("pools %v", v)
	}
	if v := value(fams, "shardis_proxy_client_connections", "pool=b"); v != 1 && v != 0 {
		t.Errorf("pool b client connections %v", v)
	}
	if v := value(fams, "shardis_proxy_last_reload_timestamp_seconds"); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last reload %v", v)
	}
}

// TestHealthzUnhealthy: a pool with no topology yet makes /healthz 503
// with the reason.
func TestHealthzUnhealthy(t *testing.T) {
	maddr := freeAddr(t)
	y := "icd:\n  listen: " + freeAddr(t) + "\n  redis: true\n  zookeeper_host: " + freeAddr(t) +
		"\n  zookeeper_redis_path: /redis/cluster/icd\n"
	px := startTestProxy(t, y, func(o *Options) { o.MetricsAddr = maddr })
	code, body := httpDo(t, "GET", "http://"+maddr+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "pool icd: no topology from ZooKeeper yet") {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	fams := scrape(t, "http://"+maddr)
	if v := value(fams, "shardis_proxy_zookeeper_connected", "pool=icd"); v != 0 {
		t.Errorf("zookeeper_connected %v", v)
	}
	// No ConfFile: /reload cannot work.
	if code, _ := httpDo(t, "POST", "http://"+maddr+"/reload"); code != http.StatusNotImplemented {
		t.Fatalf("POST /reload without a file: %d", code)
	}
	px.stop()
	if err := px.Health(); err == nil || err.Error() != "shutting down" {
		t.Fatalf("health after stop: %v", err)
	}
}

// BenchmarkMetricsGather measures one scrape's collection (not the
// request path, which metrics do not touch) for 4 pools with 50 commands
// used each.
func BenchmarkMetricsGather(b *testing.B) {
	var y string
	for i := range 4 {
		y += yamlPool("p"+strconv.Itoa(i), "127.0.0.1:"+strconv.Itoa(40000+i),
			[]string{"127.0.0.1:1:1", "127.0.0.1:2:1", "127.0.0.1:3:1"})
	}
	pools, err := conf.Parse("bench.yml", []byte(y))
	if err != nil {
		b.Fatal(err)
	}
	px, err := New(Options{Pools: pools})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range px.Pools() {
		for id := range 50 {
			p.stats.cmds[id].calls.Add(100)
			p.hist[id].buckets[id%histBuckets].Add(100)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := px.reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
