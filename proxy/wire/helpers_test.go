package wire

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

func init() {
	// go-sql-driver logs every connection the tests break on purpose.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
}

// testRSAKey is generated once: 2048-bit generation is slow under -race.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var testUsers = map[string]*User{
	"alice": {Name: "alice", Password: "secret"},
	"bob":   {Name: "bob", NativeHash: NativeHash("hunter2")},
	"nopw":  {Name: "nopw"},
	"admin": {Name: "admin", Password: "adm", Admin: true, Keyspaces: []string{"ks1"}},
}

func lookupTestUser(name string) (*User, bool) {
	u, ok := testUsers[name]
	return u, ok
}

// syncBuffer collects log output written from connection goroutines, which may outlive
// the test's own logging window.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	*Server
	addr string
	h    *testHandler
	logs *syncBuffer
}

// startServer runs a Server on 127.0.0.1 with the test users and handler; it is shut
// down when the test ends.
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	if cfg.Users == nil {
		cfg.Users = lookupTestUser
	}
	if cfg.RSAKey == nil {
		cfg.RSAKey = testRSAKey()
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newTestHandler()
	s, err := NewServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if c, cl := h.connected.Load(), h.closed.Load(); c != cl {
			t.Errorf("Connected called %d times, Closed %d times", c, cl)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testServer{Server: s, addr: l.Addr().String(), h: h, logs: logs}
}

// openDB opens a go-sql-driver pool to the test server; params are DSN parameters.
func (ts *testServer) openDB(t *testing.T, user, password, db, params string) *sql.DB {
	t.Helper()
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s?timeout=5s&readTimeout=30s&writeTimeout=30s", user, password, ts.addr, db)
	if params != "" {
		dsn += "&" + params
	}
	d, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// mysqlErr returns err's MySQL error number, or 0.
func mysqlErr(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// testTLS returns a server config with a fresh self-signed certificate for 127.0.0.1
// and the name of a go-sql-driver TLS config that trusts it.
func testTLS(t *testing.T) (*tls.Config, string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vtgate-lite test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	name := fmt.Sprintf("wiretest-%d", tlsNames.Add(1))
	if err := mysql.RegisterTLSConfig(name, client); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	server := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return server, name, client
}

var tlsNames atomic.Int64

// testHandler answers a small command language, enough to drive every wire feature.
type testHandler struct {
	connected atomic.Int32
	closed    atomic.Int32

	mu        sync.Mutex
	closedIDs map[uint32]int

	entered  chan struct{} // "block" signals here when it starts
	release  chan struct{} // ... and waits for this
	waitGone chan bool     // result of WaitClientGone in "waitgone"
}

func newTestHandler() *testHandler {
	return &testHandler{
		closedIDs: make(map[uint32]int),
		entered:   make(chan struct{}, 16),
		release:   make(chan struct{}),
		waitGone:  make(chan bool, 1),
	}
}

func (h *testHandler) Connected(c *Conn) error {
	h.connected.Add(1)
	if c.DB == "nodb" {
		return sqlerr.BadDB(c.DB)
	}
	return nil
}

func (h *testHandler) Closed(c *Conn) {
	h.closed.Add(1)
	h.mu.Lock()
	h.closedIDs[c.ID]++
	h.mu.Unlock()
}

// typedCols and typedRow cover every binary encoding WriteResult implements.
var typedCols = []Column{
	{Name: "s"},
	{Name: "i64", Type: TypeLongLong},
	{Name: "i32", Type: TypeLong},
	{Name: "i8", Type: TypeTiny},
	{Name: "i16", Type: TypeShort},
	{Name: "u64", Type: TypeLongLong, Flags: FlagUnsigned},
	{Name: "dbl", Type: TypeDouble},
	{Name: "flt", Type: TypeFloat},
	{Name: "nul"},
	{Name: "dt", Type: TypeDateTime, Decimals: 3},
	{Name: "d", Type: TypeDate},
	{Name: "tm", Type: TypeTime},
	{Name: "yr", Type: TypeYear},
	{Name: "dec", Type: TypeNewDecimal},
	{Name: "blob", Type: TypeBlob, Charset: 63},
}

var typedRow = [][]byte{
	[]byte("hello"), []byte("-42"), []byte("123456"), []byte("7"), []byte("-300"),
	[]byte("18446744073709551615"), []byte("3.25"), []byte("1.5"), nil,
	[]byte("2024-02-03 04:05:06.789"), []byte("2024-02-03"), []byte("-25:01:02"),
	[]byte("2024"), []byte("12.345"), {0, 1, 2, 0xff},
}

func (h *testHandler) Command(c *Conn, pkt []byte) error {
	switch pkt[0] {
	case ComQuery:
		return h.query(c, string(pkt[1:]))
	case ComInitDB:
		return c.WriteOK(0, 0, c.Status, 0, "")
	case ComStmtPrepare:
		// A fake prepare: one statement id, the typed columns, one parameter per '?'.
		params := strings.Count(string(pkt[1:]), "?")
		b := []byte{0}
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(typedCols)))
		b = binary.LittleEndian.AppendUint16(b, uint16(params))
		b = append(b, 0, 0, 0)
		if err := c.WritePacket(b); err != nil {
			return err
		}
		if params > 0 {
			pcols := make([]Column, params)
			for i := range pcols {
				pcols[i] = Column{Name: "?", Type: TypeLongLong, Charset: 63}
			}
			if err := c.WriteColumnDefs(pcols, c.Status); err != nil {
				return err
			}
		}
		return c.WriteColumnDefs(typedCols, c.Status)
	case ComStmtExecute:
		return c.WriteResult(typedCols, [][][]byte{typedRow}, c.Status, true)
	case ComStmtClose:
		return nil
	case ComChangeUser:
		if err := c.ChangeUser(pkt); err != nil {
			_ = c.WriteErr(err)
			return err
		}
		return c.WriteOK(0, 0, c.Status, 0, "")
	default:
		return c.WriteErr(sqlerr.New(sqlerr.ERUnknownCom, "08S01", "Unknown command"))
	}
}

func (h *testHandler) query(c *Conn, q string) error {
	one := func(name, v string) error {
		return c.WriteResult([]Column{{Name: name}}, [][][]byte{{[]byte(v)}}, c.Status, false)
	}
	switch {
	case q == "select 1":
		return c.WriteResult([]Column{{Name: "1", Type: TypeLongLong}}, [][][]byte{{[]byte("1")}}, c.Status, false)
	case q == "whoami":
		cols := []Column{{Name: "user"}, {Name: "plugin"}, {Name: "tls"}, {Name: "db"}, {Name: "collation"},
			{Name: "app"}, {Name: "deprecate_eof"}, {Name: "id"}}
		row := [][]byte{[]byte(c.User.Name), []byte(c.AuthPlugin), []byte(strconv.FormatBool(c.TLS)),
			[]byte(c.DB), []byte(strconv.Itoa(int(c.Collation))), nil,
			[]byte(strconv.FormatBool(c.Capabilities&CapDeprecateEOF != 0)), []byte(strconv.Itoa(int(c.ID)))}
		if v, ok := c.Attrs["app"]; ok {
			row[5] = []byte(v)
		}
		return c.WriteResult(cols, [][][]byte{row}, c.Status, false)
	case q == "mariadbcaps":
		return one("caps", strconv.Itoa(int(c.MariaDBCapabilities)))
	case q == "types":
		return c.WriteResult(typedCols, [][][]byte{typedRow}, c.Status, false)
	case q == "error":
		return c.WriteErr(sqlerr.NoSuchTable("db", "t"))
	case q == "ok":
		return c.WriteOK(3, 42, c.Status, 1, "Rows matched: 3")
	case q == "panic":
		panic("boom")
	case q == "fail":
		return errors.New("handler failure")
	case q == "block":
		h.entered <- struct{}{}
		<-h.release
		return c.WriteOK(0, 0, c.Status, 0, "")
	case q == "waitgone":
		stop := make(chan struct{})
		h.waitGone <- c.WaitClientGone(stop)
		return errors.New("client gone")
	case q == "waitstop":
		stop := make(chan struct{})
		time.AfterFunc(300*time.Millisecond, func() { close(stop) })
		return one("gone", strconv.FormatBool(c.WaitClientGone(stop)))
	case q == "waitasync":
		// The proxy's pattern: watch in a goroutine, answer, close stop, return at once.
		stop := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			close(watched)
			c.WaitClientGone(stop)
		}()
		<-watched
		time.Sleep(20 * time.Millisecond)
		err := c.WriteOK(0, 0, c.Status, 0, "")
		close(stop)
		return err
	case q == "tlsstate":
		st, ok := c.TLSConnectionState()
		return one("cipher", fmt.Sprint(ok, " ", tls.CipherSuiteName(st.CipherSuite)))
	case strings.HasPrefix(q, "len "):
		return one("len", strconv.Itoa(len(q)-4))
	case strings.HasPrefix(q, "big "):
		n, err := strconv.Atoi(q[4:])
		if err != nil {
			return err
		}
		return c.WriteResult([]Column{{Name: "big", Type: TypeLongBlob, Charset: 63}},
			[][][]byte{{bytes.Repeat([]byte{'x'}, n)}}, c.Status, false)
	default:
		return c.WriteOK(0, 0, c.Status, 0, "")
	}
}

