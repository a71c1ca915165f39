package reliability

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// The backend account vtgate-lite uses: distinct from root, so that the backend's
// processlist tells the proxy's connections from the test's own.
const (
	backendUser = "vtgl"
	backendPass = "vtglpw"
)

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	// The driver logs "unexpected EOF" for the connections the shutdown test expects
	// to be closed under it; errors reach the tests as return values anyway.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds cmd/vtgate-lite once per test process (go build -o into a temp dir).
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "vtgl-reliability-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "vtgate-lite")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, "./cmd/vtgate-lite")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// backend starts one MariaDB server with database commerce, the proxy's account, the
// load schema and n item rows.
func backend(t *testing.T, items int) *testcluster.Cluster {
	t.Helper()
	c := testcluster.Start(t, testcluster.Options{Databases: []string{"commerce"}})
	stmts := []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", backendUser, backendPass),
		fmt.Sprintf("GRANT ALL ON commerce.* TO '%s'@'%%'", backendUser),
	}
	for _, s := range Schema {
		stmts = append(stmts, "USE commerce", s)
	}
	c.Primary.Exec(t, stmts...)
	d := c.Primary.Open(t, "commerce")
	if _, err := d.Exec(SeedItems(items)); err != nil {
		t.Fatal(err)
	}
	return c
}

// proxyProc is a running vtgate-lite binary.
type proxyProc struct {
	cmd        *exec.Cmd
	pid        int
	listen     string // MySQL address
	httpBase   string // http://host:port
	logPath    string
	env        []string // extra environment (NAME=value) for the binary
	done       chan struct{}
	exitErr    error
	exitedAt   time.Time
	stderrTail *bytes.Buffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := testcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

const configTmpl = `listen: %s
http_listen: %s
http_debug: true
state_dir: %s
log_level: warn
max_connections: 5000
users:
  - {name: app, password: secret}
pool: {size: %d, wait_timeout: 20s}
keyspaces:
  commerce:
    database: commerce
    user: %s
    password: %s
    primary: %s
vschema:
  commerce: vschema_commerce.json
`

// startProxy writes a config file like cmd/vtgate-lite's tests do and starts the binary.
func startProxy(t *testing.T, c *testcluster.Cluster, poolSize int) *proxyProc {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vschema_commerce.json"), []byte(`{"tables": {"item": {}, "ledger": {}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &proxyProc{listen: freeAddr(t), done: make(chan struct{}), logPath: filepath.Join(dir, "vtgate-lite.log")}
	httpAddr := freeAddr(t)
	p.httpBase = "http://" + httpAddr
	cfg := fmt.Sprintf(configTmpl, p.listen, httpAddr, filepath.Join(dir, "state"), poolSize, backendUser, backendPass, c.Primary.Addr())
	cfgPath := filepath.Join(dir, "vtgate-lite.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.launch(t, bin, cfgPath, logf)
	p.waitReady(t, 20*time.Second)
	return p
}

// launch starts the binary with cfgPath, logging to logf (closed when the process exits),
// and registers its cleanup: killed by PID if still running, log tail shown on failure.
func (p *proxyProc) launch(t *testing.T, bin, cfgPath string, logf *os.File) {
	t.Helper()
	p.done = make(chan struct{})
	p.cmd = exec.Command(bin, "--config", cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if len(p.env) > 0 {
		p.cmd.Env = append(os.Environ(), p.env...)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	p.pid = p.cmd.Process.Pid
	go func() {
		p.exitErr = p.cmd.Wait()
		p.exitedAt = time.Now()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill() // by PID: only the process this test started
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("vtgate-lite log (tail):\n%s", b)
		}
	})
}

func (p *proxyProc) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.logPath)
			t.Fatalf("vtgate-lite exited at start (%v):\n%s", p.exitErr, b)
		default:
		}
		err := func() error {
			db, err := sql.Open("mysql", p.dsn("commerce")+"&timeout=1s")
			if err != nil {
				return err
			}
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := db.PingContext(ctx); err != nil {
				return err
			}
			resp, err := scrapeClient.Get(p.httpBase + "/healthz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("/healthz: %s", resp.Status)
			}
			return nil
		}()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("vtgate-lite not ready within %s: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dsn is the go-sql-driver DSN of user app through the proxy.
func (p *proxyProc) dsn(db string) string {
	return fmt.Sprintf("app:secret@tcp(%s)/%s?parseTime=false", p.listen, db)
}

// backendConns counts the proxy's connections in the backend's processlist.
func backendConns(ctx context.Context, root *sql.DB) (int, error) {
	var n int
	err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", backendUser).Scan(&n)
	return n, err
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration like 60s", name, v)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}
