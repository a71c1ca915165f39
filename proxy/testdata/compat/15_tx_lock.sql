-- Source: MariaDB's documentation of START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION,
-- autocommit and XA, plus issue #13's autocommit=0 + COMMIT + SET TRANSACTION case:
-- https://mariadb.com/kb/en/start-transaction/ https://mariadb.com/kb/en/savepoint/ https://mariadb.com/kb/en/set-transaction/
-- https://mariadb.com/kb/en/xa-transactions/ https://mariadb.com/kb/en/autocommit/
-- name: create
CREATE TABLE tx (id INT PRIMARY KEY, v INT) ENGINE=InnoDB
-- name: create2
CREATE TABLE tx2 (a INT)
-- name: lock_table
LOCK TABLE tx WRITE
-- name: lock_write
INSERT INTO tx VALUES (8, 80)
-- name: lock_other
SELECT * FROM tx2
-- name: unlock
UNLOCK TABLES
-- name: lock_read
LOCK TABLES tx READ
-- name: lock_read_write
INSERT INTO tx VALUES (9, 90)
-- name: unlock2
UNLOCK TABLES
-- name: final
SELECT id, v FROM tx ORDER BY id