// rawClient speaks the protocol byte by byte, for what drivers will not do on purpose.
type rawClient struct {
	t        *testing.T
	nc       net.Conn
	br       io.Reader
	scramble []byte
	caps     uint32
	plugin   string
	greeting []byte // the greeting's payload
	lastSeq  byte   // sequence id of the last packet read
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	rc := &rawClient{t: t, nc: nc, br: nc}
	seq, g := rc.read()
	if seq != 0 {
		t.Fatalf("greeting seq %d", seq)
	}
	rc.greeting = g
	rc.scramble, rc.caps, rc.plugin = parseGreeting(t, g)
	return rc
}

// read returns one physical packet.
func (rc *rawClient) read() (byte, []byte) {
	rc.t.Helper()
	seq, p, err := rc.tryRead()
	if err != nil {
		rc.t.Fatalf("read packet: %v", err)
	}
	return seq, p
}

func (rc *rawClient) tryRead() (byte, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(rc.br, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	p := make([]byte, n)
	if _, err := io.ReadFull(rc.br, p); err != nil {
		return 0, nil, err
	}
	rc.lastSeq = hdr[3]
	return hdr[3], p, nil
}

// expect reads one packet and checks its sequence id.
func (rc *rawClient) expect(seq byte) []byte {
	rc.t.Helper()
	got, p := rc.read()
	if got != seq {
		rc.t.Fatalf("packet seq %d, want %d (payload %q)", got, seq, p)
	}
	return p
}

func (rc *rawClient) write(seq byte, payload []byte) {
	rc.t.Helper()
	hdr := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	if _, err := rc.nc.Write(append(hdr, payload...)); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func parseGreeting(t *testing.T, g []byte) (scramble []byte, caps uint32, plugin string) {
	t.Helper()
	if g[0] != 10 {
		t.Fatalf("greeting protocol %d", g[0])
	}
	p := 1 + bytes.IndexByte(g[1:], 0) + 1
	p += 4 // connection id
	scramble = append(scramble, g[p:p+8]...)
	p += 9
	caps = uint32(binary.LittleEndian.Uint16(g[p:]))
	p += 2
	if g[p] != 45 {
		t.Fatalf("greeting charset %d", g[p])
	}
	p++
	if st := binary.LittleEndian.Uint16(g[p:]); st != StatusAutocommit {
		t.Fatalf("greeting status %#x", st)
	}
	p += 2
	caps |= uint32(binary.LittleEndian.Uint16(g[p:])) << 16
	p += 2
	if g[p] != 21 {
		t.Fatalf("auth data length %d", g[p])
	}
	p += 11
	scramble = append(scramble, g[p:p+12]...)
	if g[p+12] != 0 {
		t.Fatal("scramble part 2 not NUL-terminated")
	}
	p += 13
	plugin = string(g[p : p+bytes.IndexByte(g[p:], 0)])
	return scramble, caps, plugin
}

const rawClientCaps = CapLongPassword | CapLongFlag | CapProtocol41 | CapSecureConnection | CapTransactions |
	CapPluginAuth | CapPluginAuthLenencClientData | CapConnectAttrs | CapMultiResults | CapMultiStatements

func buildHandshakeResponse(caps uint32, user string, auth []byte, db, plugin string, attrs map[string]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	if caps&CapSSL != 0 && user == "" {
		return b // SSL request
	}
	b = append(b, user...)
	b = append(b, 0)
	switch {
	case caps&CapPluginAuthLenencClientData != 0:
		b = appendLenEncString(b, auth)
	case caps&CapSecureConnection != 0:
		b = append(b, byte(len(auth)))
		b = append(b, auth...)
	default:
		b = append(b, auth...)
		b = append(b, 0)
	}
	if caps&CapConnectWithDB != 0 {
		b = append(b, db...)
		b = append(b, 0)
	}
	if caps&CapPluginAuth != 0 {
		b = append(b, plugin...)
		b = append(b, 0)
	}
	if caps&CapConnectAttrs != 0 {
		var a []byte
		for k, v := range attrs {
			a = appendLenEncString(a, k)
			a = appendLenEncString(a, v)
		}
		b = appendLenEncString(b, a)
	}
	return b
}

// login authenticates rc with mysql_native_password and checks the OK.
func (rc *rawClient) login(user, password string) {
	rc.t.Helper()
	rc.write(1, buildHandshakeResponse(rawClientCaps, user, scrambleNative(password, rc.scramble), "", PluginNativePassword, nil))
	if p := rc.expect(2); p[0] != headerOK {
		rc.t.Fatalf("login: got %q", p)
	}
}

// query sends a COM_QUERY and returns the first response packet (seq 1).
func (rc *rawClient) query(q string) []byte {
	rc.t.Helper()
	rc.write(0, append([]byte{ComQuery}, q...))
	return rc.expect(1)
}

// errCode decodes an ERR packet's code (0 if p is not an ERR packet).
func errCode(p []byte) uint16 {
	if len(p) < 3 || p[0] != headerErr {
		return 0
	}
	return binary.LittleEndian.Uint16(p[1:])
}
