package wire

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// memConn is a client whose every byte is given up front; what the server writes is
// discarded. It lets a fuzz target drive a whole connection without sockets.
type memConn struct {
	mu     sync.Mutex
	r      *bytes.Reader
	closed bool
}

func newMemConn(b []byte) *memConn { return &memConn{r: bytes.NewReader(b)} }

func (m *memConn) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, net.ErrClosed
	}
	return m.r.Read(p)
}

func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

func (m *memConn) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3306}
}
func (m *memConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzHandler exercises the write paths without ever blocking.
type fuzzHandler struct{}

func (fuzzHandler) Connected(*Conn) error { return nil }
func (fuzzHandler) Closed(*Conn)          {}
func (fuzzHandler) Command(c *Conn, pkt []byte) error {
	switch pkt[0] {
	case ComQuery:
		return c.WriteResult(typedCols, [][][]byte{typedRow, {pkt, pkt, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, pkt}}, c.Status, false)
	case ComStmtExecute:
		return c.WriteResult(typedCols, [][][]byte{typedRow}, c.Status, true)
	case ComChangeUser:
		if err := c.ChangeUser(pkt); err != nil {
			return c.WriteErr(err)
		}
		return c.WriteOK(0, 0, c.Status, 0, "")
	case ComStmtClose:
		return nil
	}
	return c.WriteErr(sqlerr.Unsupported("command %d", pkt[0]))
}

var fuzzServer = sync.OnceValue(func() *Server {
	s, err := NewServer(Config{
		Users:     lookupTestUser,
		RSAKey:    testRSAKey(),
		MaxPacket: 1 << 16,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, fuzzHandler{})
	if err != nil {
		panic(err)
	}
	return s
})

// runConn serves one connection whose client sends exactly stream, to the end.
func runConn(stream []byte) {
	s := fuzzServer()
	s.start(newMemConn(stream))
	s.wg.Wait()
}

func packet(seq byte, payload []byte) []byte {
	return append([]byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}, payload...)
}

// FuzzReadHandshakeResponse feeds random handshake responses to the parser and to a whole
// server-side connection (TLS not configured, so SSL requests end it).
func FuzzReadHandshakeResponse(f *testing.F) {
	scr := bytes.Repeat([]byte{1}, 20)
	f.Add(buildHandshakeResponse(rawClientCaps|CapConnectWithDB, "alice", scrambleNative("secret", scr), "db", PluginNativePassword, map[string]string{"a": "b"}))
	f.Add(buildHandshakeResponse(rawClientCaps|CapSSL, "", nil, "", "", nil))
	f.Add(buildHandshakeResponse(rawClientCaps&^CapPluginAuthLenencClientData, "u", []byte("x"), "", "p", nil))
	f.Add(buildHandshakeResponse(CapProtocol41, "u", []byte("x"), "", "", nil))
	f.Add(buildHandshakeResponse(rawClientCaps, "bob", make([]byte, 32), "", PluginCachingSHA2Password, nil))
	f.Add(buildHandshakeResponse(rawClientCaps, "nopw", nil, "", PluginNativePassword, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tlsActive := range []bool{false, true} {
			own := bytes.Clone(data)
			hr, err := parseHandshakeResponse(own, tlsActive)
			if err != nil {
				continue
			}
			if hr == nil {
				t.Fatal("nil response without error")
			}
			// The response must not alias the packet: ReadPacket reuses its buffer.
			saved := bytes.Clone(hr.authResponse)
			clear(own)
			if !bytes.Equal(saved, hr.authResponse) {
				t.Fatal("authResponse aliases the packet")
			}
		}
		runConn(packet(1, data))
	})
}

// FuzzConnStream feeds a random byte stream as everything a client sends, from the
// handshake response on: packet framing, auth exchanges and the command loop.
func FuzzConnStream(f *testing.F) {
	login := packet(1, buildHandshakeResponse(rawClientCaps, "nopw", nil, "", PluginNativePassword, nil))
	cmd := func(b ...byte) []byte { return packet(0, b) }
	seed := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	changeUser := append([]byte{ComChangeUser}, "nopw\x00\x00\x00\x21\x00mysql_native_password\x00\x05\x01a\x02bc"...)
	f.Add(seed(login, cmd(ComQuery, 's', 'e', 'l'), cmd(ComPing), cmd(ComStmtExecute, 1, 0, 0, 0), cmd(ComQuit)))
	f.Add(seed(login, cmd(changeUser...), cmd(ComStmtClose, 1, 0, 0, 0)))
	f.Add(seed(login, cmd(), []byte{0xff, 0xff, 0xff, 0}))
	f.Add(seed(packet(1, buildHandshakeResponse(rawClientCaps, "bob", make([]byte, 32), "", PluginCachingSHA2Password, nil)), packet(3, []byte{2}), packet(5, make([]byte, 256))))
	f.Add(seed(packet(1, buildHandshakeResponse(rawClientCaps, "alice", []byte("x"), "", "other", nil)), packet(3, make([]byte, 20))))
	f.Fuzz(func(t *testing.T, data []byte) {
		runConn(data)
	})
}

// FuzzReadPacket checks framing: reassembly, the size limit, truncation.
func FuzzReadPacket(f *testing.F) {
	f.Add(packet(0, []byte("hello")))
	f.Add(append(packet(0, nil), packet(1, []byte{1})...))
	f.Add([]byte{0xff, 0xff, 0xff, 0, 1, 2, 3})
	f.Add([]byte{0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Conn{
			br:        bufio.NewReaderSize(bytes.NewReader(data), 64),
			bw:        bufio.NewWriter(io.Discard),
			maxPacket: 1 << 10,
		}
		for {
			p, err := c.ReadPacket()
			if err != nil {
				return
			}
			if len(p) > c.maxPacket {
				t.Fatalf("packet of %d bytes over the %d limit", len(p), c.maxPacket)
			}
		}
	})
}

// FuzzBinaryValue checks the text-to-binary conversion of WriteResult's binary rows.
func FuzzBinaryValue(f *testing.F) {
	for i, v := range typedRow {
		if v != nil {
			f.Add(typedCols[i].Type, typedCols[i].Flags, v)
		}
	}
	f.Add(TypeDateTime, uint16(0), []byte("2024-01-01 00:00:00.1"))
	f.Add(TypeTime, uint16(0), []byte("838:59:59.999999"))
	f.Fuzz(func(t *testing.T, typ byte, flags uint16, v []byte) {
		col := Column{Type: typ, Flags: flags}
		b, err := appendBinaryValue(nil, &col, v)
		if err != nil {
			return
		}
		switch col.typ() {
		case TypeDate, TypeNewDate, TypeDateTime, TypeTimestamp, TypeTime:
			if len(b) == 0 || int(b[0]) != len(b)-1 {
				t.Fatalf("%q encoded as %v", v, b)
			}
		case TypeLongLong, TypeDouble:
			if len(b) != 8 {
				t.Fatalf("%q encoded in %d bytes", v, len(b))
			}
		}
	})
}

func TestParseHandshakeResponse(t *testing.T) {
	auth := bytes.Repeat([]byte{7}, 20)
	full := buildHandshakeResponse(rawClientCaps|CapConnectWithDB, "alice", auth, "shop", PluginNativePassword, map[string]string{"_os": "linux"})
	hr, err := parseHandshakeResponse(full, false)
	if err != nil {
		t.Fatal(err)
	}
	if hr.user != "alice" || !bytes.Equal(hr.authResponse, auth) || hr.db != "shop" || hr.plugin != PluginNativePassword ||
		hr.attrs["_os"] != "linux" || hr.collation != 45 || hr.maxPacket != 1<<24 || hr.sslRequest {
		t.Fatalf("parsed %+v", hr)
	}

	ssl := buildHandshakeResponse(rawClientCaps|CapSSL, "", nil, "", "", nil)
	if hr, err := parseHandshakeResponse(ssl, false); err != nil || !hr.sslRequest {
		t.Fatalf("SSL request: %+v %v", hr, err)
	}
	afterTLS := buildHandshakeResponse(rawClientCaps|CapSSL, "alice", auth, "", "", nil)
	if hr, err := parseHandshakeResponse(afterTLS, true); err != nil || hr.sslRequest || hr.user != "alice" {
		t.Fatalf("a response with CLIENT_SSL after TLS: %+v %v", hr, err)
	}
	if _, err := parseHandshakeResponse(ssl, true); err == nil {
		t.Fatal("a bare SSL request after TLS parsed")
	}

	old := buildHandshakeResponse(CapProtocol41|CapSecureConnection, "u", auth, "", "", nil)
	if hr, err := parseHandshakeResponse(old, false); err != nil || hr.user != "u" || !bytes.Equal(hr.authResponse, auth) {
		t.Fatalf("1-byte auth length: %+v %v", hr, err)
	}
	nul := buildHandshakeResponse(CapProtocol41, "u", []byte("pw"), "", "", nil)
	if hr, err := parseHandshakeResponse(nul, false); err != nil || string(hr.authResponse) != "pw" {
		t.Fatalf("NUL-terminated auth: %+v %v", hr, err)
	}

	for n := range len(full) {
		// Every truncation either parses (trailing fields are optional) or fails cleanly.
		_, _ = parseHandshakeResponse(full[:n], false)
	}
	if _, err := parseHandshakeResponse(full[:20], false); err == nil {
		t.Fatal("truncated fixed part parsed")
	}
}

func TestBinaryTemporalEncoding(t *testing.T) {
	cases := []struct {
		typ  byte
		in   string
		want []byte
	}{
		{TypeDateTime, "0000-00-00 00:00:00", []byte{0}},
		{TypeDate, "2024-02-03", []byte{4, 0xe8, 0x07, 2, 3}},
		{TypeDateTime, "2024-02-03 00:00:00", []byte{4, 0xe8, 0x07, 2, 3}},
		{TypeDateTime, "2024-02-03 04:05:06", []byte{7, 0xe8, 0x07, 2, 3, 4, 5, 6}},
		{TypeTimestamp, "2024-02-03 04:05:06.5", []byte{11, 0xe8, 0x07, 2, 3, 4, 5, 6, 0x20, 0xa1, 0x07, 0}},
		{TypeTime, "00:00:00", []byte{0}},
		{TypeTime, "-25:01:02", []byte{8, 1, 1, 0, 0, 0, 1, 1, 2}},
		{TypeTime, "838:59:59.000001", []byte{12, 0, 34, 0, 0, 0, 22, 59, 59, 1, 0, 0, 0}},
	}
	for _, tc := range cases {
		got, err := appendBinaryValue(nil, &Column{Type: tc.typ}, []byte(tc.in))
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%q: got %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "2024", "2024-1-01", "2024-01-01 1:00:00", "2024-01-01 00:00:00.", "2024-01-01 00:00:00.1234567", "x:00:00", "12:00"} {
		if _, err := appendBinaryValue(nil, &Column{Type: TypeDateTime}, []byte(bad)); err == nil {
			if _, err := appendBinaryValue(nil, &Column{Type: TypeTime}, []byte(bad)); err == nil {
				t.Errorf("%q accepted", bad)
			}
		}
	}
}

func TestWriteResultRejectsBadRows(t *testing.T) {
	var out bytes.Buffer
	c := &Conn{bw: bufio.NewWriter(&out)}
	if err := c.WriteResult([]Column{{Name: "a"}}, [][][]byte{{[]byte("1"), []byte("2")}}, 0, false); err == nil {
		t.Fatal("row wider than the columns accepted")
	}
	if err := c.WriteResult([]Column{{Name: "n", Type: TypeLong}}, [][][]byte{{[]byte("x")}}, 0, true); err == nil {
		t.Fatal("non-numeric value in a binary LONG column accepted")
	}
	c.Flush()
	if out.Len() != 0 {
		t.Fatalf("wrote %d bytes for a rejected result", out.Len())
	}
}

func TestLenEnc(t *testing.T) {
	for _, v := range []uint64{0, 250, 251, 1<<16 - 1, 1 << 16, 1<<24 - 1, 1 << 24, 1<<64 - 1} {
		r := packetReader{b: appendLenEncInt(nil, v)}
		got, err := r.lenEncInt()
		if err != nil || got != v || r.remaining() != 0 {
			t.Errorf("%d: got %d %v", v, got, err)
		}
	}
}

func TestNativeHashHelpers(t *testing.T) {
	h, err := ParseNativeHash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7") // "secret"
	if err != nil || !bytes.Equal(h, NativeHash("secret")) {
		t.Fatalf("ParseNativeHash: %x %v", h, err)
	}
	for _, bad := range []string{"", "14E65567ABDB5135D0CFD9A70B3032C179A49EE7", "*XYZ", "*14E65567ABDB5135D0CFD9A70B3032C179A49EEZ"} {
		if _, err := ParseNativeHash(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	scr := []byte("01234567890123456789")
	if !verifyNative(NativeHash("pw"), scr, scrambleNative("pw", scr)) || verifyNative(NativeHash("pw"), scr, scrambleNative("px", scr)) {
		t.Fatal("verifyNative")
	}
}

// TestHotPathAllocs: reading a command and relaying a packet allocate nothing once warm.
func TestHotPathAllocs(t *testing.T) {
	pkt := packet(0, append([]byte{ComQuery}, "select * from t where id = 1"...))
	c := &Conn{
		br:        bufio.NewReaderSize(&loopReader{data: pkt}, bufSize),
		bw:        bufio.NewWriterSize(io.Discard, bufSize),
		maxPacket: defaultMaxPacket,
	}
	row := bytes.Repeat([]byte{'r'}, 200)
	allocs := testing.AllocsPerRun(1000, func() {
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		_ = c.WritePacket(p)
		_ = c.WritePacket(row)
		_ = c.WriteOK(1, 2, StatusAutocommit, 0, "")
		_ = c.Flush()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per command", allocs)
	}
}

// loopReader repeats data forever.
type loopReader struct {
	data []byte
	pos  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.pos:])
		n += c
		l.pos = (l.pos + c) % len(l.data)
	}
	return n, nil
}

func BenchmarkCommandRoundTrip(b *testing.B) {
	pkt := packet(0, append([]byte{ComQuery}, "select * from t where id = 1"...))
	c := &Conn{
		br:        bufio.NewReaderSize(&loopReader{data: pkt}, bufSize),
		bw:        bufio.NewWriterSize(io.Discard, bufSize),
		maxPacket: defaultMaxPacket,
	}
	row := bytes.Repeat([]byte{'r'}, 200)
	b.ReportAllocs()
	for b.Loop() {
		p, _ := c.ReadPacket()
		_ = c.WritePacket(p)
		_ = c.WritePacket(row)
		_ = c.Flush()
	}
}
