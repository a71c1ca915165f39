package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/router"
)

// metaEnv is a proxy in front of one MariaDB primary (keyspace meta on database meta),
// for comparing what a client sees through vtgate-lite with what it sees directly.
type metaEnv struct {
	server *testcluster.Server
	proxy  *Proxy
	addr   string
}

func startMetaEnv(t *testing.T) *metaEnv {
	t.Helper()
	cl := testcluster.Start(t, testcluster.Options{Databases: []string{"meta"}})
	cl.Primary.Exec(t,
		"CREATE TABLE meta.doc (id INT PRIMARY KEY, j JSON, pt POINT, g GEOMETRY, s VARCHAR(3), n INT)",
		`INSERT INTO meta.doc VALUES (1, '{"a": [1, 2]}', ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('LINESTRING(0 0, 1 1)'), 'abc', 7)`,
		"CREATE PROCEDURE meta.p_out(IN a INT, OUT b INT) BEGIN SET b = a * 2; END",
		"CREATE PROCEDURE meta.p_inout(INOUT x INT, OUT y VARCHAR(10)) BEGIN SELECT x AS seen; SET x = x + 1, y = 'done'; END")
	s := &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{}}
	s.AddTable("meta", "doc")
	holder, err := router.NewHolder(map[string]*router.Keyspace{"meta": cl.Keyspace("meta", "meta")}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]*wire.User{"app": {Name: "app", Password: "secret"}}
	p, err := New(Config{
		Routing:       holder,
		Users:         func(n string) (*wire.User, bool) { u, ok := users[n]; return u, ok },
		ServerVersion: "10.11.0-MariaDB-vtgate-lite",
		PoolSize:      4,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Serve(ctx, l); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("proxy did not stop")
		}
		p.Close()
	})
	return &metaEnv{server: cl.Primary, proxy: p, addr: l.Addr().String()}
}

// pair is one raw connection through vtgate-lite and one directly to the server, both
// with the same capabilities and default schema.
func (e *metaEnv) pair(t *testing.T, caps, ext uint32) (via, direct *rawConn) {
	t.Helper()
	via = dialRawConn(t, e.addr, "app", "secret", "meta", caps, ext)
	direct = dialRawConn(t, e.server.Addr(), "root", testcluster.RootPassword, "meta", caps, ext)
	return via, direct
}

// sameResponse fails unless the two responses are byte-equal, packet by packet.
func sameResponse(t *testing.T, what string, via, direct [][]byte) {
	t.Helper()
	if len(via) != len(direct) {
		t.Fatalf("%s: %d packets through vtgate-lite, %d directly:\nvia    %q\ndirect %q", what, len(via), len(direct), via, direct)
	}
	for i := range via {
		if !bytes.Equal(via[i], direct[i]) {
			t.Fatalf("%s: packet %d differs:\nvia    %q\ndirect %q", what, i, via[i], direct[i])
		}
	}
}

// sameSequence runs the statements through vtgate-lite, then directly (they may write the
// same rows), and compares each response.
func sameSequence(t *testing.T, via, direct *rawConn, stmts []string) {
	t.Helper()
	var v [][][]byte
	for _, q := range stmts {
		v = append(v, via.query(q))
	}
	for i, q := range stmts {
		sameResponse(t, q, v[i], direct.query(q))
	}
}

