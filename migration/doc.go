// Package migration moves tables between keyspaces online (MIGRATE TABLES): it copies them
// from a consistent snapshot, follows the source binlog, survives crashes of vtgate-lite and of
// the servers, and verifies the result (VDIFF).
//
// Flow:
//
//  1. ParseAdmin recognizes the admin statements; the proxy checks that the user is an admin and
//     calls Engine.Exec.
//  2. MIGRATE TABLES validates (keyspaces, tables, a primary key or a NOT NULL unique key, the
//     source's binlog on/ROW/FULL on every source server, target tables absent or empty, no
//     other workflow on those tables), creates the missing target tables from SHOW CREATE TABLE
//     (without secondary keys under DEFER SECONDARY KEYS), adds the tables to the target's VSchema
//     and routing rules that keep every reference (t, src.t, dst.t, @replica, @rdonly) on the
//     source, writes the workflow and one copy_state row per table to the sidecar schema
//     _vt_lite on the target primary, starts a runner and returns.
//  3. A runner feeds events to Step (state.go: pure, no I/O) and performs the actions it returns.
//     Every work action starts by re-reading the workflow from the sidecar, so any failure -
//     a lost connection, a server restart, a crash of vtgate-lite - resumes from what is durable.
//  4. Copy cycle (phase Copying): open START TRANSACTION WITH CONSISTENT SNAPSHOT on a source
//     replica/rdonly (the primary when there is none, or as COPY FROM says) and read its exact
//     position P (MariaDB: binlog_snapshot_file/position + BINLOG_GTID_POS, no lock; MySQL: a
//     FLUSH TABLES WITH READ LOCK held just while the snapshot opens and gtid_executed is read).
//     With several tables left, one snapshot connection per table worker (up to 4) is opened
//     together under a brief FLUSH TABLES <moved tables> WITH READ LOCK, so all show the moved
//     tables at the same P. Fast-forward: stream the binlog from the stored position to exactly
//     P and apply it (this brings rows copied in earlier cycles to P), and store P. Then each
//     worker copies its tables in key order, in batches of CopyBatchRows read in the snapshot
//     (WHERE key > lastpk ORDER BY key LIMIT n) while the previous batch is written as multi-row
//     INSERT ... ON DUPLICATE KEY UPDATE. A batch is split over CopyWriters target connections:
//     the lower parts commit on helper connections, then the top part commits in the same
//     transaction as the copy_state row (lastpk, rows_copied, done). Reads pause while the source
//     replica lags more than MaxSourceLag, and are paced by CopyRowsPerSecond. A cycle ends when
//     the tables are copied or after copyCycleBudget; the next cycle snapshots again. When a
//     table is done its deferred secondary keys are added (ADD KEY IF NOT EXISTS: re-runnable).
//  5. Stream (phase Running): follow the binlog from the stored position (go-mysql replication,
//     GTID mode, MariaDB or MySQL flavor) for the moved tables only. Row events become upserts
//     (after image) and deletes (before-image key; an update that changes the key is a delete
//     plus an upsert). Source transactions are applied in order, several per target transaction
//     (a commit at a source boundary when nothing more is buffered, or after 5000 rows or 250 ms),
//     and the position is updated in that same target transaction. Within a batch only the last
//     change of each key is kept: per table one multi-row DELETE (of every touched key when the
//     table has other unique keys, so no final image can collide with a stale row) and
//     multi-row upserts of the final images.
//  6. DDL on a moved table (a Query event) ends the batch before it; Step decides: STOP moves the
//     position past it and sets Error with the statement (in one transaction); IGNORE moves past
//     it; EXEC runs it on the target (qualifier rewritten to the target database) and moves past.
//  7. VDIFF: the stream pauses at a transaction boundary and snapshots the source at P on the
//     server it reads; it runs the target exactly to P, commits, opens a consistent snapshot on
//     the target and carries on. Both snapshots are then read in key order and merge-compared,
//     with counts and sample keys saved to _vt_lite.vdiff every 2 s and at the end.
//  8. MIGRATE STOP/START/CANCEL are events for the runner. CANCEL runs on the runner's own
//     goroutine after its work has returned, so it never races a stream; it drops the target
//     tables (unless KEEP DATA), the sidecar rows and the routing rules.
//  9. MIGRATE READS / REVERSE READS re-point the @replica/@rdonly rules (pure routing changes);
//     the state keeps ReadsSwitched/WritesSwitched for the write switch.
//  10. MIGRATE WRITES / REVERSE WRITES / COMPLETE (switch.go; the decisions are the pure machines
//     of switchfsm.go, performed by switchdriver.go): the proxy holds statements on the
//     moved tables and drains transactions on them (TrafficGate); only then the old primary's
//     position is read and the stream runs exactly to it and stops; the opposite stream
//     (<source>.<name>_reverse, or the forward one) is stored at the new primary's position;
//     the routing rules swap in one Holder.Update (the point of no return) and the held
//     statements are released. A journal row (_vt_lite.traffic_switch, with the phase) lets a
//     restart roll a switch back or finish it, by what the routing says. COMPLETE removes the reverse stream,
//     the rules and the source's VSchema entries and drops/renames/keeps the source tables.
//
// Crash safety (exactly once):
//
//   - Invariant, at every commit on the target, with pos the stored position: every target row
//     of a moved table equals the source row with the same key at pos, and every key up to a
//     table's lastpk (all keys once it is copied) is present on the target iff it is present
//     in the source at pos. The stream changes data and pos only together, in one InnoDB
//     transaction on the target primary; a copy batch advances lastpk in the transaction that
//     writes its top part, after its lower parts committed.
//   - Applying is state-setting: an upsert writes the full after image and a delete removes the
//     key, so the effect of a row event depends only on the event, never on the row it finds.
//     Hence a fast-forward may touch keys above lastpk (rows not copied yet), and a copy may
//     commit rows above lastpk before lastpk moves (parallel writers, a crash in between): such
//     rows are images at pos, which the invariant allows, and the next copy overwrites them
//     with the images of the next snapshot after the fast-forward brought everything to it.
//   - A crash (kill -9, a cancelled context, a dropped connection) loses at most uncommitted
//     target transactions, which the server rolls back: the durable state satisfies the
//     invariant, and the restarted engine continues from exactly that pos and lastpk. No source
//     transaction is lost (the stream restarts at pos) and none is applied twice (everything up
//     to pos is in the target, nothing after it).
//   - Several snapshots opened under the read lock agree on the moved tables: no transaction
//     writing them can be in flight or commit while the lock is held, so the position read then
//     is exact for them (transactions on other tables that move it do not concern us).
//   - ON DDL EXEC cannot share a transaction with its position (DDL commits implicitly): a crash
//     between the two re-runs the DDL; if that fails the workflow shows it in Error.
package migration
