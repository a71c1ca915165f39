package proxy

import (
	"bytes"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// lockedBuffer is a log sink shared by the proxy's goroutines and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServerWideStatementsAreForAdmins: a user without admin tries every refused class of
// statement, in the text protocol and prepared, and gets the code a MariaDB account lacking
// the privilege gets; the backends are unchanged afterwards; each refusal is counted and
// logged; the admin user is not refused.
func TestServerWideStatementsAreForAdmins(t *testing.T) {
	logs := &lockedBuffer{}
	e := startEnv(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	primary := e.commerce.Primary
	maxConns := primary.QueryString(t, "select @@global.max_connections")
	logsBefore := binaryLogs(t, primary)
	plugins := primary.QueryString(t, "select count(*) from information_schema.plugins")
	dir := t.TempDir()
	outfile := filepath.Join(dir, "out.txt")

	app := e.open(t, "app", "commerce", "multiStatements=true")
	app.SetMaxOpenConns(1) // one client session: a refused SET sql_log_bin would stick to it
	replicaApp := e.open(t, "app", "commerce@replica")
	replicaApp.SetMaxOpenConns(1)
	// In NO_BACKSLASH_ESCAPES the server reads 'a\' as a string and runs what follows it.
	noEscapes := e.open(t, "app", "commerce")
	noEscapes.SetMaxOpenConns(1)
	if _, err := noEscapes.Exec("set sql_mode = 'NO_BACKSLASH_ESCAPES'"); err != nil {
		t.Fatal(err)
	}

	type denied struct {
		sql    string
		code   uint16
		reason string
		db     *sql.DB // nil: app at primary
	}
	cases := []denied{
		{sql: "SET GLOBAL max_connections = 499", code: 1227, reason: "global_variable"},
		{sql: "set @@global.max_connections = 498", code: 1227, reason: "global_variable"},
		{sql: "SET PERSIST max_connections = 497", code: 1227, reason: "global_variable"}, // not parsed by vitess
		{sql: "SET sql_log_bin = 0", code: 1227, reason: "binlog_variable"},
		{sql: "set @@session.sql_log_bin = OFF", code: 1227, reason: "binlog_variable"},
		{sql: "SET SESSION binlog_format = 'STATEMENT'", code: 1227, reason: "binlog_variable"},
		{sql: "SHUTDOWN", code: 1227, reason: "shutdown"},
		{sql: "CHANGE MASTER TO MASTER_HOST = '127.0.0.2'", code: 1227, reason: "replication"},
		{sql: "STOP SLAVE", code: 1227, reason: "replication", db: replicaApp},
		{sql: "RESET SLAVE ALL", code: 1227, reason: "replication", db: replicaApp},
		{sql: "START REPLICA", code: 1227, reason: "replication"},
		{sql: "RESET MASTER", code: 1227, reason: "replication"},
		{sql: "PURGE BINARY LOGS BEFORE NOW()", code: 1227, reason: "replication"},
		{sql: "SHOW BINLOG EVENTS", code: 1227, reason: "replication"},
		{sql: "FLUSH LOGS", code: 1227, reason: "flush"},
		{sql: "FLUSH TABLES", code: 1227, reason: "flush"},
		{sql: "INSTALL SONAME 'ha_archive'", code: 1142, reason: "plugin"},
		{sql: "UNINSTALL PLUGIN innodb", code: 1142, reason: "plugin"},
		{sql: "CREATE USER 'evil'@'%' IDENTIFIED BY 'pw'", code: 1227, reason: "account"},
		{sql: "ALTER USER 'root'@'localhost' IDENTIFIED BY 'x'", code: 1227, reason: "account"},
		{sql: "RENAME USER 'root'@'%' TO 'evil'@'%'", code: 1227, reason: "account"},
		{sql: "DROP USER 'root'@'%'", code: 1227, reason: "account"},
		{sql: "CREATE ROLE evilrole", code: 1227, reason: "account"},
		{sql: "GRANT ALL ON *.* TO 'evil'@'%' IDENTIFIED BY 'pw'", code: 1045, reason: "grant"},
		{sql: "REVOKE ALL ON *.* FROM 'root'@'%'", code: 1045, reason: "grant"},
		{sql: "SET PASSWORD FOR 'root'@'%' = PASSWORD('x')", code: 1044, reason: "password"},
		{sql: "SET PASSWORD = PASSWORD('x')", code: 1044, reason: "password"},
		{sql: "SELECT LOAD_FILE('/etc/hostname')", code: 1045, reason: "file"},
		{sql: "select sku from product where sku in (select load_file('/etc/hostname'))", code: 1045, reason: "file"},
		{sql: "update product set description = load_file('/etc/hostname') where sku = 'SKU-1001'", code: 1045, reason: "file"},
		{sql: "select 1 /*M!, load_file('/etc/hostname') */", code: 1045, reason: "file"}, // MariaDB runs /*M! */
		{sql: "SELECT 1 INTO OUTFILE '" + outfile + "'", code: 1045, reason: "file"},
		{sql: "select * from product into dumpfile '" + outfile + "'", code: 1045, reason: "file"},
		{sql: "LOAD DATA INFILE '/etc/hostname' INTO TABLE product", code: 1045, reason: "file"},
		{sql: "SELECT * FROM mysql.user", code: 1142, reason: "system_schema"},
		{sql: "select count(*) from product join mysql.db", code: 1142, reason: "system_schema"},
		{sql: "SHOW TABLES FROM mysql", code: 1044, reason: "system_schema"},
		{sql: "USE mysql", code: 1044, reason: "system_schema"},
		{sql: "SHOW GRANTS", code: 1044, reason: "system_schema"},
		{sql: "select * from _vt_lite.workflow", code: 1142, reason: "sidecar_schema"},
		{sql: "SET @_vt_lite_apply = NULL", code: 1227, reason: "writer_mark"},
		{sql: "select @_vt_lite_apply", code: 1227, reason: "writer_mark"},
		{sql: "PREPARE s FROM @q", code: 1227, reason: "dynamic_sql"},
		{sql: "PREPARE s FROM 'SELECT LOAD_FILE(\"/etc/hostname\")'", code: 1045, reason: "file"},
		{sql: `select 'a\'; set @@global.max_connections = 777 -- '`, code: 1227, reason: "global_variable", db: noEscapes},
		{sql: `select 'a\', load_file('/etc/hostname'), '' from product`, code: 1045, reason: "file", db: noEscapes},
	}
	counter := func(reason string) float64 { return testutil.ToFloat64(e.proxy.metrics.denied.WithLabelValues(reason)) }
	for _, c := range cases {
		db := c.db
		if db == nil {
			db = app
		}
		before := counter(c.reason)
		_, err := db.Exec(c.sql)
		if got := mysqlCode(err); got != c.code {
			t.Errorf("text %q: %v (code %d), want %d", c.sql, err, got, c.code)
		}
		st, err := db.Prepare(c.sql)
		if err == nil {
			st.Close()
		}
		if got := mysqlCode(err); got != c.code {
			t.Errorf("prepared %q: %v (code %d), want %d", c.sql, err, got, c.code)
		}
		if n := counter(c.reason) - before; n != 2 {
			t.Errorf("%q: vtgate_lite_denied_statements_total{reason=%q} rose by %v, want 2", c.sql, c.reason, n)
		}
	}

	t.Run("prepared with arguments, multi-statements, a schema at login", func(t *testing.T) {
		// interpolateParams is off: database/sql prepares a statement with arguments.
		if _, err := app.Query("SELECT LOAD_FILE(?)", "/etc/hostname"); mysqlCode(err) != 1045 {
			t.Errorf("prepared LOAD_FILE(?): %v, want 1045", err)
		}
		if _, err := app.Query("select sku from product where sku = ? and description = load_file('/etc/hostname')", "SKU-1001"); mysqlCode(err) != 1045 {
			t.Errorf("prepared select with LOAD_FILE in WHERE: %v, want 1045", err)
		}
		// Each statement is planned: the first runs, the refused one stops the rest.
		if _, err := app.Exec("select 1; SET GLOBAL max_connections = 499; SET GLOBAL max_connections = 498"); mysqlCode(err) != 1227 {
			t.Errorf("multi-statement: %v, want 1227", err)
		}
		if err := e.open(t, "app", "mysql").Ping(); mysqlCode(err) != 1044 {
			t.Errorf("connecting with schema mysql: %v, want 1044", err)
		}
	})

	t.Run("the backends are unchanged", func(t *testing.T) {
		if got := primary.QueryString(t, "select @@global.max_connections"); got != maxConns {
			t.Errorf("max_connections on the backend: %s, was %s", got, maxConns)
		}
		if got := e.customer.Primary.QueryString(t, "select @@global.max_connections"); got != maxConns {
			t.Errorf("max_connections on customer's backend: %s, want %s", got, maxConns)
		}
		if got := primary.QueryString(t, "select count(*) from mysql.user where user in ('evil', 'evilrole')"); got != "0" {
			t.Errorf("%s accounts evil/evilrole created on the backend", got)
		}
		if got := primary.QueryString(t, "select count(*) from mysql.user where user = 'root'"); got == "0" {
			t.Errorf("root dropped or renamed on the backend")
		}
		if _, err := os.Stat(outfile); !os.IsNotExist(err) {
			t.Errorf("INTO OUTFILE/DUMPFILE wrote %s: %v", outfile, err)
		}
		if got := binaryLogs(t, primary); got != logsBefore {
			t.Errorf("binary logs on the backend: %s, were %s (RESET MASTER / PURGE / FLUSH LOGS ran)", got, logsBefore)
		}
		if got := primary.QueryString(t, "select count(*) from information_schema.plugins"); got != plugins {
			t.Errorf("plugins on the backend: %s, were %s", got, plugins)
		}
		// SET sql_log_bin = 0 was refused: the session's writes still reach the binlog, so
		// the replica gets them. (QueryString as root also shows the root password works.)
		if _, err := app.Exec("insert into product values ('SKU-DENY', 'binlogged', 1)"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for e.commerce.Replicas[0].QueryString(t, "select count(*) from commerce.product where sku = 'SKU-DENY'") != "1" {
			if time.Now().After(deadline) {
				t.Fatal("the write after a refused SET sql_log_bin = 0 did not reach the replica")
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, r := range e.commerce.Replicas {
			if got := r.QueryString(t, "select variable_value from information_schema.global_status where variable_name = 'Slave_running'"); got != "ON" {
				t.Errorf("replication on %s stopped (STOP SLAVE / RESET SLAVE ran)", r.Name)
			}
		}
	})

	t.Run("refusals are logged with the user and reason", func(t *testing.T) {
		out := logs.String()
		for _, want := range []string{"user=app", "reason=global_variable", "reason=file", "reason=writer_mark", "code=1142"} {
			if !strings.Contains(out, want) {
				t.Errorf("log has no %q", want)
			}
		}
		if strings.Contains(out, "IDENTIFIED BY 'pw'") {
			t.Error("the log holds a statement's text (with its password)")
		}
	})

	t.Run("admins are not refused", func(t *testing.T) {
		admin := e.open(t, "admin", "commerce")
		admin.SetMaxOpenConns(1)
		total := 0.0
		for r := range reasonsOf(e) {
			total += r
		}
		if _, err := admin.Exec("SET GLOBAL max_connections = 321"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { primary.Exec(t, "SET GLOBAL max_connections = "+maxConns) })
		if got := primary.QueryString(t, "select @@global.max_connections"); got != "321" {
			t.Errorf("admin's SET GLOBAL: max_connections = %s on the backend, want 321", got)
		}
		if _, err := admin.Exec("SET GLOBAL max_connections = " + maxConns); err != nil {
			t.Fatal(err)
		}
		adminFile := filepath.Join(dir, "admin.txt")
		if _, err := admin.Exec("SELECT 'by admin' INTO OUTFILE '" + adminFile + "'"); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(adminFile); err != nil || strings.TrimSpace(string(b)) != "by admin" {
			t.Errorf("admin's INTO OUTFILE: %q, %v", b, err)
		}
		var f sql.NullString
		if err := admin.QueryRow("select load_file('/etc/hostname')").Scan(&f); err != nil || !f.Valid {
			t.Errorf("admin's LOAD_FILE: %v, %v", f, err)
		}
		if got := queryStrings(t, admin, "select count(*) from mysql.user where user = 'root'"); got[0][0] == "0" {
			t.Errorf("admin reads mysql.user: %v", got)
		}
		// A statement the parser rejects goes to the keyspace's server for an admin.
		if _, err := admin.Exec("PURGE BINARY LOGS BEFORE NOW() - INTERVAL 100 YEAR"); err != nil {
			t.Errorf("admin's PURGE BINARY LOGS (not parsed by vitess): %v", err)
		}
		if _, err := admin.Exec("FLUSH TABLES"); err != nil {
			t.Errorf("admin's FLUSH TABLES: %v", err)
		}
		if _, err := admin.Exec("USE mysql"); mysqlCode(err) != 1049 {
			t.Errorf("admin's USE mysql: %v, want 1049 (not a keyspace)", err)
		}
		after := 0.0
		for r := range reasonsOf(e) {
			after += r
		}
		if after != total {
			t.Errorf("admin statements counted as refusals: %v -> %v", total, after)
		}
	})
}

// reasonsOf yields each reason's refusal count.
func reasonsOf(e *env) func(yield func(float64) bool) {
	return func(yield func(float64) bool) {
		for _, c := range e.proxy.metrics.deniedBy {
			if !yield(testutil.ToFloat64(c)) {
				return
			}
		}
	}
}

// binaryLogs lists a server's binary log files.
func binaryLogs(t *testing.T, s *testcluster.Server) string {
	t.Helper()
	db := s.Open(t, "")
	rows := queryStrings(t, db, "SHOW BINARY LOGS")
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r[0]
	}
	return strings.Join(names, ",")
}
