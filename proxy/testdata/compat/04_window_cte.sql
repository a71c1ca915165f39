-- Source: MariaDB's documentation examples for window functions and common table expressions
-- (ROW_NUMBER, RANK, DENSE_RANK, NTILE, LAG/LEAD, frames, recursive CTEs):
-- https://mariadb.com/kb/en/window-functions-overview/ https://mariadb.com/kb/en/row_number/
-- https://mariadb.com/kb/en/with/ https://mariadb.com/kb/en/recursive-common-table-expressions-overview/
-- name: create
CREATE TABLE student (name CHAR(10), test CHAR(10), score TINYINT)
-- name: insert
INSERT INTO student VALUES ('Chun', 'SQL', 75), ('Chun', 'Tuning', 73), ('Esben', 'SQL', 43), ('Esben', 'Tuning', 31), ('Kaolin', 'SQL', 56), ('Kaolin', 'Tuning', 88), ('Tatiana', 'SQL', 87), ('Tatiana', 'Tuning', 83)
-- name: row_number
SELECT name, test, score, ROW_NUMBER() OVER (PARTITION BY test ORDER BY score DESC) AS rn FROM student ORDER BY test, rn
-- name: rank
SELECT name, score, RANK() OVER (ORDER BY score DESC) r, DENSE_RANK() OVER (ORDER BY score DESC) d FROM student WHERE test = 'SQL' ORDER BY r
-- name: ntile
SELECT name, test, NTILE(3) OVER (ORDER BY score) AS n FROM student ORDER BY score
-- name: lag_lead
SELECT name, score, LAG(score) OVER (ORDER BY score) AS prev, LEAD(score, 2, -1) OVER (ORDER BY score) AS next2 FROM student ORDER BY score
-- name: avg_partition
SELECT name, test, score, AVG(score) OVER (PARTITION BY test) AS avg_by_test FROM student ORDER BY test, name
-- name: frame_rows
SELECT name, score, SUM(score) OVER (ORDER BY score ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS s FROM student ORDER BY score
-- name: frame_range
SELECT score, COUNT(*) OVER (ORDER BY score RANGE BETWEEN 10 PRECEDING AND CURRENT ROW) AS c FROM student ORDER BY score
-- name: first_last
SELECT name, FIRST_VALUE(name) OVER w AS f, LAST_VALUE(name) OVER w AS l, NTH_VALUE(name, 2) OVER w AS n2 FROM student WINDOW w AS (PARTITION BY test ORDER BY score ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) ORDER BY test, score
-- name: percent
SELECT name, score, PERCENT_RANK() OVER (ORDER BY score) pr, CUME_DIST() OVER (ORDER BY score) cd FROM student ORDER BY score
-- name: median
SELECT DISTINCT test, MEDIAN(score) OVER (PARTITION BY test) AS m FROM student ORDER BY test
-- name: percentile
SELECT DISTINCT test, PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY score) OVER (PARTITION BY test) AS p, PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY score) OVER (PARTITION BY test) AS q FROM student ORDER BY test
-- name: cte_simple
WITH t AS (SELECT name, score FROM student WHERE score > 80) SELECT * FROM t ORDER BY score
-- name: cte_two
WITH a AS (SELECT test, MAX(score) m FROM student GROUP BY test), b AS (SELECT * FROM a WHERE m > 85) SELECT * FROM b ORDER BY test
-- name: cte_recursive
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 10) SELECT SUM(n), COUNT(*) FROM seq
-- name: create_tree
CREATE TABLE folks (id INT PRIMARY KEY, name VARCHAR(20), father INT, mother INT)
-- name: insert_tree
INSERT INTO folks VALUES (100, 'Alex', 20, 30), (20, 'Dad', 10, NULL), (30, 'Mom', NULL, NULL), (10, 'Grandpa Bill', NULL, NULL), (98, 'Sister Amy', 20, 30)
-- name: cte_ancestors
WITH RECURSIVE ancestors AS (SELECT * FROM folks WHERE name = 'Alex' UNION SELECT f.* FROM folks AS f, ancestors AS a WHERE f.id = a.father OR f.id = a.mother) SELECT * FROM ancestors ORDER BY id
-- name: cte_cycle
WITH RECURSIVE c (n) AS (SELECT 1 UNION SELECT n % 3 + 1 FROM c) CYCLE n RESTRICT SELECT * FROM c ORDER BY n
-- name: cte_insert
INSERT INTO student WITH x AS (SELECT 'Zed' AS n) SELECT n, 'SQL', 10 FROM x
-- name: cte_update
UPDATE student SET score = score + 1 WHERE name IN (WITH x AS (SELECT 'Zed' AS n) SELECT n FROM x)
-- name: cte_depth
SET max_recursive_iterations = 5
-- name: cte_limited
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 100) SELECT COUNT(*) FROM seq
