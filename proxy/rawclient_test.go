package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
)

// rawConn speaks the client protocol packet by packet, so that a test can compare what
// vtgate-lite sends with what the server sends, byte for byte, for capabilities no Go
// driver asks for (MariaDB extended metadata, session tracking).
type rawConn struct {
	t       *testing.T
	nc      net.Conn
	caps    uint32 // the capabilities the server offered
	extCaps uint32 // the MariaDB extended capabilities the server offered
	seq     byte
}

const rawConnCaps = wire.CapLongFlag | wire.CapProtocol41 | wire.CapSecureConnection | wire.CapTransactions |
	wire.CapPluginAuth | wire.CapMultiResults | wire.CapMultiStatements | wire.CapPSMultiResults | wire.CapConnectWithDB

// dialRawConn logs in as user with mysql_native_password, asking for caps and, when ext
// is not 0, MariaDB extended capabilities ext (as a MariaDB client does: CLIENT_MYSQL
// cleared, ext in the reserved bytes).
func dialRawConn(t *testing.T, addr, user, password, db string, caps, ext uint32) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawConn{t: t, nc: nc}
	g := rc.read()
	pos := 1 + bytes.IndexByte(g[1:], 0) + 1 + 4
	scramble := append([]byte(nil), g[pos:pos+8]...)
	pos += 9
	rc.caps = uint32(binary.LittleEndian.Uint16(g[pos:]))
	pos += 2 + 1 + 2
	rc.caps |= uint32(binary.LittleEndian.Uint16(g[pos:])) << 16
	pos += 2 + 1
	if rc.caps&wire.CapLongPassword == 0 {
		rc.extCaps = binary.LittleEndian.Uint32(g[pos+6:])
	}
	pos += 10
	scramble = append(scramble, g[pos:pos+12]...)
	if db != "" {
		caps |= wire.CapConnectWithDB
	} else {
		caps &^= wire.CapConnectWithDB
	}
	if ext == 0 {
		caps |= wire.CapLongPassword
	}
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, wire.CollationUTF8MB4GeneralCI)
	b = append(b, make([]byte, 19)...)
	b = binary.LittleEndian.AppendUint32(b, ext)
	b = append(b, user...)
	b = append(b, 0)
	var auth []byte
	if password != "" {
		auth = nativeScramble(password, scramble)
	}
	b = append(b, byte(len(auth)))
	b = append(b, auth...)
	if db != "" {
		b = append(b, db...)
		b = append(b, 0)
	}
	b = append(b, wire.PluginNativePassword...)
	b = append(b, 0)
	rc.write(b)
	p := rc.read()
	if p[0] == 0xfe { // auth switch: answer over the new nonce
		data := p[1+bytes.IndexByte(p[1:], 0)+1:]
		data = bytes.TrimSuffix(data, []byte{0})
		rc.write(nativeScramble(password, data[:20]))
		p = rc.read()
	}
	if p[0] != 0x00 {
		t.Fatalf("login to %s as %s: %q", addr, user, p)
	}
	return rc
}

func (rc *rawConn) read() []byte {
	rc.t.Helper()
	var hdr [4]byte
	if _, err := io.ReadFull(rc.nc, hdr[:]); err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	p := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
	if _, err := io.ReadFull(rc.nc, p); err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	if hdr[3] != rc.seq {
		rc.t.Fatalf("packet sequence %d, want %d", hdr[3], rc.seq)
	}
	rc.seq++
	return p
}

func (rc *rawConn) write(p []byte) {
	rc.t.Helper()
	hdr := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), rc.seq}
	rc.seq++
	if _, err := rc.nc.Write(append(hdr, p...)); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// command sends a command packet and returns every packet of its whole response
// (following result sets and SERVER_MORE_RESULTS_EXISTS).
func (rc *rawConn) command(p []byte) [][]byte {
	rc.t.Helper()
	rc.seq = 0
	rc.write(p)
	var out [][]byte
	for {
		pkt := rc.read()
		out = append(out, pkt)
		switch pkt[0] {
		case 0xff:
			return out
		case 0x00:
			if st := okStatus(pkt); st&statusMoreResults == 0 {
				return out
			}
			continue
		}
		// A result set: column definitions up to EOF, rows up to EOF or ERR.
		eofs := 0
		for eofs < 2 {
			pkt = rc.read()
			out = append(out, pkt)
			if pkt[0] == 0xff {
				return out
			}
			if pkt[0] == 0xfe && len(pkt) < 9 {
				eofs++
			}
		}
		if binary.LittleEndian.Uint16(pkt[3:])&statusMoreResults == 0 {
			return out
		}
	}
}

func (rc *rawConn) query(q string) [][]byte { return rc.command(append([]byte{comQuery}, q...)) }

// prepare returns the statement id and the whole prepare response.
func (rc *rawConn) prepare(q string) (uint32, [][]byte) {
	rc.t.Helper()
	rc.seq = 0
	rc.write(append([]byte{comStmtPrepare}, q...))
	first := rc.read()
	if first[0] != 0x00 {
		rc.t.Fatalf("prepare %q: %q", q, first)
	}
	out := [][]byte{first}
	cols, params := binary.LittleEndian.Uint16(first[5:]), binary.LittleEndian.Uint16(first[7:])
	n := 0
	if params > 0 {
		n += int(params) + 1
	}
	if cols > 0 {
		n += int(cols) + 1
	}
	for i := 0; i < n; i++ {
		out = append(out, rc.read())
	}
	return binary.LittleEndian.Uint32(first[1:]), out
}

// execute runs statement id with BIGINT parameters (nil: NULL) and returns the response.
func (rc *rawConn) execute(id uint32, args ...any) [][]byte {
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
			case int:
				types = append(types, wire.TypeLongLong, 0)
				values = binary.LittleEndian.AppendUint64(values, uint64(v))
			default:
				rc.t.Fatalf("execute: unsupported argument %T", a)
			}
		}
		p = append(p, null...)
		p = append(p, 1)
		p = append(p, types...)
		p = append(p, values...)
	}
	return rc.command(p)
}

func okStatus(pkt []byte) uint16 { return parseOK(pkt).status }