func TestMetadataAndStatusAreTheBackends(t *testing.T) {
	testcluster.Require(t)
	e := startMetaEnv(t)

	t.Run("extended metadata of JSON and GEOMETRY columns", func(t *testing.T) {
		via, direct := e.pair(t, rawConnCaps, wire.MariaDBCapExtendedMetadata)
		if via.extCaps&wire.MariaDBCapExtendedMetadata == 0 || via.caps&wire.CapLongPassword != 0 {
			t.Fatalf("vtgate-lite does not offer extended metadata: caps %#x ext %#x", via.caps, via.extCaps)
		}
		if direct.extCaps&wire.MariaDBCapExtendedMetadata == 0 {
			t.Fatalf("the server does not offer extended metadata (ext %#x)", direct.extCaps)
		}
		const q = "SELECT id, j, pt, g FROM doc"
		v, d := via.query(q), direct.query(q)
		sameResponse(t, "text protocol", v, d)
		// Not vacuous: the definitions carry the extended type info.
		for _, want := range []string{"json", "point"} {
			if !bytes.Contains(bytes.Join(v[1:5], nil), []byte(want)) {
				t.Fatalf("column definitions lack extended type info %q: %q", want, v[1:5])
			}
		}
		vid, vp := via.prepare(q)
		did, dp := direct.prepare(q)
		binary.LittleEndian.PutUint32(vp[0][1:], 0) // statement ids are each side's own
		binary.LittleEndian.PutUint32(dp[0][1:], 0)
		sameResponse(t, "prepare", vp, dp)
		sameResponse(t, "execute", via.execute(vid), direct.execute(did))
		// The proxy's own result sets have the format too (an empty extended info).
		if r := via.query("SELECT DATABASE()"); r[0][0] == 0xff {
			t.Fatalf("SELECT DATABASE(): %q", r)
		}
		sameResponse(t, "after", via.query("SELECT j FROM doc"), direct.query("SELECT j FROM doc"))
	})

	t.Run("without extended metadata", func(t *testing.T) {
		via, direct := e.pair(t, rawConnCaps, 0)
		v, d := via.query("SELECT id, j, pt FROM doc"), direct.query("SELECT id, j, pt FROM doc")
		sameResponse(t, "text protocol", v, d)
		if bytes.Contains(bytes.Join(v[1:4], nil), []byte("json")) {
			t.Fatalf("extended type info sent to a client that did not ask: %q", v[1:4])
		}
	})

	t.Run("warnings count", func(t *testing.T) {
		for _, ext := range []uint32{0, wire.MariaDBCapExtendedMetadata} {
			via, direct := e.pair(t, rawConnCaps, ext)
			sameSequence(t, via, direct, []string{
				"SET sql_mode = ''",
				"INSERT INTO doc (id, s) VALUES (2, 'truncated')", // 1265: data truncated
				"UPDATE doc SET s = 'toolong', n = 'x' WHERE id = 2",
				"SELECT 1/0, CAST('1x' AS SIGNED)",
				"SHOW WARNINGS",
				"DELETE FROM doc WHERE id = 2",
			})
		}
	})

	t.Run("affected rows and found rows", func(t *testing.T) {
		for _, foundRows := range []bool{false, true} {
			via, direct := e.pair(t, rawConnCaps|map[bool]uint32{true: wire.CapFoundRows}[foundRows], 0)
			sameSequence(t, via, direct, []string{
				"UPDATE doc SET n = n WHERE id = 1", // matches 1, changes 0
				"UPDATE doc SET n = n + 1 WHERE id = 1",
				"UPDATE doc SET n = n - 1 WHERE id = 1",
			})
		}
		// And with a driver: go-sql-driver's clientFoundRows.
		for _, tc := range []struct {
			params string
			want   int64
		}{{"", 0}, {"clientFoundRows=true", 1}} {
			dsn := fmt.Sprintf("app:secret@tcp(%s)/meta?timeout=5s&%s", e.addr, tc.params)
			directDSN := e.server.DSN("meta") + "&" + tc.params
			for name, dsn := range map[string]string{"vtgate-lite": dsn, "direct": directDSN} {
				db, err := sql.Open("mysql", dsn)
				if err != nil {
					t.Fatal(err)
				}
				res, err := db.Exec("UPDATE doc SET n = n WHERE id = 1")
				if err != nil {
					t.Fatal(err)
				}
				if n, _ := res.RowsAffected(); n != tc.want {
					t.Errorf("%s %q: rows affected %d, want %d", name, tc.params, n, tc.want)
				}
				db.Close()
			}
		}
	})

	t.Run("prepared CALL with OUT parameters", func(t *testing.T) {
		via, direct := e.pair(t, rawConnCaps, 0)
		for _, q := range []string{"CALL p_out(?, ?)", "CALL p_inout(?, ?)"} {
			vid, vp := via.prepare(q)
			did, dp := direct.prepare(q)
			binary.LittleEndian.PutUint32(vp[0][1:], 0)
			binary.LittleEndian.PutUint32(dp[0][1:], 0)
			sameResponse(t, "prepare "+q, vp, dp)
			v, d := via.execute(vid, 21, nil), direct.execute(did, 21, nil)
			sameResponse(t, "execute "+q, v, d)
			// Not vacuous: an OUT-parameter result set (SERVER_PS_OUT_PARAMS) then the OK.
			sawOut := false
			for _, p := range v {
				if p[0] == 0xfe && len(p) < 9 && binary.LittleEndian.Uint16(p[3:])&wire.StatusPSOutParams != 0 {
					sawOut = true
				}
			}
			if !sawOut || v[len(v)-1][0] != 0x00 {
				t.Fatalf("execute %s: no OUT-parameter result set before the final OK: %q", q, v)
			}
			// Executed again on the same statement (drivers do).
			sameResponse(t, "execute again "+q, via.execute(vid, 1, nil), direct.execute(did, 1, nil))
		}
		// A client without CLIENT_PS_MULTI_RESULTS (go-sql-driver) gets what the server
		// gives such a client: no OUT-parameter result set.
		viaNo, directNo := e.pair(t, rawConnCaps&^wire.CapPSMultiResults, 0)
		for _, q := range []string{"CALL p_out(?, ?)", "CALL p_inout(?, ?)"} {
			vid, _ := viaNo.prepare(q)
			did, _ := directNo.prepare(q)
			v, d := viaNo.execute(vid, 21, nil), directNo.execute(did, 21, nil)
			sameResponse(t, "without PS_MULTI_RESULTS: execute "+q, v, d)
			for _, p := range v {
				if p[0] == 0xfe && len(p) < 9 && binary.LittleEndian.Uint16(p[3:])&wire.StatusPSOutParams != 0 {
					t.Fatalf("without PS_MULTI_RESULTS, execute %s sent OUT parameters: %q", q, v)
				}
			}
		}
		// CALL with a user variable as the OUT parameter, then reading it.
		vid, _ := via.prepare("CALL p_out(?, @x)")
		did, _ := direct.prepare("CALL p_out(?, @x)")
		sameResponse(t, "CALL p_out(?, @x)", via.execute(vid, 5), direct.execute(did, 5))
		sameResponse(t, "SELECT @x", via.query("SELECT @x"), direct.query("SELECT @x"))
	})

	t.Run("session tracking is refused at the handshake", func(t *testing.T) {
		// vtgate-lite answers USE and SET itself, so it does not offer CLIENT_SESSION_TRACK:
		// a client asking for it gets classic OK packets, as from a server without it.
		via := dialRawConn(t, e.addr, "app", "secret", "meta", rawConnCaps|wire.CapSessionTrack, 0)
		if via.caps&wire.CapSessionTrack != 0 {
			t.Fatalf("greeting offers CLIENT_SESSION_TRACK: %#x", via.caps)
		}
		for _, q := range []string{"USE meta", "SET time_zone = '+01:00'", "UPDATE doc SET n = n WHERE id = 1"} {
			r := via.query(q)
			if r[0][0] != 0x00 || okStatus(r[0])&wire.StatusSessionStateChange != 0 {
				t.Fatalf("%s: %q", q, r)
			}
		}
	})

	t.Run("a backend without extended metadata withdraws the offer", func(t *testing.T) {
		e.proxy.backendGreeted(wire.MariaDBCapExtendedMetadata) // a backend that has it: no change
		if c := dialRawConn(t, e.addr, "app", "secret", "meta", rawConnCaps, 0); c.extCaps != wire.MariaDBCapExtendedMetadata {
			t.Fatalf("offer %#x", c.extCaps)
		}
		e.proxy.backendGreeted(0) // a MySQL server, or MariaDB before 10.5
		c := dialRawConn(t, e.addr, "app", "secret", "meta", rawConnCaps, wire.MariaDBCapExtendedMetadata)
		if c.extCaps != 0 || c.caps&wire.CapLongPassword == 0 {
			t.Fatalf("still offered: caps %#x ext %#x", c.caps, c.extCaps)
		}
		// The client asked anyway (its reserved bytes mean nothing now): classic definitions.
		if r := c.query("SELECT j FROM doc"); bytes.Contains(r[1], []byte("json")) {
			t.Fatalf("extended metadata sent though not negotiated: %q", r[1])
		}
	})
}

