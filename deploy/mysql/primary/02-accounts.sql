-- Runs once, when the primary's datadir is first initialized (docker-entrypoint-initdb.d).
-- vtgate-lite's backend accounts for keyspace commerce on MySQL 8.4: the MySQL names of the
-- grants in examples/common/grants.sql (MariaDB; docs/security.md explains each). Written to
-- the binlog, so the replica, which fetches the primary's whole history, gets them too.
-- Not exercised by a test here (no MySQL server in the test environment).
--
-- vtgate_app: the keyspace's user/password, the application's statements.
CREATE USER IF NOT EXISTS 'vtgate_app'@'%' IDENTIFIED BY 'apppw';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, SHOW VIEW
  ON `commerce`.* TO 'vtgate_app'@'%';

-- vtgate_engine: the keyspace's admin_user/admin_password, the migration engine and the replica
-- health checks. REPLICATION CLIENT: SHOW REPLICA STATUS; RELOAD: the brief FLUSH TABLES WITH
-- READ LOCK that opens a consistent snapshot on MySQL; SESSION_VARIABLES_ADMIN: SET sql_log_bin=0
-- for the deny triggers (log_bin_trust_function_creators=ON, in docker-compose.yml, lets TRIGGER
-- create them without SUPER).
CREATE USER IF NOT EXISTS 'vtgate_engine'@'%' IDENTIFIED BY 'enginepw';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, RELOAD, SESSION_VARIABLES_ADMIN ON *.* TO 'vtgate_engine'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, TRIGGER, LOCK TABLES
  ON `commerce`.* TO 'vtgate_engine'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE
  ON `_vt_lite`.* TO 'vtgate_engine'@'%';
