package proxy

import (
	"bytes"
	"context"
	"crypto/sha1"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

func TestProtocolFeatures(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.QueryTimeout = 2 * time.Second })

	t.Run("client collation reaches the backend", func(t *testing.T) {
		db := e.open(t, "app", "commerce", "collation=latin1_swedish_ci")
		db.SetMaxOpenConns(1)
		got := queryStrings(t, db, "select @@character_set_client, @@collation_connection")
		if got[0][0] != "latin1" || got[0][1] != "latin1_swedish_ci" {
			t.Fatalf("backend sees %v", got)
		}
		plain := e.open(t, "app", "commerce")
		if got := queryStrings(t, plain, "select @@collation_connection"); got[0][0] != "utf8mb4_general_ci" {
			t.Fatalf("default client sees %v", got)
		}
	})

	t.Run("COM_FIELD_LIST", func(t *testing.T) {
		c, err := client.Connect(e.addr, "app", "secret", "commerce")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fields, err := c.FieldList("product", "")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range fields {
			names = append(names, string(f.Name))
		}
		if strings.Join(names, ",") != "sku,description,price" {
			t.Fatalf("fields = %v", names)
		}
		if _, err := c.FieldList("nope", ""); err == nil {
			t.Fatal("field list of a missing table succeeded")
		}
		// The connection is still in sync afterwards.
		if r, err := c.Execute("select 1"); err != nil || r.RowNumber() != 1 {
			t.Fatalf("after field list: %v", err)
		}
	})

	t.Run("LOAD DATA LOCAL INFILE", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "orders.csv")
		var buf bytes.Buffer
		for i := 1; i <= 1000; i++ {
			buf.WriteString("SKU-LD,")
			buf.WriteString(strings.Repeat("x", 10))
			buf.WriteString(",7\n")
		}
		// Distinct keys: description carries the row number.
		buf.Reset()
		for i := 1; i <= 1000; i++ {
			buf.WriteString("LD-" + itoa(uint64(i)) + ",loaded,7\n")
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		mysql.RegisterLocalFile(path)
		db := e.open(t, "app", "commerce")
		res, err := db.Exec("LOAD DATA LOCAL INFILE '" + path + "' INTO TABLE commerce.product FIELDS TERMINATED BY ','")
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1000 {
			t.Fatalf("loaded %d rows", n)
		}
		if got := queryStrings(t, db, "select count(*) from product where description = 'loaded'"); got[0][0] != "1000" {
			t.Fatalf("count = %v", got)
		}
	})

	t.Run("long data in prepared statements", func(t *testing.T) {
		// A tiny maxAllowedPacket makes the driver send big parameters as COM_STMT_SEND_LONG_DATA.
		db := e.open(t, "app", "commerce", "maxAllowedPacket=4096")
		if _, err := db.Exec("create table blobs (id int primary key, body mediumblob)"); err != nil {
			t.Fatal(err)
		}
		big := strings.Repeat("long-data-", 1000)
		if _, err := db.Exec("insert into blobs values (?, ?)", 1, big); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := db.QueryRow("select body from blobs where id = ?", 1).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != big {
			t.Fatalf("long data round trip: got %d bytes, want %d", len(got), len(big))
		}
	})

	t.Run("temporary tables keep their connection", func(t *testing.T) {
		db := e.open(t, "app", "commerce")
		db.SetMaxOpenConns(1)
		if _, err := db.Exec("create temporary table tmp_x (a int)"); err != nil {
			t.Fatal(err)
		}
		// Other sessions churn the pool meanwhile.
		other := e.open(t, "app", "commerce")
		for i := 0; i < 20; i++ {
			if _, err := other.Exec("select 1"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("insert into tmp_x values (?)", i); err != nil {
				t.Fatal(err)
			}
		}
		if got := queryStrings(t, db, "select count(*) from tmp_x"); got[0][0] != "20" {
			t.Fatalf("temp table rows = %v", got)
		}
	})

	t.Run("statement timeout kills the backend query", func(t *testing.T) {
		db := e.open(t, "app", "commerce")
		start := time.Now()
		_, err := db.Exec("select sleep(20)")
		if time.Since(start) > 10*time.Second {
			t.Fatalf("timeout did not stop the query (took %s)", time.Since(start))
		}
		// MariaDB answers a killed SLEEP with 1 (no error) or 1317: both end the statement early.
		if err != nil && mysqlCode(err) != 1317 && mysqlCode(err) != 3024 {
			t.Fatalf("unexpected error %v", err)
		}
	})

	_ = testcluster.RootPassword
}

