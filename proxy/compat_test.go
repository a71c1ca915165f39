package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/router"
)

// The compatibility corpus (testdata/compat/*.sql, described in docs/compatibility.md) runs
// every statement directly on MariaDB and through vtgate-lite in front of the same server,
// in a fresh database of the same name each time, and compares the raw protocol responses
// byte for byte: result rows, column definitions (names, types, flags, decimals, charset,
// MariaDB extended metadata), OK packets (affected rows, last insert id, status flags,
// warning count, info), errors (code, SQLSTATE, message), and SHOW WARNINGS after every
// statement. Each file runs twice: once in the text protocol, once prepared (a statement the
// server cannot prepare answers 1295 on both sides, then runs as text so the file's state
// goes on). A difference fails the test unless testdata/compat/expected.txt lists it (a
// refusal with its routing reason, an intentional difference, or an open gap the doc names).

const (
	compatDir  = "testdata/compat"
	compatDB   = "compat"       // the session keyspace's database (and the keyspace's name)
	compatAway = "compat_other" // a second keyspace's database on the same server
)

// compatBlock is one statement of the corpus.
type compatBlock struct {
	name     string
	line     int
	sql      string
	protocol string // both (default), text or ps
	nondet   bool   // compare column definitions, error codes and OK packets only
	params   []any  // prepared-statement parameters (int64, string, nil)
}

// compatFile is one topic: its statements run in order on one connection.
type compatFile struct {
	name   string
	user   string   // the vtgate-lite user: app (default) or admin
	reset  []string // run as root directly before each run (server-wide state the file creates)
	blocks []compatBlock
}

func parseCompatFile(path string) (*compatFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := &compatFile{name: strings.TrimSuffix(filepath.Base(path), ".sql"), user: "app"}
	seen := map[string]bool{}
	var cur *compatBlock
	var sqlLines []string
	inMarkers := false
	flush := func() error {
		if cur == nil {
			return nil
		}
		s := strings.TrimSpace(strings.Join(sqlLines, "\n"))
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
		if s == "" {
			return fmt.Errorf("%s:%d: block %q has no statement", path, cur.line, cur.name)
		}
		cur.sql = s
		f.blocks = append(f.blocks, *cur)
		cur, sqlLines = nil, nil
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "-- name:"); ok {
			if err := flush(); err != nil {
				return nil, err
			}
			name = strings.TrimSpace(name)
			if name == "" || seen[name] {
				return nil, fmt.Errorf("%s:%d: empty or repeated name %q", path, n, name)
			}
			seen[name] = true
			cur, inMarkers = &compatBlock{name: name, line: n, protocol: "both"}, true
			continue
		}
		if cur == nil { // the header: attributions and file directives
			if v, ok := strings.CutPrefix(line, "-- user:"); ok {
				f.user = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(line, "-- reset:"); ok {
				f.reset = append(f.reset, strings.TrimSpace(v))
			}
			continue
		}
		if inMarkers {
			if v, ok := strings.CutPrefix(line, "-- protocol:"); ok {
				cur.protocol = strings.TrimSpace(v)
				if cur.protocol != "text" && cur.protocol != "ps" && cur.protocol != "both" {
					return nil, fmt.Errorf("%s:%d: protocol %q", path, n, cur.protocol)
				}
				continue
			}
			if strings.TrimSpace(line) == "-- nondeterministic" {
				cur.nondet = true
				continue
			}
			if v, ok := strings.CutPrefix(line, "-- params:"); ok {
				ps, err := parseCompatParams(v)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %w", path, n, err)
				}
				cur.params = ps
				continue
			}
			inMarkers = false
		}
		sqlLines = append(sqlLines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if f.user != "app" && f.user != "admin" {
		return nil, fmt.Errorf("%s: user %q (app or admin)", path, f.user)
	}
	return f, nil
}

// parseCompatParams reads "1, NULL, 'text'".
func parseCompatParams(s string) ([]any, error) {
	var out []any
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		switch {
		case strings.EqualFold(p, "NULL"):
			out = append(out, nil)
		case len(p) >= 2 && p[0] == '\'' && p[len(p)-1] == '\'':
			out = append(out, p[1:len(p)-1])
		default:
			n, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parameter %q: %w", p, err)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// compatExpectation is one reviewed difference of testdata/compat/expected.txt.
type compatExpectation struct {
	kind   string // refused, intentional, open
	reason string
	used   bool
}

// loadCompatExpectations reads lines "<file>:<name>[@text|@ps] <kind> <reason>".
func loadCompatExpectations(path string) (map[string]*compatExpectation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]*compatExpectation{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || (f[1] != "refused" && f[1] != "intentional" && f[1] != "open") {
			return nil, fmt.Errorf("%s:%d: want <file>:<name>[@text|@ps] refused|intentional|open <reason>", path, i+1)
		}
		if _, dup := out[f[0]]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", path, i+1, f[0])
		}
		out[f[0]] = &compatExpectation{kind: f[1], reason: strings.Join(f[2:], " ")}
	}
	return out, nil
}

// compatConn is a raw client connection whose reads report errors rather than fail the
// test: a statement that loses the connection is a result to compare.
type compatConn struct {
	rc *rawConn
}

func (c *compatConn) readPacket() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.rc.nc, hdr[:]); err != nil {
		return nil, err
	}
	p := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
	if _, err := io.ReadFull(c.rc.nc, p); err != nil {
		return nil, err
	}
	if hdr[3] != c.rc.seq {
		return nil, fmt.Errorf("packet sequence %d, want %d", hdr[3], c.rc.seq)
	}
	c.rc.seq++
	return p, nil
}

