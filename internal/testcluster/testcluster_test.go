package testcluster

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestStartWithReplicas(t *testing.T) {
	c := Start(t, Options{Replicas: []string{"replica", "rdonly"}, Databases: []string{"commerce"}})
	c.Primary.Exec(t, "CREATE TABLE commerce.t (id INT PRIMARY KEY)", "INSERT INTO commerce.t VALUES (1),(2)")
	c.WaitReplicas(t, 10e9)
	for _, r := range c.Replicas {
		if got := r.QueryString(t, "SELECT COUNT(*) FROM commerce.t"); got != "2" {
			t.Fatalf("%s has %s rows, want 2", r.Name, got)
		}
	}
	if got := c.Primary.QueryString(t, "SELECT @@binlog_format"); got != "ROW" {
		t.Fatalf("binlog_format=%s", got)
	}
}

// Options.TLS + RequireSecureTransport: the helper's own connections and replication use TLS
// (verified against Cluster.CA), and a plain TCP login is refused: MariaDB 10.11 answers
// 1045 Access denied (it has no 3159 ER_SECURE_TRANSPORT_REQUIRED; MySQL and MariaDB 11 do).
func TestStartTLSRequired(t *testing.T) {
	c := Start(t, Options{Replicas: []string{"replica"}, Databases: []string{"commerce"}, TLS: true, RequireSecureTransport: true})
	if c.CA == "" {
		t.Fatal("Cluster.CA is empty")
	}
	c.Primary.Exec(t, "CREATE TABLE commerce.t (id INT PRIMARY KEY)", "INSERT INTO commerce.t VALUES (1)")
	c.WaitReplicas(t, 10e9)
	if got := c.Replicas[0].QueryString(t, "SELECT COUNT(*) FROM commerce.t"); got != "1" {
		t.Fatalf("replica has %s rows, want 1", got)
	}
	for _, s := range c.Servers() {
		if got := s.QueryString(t, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME='Ssl_cipher'"); got == "" {
			t.Errorf("%s: helper connection is not TLS (Ssl_cipher empty)", s.Name)
		}
	}
	if got := c.Replicas[0].QueryString(t, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='Slave_running'"); got != "ON" {
		t.Errorf("Slave_running=%s", got)
	}
	plain, err := sql.Open("mysql", "root:"+RootPassword+"@tcp("+c.Primary.Addr()+")/?timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var me *mysql.MySQLError
	if err := plain.Ping(); !errors.As(err, &me) || (me.Number != 1045 && me.Number != 3159) {
		t.Fatalf("plain TCP login: %v, want error 1045 or 3159", err)
	}
}

// Ports handed to servers are free and below the ephemeral range, so no client connection
// of a parallel test can take one between the check and the server's bind.
func TestFreePortBase(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		base, err := FreePortBase(100, 101, 102)
		if err != nil {
			t.Fatal(err)
		}
		if base < 10000 || base+102 >= low {
			t.Fatalf("base %d: ports %d-%d not below the ephemeral range (from %d)", base, base+100, base+102, low)
		}
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p < 10000 || p >= low {
			t.Fatalf("FreePort %d not below the ephemeral range (from %d)", p, low)
		}
	}
}

// StartEtcd answers; Freeze makes it silent, Thaw brings it back, Stop/Restart keep the data.
func TestEtcd(t *testing.T) {
	e := StartEtcd(t)
	if !e.healthy() {
		t.Fatal("not healthy after start")
	}
	e.Freeze(t)
	if e.healthy() {
		t.Fatal("frozen etcd answered")
	}
	e.Thaw(t)
	deadline := time.Now().Add(10 * time.Second)
	for !e.healthy() {
		if time.Now().After(deadline) {
			t.Fatal("not healthy after thaw")
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.Stop()
	if e.Running() || e.healthy() {
		t.Fatal("still answering after Stop")
	}
	e.Restart(t)
	if !e.Running() || !e.healthy() {
		t.Fatal("not healthy after Restart")
	}
}
