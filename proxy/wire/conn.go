package wire

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// ErrPacketTooLarge is returned by ReadPacket when the client's logical packet is bigger
// than Config.MaxPacket (or, before authentication, than 1 MiB). It is an *sqlerr.Error,
// so it can be written with WriteErr as is; the connection must then be closed, as the
// rest of the packet is still on the wire.
var ErrPacketTooLarge = sqlerr.PacketTooLarge()

// pollInterval is how long WaitClientGone blocks in one read before re-checking stop.
const pollInterval = 200 * time.Millisecond

// lingerTimeout bounds how long a connection closed after an oversized packet keeps
// draining the client's bytes, so the client reads our ERR instead of a TCP reset.
const lingerTimeout = 2 * time.Second

type connState uint8

const (
	stateHandshake connState = iota
	stateIdle                // waiting for the next command: Shutdown may close it
	stateBusy                // running a command: Shutdown lets it finish
)

// Conn is one client connection. Its exported fields are filled by the handshake and
// are read-only afterwards, except Data and Status, which belong to the proxy. Packet
// methods must be called from the goroutine running the Handler (one command at a time);
// Close and WaitClientGone (see its comment) are the exceptions.
type Conn struct {
	ID           uint32 // unique connection id (starts at 1)
	User         *User
	Capabilities uint32 // negotiated: client's & server's
	// MariaDBCapabilities are the negotiated MariaDB extended capabilities
	// (MariaDBCap*: the client's & those offered in its greeting).
	MariaDBCapabilities uint32
	Collation           uint8             // client's collation id from the handshake response
	DB                  string            // schema named in the handshake response ("" if none)
	Attrs               map[string]string // connection attributes (nil if none were sent)
	RemoteAddr          net.Addr
	TLS                 bool
	AuthPlugin          string // plugin that authenticated the user
	// Status is the server status wire puts in the OK packets it writes itself (the
	// handshake OK and COM_PING). It starts as StatusAutocommit; the proxy keeps it current
	// (e.g. StatusInTrans) if it wants PING to report the session state.
	Status uint16
	Data   any // the proxy's per-connection state

	srv        *Server
	raw        net.Conn // the accepted socket: deadlines and Close act on it
	tlsConn    *tls.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	seq        uint8
	maxPacket  int
	rbuf       []byte  // ReadPacket's reused buffer
	rhdr       [4]byte // header of the packet being read
	whdr       [4]byte // header of the packet being written
	wbuf       []byte  // scratch for packets built here (OK, ERR, rows)
	scramble   []byte  // the handshake's nonce, kept for COM_CHANGE_USER
	clientCaps uint32  // capabilities exactly as the client sent them

	// rmu serialises the reading side: ReadPacket against a WaitClientGone that a
	// careless caller left running in another goroutine.
	rmu sync.Mutex

	mu        sync.Mutex // guards state against Shutdown
	state     connState
	closeOnce sync.Once
	closeErr  error
}

func newConn(s *Server, raw net.Conn, id uint32) *Conn {
	return &Conn{
		ID:         id,
		RemoteAddr: raw.RemoteAddr(),
		Status:     StatusAutocommit,
		srv:        s,
		raw:        raw,
		br:         bufio.NewReaderSize(raw, bufSize),
		bw:         bufio.NewWriterSize(raw, bufSize),
		maxPacket:  min(handshakeMaxPacket, s.cfg.MaxPacket),
	}
}

