-- Runs once, when the replica's datadir is first initialized (docker-entrypoint-initdb.d).
-- Forget any local GTIDs, so the replica fetches the primary's whole history by GTID
-- (auto-position), including database commerce and its tables; then start replicating.
-- Replication starts again by itself on every later restart.
RESET BINARY LOGS AND GTIDS;
CHANGE REPLICATION SOURCE TO
  SOURCE_HOST = 'mysql-primary',
  SOURCE_PORT = 3306,
  SOURCE_USER = 'repl',
  SOURCE_PASSWORD = 'replpw',
  SOURCE_AUTO_POSITION = 1,
  GET_SOURCE_PUBLIC_KEY = 1,
  SOURCE_CONNECT_RETRY = 1,
  SOURCE_RETRY_COUNT = 86400;
START REPLICA;
