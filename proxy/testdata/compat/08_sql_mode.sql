-- Source: own cases for every sql_mode point of issue #13 (NO_BACKSLASH_ESCAPES, ANSI_QUOTES, ANSI,
-- PIPES_AS_CONCAT, ORACLE), following https://mariadb.com/kb/en/sql-mode/ and the escaping that
-- drivers do in NO_BACKSLASH_ESCAPES (quotes doubled, backslashes literal).
-- name: create
CREATE TABLE m (id INT PRIMARY KEY, s VARCHAR(50))
-- name: default_backslash
SELECT 'a\'b', 'c\\d', 'e\nf', 'tab\there'
-- name: set_nbe
SET sql_mode = 'NO_BACKSLASH_ESCAPES'
-- name: read_mode
SELECT @@sql_mode
-- name: nbe_literal
SELECT 'a\b', 'c\', 'it''s'
-- name: nbe_insert
INSERT INTO m VALUES (1, 'C:\temp\new'), (2, 'O''Brien\')
-- name: nbe_select
SELECT id, s, LENGTH(s) FROM m ORDER BY id
-- name: nbe_where
SELECT id FROM m WHERE s = 'C:\temp\new'
-- name: nbe_like
SELECT id FROM m WHERE s LIKE 'C:\\%' ESCAPE '|'
-- name: nbe_quote_fn
SELECT QUOTE('a\b')
-- name: nbe_double_quoted
SELECT "double \ quoted", "say ""hi"""
-- name: set_ansi_quotes
SET sql_mode = 'ANSI_QUOTES'
-- name: aq_identifier
SELECT "id", "s" FROM "m" WHERE "id" = 1
-- name: aq_string
SELECT 'single' AS "alias with space"
-- name: aq_unknown_col
SELECT "nope" FROM m
-- name: aq_create
CREATE TABLE "quoted table" ("the col" INT)
-- name: aq_insert
INSERT INTO "quoted table" ("the col") VALUES (5)
-- name: aq_select
SELECT "the col" FROM "quoted table"
-- name: aq_backtick
SELECT `the col` FROM `quoted table`
-- name: set_ansi
SET sql_mode = 'ANSI'
-- name: ansi_mode
SELECT @@sql_mode
-- name: ansi_pipes
SELECT 'a' || 'b' || 'c', "id" || '-' FROM m WHERE "id" = 2
-- name: ansi_group
SELECT "id", COUNT(*) FROM m GROUP BY "id" ORDER BY "id"
-- name: set_pipes
SET sql_mode = 'PIPES_AS_CONCAT'
-- name: pipes_concat
SELECT 1 || 2, 'x' || 'y'
-- name: set_default
SET sql_mode = DEFAULT
-- name: default_mode
SELECT @@sql_mode
-- name: or_pipes
SELECT 1 || 0, 0 || 0
-- name: set_concat
SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')
-- name: concat_mode
SELECT @@sql_mode, 'x\y'
-- name: set_session_mode
SET SESSION sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'
-- name: both_modes
SELECT "id", 'a\' FROM "m" WHERE "s" = 'O''Brien\'
-- name: multi_set_mode
SET @x = 1, sql_mode = 'ANSI_QUOTES'
-- name: multi_read
SELECT "id" FROM m WHERE id = 1
-- name: set_oracle
SET sql_mode = 'ORACLE'
-- name: oracle_mode
SELECT @@sql_mode
-- name: oracle_concat
SELECT 'a' || NULL || 'b' FROM DUAL
-- name: oracle_block
BEGIN NOT ATOMIC SELECT 1; END
-- name: set_traditional
SET sql_mode = 'TRADITIONAL'
-- name: traditional_div
INSERT INTO m VALUES (3, 1/0)
-- name: traditional_trunc
INSERT INTO m VALUES (4, REPEAT('x', 60))
-- name: set_empty
SET sql_mode = ''
-- name: empty_trunc
INSERT INTO m VALUES (5, REPEAT('x', 60))
-- name: empty_warnings
SELECT id, LENGTH(s) FROM m ORDER BY id
-- name: set_statement
SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 'p\q'
-- name: after_set_statement
SELECT 'p\q', @@sql_mode
-- name: set_statement_ansi
SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR SELECT "id" FROM m WHERE id = 1
-- name: high_not_precedence
SET sql_mode = 'HIGH_NOT_PRECEDENCE'
-- name: high_not
SELECT NOT 1 BETWEEN -5 AND 5
-- name: ignore_space
SET sql_mode = 'IGNORE_SPACE'
-- name: ignore_space_fn
SELECT COUNT (*) FROM m
