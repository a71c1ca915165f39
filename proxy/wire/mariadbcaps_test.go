package wire

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"testing"
)

// greetingExtCaps returns the capability flags and the last 4 reserved bytes (MariaDB's
// extended capabilities) of a greeting.
func greetingExtCaps(t *testing.T, g []byte) (caps, ext uint32) {
	t.Helper()
	p := 1 + bytes.IndexByte(g[1:], 0) + 1 + 4 + 9
	caps = uint32(binary.LittleEndian.Uint16(g[p:]))
	p += 2 + 1 + 2
	caps |= uint32(binary.LittleEndian.Uint16(g[p:])) << 16
	p += 2 + 1 + 6
	return caps, binary.LittleEndian.Uint32(g[p:])
}

// mariadbResponse is a handshake response of a MariaDB client: CLIENT_MYSQL cleared and
// ext in the last 4 reserved bytes.
func mariadbResponse(caps, ext uint32, user string, auth []byte) []byte {
	b := buildHandshakeResponse(caps, user, auth, "", PluginNativePassword, nil)
	binary.LittleEndian.PutUint32(b[28:], ext)
	return b
}

// columnDefAfterNames returns what follows the six length-encoded strings of a column
// definition.
func columnDefAfterNames(t *testing.T, p []byte) []byte {
	t.Helper()
	r := packetReader{b: p}
	for i := 0; i < 6; i++ {
		if _, err := r.lenEncBytes(); err != nil {
			t.Fatalf("column definition %q: %v", p, err)
		}
	}
	return p[r.pos:]
}

func TestMariaDBExtendedCapabilities(t *testing.T) {
	t.Run("not offered: a MySQL greeting", func(t *testing.T) {
		ts := startServer(t, Config{})
		_, g := dialRawGreeting(t, ts.addr)
		caps, ext := greetingExtCaps(t, g)
		if caps&CapLongPassword == 0 || ext != 0 {
			t.Fatalf("caps %#x ext %#x: want CLIENT_MYSQL set and no extended capabilities", caps, ext)
		}
	})

	ts := startServer(t, Config{MariaDBCapabilities: MariaDBCapExtendedMetadata | 1<<4 /* CACHE_METADATA: never offered */})
	if got := ts.OfferedMariaDBCapabilities(); got != MariaDBCapExtendedMetadata {
		t.Fatalf("offered %#x, want extended metadata only", got)
	}
	rc, g := dialRawGreeting(t, ts.addr)
	caps, ext := greetingExtCaps(t, g)
	if caps&CapLongPassword != 0 || ext != MariaDBCapExtendedMetadata {
		t.Fatalf("caps %#x ext %#x: want CLIENT_MYSQL cleared and extended metadata offered", caps, ext)
	}
	if caps&^CapLongPassword != ServerCapabilities&^CapLongPassword {
		t.Fatalf("other capabilities changed: %#x", caps)
	}

	for _, tc := range []struct {
		name     string
		mysqlBit bool   // the client keeps CLIENT_MYSQL set: its reserved bytes mean nothing
		ext      uint32 // what the client asks for
		want     uint32
	}{
		{"MariaDB client asking for extended metadata", false, MariaDBCapExtendedMetadata | 1<<4, MariaDBCapExtendedMetadata},
		{"MariaDB client not asking", false, 1 << 4, 0},
		{"MySQL client", true, MariaDBCapExtendedMetadata, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rc == nil {
				rc, _ = dialRawGreeting(t, ts.addr)
			}
			c := rc
			rc = nil
			caps := uint32(rawClientCaps) &^ CapLongPassword
			if tc.mysqlBit {
				caps |= CapLongPassword
			}
			c.write(1, mariadbResponse(caps, tc.ext, "alice", scrambleNative("secret", c.scramble)))
			if p := c.expect(2); p[0] != headerOK {
				t.Fatalf("login: %q", p)
			}
			// The proxy's own result sets carry the extended-info field (empty) exactly
			// when the client negotiated it.
			c.write(0, append([]byte{ComQuery}, "select 1"...))
			c.expect(1) // column count
			def := c.expect(2)
			rest := columnDefAfterNames(t, def)
			wantRest := []byte{0x0c}
			if tc.want != 0 {
				wantRest = []byte{0x00, 0x0c}
			}
			if !bytes.HasPrefix(rest, wantRest) || len(rest) != len(wantRest)+12 {
				t.Fatalf("column definition after the names: %x (negotiated %#x)", rest, tc.want)
			}
			for {
				if p := c.expect(c.lastSeq + 1); p[0] == headerEOF && len(p) < 9 && c.lastSeq > 3 {
					break
				}
			}
			c.write(0, append([]byte{ComQuery}, "mariadbcaps"...))
			for seq := byte(1); seq <= 3; seq++ {
				c.expect(seq)
			}
			if row := c.expect(4); string(row[1:]) != strconv.Itoa(int(tc.want)) {
				t.Fatalf("negotiated MariaDB capabilities %q, want %#x", row[1:], tc.want)
			}
		})
	}
}

// dialRawGreeting is dialRaw that also returns the greeting's payload.
func dialRawGreeting(t *testing.T, addr string) (*rawClient, []byte) {
	t.Helper()
	rc := dialRaw(t, addr)
	return rc, rc.greeting
}
