// Package testcluster starts real MariaDB servers for tests: each with its own datadir,
// a free port on 127.0.0.1, binlog on (ROW, full images and metadata, GTID strict), and
// optional GTID replicas. It is the one helper every integration test uses.
//
// Flow:
//  1. The first Start in a process builds a template datadir once (mariadb-install-db,
//     users created with sql_log_bin=0), so later servers start from a copy in ~0.3 s.
//  2. Start copies the template, starts mariadbd on a free port and waits for a real login.
//  3. Replicas are started read-only and attached with MASTER_USE_GTID=slave_pos.
//  4. t.Cleanup stops every server by PID (SIGTERM, then SIGKILL) and removes its datadir.
//
// Options.TLS gives a cluster a throwaway CA (Cluster.CA) and each server a certificate for
// 127.0.0.1 and localhost signed by it (tls.go); the helper's own TCP connections (DSN, Exec,
// replication) then use TLS, so Options.RequireSecureTransport can refuse plain TCP.
//
// Every server has user root / password RootPassword on 127.0.0.1 and on its unix socket.
// When mariadbd is missing the test is skipped with the reason, except under CI=true,
// where it fails: CI installs MariaDB, so a missing binary there is a broken setup.
package testcluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the driver tests use to reach servers directly

	"github.com/vtgate-lite/vtgate-lite/router"
)

// RootPassword is the password of root on every test server.
const RootPassword = "rootpw"

// Server is one running (or stopped) mariadbd.
type Server struct {
	Name     string // e.g. "primary", "replica-1"
	Type     string // tablet type: primary, replica or rdonly
	Host     string
	Port     int
	ServerID int
	Dir      string

	tlsKey string // go-sql-driver TLS config name for DSN; "" = plain TCP

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	args []string
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// DSN is a go-sql-driver DSN for root on this server, with db as default schema ("" for none).
func (s *Server) DSN(db string) string {
	dsn := fmt.Sprintf("root:%s@tcp(%s)/%s?multiStatements=true&interpolateParams=true", RootPassword, s.Addr(), db)
	if s.tlsKey != "" {
		dsn += "&tls=" + s.tlsKey
	}
	return dsn
}

// Socket is the server's unix socket path.
func (s *Server) Socket() string { return filepath.Join(s.Dir, "mdb.sock") }

// Open returns a *sql.DB for root on this server; the caller closes it.
func (s *Server) Open(t testing.TB, db string) *sql.DB {
	t.Helper()
	d, err := sql.Open("mysql", s.DSN(db))
	if err != nil {
		t.Fatalf("open %s: %v", s.Name, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Exec runs statements on the server as root (no default schema) and fails the test on error.
func (s *Server) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	d, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		t.Fatalf("open %s: %v", s.Name, err)
	}
	defer d.Close()
	for _, q := range stmts {
		if _, err := d.Exec(q); err != nil {
			t.Fatalf("%s: %s: %v", s.Name, q, err)
		}
	}
}

// QueryString returns the first column of the first row of q, as a string ("" when NULL).
func (s *Server) QueryString(t testing.TB, q string) string {
	t.Helper()
	d, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		t.Fatalf("open %s: %v", s.Name, err)
	}
	defer d.Close()
	var v sql.NullString
	if err := d.QueryRow(q).Scan(&v); err != nil {
		t.Fatalf("%s: %s: %v", s.Name, q, err)
	}
	return v.String
}

// Cluster is one primary and its replicas: a keyspace's servers.
type Cluster struct {
	Primary  *Server
	Replicas []*Server
	// CA is the PEM file of the CA that signed the servers' certificates (Options.TLS), else "".
	CA string
}

// Servers lists the primary first, then the replicas.
func (c *Cluster) Servers() []*Server { return append([]*Server{c.Primary}, c.Replicas...) }

// Keyspace describes the cluster as keyspace name on database, for a routing table: root's
// credentials, the primary, and every replica with its tablet type.
func (c *Cluster) Keyspace(name, database string) *router.Keyspace {
	k := &router.Keyspace{Name: name, Database: database, User: "root", Password: RootPassword, Primary: c.Primary.Addr()}
	for _, r := range c.Replicas {
		tt, err := router.ParseTabletType(r.Type)
		if err != nil {
			panic(fmt.Sprintf("testcluster: replica %s: Options.Replicas has %q: %v", r.Addr(), r.Type, err))
		}
		k.Replicas = append(k.Replicas, router.Server{Address: r.Addr(), Type: tt})
	}
	return k
}

// Options say what to start.
type Options struct {
	// Replicas lists the tablet types of the replicas to attach ("replica", "rdonly").
	Replicas []string
	// Databases are created on the primary (and so replicated).
	Databases []string
	// ExtraArgs are appended to every mariadbd command line.
	ExtraArgs []string
	// TLS starts every server with --ssl-ca/--ssl-cert/--ssl-key from a throwaway CA
	// (Cluster.CA); replicas replicate over TLS with the certificate verified.
	TLS bool
	// RequireSecureTransport (needs TLS) adds --require-secure-transport=ON: plain TCP logins
	// fail with 3159. Unix-socket logins (the helper's readiness check) stay allowed.
	RequireSecureTransport bool
}

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
	serverIDs    = struct {
		sync.Mutex
		next int
	}{next: 100}
)

