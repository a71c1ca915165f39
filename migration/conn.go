package migration

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/vtgate-lite/vtgate-lite/internal/backendaddr"
	"github.com/vtgate-lite/vtgate-lite/router"
)

// conn is one backend connection. It is closed when ctx ends, so a cancelled engine never
// commits anything more: an open transaction is rolled back by the server.
type conn struct {
	*client.Conn
	addr string
	stop func() bool
}

const connectTimeout = 10 * time.Second

// dial opens a connection for ks on addr. data=true prepares it for row copying: byte-exact
// strings (binary charset), UTC timestamps, explicit zeros kept in AUTO_INCREMENT columns.
// The connection uses backend_tls when ctx carries it (withBackendTLS).
func dial(ctx context.Context, ks *router.Keyspace, addr string, data bool) (*conn, error) {
	user, password := ks.Admin() // the engine's account (admin_user), least privilege for the application's
	c, err := client.ConnectWithContext(ctx, addr, user, password, "", connectTimeout, func(c *client.Conn) error {
		if t := backendTLS(ctx, addr); t != nil {
			c.SetTLSConfig(t)
		}
		return nil
	})
	if err != nil {
		return nil, &connError{addr: addr, err: err}
	}
	cn := &conn{Conn: c, addr: addr}
	// Close only the socket from the other goroutine: it is safe against a concurrent query,
	// which then fails, while go-mysql's own Close is not.
	nc := c.Conn.Conn
	cn.stop = context.AfterFunc(ctx, func() { nc.Close() })
	setup := []string{"SET time_zone='+00:00'", "SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"}
	if data {
		setup = append(setup, "SET NAMES binary", "SET SESSION foreign_key_checks=0", "SET SESSION unique_checks=1",
			"SET "+denyBypass+" = 1") // the engine writes where clients are denied (deny.go)
	}
	for _, q := range setup {
		if _, err := c.Execute(q); err != nil {
			cn.close()
			return nil, &connError{addr: addr, err: err}
		}
	}
	return cn, nil
}

// backendTLSKey is the context key of the engine's backend_tls config. Engine.Run and
// Engine.Exec put it in the contexts all of the engine's work derives from, so every dial
// (many are in functions that have a keyspace and a context, not the engine) uses it.
type backendTLSKey struct{}

func withBackendTLS(ctx context.Context, cfg *tls.Config) context.Context {
	if cfg == nil {
		return ctx
	}
	return context.WithValue(ctx, backendTLSKey{}, cfg)
}

// backendTLS returns the TLS config for a connection to addr, nil for plain TCP.
func backendTLS(ctx context.Context, addr string) *tls.Config {
	cfg, _ := ctx.Value(backendTLSKey{}).(*tls.Config)
	return backendaddr.TLS(cfg, addr)
}

func (c *conn) close() {
	if c == nil {
		return
	}
	c.stop()
	c.Conn.Close()
}

// exec runs q and wraps errors with the server address.
func (c *conn) exec(q string) (*mysql.Result, error) {
	r, err := c.Execute(q)
	if err != nil {
		return nil, wrapErr(c.addr, q, err)
	}
	return r, nil
}

// connError is a failure to reach a server: always retryable.
type connError struct {
	addr string
	err  error
}

func (e *connError) Error() string { return fmt.Sprintf("%s: %v", e.addr, e.err) }
func (e *connError) Unwrap() error { return e.err }

// queryError is an error the server returned for a statement.
type queryError struct {
	addr, query string
	err         error
}

func (e *queryError) Error() string {
	q := e.query
	if len(q) > 200 {
		q = q[:200] + "..."
	}
	return fmt.Sprintf("%s: %v (query: %s)", e.addr, e.err, q)
}
func (e *queryError) Unwrap() error { return e.err }

func wrapErr(addr, q string, err error) error {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return &queryError{addr: addr, query: q, err: err}
	}
	return &connError{addr: addr, err: err}
}

// retryable reports whether err is a transient condition worth retrying with backoff:
// lost connections, server restarts, lock wait timeouts, deadlocks, read-only servers.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	var fe *fatalError
	if errors.As(err, &fe) {
		return false
	}
	var ce *connError
	if errors.As(err, &ce) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || errors.Is(err, mysql.ErrBadConn) {
		return true
	}
	var me *mysql.MyError
	if errors.As(err, &me) {
		switch me.Code {
		case 1205, 1213, 1290, 1053, 1927, 2006, 2013, 1158, 1159, 1160, 1161, 1040, 1129, 1236:
			return true
		}
		return false
	}
	return true
}

// quote renders s as a SQL string literal that needs no escaping rules (hex).
func quote(s string) string {
	if s == "" {
		return "''"
	}
	return "X'" + hex.EncodeToString([]byte(s)) + "'"
}

