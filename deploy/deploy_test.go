// Package deploy holds the deployment files (systemd units, example
// configuration, Kubernetes manifests, Dockerfile). No cluster runs here, so
// these tests check what can be checked without one: every file parses,
// references resolve (labels, services, config maps, ports, env vars), and
// every command line uses flags the binaries really have, run against the
// binaries built from this tree.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/shardis/shardis/conf"
	"github.com/shardis/shardis/integration/harness"
)

// binaries are the programs of cmd/.
func binaries(t *testing.T) []string {
	entries, err := os.ReadDir(filepath.Join(harness.ModuleRoot(), "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

var flagRE = regexp.MustCompile(`(?:^|[\s,\[])--?([a-zA-Z][a-zA-Z0-9-]*)`)

// knownFlags returns the flag names (without dashes) the binary's help lists.
func knownFlags(t *testing.T, bin string) map[string]bool {
	t.Helper()
	path := harness.Build(t, "./cmd/"+bin)
	out, _ := exec.Command(path, "--help").CombinedOutput() // exit status varies (flag.ErrHelp)
	flags := map[string]bool{}
	for _, m := range flagRE.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 3 {
		t.Fatalf("%s --help lists no flags:\n%s", bin, out)
	}
	return flags
}

// checkCommandLine checks that argv[0] is one of our binaries and that every
// flag in argv is one it knows.
func checkCommandLine(t *testing.T, where string, argv []string, flags map[string]map[string]bool) {
	t.Helper()
	if len(argv) == 0 {
		t.Errorf("%s: empty command", where)
		return
	}
	bin := filepath.Base(argv[0])
	known, ok := flags[bin]
	if !ok {
		t.Errorf("%s: runs %q, not one of the shardis binaries", where, argv[0])
		return
	}
	for _, a := range argv[1:] {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name := strings.TrimLeft(a, "-")
		if i := strings.IndexByte(name, '='); i >= 0 {
			name = name[:i]
		}
		if !known[name] {
			t.Errorf("%s: %s has no flag %q", where, bin, a)
		}
	}
}

func allFlags(t *testing.T) map[string]map[string]bool {
	flags := map[string]map[string]bool{}
	for _, b := range binaries(t) {
		if b != "shardis-server" {
			flags[b] = knownFlags(t, b)
		}
	}
	// shardis-server takes redis-server style "--name value" pairs for any
	// config parameter; its help does not list them.
	flags["shardis-server"] = map[string]bool{"port": true, "bind": true, "dir": true, "appendonly": true,
		"appendfsync": true, "requirepass": true, "maxclients": true, "replicaof": true, "fenced": true}
	return flags
}

// ---- Kubernetes -------------------------------------------------------------

type object map[string]any

func (o object) str(path ...string) string {
	v := o.get(path...)
	s, _ := v.(string)
	return s
}

func (o object) get(path ...string) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }

func loadManifests(t *testing.T) []object {
	t.Helper()
	files, _ := filepath.Glob("k8s/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/k8s")
	}
	var objs []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var o map[string]any
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if o == nil {
				continue
			}
			obj := object(o)
			for _, k := range []string{"apiVersion", "kind"} {
				if obj.str(k) == "" {
					t.Errorf("%s document %d: no %s", f, i, k)
				}
			}
			if obj.str("metadata", "name") == "" {
				t.Errorf("%s document %d: no metadata.name", f, i)
			}
			obj["__file"] = f
			objs = append(objs, obj)
		}
	}
	return objs
}

func find(objs []object, kind, name string) object {
	for _, o := range objs {
		if o.str("kind") == kind && o.str("metadata", "name") == name {
			return o
		}
	}
	return nil
}

func subset(sel, labels map[string]any) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

var varRE = regexp.MustCompile(`\$\(([A-Z_][A-Z0-9_]*)\)`)