// Binary returns the path of mariadbd, or an error saying why it cannot be used.
func Binary() (string, error) {
	for _, name := range []string{"mariadbd", "mysqld"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", errors.New("mariadbd not found (apt-get install -y mariadb-server)")
}

// Require skips the test when MariaDB is not installed, or fails it under CI=true.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI=true but %v", err)
		}
		t.Skipf("skipped: %v", err)
	}
	return bin
}

// Start starts a primary and the requested replicas and registers their cleanup.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := Require(t)
	templateOnce.Do(func() { templateDir, templateErr = buildTemplate(bin) })
	if templateErr != nil {
		t.Fatalf("testcluster template: %v", templateErr)
	}
	c := &Cluster{}
	var ca *CA
	if opts.TLS {
		ca = NewCA(t)
		c.CA = ca.File
	} else if opts.RequireSecureTransport {
		t.Fatal("testcluster: RequireSecureTransport needs TLS")
	}
	c.Primary = newServer(t, bin, "primary", "primary", ca, opts)
	for _, db := range opts.Databases {
		c.Primary.Exec(t, "CREATE DATABASE IF NOT EXISTS `"+db+"`")
	}
	for i, typ := range opts.Replicas {
		ro := opts
		ro.ExtraArgs = append([]string{"--read-only=ON"}, opts.ExtraArgs...)
		r := newServer(t, bin, fmt.Sprintf("%s-%d", typ, i+1), typ, ca, ro)
		ssl := ""
		if ca != nil {
			ssl = fmt.Sprintf(", MASTER_SSL=1, MASTER_SSL_CA='%s', MASTER_SSL_VERIFY_SERVER_CERT=1", ca.File)
		}
		r.Exec(t,
			"SET GLOBAL gtid_slave_pos=''",
			fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1%s", c.Primary.Port, RootPassword, ssl),
			"START SLAVE")
		c.Replicas = append(c.Replicas, r)
	}
	if len(c.Replicas) > 0 {
		c.WaitReplicas(t, 30*time.Second)
	}
	return c
}

// WaitReplicas waits until every replica has applied the primary's current GTID position.
func (c *Cluster) WaitReplicas(t testing.TB, timeout time.Duration) {
	t.Helper()
	pos := c.Primary.QueryString(t, "SELECT @@gtid_binlog_pos")
	for _, r := range c.Replicas {
		got := r.QueryString(t, fmt.Sprintf("SELECT MASTER_GTID_WAIT('%s', %d)", pos, int(timeout.Seconds())))
		if got != "0" {
			t.Fatalf("%s did not reach %s within %s (MASTER_GTID_WAIT=%s)", r.Name, pos, timeout, got)
		}
	}
}

func nextServerID() int {
	serverIDs.Lock()
	defer serverIDs.Unlock()
	serverIDs.next++
	return serverIDs.next + os.Getpid()%1000*100
}

func buildTemplate(bin string) (string, error) {
	dir, err := os.MkdirTemp("", "vtgl-template-")
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	install, err := exec.LookPath("mariadb-install-db")
	if err != nil {
		install = "/usr/bin/mariadb-install-db"
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o750); err != nil {
		return "", err
	}
	// A private tmpdir: installs running at once in parallel test packages otherwise
	// collide on temporary table files in /tmp.
	out, err := exec.Command(install, "--no-defaults", "--user=root", "--datadir="+data, "--tmpdir="+filepath.Join(dir, "tmp"),
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mariadb-install-db: %v: %s", err, out)
	}
	s := &Server{Name: "template", Type: "primary", Host: "127.0.0.1", Dir: dir, ServerID: 1}
	if s.Port, err = FreePort(); err != nil {
		return "", err
	}
	s.args = serverArgs(s, []string{"--skip-log-bin"})
	if err := s.start(bin); err != nil {
		return "", err
	}
	defer s.stop(syscall.SIGTERM)
	db, err := sql.Open("mysql", "root@unix("+s.Socket()+")/")
	if err != nil {
		return "", err
	}
	defer db.Close()
	for _, q := range []string{
		"SET sql_log_bin=0",
		"ALTER USER root@localhost IDENTIFIED BY '" + RootPassword + "'",
		"CREATE USER IF NOT EXISTS root@'127.0.0.1'",
		"ALTER USER root@'127.0.0.1' IDENTIFIED BY '" + RootPassword + "'",
		"GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION",
		"CREATE USER IF NOT EXISTS root@'%'",
		"ALTER USER root@'%' IDENTIFIED BY '" + RootPassword + "'",
		"GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION",
	} {
		if _, err := db.Exec(q); err != nil {
			return "", fmt.Errorf("template %s: %w", q, err)
		}
	}
	return dir, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) { return FreePortBase(0) }

