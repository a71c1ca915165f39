package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// MySQL codes the catalog has no constant for.
const (
	erHandshakeError = 1043 // ER_HANDSHAKE_ERROR: "Bad handshake"
)

func badHandshake(cause error) error {
	return sqlerr.Wrap(cause, erHandshakeError, "08S01", "Bad handshake")
}

func secureTransportRequired() error {
	return sqlerr.New(sqlerr.ERSecureTransportReq, "HY000",
		"Connections using insecure transport are prohibited while --require_secure_transport=ON.")
}

func hostBlocked(ip string) error {
	return sqlerr.New(sqlerr.ERHostBlocked, "HY000",
		"Host '%s' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'", ip)
}

var errOldProtocol = errors.New("client does not speak protocol 4.1")

// appendGreeting builds the Initial Handshake Packet v10. With MariaDB extended
// capabilities (ext != 0) it is a MariaDB greeting: CLIENT_MYSQL cleared and ext in the
// last 4 reserved bytes.
func appendGreeting(b []byte, version string, connID uint32, scramble []byte, caps, ext uint32, plugin string) []byte {
	if ext != 0 {
		caps &^= CapLongPassword
	}
	b = append(b, 10)
	b = append(b, version...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, connID)
	b = append(b, scramble[:8]...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, CollationUTF8MB4GeneralCI)
	b = binary.LittleEndian.AppendUint16(b, StatusAutocommit)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, byte(len(scramble)+1))
	// 10 reserved bytes; MariaDB puts its extended capabilities in the last 4 when
	// CLIENT_MYSQL (CLIENT_LONG_PASSWORD) is unset.
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, ext)
	b = append(b, scramble[8:]...)
	b = append(b, 0)
	b = append(b, plugin...)
	return append(b, 0)
}

// handshakeResponse is a parsed HandshakeResponse41 (or SSL request).
type handshakeResponse struct {
	capabilities uint32
	// mariadbCaps are the MariaDB extended capabilities of a client that cleared
	// CLIENT_MYSQL (the last 4 of the 23 reserved bytes); 0 otherwise.
	mariadbCaps  uint32
	maxPacket    uint32
	collation    uint8
	sslRequest   bool
	user         string
	authResponse []byte
	db           string
	plugin       string
	attrs        map[string]string
}

// parseHandshakeResponse parses a HandshakeResponse41. On a connection not yet using TLS,
// a packet with CLIENT_SSL is an SSL request and only its fixed part is read. The result
// does not alias pkt.
func parseHandshakeResponse(pkt []byte, tlsActive bool) (*handshakeResponse, error) {
	r := packetReader{b: pkt}
	caps, err := r.u32()
	if err != nil {
		return nil, err
	}
	if caps&CapProtocol41 == 0 {
		return nil, errOldProtocol
	}
	hr := &handshakeResponse{capabilities: caps}
	if hr.maxPacket, err = r.u32(); err != nil {
		return nil, err
	}
	if hr.collation, err = r.u8(); err != nil {
		return nil, err
	}
	reserved, err := r.bytes(23)
	if err != nil {
		return nil, err
	}
	if caps&CapLongPassword == 0 {
		hr.mariadbCaps = binary.LittleEndian.Uint32(reserved[19:])
	}
	if caps&CapSSL != 0 && !tlsActive {
		hr.sslRequest = true
		return hr, nil
	}
	hr.user = string(r.nulString())
	var auth []byte
	switch {
	case caps&CapPluginAuthLenencClientData != 0:
		auth, err = r.lenEncBytes()
	case caps&CapSecureConnection != 0:
		var n byte
		if n, err = r.u8(); err == nil {
			auth, err = r.bytes(int(n))
		}
	default:
		auth = r.nulString()
	}
	if err != nil {
		return nil, err
	}
	hr.authResponse = bytes.Clone(auth)
	if caps&CapConnectWithDB != 0 && r.remaining() > 0 {
		hr.db = string(r.nulString())
	}
	if caps&CapPluginAuth != 0 && r.remaining() > 0 {
		hr.plugin = string(r.nulString())
	}
	if caps&CapConnectAttrs != 0 && r.remaining() > 0 {
		if hr.attrs, err = parseAttrs(&r); err != nil {
			return nil, err
		}
	}
	return hr, nil
}

func parseAttrs(r *packetReader) (map[string]string, error) {
	all, err := r.lenEncBytes()
	if err != nil {
		return nil, err
	}
	ar := packetReader{b: all}
	attrs := make(map[string]string)
	for ar.remaining() > 0 {
		k, err := ar.lenEncBytes()
		if err != nil {
			return nil, err
		}
		v, err := ar.lenEncBytes()
		if err != nil {
			return nil, err
		}
		attrs[string(k)] = string(v)
	}
	return attrs, nil
}

