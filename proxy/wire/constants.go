package wire

import "time"

// Capability flags (MySQL's CLIENT_*). Exported because the proxy's backend
// connections must negotiate the same fixed set (ServerCapabilities) so that
// relayed packets have the same format on both sides.
const (
	CapLongPassword               uint32 = 1 << 0
	CapFoundRows                  uint32 = 1 << 1
	CapLongFlag                   uint32 = 1 << 2
	CapConnectWithDB              uint32 = 1 << 3
	CapNoSchema                   uint32 = 1 << 4
	CapCompress                   uint32 = 1 << 5
	CapODBC                       uint32 = 1 << 6
	CapLocalFiles                 uint32 = 1 << 7
	CapIgnoreSpace                uint32 = 1 << 8
	CapProtocol41                 uint32 = 1 << 9
	CapInteractive                uint32 = 1 << 10
	CapSSL                        uint32 = 1 << 11
	CapIgnoreSigpipe              uint32 = 1 << 12
	CapTransactions               uint32 = 1 << 13
	CapReserved                   uint32 = 1 << 14
	CapSecureConnection           uint32 = 1 << 15
	CapMultiStatements            uint32 = 1 << 16
	CapMultiResults               uint32 = 1 << 17
	CapPSMultiResults             uint32 = 1 << 18
	CapPluginAuth                 uint32 = 1 << 19
	CapConnectAttrs               uint32 = 1 << 20
	CapPluginAuthLenencClientData uint32 = 1 << 21
	CapCanHandleExpiredPasswords  uint32 = 1 << 22
	CapSessionTrack               uint32 = 1 << 23
	CapDeprecateEOF               uint32 = 1 << 24
	CapQueryAttributes            uint32 = 1 << 27
)

// ServerCapabilities is what the front end offers (CapSSL is added only when TLS is
// configured). Backend packets are relayed raw, so every capability that changes a packet
// format is offered only if the proxy's backend connection for that client negotiates it
// too (the proxy keys its pools by those it varies per client: FOUND_ROWS,
// PS_MULTI_RESULTS, and MariaDB's extended metadata, see MariaDBCapExtendedMetadata).
// Each one, and why:
//   - FOUND_ROWS: an UPDATE's affected rows count matched rows; per client (pools by it).
//   - MULTI_STATEMENTS, MULTI_RESULTS: always on towards the backends (the proxy decides
//     what it sends as one statement), so CALL's result sets are relayed as sent.
//   - PS_MULTI_RESULTS: per client (pools by it): with it, a prepared CALL's OUT
//     parameters come as a result set (SERVER_PS_OUT_PARAMS) before the final OK; a
//     client without it (go-sql-driver) gets none, as from the server.
//   - LOCAL_FILES: the proxy relays LOAD DATA LOCAL only for a client that allowed it.
//   - CONNECT_ATTRS, PLUGIN_AUTH*, SECURE_CONNECTION, CONNECT_WITH_DB: handshake only.
//   - LONG_FLAG, TRANSACTIONS, INTERACTIVE, IGNORE_SIGPIPE: no format change.
//   - LONG_PASSWORD is CLIENT_MYSQL: cleared in the greeting whenever MariaDB extended
//     capabilities are offered, as a MariaDB server does to announce them.
//
// Refused (never offered, so a client that asks gets the classic format, never a
// silently different answer):
//   - DEPRECATE_EOF: result sets keep their EOF packets; the relay and the proxy's own
//     results are written that way, and mixing would need rewriting every result.
//   - SESSION_TRACK: the proxy answers USE, SET, BEGIN/COMMIT and replays tracked
//     settings itself, so it cannot produce the server's session-state changes for them;
//     relaying only the backend's part would be a different answer from the server's.
//   - QUERY_ATTRIBUTES (MySQL 8 only), COMPRESS (the relay copies uncompressed packets).
const ServerCapabilities = CapLongPassword | CapFoundRows | CapLongFlag | CapConnectWithDB |
	CapLocalFiles | CapProtocol41 | CapInteractive | CapIgnoreSigpipe | CapTransactions |
	CapSecureConnection | CapMultiStatements | CapMultiResults | CapPSMultiResults |
	CapPluginAuth | CapConnectAttrs | CapPluginAuthLenencClientData

// MariaDB extended capabilities: the upper 32 bits of MariaDB's 64-bit capability set,
// sent in the last 4 of the greeting's reserved bytes (and in the handshake response's)
// only when CLIENT_MYSQL is cleared. Values here are shifted down by 32.
const (
	// MariaDBCapExtendedMetadata is MARIADB_CLIENT_EXTENDED_METADATA (1 << 35): column
	// definitions carry the data type name and format of pluggable types (JSON, GEOMETRY
	// subtypes, UUID, INET6) in an extra field after the column's org_name. Offered when the
	// backends offer it; the column definitions are the backend's, relayed unchanged.
	MariaDBCapExtendedMetadata uint32 = 1 << 3
	// Not offered: PROGRESS (1<<32: progress packets would interleave with the relay),
	// COM_MULTI (1<<33), STMT_BULK_OPERATIONS (1<<34: COM_STMT_BULK_EXECUTE is not
	// routed), CACHE_METADATA (1<<36: changes the column-count packet and lets the server
	// skip metadata a client cached for a statement id the proxy maps to other backend ids).

	// MariaDBCapabilities is every MariaDB extended capability the front end can relay.
	MariaDBCapabilities = MariaDBCapExtendedMetadata
)

