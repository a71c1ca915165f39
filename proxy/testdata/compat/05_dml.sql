-- Source: MariaDB's documentation examples for INSERT (ON DUPLICATE KEY UPDATE, IGNORE, SET form),
-- INSERT/REPLACE/DELETE ... RETURNING, REPLACE, UPDATE/DELETE with ORDER BY and LIMIT, multi-table
-- UPDATE/DELETE, LAST_INSERT_ID and affected rows: https://mariadb.com/kb/en/insert/
-- https://mariadb.com/kb/en/insertreturning/ https://mariadb.com/kb/en/replacereturning/ https://mariadb.com/kb/en/delete/
-- https://mariadb.com/kb/en/insert-on-duplicate-key-update/ https://mariadb.com/kb/en/last_insert_id/
-- name: create
CREATE TABLE t1 (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10) NOT NULL DEFAULT 'x', n INT UNIQUE)
-- name: insert_one
INSERT INTO t1 (v, n) VALUES ('a', 1)
-- name: last_id
SELECT LAST_INSERT_ID()
-- name: insert_many
INSERT INTO t1 (v, n) VALUES ('b', 2), ('c', 3), ('d', 4)
-- name: last_id_many
SELECT LAST_INSERT_ID(), ROW_COUNT()
-- name: insert_set
INSERT INTO t1 SET v = 'e', n = 5
-- name: insert_default
INSERT INTO t1 (n) VALUES (6)
-- name: insert_default_kw
INSERT INTO t1 VALUES (DEFAULT, DEFAULT, 7)
-- name: insert_explicit_id
INSERT INTO t1 VALUES (100, 'z', 100)
-- name: insert_after_explicit
INSERT INTO t1 (v, n) VALUES ('y', 101)
-- name: dup_key
INSERT INTO t1 (v, n) VALUES ('dup', 1)
-- name: insert_ignore
INSERT IGNORE INTO t1 (v, n) VALUES ('dup', 1), ('new', 8)
-- name: on_dup_update
INSERT INTO t1 (v, n) VALUES ('upd', 2) ON DUPLICATE KEY UPDATE v = VALUES(v)
-- name: on_dup_same
INSERT INTO t1 (v, n) VALUES ('upd', 2) ON DUPLICATE KEY UPDATE v = VALUES(v)
-- name: on_dup_insert
INSERT INTO t1 (v, n) VALUES ('fresh', 9) ON DUPLICATE KEY UPDATE v = 'never'
-- name: on_dup_last_id
INSERT INTO t1 (v, n) VALUES ('again', 9) ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), v = 'again'
-- name: last_id_expr
SELECT LAST_INSERT_ID()
-- name: returning
INSERT INTO t1 (v, n) VALUES ('r1', 20), ('r2', 21) RETURNING id, v, n * 2 AS twice
-- name: returning_star
INSERT INTO t1 SET v = 'r3', n = 22 RETURNING *
-- name: insert_select
INSERT INTO t1 (v, n) SELECT CONCAT(v, '!'), n + 1000 FROM t1 WHERE n < 4
-- name: insert_select_returning
INSERT INTO t1 (v, n) SELECT 'sel', 2000 RETURNING id
-- name: replace
REPLACE INTO t1 (id, v, n) VALUES (1, 'replaced', 1)
-- name: replace_returning
REPLACE INTO t1 (id, v, n) VALUES (2, 'rep2', 2) RETURNING id, v
-- name: update
UPDATE t1 SET v = UPPER(v) WHERE n BETWEEN 3 AND 5
-- name: update_none
UPDATE t1 SET v = v WHERE n = 3
-- name: update_limit
UPDATE t1 SET n = n + 10000 WHERE n > 1000 ORDER BY n DESC LIMIT 2
-- name: update_multi
UPDATE t1 a JOIN t1 b ON b.n = a.n + 1 SET a.v = 'multi' WHERE a.n = 4
-- name: update_error
UPDATE t1 SET n = 1 WHERE n = 3
-- name: update_not_null
UPDATE t1 SET v = NULL WHERE n = 3
-- name: select_state
SELECT id, v, n FROM t1 ORDER BY id
-- name: delete_limit
DELETE FROM t1 WHERE n > 1000 ORDER BY n LIMIT 1
-- name: delete_returning
DELETE FROM t1 WHERE n >= 20 AND n < 30 RETURNING id, n
-- name: delete_multi
DELETE a FROM t1 a JOIN t1 b ON a.id = b.id WHERE a.n = 100
-- name: delete_all_count
SELECT COUNT(*) FROM t1
-- name: create_typed
CREATE TABLE t2 (a TINYINT, b SMALLINT UNSIGNED, c DECIMAL(5,2), d DATE, e CHAR(3), f BIT(4), g ENUM('x','y'), h SET('p','q'), i DOUBLE, j TIMESTAMP NULL, k BLOB, l TIME(3))
-- name: insert_truncations
INSERT INTO t2 (a, b, c, d, e) VALUES (300, -1, 123.456, '2024-13-40', 'abcdef')
-- name: strict_set
SET sql_mode = 'STRICT_TRANS_TABLES'
-- name: insert_strict
INSERT INTO t2 (a) VALUES (300)
-- name: insert_strict_ok
INSERT INTO t2 (a, b, c, d, e, f, g, h, i, j, k, l) VALUES (1, 2, 3.5, '2024-02-29', 'ab', b'1010', 'y', 'p,q', 1.5e10, '2024-01-01 00:00:00', 0x00ff, '12:34:56.789')
-- name: select_types
SELECT * FROM t2
-- name: select_types_bin
-- protocol: ps
-- params: 1
SELECT a, b, c, d, e, f, g, h, i, j, k, l FROM t2 WHERE a = ?
-- name: load_value
INSERT INTO t2 (a) VALUE (5)
-- name: insert_low_priority
INSERT LOW_PRIORITY INTO t2 (a) VALUES (6)
-- name: delete_ignore
DELETE IGNORE FROM t2 WHERE a = 6
-- name: truncate
TRUNCATE TABLE t2