func (c *compatConn) send(p []byte) error {
	_ = c.rc.nc.SetDeadline(time.Now().Add(20 * time.Second))
	c.rc.seq = 0
	hdr := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), 0}
	c.rc.seq = 1
	_, err := c.rc.nc.Write(append(hdr, p...))
	return err
}

// command sends p and returns every packet of its whole response, across result sets.
func (c *compatConn) command(p []byte) ([][]byte, error) {
	if err := c.send(p); err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		pkt, err := c.readPacket()
		if err != nil {
			return out, err
		}
		out = append(out, pkt)
		switch pkt[0] {
		case 0xff:
			return out, nil
		case 0x00:
			if okStatus(pkt)&statusMoreResults == 0 {
				return out, nil
			}
			continue
		case 0xfb:
			return out, errors.New("LOCAL INFILE request: not supported by the corpus runner")
		}
		for eofs := 0; eofs < 2; {
			if pkt, err = c.readPacket(); err != nil {
				return out, err
			}
			out = append(out, pkt)
			if pkt[0] == 0xff {
				return out, nil
			}
			if pkt[0] == 0xfe && len(pkt) < 9 {
				eofs++
			}
		}
		if binary.LittleEndian.Uint16(pkt[3:])&statusMoreResults == 0 {
			return out, nil
		}
	}
}

// prepare returns the prepare response with the statement id zeroed (ids are per server),
// and the id.
func (c *compatConn) prepare(q string) ([][]byte, uint32, error) {
	if err := c.send(append([]byte{comStmtPrepare}, q...)); err != nil {
		return nil, 0, err
	}
	first, err := c.readPacket()
	if err != nil {
		return nil, 0, err
	}
	if first[0] != 0x00 || len(first) < 12 {
		return [][]byte{first}, 0, nil
	}
	id := binary.LittleEndian.Uint32(first[1:])
	norm := append([]byte(nil), first...)
	binary.LittleEndian.PutUint32(norm[1:], 0)
	out := [][]byte{norm}
	cols, params := binary.LittleEndian.Uint16(first[5:]), binary.LittleEndian.Uint16(first[7:])
	n := 0
	if params > 0 {
		n += int(params) + 1
	}
	if cols > 0 {
		n += int(cols) + 1
	}
	for i := 0; i < n; i++ {
		p, err := c.readPacket()
		if err != nil {
			return out, id, err
		}
		out = append(out, p)
	}
	return out, id, nil
}

func (c *compatConn) execute(id uint32, args []any) ([][]byte, error) {
	p := []byte{comStmtExecute, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(p[1:], id)
	if len(args) > 0 {
		null := make([]byte, (len(args)+7)/8)
		var types, values []byte
		for i, a := range args {
			switch v := a.(type) {
			case nil:
				null[i/8] |= 1 << (i % 8)
				types = append(types, wire.TypeNull, 0)
			case int64:
				types = append(types, wire.TypeLongLong, 0)
				values = binary.LittleEndian.AppendUint64(values, uint64(v))
			case string:
				types = append(types, 0xfd, 0) // MYSQL_TYPE_VAR_STRING
				values = appendLenencString(values, v)
			}
		}
		p = append(p, null...)
		p = append(p, 1)
		p = append(p, types...)
		p = append(p, values...)
	}
	return c.command(p)
}

func appendLenencString(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 0xfb:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 0xfc, byte(n), byte(n>>8))
	default:
		b = append(b, 0xfd, byte(n), byte(n>>8), byte(n>>16))
	}
	return append(b, s...)
}

