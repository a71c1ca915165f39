-- Runs once, when the primary's datadir is first initialized (docker-entrypoint-initdb.d).
-- The user replicas connect as; kept out of the binlog, like every per-server user.
SET SESSION sql_log_bin = 0;
CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'replpw';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
SET SESSION sql_log_bin = 1;
