package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// WriteOK buffers an OK packet. A non-empty info is written as a length-encoded string,
// as MySQL and MariaDB servers do (libmariadb reads it so; the "string<EOF>" of the
// protocol documentation is not what clients parse).
func (c *Conn) WriteOK(affectedRows, lastInsertID uint64, status uint16, warnings uint16, info string) error {
	b := append(c.wbuf[:0], headerOK)
	b = appendLenEncInt(b, affectedRows)
	b = appendLenEncInt(b, lastInsertID)
	b = binary.LittleEndian.AppendUint16(b, status)
	b = binary.LittleEndian.AppendUint16(b, warnings)
	if info != "" {
		b = appendLenEncString(b, info)
	}
	c.wbuf = b
	return c.WritePacket(b)
}

// WriteErr buffers an ERR packet for err, mapped once through sqlerr.FromError: its code,
// '#' + SQLSTATE and message.
func (c *Conn) WriteErr(err error) error {
	e := sqlerr.FromError(err)
	if e == nil {
		e = sqlerr.Internal("unknown error")
	}
	state := e.State
	if len(state) != 5 {
		state = "HY000"
	}
	b := append(c.wbuf[:0], headerErr)
	b = binary.LittleEndian.AppendUint16(b, e.Code)
	b = append(b, '#')
	b = append(b, state...)
	b = append(b, e.Message...)
	c.wbuf = b
	return c.WritePacket(b)
}

// WriteEOF buffers an EOF packet.
func (c *Conn) WriteEOF(status uint16, warnings uint16) error {
	b := append(c.wbuf[:0], headerEOF)
	b = binary.LittleEndian.AppendUint16(b, warnings)
	b = binary.LittleEndian.AppendUint16(b, status)
	c.wbuf = b
	return c.WritePacket(b)
}

// Column describes one column of a proxy-generated result set. Zero values get
// defaults: Type VAR_STRING (so MYSQL_TYPE_DECIMAL, 0, cannot be chosen: use
// TypeNewDecimal), Charset 33 (utf8) for strings and 63 (binary) for numbers and
// temporal types, Length from the type or the longest value.
type Column struct {
	Name     string
	Table    string
	Type     byte   // MYSQL_TYPE_*; 0 means VAR_STRING
	Charset  uint16 // collation id; 0 means 33 for strings, 63 for numbers
	Length   uint32
	Flags    uint16 // *_FLAG; FlagUnsigned selects unsigned parsing in binary rows
	Decimals byte
	Schema   string // optional
}

func (col *Column) typ() byte {
	if col.Type == 0 {
		return TypeVarString
	}
	return col.Type
}

// isNumericOrTemporal reports types whose metadata charset is binary.
func isNumericOrTemporal(t byte) bool {
	switch t {
	case TypeTiny, TypeShort, TypeLong, TypeFloat, TypeDouble, TypeNull, TypeTimestamp,
		TypeLongLong, TypeInt24, TypeDate, TypeTime, TypeDateTime, TypeYear, TypeNewDate,
		TypeNewDecimal, TypeBit:
		return true
	}
	return false
}

func mbMaxLen(charset uint16) uint32 {
	switch {
	case charset == 33 || charset == 83 || (charset >= 192 && charset <= 215):
		return 3
	case charset == 45 || charset == 46 || charset == 255 || (charset >= 224 && charset <= 247):
		return 4
	}
	return 1
}

// defaultLength is the display length MySQL would report: fixed for numbers and temporal
// types, otherwise the longest value (in characters of the column's charset).
func defaultLength(t byte, charset uint16, rows [][][]byte, idx int) uint32 {
	switch t {
	case TypeTiny:
		return 4
	case TypeShort:
		return 6
	case TypeInt24:
		return 9
	case TypeLong:
		return 11
	case TypeLongLong:
		return 20
	case TypeFloat:
		return 12
	case TypeDouble:
		return 22
	case TypeYear:
		return 4
	case TypeDate, TypeNewDate:
		return 10
	case TypeTime:
		return 10
	case TypeDateTime, TypeTimestamp:
		return 19
	case TypeNull:
		return 0
	}
	longest := 1
	for _, row := range rows {
		if idx < len(row) && len(row[idx]) > longest {
			longest = len(row[idx])
		}
	}
	if rows == nil {
		longest = 255
	}
	return uint32(min(longest, math.MaxUint32/4)) * mbMaxLen(charset)
}

