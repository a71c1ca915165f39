package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/vtgate-lite/vtgate-lite/internal/backendaddr"
	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// MySQL command bytes and packet markers used by the relay.
const (
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comFieldList        = 0x04
	comStatistics       = 0x09
	comProcessKill      = 0x0c
	comPing             = 0x0e
	comChangeUser       = 0x11
	comStmtPrepare      = 0x16
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtClose        = 0x19
	comStmtReset        = 0x1a
	comSetOption        = 0x1b
	comStmtFetch        = 0x1c
	comResetConnection  = 0x1f

	pktOK    = 0x00
	pktEOF   = 0xfe
	pktErr   = 0xff
	pktLocal = 0xfb

	statusInTrans     = 0x0001
	statusAutocommit  = 0x0002
	statusMoreResults = 0x0008

	maxPayload = 1<<24 - 1
)

// backendCaps is the fixed capability set of every backend connection. It matches what
// the front end offers clients (no DEPRECATE_EOF, no session tracking, no query
// attributes: see wire.ServerCapabilities), so relayed packets have the format the client
// negotiated. What varies per client is in connCaps.
const backendCaps = mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_LOCAL_FILES

// connCaps are the client capabilities that a backend connection must negotiate exactly
// as its client did, because they change what the server sends; pools are keyed by them.
type connCaps struct {
	foundRows bool // CLIENT_FOUND_ROWS: an UPDATE's affected rows count matched rows
	// psMultiResults is CLIENT_PS_MULTI_RESULTS: a prepared CALL answers with its OUT
	// parameters as a result set (SERVER_PS_OUT_PARAMS) before the final OK; without it
	// the server sends none. go-sql-driver does not set it; libmariadb and mysql2 do.
	psMultiResults bool
	// extMeta is MARIADB_CLIENT_EXTENDED_METADATA: column definitions carry an extended
	// type info field (JSON, GEOMETRY subtypes...), relayed unchanged.
	extMeta bool
}

// clientConnCaps returns the connCaps of a client connection.
func clientConnCaps(c *wire.Conn) connCaps {
	return connCaps{
		foundRows:      c.Capabilities&wire.CapFoundRows != 0,
		psMultiResults: c.Capabilities&wire.CapPSMultiResults != 0,
		extMeta:        c.MariaDBCapabilities&wire.MariaDBCapExtendedMetadata != 0,
	}
}

// dialOptions says how to reach one backend server.
type dialOptions struct {
	Addr           string
	User           string
	Password       string
	Database       string
	FoundRows      bool
	PSMultiResults bool
	// ExtMetadata asks for MARIADB_CLIENT_EXTENDED_METADATA; a server that does not offer
	// it fails the dial (its column definitions would not have the client's format).
	ExtMetadata bool
	// Greeted, if set, is told the MariaDB extended capabilities of every server greeting
	// (0 for a MySQL server): the proxy offers clients only what its backends offer.
	Greeted func(mariadbCaps uint32)
	TLS     *tls.Config
	Timeout time.Duration
	// Poller keeps the socket in Go's network poller; otherwise it is read with blocking
	// system calls (toBlocking).
	Poller bool
}

// backendConn is one connection to a backend server, framed by the proxy itself after
// go-mysql's client did the handshake: the relay needs raw packets, not decoded rows.
type backendConn struct {
	pool   *pool
	netc   net.Conn
	br     *bufio.Reader
	wbuf   []byte
	rbuf   []byte
	seq    uint8
	id     uint32 // the server's connection id (for KILL QUERY)
	broken bool

	settings string // key of the session settings applied to this connection
	extMeta  bool   // negotiated MARIADB_CLIENT_EXTENDED_METADATA (column definitions)
	// pending is a statement (a transaction's BEGIN) that the next command carries ahead
	// of itself in the same write; command reads its OK. See session.beginOn.
	pending string
	status  uint16 // status flags of the last response
	lastUse time.Time
	dbEpoch uint64 // pool.dbEpoch when its database was last selected
	// stmts maps a query text to the statement prepared for it on this connection.
	stmts     map[string]*backendStmt
	stmtOrder []string
}

