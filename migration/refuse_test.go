package migration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

func TestMigrateRefusals(t *testing.T) {
	e := newEnv(t)
	e.createSchema()
	e.src.Primary.Exec(t,
		"CREATE TABLE commerce.nopk (a INT, b INT)",
		"CREATE TABLE commerce.nullu (a INT NULL, UNIQUE KEY (a))",
		"CREATE TABLE commerce.uk (a INT NOT NULL, b INT, UNIQUE KEY ua (a))",
		"INSERT INTO commerce.uk VALUES (1,1),(2,2)",
		"CREATE DATABASE customer_db",
		"CREATE TABLE customer_db.product (sku VARCHAR(20) PRIMARY KEY)")
	e.dst.Primary.Exec(t, "CREATE DATABASE customer_db", "CREATE TABLE customer_db.product (sku VARCHAR(20) PRIMARY KEY, description TEXT)", "INSERT INTO customer_db.product VALUES ('x', 'y')")
	e.start()
	cases := map[string]string{
		"MIGRATE TABLES nopk FROM commerce TO customer":                       "nopk has neither a primary key nor a unique key",
		"MIGRATE TABLES nullu FROM commerce TO customer":                      "nullu has neither a primary key nor a unique key",
		"MIGRATE TABLES customer FROM nowhere TO customer":                    "unknown source keyspace nowhere",
		"MIGRATE TABLES customer FROM commerce TO nowhere":                    "unknown target keyspace nowhere",
		"MIGRATE TABLES ghost FROM commerce TO customer":                      "commerce.ghost doesn't exist",
		"MIGRATE TABLES product FROM commerce TO customer":                    "customer.product already holds rows",
		"MIGRATE TABLES customer FROM commerce TO commerce":                   "both commerce",
		"MIGRATE TABLES customer FROM commerce TO customer COPY FROM REPLICA": "has no replica server",
	}
	for q, want := range cases {
		_, err := e.exec(q)
		var se *sqlerr.Error
		if err == nil || !errors.As(err, &se) || !strings.Contains(se.Message, want) {
			t.Errorf("%s: got %v, want an error containing %q", q, err, want)
		}
	}
	e.src.Primary.Exec(t, "SET GLOBAL binlog_format='STATEMENT'")
	if _, err := e.exec("MIGRATE TABLES customer FROM commerce TO customer"); err == nil || !strings.Contains(err.Error(), "binlog_format=STATEMENT") {
		t.Errorf("binlog_format STATEMENT: %v", err)
	}
	e.src.Primary.Exec(t, "SET GLOBAL binlog_format='ROW'", "SET GLOBAL binlog_row_image='MINIMAL'")
	if _, err := e.exec("MIGRATE TABLES customer FROM commerce TO customer"); err == nil || !strings.Contains(err.Error(), "binlog_row_image=MINIMAL") {
		t.Errorf("binlog_row_image MINIMAL: %v", err)
	}
	e.src.Primary.Exec(t, "SET GLOBAL binlog_row_image='FULL'")
	if len(e.holder.Load().Rules()) != 0 {
		t.Errorf("a refused MIGRATE TABLES left routing rules: %v", e.holder.Load().Rules())
	}
	// A table with only a NOT NULL unique key is accepted and migrates.
	e.mustExec("MIGRATE TABLES uk FROM commerce TO customer")
	e.waitState("customer.commerce2customer", Running)
	e.src.Primary.Exec(t, "UPDATE commerce.uk SET a=3 WHERE a=1", "DELETE FROM commerce.uk WHERE a=2", "INSERT INTO commerce.uk VALUES (4,4)")
	e.caughtUp("commerce2customer")
	e.sameData("uk")
}

// TestOnDDL: ON DDL STOP stops in Error naming the statement; after the operator applies it to
// the target, MIGRATE START continues. ON DDL EXEC applies it by itself.
func TestOnDDL(t *testing.T) {
	e := newEnv(t)
	e.createSchema()
	e.fill(500)
	e.start()
	e.mustExec("MIGRATE TABLES customer FROM commerce TO customer")
	ref := "customer.commerce2customer"
	e.waitState(ref, Running)
	e.src.Primary.Exec(t, "ALTER TABLE commerce.customer ADD COLUMN extra INT NULL", "UPDATE commerce.customer SET extra=id WHERE id < 10")
	m := e.waitState(ref, Error)
	if !strings.Contains(m["message"], "ALTER TABLE commerce.customer ADD COLUMN extra") {
		t.Errorf("message: %v", m["message"])
	}
	// Crash and restart: still in Error (persisted).
	e.crash()
	e.start()
	e.waitState(ref, Error)
	e.dst.Primary.Exec(t, "ALTER TABLE "+dstDB+".customer ADD COLUMN extra INT NULL")
	e.mustExec("MIGRATE START " + ref)
	e.waitState(ref, Running)
	e.src.Primary.Exec(t, "UPDATE commerce.customer SET extra=-id WHERE id >= 10 AND id < 20")
	e.caughtUp("commerce2customer")
	e.sameData("customer")

	// Cancel (from Running) and migrate again with ON DDL EXEC.
	e.mustExec("MIGRATE CANCEL " + ref)
	e.mustExec("MIGRATE TABLES customer, corder FROM commerce TO customer WORKFLOW ex ON DDL EXEC")
	e.waitState("customer.ex", Running)
	e.src.Primary.Exec(t,
		"ALTER TABLE commerce.customer ADD COLUMN more VARCHAR(10) NULL DEFAULT 'd'",
		"UPDATE commerce.customer SET more='m' WHERE id < 50",
		"CREATE INDEX more_idx ON commerce.customer (more)",
		"ALTER TABLE commerce.corder DROP COLUMN qty",
		"INSERT INTO commerce.corder (order_id, sku, price) VALUES (99999, 'new', 1)")
	time.Sleep(300 * time.Millisecond)
	e.caughtUp("ex")
	m = e.waitState("customer.ex", Running)
	e.sameData("customer", "corder")
	if got := e.dst.Primary.QueryString(t, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='"+dstDB+"' AND INDEX_NAME='more_idx'"); got != "1" {
		t.Errorf("EXEC did not create the index on the target")
	}
	e.vdiffClean("customer.ex")
}

// TestThrottle: copying pauses while the source replica lags more than MaxSourceLag, says so,
// and resumes when it catches up.
func TestThrottle(t *testing.T) {
	e := newEnv(t, "replica")
	e.createSchema()
	e.fill(1000)
	e.src.WaitReplicas(t, 30*time.Second)
	r := e.src.Replicas[0]
	r.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY=4", "START SLAVE")
	e.src.Primary.Exec(t, "INSERT INTO commerce.product VALUES ('lag1', 'x')")
	time.Sleep(2500 * time.Millisecond) // the replica now lags ~2s+ behind
	e.cfg.MaxSourceLag = time.Second
	e.start()
	e.mustExec("MIGRATE TABLES customer FROM commerce TO customer")
	ref := "customer.commerce2customer"
	m := e.waitFor(ref, 20*time.Second, func(m map[string]string) bool { return strings.Contains(m["message"], "copy throttled") })
	t.Logf("while the replica lags: %v", m["message"])
	r.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY=0", "START SLAVE")
	e.waitState(ref, Running)
	e.src.WaitReplicas(t, 30*time.Second)
	e.caughtUp("commerce2customer")
	e.sameData("customer")
}
