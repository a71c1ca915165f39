-- Source: MariaDB's documentation of START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION,
-- autocommit and XA, plus issue #13's autocommit=0 + COMMIT + SET TRANSACTION case:
-- https://mariadb.com/kb/en/start-transaction/ https://mariadb.com/kb/en/savepoint/ https://mariadb.com/kb/en/set-transaction/
-- https://mariadb.com/kb/en/xa-transactions/ https://mariadb.com/kb/en/autocommit/
-- name: create
CREATE TABLE tx (id INT PRIMARY KEY, v INT) ENGINE=InnoDB
-- name: commit_chain
BEGIN
-- name: commit_and_chain
COMMIT AND CHAIN
-- name: chained
SELECT @@in_transaction
-- name: commit_release
COMMIT AND NO CHAIN
-- name: xa_start
XA START 'x1'
-- name: xa_insert
INSERT INTO tx VALUES (7, 70)
-- name: xa_end
XA END 'x1'
-- name: xa_prepare
XA PREPARE 'x1'
-- name: xa_recover
XA RECOVER
-- name: xa_commit
XA COMMIT 'x1'
-- name: xa_after
SELECT v FROM tx WHERE id = 7
-- name: xa_one_phase
XA START 'x2'
-- name: xa_one_phase_end
XA END 'x2'
-- name: xa_one_phase_commit
XA COMMIT 'x2' ONE PHASE
-- name: commit_outside
COMMIT
-- name: rollback_outside
ROLLBACK
-- name: commit_work
COMMIT WORK
-- name: rollback_work
ROLLBACK WORK
