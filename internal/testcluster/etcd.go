package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Etcd is one real etcd server (Debian's etcd-server: /usr/bin/etcd) for tests: its own data
// dir in t.TempDir(), client and peer ports on 127.0.0.1, stopped by PID in t.Cleanup.
// Freeze/Thaw (SIGSTOP/SIGCONT) and Stop/Restart simulate a hung or a dead topology server.
type Etcd struct {
	Dir        string
	ClientPort int
	PeerPort   int

	bin  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	frozen bool
}

// Endpoint is the client address, host:port (what topo.address takes).
func (e *Etcd) Endpoint() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(e.ClientPort)) }

// EtcdBinary returns the path of etcd, or an error saying why it cannot be used.
func EtcdBinary() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/etcd", "/usr/local/bin/etcd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("etcd not found (apt-get install -y etcd-server etcd-client)")
}

// RequireEtcd skips the test when etcd is not installed, or fails it under CI=true (CI
// installs etcd-server, so a missing binary there is a broken setup).
func RequireEtcd(t testing.TB) string {
	t.Helper()
	bin, err := EtcdBinary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI=true but %v", err)
		}
		t.Skipf("skipped: %v", err)
	}
	return bin
}

// StartEtcd starts a one-member etcd cluster and waits until it answers /health.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	bin := RequireEtcd(t)
	cp, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pp, err := FreePort()
	for err == nil && pp == cp {
		pp, err = FreePort()
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &Etcd{Dir: dir, ClientPort: cp, PeerPort: pp, bin: bin}
	client := "http://127.0.0.1:" + strconv.Itoa(cp)
	peer := "http://127.0.0.1:" + strconv.Itoa(pp)
	e.args = []string{
		"--name", "test",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test=" + peer, "--initial-cluster-state", "new",
		"--logger", "zap", "--log-outputs", filepath.Join(dir, "etcd.log"),
	}
	if err := e.start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() {
		e.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("etcd log: %s", tail(e.log(), 2000))
		}
	})
	return e
}

func (e *Etcd) log() []byte {
	b, _ := os.ReadFile(filepath.Join(e.Dir, "etcd.log"))
	return b
}

func (e *Etcd) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cmd := exec.Command(e.bin, e.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	e.cmd, e.done, e.frozen = cmd, done, false
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			e.cmd = nil
			return fmt.Errorf("etcd exited: %s", tail(e.log(), 1500))
		default:
		}
		if e.healthy() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-done
	e.cmd = nil
	return errors.New("etcd did not answer /health within 30s")
}

// healthy asks /health, which answers true once the member has a leader.
func (e *Etcd) healthy() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+e.Endpoint()+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b [128]byte
	n, _ := resp.Body.Read(b[:])
	return resp.StatusCode == 200 && strings.Contains(string(b[:n]), `"health":"true"`)
}

func (e *Etcd) stop(sig syscall.Signal) {
	e.mu.Lock()
	cmd, done, frozen := e.cmd, e.done, e.frozen
	e.cmd, e.frozen = nil, false
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	if frozen {
		cmd.Process.Signal(syscall.SIGCONT) // a stopped process acts on SIGTERM only once continued
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Stop shuts etcd down (SIGTERM) and waits for it; its data dir is kept for Restart.
func (e *Etcd) Stop() { e.stop(syscall.SIGTERM) }

// Restart starts a stopped etcd again on the same ports and data.
func (e *Etcd) Restart(t testing.TB) {
	t.Helper()
	if err := e.start(); err != nil {
		t.Fatalf("restart etcd: %v", err)
	}
}

// Freeze stops the process (SIGSTOP): connections stay open and nothing answers, as with a
// hung server or a partition.
func (e *Etcd) Freeze(t testing.TB) { e.signal(t, syscall.SIGSTOP, true) }

// Thaw continues a frozen etcd (SIGCONT).
func (e *Etcd) Thaw(t testing.TB) { e.signal(t, syscall.SIGCONT, false) }

func (e *Etcd) signal(t testing.TB, sig syscall.Signal, frozen bool) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		t.Fatal("etcd is not running")
	}
	if err := e.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal etcd: %v", err)
	}
	e.frozen = frozen
}

// Running reports whether the etcd process is up (frozen counts as up).
func (e *Etcd) Running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cmd != nil
}
