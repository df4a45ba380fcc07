package harness

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModuleRoot is the directory holding shardis' go.mod.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var builds struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

// Build compiles the main package pkg (e.g. "./cmd/shardis-server") of this
// module once per test binary and returns the path of the executable.
// Binaries are built without -race: the race detector's slowdown would
// distort the timings that failover tests measure, and the packages they
// contain are race-tested in-process.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	builds.Lock()
	defer builds.Unlock()
	if p, ok := builds.paths[pkg]; ok {
		return p
	}
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "shardis-bin-")
		if err != nil {
			t.Fatalf("harness: %v", err)
		}
		builds.dir = d
		builds.paths = map[string]string{}
	}
	out := filepath.Join(builds.dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ModuleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("harness: go build %s: %v\n%s", pkg, err, b)
	}
	builds.paths[pkg] = out
	return out
}

// StartBinary builds pkg (a main package of this module) and starts it.
// If port > 0 the process is expected to listen on 127.0.0.1:port and
// StartBinary waits for it. args are passed as given.
func StartBinary(t testing.TB, pkg string, port int, dir string, args ...string) *Proc {
	t.Helper()
	bin := Build(t, pkg)
	p := NewProc(t, filepath.Base(pkg)+"-"+strconv.Itoa(port), bin, dir, args...)
	if port > 0 {
		p.Addr, p.Port = addrOf(port), port
	}
	return p.MustStart()
}

// StartShardisServer starts cmd/shardis-server on a free port with its data
// in dir (a new temporary directory if dir is ""). extra are more flags.
func StartShardisServer(t testing.TB, dir string, extra ...string) *Proc {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	port := FreePort(t)
	args := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir}, extra...)
	return StartBinary(t, "./cmd/shardis-server", port, dir, args...)
}

// StartRedis starts Debian's redis-server on a free port, persistence off,
// in a temporary directory. extra are more arguments in redis-server's
// command-line form, e.g. "--appendonly", "yes".
func StartRedis(t testing.TB, extra ...string) *Proc {
	t.Helper()
	bin := LookPath(t, "redis-server", "redis-server")
	port := FreePort(t)
	dir := t.TempDir()
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--protected-mode", "no", "--logfile", "",
	}, extra...)
	p := NewProc(t, "redis-"+strconv.Itoa(port), bin, dir, args...)
	p.Addr, p.Port = addrOf(port), port
	return p.MustStart()
}

// StartNutcracker starts Debian's nutcracker (twemproxy) with the given YAML
// config. The caller chooses listen ports inside the YAML (take them from
// FreePort, which never returns a port twice); listen is the
// address to wait for ("" to not wait). The stats port is chosen here and
// returned in the Proc's Port field only when listen is "".
func StartNutcracker(t testing.TB, yaml, listen string) *Proc {
	t.Helper()
	bin := LookPath(t, "nutcracker", "nutcracker")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := FreePort(t)
	p := NewProc(t, "nutcracker-"+strconv.Itoa(stats), bin, dir,
		"-c", cfg, "-s", strconv.Itoa(stats), "-a", "127.0.0.1", "-v", "5",
		// Log to our log file (Debian's default is /var/log/nutcracker).
		"-o", "/dev/stderr")
	if listen != "" {
		p.Addr = listen
		_, port, _ := net.SplitHostPort(listen)
		p.Port, _ = strconv.Atoi(port)
	}
	return p.MustStart()
}

// ZooKeeper is a standalone ZooKeeper server from Debian's package.
type ZooKeeper struct {
	*Proc
}

// ZooKeeperJars is the class path of Debian's ZooKeeper server.
const ZooKeeperJars = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"

// StartZooKeeper starts a standalone ZooKeeper on a free 127.0.0.1 port and
// waits until `srvr` reports a Mode. tickTime is 500 ms, so sessions may be
// negotiated between 1 s and 30 s. Restart keeps the data directory, so
// sessions survive a restart shorter than their timeout, as in production.
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	java := LookPath(t, "java", "default-jre-headless")
	if _, err := os.Stat("/usr/share/java/zookeeper.jar"); err != nil {
		msg := "harness: /usr/share/java/zookeeper.jar not found; run `make test` or `apt-get install -y zookeeper`"
		if os.Getenv("SHARDIS_SKIP_MISSING") == "1" {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	port := FreePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`tickTime=500
initLimit=10
syncLimit=5
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
minSessionTimeout=1000
maxSessionTimeout=30000
maxClientCnxns=0
`, filepath.Join(dir, "data"), port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := NewProc(t, "zookeeper-"+strconv.Itoa(port), java, dir,
		"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-cp", ZooKeeperJars,
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(dir, "zoo.cfg"))
	p.Addr, p.Port = addrOf(port), port
	z := &ZooKeeper{Proc: p}
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	return z
}

// Start starts (or restarts after Kill) ZooKeeper and waits for `srvr`.
func (z *ZooKeeper) Start() error {
	if err := z.Proc.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := FourLetter(z.Addr, "srvr")
		if err == nil && strings.Contains(out, "Mode:") {
			return nil
		}
		if z.Exited() {
			return fmt.Errorf("harness: zookeeper exited: %v\n%s", z.ExitErr(), z.Tail(2048))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("harness: zookeeper on %s not ready: %v %q\n%s", z.Addr, err, out, z.Tail(2048))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart kills ZooKeeper and starts it again on the same port and data.
func (z *ZooKeeper) Restart() error {
	if !z.Exited() {
		z.Kill()
	}
	return z.Start()
}

// FourLetter sends a ZooKeeper four-letter command and returns the answer.
func FourLetter(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	var sb strings.Builder
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		sb.WriteString(line)
		if err != nil {
			break
		}
	}
	return sb.String(), nil
}
