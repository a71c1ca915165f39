-- user: admin
-- Run as vtgate-lite's admin user (table maintenance, EXPLAIN/ANALYZE, SHOW statements, user and
-- role management that other helpers' privilege checks may refuse to non-admins). Source: MariaDB's
-- documentation for ANALYZE TABLE, CHECK TABLE, OPTIMIZE, EXPLAIN (EXTENDED/PARTITIONS/FORMAT=JSON),
-- ANALYZE statement, CREATE USER/ROLE, GRANT, SHOW GRANTS: https://mariadb.com/kb/en/analyze-table/
-- https://mariadb.com/kb/en/check-table/ https://mariadb.com/kb/en/explain/ https://mariadb.com/kb/en/create-user/ https://mariadb.com/kb/en/create-role/
-- reset: DROP USER IF EXISTS compat_u@'%'
-- reset: DROP ROLE IF EXISTS compat_role
-- name: create
CREATE TABLE a1 (id INT PRIMARY KEY, v INT, KEY kv (v))
-- name: insert
INSERT INTO a1 VALUES (1, 1), (2, 2), (3, 3)
-- name: analyze_table
ANALYZE TABLE a1
-- name: analyze_persistent
ANALYZE TABLE a1 PERSISTENT FOR ALL
-- name: check_table
CHECK TABLE a1
-- name: check_extended
CHECK TABLE a1 EXTENDED
-- name: optimize
OPTIMIZE TABLE a1
-- name: repair
REPAIR TABLE a1
-- name: checksum
CHECKSUM TABLE a1
-- name: explain
EXPLAIN SELECT * FROM a1 WHERE v = 2
-- name: explain_extended
EXPLAIN EXTENDED SELECT * FROM a1 WHERE id > 1
-- name: explain_partitions
EXPLAIN PARTITIONS SELECT * FROM a1
-- name: explain_json
EXPLAIN FORMAT=JSON SELECT v FROM a1 WHERE id = 1
-- name: explain_update
EXPLAIN UPDATE a1 SET v = 0 WHERE id = 1
-- name: analyze_stmt
-- nondeterministic
ANALYZE SELECT * FROM a1 WHERE v > 1
-- name: describe
DESCRIBE a1
-- name: desc_col
DESC a1 v
-- name: show_keys
SHOW KEYS FROM a1
-- name: show_engines
SHOW ENGINES
-- name: show_charset
SHOW CHARACTER SET LIKE 'utf8mb4'
-- name: show_collation
SHOW COLLATION LIKE 'utf8mb4_bin'
-- name: show_databases
SHOW DATABASES LIKE 'compat'
-- name: show_create_db
SHOW CREATE DATABASE compat
-- name: show_privileges
SHOW PRIVILEGES
-- name: show_warnings_limit
SHOW WARNINGS LIMIT 1
-- name: show_errors
SHOW ERRORS
-- name: show_count_warnings
SHOW COUNT(*) WARNINGS
-- name: show_status
-- nondeterministic
SHOW SESSION STATUS LIKE 'Com_select'
-- name: create_user
CREATE USER compat_u@'%' IDENTIFIED BY 'pw'
-- name: create_user_again
CREATE USER compat_u@'%'
-- name: create_or_replace_user
CREATE OR REPLACE USER compat_u@'%' IDENTIFIED BY 'pw2'
-- name: create_role
CREATE ROLE compat_role
-- name: grant_role_priv
GRANT SELECT ON compat.* TO compat_role
-- name: grant_role
GRANT compat_role TO compat_u@'%'
-- name: show_grants
SHOW GRANTS FOR compat_u@'%'
-- name: show_grants_role
SHOW GRANTS FOR compat_role
-- name: alter_user
ALTER USER compat_u@'%' ACCOUNT LOCK
-- name: revoke
REVOKE SELECT ON compat.* FROM compat_role
-- name: drop_role
DROP ROLE compat_role
-- name: drop_user
DROP USER compat_u@'%'
-- name: drop_user_missing
DROP USER compat_u@'%'
-- name: flush_tables
FLUSH TABLES a1
-- name: execute_immediate
EXECUTE IMMEDIATE 'SELECT ? + 1' USING 41
-- name: prepare_sql
PREPARE s1 FROM 'SELECT v FROM a1 WHERE id = ?'
-- name: set_param
SET @id = 2
-- name: execute_sql
EXECUTE s1 USING @id
-- name: deallocate
DEALLOCATE PREPARE s1
-- name: execute_missing
EXECUTE s1
-- name: help
HELP 'nothing_matches_this'