func TestClientDisconnectAndLoginLimit(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.MaxLoginFailures = 3 })
	t.Run("client disconnect kills its backend query", func(t *testing.T) {
		c, err := client.Connect(e.addr, "app", "secret", "commerce")
		if err != nil {
			t.Fatal(err)
		}
		raw := c.Conn.Conn // net.Conn is safe to close from another goroutine; client.Conn is not
		go func() { _, _ = c.Execute("select sleep(30), 'disconnect-marker'") }()
		time.Sleep(1500 * time.Millisecond)
		raw.Close()
		// No statement timeout here: only the disconnect can end the 30 s sleep early.
		admin, _ := sql.Open("mysql", e.commerce.Primary.DSN(""))
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		for {
			var n int
			if err := admin.QueryRowContext(ctx, "select count(*) from information_schema.processlist where info like '%disconnect-marker%' and info not like '%processlist%'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			if ctx.Err() != nil {
				t.Fatal("backend query still running after the client left")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("failed logins are rate limited per address", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			bad, _ := sql.Open("mysql", "app:wrong@tcp("+e.addr+")/")
			if err := bad.Ping(); mysqlCode(err) != 1045 {
				t.Fatalf("attempt %d: %v", i, err)
			}
			bad.Close()
		}
		good, _ := sql.Open("mysql", "app:secret@tcp("+e.addr+")/")
		defer good.Close()
		if err := good.Ping(); mysqlCode(err) != 1129 {
			t.Fatalf("after 3 failures a login got %v, want 1129", err)
		}
	})
}

func TestChangeUser(t *testing.T) {
	e := startEnv(t)
	c, err := client.Connect(e.addr, "app", "secret", "customer")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Execute("create temporary table tmp_cu (a int)"); err != nil {
		t.Fatal(err)
	}
	// COM_CHANGE_USER: [0x11] user NUL, auth (1-byte length + native scramble), db NUL, charset (2), plugin NUL.
	// go-mysql's client has no ChangeUser; build the packet with the server's scramble-free
	// path: an empty password user would be simplest, so use the 'ro' user via auth switch.
	pkt := []byte{0x11}
	pkt = append(pkt, "ro\x00"...)
	pkt = append(pkt, 0) // empty auth response: the server answers with an auth switch
	pkt = append(pkt, "commerce\x00"...)
	pkt = append(pkt, 45, 0)
	pkt = append(pkt, "mysql_native_password\x00"...)
	c.ResetSequence()
	if err := c.WritePacket(append(make([]byte, 4), pkt...)); err != nil {
		t.Fatal(err)
	}
	resp, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	if resp[0] != 0xfe { // auth switch request with a fresh scramble
		t.Fatalf("expected an auth switch, got % x", resp[:min(len(resp), 8)])
	}
	scramble := resp[1+len("mysql_native_password")+1:]
	if n := len(scramble); n > 0 && scramble[n-1] == 0 {
		scramble = scramble[:n-1]
	}
	if err := c.WritePacket(append(make([]byte, 4), nativeScramble("secret", scramble)...)); err != nil {
		t.Fatal(err)
	}
	ok, err := c.ReadPacket()
	if err != nil || ok[0] != 0x00 {
		t.Fatalf("change user: % x %v", ok, err)
	}
	r, err := c.Execute("select database()")
	if err != nil {
		t.Fatal(err)
	}
	if db, _ := r.GetString(0, 0); db != "commerce" {
		t.Fatalf("database after change user = %q", db)
	}
	// The new session does not see the old one's temporary table, and 'ro' may not use customer.
	if _, err := c.Execute("select * from tmp_cu"); err == nil {
		t.Fatal("temporary table survived COM_CHANGE_USER")
	}
	if _, err := c.Execute("select * from customer.customer"); err == nil || !strings.Contains(err.Error(), "1044") {
		t.Fatalf("ro reached customer: %v", err)
	}
}

// nativeScramble is mysql_native_password's client response.
func nativeScramble(password string, scramble []byte) []byte {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	x := sha1.New()
	x.Write(scramble)
	x.Write(h2[:])
	h3 := x.Sum(nil)
	for i := range h3 {
		h3[i] ^= h1[i]
	}
	return h3
}

// TestBackendConnectionLoss: pooled connections killed on the server (a restart, an idle
// timeout) cost a read nothing and a write a clean error; a transaction that loses its
// connection fails its later statements and COMMIT instead of silently starting over.
func TestBackendConnectionLoss(t *testing.T) {
	e := startEnv(t)
	db := e.open(t, "app", "customer")
	db.SetMaxOpenConns(1)
	root := e.customer.Primary.Open(t, "")
	killAll := func() {
		rows, err := root.Query("select id from information_schema.processlist where user = 'root' and id <> connection_id() and command <> 'Binlog Dump'")
		if err != nil {
			t.Fatal(err)
		}
		var ids []int
		for rows.Next() {
			var id int
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			root.Exec(fmt.Sprintf("KILL %d", id))
		}
	}
	if _, err := db.Exec("insert into corder(customer_id, sku, price) values (1, 'loss', 1)"); err != nil {
		t.Fatal(err)
	}
	killAll()
	if got := queryStrings(t, db, "select count(*) from corder where sku = 'loss'"); got[0][0] != "1" {
		t.Fatalf("read after the pool's connections died: %v", got)
	}
	killAll()
	_, err := db.Exec("insert into corder(customer_id, sku, price) values (1, 'loss-2', 1)")
	if mysqlCode(err) != 2013 {
		t.Fatalf("write on a dead pooled connection: %v (want a clean 2013)", err)
	}
	// The client connection is still in sync and usable.
	if got := queryStrings(t, db, "select 1"); got[0][0] != "1" {
		t.Fatal("client unusable after a backend failure")
	}

	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("insert into corder(customer_id, sku, price) values (1, 'lost-tx', 1)"); err != nil {
		t.Fatal(err)
	}
	killAll()
	if _, err := tx.Exec("insert into corder(customer_id, sku, price) values (1, 'lost-tx', 2)"); err == nil {
		t.Fatal("a statement ran after its transaction's connection was lost")
	}
	if _, err := tx.Exec("insert into corder(customer_id, sku, price) values (1, 'lost-tx', 3)"); mysqlCode(err) != 2013 {
		t.Fatalf("later statement in the lost transaction: %v", err)
	}
	if err := tx.Commit(); mysqlCode(err) != 2013 {
		t.Fatalf("COMMIT of a lost transaction: %v", err)
	}
	if got := queryStrings(t, db, "select count(*) from corder where sku = 'lost-tx'"); got[0][0] != "0" {
		t.Fatalf("rows of the lost transaction: %v", got)
	}
}
