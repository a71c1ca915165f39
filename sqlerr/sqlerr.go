// Package sqlerr is the one catalog of the MySQL error codes and SQLSTATEs that
// vtgate-lite itself returns.
//
// Flow:
//  1. Code anywhere builds an *Error with one of the constructors below (or wraps one with %w).
//  2. The wire layer calls FromError once, when it writes the ERR packet; it finds the
//     *Error by type (errors.As), never by parsing message text.
//  3. Anything that is not an *Error (a bug, an I/O error) becomes 1105/HY000 with its text.
//
// Backend errors that are relayed raw never pass through here: the client sees the
// backend's own ERR packet byte for byte.
package sqlerr

import (
	"errors"
	"fmt"
)

// MySQL error codes used by the proxy. Names follow MySQL's ER_ constants.
const (
	ERConCount             = 1040 // too many connections
	ERDBAccessDenied       = 1044
	ERAccessDenied         = 1045
	ERNoDB                 = 1046
	ERUnknownCom           = 1047
	ERBadDB                = 1049
	ERUnknown              = 1105
	ERParse                = 1064
	ERNetPacketTooLarge    = 1153
	ERNetReadInterrupted   = 1159
	ERNoSuchTable          = 1146
	ERSpecificAccessDenied = 1227
	ERTableAccessDenied    = 1142
	ERUnknownSystemVar     = 1193
	ERNotSupportedYet      = 1235
	EROptionPrevents       = 1290
	ERLockWaitTimeout      = 1205
	ERQueryInterrupted     = 1317
	ERCantDoThisInTrx      = 1568 // "can't do this during a transaction" (used for cross-keyspace writes)
	ERUnknownStmtHandler   = 1243
	ERWrongArguments       = 1210
	ERMalformedPacket      = 1835
	ERQueryTimeout         = 3024 // max_execution_time exceeded
	ERNoReferencedRow      = 1452
	ERHostBlocked          = 1129
	ERSecureTransportReq   = 3159
	ERWrongValueForVar     = 1231
	ERTooManyRows          = 1172 // "Result consisted of more than one row" reused for row limit: see RowLimit
	EROutOfResources       = 1041
	CRSSLConnectionError   = 2026 // client-side CR_SSL_CONNECTION_ERROR: a backend's TLS handshake failed
)

// Error is a MySQL error: code, SQLSTATE and message, exactly as the client will see them.
type Error struct {
	Code    uint16
	State   string
	Message string
	cause   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (errno %d) (sqlstate %s)", e.Message, e.Code, e.State)
}

// Unwrap exposes the cause, so callers can test it with errors.Is.
func (e *Error) Unwrap() error { return e.cause }

// New builds an error with a code, a state and a formatted message.
func New(code uint16, state, format string, args ...any) *Error {
	return &Error{Code: code, State: state, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an error that keeps cause for errors.Is / errors.As.
func Wrap(cause error, code uint16, state, format string, args ...any) *Error {
	e := New(code, state, format, args...)
	e.cause = cause
	return e
}

// FromError returns the *Error inside err, or a 1105/HY000 carrying err's text.
func FromError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: ERUnknown, State: "HY000", Message: err.Error(), cause: err}
}

// Constructors for the errors the proxy raises most. Messages match MySQL's where MySQL has one.

func AccessDenied(user, host string, usingPassword bool) *Error {
	yes := "NO"
	if usingPassword {
		yes = "YES"
	}
	return New(ERAccessDenied, "28000", "Access denied for user '%s'@'%s' (using password: %s)", user, host, yes)
}

func DBAccessDenied(user, host, db string) *Error {
	return New(ERDBAccessDenied, "42000", "Access denied for user '%s'@'%s' to database '%s'", user, host, db)
}

func NoDB() *Error { return New(ERNoDB, "3D000", "No database selected") }

func BadDB(db string) *Error { return New(ERBadDB, "42000", "Unknown database '%s'", db) }

func NoSuchTable(db, table string) *Error {
	return New(ERNoSuchTable, "42S02", "Table '%s.%s' doesn't exist", db, table)
}

func Syntax(err error) *Error {
	return Wrap(err, ERParse, "42000", "You have an error in your SQL syntax; %v", err)
}

func TooManyConnections() *Error { return New(ERConCount, "08004", "Too many connections") }

func AdminOnly(stmt string) *Error {
	return New(ERSpecificAccessDenied, "42000", "Access denied; you need (at least one of) the vtgate-lite admin privilege(s) for this operation (%s)", stmt)
}

func Unsupported(format string, args ...any) *Error {
	return New(ERNotSupportedYet, "42000", "This version of vtgate-lite doesn't yet support '%s'", fmt.Sprintf(format, args...))
}

func Internal(format string, args ...any) *Error { return New(ERUnknown, "HY000", format, args...) }

func PacketTooLarge() *Error {
	return New(ERNetPacketTooLarge, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes")
}

func Interrupted() *Error { return New(ERQueryInterrupted, "70100", "Query execution was interrupted") }

func Timeout() *Error {
	return New(ERQueryTimeout, "HY000", "Query execution was interrupted, maximum statement execution time exceeded")
}
