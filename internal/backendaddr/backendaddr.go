// Package backendaddr is what the proxy and the migration engine share about reaching a backend
// server from its configured address: host:port over TCP, or the absolute path of a unix socket
// when the server runs on the same host (cheaper than TCP over loopback: no TCP stack, no
// acknowledgements; see docs/benchmarks.md).
//
// go-mysql's client dials a unix socket for any address containing "/", so the connections
// themselves need nothing more; the binlog reader and TLS do. WriterMark is the one piece of
// session state both set up on their connections.
package backendaddr

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"strconv"
)

// WriterMark is a user variable that vtgate-lite's own backend sessions (the proxy's pooled
// connections, the migration engine's data connections) set to 1 at connect. After a write
// switch, the triggers the engine puts on the side that no longer takes writes (migration
// deny.go) refuse every write from a session without it: writes that bypass vtgate-lite.
const WriterMark = "@_vt_lite_apply"

// IsUnix reports whether addr is a unix socket path.
func IsUnix(addr string) bool { return filepath.IsAbs(addr) }

// TLS returns cfg (backend_tls) for a connection to addr. crypto/tls checks the server's
// certificate against ServerName, which go-mysql leaves empty: without a copy that names the
// host, a CA-verified config fails every handshake ("either ServerName or InsecureSkipVerify
// must be specified"). nil stays nil (plain TCP). A unix socket gets nil: it never leaves the
// host, and there is no host name to verify a certificate against.
func TLS(cfg *tls.Config, addr string) *tls.Config {
	if cfg == nil || IsUnix(addr) {
		return nil
	}
	if cfg.ServerName != "" || cfg.InsecureSkipVerify {
		return cfg
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

// HostPort splits addr for go-mysql's binlog reader (replication.BinlogSyncerConfig), which
// dials Host alone when Port is 0: a unix socket path gives (path, 0).
func HostPort(addr string) (string, uint16, error) {
	if IsUnix(addr) {
		return addr, 0, nil
	}
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(portS, 10, 16)
	if err != nil {
		return "", 0, err
	}
	return host, uint16(port), nil
}
