-- Source: MariaDB's JSON function documentation examples (JSON_EXTRACT, JSON_VALUE, JSON_QUERY,
-- JSON_TABLE, JSON_SET/INSERT/REPLACE/REMOVE, JSON_ARRAYAGG, JSON_OBJECTAGG, JSON_CONTAINS, ->, ->>),
-- https://mariadb.com/kb/en/json-functions/ https://mariadb.com/kb/en/json_table/ https://mariadb.com/kb/en/json_extract/
-- with own tables; a JSON column is the case of issue #13's mysql2 report (extended metadata).
-- name: create
CREATE TABLE jt (id INT PRIMARY KEY, j JSON, CHECK (JSON_VALID(j)))
-- name: insert
INSERT INTO jt VALUES (1, '{"id": 1, "name": "John", "tags": ["a", "b"]}'), (2, '{"id": 2, "name": "Jon", "n": {"x": 5}}')
-- name: select_col
SELECT id, j FROM jt ORDER BY id
-- name: extract
SELECT JSON_EXTRACT('[1, 2, [3, 4]]', '$[2]'), JSON_EXTRACT('[1, 2, [3, 4]]', '$[2][1]')
-- name: extract_col
SELECT j, JSON_EXTRACT(j, '$.id'), JSON_EXTRACT(j, '$.name') FROM jt ORDER BY id
-- name: arrow
SELECT j->'$.name', j->>'$.name' FROM jt ORDER BY id
-- name: value_query
SELECT JSON_VALUE('{"key1":123}', '$.key1'), JSON_QUERY('{"key1":{"a":1, "b":[1,2]}}', '$.key1')
-- name: set_insert
SELECT JSON_SET('{"A": 1}', '$.B', 2), JSON_INSERT('{"A": 1}', '$.A', 5, '$.C', 3), JSON_REPLACE('{"A": 1}', '$.A', 9)
-- name: remove
SELECT JSON_REMOVE('{"A": 1, "B": 2, "C": {"D": 3}}', '$.C'), JSON_REMOVE('["A", "B", ["C", "D"], "E"]', '$[1]')
-- name: array_object
SELECT JSON_ARRAY(1, 'a', NULL, TRUE), JSON_OBJECT('a', 1, 'b', JSON_ARRAY(1, 2))
-- name: array_append
SELECT JSON_ARRAY_APPEND('[1, 2, [3, 4]]', '$[0]', 5), JSON_ARRAY_INSERT('[1, 2]', '$[1]', 'x')
-- name: merge
SELECT JSON_MERGE_PATCH('{"a":1}', '{"b":2}', '{"a":null}'), JSON_MERGE_PRESERVE('[1, 2]', '[3, 4]')
-- name: contains
SELECT JSON_CONTAINS('{"A": 0, "B": {"C": 1}, "D": 2}', '2', '$.D'), JSON_CONTAINS_PATH('{"A": 1}', 'one', '$.A', '$.Z')
-- name: keys_length
SELECT JSON_KEYS('{"A": 1, "B": {"C": 2}}'), JSON_LENGTH('[1, 2, {"a": 3}]'), JSON_DEPTH('[10, {"a": 20}]')
-- name: type_valid
SELECT JSON_TYPE('{"A": 1}'), JSON_TYPE('[1]'), JSON_TYPE('1.5'), JSON_VALID('{"a":1}'), JSON_VALID('{a:1}')
-- name: quote
SELECT JSON_QUOTE('A'), JSON_QUOTE('"'), JSON_UNQUOTE('"abc"'), JSON_UNQUOTE('"\\t"')
-- name: search
SELECT JSON_SEARCH('["A", [{"B": "1"}], {"C":"AB"}, {"D":"BC"}]', 'one', 'AB'), JSON_SEARCH('["A", "A"]', 'all', 'A')
-- name: compact
SELECT JSON_COMPACT('{"A": 1,  "B": [1,   2]}'), JSON_LOOSE('{"A":1,"B":[1,2]}'), JSON_DETAILED('{"A":1}')
-- name: arrayagg
SELECT JSON_ARRAYAGG(id ORDER BY id), JSON_OBJECTAGG(id, j->>'$.name') FROM jt
-- name: json_table
SELECT * FROM JSON_TABLE('[{"a":1,"b":[11,111]},{"a":2,"b":[22,222]}]', '$[*]' COLUMNS(a INT PATH '$.a', NESTED PATH '$.b[*]' COLUMNS (b INT PATH '$'))) AS jt2
-- name: json_table_ord
SELECT * FROM JSON_TABLE('[{"x":"a"},{"x":"b"},{}]', '$[*]' COLUMNS (n FOR ORDINALITY, x VARCHAR(10) PATH '$.x' DEFAULT 'none' ON EMPTY, e INT EXISTS PATH '$.x')) AS t
-- name: json_table_join
SELECT jt.id, t.tag FROM jt, JSON_TABLE(jt.j, '$.tags[*]' COLUMNS (tag VARCHAR(10) PATH '$')) AS t ORDER BY jt.id, t.tag
-- name: update_json
UPDATE jt SET j = JSON_SET(j, '$.name', 'Johnny') WHERE id = 1
-- name: select_after
SELECT JSON_EXTRACT(j, '$.name') FROM jt WHERE id = 1
-- name: invalid_insert
INSERT INTO jt VALUES (3, '{not json')
-- name: invalid_path
SELECT JSON_EXTRACT('{"a":1}', 'bad path')
-- name: equals
SELECT JSON_EQUALS('{"a":[1,2]}', '{ "a" : [1, 2] }'), JSON_NORMALIZE('{"b":1,"a":2}')
-- name: exists
SELECT JSON_EXISTS('{"key1":"xxxx", "key2":[1, 2, 3]}', '$.key2[1]'), JSON_OVERLAPS('[1,2]', '[2,3]')
-- name: generated
ALTER TABLE jt ADD COLUMN name VARCHAR(20) AS (JSON_VALUE(j, '$.name')) VIRTUAL
-- name: generated_read
SELECT id, name FROM jt ORDER BY id
