package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/config"
	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// fileFingerprint is the SHA-256 fingerprint of the certificate in a PEM file.
func fileFingerprint(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	return certFingerprint(tls.Certificate{Certificate: [][]byte{blk.Bytes}})
}

// TestAutoTLSFiles: without tls.cert, the first start writes a CA and a server certificate
// for localhost/127.0.0.1/the host name (keys 0600) and logs the fingerprint; later starts
// reuse them; a partial set is refused; auto_generate: false leaves TLS off; a configured
// certificate is used as before.
func TestAutoTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{StateDir: dir, TLS: config.TLS{AutoGenerate: true}}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))

	tc, err := clientTLS(cfg, log)
	if err != nil || tc == nil {
		t.Fatalf("clientTLS: %v %v", tc, err)
	}
	fp := fileFingerprint(t, filepath.Join(dir, autoCertFile))
	if got := certFingerprint(tc.Certificates[0]); got != fp {
		t.Errorf("offered certificate %s, file %s", got, fp)
	}
	if !strings.Contains(logBuf.String(), "generated a CA") || !strings.Contains(logBuf.String(), "sha256="+fp) {
		t.Errorf("log does not name the generated certificate's fingerprint %s:\n%s", fp, logBuf.String())
	}
	for f, mode := range map[string]os.FileMode{autoCAFile: 0o644, autoCAKeyFile: 0o600, autoCertFile: 0o644, autoCertKeyFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, st.Mode().Perm(), mode)
		}
	}

	// The certificate chains to ca.pem for every name a local client uses, for ten years.
	caPEM, _ := os.ReadFile(filepath.Join(dir, autoCAFile))
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	for _, name := range []string{"localhost", "127.0.0.1", "::1", host} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("verify for %q: %v", name, err)
		}
	}
	if years := leaf.NotAfter.Sub(leaf.NotBefore).Hours() / 24 / 365; years < 9.9 {
		t.Errorf("valid for %.1f years, want 10", years)
	}

	// A second start reuses the files.
	logBuf.Reset()
	tc2, err := clientTLS(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if got := certFingerprint(tc2.Certificates[0]); got != fp {
		t.Errorf("second start offers %s, want the first start's %s", got, fp)
	}
	if !strings.Contains(logBuf.String(), "generated earlier") || !strings.Contains(logBuf.String(), "sha256="+fp) {
		t.Errorf("second start's log:\n%s", logBuf.String())
	}

	// A partial set is an error, not a silent new CA.
	if err := os.Remove(filepath.Join(dir, autoCAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := clientTLS(cfg, log); err == nil || !strings.Contains(err.Error(), "but not "+autoCAKeyFile) {
		t.Errorf("partial set: %v", err)
	}

	// Switched off: no TLS, nothing written.
	off := t.TempDir()
	if tc, err := clientTLS(&config.Config{StateDir: off}, log); tc != nil || err != nil {
		t.Errorf("auto_generate off: %v %v", tc, err)
	}
	if ents, _ := os.ReadDir(off); len(ents) != 0 {
		t.Errorf("auto_generate off wrote %v", ents)
	}

	// A configured certificate wins over generation.
	conf := t.TempDir()
	certFile, keyFile := testcluster.NewCA(t).Issue(t, t.TempDir())
	logBuf.Reset()
	tc3, err := clientTLS(&config.Config{StateDir: conf, TLS: config.TLS{Cert: certFile, Key: keyFile, AutoGenerate: true}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := certFingerprint(tc3.Certificates[0]), fileFingerprint(t, certFile); got != want {
		t.Errorf("configured certificate not used: %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(conf, autoCertFile)); err == nil {
		t.Error("a certificate was generated although one is configured")
	}
}

// peerRecorder registers a go-sql-driver TLS config that skips verification (tls=skip-verify)
// but records the server certificate's fingerprint.
type peerRecorder struct {
	mu   sync.Mutex
	seen string
}

var tlsConfigSeq atomic.Int64

func (p *peerRecorder) register(t *testing.T, roots *x509.CertPool) string {
	t.Helper()
	name := fmt.Sprintf("autotls%d", tlsConfigSeq.Add(1))
	cfg := &tls.Config{InsecureSkipVerify: roots == nil, RootCAs: roots, ServerName: "127.0.0.1", //nolint:gosec // the test checks what is offered
		VerifyConnection: func(cs tls.ConnectionState) error {
			p.mu.Lock()
			p.seen = certFingerprint(tls.Certificate{Certificate: [][]byte{cs.PeerCertificates[0].Raw}})
			p.mu.Unlock()
			return nil
		}}
	if err := mysql.RegisterTLSConfig(name, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	return name
}

func sessionCipher(t *testing.T, db *sql.DB) string {
	t.Helper()
	var name, value string
	if err := db.QueryRow("SHOW STATUS LIKE 'Ssl_cipher'").Scan(&name, &value); err != nil {
		t.Fatalf("SHOW STATUS LIKE 'Ssl_cipher': %v", err)
	}
	return value
}

// TestAutoTLSClients: with no certificate configured, vtgate-lite offers TLS: a stock mariadb
// --ssl client and go-sql-driver with tls=skip-verify connect and see their own cipher in
// Ssl_cipher (a plain client sees none); ca.pem verifies the server; a restart offers the same
// certificate; a configured certificate is offered instead of a generated one.
func TestAutoTLSClients(t *testing.T) {
	mariadb, err := exec.LookPath("mariadb")
	if err != nil {
		t.Skip("the mariadb client is not installed")
	}
	commerce := testcluster.Start(t, testcluster.Options{Databases: []string{"commerce"}})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vschema_commerce.json"), []byte(`{"tables": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	listen, httpAddr := freeAddr(t), freeAddr(t)
	state := filepath.Join(dir, "state")
	writeConfig := func(extra string) string {
		path := filepath.Join(dir, "vtgate-lite.yaml")
		body := fmt.Sprintf(configTmpl, listen, httpAddr, state, keyspaceYAML("commerce", commerce.Primary)) + extra
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	open := func(t *testing.T, params string) *sql.DB {
		t.Helper()
		db, err := sql.Open("mysql", "app:secret@tcp("+listen+")/commerce?timeout=5s&"+params)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	cli := func(t *testing.T, args ...string) string {
		t.Helper()
		host, port, _ := strings.Cut(listen, ":")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		all := append([]string{"--no-defaults", "-h", host, "-P", port, "-uapp", "-psecret", "--batch", "--skip-column-names"}, args...)
		out, err := exec.CommandContext(ctx, mariadb, all...).CombinedOutput()
		if err != nil {
			t.Fatalf("mariadb %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	in := start(t, writeConfig(""))
	fp := fileFingerprint(t, filepath.Join(state, autoCertFile))

	out := cli(t, "--ssl", "--ssl-verify-server-cert=0", "-e", "SHOW STATUS LIKE 'Ssl_cipher'")
	if name, cipher, _ := strings.Cut(out, "\t"); name != "Ssl_cipher" || cipher == "" {
		t.Errorf("mariadb --ssl: %q, want a cipher", out)
	}
	if out := cli(t, "--ssl", "--ssl-ca="+filepath.Join(state, autoCAFile), "--ssl-verify-server-cert", "-e", "SELECT 1"); out != "1" {
		t.Errorf("mariadb verifying with ca.pem: %q", out)
	}
	if out := cli(t, "--skip-ssl", "-e", "SHOW STATUS LIKE 'Ssl_cipher'"); out != "Ssl_cipher" { // the empty value, trimmed
		t.Errorf("plain mariadb client: %q, want an empty cipher (it describes the client's connection)", out)
	}

	if c := sessionCipher(t, open(t, "tls=skip-verify")); c == "" {
		t.Error("go-sql-driver tls=skip-verify: empty Ssl_cipher")
	}
	if c := sessionCipher(t, open(t, "")); c != "" {
		t.Errorf("plain go-sql-driver connection: Ssl_cipher %q", c)
	}
	caPEM, _ := os.ReadFile(filepath.Join(state, autoCAFile))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	var verified peerRecorder
	if c := sessionCipher(t, open(t, "tls="+verified.register(t, roots))); c == "" || verified.seen != fp {
		t.Errorf("verified against ca.pem: cipher %q, certificate %s, want %s", c, verified.seen, fp)
	}
	in.stop(t)

	// A restart reuses the certificate.
	in = start(t, writeConfig(""))
	var again peerRecorder
	if c := sessionCipher(t, open(t, "tls="+again.register(t, nil))); c == "" || again.seen != fp {
		t.Errorf("after a restart: cipher %q, certificate %s, want the first start's %s", c, again.seen, fp)
	}
	in.stop(t)

	// A configured certificate is offered instead.
	certFile, keyFile := testcluster.NewCA(t).Issue(t, dir)
	in = start(t, writeConfig(fmt.Sprintf("tls: {cert: %s, key: %s}\n", certFile, keyFile)))
	var conf peerRecorder
	if c := sessionCipher(t, open(t, "tls="+conf.register(t, nil))); c == "" || conf.seen != fileFingerprint(t, certFile) {
		t.Errorf("configured certificate: cipher %q, offered %s, want %s", c, conf.seen, fileFingerprint(t, certFile))
	}
	in.stop(t)

	// tls.require with the generated certificate: plain clients are refused with 3159.
	path := writeConfig("tls: {require: true}\n")
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, path, nil) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("vtgate-lite did not stop within 30s")
		}
	}()
	secure := open(t, "tls=skip-verify")
	for deadline := time.Now().Add(15 * time.Second); secure.Ping() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("vtgate-lite with tls.require not ready: %v", secure.Ping())
		}
	}
	if c := sessionCipher(t, secure); c == "" {
		t.Error("tls.require: empty Ssl_cipher over TLS")
	}
	var me *mysql.MySQLError
	if _, err := open(t, "").Exec("SELECT 1"); !errors.As(err, &me) || me.Number != 3159 {
		t.Errorf("plain client with tls.require: %v, want 3159", err)
	}
}