func (c *Conn) writeColumnDef(col *Column, rows [][][]byte, idx int) error {
	t := col.typ()
	charset := col.Charset
	if charset == 0 {
		charset = uint16(CollationUTF8GeneralCI)
		if isNumericOrTemporal(t) {
			charset = uint16(CollationBinary)
		}
	}
	length := col.Length
	if length == 0 {
		length = defaultLength(t, charset, rows, idx)
	}
	b := appendLenEncString(c.wbuf[:0], "def")
	b = appendLenEncString(b, col.Schema)
	b = appendLenEncString(b, col.Table)
	b = appendLenEncString(b, col.Table)
	b = appendLenEncString(b, col.Name)
	b = appendLenEncString(b, col.Name)
	if c.MariaDBCapabilities&MariaDBCapExtendedMetadata != 0 {
		b = append(b, 0) // no extended type info: the proxy's own columns are plain types
	}
	b = append(b, 0x0c)
	b = binary.LittleEndian.AppendUint16(b, charset)
	b = binary.LittleEndian.AppendUint32(b, length)
	b = append(b, t)
	b = binary.LittleEndian.AppendUint16(b, col.Flags)
	b = append(b, col.Decimals, 0, 0)
	c.wbuf = b
	return c.WritePacket(b)
}

// WriteColumnDefs buffers one column definition packet per column and the EOF that ends
// them (as in a COM_STMT_PREPARE response, where the count is in the prepare OK).
func (c *Conn) WriteColumnDefs(cols []Column, status uint16) error {
	for i := range cols {
		if err := c.writeColumnDef(&cols[i], nil, i); err != nil {
			return err
		}
	}
	return c.WriteEOF(status, 0)
}

// WriteResult buffers a whole result set: column count, column definitions, EOF, rows,
// and a final EOF carrying status. Values are text ([]byte, nil = NULL). With binary the
// rows use the binary protocol of COM_STMT_EXECUTE: integers, floats and temporal values
// are converted from their text according to the column's type, everything else is sent
// as a length-encoded string. Rows are checked before anything is written, so a bad
// value returns an error without leaving a half-written result.
func (c *Conn) WriteResult(cols []Column, rows [][][]byte, status uint16, binary bool) error {
	if len(cols) == 0 {
		return sqlerr.Internal("result set without columns")
	}
	for r, row := range rows {
		if len(row) != len(cols) {
			return sqlerr.Internal("result row %d has %d values for %d columns", r, len(row), len(cols))
		}
		if binary {
			for i, v := range row {
				if v == nil {
					continue
				}
				var err error
				if c.wbuf, err = appendBinaryValue(c.wbuf[:0], &cols[i], v); err != nil {
					return sqlerr.Internal("result row %d column %q: %v", r, cols[i].Name, err)
				}
			}
		}
	}
	if err := c.WritePacket(appendLenEncInt(c.wbuf[:0], uint64(len(cols)))); err != nil {
		return err
	}
	for i := range cols {
		if err := c.writeColumnDef(&cols[i], rows, i); err != nil {
			return err
		}
	}
	if err := c.WriteEOF(status, 0); err != nil {
		return err
	}
	for _, row := range rows {
		var b []byte
		if binary {
			b = c.appendBinaryRow(c.wbuf[:0], cols, row)
		} else {
			b = appendTextRow(c.wbuf[:0], row)
		}
		c.wbuf = b
		if err := c.WritePacket(b); err != nil {
			return err
		}
	}
	return c.WriteEOF(status, 0)
}

func appendTextRow(b []byte, row [][]byte) []byte {
	for _, v := range row {
		if v == nil {
			b = append(b, 0xfb)
			continue
		}
		b = appendLenEncString(b, v)
	}
	return b
}

// appendBinaryRow encodes a row already validated by WriteResult.
func (c *Conn) appendBinaryRow(b []byte, cols []Column, row [][]byte) []byte {
	b = append(b, 0x00)
	bitmap := len(b)
	for range (len(cols) + 7 + 2) / 8 {
		b = append(b, 0)
	}
	for i, v := range row {
		if v == nil || cols[i].typ() == TypeNull {
			pos := i + 2
			b[bitmap+pos/8] |= 1 << (pos % 8)
			continue
		}
		b, _ = appendBinaryValue(b, &cols[i], v)
	}
	return b
}

// appendBinaryValue appends the binary-protocol encoding of the text value v.
func appendBinaryValue(b []byte, col *Column, v []byte) ([]byte, error) {
	unsigned := col.Flags&FlagUnsigned != 0
	switch col.typ() {
	case TypeTiny:
		x, err := parseInt(v, 8, unsigned)
		return append(b, byte(x)), err
	case TypeShort, TypeYear:
		x, err := parseInt(v, 16, unsigned)
		return binary.LittleEndian.AppendUint16(b, uint16(x)), err
	case TypeLong, TypeInt24:
		x, err := parseInt(v, 32, unsigned)
		return binary.LittleEndian.AppendUint32(b, uint32(x)), err
	case TypeLongLong:
		x, err := parseInt(v, 64, unsigned)
		return binary.LittleEndian.AppendUint64(b, x), err
	case TypeFloat:
		f, err := strconv.ParseFloat(string(v), 32)
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f))), err
	case TypeDouble:
		f, err := strconv.ParseFloat(string(v), 64)
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)), err
	case TypeDate, TypeNewDate, TypeDateTime, TypeTimestamp:
		return appendBinaryDateTime(b, v)
	case TypeTime:
		return appendBinaryTime(b, v)
	default:
		return appendLenEncString(b, v), nil
	}
}

