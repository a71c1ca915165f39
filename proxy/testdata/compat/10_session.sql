-- Source: issue #13's session-state cases (SET from user variables, the mariadb-dump preamble,
-- SET STATEMENT, SET timestamp, autocommit), the preamble of a plain mariadb-dump 10.11 output file,
-- and MariaDB's documentation of SET / SET STATEMENT / user variables:
-- https://mariadb.com/kb/en/set/ https://mariadb.com/kb/en/set-statement/ https://mariadb.com/kb/en/user-defined-variables/
-- name: tz_var
SET @tz = '+05:00'
-- name: tz_from_var
SET time_zone = @tz
-- name: tz_read
SELECT @@time_zone, @@session.time_zone
-- name: tz_convert
SELECT CONVERT_TZ('2024-01-01 00:00:00', @@time_zone, '+00:00')
-- name: dump_1
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */
-- name: dump_2
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */
-- name: dump_3
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */
-- name: dump_4
/*!40101 SET NAMES utf8mb4 */
-- name: dump_5
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */
-- name: dump_6
/*!40103 SET TIME_ZONE='+00:00' */
-- name: dump_7
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */
-- name: dump_8
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */
-- name: dump_9
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */
-- name: dump_10
/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */
-- name: dump_11
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */
-- name: dump_drop
DROP TABLE IF EXISTS `customer`
-- name: dump_cs_save
/*!40101 SET @saved_cs_client     = @@character_set_client */
-- name: dump_cs_set
/*!40101 SET character_set_client = utf8mb4 */
-- name: dump_create
CREATE TABLE `customer` (`customer_id` bigint(20) NOT NULL AUTO_INCREMENT, `email` varbinary(128) DEFAULT NULL, PRIMARY KEY (`customer_id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci
-- name: dump_cs_restore
/*!40101 SET character_set_client = @saved_cs_client */
-- name: dump_lock
LOCK TABLES `customer` WRITE
-- name: dump_disable_keys
/*!40000 ALTER TABLE `customer` DISABLE KEYS */
-- name: dump_insert
INSERT INTO `customer` VALUES (1,'alice@domain.com'),(2,'bob@domain.com'),(0,'zero@domain.com')
-- name: dump_enable_keys
/*!40000 ALTER TABLE `customer` ENABLE KEYS */
-- name: dump_unlock
UNLOCK TABLES
-- name: dump_r1
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */
-- name: dump_r2
/*!40101 SET SQL_MODE=@OLD_SQL_MODE */
-- name: dump_r3
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */
-- name: dump_r4
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */
-- name: dump_r5
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */
-- name: dump_r6
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */
-- name: dump_r7
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */
-- name: dump_r8
/*M!100616 SET NOTE_VERBOSITY=@OLD_NOTE_VERBOSITY */
-- name: dump_r9
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */
-- name: dump_check
SELECT customer_id, email FROM customer ORDER BY customer_id
-- name: dump_vars
SELECT @@time_zone, @@sql_mode, @@character_set_client, @@foreign_key_checks, @@unique_checks, @@sql_notes
-- name: set_names
SET NAMES latin1
-- name: names_vars
SELECT @@character_set_client, @@character_set_connection, @@character_set_results, @@collation_connection
-- name: names_string
SELECT 'é', CHARSET('é'), LENGTH('é')
-- name: set_names_collate
SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci
-- name: names_collate_vars
SELECT @@collation_connection, COLLATION('x')
-- name: character_set
SET CHARACTER SET utf8mb4
-- name: set_charset_vars
SELECT @@character_set_client, @@character_set_results, @@collation_connection
-- name: set_timestamp
SET timestamp = 1700000000
-- name: read_timestamp
SELECT NOW(), UNIX_TIMESTAMP(), CURRENT_DATE
-- name: reset_timestamp
SET timestamp = DEFAULT
-- name: set_statement_for
SET STATEMENT max_statement_time = 100 FOR SELECT @@max_statement_time
-- name: after_statement_for
SELECT @@max_statement_time
-- name: set_statement_tz
SET STATEMENT time_zone = '+01:00' FOR SELECT @@time_zone, CONVERT_TZ('2024-01-01 00:00:00', '+00:00', @@time_zone)
-- name: user_vars
SET @a = 1, @b := 'two', @c = NULL
-- name: read_user_vars
SELECT @a, @b, @c, @undefined
-- name: assign_in_select
SELECT @n := 10, @n + 1
-- name: var_types
SELECT @a + 0.5, CONCAT(@b, '!'), @c IS NULL
-- name: set_session_var
SET SESSION group_concat_max_len = 10
-- name: use_session_var
SELECT GROUP_CONCAT(REPEAT('x', 5)) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) t
-- name: set_local_var
SET LOCAL sort_buffer_size = 1048576, @@session.div_precision_increment = 8
-- name: read_local
SELECT @@sort_buffer_size, 1/3
-- name: set_from_expr
SET max_heap_table_size = 16 * 1024 * 1024
-- name: read_expr
SELECT @@max_heap_table_size
-- name: set_from_sysvar
SET tmp_table_size = @@max_heap_table_size
-- name: read_sysvar
SELECT @@tmp_table_size
-- name: set_default_var
SET SESSION tmp_table_size = DEFAULT
-- name: set_bad_value
SET character_set_client = 'nope'
-- name: set_null_invalid
SET character_set_client = NULL
-- name: set_unknown_var
SET no_such_variable = 1
-- name: set_global_denied
SET @@global.no_such_variable = 1
-- name: set_wrong_type
SET autocommit = 'maybe'
-- name: sql_select_limit
SET sql_select_limit = 2
-- name: limited_select
SELECT seq FROM seq_1_to_5
-- name: reset_limit
SET sql_select_limit = DEFAULT
-- name: sequence_engine
SELECT seq FROM seq_1_to_10_step_3
-- name: show_variables
SHOW SESSION VARIABLES LIKE 'time_zone'
-- name: show_variables_where
SHOW VARIABLES WHERE Variable_name IN ('sql_notes', 'unique_checks')
-- name: session_vars_schema
SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME IN ('TIME_ZONE', 'SQL_MODE') ORDER BY 1
-- name: use_db
USE compat
-- name: db_after_use
SELECT DATABASE()
