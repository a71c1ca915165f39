-- Source: MariaDB's documentation of START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION,
-- autocommit and XA, plus issue #13's autocommit=0 + COMMIT + SET TRANSACTION case:
-- https://mariadb.com/kb/en/start-transaction/ https://mariadb.com/kb/en/savepoint/ https://mariadb.com/kb/en/set-transaction/
-- https://mariadb.com/kb/en/xa-transactions/ https://mariadb.com/kb/en/autocommit/
-- name: create
CREATE TABLE tx (id INT PRIMARY KEY, v INT) ENGINE=InnoDB
-- name: autocommit_off
SET autocommit = 0
-- name: insert_no_autocommit
INSERT INTO tx VALUES (4, 40)
-- name: in_tx_implicit
SELECT @@in_transaction, @@autocommit
-- name: commit_implicit
COMMIT
-- name: set_tx_isolation
SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
-- name: isolation_after
SELECT @@tx_isolation
-- name: autocommit_on
SET autocommit = 1
-- name: session_isolation
SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE
-- name: read_isolation
SELECT @@tx_isolation, @@transaction_isolation
