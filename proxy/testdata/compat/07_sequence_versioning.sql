-- Source: MariaDB's documentation examples for sequences and system-versioned tables:
-- https://mariadb.com/kb/en/create-sequence/ https://mariadb.com/kb/en/sequence-overview/ https://mariadb.com/kb/en/setval/
-- https://mariadb.com/kb/en/system-versioned-tables/ (own tables; row start/end timestamps are not selected)
-- name: create_seq
CREATE SEQUENCE s START WITH 100 INCREMENT BY 10
-- name: create_seq2
CREATE SEQUENCE s2 START WITH -100 INCREMENT BY -10
-- name: create_seq_conflict
CREATE SEQUENCE s3 START WITH -100 INCREMENT BY 10
-- name: create_seq3
CREATE SEQUENCE s3 START WITH -100 INCREMENT BY 10 MINVALUE=-100 MAXVALUE=1000
-- name: show_create_seq
SHOW CREATE SEQUENCE s
-- name: nextval
SELECT NEXTVAL(s), NEXT VALUE FOR s
-- name: lastval
SELECT LASTVAL(s), PREVIOUS VALUE FOR s
-- name: nextval_neg
SELECT NEXTVAL(s2), NEXTVAL(s2)
-- name: setval
SELECT SETVAL(s, 1000)
-- name: setval_lower
SELECT SETVAL(s, 10)
-- name: nextval_after
SELECT NEXTVAL(s)
-- name: alter_seq
ALTER SEQUENCE s RESTART 50
-- name: nextval_restart
SELECT NEXTVAL(s)
-- name: seq_table
SELECT next_not_cached_value, minimum_value, increment, cycle_option FROM s
-- name: seq_default
CREATE TABLE sd (id INT DEFAULT NEXTVAL(s3), v CHAR(1))
-- name: seq_default_insert
INSERT INTO sd (v) VALUES ('a'), ('b')
-- name: seq_default_read
SELECT id, v FROM sd ORDER BY id
-- name: seq_cycle
CREATE SEQUENCE sc START WITH 1 MAXVALUE 2 CYCLE NOCACHE
-- name: seq_cycle_vals
SELECT NEXTVAL(sc), NEXTVAL(sc), NEXTVAL(sc)
-- name: seq_run_out
CREATE SEQUENCE so MAXVALUE 1 NOCACHE
-- name: seq_run_out1
SELECT NEXTVAL(so)
-- name: seq_run_out2
SELECT NEXTVAL(so)
-- name: drop_seq
DROP SEQUENCE s2
-- name: drop_seq_missing
DROP SEQUENCE IF EXISTS s2
-- name: create_versioned
CREATE TABLE vt (x INT) WITH SYSTEM VERSIONING
-- name: insert_versioned
INSERT INTO vt VALUES (1), (2)
-- name: update_versioned
UPDATE vt SET x = 3 WHERE x = 1
-- name: delete_versioned
DELETE FROM vt WHERE x = 2
-- name: select_current
SELECT x FROM vt ORDER BY x
-- name: select_all_versions
SELECT x FROM vt FOR SYSTEM_TIME ALL ORDER BY x
-- name: select_history_count
SELECT COUNT(*) FROM vt FOR SYSTEM_TIME ALL WHERE row_end < TIMESTAMP'2038-01-19 03:14:07'
-- name: show_create_versioned
SHOW CREATE TABLE vt
-- name: versioned_columns
CREATE TABLE vt2 (x INT, start_ts TIMESTAMP(6) AS ROW START INVISIBLE, end_ts TIMESTAMP(6) AS ROW END INVISIBLE, PERIOD FOR SYSTEM_TIME(start_ts, end_ts)) WITH SYSTEM VERSIONING
-- name: versioned_insert
INSERT INTO vt2 VALUES (7)
-- name: versioned_select
SELECT * FROM vt2
-- name: versioned_as_of
SELECT x FROM vt2 FOR SYSTEM_TIME AS OF TIMESTAMP'1999-01-01 00:00:00'
-- name: delete_history
DELETE HISTORY FROM vt
-- name: history_after
SELECT COUNT(*) FROM vt FOR SYSTEM_TIME ALL
-- name: alter_drop_versioning
ALTER TABLE vt DROP SYSTEM VERSIONING
-- name: application_period
CREATE TABLE ap (id INT, s DATE, e DATE, PERIOD FOR p(s, e))
-- name: application_insert
INSERT INTO ap VALUES (1, '2024-01-01', '2024-12-31')
-- name: application_delete
DELETE FROM ap FOR PORTION OF p FROM '2024-03-01' TO '2024-04-01'
-- name: application_rows
SELECT * FROM ap ORDER BY s