// Server status flags (SERVER_STATUS_*).
const (
	StatusInTrans            uint16 = 0x0001
	StatusAutocommit         uint16 = 0x0002
	StatusMoreResultsExists  uint16 = 0x0008
	StatusNoGoodIndexUsed    uint16 = 0x0010
	StatusNoIndexUsed        uint16 = 0x0020
	StatusCursorExists       uint16 = 0x0040
	StatusLastRowSent        uint16 = 0x0080
	StatusDBDropped          uint16 = 0x0100
	StatusNoBackslashEscapes uint16 = 0x0200
	StatusMetadataChanged    uint16 = 0x0400
	StatusQueryWasSlow       uint16 = 0x0800
	StatusPSOutParams        uint16 = 0x1000
	StatusInTransReadonly    uint16 = 0x2000
	StatusSessionStateChange uint16 = 0x4000
)

// Command bytes (COM_*): the first byte of every command packet.
const (
	ComSleep            byte = 0x00
	ComQuit             byte = 0x01
	ComInitDB           byte = 0x02
	ComQuery            byte = 0x03
	ComFieldList        byte = 0x04
	ComCreateDB         byte = 0x05
	ComDropDB           byte = 0x06
	ComRefresh          byte = 0x07
	ComShutdown         byte = 0x08
	ComStatistics       byte = 0x09
	ComProcessInfo      byte = 0x0a
	ComConnect          byte = 0x0b
	ComProcessKill      byte = 0x0c
	ComDebug            byte = 0x0d
	ComPing             byte = 0x0e
	ComTime             byte = 0x0f
	ComDelayedInsert    byte = 0x10
	ComChangeUser       byte = 0x11
	ComBinlogDump       byte = 0x12
	ComTableDump        byte = 0x13
	ComConnectOut       byte = 0x14
	ComRegisterSlave    byte = 0x15
	ComStmtPrepare      byte = 0x16
	ComStmtExecute      byte = 0x17
	ComStmtSendLongData byte = 0x18
	ComStmtClose        byte = 0x19
	ComStmtReset        byte = 0x1a
	ComSetOption        byte = 0x1b
	ComStmtFetch        byte = 0x1c
	ComDaemon           byte = 0x1d
	ComBinlogDumpGTID   byte = 0x1e
	ComResetConnection  byte = 0x1f
)

// Column types (MYSQL_TYPE_*).
const (
	TypeDecimal    byte = 0
	TypeTiny       byte = 1
	TypeShort      byte = 2
	TypeLong       byte = 3
	TypeFloat      byte = 4
	TypeDouble     byte = 5
	TypeNull       byte = 6
	TypeTimestamp  byte = 7
	TypeLongLong   byte = 8
	TypeInt24      byte = 9
	TypeDate       byte = 10
	TypeTime       byte = 11
	TypeDateTime   byte = 12
	TypeYear       byte = 13
	TypeNewDate    byte = 14
	TypeVarchar    byte = 15
	TypeBit        byte = 16
	TypeJSON       byte = 245
	TypeNewDecimal byte = 246
	TypeEnum       byte = 247
	TypeSet        byte = 248
	TypeTinyBlob   byte = 249
	TypeMediumBlob byte = 250
	TypeLongBlob   byte = 251
	TypeBlob       byte = 252
	TypeVarString  byte = 253
	TypeString     byte = 254
	TypeGeometry   byte = 255
)

// Column flags (*_FLAG) used by Column.Flags.
const (
	FlagNotNull       uint16 = 1
	FlagPriKey        uint16 = 2
	FlagUniqueKey     uint16 = 4
	FlagMultipleKey   uint16 = 8
	FlagBlob          uint16 = 16
	FlagUnsigned      uint16 = 32
	FlagZerofill      uint16 = 64
	FlagBinary        uint16 = 128
	FlagEnum          uint16 = 256
	FlagAutoIncrement uint16 = 512
	FlagTimestamp     uint16 = 1024
	FlagSet           uint16 = 2048
	FlagNum           uint16 = 32768
)

// Collation ids.
const (
	CollationUTF8GeneralCI    uint8 = 33
	CollationUTF8MB4GeneralCI uint8 = 45
	CollationBinary           uint8 = 63
)

// Packet header bytes of generic responses.
const (
	headerOK        byte = 0x00
	headerAuthMore  byte = 0x01
	headerLocalFile byte = 0xfb
	headerEOF       byte = 0xfe
	headerErr       byte = 0xff
)

// Authentication plugin names.
const (
	PluginNativePassword      = "mysql_native_password"
	PluginCachingSHA2Password = "caching_sha2_password"
)

const (
	// maxPayload is the largest payload of one physical packet; a logical packet of
	// this size or more is split, and one that is an exact multiple ends with an empty packet.
	maxPayload = 1<<24 - 1

	defaultMaxPacket        = 64 << 20
	defaultHandshakeTimeout = 10 * time.Second
	defaultServerVersion    = "10.11.6-MariaDB-vtgate-lite"

	// handshakeMaxPacket bounds what an unauthenticated client can make us buffer.
	handshakeMaxPacket = 1 << 20

	bufSize = 16 << 10
	// keepReadBuf: a read buffer grown beyond this by one big packet is dropped on the next read.
	keepReadBuf = 1 << 20

	scrambleLen = 20
)