func TestKubernetesManifests(t *testing.T) {
	objs := loadManifests(t)
	flags := allFlags(t)
	known := map[string]string{"ConfigMap": "v1", "Service": "v1", "StatefulSet": "apps/v1", "Deployment": "apps/v1", "Job": "batch/v1"}
	var podTemplates []object // workloads, for Service selectors
	zkHosts := ""
	if cm := find(objs, "ConfigMap", "shardis-zookeeper"); cm == nil {
		t.Fatal("no ConfigMap shardis-zookeeper")
	} else {
		zkHosts = cm.str("data", "SHARDIS_ZK")
		if _, _, err := conf.ParseZooKeeperHost(zkHosts); err != nil || zkHosts == "" {
			t.Fatalf("shardis-zookeeper SHARDIS_ZK %q: %v", zkHosts, err)
		}
	}
	var announced, watchdogs int
	shardPaths := map[string]bool{}
	for _, o := range objs {
		kind, name, file := o.str("kind"), o.str("metadata", "name"), o.str("__file")
		where := fmt.Sprintf("%s: %s %s", file, kind, name)
		if want, ok := known[kind]; !ok || o.str("apiVersion") != want {
			t.Errorf("%s: unexpected kind/apiVersion %s %s", where, kind, o.str("apiVersion"))
		}
		var spec object
		switch kind {
		case "StatefulSet", "Deployment":
			spec = object(asMap(o.get("spec", "template", "spec")))
			sel := asMap(o.get("spec", "selector", "matchLabels"))
			labels := asMap(o.get("spec", "template", "metadata", "labels"))
			if !subset(sel, labels) {
				t.Errorf("%s: selector %v does not match the template's labels %v", where, sel, labels)
			}
			podTemplates = append(podTemplates, o)
			if kind == "StatefulSet" {
				svc := find(objs, "Service", o.str("spec", "serviceName"))
				if svc == nil || svc.str("spec", "clusterIP") != "None" {
					t.Errorf("%s: serviceName %q is not a headless Service here", where, o.str("spec", "serviceName"))
				}
				if len(asList(o.get("spec", "volumeClaimTemplates"))) == 0 {
					t.Errorf("%s: no volumeClaimTemplates: backend data would not survive a reschedule", where)
				}
			}
		case "Job":
			spec = object(asMap(o.get("spec", "template", "spec")))
		case "ConfigMap":
			for key, v := range asMap(o.get("data")) {
				if !strings.HasSuffix(key, ".yml") {
					continue
				}
				pools, err := conf.Parse(file+":"+key, []byte(v.(string)))
				if err != nil {
					t.Errorf("%s: %s: %v", where, key, err)
					continue
				}
				for _, p := range pools {
					if p.UsesZooKeeper() && p.ZooKeeperHost != zkHosts {
						t.Errorf("%s: pool %s zookeeper_host %q differs from ConfigMap shardis-zookeeper's %q", where, p.Name, p.ZooKeeperHost, zkHosts)
					}
				}
			}
		}
		if spec == nil {
			continue
		}
		// Volumes from config maps exist.
		for _, v := range asList(spec.get("volumes")) {
			if cm := object(asMap(v)).str("configMap", "name"); cm != "" && find(objs, "ConfigMap", cm) == nil {
				t.Errorf("%s: volume from missing ConfigMap %s", where, cm)
			}
		}
		for _, c := range asList(spec.get("containers")) {
			c := object(asMap(c))
			cw := where + " container " + c.str("name")
			if c.str("image") == "" {
				t.Errorf("%s: no image", cw)
			}
			env := map[string]object{}
			for _, e := range asList(c.get("env")) {
				e := object(asMap(e))
				env[e.str("name")] = e
				if ref := e.str("valueFrom", "configMapKeyRef", "name"); ref != "" {
					cm := find(objs, "ConfigMap", ref)
					if cm == nil || cm.get("data", e.str("valueFrom", "configMapKeyRef", "key")) == nil {
						t.Errorf("%s: env %s from missing ConfigMap key %s/%s", cw, e.str("name"), ref, e.str("valueFrom", "configMapKeyRef", "key"))
					}
				}
			}
			var argv []string
			for _, a := range append(asList(c.get("command")), asList(c.get("args"))...) {
				s, _ := a.(string)
				argv = append(argv, s)
				for _, m := range varRE.FindAllStringSubmatch(s, -1) {
					if env[m[1]] == nil {
						t.Errorf("%s: $(%s) used but not in env", cw, m[1])
					}
				}
			}
			checkCommandLine(t, cw, argv, flags)
			ports := map[string]bool{}
			for _, p := range asList(c.get("ports")) {
				ports[object(asMap(p)).str("name")] = true
			}
			for _, probe := range []string{"readinessProbe", "livenessProbe"} {
				for _, k := range []string{"tcpSocket", "httpGet"} {
					if p, ok := c.get(probe, k, "port").(string); ok && !ports[p] {
						t.Errorf("%s: %s port %q is not a named port of the container", cw, probe, p)
					}
				}
			}
			bin := filepath.Base(first(argv))
			if bin == "shardis-watchdog" || bin == "shardis-proxy" {
				ann := argAfter(argv, "--announce")
				if !strings.Contains(ann, "$(POD_IP)") || env["POD_IP"].str("valueFrom", "fieldRef", "fieldPath") != "status.podIP" {
					t.Errorf("%s: must announce the pod IP (--announce $(POD_IP) with POD_IP from status.podIP), not a fixed or NAT address", cw)
				}
				announced++
			}
			if bin == "shardis-watchdog" {
				watchdogs++
				shard := argAfter(argv, "--shard")
				if _, _, _, err := conf.ParseShardPath(shard); err != nil {
					t.Errorf("%s: --shard %q: %v", cw, shard, err)
				}
				shardPaths[shard] = true
				if b := argAfter(argv, "--backend"); !strings.HasPrefix(b, "127.0.0.1:") {
					t.Errorf("%s: --backend %q: the watchdog must watch its own pod's backend", cw, b)
				}
			}
		}
	}
	// Services select some workload, and their target ports are named ports.
	for _, o := range objs {
		if o.str("kind") != "Service" {
			continue
		}
		sel := asMap(o.get("spec", "selector"))
		var match object
		for _, w := range podTemplates {
			if subset(sel, asMap(w.get("spec", "template", "metadata", "labels"))) {
				match = w
			}
		}
		if match == nil {
			t.Errorf("Service %s: selector %v matches no workload", o.str("metadata", "name"), sel)
			continue
		}
		names := map[string]bool{}
		for _, c := range asList(match.get("spec", "template", "spec", "containers")) {
			for _, p := range asList(object(asMap(c)).get("ports")) {
				names[object(asMap(p)).str("name")] = true
			}
		}
		for _, p := range asList(o.get("spec", "ports")) {
			if tp, ok := asMap(p)["targetPort"].(string); ok && !names[tp] {
				t.Errorf("Service %s: targetPort %q is not a port of %s", o.str("metadata", "name"), tp, match.str("metadata", "name"))
			}
		}
	}
	if watchdogs < 2 || announced < 3 || len(shardPaths) < 2 {
		t.Errorf("expected watchdogs of at least 2 shards and an announcing proxy; got %d watchdogs, %d announcing, shards %v", watchdogs, announced, shardPaths)
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func argAfter(argv []string, flag string) string {
	for i, a := range argv {
		if (a == flag || a == "-"+strings.TrimLeft(flag, "-")) && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}

// ---- systemd ------------------------------------------------------------------

// unit is a parsed systemd unit: section -> key -> values.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func readEnv(t *testing.T, path string) map[string]string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	return env
}

func TestSystemdUnits(t *testing.T) {
	flags := allFlags(t)
	env := readEnv(t, "config/watchdog-6379.env")
	units, _ := filepath.Glob("systemd/*.service")
	if len(units) != 3 {
		t.Fatalf("want a unit for each of the 3 daemons, have %v", units)
	}
	for _, path := range units {
		u := parseUnit(t, path)
		for _, s := range []string{"Unit", "Service", "Install"} {
			if u[s] == nil {
				t.Errorf("%s: no [%s]", path, s)
			}
		}
		svc := u["Service"]
		if len(svc["LimitNOFILE"]) == 0 || len(svc["Restart"]) == 0 || len(svc["User"]) == 0 {
			t.Errorf("%s: needs LimitNOFILE, Restart and a User", path)
		}
		if n, _ := strconv.Atoi(first(svc["LimitNOFILE"])); n < 4096 {
			t.Errorf("%s: LimitNOFILE %v is too low", path, svc["LimitNOFILE"])
		}
		for _, key := range []string{"ExecStartPre", "ExecStart"} {
			for _, line := range svc[key] {
				line = strings.ReplaceAll(line, "%i", "6379")
				line = os.Expand(line, func(k string) string { return env[k] })
				checkCommandLine(t, path+" "+key, strings.Fields(line), flags)
			}
		}
		if strings.Contains(path, "watchdog") {
			for _, v := range []string{"SHARDIS_ZK", "SHARDIS_SHARD", "SHARDIS_ANNOUNCE", "SHARDIS_METRICS_PORT"} {
				if env[v] == "" {
					t.Errorf("config/watchdog-6379.env: %s is not set but the unit uses it", v)
				}
			}
			if _, _, _, err := conf.ParseShardPath(env["SHARDIS_SHARD"]); err != nil {
				t.Errorf("watchdog-6379.env: SHARDIS_SHARD: %v", err)
			}
		}
	}
}

// ---- example configuration ----------------------------------------------------

func TestExampleConfiguration(t *testing.T) {
	pools, err := conf.Load("config/pools.d")
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 2 {
		t.Fatalf("want two tenants, got %d", len(pools))
	}
	var static, zk int
	auth := map[string]bool{}
	for _, p := range pools {
		if p.UsesZooKeeper() {
			zk++
		} else {
			static++
		}
		if p.RedisAuth == "" {
			t.Errorf("pool %s: no redis_auth", p.Name)
		}
		auth[p.RedisAuth] = true
	}
	if static != 1 || zk != 1 || len(auth) != 2 {
		t.Errorf("want one static and one ZooKeeper pool with different passwords; got static %d zk %d passwords %d", static, zk, len(auth))
	}
	// The proxy's own check agrees (the systemd unit's ExecStartPre).
	out, err := exec.Command(harness.Build(t, "./cmd/shardis-proxy"), "-t", "-c", "config/pools.d").CombinedOutput()
	if err != nil {
		t.Fatalf("shardis-proxy -t: %v\n%s", err, out)
	}

	// The server configuration file starts a real shardis-server and means
	// what its comments say.
	abs, _ := filepath.Abs("config/server-6379.conf")
	t.Run("server", func(t *testing.T) {
		port := harness.FreePort(t)
		p := harness.StartBinary(t, "./cmd/shardis-server", port, t.TempDir(), abs, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", t.TempDir())
		c := redis.NewClient(&redis.Options{Addr: p.Addr, Password: "backend-secret", DialTimeout: 2 * time.Second})
		defer c.Close()
		ctx := t.Context()
		for param, want := range map[string]string{"appendonly": "yes", "repl-ack-replicas": "1", "appendfsync": "everysec", "fenced": "yes"} {
			got, err := c.ConfigGet(ctx, param).Result()
			if err != nil || got[param] != want {
				t.Errorf("CONFIG GET %s = %v (%v), want %s", param, got, err, want)
			}
		}
		if err := c.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "fenced") {
			t.Errorf("SET on a server started fenced: %v, want -READONLY ... fenced master", err)
		}
		noauth := redis.NewClient(&redis.Options{Addr: p.Addr, DialTimeout: 2 * time.Second})
		defer noauth.Close()
		if err := noauth.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("SET without AUTH: %v, want NOAUTH", err)
		}
	})
}

// ---- Dockerfile ---------------------------------------------------------------

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(harness.ModuleRoot(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	from := regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+)\S* AS build$`).FindSubmatch(data)
	if goVersion == nil || from == nil || string(goVersion[1]) != string(from[1]) {
		t.Errorf("the build stage's Go (%q) must be go.mod's (%q)", from, goVersion)
	}
	if !bytes.Contains(data, []byte("CGO_ENABLED=0")) {
		t.Error("binaries must be static (CGO_ENABLED=0) for the distroless image")
	}
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAll(data, -1)); n < 2 {
		t.Errorf("want a multi-stage build, have %d stages", n)
	}
	copyLine := regexp.MustCompile(`(?m)^COPY --from=build (.+) /usr/local/bin/$`).FindSubmatch(data)
	if copyLine == nil {
		t.Fatal("no COPY --from=build ... /usr/local/bin/")
	}
	var copied []string
	for _, f := range strings.Fields(string(copyLine[1])) {
		copied = append(copied, filepath.Base(f))
	}
	slices.Sort(copied)
	if want := binaries(t); !slices.Equal(copied, want) {
		t.Errorf("the image has %v, cmd/ builds %v", copied, want)
	}
	// Every binary the manifests run is in the image.
	for _, o := range loadManifests(t) {
		for _, c := range asList(o.get("spec", "template", "spec", "containers")) {
			cmd := first(toStrings(asList(object(asMap(c)).get("command"))))
			if cmd != "" && !slices.Contains(copied, filepath.Base(cmd)) {
				t.Errorf("%s runs %s, which the image lacks", o.str("metadata", "name"), cmd)
			}
		}
	}
}

func toStrings(l []any) []string {
	var out []string
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}