type backendStmt struct {
	id      uint32
	params  uint16
	columns uint16
}

func dialBackend(ctx context.Context, o dialOptions) (*backendConn, error) {
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	opts := []client.Option{func(c *client.Conn) error {
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		c.UnsetCapability(mysql.CLIENT_QUERY_ATTRIBUTES)
		for _, cp := range []uint32{mysql.CLIENT_MULTI_STATEMENTS, mysql.CLIENT_MULTI_RESULTS, mysql.CLIENT_LOCAL_FILES} {
			if err := c.SetCapability(cp); err != nil {
				return err
			}
		}
		if o.PSMultiResults {
			if err := c.SetCapability(mysql.CLIENT_PS_MULTI_RESULTS); err != nil {
				return err
			}
		}
		if o.FoundRows {
			if err := c.SetCapability(mysql.CLIENT_FOUND_ROWS); err != nil {
				return err
			}
		}
		if o.TLS != nil {
			c.SetTLSConfig(TLSForBackend(o.TLS, o.Addr))
		}
		return c.SetCollation("utf8mb4_general_ci")
	}}
	var want uint32
	if o.ExtMetadata {
		want = wire.MariaDBCapExtendedMetadata
	}
	var cc *capsConn
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc = &capsConn{Conn: nc, want: want}
		return cc, nil
	}
	c, err := client.ConnectWithDialer(ctx, "", o.Addr, o.User, o.Password, o.Database, dial, opts...)
	if cc != nil && cc.greeted && o.Greeted != nil {
		o.Greeted(cc.serverExt)
	}
	if err != nil {
		return nil, connectError(o.Addr, err)
	}
	if cc.got != want {
		c.Close()
		return nil, sqlerr.New(sqlerr.ERNotSupportedYet, "HY000",
			"backend %s does not offer MariaDB extended metadata (MARIADB_CLIENT_EXTENDED_METADATA), which this connection negotiated with vtgate-lite: reconnect (new connections are not offered it)", o.Addr)
	}
	// vtgate-lite's writes pass the triggers that deny writes bypassing it (migration deny.go):
	// the routing table, not the trigger, decides where this proxy writes.
	if _, err := c.Execute("SET " + backendaddr.WriterMark + " = 1"); err != nil {
		c.Close()
		return nil, connectError(o.Addr, err)
	}
	raw := c.Conn.Conn
	if raw == net.Conn(cc) {
		raw = cc.Conn // the handshake is over: no more watching (TLS keeps it: it is below)
	}
	_ = raw.SetDeadline(time.Time{})
	if !o.Poller {
		raw = toBlocking(raw)
	}
	b := &backendConn{
		netc:    raw,
		br:      bufio.NewReaderSize(raw, 32<<10),
		wbuf:    make([]byte, 0, 1024),
		rbuf:    make([]byte, 0, 4096),
		id:      c.GetConnectionID(),
		status:  statusAutocommit,
		lastUse: time.Now(),
		stmts:   map[string]*backendStmt{},
		extMeta: cc.got&wire.MariaDBCapExtendedMetadata != 0,
	}
	return b, nil
}

// capsConn watches the handshake go-mysql runs on a backend socket, for MariaDB's
// extended capabilities, which go-mysql does not know (it always sets CLIENT_MYSQL and
// zeroes the reserved bytes): it reads the server's from the greeting and, in the first
// packet the client writes (the handshake response, or the SSL request, whose
// capabilities MariaDB keeps for the connection), clears CLIENT_MYSQL and asks for those
// of want that the server offers. After that first write it only passes bytes through.
type capsConn struct {
	net.Conn
	want      uint32
	greeting  []byte // the greeting as read so far, header included
	greeted   bool   // the whole greeting was seen
	serverExt uint32 // the server's MariaDB extended capabilities (0: a MySQL server)
	wrote     bool   // the first client packet went out
	got       uint32 // extended capabilities asked for (and offered)
}

