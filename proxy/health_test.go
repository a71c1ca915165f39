package proxy

import (
	"github.com/vtgate-lite/vtgate-lite/router"
	"strings"
	"testing"
	"time"
)

// TestReplicaHealth: reads at a tablet type skip servers that are down, not replicating or
// lagging more than max_replica_lag, and fail with a clear error when none is left; they
// come back when the server does. Never a stale read beyond the bound.
func TestReplicaHealth(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.MaxReplicaLag = 2 * time.Second })
	replica, rdonly := e.commerce.Replicas[0], e.commerce.Replicas[1]
	db := e.open(t, "app", "commerce@replica")
	db.SetMaxOpenConns(1)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	readErr := func() error {
		_, err := db.Exec("select count(*) from product")
		return err
	}
	if err := readErr(); err != nil {
		t.Fatal(err)
	}

	// Replication stopped: the replica may be arbitrarily stale, so it is skipped.
	replica.Exec(t, "STOP SLAVE SQL_THREAD")
	waitFor("the stopped replica to be skipped", func() bool {
		err := readErr()
		return err != nil && strings.Contains(err.Error(), "no healthy replica server for keyspace commerce")
	})
	replica.Exec(t, "START SLAVE SQL_THREAD")
	waitFor("the replica to serve again", func() bool { return readErr() == nil })

	// Lagging beyond max_replica_lag: delay the replica's SQL thread, then write.
	replica.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 30", "START SLAVE")
	e.commerce.Primary.Exec(t, "INSERT INTO commerce.product VALUES ('LAG-1', 'x', 1)")
	waitFor("the lagging replica to be skipped", func() bool {
		err := readErr()
		return err != nil && strings.Contains(err.Error(), "lagging more than 2s")
	})
	replica.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 0", "START SLAVE")
	waitFor("the caught-up replica to serve again", func() bool { return readErr() == nil })
	if got := queryStrings(t, db, "select count(*) from product where sku = 'LAG-1'"); got[0][0] != "1" {
		t.Fatalf("read after catch-up: %v", got)
	}

	// A server that is down: reads at its type fail clearly, then recover after a restart.
	rdonly.Stop()
	if _, err := db.Exec("use commerce@rdonly"); err != nil {
		t.Fatal(err)
	}
	waitFor("the stopped rdonly to be skipped", func() bool {
		err := readErr()
		return err != nil && strings.Contains(err.Error(), "rdonly server for keyspace commerce")
	})
	rdonly.Restart(t)
	// It starts with replication off (--skip-slave-start): still skipped until it replicates.
	time.Sleep(1500 * time.Millisecond)
	if err := readErr(); err == nil {
		t.Fatal("a restarted server that is not replicating served reads")
	}
	rdonly.Exec(t, "START SLAVE")
	waitFor("the restarted rdonly to serve again", func() bool { return readErr() == nil })
	// Primary reads never depend on replica health.
	if _, err := db.Exec("use commerce"); err != nil {
		t.Fatal(err)
	}
	if err := readErr(); err != nil {
		t.Fatal(err)
	}
}

// TestDeadReplicaReadsMove: reads at a tablet type with two servers keep succeeding the
// moment one dies: the failed dial or dead pooled connection takes it out of rotation and
// the read goes to the other, without waiting for the health check.
func TestDeadReplicaReadsMove(t *testing.T) {
	e := startEnv(t)
	ks := e.holder.Load().Keyspaces()
	c := *ks["commerce"]
	c.Replicas = []router.Server{{Address: e.commerce.Replicas[0].Addr(), Type: router.Replica}, {Address: e.commerce.Replicas[1].Addr(), Type: router.Replica}}
	if _, err := e.holder.SetKeyspaces(map[string]*router.Keyspace{"commerce": &c, "customer": ks["customer"]}); err != nil {
		t.Fatal(err)
	}
	db := e.open(t, "app", "commerce@replica")
	for i := 0; i < 20; i++ { // warm both servers' pools
		if _, err := db.Exec("select count(*) from product"); err != nil {
			t.Fatal(err)
		}
	}
	e.commerce.Replicas[0].Kill()
	for i := 0; i < 200; i++ {
		if _, err := db.Exec("select count(*) from product"); err != nil {
			t.Fatalf("read %d after a replica died: %v", i, err)
		}
	}
}
