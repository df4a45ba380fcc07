package harness

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is one child process started by a test. It is stopped by PID in the
// test's cleanup. Its methods are safe for concurrent use.
type Proc struct {
	Name string   // short name used in log lines and the log file name
	Addr string   // host:port it serves on ("" if it does not listen)
	Port int      // port of Addr
	Dir  string   // working/data directory of the process
	Path string   // executable
	Args []string // arguments, reused by Restart
	Log  string   // path of the combined stdout/stderr log

	t testing.TB

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current cmd has been reaped
	exit   error
	paused bool
}

// handedOut remembers every port FreePort returned in this test binary, so
// two callers never get the same port even after the first one's listener
// is closed (the kernel may hand a just-closed port out again).
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that no earlier FreePort call of this test binary returned.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("harness: free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatal("harness: no fresh free port after 100 tries")
	return 0
}

// WaitTCP waits until addr accepts a TCP connection or timeout passes.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("harness: %s not accepting connections after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// LookPath finds an executable the tests need, failing the test (or
// skipping it when SHARDIS_SKIP_MISSING=1) with the package to install.
func LookPath(t testing.TB, name, pkg string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("harness: %s not found; run `make test` (it installs it) or `apt-get install -y %s`", name, pkg)
	if os.Getenv("SHARDIS_SKIP_MISSING") == "1" {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// NewProc prepares (but does not start) a process. dir is created if needed.
func NewProc(t testing.TB, name, path, dir string, args ...string) *Proc {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	p := &Proc{
		Name: name, Path: path, Args: args, Dir: dir, t: t,
		Log: filepath.Join(dir, name+".log"),
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("---- tail of %s (%s) ----\n%s", p.Name, p.Log, tail(p.Log, 4096))
		}
	})
	return p
}

// Start starts the process. If addr is not empty it waits until addr
// accepts connections.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isDone(p.done) {
		return fmt.Errorf("harness: %s already running (pid %d)", p.Name, p.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== %s: %s %q\n", time.Now().Format(time.RFC3339Nano), p.Path, p.Args)
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Dir = p.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group, so a terminal's Ctrl-C reaches only the test binary
	// and the test decides when each child stops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("harness: start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exit, p.paused = cmd, done, nil, false
	go func() { // owned by this Proc; ends when the child exits
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exit = err
		p.mu.Unlock()
		close(done)
	}()
	if p.Addr == "" {
		return nil
	}
	p.mu.Unlock()
	err = p.waitReady(15 * time.Second)
	p.mu.Lock()
	return err
}

func (p *Proc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := WaitTCP(p.Addr, 100*time.Millisecond); err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("harness: %s exited before listening on %s: %v\n%s", p.Name, p.Addr, p.ExitErr(), tail(p.Log, 2048))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("harness: %s not listening on %s after %v\n%s", p.Name, p.Addr, timeout, tail(p.Log, 2048))
		}
	}
}

// MustStart is Start that fails the test on error.
func (p *Proc) MustStart() *Proc {
	p.t.Helper()
	if err := p.Start(); err != nil {
		p.t.Fatal(err)
	}
	return p
}

// PID returns the PID of the running process, or 0.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isDone(p.done) {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd == nil || isDone(p.done)
}

// ExitErr is the error Wait returned for the last run (nil while running).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

// Signal sends sig to the process (by PID).
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isDone(p.done) {
		return errors.New("harness: " + p.Name + " is not running")
	}
	return syscall.Kill(p.cmd.Process.Pid, sig)
}

// Kill sends SIGKILL and waits until the process is reaped.
func (p *Proc) Kill() {
	p.t.Helper()
	p.Resume()
	_ = p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
}

// Term sends SIGTERM and waits up to timeout for the process to exit; it
// reports whether it did.
func (p *Proc) Term(timeout time.Duration) bool {
	p.Resume()
	_ = p.Signal(syscall.SIGTERM)
	return p.Wait(timeout)
}

// Pause stops the process with SIGSTOP (a hung node, like `docker pause`).
func (p *Proc) Pause() {
	p.t.Helper()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

// Resume continues a paused process with SIGCONT.
func (p *Proc) Resume() {
	p.mu.Lock()
	paused := p.paused
	p.paused = false
	p.mu.Unlock()
	if paused {
		_ = p.Signal(syscall.SIGCONT)
	}
}

// Wait waits up to timeout for the process to exit and reports whether it did.
func (p *Proc) Wait(timeout time.Duration) bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Restart kills the process if it runs and starts it again with the same
// arguments, directory and address.
func (p *Proc) Restart() error {
	if !p.Exited() {
		p.Kill()
	}
	return p.Start()
}

// stop is the cleanup: SIGTERM, then SIGKILL after 5 s, by PID.
func (p *Proc) stop() {
	if p.Exited() {
		return
	}
	if !p.Term(5 * time.Second) {
		_ = p.Signal(syscall.SIGKILL)
		p.Wait(5 * time.Second)
	}
}

// Tail returns the last n bytes of the process log.
func (p *Proc) Tail(n int) string { return tail(p.Log, n) }

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

func isDone(ch chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func addrOf(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