// maxGreeting bounds what capsConn keeps of a greeting (a real one is ~100 bytes).
const maxGreeting = 4 << 10

func (c *capsConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.greeted && n > 0 && len(c.greeting) < maxGreeting {
		c.greeting = append(c.greeting, p[:n]...)
		if len(c.greeting) >= 4 {
			l := int(c.greeting[0]) | int(c.greeting[1])<<8 | int(c.greeting[2])<<16
			if len(c.greeting) >= 4+l {
				c.greeted = true
				c.serverExt = greetingMariaDBCaps(c.greeting[4 : 4+l])
				c.greeting = nil
			}
		}
	}
	return n, err
}

func (c *capsConn) Write(p []byte) (int, error) {
	if c.wrote {
		return c.Conn.Write(p)
	}
	c.wrote = true
	// Header (4) + capabilities (4) + max packet (4) + collation (1) + reserved (23).
	if ask := c.want & c.serverExt; ask != 0 && len(p) >= 4+32 {
		q := append([]byte(nil), p...)
		q[4] &^= byte(mysql.CLIENT_LONG_PASSWORD) // CLIENT_MYSQL: the reserved bytes carry extended capabilities
		binary.LittleEndian.PutUint32(q[4+28:], ask)
		c.got = ask
		return c.Conn.Write(q)
	}
	return c.Conn.Write(p)
}

// greetingMariaDBCaps returns the MariaDB extended capabilities of a server greeting
// (Handshake v10): the last 4 of its 10 reserved bytes, when CLIENT_MYSQL is unset.
func greetingMariaDBCaps(g []byte) uint32 {
	if len(g) < 1 || g[0] != 10 {
		return 0
	}
	end := bytes.IndexByte(g[1:], 0)
	if end < 0 {
		return 0
	}
	pos := 1 + end + 1 + 4 + 8 + 1 // version, connection id, scramble part 1, filler
	if pos+2+1+2+2+1+10 > len(g) {
		return 0
	}
	caps := uint32(binary.LittleEndian.Uint16(g[pos:]))
	if caps&mysql.CLIENT_LONG_PASSWORD != 0 {
		return 0 // CLIENT_MYSQL: a MySQL server, no extended capabilities
	}
	pos += 2 + 1 + 2 + 2 + 1 + 6 // capabilities, charset, status, upper capabilities, auth data length, filler
	return binary.LittleEndian.Uint32(g[pos:])
}

// TLSForBackend returns cfg (backend_tls) for a connection to addr: see backendaddr.TLS.
func TLSForBackend(cfg *tls.Config, addr string) *tls.Config { return backendaddr.TLS(cfg, addr) }

// connectError is backendError for a connection that could not be opened. A backend's refusal
// keeps its code and state but names the backend (the client never logged in there: "Access
// denied for user 'root'" alone points at the wrong user; MariaDB 10.11 also refuses a plain
// login under require_secure_transport with 1045). A failed TLS handshake (certificate not
// trusted, wrong host, server without TLS) is 2026 (CR_SSL_CONNECTION_ERROR), not a lost
// connection.
func connectError(addr string, err error) error {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return sqlerr.Wrap(err, me.Code, me.State, "backend %s refused the connection: %s", addr, me.Message)
	}
	if isTLSError(err) {
		return sqlerr.Wrap(err, sqlerr.CRSSLConnectionError, "HY000", "SSL connection error to backend %s (backend_tls): %v", addr, err)
	}
	return backendError(addr, err)
}

func isTLSError(err error) bool {
	var cv *tls.CertificateVerificationError
	var alert tls.AlertError
	var rh tls.RecordHeaderError
	return errors.As(err, &cv) || errors.As(err, &alert) || errors.As(err, &rh) ||
		strings.Contains(err.Error(), "does not support TLS") // go-mysql: server without TLS
}

