// Package planner turns one parsed statement into a Plan: a value that says where the
// statement goes and what the proxy must do around it. It is pure: statement, session
// (keyspace, tablet type) and routing table in, plan or MySQL error out; no network,
// clock or logging, so plans are tested as golden files (testdata/*.json, -update).
//
// Flow:
//  1. Session and admin statements (USE, SET, BEGIN/COMMIT/ROLLBACK, SAVEPOINT, SHOW
//     DATABASES, ALTER VSCHEMA, VEXPLAIN) become plans the proxy executes itself.
//  2. Every other statement is a Route: its table references (not column qualifiers,
//     not CTE names) are resolved through the routing table at the session's tablet type
//     (writes must run at primary).
//  3. Tables in two keyspaces give an error naming each table's keyspace (cross-keyspace
//     execution is a later plan kind).
//  4. Keyspace qualifiers are rewritten to the target's backend database only when they
//     differ, so the common case forwards the client's text byte for byte.
//  5. Statements that leave state on the connection (temporary tables, GET_LOCK, LOCK
//     TABLES, user variables, untracked SETs) carry a Reserve reason: the session keeps
//     that backend connection instead of returning it to the pool.
package planner
