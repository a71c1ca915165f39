-- Source: own cases: errors must come back with the server's code, SQLSTATE and message, also for
-- text vtgate-lite cannot parse (it goes to the backend unchanged); examples of MariaDB's error
-- reference https://mariadb.com/kb/en/mariadb-error-codes/ and issue #13 (syntax errors with the server's message).
-- name: syntax_select
SELEC 1
-- name: syntax_trailing
SELECT 1 FROM
-- name: syntax_garbage
SELECT * FROM WHERE
-- name: syntax_unclosed_string
SELECT 'abc
-- name: syntax_unclosed_comment
SELECT 1 /* never closed
-- name: syntax_keyword
SELECT * FROM select
-- name: syntax_insert
INSERT INTO VALUES (1)
-- name: syntax_update
UPDATE SET a = 1
-- name: syntax_delete
DELETE t WHERE 1
-- name: syntax_create
CREATE TABLE (a INT)
-- name: syntax_multiline
SELECT 1,
-- name: unknown_table
SELECT * FROM nope
-- name: unknown_column
CREATE TABLE e (a INT)
-- name: unknown_column2
SELECT b FROM e
-- name: ambiguous
SELECT a FROM e e1, e e2
-- name: unknown_function
SELECT no_such_fn(1)
-- name: wrong_args
SELECT CONCAT_WS()
-- name: group_error
SELECT a, COUNT(*) FROM e GROUP BY b
-- name: subquery_rows
SELECT (SELECT 1 UNION SELECT 2)
-- name: operand_columns
SELECT (1, 2) = 1
-- name: data_too_long
CREATE TABLE e2 (s CHAR(2)) 
-- name: strict_too_long
INSERT INTO e2 VALUES ('abc')
-- name: not_null_ins
CREATE TABLE e3 (a INT NOT NULL)
-- name: not_null_null
INSERT INTO e3 VALUES (NULL)
-- name: dup_column
CREATE TABLE e4 (a INT, a INT)
-- name: bad_engine
CREATE TABLE e5 (a INT) ENGINE=NoSuchEngine
-- name: bad_default
CREATE TABLE e6 (a INT DEFAULT 'x')
-- name: drop_unknown_db
DROP DATABASE no_such_database_here
-- name: use_unknown_db
USE no_such_database_here
-- name: divide_error_mode
SET sql_mode = 'ERROR_FOR_DIVISION_BY_ZERO,STRICT_ALL_TABLES'
-- name: divide_insert
INSERT INTO e VALUES (1/0)
-- name: signal_text
SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'top-level signal'
-- name: kill_unknown
KILL 999999999
-- name: lock_wait
SELECT GET_LOCK('compat_lock', 0), RELEASE_LOCK('compat_lock')
-- name: only_comment
/* only a comment */
-- name: version_comment_exec
SELECT 1 /*!100000 + 1 */
-- name: version_comment_skip
SELECT 1 /*!999999 + 1 */
-- name: mariadb_comment
SELECT 1 /*M!100100 + 10 */
-- name: optimizer_hint
SELECT /*+ MAX_EXECUTION_TIME(1000) */ 1
-- name: big_number
SELECT 99999999999999999999999999999999999999999999999999999999999999999999
-- name: out_of_range
SELECT CAST(18446744073709551615 AS SIGNED) + 1
-- name: bigint_overflow
SELECT 9223372036854775807 + 1
