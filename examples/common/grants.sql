-- The backend accounts of vtgate-lite with their minimum grants (MariaDB 10.6+), for one
-- keyspace's database {{database}}. Run it as root on every server of the keyspace, primary and
-- replicas. The placeholders in double braces are replaced by the caller: examples/local/env.sh
-- (apply_grants) and the test that proves these grants sufficient
-- (cmd/vtgate-lite/leastpriv_test.go). docs/security.md explains each grant.
--
-- {{app_user}}: the keyspace's user/password, the account of the application's statements.
-- {{engine_user}}: the keyspace's admin_user/admin_password, the account of the migration
-- engine and of the replica health checks.
CREATE USER IF NOT EXISTS '{{app_user}}'@'%' IDENTIFIED BY '{{app_password}}';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, SHOW VIEW
  ON `{{database}}`.* TO '{{app_user}}'@'%';

CREATE USER IF NOT EXISTS '{{engine_user}}'@'%' IDENTIFIED BY '{{engine_password}}';
GRANT REPLICATION SLAVE, SLAVE MONITOR, BINLOG ADMIN, RELOAD
  ON *.* TO '{{engine_user}}'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, TRIGGER, LOCK TABLES
  ON `{{database}}`.* TO '{{engine_user}}'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE
  ON `_vt_lite`.* TO '{{engine_user}}'@'%';

-- The engine creates the deny triggers (the write fence of MIGRATE WRITES) with
-- sql_log_bin=0. With the binlog on, MariaDB and MySQL let only SUPER create a trigger unless
-- log_bin_trust_function_creators is ON: set it here and in the server's configuration
-- (--log-bin-trust-function-creators=ON), rather than give the engine SUPER.
SET GLOBAL log_bin_trust_function_creators = ON;
