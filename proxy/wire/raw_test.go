package wire

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// These tests speak the protocol by hand, checking sequence ids on every packet.

func TestGreeting(t *testing.T) {
	serverTLS, _, _ := testTLS(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		ssl  bool
	}{
		{"plain", Config{}, false},
		{"tls", Config{TLS: serverTLS}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.cfg)
			rc := dialRaw(t, ts.addr)
			want := ServerCapabilities
			if tc.ssl {
				want |= CapSSL
			}
			if rc.caps != want {
				t.Fatalf("capabilities %#x, want %#x", rc.caps, want)
			}
			for _, c := range []uint32{CapDeprecateEOF, CapSessionTrack, CapQueryAttributes, CapCompress} {
				if rc.caps&c != 0 {
					t.Fatalf("offers capability %#x", c)
				}
			}
			if rc.plugin != PluginNativePassword || len(rc.scramble) != 20 || bytes.IndexByte(rc.scramble, 0) >= 0 {
				t.Fatalf("plugin %q scramble %q", rc.plugin, rc.scramble)
			}
		})
	}
}

func TestClientNamesCachingSHA2(t *testing.T) {
	ts := startServer(t, Config{}) // greeting names mysql_native_password

	t.Run("fast auth", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.write(1, buildHandshakeResponse(rawClientCaps, "alice", scrambleSHA2("secret", rc.scramble), "", PluginCachingSHA2Password, nil))
		if p := rc.expect(2); !bytes.Equal(p, []byte{0x01, 0x03}) {
			t.Fatalf("want fast_auth_success, got %q", p)
		}
		if p := rc.expect(3); p[0] != headerOK {
			t.Fatalf("want OK, got %q", p)
		}
		if p := rc.query("select 1"); p[0] != 1 {
			t.Fatalf("column count packet %q", p)
		}
	})
	t.Run("full auth with public key request", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.write(1, buildHandshakeResponse(rawClientCaps, "bob", scrambleSHA2("hunter2", rc.scramble), "", PluginCachingSHA2Password, nil))
		if p := rc.expect(2); !bytes.Equal(p, []byte{0x01, 0x04}) {
			t.Fatalf("want perform_full_authentication, got %q", p)
		}
		rc.write(3, []byte{0x02})
		p := rc.expect(4)
		block, _ := pem.Decode(p[1:])
		if p[0] != 0x01 || block == nil {
			t.Fatalf("want public key, got %q", p)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		plain := append([]byte("hunter2"), 0)
		for i := range plain {
			plain[i] ^= rc.scramble[i%len(rc.scramble)]
		}
		enc, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub.(*rsa.PublicKey), plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		rc.write(5, enc)
		if p := rc.expect(6); p[0] != headerOK {
			t.Fatalf("want OK, got %q", p)
		}
	})
	t.Run("full auth refuses clear text without TLS", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.write(1, buildHandshakeResponse(rawClientCaps, "bob", scrambleSHA2("hunter2", rc.scramble), "", PluginCachingSHA2Password, nil))
		rc.expect(2)
		rc.write(3, []byte("hunter2\x00"))
		if p := rc.expect(4); errCode(p) != 1045 {
			t.Fatalf("want 1045, got %q", p)
		}
	})
	t.Run("empty response switches to native", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.write(1, buildHandshakeResponse(rawClientCaps, "alice", nil, "", PluginCachingSHA2Password, nil))
		p := rc.expect(2)
		want := append(append([]byte("\xfemysql_native_password\x00"), rc.scramble...), 0)
		if !bytes.Equal(p, want) {
			t.Fatalf("want auth switch, got %q", p)
		}
		rc.write(3, scrambleNative("secret", rc.scramble))
		if p := rc.expect(4); p[0] != headerOK {
			t.Fatalf("want OK, got %q", p)
		}
	})
}

