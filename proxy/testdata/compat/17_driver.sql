-- Source: the statements go-sql-driver/mysql v1.10.1 sends and its tests run (driver_test.go,
-- connector.go, connection.go in the Go module cache): SET NAMES, SET TRANSACTION, multi-statements,
-- DO, placeholders, type round trips, SELECT @@ variables.
-- name: set_names_driver
SET NAMES utf8mb4 COLLATE utf8mb4_general_ci
-- name: create
CREATE TABLE test (id INT NOT NULL PRIMARY KEY, value TEXT NOT NULL) CHARACTER SET utf8
-- name: insert
INSERT INTO test VALUES (1, 1)
-- name: select_value
SELECT value FROM test WHERE id=1;
-- name: multi_update
UPDATE test SET value = 3 WHERE id = 1; UPDATE test SET value = 4 WHERE id = 1; UPDATE test SET value = 5 WHERE id = 1;
-- name: after_multi
SELECT value FROM test
-- name: do
DO 1
-- name: do_multi
DO 1; DO 2;
-- name: multi_select
SELECT 1; SELECT 2, 3; SELECT 'x' AS y
-- name: multi_error
SELECT 1; SELEC 2; SELECT 3
-- name: multi_mixed
INSERT INTO test VALUES (2, 'two'); SELECT COUNT(*) FROM test; DELETE FROM test WHERE id = 2
-- name: derived_one
SELECT * FROM (SELECT 1 AS one) AS A
-- name: union_bool
SELECT 1 UNION SELECT 0
-- name: select_null
SELECT NULL
-- name: select_1_2
SELECT 1, 2
-- name: placeholder
-- protocol: ps
-- params: 7
SELECT ?
-- name: placeholder2
-- protocol: ps
-- params: 'abc', NULL
SELECT ?, ? IS NULL
-- name: set_tx_ro
SET SESSION TRANSACTION READ ONLY
-- name: set_tx_rw
SET SESSION TRANSACTION READ WRITE
-- name: set_tx_level
SET TRANSACTION ISOLATION LEVEL READ COMMITTED
-- name: char_vars
SELECT @@character_set_connection, @@collation_connection
-- name: max_conn
SELECT @@max_connections > 0
-- name: ssl_status
SHOW STATUS LIKE 'Ssl_cipher'
-- name: perf_schema
SHOW VARIABLES LIKE 'performance_schema'
-- name: create_types
CREATE TABLE ty (b BOOL, i8 TINYINT, i16 SMALLINT, i32 INT, i64 BIGINT, f32 FLOAT, f64 DOUBLE, iu32 INT UNSIGNED, d DECIMAL(20,6), dt DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME, yr YEAR, bl LONGBLOB, tx MEDIUMTEXT, bt BIT(64))
-- name: insert_types
INSERT INTO ty VALUES (TRUE, -128, -32768, -2147483648, -9223372036854775808, 1.5, -2.25e-100, 4294967295, 12345678901234.123456, '2024-02-29 23:59:59.999999', '2024-01-01 00:00:00.123', '-838:59:59', 2155, x'00ff00', 'text ☃', b'1010101010101010101010101010101010101010101010101010101010101010')
-- name: select_types
SELECT * FROM ty
-- name: select_ts_null
SELECT ts, NULL + ts FROM ty
-- name: select_is_null
SELECT 1 IS NULL, NULL IS NULL
-- name: call_proc_driver
CREATE PROCEDURE p() SELECT 1 AS a; 
-- name: call_p
CALL p()