func TestGreetingMariaDBCaps(t *testing.T) {
	greeting := func(caps uint16, ext uint32) []byte {
		g := append([]byte{10}, "10.11.6-MariaDB\x00"...)
		g = append(g, 1, 0, 0, 0)        // connection id
		g = append(g, "abcdefgh\x00"...) // scramble part 1, filler
		g = binary.LittleEndian.AppendUint16(g, caps)
		g = append(g, 45, 2, 0) // charset, status
		g = binary.LittleEndian.AppendUint16(g, 0x81bf)
		g = append(g, 21, 0, 0, 0, 0, 0, 0) // auth data length, filler
		g = binary.LittleEndian.AppendUint32(g, ext)
		return append(g, "ijklmnopqrst\x00mysql_native_password\x00"...)
	}
	if got := greetingMariaDBCaps(greeting(0xf7fe, 0x1f)); got != 0x1f {
		t.Fatalf("MariaDB greeting: %#x", got)
	}
	if got := greetingMariaDBCaps(greeting(0xf7ff, 0x1f)); got != 0 {
		t.Fatalf("greeting with CLIENT_MYSQL: %#x", got)
	}
	for _, g := range [][]byte{nil, {9}, greeting(0xf7fe, 8)[:30]} {
		if got := greetingMariaDBCaps(g); got != 0 {
			t.Fatalf("short greeting %q: %#x", g, got)
		}
	}
}