func (c *compatConn) closeStmt(id uint32) error {
	p := []byte{comStmtClose, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(p[1:], id)
	return c.send(p) // no response
}

// compatStep is one exchange of a run: a statement's response, or its SHOW WARNINGS.
type compatStep struct {
	block   int
	proto   string // text or ps: the protocol the block is counted under
	what    string // query, prepare, execute, text fallback, warnings
	packets [][]byte
	err     string // the connection failed
}

// runCompatFile runs f's statements on c in protocol proto and records every response.
func runCompatFile(c *compatConn, f *compatFile, proto string) []compatStep {
	var steps []compatStep
	lost := ""
	add := func(i int, p, what string, pk [][]byte, err error) {
		s := compatStep{block: i, proto: p, what: what, packets: pk}
		if lost != "" {
			s.err = "not run: " + lost
		} else if err != nil {
			lost = err.Error()
			s.err = "connection: " + lost
		}
		steps = append(steps, s)
	}
	for i, b := range f.blocks {
		if lost != "" {
			add(i, proto, "query", nil, nil)
			continue
		}
		usePS := proto == "ps" && b.protocol != "text"
		useText := proto == "text" && b.protocol != "ps"
		switch {
		case usePS:
			pk, id, err := c.prepare(b.sql)
			add(i, "ps", "prepare", pk, err)
			if err != nil {
				continue
			}
			if pk[0][0] == 0xff {
				if binary.LittleEndian.Uint16(pk[0][1:]) == 1295 { // not preparable: go on as text
					w, err := c.command([]byte("\x03SHOW WARNINGS"))
					add(i, "ps", "warnings", w, err)
					pk, err = c.command(append([]byte{comQuery}, b.sql...))
					add(i, "ps", "text fallback", pk, err)
				}
			} else {
				pk, err = c.execute(id, b.params)
				add(i, "ps", "execute", pk, err)
				if err == nil {
					err = c.closeStmt(id)
					add(i, "ps", "close", nil, err)
				}
			}
		case useText || proto == "ps" && b.protocol == "text":
			pk, err := c.command(append([]byte{comQuery}, b.sql...))
			p := "text"
			if !useText {
				p = "" // a text-only block in the prepared run: compared, not counted
			}
			add(i, p, "query", pk, err)
		default:
			continue // a prepared-only block in the text run
		}
		if lost == "" {
			w, err := c.command([]byte("\x03SHOW WARNINGS"))
			add(i, steps[len(steps)-1].proto, "warnings", w, err)
		}
	}
	return steps
}

// normalize drops what a nondeterministic statement may change between runs: rows, and
// error messages (codes and SQLSTATE stay).
func compatNormalize(pk [][]byte, nondet bool) [][]byte {
	if !nondet || len(pk) == 0 {
		return pk
	}
	var out [][]byte
	inRows := false
	for _, p := range pk {
		switch {
		case p[0] == 0xff && len(p) >= 9:
			out = append(out, p[:9])
		case p[0] == 0xfe && len(p) < 9:
			out = append(out, p)
			inRows = !inRows
		case inRows:
			// a row: skipped
		default:
			out = append(out, p)
		}
	}
	return out
}

func describePacket(p []byte) string {
	switch {
	case len(p) == 0:
		return "(empty)"
	case p[0] == 0xff && len(p) >= 9:
		return fmt.Sprintf("ERR %d (%s) %s", binary.LittleEndian.Uint16(p[1:]), p[4:9], p[9:])
	case p[0] == 0x00 && len(p) >= 7:
		o := parseOK(p)
		return fmt.Sprintf("OK affected=%d insert_id=%d status=%#x warnings=%d rest=%q", o.affected, o.insertID, o.status, o.warnings, p[o.statusOff+4:])
	case p[0] == 0xfe && len(p) < 9 && len(p) >= 5:
		return fmt.Sprintf("EOF warnings=%d status=%#x", binary.LittleEndian.Uint16(p[1:]), binary.LittleEndian.Uint16(p[3:]))
	}
	return fmt.Sprintf("%q", p)
}

// compatDiff says how two responses differ, "" when they do not.
func compatDiff(direct, via compatStep, nondet bool) string {
	if direct.err != "" || via.err != "" {
		if direct.err == via.err {
			return ""
		}
		return fmt.Sprintf("connection: directly %q, through vtgate-lite %q", direct.err, via.err)
	}
	d, v := compatNormalize(direct.packets, nondet), compatNormalize(via.packets, nondet)
	for i := 0; i < len(d) || i < len(v); i++ {
		switch {
		case i >= len(d):
			return fmt.Sprintf("packet %d only through vtgate-lite: %s", i, describePacket(v[i]))
		case i >= len(v):
			return fmt.Sprintf("packet %d only directly: %s", i, describePacket(d[i]))
		case !bytes.Equal(d[i], v[i]):
			return fmt.Sprintf("packet %d:\n\t\tdirectly            %s\n\t\tthrough vtgate-lite %s", i, describePacket(d[i]), describePacket(v[i]))
		}
	}
	return ""
}

// compatVerdict is how one statement's exchanges differ in one protocol.
type compatVerdict struct {
	diffs   []string
	refusal string // vtgate-lite's error where the server gave another answer
}

// groupSteps indexes a run's exchanges by block.
func groupSteps(steps []compatStep) map[int][]compatStep {
	m := map[int][]compatStep{}
	for _, s := range steps {
		m[s.block] = append(m[s.block], s)
	}
	return m
}

func compareBlock(direct, via []compatStep, nondet bool) *compatVerdict {
	vd := &compatVerdict{}
	if len(via) > 0 && len(via[0].packets) > 0 && via[0].packets[0][0] == 0xff &&
		(len(direct) == 0 || len(direct[0].packets) == 0 || direct[0].packets[0][0] != 0xff ||
			!bytes.Equal(direct[0].packets[0][:3], via[0].packets[0][:3])) {
		vd.refusal = describePacket(via[0].packets[0])
	}
	whats := func(ss []compatStep) string {
		var w []string
		for _, s := range ss {
			w = append(w, s.what)
		}
		return strings.Join(w, ", ")
	}
	if whats(direct) != whats(via) {
		vd.diffs = append(vd.diffs, fmt.Sprintf("exchanges: directly [%s], through vtgate-lite [%s]", whats(direct), whats(via)))
	}
	for i := 0; i < len(direct) && i < len(via); i++ {
		if diff := compatDiff(direct[i], via[i], nondet); diff != "" {
			vd.diffs = append(vd.diffs, direct[i].what+": "+diff)
		}
	}
	return vd
}

// compatEnv is one MariaDB server; each run starts its own vtgate-lite in front of it, so
// that no pooled connection outlives the database it had selected.
type compatEnv struct {
	cluster *testcluster.Cluster
}

func (e *compatEnv) resetDatabases(t *testing.T, f *compatFile) {
	t.Helper()
	stmts := []string{
		"DROP DATABASE IF EXISTS " + compatDB, "CREATE DATABASE " + compatDB,
		"DROP DATABASE IF EXISTS " + compatAway, "CREATE DATABASE " + compatAway,
		"CREATE TABLE " + compatAway + ".elsewhere (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO " + compatAway + ".elsewhere VALUES (1, 'in compat_other')",
	}
	e.cluster.Primary.Exec(t, append(stmts, f.reset...)...)
}

// startProxy serves keyspace compat (database compat) and keyspace other (database
// compat_other, table elsewhere) from the one server, for users app and admin.
func (e *compatEnv) startProxy(t *testing.T) (addr string, stop func()) {
	t.Helper()
	ks := map[string]*router.Keyspace{
		compatDB: e.cluster.Keyspace(compatDB, compatDB),
		"other":  e.cluster.Keyspace("other", compatAway),
	}
	s := &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{}}
	s.AddTable("other", "elsewhere")
	holder, err := router.NewHolder(ks, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]*wire.User{
		"app":   {Name: "app", Password: "secret"},
		"admin": {Name: "admin", Password: "secret", Admin: true},
	}
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
	return l.Addr().String(), func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("proxy did not stop")
		}
		p.Close()
	}
}