func TestAuthSwitchFromOtherPlugin(t *testing.T) {
	ts := startServer(t, Config{})
	for _, plugin := range []string{"sha256_password", "client_ed25519", "mysql_clear_password"} {
		t.Run(plugin, func(t *testing.T) {
			rc := dialRaw(t, ts.addr)
			rc.write(1, buildHandshakeResponse(rawClientCaps, "bob", []byte("whatever"), "", plugin, nil))
			p := rc.expect(2)
			if !bytes.HasPrefix(p, []byte("\xfemysql_native_password\x00")) {
				t.Fatalf("want auth switch, got %q", p)
			}
			rc.write(3, scrambleNative("hunter2", rc.scramble))
			if p := rc.expect(4); p[0] != headerOK {
				t.Fatalf("want OK, got %q", p)
			}
		})
	}
	t.Run("wrong password after switch", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.write(1, buildHandshakeResponse(rawClientCaps, "bob", []byte("x"), "", "sha256_password", nil))
		rc.expect(2)
		rc.write(3, scrambleNative("nope", rc.scramble))
		if p := rc.expect(4); errCode(p) != 1045 {
			t.Fatalf("want 1045, got %q", p)
		}
	})
	t.Run("client without plugin auth", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		caps := rawClientCaps &^ (CapPluginAuth | CapPluginAuthLenencClientData | CapConnectAttrs)
		rc.write(1, buildHandshakeResponse(caps, "alice", scrambleNative("secret", rc.scramble), "", "", nil))
		if p := rc.expect(2); p[0] != headerOK {
			t.Fatalf("want OK, got %q", p)
		}
	})
}

func TestTLSUpgradeRaw(t *testing.T) {
	serverTLS, _, clientTLS := testTLS(t)
	ts := startServer(t, Config{TLS: serverTLS, DefaultAuthPlugin: PluginCachingSHA2Password})
	rc := dialRaw(t, ts.addr)
	// SSL request and the TLS ClientHello in one write: the server must hand the
	// already-buffered bytes to the TLS layer.
	req := buildHandshakeResponse(rawClientCaps|CapSSL, "", nil, "", "", nil)
	hdr := []byte{byte(len(req)), 0, 0, 1}
	tc := tlsClientOver(t, rc.nc, append(hdr, req...), clientTLS)
	rc.nc, rc.br = tc, tc
	rc.write(2, buildHandshakeResponse(rawClientCaps|CapSSL, "bob", scrambleSHA2("hunter2", rc.scramble), "", PluginCachingSHA2Password, nil))
	if p := rc.expect(3); !bytes.Equal(p, []byte{0x01, 0x04}) {
		t.Fatalf("want perform_full_authentication, got %q", p)
	}
	rc.write(4, []byte("hunter2\x00"))
	if p := rc.expect(5); p[0] != headerOK {
		t.Fatalf("want OK, got %q", p)
	}
}

func TestPacketBoundaries(t *testing.T) {
	if testing.Short() {
		t.Skip("moves ~50 MB")
	}
	ts := startServer(t, Config{})
	rc := dialRaw(t, ts.addr)
	rc.login("alice", "secret")

	// A command of exactly 16 MiB-1 bytes must be followed by an empty packet.
	q := append([]byte{ComQuery}, "len "...)
	q = append(q, bytes.Repeat([]byte{'q'}, maxPayload-len(q))...)
	rc.write(0, q)
	rc.write(1, nil)
	if _, p := rc.read(); p[0] != 1 {
		t.Fatalf("column count %q", p)
	}
	rc.expect(3) // column definition
	rc.expect(4) // EOF
	row := rc.expect(5)
	if got := string(row[1:]); got != strconv.Itoa(maxPayload-5) {
		t.Fatalf("len = %s", got)
	}
	rc.expect(6) // EOF

	// A row of exactly 16 MiB-1 bytes is written as a full packet plus an empty one.
	rc.write(0, append([]byte{ComQuery}, "big "+strconv.Itoa(maxPayload-4)...))
	rc.expect(1)
	rc.expect(2)
	rc.expect(3)
	if p := rc.expect(4); len(p) != maxPayload {
		t.Fatalf("first row piece %d bytes", len(p))
	}
	if p := rc.expect(5); len(p) != 0 {
		t.Fatalf("terminating piece %d bytes", len(p))
	}
	if p := rc.expect(6); p[0] != headerEOF {
		t.Fatalf("want EOF, got %q", p[:min(len(p), 20)])
	}
}

