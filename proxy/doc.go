// Package proxy is the routing proxy: it takes client commands from the wire layer,
// plans each statement, and relays it to a backend connection of the right keyspace.
//
// Flow of one COM_QUERY:
//  1. Multi-statements are split (only when the client enabled them); each piece runs in turn.
//  2. Admin statements (MIGRATE, VDIFF, SHOW MIGRATION..., SHOW VTGATES) go to the Admin hook,
//     admin users only. A statement that changed the routing returns once AwaitRouting does.
//  3. The plan comes from the cache, keyed by (text, session keyspace, tablet type) and valid
//     for one routing-table version: a statement text is parsed once.
//  4. If a traffic switch holds one of the plan's tables, the statement waits at the gate, then
//     is planned again against the new routing table.
//  5. A backend connection is chosen: the session's reserved one (temporary tables, GET_LOCK,
//     LOCK TABLES, untracked SETs), its transaction's one for that keyspace (BEGIN is sent
//     lazily, with the client's own START TRANSACTION text and savepoints), or a pooled one
//     whose tracked settings match the session's (pools are bucketed by settings).
//  6. The client's packet is forwarded as is when no rewrite was needed, and the response is
//     relayed packet by packet without decoding rows; only the final packet's status flags are
//     patched (session transaction state, MORE_RESULTS for multi-statements). Backend errors
//     reach the client byte for byte, with their own code and SQLSTATE.
//
// Why a relay: decoding rows into values and encoding them again (what go-mysql's server
// and Vitess's listener do) costs CPU per row, and on a 2-core box every cycle the proxy
// spends is taken from MariaDB and the client.
//
// Prepared statements are relayed in the binary protocol (see prepare.go). A reaper
// goroutine closes idle backend connections, kills statements past query_timeout, and
// watches the socket of a client whose statement runs over a second, killing the backend
// query when the client goes away.
package proxy