// ReadPacket returns the next logical packet's payload from the client, reassembling
// packets split at 16 MiB. The slice is valid until the next ReadPacket. The next write
// uses the packet's sequence id + 1. Pending buffered writes are flushed first, so a
// handler that asks the client for something (LOCAL INFILE) cannot deadlock.
func (c *Conn) ReadPacket() ([]byte, error) {
	// Flush before taking rmu: a WaitClientGone still polling holds it until the client
	// sends something, which the client may do only once it has our answer.
	if c.bw.Buffered() > 0 {
		if err := c.bw.Flush(); err != nil {
			return nil, err
		}
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if cap(c.rbuf) > keepReadBuf {
		c.rbuf = nil // one huge packet must not pin its memory for the connection's life
	}
	buf := c.rbuf[:0]
	for {
		if _, err := io.ReadFull(c.br, c.rhdr[:]); err != nil {
			if len(buf) > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n := int(c.rhdr[0]) | int(c.rhdr[1])<<8 | int(c.rhdr[2])<<16
		c.seq = c.rhdr[3] + 1
		if len(buf)+n > c.maxPacket {
			return nil, ErrPacketTooLarge
		}
		start := len(buf)
		buf = slices.Grow(buf, n)[:start+n]
		if _, err := io.ReadFull(c.br, buf[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			c.rbuf = buf[:0]
			return nil, err
		}
		if n < maxPayload {
			break
		}
	}
	c.rbuf = buf
	return buf, nil
}

// WritePacket buffers payload as one logical packet with the next sequence id, split into
// 16 MiB-1 pieces when needed (a payload that is an exact multiple ends with an empty
// packet, as the protocol requires). Nothing reaches the client before Flush.
func (c *Conn) WritePacket(payload []byte) error {
	for {
		n := min(len(payload), maxPayload)
		c.whdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), c.seq}
		if _, err := c.bw.Write(c.whdr[:]); err != nil {
			return err
		}
		if _, err := c.bw.Write(payload[:n]); err != nil {
			return err
		}
		c.seq++
		payload = payload[n:]
		if n < maxPayload {
			return nil
		}
	}
}

// Flush sends buffered writes to the client.
func (c *Conn) Flush() error { return c.bw.Flush() }

// SetSeq sets the sequence id of the next packet written.
func (c *Conn) SetSeq(seq uint8) { c.seq = seq }

// Seq is the sequence id of the next packet written.
func (c *Conn) Seq() uint8 { return c.seq }

// Close closes the client socket. It is safe from any goroutine and idempotent; the
// connection's goroutine then ends and Handler.Closed runs there. Buffered writes are
// dropped: flush first when they matter.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.raw.Close() })
	return c.closeErr
}

// TLSConnectionState describes the client's own TLS session (for Ssl_cipher and
// friends); ok is false on a plain connection.
func (c *Conn) TLSConnectionState() (state tls.ConnectionState, ok bool) {
	if c.tlsConn == nil {
		return tls.ConnectionState{}, false
	}
	return c.tlsConn.ConnectionState(), true
}

// WaitClientGone blocks until the client socket is closed or fails (true) or stop is
// closed (false). It never consumes client bytes: it peeks with short read deadlines and
// restores the connection's read deadline on return. If the client has already sent more
// bytes (pipelining), closure cannot be seen without reading them, so it just waits for
// stop.
//
// It may run in a goroutine other than the handler's, while the handler writes. The
// caller should close stop when the backend answers; it need not wait for the return:
// a ReadPacket meanwhile waits for it, which ends at once when the client sends its next
// packet, or within 200ms.
func (c *Conn) WaitClientGone(stop <-chan struct{}) bool {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	// After the handshake the read deadline is always zero: that is what we restore.
	defer func() { _ = c.raw.SetReadDeadline(time.Time{}) }()
	for {
		select {
		case <-stop:
			return false
		default:
		}
		if c.br.Buffered() > 0 {
			<-stop
			return false
		}
		if err := c.raw.SetReadDeadline(time.Now().Add(pollInterval)); err != nil {
			return true // the socket is closed
		}
		_, err := c.br.Peek(1)
		switch {
		case err == nil:
			<-stop
			return false
		case isTimeout(err):
			continue
		default:
			return true
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// setState records what the connection is doing, unless the server is shutting down,
// in which case it returns false and the connection must end.
func (c *Conn) setState(st connState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv.shutting.Load() {
		return false
	}
	c.state = st
	return true
}

// closeIfIdle is Shutdown's part: a connection between commands (or still in its
// handshake) is closed now; a busy one sees the shutdown when its command ends.
func (c *Conn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateBusy {
		_ = c.Close()
	}
}

// startTLS upgrades the connection after an SSL request. Bytes of the TLS ClientHello
// that are already buffered are handed to the TLS layer first.
func (c *Conn) startTLS(cfg *tls.Config) error {
	var under net.Conn = c.raw
	if c.br.Buffered() > 0 {
		under = &bufferedConn{Conn: c.raw, r: c.br}
	}
	tc := tls.Server(under, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	c.tlsConn = tc
	c.TLS = true
	if under == c.raw {
		c.br.Reset(tc)
	} else {
		c.br = bufio.NewReaderSize(tc, bufSize)
	}
	c.bw.Reset(tc)
	return nil
}

// bufferedConn reads what a bufio.Reader already holds before reading the socket.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) {
	if b.r.Buffered() > 0 {
		return b.r.Read(p)
	}
	return b.Conn.Read(p)
}

// lingerClose drains and discards what the client is still sending (bounded in time and
// bytes) after our final ERR, so the client reads the ERR rather than a connection reset
// caused by closing a socket with unread data.
func (c *Conn) lingerClose() {
	if tc, ok := c.raw.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.raw.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.raw, 256<<20))
	_ = c.Close()
}

func remoteIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
