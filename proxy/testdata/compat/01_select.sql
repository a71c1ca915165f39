-- Source: statements modeled on MariaDB's documentation examples for SELECT, JOIN, UNION,
-- GROUP BY WITH ROLLUP, subqueries, LIMIT/OFFSET, INTERSECT/EXCEPT, VALUES:
-- https://mariadb.com/kb/en/select/ https://mariadb.com/kb/en/select-with-rollup/
-- https://mariadb.com/kb/en/union/ https://mariadb.com/kb/en/intersect/ https://mariadb.com/kb/en/except/
-- https://mariadb.com/kb/en/joining-tables-with-join-clauses/ https://mariadb.com/kb/en/subqueries/
-- name: create_seqs
CREATE TABLE seqs (i INT)
-- name: create_booksales
CREATE TABLE booksales (country VARCHAR(35), genre ENUM('fiction','non-fiction'), year YEAR, sales INT)
-- name: insert_booksales
INSERT INTO booksales VALUES ('Senegal','fiction',2014,12234), ('Senegal','fiction',2015,15647), ('Senegal','non-fiction',2014,64980), ('Senegal','non-fiction',2015,78901), ('Paraguay','fiction',2014,87970), ('Paraguay','fiction',2015,76940), ('Paraguay','non-fiction',2014,8760), ('Paraguay','non-fiction',2015,9030)
-- name: select_all
SELECT * FROM booksales ORDER BY country, genre, year
-- name: sum_group
SELECT year, SUM(sales) FROM booksales GROUP BY year ORDER BY year
-- name: rollup
SELECT year, SUM(sales) FROM booksales GROUP BY year WITH ROLLUP
-- name: rollup_two
SELECT country, genre, SUM(sales) FROM booksales GROUP BY country, genre WITH ROLLUP
-- name: rollup_function
SELECT UPPER(country) AS c, SUM(sales) FROM booksales GROUP BY UPPER(country) WITH ROLLUP
-- name: having
SELECT country, SUM(sales) AS s FROM booksales GROUP BY country HAVING s > 100000 ORDER BY s
-- name: distinct
SELECT DISTINCT country FROM booksales ORDER BY 1
-- name: limit_offset
SELECT sales FROM booksales ORDER BY sales LIMIT 2 OFFSET 3
-- name: limit_comma
SELECT sales FROM booksales ORDER BY sales LIMIT 1, 2
-- name: insert_seqs
INSERT INTO seqs VALUES (1),(2),(3),(4),(5),(6)
-- name: union
SELECT i FROM seqs WHERE i <= 3 UNION SELECT i FROM seqs WHERE i >= 3 ORDER BY i
-- name: union_all
SELECT i FROM seqs WHERE i <= 3 UNION ALL SELECT i FROM seqs WHERE i >= 3 ORDER BY i
-- name: intersect
SELECT i FROM seqs WHERE i <= 4 INTERSECT SELECT i FROM seqs WHERE i >= 3
-- name: except
SELECT i FROM seqs EXCEPT SELECT i FROM seqs WHERE i > 2 ORDER BY i
-- name: join_inner
SELECT a.i, b.i FROM seqs a JOIN seqs b ON b.i = a.i + 1 ORDER BY a.i
-- name: join_left
SELECT a.i, b.i FROM seqs a LEFT JOIN seqs b ON b.i = a.i + 5 ORDER BY a.i
-- name: join_using
SELECT * FROM seqs a JOIN seqs b USING (i) ORDER BY i
-- name: straight_join
SELECT STRAIGHT_JOIN a.i FROM seqs a, seqs b WHERE a.i = b.i ORDER BY 1
-- name: subquery_in
SELECT i FROM seqs WHERE i IN (SELECT i * 2 FROM seqs) ORDER BY i
-- name: subquery_exists
SELECT COUNT(*) FROM seqs a WHERE EXISTS (SELECT 1 FROM seqs b WHERE b.i = a.i * 3)
-- name: subquery_scalar
SELECT (SELECT MAX(i) FROM seqs) AS m, (SELECT MIN(sales) FROM booksales) AS n
-- name: derived
SELECT t.c, t.n FROM (SELECT country AS c, COUNT(*) AS n FROM booksales GROUP BY country) AS t ORDER BY t.c
-- name: values
VALUES (1, 'a'), (2, 'b')
-- name: select_no_from
SELECT 1 + 1, 'x', NULL, 2.50, -7
-- name: select_dual
SELECT 'a' FROM DUAL
-- name: calc_found_rows
SELECT SQL_CALC_FOUND_ROWS i FROM seqs ORDER BY i LIMIT 2
-- name: found_rows
SELECT FOUND_ROWS()
-- name: case_when
SELECT i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END AS p FROM seqs ORDER BY i
-- name: group_concat
SELECT GROUP_CONCAT(i ORDER BY i DESC SEPARATOR '-') FROM seqs
-- name: group_concat_limit
SELECT GROUP_CONCAT(DISTINCT country ORDER BY country LIMIT 1) FROM booksales
-- name: for_update
SELECT i FROM seqs WHERE i = 1 FOR UPDATE
-- name: lock_in_share
SELECT i FROM seqs WHERE i = 2 LOCK IN SHARE MODE
-- name: skip_locked
SELECT i FROM seqs WHERE i = 3 FOR UPDATE SKIP LOCKED
-- name: high_priority
SELECT HIGH_PRIORITY SQL_NO_CACHE i FROM seqs WHERE i = 4
-- name: into_var
SELECT MAX(i) INTO @m FROM seqs
-- name: read_var
SELECT @m, @m + 1
-- name: aliases_quoted
SELECT i AS `the i`, i AS 'alias string' FROM seqs WHERE i = 1
-- name: order_by_field
SELECT i FROM seqs ORDER BY FIELD(i, 3, 1, 2) DESC, i
-- name: enum_order
SELECT genre, COUNT(*) FROM booksales GROUP BY genre ORDER BY genre