func (e *compatEnv) run(t *testing.T, f *compatFile, proto string, viaProxy bool) []compatStep {
	t.Helper()
	e.resetDatabases(t, f)
	var rc *rawConn
	if viaProxy {
		addr, stop := e.startProxy(t)
		defer stop()
		rc = dialRawConn(t, addr, f.user, "secret", compatDB, rawConnCaps, wire.MariaDBCapExtendedMetadata)
	} else {
		rc = dialRawConn(t, e.cluster.Primary.Addr(), "root", testcluster.RootPassword, compatDB, rawConnCaps, wire.MariaDBCapExtendedMetadata)
	}
	defer rc.nc.Close()
	return runCompatFile(&compatConn{rc: rc}, f, proto)
}

// compatCounts are one file's results per statement and protocol.
type compatCounts struct {
	statements, pass, refused, intentional, open, failed int
}

// TestCompatibilityCorpus runs testdata/compat/*.sql directly and through vtgate-lite and
// fails on any difference expected.txt does not list, and on any listed one that no longer
// happens (the list stays exact). docs/compatibility.md reports the totals.
func TestCompatibilityCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(compatDir, "*.sql"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus in %s: %v", compatDir, err)
	}
	sort.Strings(paths)
	expect, err := loadCompatExpectations(filepath.Join(compatDir, "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*compatFile
	for _, p := range paths {
		f, err := parseCompatFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	e := &compatEnv{cluster: testcluster.Start(t, testcluster.Options{})}

	var total compatCounts
	var report []string
	for _, f := range files {
		var c compatCounts
		for _, proto := range []string{"text", "ps"} {
			direct := groupSteps(e.run(t, f, proto, false))
			via := groupSteps(e.run(t, f, proto, true))
			verdicts := map[string]*compatVerdict{}
			var order []string
			for i, b := range f.blocks {
				vd := compareBlock(direct[i], via[i], b.nondet)
				if len(direct[i]) == 0 && len(via[i]) == 0 {
					continue // not run in this protocol
				}
				p := direct[i][0].proto
				if p == "" { // a text-only block in the prepared run: it must not differ either
					if len(vd.diffs) > 0 {
						t.Errorf("%s:%s (text, in the prepared run) differs:\n\t%s", f.name, b.name, strings.Join(vd.diffs, "\n\t"))
					}
					continue
				}
				key := f.name + ":" + b.name + "@" + p
				verdicts[key] = vd
				order = append(order, key)
			}
			for _, key := range order {
				vd := verdicts[key]
				c.statements++
				blockKey := strings.TrimSuffix(key, "@"+proto)
				ex := expect[key]
				if ex == nil {
					ex = expect[blockKey]
				}
				if len(vd.diffs) == 0 {
					c.pass++
					continue
				}
				switch {
				case ex == nil:
					c.failed++
					kind := "silently different"
					if vd.refusal != "" {
						kind = "refused (not listed in expected.txt): " + vd.refusal
					}
					t.Errorf("%s %s:\n\t%s\n\tstatement: %s", key, kind, strings.Join(vd.diffs, "\n\t"), f.blocks[blockIndex(f, blockKey)].sql)
				case ex.kind == "refused" && vd.refusal == "":
					c.failed++
					t.Errorf("%s is listed as refused but differs otherwise:\n\t%s", key, strings.Join(vd.diffs, "\n\t"))
				default:
					ex.used = true
					switch ex.kind {
					case "refused":
						c.refused++
						t.Logf("%s refused as listed (%s): %s", key, ex.reason, vd.refusal)
					case "intentional":
						c.intentional++
						t.Logf("%s differs intentionally (%s)", key, ex.reason)
					case "open":
						c.open++
						t.Logf("%s differs, open (%s):\n\t%s", key, ex.reason, strings.Join(vd.diffs, "\n\t"))
					}
				}
			}
		}
		total.statements += c.statements
		total.pass += c.pass
		total.refused += c.refused
		total.intentional += c.intentional
		total.open += c.open
		total.failed += c.failed
		report = append(report, fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | %d |", f.name, f.user, len(f.blocks), c.statements, c.pass, c.refused, c.intentional+c.open, c.failed))
	}
	for key, ex := range expect {
		if !ex.used {
			t.Errorf("%s is listed in expected.txt (%s) but did not differ (or names no statement): remove it", key, ex.kind)
		}
	}
	t.Logf("compatibility corpus: %d statements, %d runs (text + prepared): %d pass, %d refused, %d differ as documented (%d intentional, %d open), %d silently different\n"+
		"| file | user | statements | runs | pass | refused | documented differences | silently different |\n|---|---|---|---|---|---|---|---|\n%s",
		countBlocks(files), total.statements, total.pass, total.refused, total.intentional+total.open, total.intentional, total.open, total.failed, strings.Join(report, "\n"))
}

func blockIndex(f *compatFile, blockKey string) int {
	name := strings.TrimPrefix(blockKey, f.name+":")
	for i, b := range f.blocks {
		if b.name == name {
			return i
		}
	}
	return 0
}

func countBlocks(files []*compatFile) int {
	n := 0
	for _, f := range files {
		n += len(f.blocks)
	}
	return n
}
