-- Source: MariaDB's documentation of START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION,
-- autocommit and XA, plus issue #13's autocommit=0 + COMMIT + SET TRANSACTION case:
-- https://mariadb.com/kb/en/start-transaction/ https://mariadb.com/kb/en/savepoint/ https://mariadb.com/kb/en/set-transaction/
-- https://mariadb.com/kb/en/xa-transactions/ https://mariadb.com/kb/en/autocommit/
-- name: create
CREATE TABLE tx (id INT PRIMARY KEY, v INT) ENGINE=InnoDB
-- name: begin
BEGIN
-- name: insert_in_tx
INSERT INTO tx VALUES (1, 10)
-- name: status_in_tx
SELECT @@in_transaction, COUNT(*) FROM tx
-- name: commit
COMMIT
-- name: after_commit
SELECT @@in_transaction, COUNT(*) FROM tx
-- name: start_tx
START TRANSACTION
-- name: update_in_tx
UPDATE tx SET v = 20 WHERE id = 1
-- name: rollback
ROLLBACK
-- name: after_rollback
SELECT v FROM tx
-- name: start_consistent
START TRANSACTION WITH CONSISTENT SNAPSHOT
-- name: read_snapshot
SELECT COUNT(*) FROM tx
-- name: commit2
COMMIT
-- name: start_read_write
START TRANSACTION READ WRITE
-- name: savepoint
SAVEPOINT sp1
-- name: insert_after_sp
INSERT INTO tx VALUES (3, 30)
-- name: rollback_to
ROLLBACK TO SAVEPOINT sp1
-- name: release_missing
RELEASE SAVEPOINT sp1
-- name: rollback_missing_sp
ROLLBACK TO sp_nope
-- name: commit3
COMMIT
-- name: after_savepoint
SELECT id FROM tx ORDER BY id
-- name: ddl_implicit_commit
BEGIN
-- name: insert_before_ddl
INSERT INTO tx VALUES (6, 60)
-- name: ddl_in_tx
CREATE TABLE tx2 (a INT)
-- name: rollback_after_ddl
ROLLBACK
-- name: after_ddl
SELECT id FROM tx WHERE id = 6