// parseInt returns the two's-complement bits of a signed value, or the unsigned value.
func parseInt(v []byte, bits int, unsigned bool) (uint64, error) {
	if unsigned {
		return strconv.ParseUint(string(v), 10, bits)
	}
	x, err := strconv.ParseInt(string(v), 10, bits)
	return uint64(x), err
}

// digits parses exactly n decimal digits at s[pos:].
func digits(s []byte, pos, n int) (int, bool) {
	if pos+n > len(s) {
		return 0, false
	}
	x := 0
	for _, ch := range s[pos : pos+n] {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		x = x*10 + int(ch-'0')
	}
	return x, true
}

// fraction parses ".ffffff" (1 to 6 digits) into microseconds; an absent fraction is 0.
func fraction(s []byte, pos int) (int, bool) {
	if pos == len(s) {
		return 0, true
	}
	n := len(s) - pos - 1
	if s[pos] != '.' || n < 1 || n > 6 {
		return 0, false
	}
	x, ok := digits(s, pos+1, n)
	for ; n < 6; n++ {
		x *= 10
	}
	return x, ok
}

// appendBinaryDateTime encodes "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" in the shortest of the
// 0/4/7/11-byte forms.
func appendBinaryDateTime(b []byte, s []byte) ([]byte, error) {
	y, ok1 := digits(s, 0, 4)
	mo, ok2 := digits(s, 5, 2)
	d, ok3 := digits(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' {
		return b, badValue("date/time", s)
	}
	var h, mi, sec, us int
	if len(s) > 10 {
		var ok bool
		if h, ok = digits(s, 11, 2); !ok {
			return b, badValue("date/time", s)
		}
		if mi, ok = digits(s, 14, 2); !ok {
			return b, badValue("date/time", s)
		}
		if sec, ok = digits(s, 17, 2); !ok {
			return b, badValue("date/time", s)
		}
		if us, ok = fraction(s, 19); !ok || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
			return b, badValue("date/time", s)
		}
	}
	var n byte
	switch {
	case us != 0:
		n = 11
	case h != 0 || mi != 0 || sec != 0:
		n = 7
	case y != 0 || mo != 0 || d != 0:
		n = 4
	}
	b = append(b, n)
	if n == 0 {
		return b, nil
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(y))
	b = append(b, byte(mo), byte(d))
	if n == 4 {
		return b, nil
	}
	b = append(b, byte(h), byte(mi), byte(sec))
	if n == 11 {
		b = binary.LittleEndian.AppendUint32(b, uint32(us))
	}
	return b, nil
}

// appendBinaryTime encodes "[-]H...H:MM:SS[.ffffff]" in the 0/8/12-byte forms.
func appendBinaryTime(b []byte, s []byte) ([]byte, error) {
	neg := len(s) > 0 && s[0] == '-'
	p := 0
	if neg {
		p = 1
	}
	colon := p
	for colon < len(s) && s[colon] != ':' {
		colon++
	}
	hlen := colon - p
	if hlen < 1 || hlen > 4 {
		return b, badValue("time", s)
	}
	h, ok1 := digits(s, p, hlen)
	mi, ok2 := digits(s, colon+1, 2)
	sec, ok3 := digits(s, colon+4, 2)
	if !ok1 || !ok2 || !ok3 || s[colon+3] != ':' {
		return b, badValue("time", s)
	}
	us, ok4 := fraction(s, colon+6)
	if !ok4 {
		return b, badValue("time", s)
	}
	if h == 0 && mi == 0 && sec == 0 && us == 0 {
		return append(b, 0), nil
	}
	if us != 0 {
		b = append(b, 12)
	} else {
		b = append(b, 8)
	}
	sign := byte(0)
	if neg {
		sign = 1
	}
	b = append(b, sign)
	b = binary.LittleEndian.AppendUint32(b, uint32(h/24))
	b = append(b, byte(h%24), byte(mi), byte(sec))
	if us != 0 {
		b = binary.LittleEndian.AppendUint32(b, uint32(us))
	}
	return b, nil
}

func badValue(kind string, s []byte) error { return fmt.Errorf("invalid %s value %q", kind, s) }
