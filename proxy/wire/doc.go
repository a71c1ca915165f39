// Package wire is vtgate-lite's client-facing MySQL server protocol: handshake, TLS,
// authentication and packet I/O. It hands the proxy raw command packets and lets it
// write raw response packets, so backend (MariaDB) results can be relayed without
// decoding a single row.
//
// Flow of one connection:
//  1. Serve accepts a socket and registers it. Over Config.MaxConns it is still served
//     the greeting exchange, then ERR 1040 and closed. Config.HandshakeTimeout bounds
//     steps 2-5 as a whole.
//  2. The server sends Handshake v10: a 20-byte scramble without NULs, charset 45, status
//     AUTOCOMMIT, the fixed capability set ServerCapabilities (+SSL when TLS is
//     configured; MariaDB extended capabilities when offered, CLIENT_MYSQL then
//     cleared) and the default plugin (mysql_native_password unless configured).
//  3. The client answers. An SSL request upgrades the socket to TLS and the real
//     handshake response follows. The response is parsed strictly (protocol 4.1 only);
//     before authentication a packet may not exceed 1 MiB.
//  4. Admission: RequireTLS (ERR 3159), then AuthFailureLimiter (ERR 1129).
//  5. Authentication against Config.Users (methods below); failure is ERR 1045 (28000)
//     and a call to OnAuthFailure.
//  6. Handler.Connected runs (it may refuse, e.g. an unknown database); then OK.
//  7. Command loop: each packet read resets the sequence so the response follows the
//     command's id; COM_QUIT closes, COM_PING is answered here, everything else goes to
//     Handler.Command, whose writes are buffered and flushed once when it returns. A
//     panic is logged with its stack and closes only that connection; an error from the
//     handler closes it after the flush; a packet over MaxPacket gets ERR 1153 and the
//     connection is closed after draining what the client still sends.
//  8. Handler.Closed runs exactly once for every connection Connected saw.
//
// Authentication methods:
//   - mysql_native_password: the scramble is checked against SHA1(SHA1(password)).
//   - caching_sha2_password with a known plaintext password: fast auth (0x01 0x03, OK).
//   - caching_sha2_password with only the native hash: full auth (0x01 0x04). The
//     password comes in clear over TLS, or RSA-OAEP(SHA1) encrypted after an optional
//     public key request (0x02, answered 0x01 + PEM); clear text over plain TCP is
//     refused, as MySQL does.
//   - any other plugin, or an empty response for a user with a password: one
//     AuthSwitchRequest to mysql_native_password with the same scramble.
//
// Shutdown closes the listeners, closes connections that sit between commands, lets
// busy ones finish their current command, and force-closes whatever remains when its
// context ends.
//
// Why our own front end. go-mysql's server (v1.16.0) loses prepared-statement
// parameters on re-execution without rebinding (libmariadb clients such as sysbench
// then query WHERE id=NULL), turns handler errors into 1105, writes one syscall per
// packet and handles neither multi-statements nor multiple result sets. Vitess's
// go/mysql listener decodes every row into sqltypes values and lacks COM_FIELD_LIST and
// LOCAL INFILE. A relay proxy needs raw packets in and out, with writes batched into
// one syscall per response: on two shared cores the proxy's CPU per query is what
// limits throughput, so the hot path (ReadPacket, WritePacket, Flush) reuses its
// buffers and allocates nothing.
//
// Capabilities are a fixed set (ServerCapabilities: its comment says which and why),
// excluding DEPRECATE_EOF, SESSION_TRACK, QUERY_ATTRIBUTES and COMPRESS, plus the MariaDB
// extended capabilities the proxy chooses to offer (SetMariaDBCapabilities: extended
// metadata, when its backends offer it). The proxy's backend connection for a client
// negotiates what that client negotiated, so a relayed packet has the same format on
// both sides.
package wire