// ident quotes an identifier.
func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// colClass says how a column's values are written as SQL literals.
type colClass int

const (
	classBytes    colClass = iota // strings, blobs, enum/set labels, bit: hex literal, byte exact
	classNumeric                  // integers, decimals, floats: unquoted
	classTemporal                 // date, time, datetime, timestamp: quoted text
	classJSON                     // MySQL JSON: hex converted to utf8mb4
)

type column struct {
	Name      string
	DataType  string // information_schema DATA_TYPE
	Unsigned  bool
	Charset   string // "" for binary/non-string
	Collation string
	Class     colClass
	Bits      int // integer width for unsigned fix-ups
}

func classify(dataType string) (colClass, int) {
	switch dataType {
	case "tinyint":
		return classNumeric, 8
	case "smallint":
		return classNumeric, 16
	case "mediumint":
		return classNumeric, 24
	case "int", "integer":
		return classNumeric, 32
	case "bigint":
		return classNumeric, 64
	case "decimal", "float", "double", "real", "year", "numeric":
		return classNumeric, 0
	case "date", "time", "datetime", "timestamp":
		return classTemporal, 0
	case "json":
		return classJSON, 0
	}
	return classBytes, 0
}

// valueLiteral renders a value (from a binlog row or a parsed result) for column c.
func valueLiteral(c *column, v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case int8:
		return intLiteral(c, int64(v))
	case int16:
		return intLiteral(c, int64(v))
	case int32:
		return intLiteral(c, int64(v))
	case int64:
		return intLiteral(c, v)
	case int:
		return intLiteral(c, int64(v))
	case uint8:
		return strconv.FormatUint(uint64(v), 10)
	case uint16:
		return strconv.FormatUint(uint64(v), 10)
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return bytesLiteral(c, []byte(v))
	case []byte:
		return bytesLiteral(c, v)
	case fmt.Stringer:
		return bytesLiteral(c, []byte(v.String()))
	}
	return bytesLiteral(c, fmt.Append(nil, v))
}

func intLiteral(c *column, v int64) string {
	if v < 0 && c != nil && c.Unsigned && c.Bits > 0 {
		if c.Bits == 64 {
			return strconv.FormatUint(uint64(v), 10)
		}
		return strconv.FormatUint(uint64(v)&(1<<c.Bits-1), 10)
	}
	return strconv.FormatInt(v, 10)
}

func bytesLiteral(c *column, b []byte) string {
	class := classBytes
	if c != nil {
		class = c.Class
	}
	switch class {
	case classNumeric:
		if isNumberText(b) {
			return string(b)
		}
	case classTemporal:
		if isTemporalText(b) {
			return "'" + string(b) + "'"
		}
	case classJSON:
		return "CONVERT(X'" + hex.EncodeToString(b) + "' USING utf8mb4)"
	}
	if len(b) == 0 {
		return "''"
	}
	return "X'" + hex.EncodeToString(b) + "'"
}

// fieldLiteral renders one value of a text-protocol result row.
func fieldLiteral(c *column, fv *mysql.FieldValue) string {
	switch fv.Type {
	case mysql.FieldValueTypeNull:
		return "NULL"
	case mysql.FieldValueTypeUnsigned:
		return strconv.FormatUint(fv.AsUint64(), 10)
	case mysql.FieldValueTypeSigned:
		return intLiteral(c, fv.AsInt64())
	case mysql.FieldValueTypeFloat:
		bits := 64
		if c != nil && c.DataType == "float" {
			bits = 32
		}
		return strconv.FormatFloat(fv.AsFloat64(), 'g', -1, bits)
	}
	return bytesLiteral(c, fv.AsString())
}

// keyLiteral renders a key value for comparisons (WHERE k > lit, WHERE k = lit): string keys
// carry the column's own charset and collation so the server compares (and uses the index)
// exactly as ORDER BY does.
func keyLiteral(c *column, lit string) string {
	if c.Class == classBytes && c.Charset != "" && strings.HasPrefix(lit, "X'") {
		return "_" + c.Charset + " " + lit + " COLLATE " + c.Collation
	}
	if c.Class == classBytes && c.Charset != "" && lit == "''" {
		return "_" + c.Charset + "'' COLLATE " + c.Collation
	}
	return lit
}

func isNumberText(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, ch := range b {
		if !(ch >= '0' && ch <= '9' || ch == '.' || ch == '-' || ch == '+' || ch == 'e' || ch == 'E') {
			return false
		}
	}
	return true
}

func isTemporalText(b []byte) bool {
	for _, ch := range b {
		if !(ch >= '0' && ch <= '9' || ch == '-' || ch == ':' || ch == ' ' || ch == '.') {
			return false
		}
	}
	return true
}