// backendError turns a dial/protocol failure into a MySQL error that names the server,
// keeping a backend's own MySQL error (code and state) when there is one.
func backendError(addr string, err error) error {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return sqlerr.Wrap(err, me.Code, me.State, "%s", me.Message)
	}
	var se *sqlerr.Error
	if errors.As(err, &se) { // the server's own ERR packet (parseErrPacket)
		return err
	}
	return sqlerr.Wrap(err, 2013, "HY000", "Lost connection to backend %s: %v", addr, err)
}

func (b *backendConn) close() {
	b.broken = true
	_ = b.netc.Close()
}

// readPacket returns the next logical packet; the slice is valid until the next read.
func (b *backendConn) readPacket() ([]byte, error) {
	b.rbuf = b.rbuf[:0]
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(b.br, hdr[:]); err != nil {
			b.broken = true
			return nil, err
		}
		n := int(uint32(hdr[0]) | uint32(hdr[1])<<8 | uint32(hdr[2])<<16)
		b.seq = hdr[3] + 1
		start := len(b.rbuf)
		if cap(b.rbuf)-start < n {
			nb := make([]byte, start, start+n)
			copy(nb, b.rbuf)
			b.rbuf = nb
		}
		b.rbuf = b.rbuf[:start+n]
		if _, err := io.ReadFull(b.br, b.rbuf[start:]); err != nil {
			b.broken = true
			return nil, err
		}
		if n < maxPayload {
			if cap(b.rbuf) > 1<<20 && len(b.rbuf) < 64<<10 {
				// Do not keep a huge buffer around after one big row.
				out := b.rbuf
				b.rbuf = make([]byte, 0, 4096)
				return out, nil
			}
			return b.rbuf, nil
		}
	}
}

// writePacket sends one logical packet with the connection's next sequence id.
func (b *backendConn) writePacket(payload []byte) error { return b.writeAfter(0, payload) }

// writeAfter sends the first keep bytes of wbuf (packets already framed) and the logical
// packet payload, in one write.
func (b *backendConn) writeAfter(keep int, payload []byte) error {
	buf := b.wbuf[:keep]
	for {
		n := len(payload)
		if n > maxPayload {
			n = maxPayload
		}
		buf = append(buf, byte(n), byte(n>>8), byte(n>>16), b.seq)
		buf = append(buf, payload[:n]...)
		b.seq++
		payload = payload[n:]
		if n < maxPayload {
			break
		}
	}
	_, err := b.netc.Write(buf)
	if cap(buf) <= 64<<10 {
		b.wbuf = buf[:0]
	}
	if err != nil {
		b.broken = true
	}
	return err
}

// command starts a new command: sequence 0, then the packet. A pending statement goes
// first, in the same write (MySQL servers answer pipelined commands in order), and its
// answer is read here: the caller reads the command's answer as usual. If the pending
// statement fails, the connection is closed, so the command that followed it (a read:
// session.beginOn) has no effect anyone sees, and its error is returned.
func (b *backendConn) command(payload []byte) error {
	if b.pending == "" {
		b.seq = 0
		return b.writePacket(payload)
	}
	first := b.pending
	b.pending = ""
	n := len(first) + 1
	buf := append(b.wbuf[:0], byte(n), byte(n>>8), byte(n>>16), 0, comQuery)
	buf = append(buf, first...)
	b.wbuf = buf
	b.seq = 0
	if err := b.writeAfter(len(buf), payload); err != nil {
		return err
	}
	pkt, err := b.readPacket()
	if err != nil {
		return err
	}
	switch pkt[0] {
	case pktOK:
		b.status = parseOK(pkt).status
		return nil
	case pktErr:
		err = parseErrPacket(pkt)
	default:
		err = sqlerr.Internal("unexpected answer to %q from %s", first, b.addr())
	}
	b.close()
	return err
}