func TestCommandLoopRaw(t *testing.T) {
	ts := startServer(t, Config{})
	rc := dialRaw(t, ts.addr)
	rc.login("alice", "secret")

	if p := rc.query("ok"); p[0] != headerOK {
		t.Fatalf("ok: %q", p)
	}
	rc.write(0, []byte{ComPing})
	if p := rc.expect(1); p[0] != headerOK {
		t.Fatalf("ping: %q", p)
	}
	// An empty command packet is an unknown command, not the end of the connection.
	rc.write(0, nil)
	if p := rc.expect(1); errCode(p) != 1047 {
		t.Fatalf("empty command: %q", p)
	}
	// Pipelined commands are answered in order.
	rc.nc.Write([]byte("\x01\x00\x00\x00\x0e\x01\x00\x00\x00\x0e"))
	rc.expect(1)
	rc.expect(1)
	// A command sent with a sequence id other than 0: the answer follows it.
	rc.write(5, []byte{ComPing})
	rc.expect(6)
	// COM_QUIT closes without an answer.
	rc.write(0, []byte{ComQuit})
	if _, _, err := rc.tryRead(); err != io.EOF {
		t.Fatalf("after COM_QUIT: %v", err)
	}
	waitFor(t, func() bool { return ts.h.closed.Load() == 1 })
}

func TestChangeUser(t *testing.T) {
	ts := startServer(t, Config{})
	rc := dialRaw(t, ts.addr)
	rc.login("alice", "secret")

	pkt := []byte{ComChangeUser}
	pkt = append(pkt, "bob\x00"...)
	auth := scrambleNative("hunter2", rc.scramble)
	pkt = append(pkt, byte(len(auth)))
	pkt = append(pkt, auth...)
	pkt = append(pkt, "otherdb\x00"...)
	pkt = binary.LittleEndian.AppendUint16(pkt, 46)
	pkt = append(pkt, "mysql_native_password\x00"...)
	rc.write(0, pkt)
	if p := rc.expect(1); p[0] != headerOK {
		t.Fatalf("change user: %q", p)
	}
	c, ok := ts.Conn(1)
	if !ok {
		t.Fatal("no conn 1")
	}
	rc.write(0, []byte{ComPing}) // orders the read of c's fields after ChangeUser
	rc.expect(1)
	if c.User.Name != "bob" || c.DB != "otherdb" || c.Collation != 46 {
		t.Fatalf("after change user: %s %s %d", c.User.Name, c.DB, c.Collation)
	}

	// A wrong password is refused.
	pkt = []byte{ComChangeUser}
	pkt = append(pkt, "alice\x00\x14"...)
	pkt = append(pkt, scrambleNative("nope", rc.scramble)...)
	pkt = append(pkt, "\x00"...)
	rc.write(0, pkt)
	if p := rc.expect(1); errCode(p) != 1045 {
		t.Fatalf("want 1045, got %q", p)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, Config{HandshakeTimeout: 200 * time.Millisecond})
	rc := dialRaw(t, ts.addr)
	start := time.Now()
	if _, _, err := rc.tryRead(); err == nil {
		t.Fatal("got a packet while sending nothing")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
	waitFor(t, func() bool { return ts.ConnCount() == 0 })

	// Also mid-packet: a header promising more than is sent.
	rc = dialRaw(t, ts.addr)
	rc.nc.Write([]byte{100, 0, 0, 1, 1, 2, 3})
	if _, _, err := rc.tryRead(); err == nil {
		t.Fatal("got a packet for a truncated handshake response")
	}
	waitFor(t, func() bool { return ts.ConnCount() == 0 })
}

func TestBadHandshakes(t *testing.T) {
	ts := startServer(t, Config{})
	cases := map[string][]byte{
		"garbage":           []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"short":             {1, 2},
		"not protocol 4.1":  {0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
		"ssl without tls":   buildHandshakeResponse(rawClientCaps|CapSSL, "", nil, "", "", nil),
		"truncated auth":    buildHandshakeResponse(rawClientCaps, "alice", make([]byte, 20), "", "", nil)[:40],
		"bad attrs":         badAttrs(),
		"lenenc auth 0xfb":  append(buildHandshakeResponse(rawClientCaps, "alice", nil, "", "", nil)[:38], 0xfb),
		"empty user no nul": buildHandshakeResponse(rawClientCaps, "", nil, "", "", nil)[:32],
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, ts.addr)
			if name == "garbage" {
				rc.nc.Write(payload) // not even a packet header
			} else {
				rc.write(1, payload)
			}
			// Either an ERR or a close; never an OK, never a hang.
			for {
				_, p, err := rc.tryRead()
				if err != nil {
					break
				}
				if p[0] != headerErr {
					t.Fatalf("answered %q to %q", p, payload)
				}
			}
		})
	}
	waitFor(t, func() bool { return ts.ConnCount() == 0 })
	if n := ts.h.connected.Load(); n != 0 {
		t.Fatalf("Connected called %d times", n)
	}
	// The server still works.
	rc := dialRaw(t, ts.addr)
	rc.login("alice", "secret")
}

