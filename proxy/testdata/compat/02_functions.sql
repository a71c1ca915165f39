-- Source: built-in functions as in MariaDB's documentation examples (string, numeric, date and
-- time with fixed arguments, control flow, casts, bit functions):
-- https://mariadb.com/kb/en/string-functions/ https://mariadb.com/kb/en/numeric-functions/
-- https://mariadb.com/kb/en/date-time-functions/ https://mariadb.com/kb/en/control-flow-functions/
-- Values that change between runs (NOW(), RAND() without seed, UUID()) are marked nondeterministic.
-- name: concat
SELECT CONCAT('Ma', 'ria', 'DB'), CONCAT_WS(',', 'a', NULL, 'b')
-- name: substring
SELECT SUBSTRING('Knowledgebase', 5), SUBSTRING('MariaDB' FROM 6), SUBSTR('Knowledgebase', -4, 2)
-- name: locate
SELECT LOCATE('bar', 'foobarbar'), INSTR('foobarbar', 'bar'), POSITION('bar' IN 'foobar')
-- name: replace
SELECT REPLACE('www.mariadb.org', 'w', 'Ww'), REVERSE('abc'), REPEAT('ab', 3)
-- name: pad
SELECT LPAD('hello', 10, '.'), RPAD('hello', 8, 'x'), TRIM(BOTH 'x' FROM 'xxhixx')
-- name: case
SELECT UPPER('abc'), LOWER('ABC'), UCASE('x'), LCASE('Y')
-- name: length
SELECT LENGTH('€'), CHAR_LENGTH('€'), OCTET_LENGTH('ab'), BIT_LENGTH('a')
-- name: format
SELECT FORMAT(1234567.891, 2), FORMAT(1234567.891, 2, 'de_DE')
-- name: hex
SELECT HEX('MariaDB'), UNHEX('4D61726961'), HEX(255), CONV('ff', 16, 10)
-- name: ascii
SELECT ASCII('A'), CHAR(77, 97, 114, 105, 97), ORD('2')
-- name: elt_field
SELECT ELT(2, 'a', 'b', 'c'), FIELD('b', 'a', 'b'), FIND_IN_SET('b', 'a,b,c'), MAKE_SET(5, 'a', 'b', 'c')
-- name: soundex
SELECT SOUNDEX('Hello'), 'Hello' SOUNDS LIKE 'Hallo'
-- name: regexp
SELECT 'MariaDB' REGEXP '^Ma', REGEXP_REPLACE('ab12cd', '[0-9]+', '#'), REGEXP_SUBSTR('ab12cd', '[0-9]+'), REGEXP_INSTR('ab12', '[0-9]')
-- name: like_escape
SELECT 'a_b' LIKE 'a|_b' ESCAPE '|', 'abc' LIKE 'a%', 'abc' NOT LIKE '_b_'
-- name: strcmp
SELECT STRCMP('a', 'b'), STRCMP('b', 'a'), STRCMP('a', 'a')
-- name: insert_fn
SELECT INSERT('Quadratic', 3, 4, 'What'), LEFT('foobarbar', 5), RIGHT('foobarbar', 4), MID('abcdef', 2, 3)
-- name: quote
SELECT QUOTE('Don''t!'), QUOTE(NULL)
-- name: space
SELECT CONCAT('[', SPACE(3), ']'), SUBSTRING_INDEX('www.mariadb.org', '.', 2), SUBSTRING_INDEX('www.mariadb.org', '.', -1)
-- name: to_base64
SELECT TO_BASE64('abc'), FROM_BASE64('YWJj'), MD5('a'), SHA1('a'), SHA2('a', 256), CRC32('MariaDB')
-- name: numeric
SELECT ABS(-3), CEIL(1.2), FLOOR(-1.2), ROUND(2.567, 2), TRUNCATE(2.567, 1), MOD(10, 3), 10 DIV 3
-- name: numeric2
SELECT POW(2, 10), SQRT(16), EXP(0), LN(1), LOG(2, 8), LOG10(100), PI()
-- name: numeric3
SELECT SIGN(-5), GREATEST(1, 5, 3), LEAST('b', 'a'), CONV(10, 10, 2), BIN(5), OCT(8)
-- name: trig
SELECT ROUND(SIN(PI()/2), 4), ROUND(COS(0), 4), ROUND(ATAN2(1, 1), 6), DEGREES(PI()), RADIANS(180)
-- name: decimal_math
SELECT 0.1 + 0.2, 1/3, 1.0/3, 10/4, CAST(1/3 AS DECIMAL(10,5))
-- name: rand_seed
SELECT ROUND(RAND(3), 6)
-- name: rand
-- nondeterministic
SELECT RAND()
-- name: bits
SELECT 5 & 3, 5 | 3, 5 ^ 3, ~0, 1 << 4, 256 >> 2, BIT_COUNT(255)
-- name: date_fixed
SELECT DATE('2024-02-29 13:45:01'), TIME('2024-02-29 13:45:01'), YEAR('2024-02-29'), MONTH('2024-02-29'), DAY('2024-02-29')
-- name: date_add
SELECT DATE_ADD('2024-01-31', INTERVAL 1 MONTH), DATE_SUB('2024-03-01', INTERVAL 1 DAY), '2024-01-01' + INTERVAL 10 DAY
-- name: datediff
SELECT DATEDIFF('2024-03-01', '2024-02-01'), TIMEDIFF('12:00:00', '10:30:15'), TIMESTAMPDIFF(MINUTE, '2024-01-01 00:00', '2024-01-01 02:30')
-- name: date_format
SELECT DATE_FORMAT('2024-02-29 13:45:01', '%W %M %Y %H:%i:%s'), STR_TO_DATE('29,02,2024', '%d,%m,%Y')
-- name: dayname
SELECT DAYNAME('2024-02-29'), MONTHNAME('2024-02-29'), DAYOFWEEK('2024-02-29'), DAYOFYEAR('2024-02-29'), WEEK('2024-02-29'), QUARTER('2024-02-29')
-- name: last_day
SELECT LAST_DAY('2024-02-10'), MAKEDATE(2024, 60), MAKETIME(12, 15, 30), SEC_TO_TIME(3661), TIME_TO_SEC('01:01:01')
-- name: extract
SELECT EXTRACT(YEAR_MONTH FROM '2024-02-29'), EXTRACT(HOUR FROM '10:20:30'), EXTRACT(MICROSECOND FROM '10:20:30.000123')
-- name: unix_fixed
SELECT FROM_UNIXTIME(0, '%Y'), UNIX_TIMESTAMP('1970-01-02 00:00:00') > 0
-- name: convert_tz
SELECT CONVERT_TZ('2024-01-01 12:00:00', '+00:00', '+05:30')
-- name: now
-- nondeterministic
SELECT NOW(), CURDATE(), CURTIME(), SYSDATE(), UTC_TIMESTAMP(), NOW(6)
-- name: uuid
-- nondeterministic
SELECT UUID(), UUID_SHORT()
-- name: if_null
SELECT IF(1 > 2, 'y', 'n'), IFNULL(NULL, 'x'), NULLIF(1, 1), COALESCE(NULL, NULL, 3), ISNULL(NULL)
-- name: cast
SELECT CAST('12' AS INT), CAST(-1 AS UNSIGNED), CAST('2024-01-01' AS DATE), CAST(1.5 AS CHAR), CAST('1.239' AS DECIMAL(5,2))
-- name: cast_warn
SELECT CAST('abc' AS INT), CAST('12abc' AS SIGNED)
-- name: convert
SELECT CONVERT('abc', BINARY), CONVERT('abc' USING latin1), CHARSET(CONVERT('abc' USING latin1)), COLLATION('a')
-- name: binary_cmp
SELECT 'a' = 'A', BINARY 'a' = 'A', 'a' = 'A' COLLATE utf8mb4_bin
-- name: div_zero
SELECT 1/0, 1 DIV 0, MOD(1, 0)
-- name: inet
SELECT INET_ATON('10.0.5.9'), INET_NTOA(167773449), INET6_NTOA(INET6_ATON('::1')), IS_IPV4('10.0.0.1')
-- name: natural_sort
SELECT NATURAL_SORT_KEY('a10') > NATURAL_SORT_KEY('a9')
-- name: weight
SELECT HEX(WEIGHT_STRING('ab')), LENGTH(COMPRESS('aaaaaaaaaa')) > 0, UNCOMPRESS(COMPRESS('abc'))
-- name: benchmark
SELECT BENCHMARK(10, 1 + 1)
-- name: version
SELECT VERSION() LIKE '10.11%'
-- name: database
SELECT DATABASE(), SCHEMA()
-- name: sys_vars
SELECT @@autocommit, @@sql_mode, @@character_set_client, @@collation_connection, @@max_allowed_packet > 0
-- name: last_insert
SELECT LAST_INSERT_ID(), ROW_COUNT()
-- name: crc_json
SELECT CRC32C('MariaDB')
-- name: interval
SELECT INTERVAL(23, 1, 15, 17, 30, 44, 200), 3 BETWEEN 1 AND 5, 'b' IN ('a', 'b')
