-- Source: go-sql-driver/mysql v1.10.1 driver_test.go (test_signal: SIGNAL with MESSAGE_TEXT/MYSQL_ERRNO,
-- test_mrss: CALL with several result sets), issue #13's SIGNAL case, and MariaDB's documentation for
-- CREATE PROCEDURE / FUNCTION / TRIGGER / EVENT, compound statements and FOR loops:
-- https://mariadb.com/kb/en/create-procedure/ https://mariadb.com/kb/en/create-function/
-- https://mariadb.com/kb/en/create-trigger/ https://mariadb.com/kb/en/create-event/ https://mariadb.com/kb/en/for/
-- https://mariadb.com/kb/en/signal/ https://mariadb.com/kb/en/begin-end/
-- name: create_table
CREATE TABLE sp (id INT AUTO_INCREMENT PRIMARY KEY, v INT)
-- name: create_signal
CREATE PROCEDURE test_signal(ret INT)
BEGIN
	SELECT ret;
	SIGNAL SQLSTATE
		'45001'
	SET
		MESSAGE_TEXT = "an error",
		MYSQL_ERRNO = 45001;
END
-- name: call_signal
CALL test_signal(42)
-- name: call_signal_param
-- protocol: ps
-- params: 42
CALL test_signal(?)
-- name: create_mrss
CREATE PROCEDURE test_mrss()
BEGIN
	DO 1;
	SELECT 1 AS col1, 2 AS col2 UNION SELECT 3, 4;
	DO 1;
	SELECT 0 UNION SELECT 1;
	SELECT 1 AS col1, 2 AS col2, 3 AS col3 UNION SELECT 4, 5, 6;
END
-- name: call_mrss
CALL test_mrss()
-- name: create_out
CREATE PROCEDURE p_out(IN a INT, OUT b INT, INOUT c VARCHAR(10))
BEGIN
	SET b = a * 2;
	SET c = CONCAT(c, '!');
	INSERT INTO sp (v) VALUES (a);
END
-- name: set_inout
SET @c = 'hi'
-- name: call_out
CALL p_out(21, @b, @c)
-- name: read_out
SELECT @b, @c
-- name: call_out_ps
-- protocol: ps
-- params: 5
CALL p_out(?, @b, @c)
-- name: read_out2
SELECT @b, @c, (SELECT COUNT(*) FROM sp)
-- name: create_function
CREATE FUNCTION hello (s CHAR(20)) RETURNS CHAR(50) DETERMINISTIC RETURN CONCAT('Hello, ', s, '!')
-- name: call_function
SELECT hello('world')
-- name: create_function_body
CREATE FUNCTION counter(n INT) RETURNS INT
BEGIN
	DECLARE x INT DEFAULT 0;
	WHILE x < n DO
		SET x = x + 1;
	END WHILE;
	RETURN x;
END
-- name: call_function_body
SELECT counter(7), counter(0)
-- name: create_or_replace_function
CREATE OR REPLACE FUNCTION hello (s CHAR(20)) RETURNS CHAR(50) DETERMINISTIC RETURN CONCAT('Hi, ', s)
-- name: call_replaced
SELECT hello('you')
-- name: create_trigger
CREATE TRIGGER sp_bi BEFORE INSERT ON sp FOR EACH ROW SET NEW.v = COALESCE(NEW.v, 0) + 1000
-- name: trigger_insert
INSERT INTO sp (v) VALUES (1), (NULL)
-- name: trigger_read
SELECT v FROM sp ORDER BY id
-- name: create_trigger_follows
CREATE TRIGGER sp_bi2 BEFORE INSERT ON sp FOR EACH ROW FOLLOWS sp_bi
BEGIN
	IF NEW.v > 5000 THEN
		SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'too big';
	END IF;
END
-- name: trigger_signal
INSERT INTO sp (v) VALUES (9999)
-- name: show_triggers
-- nondeterministic
SHOW TRIGGERS LIKE 'sp'
-- name: drop_trigger
DROP TRIGGER sp_bi2
-- name: create_event
CREATE EVENT ev ON SCHEDULE AT '2037-01-01 00:00:00' DISABLE DO UPDATE sp SET v = v + 1
-- name: alter_event
ALTER EVENT ev COMMENT 'never runs'
-- name: show_create_event
SHOW CREATE EVENT ev
-- name: drop_event
DROP EVENT ev
-- name: drop_event_missing
DROP EVENT IF EXISTS ev
-- name: anonymous_block
BEGIN NOT ATOMIC
	DECLARE i INT DEFAULT 0;
	FOR j IN 1..3 DO
		SET i = i + j;
	END FOR;
	SELECT i;
END
-- name: for_cursor_loop
BEGIN NOT ATOMIC
	FOR rec IN (SELECT v FROM sp ORDER BY id) DO
		SELECT rec.v;
	END FOR;
END
-- name: create_handler
CREATE PROCEDURE p_handler()
BEGIN
	DECLARE CONTINUE HANDLER FOR SQLEXCEPTION SELECT 'handled' AS h;
	SELECT * FROM no_such_table;
	SELECT 'after' AS a;
END
-- name: call_handler
CALL p_handler()
-- name: create_resignal
CREATE PROCEDURE p_resignal()
BEGIN
	DECLARE EXIT HANDLER FOR SQLEXCEPTION RESIGNAL SET MESSAGE_TEXT = 'resignaled';
	SELECT * FROM no_such_table;
END
-- name: call_resignal
CALL p_resignal()
-- name: get_diagnostics
BEGIN NOT ATOMIC
	DECLARE msg TEXT;
	DECLARE CONTINUE HANDLER FOR SQLEXCEPTION
	BEGIN
		GET DIAGNOSTICS CONDITION 1 msg = MESSAGE_TEXT;
		SELECT msg;
	END;
	SELECT 1 FROM no_such_table;
END
-- name: show_create_procedure
SHOW CREATE PROCEDURE p_out
-- name: show_procedure_status
SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'compat' ORDER BY ROUTINE_NAME
-- name: call_missing
CALL no_such_procedure()
-- name: call_wrong_args
CALL p_out(1)
-- name: alter_procedure
ALTER PROCEDURE p_out COMMENT 'changed'
-- name: drop_procedure
DROP PROCEDURE test_signal
-- name: drop_procedure_missing
DROP PROCEDURE IF EXISTS test_signal
-- name: drop_function
DROP FUNCTION counter
-- name: create_in_delimited_comment
CREATE PROCEDURE p_comment() /* a comment ; with a semicolon */ SELECT 'x;y' AS s
-- name: call_comment
CALL p_comment