// badAttrs is a handshake response whose connection attributes claim more bytes than follow.
func badAttrs() []byte {
	b := buildHandshakeResponse(rawClientCaps&^CapConnectAttrs, "alice", nil, "", "x", nil)
	binary.LittleEndian.PutUint32(b, rawClientCaps)
	return append(b, 0xfc, 0xff, 0x00, 1, 'k')
}

func TestOversizedHandshakeResponse(t *testing.T) {
	ts := startServer(t, Config{})
	rc := dialRaw(t, ts.addr)
	// 2 MiB before authentication is refused without being buffered.
	rc.nc.Write([]byte{0, 0, 0x20, 1})
	if p := rc.expect(2); errCode(p) != 1153 {
		t.Fatalf("want 1153, got %q", p)
	}
}

func TestWaitClientGone(t *testing.T) {
	ts := startServer(t, Config{})

	t.Run("client closes", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.login("alice", "secret")
		rc.write(0, append([]byte{ComQuery}, "waitgone"...))
		time.Sleep(50 * time.Millisecond)
		rc.nc.Close()
		select {
		case gone := <-ts.h.waitGone:
			if !gone {
				t.Fatal("WaitClientGone returned false")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WaitClientGone did not notice the client leaving")
		}
	})
	t.Run("watcher left running", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.login("alice", "secret")
		for range 3 {
			if p := rc.query("waitasync"); p[0] != headerOK {
				t.Fatalf("waitasync: %q", p)
			}
			rc.write(0, []byte{ComPing})
			if p := rc.expect(1); p[0] != headerOK {
				t.Fatalf("ping: %q", p)
			}
		}
	})
	t.Run("stop", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.login("alice", "secret")
		// A pipelined PING after the query must not be consumed by WaitClientGone.
		q := append([]byte{byte(len("waitstop") + 1), 0, 0, 0, ComQuery}, "waitstop"...)
		rc.nc.Write(q)
		rc.expect(1)
		rc.expect(2)
		rc.expect(3)
		if row := rc.expect(4); string(row[1:]) != "false" {
			t.Fatalf("WaitClientGone = %q", row[1:])
		}
		rc.expect(5)
		// The read deadline was restored: an idle pause longer than the poll interval is fine.
		time.Sleep(500 * time.Millisecond)
		rc.write(0, []byte{ComPing})
		if p := rc.expect(1); p[0] != headerOK {
			t.Fatalf("ping after WaitClientGone: %q", p)
		}
		// With a pipelined command already buffered, WaitClientGone waits for stop and the
		// command is still answered afterwards.
		ping := []byte{1, 0, 0, 0, ComPing}
		rc.nc.Write(append(q, ping...))
		for seq := byte(1); seq <= 5; seq++ {
			rc.expect(seq)
		}
		if p := rc.expect(1); p[0] != headerOK {
			t.Fatalf("pipelined ping: %q", p)
		}
	})
}

// tlsClientOver sends first (the SSL request) in the same write as the TLS ClientHello
// and completes a TLS client handshake on nc.
func tlsClientOver(t *testing.T, nc net.Conn, first []byte, cfg *tls.Config) *tls.Conn {
	t.Helper()
	tc := tls.Client(&prefixWriteConn{Conn: nc, prefix: first}, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	return tc
}

type prefixWriteConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixWriteConn) Write(b []byte) (int, error) {
	if p.prefix != nil {
		buf := append(p.prefix, b...)
		p.prefix = nil
		_, err := p.Conn.Write(buf)
		return len(b), err
	}
	return p.Conn.Write(b)
}
