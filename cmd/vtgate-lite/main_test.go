package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/config"
	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

func freeAddr(t *testing.T) string {
	p, err := testcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

const configTmpl = `listen: %s
http_listen: %s
state_dir: %s
users:
  - {name: app, password: secret}
  - {name: admin, password: secret, admin: true}
keyspaces:
%s
vschema:
  commerce: vschema_commerce.json
`

func keyspaceYAML(name string, s *testcluster.Server) string {
	return fmt.Sprintf("  %s:\n    user: root\n    password: %s\n    primary: %s\n", name, testcluster.RootPassword, s.Addr())
}

// instance runs vtgate-lite's run() in-process until stop is called.
type instance struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, path string) *instance {
	t.Helper()
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- run(ctx, cfg, path, nil) }()
	waitMySQL(t, cfg.Listen)
	return in
}

func (in *instance) stop(t *testing.T) {
	t.Helper()
	in.cancel()
	t0 := time.Now()
	defer func() { t.Logf("stopped in %s", time.Since(t0)) }()
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("vtgate-lite did not stop within 30s")
	}
}

func waitMySQL(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		db, _ := sql.Open("mysql", "app:secret@tcp("+addr+")/?timeout=1s")
		err := db.Ping()
		db.Close()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("vtgate-lite on %s not ready: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func strs(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestBinaryWiring(t *testing.T) {
	commerce := testcluster.Start(t, testcluster.Options{Databases: []string{"commerce"}})
	customer := testcluster.Start(t, testcluster.Options{Databases: []string{"customer"}})
	commerce.Primary.Exec(t, "CREATE TABLE commerce.product (sku VARCHAR(10) PRIMARY KEY)", "INSERT INTO commerce.product VALUES ('a')")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vschema_commerce.json"), []byte(`{"tables": {"product": {}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	listen, httpAddr := freeAddr(t), freeAddr(t)
	path := filepath.Join(dir, "vtgate-lite.yaml")
	write := func(keyspaces string) {
		body := fmt.Sprintf(configTmpl, listen, httpAddr, filepath.Join(dir, "state"), keyspaces)
		if err := os.WriteFile(path+".tmp", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(keyspaceYAML("commerce", commerce.Primary))
	in := start(t, path)

	admin, _ := sql.Open("mysql", "admin:secret@tcp("+listen+")/")
	defer admin.Close()
	admin.SetMaxOpenConns(1)

	// A keyspace added to the file is served without a restart.
	write(keyspaceYAML("commerce", commerce.Primary) + keyspaceYAML("customer", customer.Primary))
	deadline := time.Now().Add(10 * time.Second)
	for got := strs(t, admin, "show keyspaces"); strings.Join(got, ",") != "commerce,customer"; got = strs(t, admin, "show keyspaces") {
		if time.Now().After(deadline) {
			t.Fatalf("SHOW KEYSPACES = %v after adding customer to the file", got)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// ALTER VSCHEMA applies at once and persists in state_dir across a restart.
	if _, err := admin.Exec("alter vschema add table customer.corder"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("use customer"); err != nil {
		t.Fatal(err)
	}
	if got := strs(t, admin, "show vschema tables"); strings.Join(got, ",") != "corder" {
		t.Fatalf("vschema tables = %v", got)
	}

	// /healthz and /metrics (after a routed statement, so a pool exists).
	strs(t, admin, "select sku from commerce.product")
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"vtgate_lite_queries_total", "vtgate_lite_client_connections", "vtgate_lite_pool_connections", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if resp, err := http.Get("http://" + httpAddr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz: %v %v", resp, err)
	}
	admin.Close()
	in.stop(t)

	in = start(t, path)
	defer in.stop(t)
	db, _ := sql.Open("mysql", "app:secret@tcp("+listen+")/customer")
	defer db.Close()
	if got := strs(t, db, "show vschema tables"); strings.Join(got, ",") != "corder" {
		t.Fatalf("after restart vschema tables = %v", got)
	}
	if got := strs(t, db, "select sku from commerce.product"); strings.Join(got, ",") != "a" {
		t.Fatalf("product = %v", got)
	}
	// Migration statements reach the engine, for admin users only.
	for _, q := range []string{"show migrations", "migrate tables product from commerce to customer", "vdiff customer.x"} {
		_, err := db.Exec(q)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1227 {
			t.Errorf("%s by a non-admin: %v, want 1227", q, err)
		}
	}
	adm, _ := sql.Open("mysql", "admin:secret@tcp("+listen+")/")
	defer adm.Close()
	if _, err := adm.Exec("migrate tables nosuch from commerce to customer"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("MIGRATE of a missing table: %v", err)
	}
	if _, err := adm.Exec("migrate tablez x"); err == nil || !strings.Contains(err.Error(), "1064") {
		t.Errorf("malformed MIGRATE: %v", err)
	}
	if got := strs(t, adm, "show migrations"); len(got) != 0 {
		t.Errorf("show migrations = %v", got)
	}
}

// The binary refuses an invalid config and names the key.
func TestInvalidConfigRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:1\nusers:\n  - {name: app, password: x}\nkeyspaces:\n  commerce:\n    user: root\n"), 0o644)
	bin := filepath.Join(dir, "vtgate-lite")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--config", path).CombinedOutput()
	if err == nil {
		t.Fatal("started with an invalid config")
	}
	if !strings.Contains(string(out), "keyspaces.commerce.primary") {
		t.Fatalf("error does not name the key: %s", out)
	}
}
