-- Source: MariaDB's documentation of START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION,
-- autocommit and XA, plus issue #13's autocommit=0 + COMMIT + SET TRANSACTION case:
-- https://mariadb.com/kb/en/start-transaction/ https://mariadb.com/kb/en/savepoint/ https://mariadb.com/kb/en/set-transaction/
-- https://mariadb.com/kb/en/xa-transactions/ https://mariadb.com/kb/en/autocommit/
-- name: create
CREATE TABLE tx (id INT PRIMARY KEY, v INT) ENGINE=InnoDB
-- name: start_read_only
START TRANSACTION READ ONLY
-- name: write_in_read_only
INSERT INTO tx VALUES (2, 2)
-- name: commit_ro
COMMIT
-- name: session_read_only
SET SESSION TRANSACTION READ ONLY
-- name: write_read_only_session
INSERT INTO tx VALUES (5, 50)
-- name: session_read_write
SET SESSION TRANSACTION READ WRITE, ISOLATION LEVEL REPEATABLE READ
-- name: tx_vars
SELECT @@tx_read_only, @@tx_isolation