// FreePortBase returns a port base such that base+off, for every offset, is a TCP port on
// 127.0.0.1 that was free a moment ago (the example scripts put tablet uid U on base+U).
//
// The ports are taken below the kernel's ephemeral range (ip_local_port_range), never from
// it: every outgoing connection on the machine takes its source port from that range, so a
// port found free there and bound a moment later by a server can be taken in between by
// any client connection of any test running in parallel (seen in CI: vtgate-lite's
// http_listen failing with "address already in use").
func FreePortBase(offsets ...int) (int, error) {
	if len(offsets) == 0 {
		offsets = []int{0}
	}
	span := 0
	for _, off := range offsets {
		span = max(span, off)
	}
	const lowest = 10000
	top := ephemeralLow() - span
	if top-lowest < 1000 {
		return 0, fmt.Errorf("no room for ports below the ephemeral range (starts at %d)", ephemeralLow())
	}
	for range 500 {
		base := lowest + rand.IntN(top-lowest)
		free := true
		for _, off := range offsets {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free ports for offsets %v below %d", offsets, top)
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 if unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	return 32768
}

func serverArgs(s *Server, extra []string) []string {
	args := []string{
		"--no-defaults", "--user=root",
		"--datadir=" + filepath.Join(s.Dir, "data"),
		"--port=" + strconv.Itoa(s.Port), "--bind-address=127.0.0.1",
		"--socket=" + s.Socket(), "--pid-file=" + filepath.Join(s.Dir, "mdb.pid"),
		"--tmpdir=" + s.Dir,
		"--log-error=" + filepath.Join(s.Dir, "err.log"),
		"--server-id=" + strconv.Itoa(s.ServerID),
		"--log-bin=" + filepath.Join(s.Dir, "data", "binlog"),
		"--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL",
		"--log-slave-updates=ON", "--gtid-domain-id=0", "--gtid-strict-mode=ON",
		"--skip-name-resolve", "--max-connections=1000",
		"--innodb-buffer-pool-size=64M", "--innodb-log-file-size=48M",
		"--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
		"--performance-schema=OFF", "--skip-slave-start",
	}
	return append(args, extra...)
}

func newServer(t testing.TB, bin, name, typ string, ca *CA, opts Options) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "vtgl-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(templateDir, "data"), filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("copy template: %v: %s", err, out)
	}
	s := &Server{Name: name, Type: typ, Host: "127.0.0.1", Dir: dir, ServerID: nextServerID()}
	extra := opts.ExtraArgs
	if ca != nil {
		cert, key := ca.Issue(t, dir)
		extra = append([]string{"--ssl-ca=" + ca.File, "--ssl-cert=" + cert, "--ssl-key=" + key}, extra...)
		if opts.RequireSecureTransport {
			extra = append(extra, "--require-secure-transport=ON")
		}
		s.tlsKey = ca.driverKey
	}
	for attempt := 0; ; attempt++ {
		if s.Port, err = FreePort(); err != nil {
			t.Fatal(err)
		}
		s.args = serverArgs(s, extra)
		if err = s.start(bin); err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("start %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		s.stop(syscall.SIGTERM)
		if !t.Failed() || os.Getenv("TESTCLUSTER_KEEP") == "" {
			os.RemoveAll(dir)
		} else {
			t.Logf("kept datadir of %s: %s", name, dir)
		}
	})
	return s
}

func (s *Server) start(bin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(bin, s.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "err.log"))
			return fmt.Errorf("mariadbd exited: %s", tail(log, 1500))
		default:
		}
		if s.ping() == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd.Process.Kill()
	return errors.New("mariadbd did not accept logins within 30s")
}

func (s *Server) ping() error {
	dsn := "root:" + RootPassword + "@unix(" + s.Socket() + ")/?timeout=1s"
	if s.Name == "template" {
		dsn = "root@unix(" + s.Socket() + ")/?timeout=1s"
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Stop shuts the server down cleanly (SIGTERM) and waits for it.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

// Restart starts a stopped server again on the same port and datadir.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	bin := Require(t)
	if err := s.start(bin); err != nil {
		t.Fatalf("restart %s: %v", s.Name, err)
	}
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