// TestBackendExtendedMetadataDial: dialBackend asks for MariaDB extended metadata over
// plain TCP and over TLS (where the capabilities travel in the SSL request, the only
// client packet go-mysql writes in the clear), and the server's column definitions then
// carry it; without ExtMetadata they do not.
func TestBackendExtendedMetadataDial(t *testing.T) {
	testcluster.Require(t)
	cl := testcluster.Start(t, testcluster.Options{Databases: []string{"meta"}, TLS: true})
	cl.Primary.Exec(t, "CREATE TABLE meta.doc (id INT PRIMARY KEY, j JSON)")
	pem, err := os.ReadFile(cl.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	for _, tc := range []struct {
		name string
		tls  *tls.Config
		ext  bool
	}{
		{"plain", nil, true},
		{"tls", &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, true},
		{"tls without", &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var greeted uint32
			b, err := dialBackend(context.Background(), dialOptions{Addr: cl.Primary.Addr(), User: "root",
				Password: testcluster.RootPassword, Database: "meta", TLS: tc.tls, ExtMetadata: tc.ext, Poller: true,
				Greeted: func(c uint32) { greeted = c }})
			if err != nil {
				t.Fatal(err)
			}
			defer b.close()
			if greeted&wire.MariaDBCapExtendedMetadata == 0 || b.extMeta != tc.ext {
				t.Fatalf("greeting ext %#x, negotiated %v", greeted, b.extMeta)
			}
			var defs [][]byte
			if err := b.command(comQueryPayload(nil, "SELECT j FROM doc")); err != nil {
				t.Fatal(err)
			}
			for eofs := 0; eofs < 2; {
				p, err := b.readPacket()
				if err != nil {
					t.Fatal(err)
				}
				if p[0] == pktEOF && len(p) < 9 {
					eofs++
				}
				defs = append(defs, append([]byte(nil), p...))
			}
			if got := bytes.Contains(defs[1], []byte("json")); got != tc.ext {
				t.Fatalf("column definition %q: extended info %v, want %v", defs[1], got, tc.ext)
			}
			if c := parseColumnDef(defs[1], b.extMeta); c.name != "j" || c.typ != wire.TypeBlob {
				t.Fatalf("parseColumnDef: %+v", c)
			}
		})
	}
}

// TestNodeMySQL2ReadsJSON runs node's mysql2 (the driver of the issue) through vtgate-lite
// and directly: a JSON column comes back as an object in both protocols, as directly. It
// needs node and npm (mysql2 is installed into the user cache directory once).
func TestNodeMySQL2ReadsJSON(t *testing.T) {
	testcluster.Require(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: mysql2 check skipped")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not installed: mysql2 check skipped")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = t.TempDir()
	}
	dir := filepath.Join(cache, "vtgate-lite-node-check")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mysql2")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, "mysql2@3.24.6")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("npm install mysql2 failed (registry unreachable?): %v\n%s", err, out)
		}
	}
	script, err := filepath.Abs("testdata/mysql2_json.js")
	if err != nil {
		t.Fatal(err)
	}
	e := startMetaEnv(t)
	run := func(addr, user, password string) string {
		t.Helper()
		host, port, _ := net.SplitHostPort(addr)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, script, host, port, user, password, "meta")
		cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mysql2 against %s: %v\n%s", addr, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	direct := run(e.server.Addr(), "root", testcluster.RootPassword)
	via := run(e.addr, "app", "secret")
	const want = `{"text":"object","binary":"object","value":{"a":[1,2]}}`
	if direct != want {
		t.Fatalf("directly, mysql2 reads %s; want %s (the driver changed?)", direct, want)
	}
	if via != direct {
		t.Fatalf("through vtgate-lite mysql2 reads %s, directly %s", via, direct)
	}
}
