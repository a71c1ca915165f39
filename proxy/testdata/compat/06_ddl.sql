-- Source: MariaDB's documentation examples for CREATE/ALTER/DROP TABLE, CREATE OR REPLACE,
-- IF [NOT] EXISTS, indexes, views, generated columns, partitions, constraints, SHOW CREATE:
-- https://mariadb.com/kb/en/create-table/ https://mariadb.com/kb/en/alter-table/ https://mariadb.com/kb/en/create-view/
-- https://mariadb.com/kb/en/partitioning-types-overview/ https://mariadb.com/kb/en/constraint/
-- name: create
CREATE TABLE d1 (a INT PRIMARY KEY, b VARCHAR(20) CHARACTER SET latin1, c TEXT, KEY kb (b)) ENGINE=InnoDB COMMENT 'first'
-- name: create_exists
CREATE TABLE d1 (a INT)
-- name: create_if_not_exists
CREATE TABLE IF NOT EXISTS d1 (a INT)
-- name: create_or_replace
CREATE OR REPLACE TABLE d2 (x INT, y INT AS (x * 2) PERSISTENT, z INT AS (x + 1) VIRTUAL)
-- name: show_create
SHOW CREATE TABLE d1
-- name: show_create2
SHOW CREATE TABLE d2
-- name: alter_add
ALTER TABLE d1 ADD COLUMN d DATETIME(6) NULL AFTER b, ADD INDEX kc (c(10))
-- name: alter_modify
ALTER TABLE d1 MODIFY b VARCHAR(40) CHARACTER SET utf8mb4 NOT NULL DEFAULT ''
-- name: alter_rename_col
ALTER TABLE d1 RENAME COLUMN d TO dd
-- name: alter_if_exists
ALTER TABLE d1 DROP COLUMN IF EXISTS nope, ADD COLUMN IF NOT EXISTS b INT
-- name: alter_online
ALTER TABLE d1 ADD COLUMN e INT, ALGORITHM=INSTANT
-- name: alter_lock
ALTER TABLE d1 ADD INDEX ke (e), LOCK=NONE
-- name: rename
RENAME TABLE d2 TO d3
-- name: rename_back
ALTER TABLE d3 RENAME TO d2
-- name: create_like
CREATE TABLE d4 LIKE d1
-- name: create_select
CREATE TABLE d5 AS SELECT 1 AS one, 'two' AS two
-- name: create_index
CREATE INDEX i1 ON d4 (b)
-- name: create_unique
CREATE UNIQUE INDEX IF NOT EXISTS i2 ON d4 (e)
-- name: drop_index
DROP INDEX i1 ON d4
-- name: show_index
SHOW INDEX FROM d4
-- name: check_constraint
CREATE TABLE d6 (a INT CHECK (a > 0), b INT, CONSTRAINT ab CHECK (b > a))
-- name: check_violate
INSERT INTO d6 VALUES (1, 0)
-- name: check_ok
INSERT INTO d6 VALUES (1, 2)
-- name: foreign_parent
CREATE TABLE fp (id INT PRIMARY KEY) ENGINE=InnoDB
-- name: foreign_child
CREATE TABLE fc (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES fp (id) ON DELETE CASCADE) ENGINE=InnoDB
-- name: foreign_violate
INSERT INTO fc VALUES (1, 42)
-- name: foreign_ok
INSERT INTO fp VALUES (42)
-- name: foreign_child_ok
INSERT INTO fc VALUES (1, 42)
-- name: foreign_cascade
DELETE FROM fp WHERE id = 42
-- name: foreign_after
SELECT COUNT(*) FROM fc
-- name: partition_range
CREATE TABLE pr (id INT, y INT) PARTITION BY RANGE (y) (PARTITION p0 VALUES LESS THAN (2000), PARTITION p1 VALUES LESS THAN MAXVALUE)
-- name: partition_insert
INSERT INTO pr VALUES (1, 1999), (2, 2024)
-- name: partition_select
SELECT * FROM pr PARTITION (p1)
-- name: partition_hash
CREATE TABLE ph (id INT) PARTITION BY HASH (id) PARTITIONS 3
-- name: view
CREATE VIEW v1 AS SELECT a, b FROM d1 WHERE a > 0
-- name: view_or_replace
CREATE OR REPLACE VIEW v1 AS SELECT a FROM d1
-- name: view_select
SELECT * FROM v1
-- name: show_create_view
SHOW CREATE VIEW v1
-- name: view_check
CREATE VIEW v2 AS SELECT a FROM d1 WHERE a < 10 WITH CHECK OPTION
-- name: view_insert_fail
INSERT INTO v2 VALUES (20)
-- name: alter_view
ALTER VIEW v2 AS SELECT a FROM d1
-- name: drop_view
DROP VIEW v1, v2
-- name: drop_view_missing
DROP VIEW IF EXISTS v1
-- name: temp_table
CREATE TEMPORARY TABLE tt (a INT)
-- name: temp_insert
INSERT INTO tt VALUES (1), (2)
-- name: temp_select
SELECT SUM(a) FROM tt
-- name: temp_drop
DROP TEMPORARY TABLE tt
-- name: invisible
CREATE TABLE d7 (a INT, b INT INVISIBLE DEFAULT 5)
-- name: invisible_insert
INSERT INTO d7 VALUES (1)
-- name: invisible_select
SELECT *, b FROM d7
-- name: comment_col
ALTER TABLE d7 MODIFY a INT COMMENT 'the a'
-- name: show_columns
SHOW FULL COLUMNS FROM d7
-- name: show_tables
SHOW TABLES
-- name: show_table_status
SHOW TABLE STATUS LIKE 'nope%'
-- name: drop_missing
DROP TABLE nope
-- name: drop_if_exists
DROP TABLE IF EXISTS nope, d5
-- name: drop_several
DROP TABLE d4, d6
-- name: drop_table_in_use
DROP TABLE fp
-- name: information_schema
SELECT TABLE_NAME, TABLE_TYPE, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'compat' ORDER BY TABLE_NAME
-- name: information_columns
SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'd1' ORDER BY ORDINAL_POSITION