// queryPayload builds a COM_QUERY packet for sql in the connection's write scratch.
func comQueryPayload(dst []byte, sql string) []byte {
	dst = append(dst[:0], comQuery)
	return append(dst, sql...)
}

// exec runs sql and reads its whole response, returning an error for an ERR packet.
// It is used for session setup statements (BEGIN, SET, COMMIT), never for client results.
func (b *backendConn) exec(sql string) (status uint16, err error) {
	if err := b.command(comQueryPayload(make([]byte, 0, len(sql)+1), sql)); err != nil {
		return 0, backendError(b.addr(), err)
	}
	for {
		pkt, err := b.readPacket()
		if err != nil {
			return 0, backendError(b.addr(), err)
		}
		switch {
		case pkt[0] == pktErr:
			return b.status, parseErrPacket(pkt)
		case pkt[0] == pktOK:
			ok := parseOK(pkt)
			b.status = ok.status
			if ok.status&statusMoreResults == 0 {
				return ok.status, nil
			}
		default:
			// A result set: skip it.
			st, err := b.skipResultSet()
			if err != nil {
				return 0, err
			}
			b.status = st
			if st&statusMoreResults == 0 {
				return st, nil
			}
		}
	}
}

// skipResultSet reads column definitions and rows up to the final EOF.
func (b *backendConn) skipResultSet() (uint16, error) {
	eofs := 0
	for {
		pkt, err := b.readPacket()
		if err != nil {
			return 0, backendError(b.addr(), err)
		}
		if pkt[0] == pktErr {
			return 0, parseErrPacket(pkt)
		}
		if pkt[0] == pktEOF && len(pkt) < 9 {
			eofs++
			if eofs == 2 {
				return binary.LittleEndian.Uint16(pkt[3:5]), nil
			}
		}
	}
}

func (b *backendConn) addr() string {
	if b.pool != nil {
		return b.pool.addr
	}
	return b.netc.RemoteAddr().String()
}

type okInfo struct {
	affected, insertID uint64
	status, warnings   uint16
	statusOff          int // offset of the status flags in the packet
}

func parseOK(pkt []byte) okInfo {
	var o okInfo
	pos := 1
	o.affected, pos = lenencInt(pkt, pos)
	o.insertID, pos = lenencInt(pkt, pos)
	if pos+4 <= len(pkt) {
		o.statusOff = pos
		o.status = binary.LittleEndian.Uint16(pkt[pos:])
		o.warnings = binary.LittleEndian.Uint16(pkt[pos+2:])
	}
	return o
}

func lenencInt(b []byte, pos int) (uint64, int) {
	if pos >= len(b) {
		return 0, pos
	}
	switch c := b[pos]; {
	case c < 0xfb:
		return uint64(c), pos + 1
	case c == 0xfc && pos+3 <= len(b):
		return uint64(b[pos+1]) | uint64(b[pos+2])<<8, pos + 3
	case c == 0xfd && pos+4 <= len(b):
		return uint64(b[pos+1]) | uint64(b[pos+2])<<8 | uint64(b[pos+3])<<16, pos + 4
	case c == 0xfe && pos+9 <= len(b):
		return binary.LittleEndian.Uint64(b[pos+1:]), pos + 9
	}
	return 0, len(b)
}

// parseErrPacket turns a backend ERR packet into an *sqlerr.Error with the backend's
// own code, SQLSTATE and message.
func parseErrPacket(pkt []byte) error {
	if len(pkt) < 3 {
		return sqlerr.Internal("malformed error packet from backend")
	}
	code := binary.LittleEndian.Uint16(pkt[1:3])
	state, msg := "HY000", pkt[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		state, msg = string(msg[1:6]), msg[6:]
	}
	return &sqlerr.Error{Code: code, State: state, Message: string(msg)}
}