// handshake runs the connection phase: greeting, optional TLS upgrade, handshake response,
// admission checks and authentication. An error that is an *sqlerr.Error is meant for the
// client (the caller writes it); any other error means the connection is unusable.
func (s *Server) handshake(c *Conn, admitted bool) error {
	scramble, err := newScramble()
	if err != nil {
		return err
	}
	c.scramble = scramble
	c.seq = 0
	ext := s.mariadbCaps.Load()
	c.wbuf = appendGreeting(c.wbuf[:0], s.cfg.ServerVersion, c.ID, scramble, s.caps, ext, s.cfg.DefaultAuthPlugin)
	if err := c.WritePacket(c.wbuf); err != nil {
		return fmt.Errorf("write greeting: %w", err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("write greeting: %w", err)
	}
	hr, err := c.readHandshakeResponse(false)
	if err != nil {
		return err
	}
	if hr.sslRequest {
		if s.cfg.TLS == nil {
			return errors.New("client requested TLS, which is not offered")
		}
		if err := c.startTLS(s.cfg.TLS); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		if hr, err = c.readHandshakeResponse(true); err != nil {
			return err
		}
	}
	if !admitted {
		return sqlerr.TooManyConnections()
	}
	if s.cfg.RequireTLS && !c.TLS {
		return secureTransportRequired()
	}
	if s.cfg.AuthFailureLimiter != nil {
		if ip := remoteIP(c.RemoteAddr); !s.cfg.AuthFailureLimiter(ip) {
			return hostBlocked(ip)
		}
	}
	c.clientCaps = hr.capabilities
	c.Capabilities = hr.capabilities & s.caps
	c.MariaDBCapabilities = hr.mariadbCaps & ext
	c.Collation = hr.collation
	c.DB = hr.db
	c.Attrs = hr.attrs
	u, plugin, err := s.authenticate(c, authRequest{user: hr.user, resp: hr.authResponse, plugin: hr.plugin, scramble: scramble})
	if err != nil {
		return err
	}
	c.User = u
	c.AuthPlugin = plugin
	c.maxPacket = s.cfg.MaxPacket
	return nil
}

func (c *Conn) readHandshakeResponse(tlsActive bool) (*handshakeResponse, error) {
	pkt, err := c.ReadPacket()
	if err != nil {
		if errors.Is(err, ErrPacketTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("read handshake response: %w", err)
	}
	hr, err := parseHandshakeResponse(pkt, tlsActive)
	if err != nil {
		return nil, badHandshake(err)
	}
	if hr.sslRequest && tlsActive {
		return nil, badHandshake(errors.New("second SSL request"))
	}
	return hr, nil
}

// ChangeUser performs COM_CHANGE_USER (pkt is the whole command packet): it parses the
// packet, authenticates the new user (with an auth switch if needed, over the
// connection's original scramble) and, on success, replaces User, AuthPlugin, DB,
// Collation and Attrs. It writes the authentication exchange but not the final OK: the
// proxy resets its session state, checks DB, and then writes OK or ERR itself. On
// failure the connection's identity is unchanged and the returned error (Access denied,
// or Malformed packet) is meant for WriteErr; closing the connection afterwards is safest.
func (c *Conn) ChangeUser(pkt []byte) error {
	malformed := sqlerr.New(sqlerr.ERMalformedPacket, "HY000", "Malformed communication packet")
	if len(pkt) == 0 || pkt[0] != ComChangeUser {
		return malformed
	}
	r := packetReader{b: pkt[1:]}
	user := string(r.nulString())
	var auth []byte
	var err error
	if c.clientCaps&CapSecureConnection != 0 {
		var n byte
		if n, err = r.u8(); err == nil {
			auth, err = r.bytes(int(n))
		}
	} else {
		auth = r.nulString()
	}
	if err != nil {
		return malformed
	}
	auth = bytes.Clone(auth)
	db := string(r.nulString())
	collation := c.Collation
	if r.remaining() >= 2 {
		cs, _ := r.u16()
		collation = uint8(cs)
	}
	var plugin string
	if c.clientCaps&CapPluginAuth != 0 && r.remaining() > 0 {
		plugin = string(r.nulString())
	}
	attrs := c.Attrs
	if c.clientCaps&CapConnectAttrs != 0 && r.remaining() > 0 {
		if attrs, err = parseAttrs(&r); err != nil {
			return malformed
		}
	}
	u, usedPlugin, err := c.srv.authenticate(c, authRequest{user: user, resp: auth, plugin: plugin, scramble: c.scramble})
	if err != nil {
		return err
	}
	c.User, c.AuthPlugin, c.DB, c.Collation, c.Attrs = u, usedPlugin, db, collation, attrs
	return nil
}
