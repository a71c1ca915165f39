package wire

import (
	"encoding/binary"
	"errors"
)

// errMalformed is any parse failure of a client packet; callers map it to the ERR fitting
// their phase (Bad handshake, Malformed packet).
var errMalformed = errors.New("malformed packet")

// appendLenEncInt appends a length-encoded integer.
func appendLenEncInt(b []byte, v uint64) []byte {
	switch {
	case v < 251:
		return append(b, byte(v))
	case v < 1<<16:
		return append(b, 0xfc, byte(v), byte(v>>8))
	case v < 1<<24:
		return append(b, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	default:
		b = append(b, 0xfe)
		return binary.LittleEndian.AppendUint64(b, v)
	}
}

// appendLenEncString appends a length-encoded string.
func appendLenEncString[S ~string | ~[]byte](b []byte, s S) []byte {
	b = appendLenEncInt(b, uint64(len(s)))
	return append(b, s...)
}

// packetReader reads the fields of a client packet. Every method fails with errMalformed
// rather than reading past the end, so random bytes can never panic a parser.
type packetReader struct {
	b   []byte
	pos int
}

func (r *packetReader) remaining() int { return len(r.b) - r.pos }

func (r *packetReader) bytes(n int) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, errMalformed
	}
	v := r.b[r.pos : r.pos+n]
	r.pos += n
	return v, nil
}

func (r *packetReader) u8() (byte, error) {
	v, err := r.bytes(1)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func (r *packetReader) u16() (uint16, error) {
	v, err := r.bytes(2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(v), nil
}

func (r *packetReader) u32() (uint32, error) {
	v, err := r.bytes(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(v), nil
}

// nulString reads up to a NUL (consumed) or, leniently, to the end of the packet.
func (r *packetReader) nulString() []byte {
	rest := r.b[r.pos:]
	for i, ch := range rest {
		if ch == 0 {
			r.pos += i + 1
			return rest[:i]
		}
	}
	r.pos = len(r.b)
	return rest
}

func (r *packetReader) lenEncInt() (uint64, error) {
	first, err := r.u8()
	if err != nil {
		return 0, err
	}
	var n int
	switch first {
	case 0xfc:
		n = 2
	case 0xfd:
		n = 3
	case 0xfe:
		n = 8
	case 0xfb, 0xff:
		return 0, errMalformed
	default:
		return uint64(first), nil
	}
	v, err := r.bytes(n)
	if err != nil {
		return 0, err
	}
	var x uint64
	for i := n - 1; i >= 0; i-- {
		x = x<<8 | uint64(v[i])
	}
	return x, nil
}

func (r *packetReader) lenEncBytes() ([]byte, error) {
	n, err := r.lenEncInt()
	if err != nil {
		return nil, err
	}
	if n > uint64(r.remaining()) {
		return nil, errMalformed
	}
	return r.bytes(int(n))
}