// tableInfo is what the copier, applier and differ need to know about a moved table.
type tableInfo struct {
	Name    string
	Columns []*column
	byName  map[string]*column
	Key     []int  // indexes into Columns of the PK (or first NOT NULL unique key)
	KeyName string // PRIMARY or the unique key's name
	// OtherUnique: the table has unique keys besides Key, which constrain the apply order.
	OtherUnique bool
	allNames    []string        // every column in ordinal order, generated ones included
	generated   map[string]bool // lower-case names of generated columns
}

func (t *tableInfo) col(name string) *column { return t.byName[strings.ToLower(name)] }

func (t *tableInfo) columnList() string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = ident(c.Name)
	}
	return strings.Join(names, ",")
}

func (t *tableInfo) keyList() string {
	names := make([]string, len(t.Key))
	for i, k := range t.Key {
		names[i] = ident(t.Columns[k].Name)
	}
	return strings.Join(names, ",")
}

// keyAfter is "key > lastpk" expanded for a composite key.
func (t *tableInfo) keyAfter(lastpk []string) string {
	var ors []string
	for i := range t.Key {
		var ands []string
		for j := 0; j < i; j++ {
			c := t.Columns[t.Key[j]]
			ands = append(ands, ident(c.Name)+"="+keyLiteral(c, lastpk[j]))
		}
		c := t.Columns[t.Key[i]]
		ands = append(ands, ident(c.Name)+">"+keyLiteral(c, lastpk[i]))
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return strings.Join(ors, " OR ")
}

// loadTableInfo reads a table's columns and its row identity key from information_schema.
// It returns errNoTable when the table does not exist and a *refusal when it has no usable key.
func loadTableInfo(c *conn, db, table string) (*tableInfo, error) {
	r, err := c.exec(fmt.Sprintf("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IFNULL(CHARACTER_SET_NAME,''), IFNULL(COLLATION_NAME,''), IS_NULLABLE, EXTRA "+
		"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION", quote(db), quote(table)))
	if err != nil {
		return nil, err
	}
	if r.RowNumber() == 0 {
		return nil, errNoTable
	}
	t := &tableInfo{Name: table, byName: map[string]*column{}, generated: map[string]bool{}}
	nullable := map[string]bool{}
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		dt, _ := r.GetString(i, 1)
		ct, _ := r.GetString(i, 2)
		cs, _ := r.GetString(i, 3)
		coll, _ := r.GetString(i, 4)
		nl, _ := r.GetString(i, 5)
		extra, _ := r.GetString(i, 6)
		t.allNames = append(t.allNames, name)
		if strings.Contains(strings.ToUpper(extra), "GENERATED") {
			// Generated columns are computed by the target itself: never copied or applied.
			t.generated[strings.ToLower(name)] = true
			continue
		}
		col := &column{Name: name, DataType: strings.ToLower(dt), Unsigned: strings.Contains(strings.ToLower(ct), "unsigned"), Charset: cs, Collation: coll}
		col.Class, col.Bits = classify(col.DataType)
		if cs == "binary" {
			col.Charset = ""
		}
		t.Columns = append(t.Columns, col)
		t.byName[strings.ToLower(name)] = col
		nullable[strings.ToLower(name)] = nl == "YES"
	}
	r, err = c.exec(fmt.Sprintf("SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s AND NON_UNIQUE=0 "+
		"ORDER BY INDEX_NAME='PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX", quote(db), quote(table)))
	if err != nil {
		return nil, err
	}
	type idx struct {
		name string
		cols []string
	}
	var idxs []*idx
	for i := range r.RowNumber() {
		in, _ := r.GetString(i, 0)
		cn, _ := r.GetString(i, 1)
		if len(idxs) == 0 || idxs[len(idxs)-1].name != in {
			idxs = append(idxs, &idx{name: in})
		}
		idxs[len(idxs)-1].cols = append(idxs[len(idxs)-1].cols, cn)
	}
	t.OtherUnique = len(idxs) > 1
	for _, ix := range idxs {
		ok := true
		for _, cn := range ix.cols {
			if nullable[strings.ToLower(cn)] || t.col(cn) == nil {
				ok = false
			}
		}
		if !ok {
			continue
		}
		t.KeyName = ix.name
		for _, cn := range ix.cols {
			for i, col := range t.Columns {
				if strings.EqualFold(col.Name, cn) {
					t.Key = append(t.Key, i)
				}
			}
		}
		return t, nil
	}
	return t, errNoKey
}

var (
	errNoTable = errors.New("table does not exist")
	errNoKey   = errors.New("table has neither a primary key nor a unique key on NOT NULL columns")
)
