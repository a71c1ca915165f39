#!/usr/bin/env bash
# Copy benchmark for the migration engine (issue #3):
#   1. two fresh mariadbd servers (source, target), sysbench table of ROWS rows on the source;
#   2. ROUNDS alternations of: baseline mariadb-dump --single-transaction | mariadb into the
#      target, then MIGRATE TABLES through bench/copybench (engine in-process) into the same server;
#   3. stream lag (p50/p99) while sysbench oltp_write_only runs on the source for LOAD_SECONDS.
# Usage: bench/copy_bench.sh   (env: ROWS=1000000 ROUNDS=3 LOAD_SECONDS=60 THREADS=4 BATCH=10000 WRITERS=3
#        COPYBENCH_ARGS="-defer" for DEFER SECONDARY KEYS, "-cpuprofile f" for a profile)
set -euo pipefail
ROWS=${ROWS:-1000000}
LOAD_SECONDS=${LOAD_SECONDS:-60}
THREADS=${THREADS:-4}
BATCH=${BATCH:-10000}
PW=benchpw
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/vtgl-copybench-XXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start_server() { # name port server_id
  local d="$WORK/$1"
  mkdir -p "$d"
  mariadb-install-db --no-defaults --user=root --datadir="$d/data" --auth-root-authentication-method=normal --skip-test-db >/dev/null
  mariadbd --no-defaults --user=root --datadir="$d/data" --port="$2" --bind-address=127.0.0.1 --socket="$d/mdb.sock" \
    --pid-file="$d/mdb.pid" --log-error="$d/err.log" --server-id="$3" --log-bin="$d/data/binlog" --binlog-format=ROW \
    --binlog-row-image=FULL --binlog-row-metadata=FULL --log-slave-updates=ON --gtid-domain-id=0 --gtid-strict-mode=ON \
    --skip-name-resolve --max-connections=500 --innodb-buffer-pool-size=512M --innodb-log-file-size=256M \
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 --performance-schema=OFF &
  PIDS+=($!)
  for _ in $(seq 100); do mariadb --no-defaults -uroot -S "$d/mdb.sock" -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
  mariadb --no-defaults -uroot -S "$d/mdb.sock" -e "SET sql_log_bin=0; ALTER USER root@localhost IDENTIFIED BY '$PW';
    CREATE USER IF NOT EXISTS root@'127.0.0.1'; ALTER USER root@'127.0.0.1' IDENTIFIED BY '$PW'; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SP=$(free_port); DP=$(free_port)
start_server src "$SP" 9101
start_server dst "$DP" 9102
M() { mariadb --no-defaults -h127.0.0.1 -P"$1" -uroot -p"$PW" "${@:2}"; }
M "$SP" -e 'CREATE DATABASE sbtest'
echo "== sysbench prepare: $ROWS rows"
sysbench oltp_write_only --mysql-host=127.0.0.1 --mysql-port="$SP" --mysql-user=root --mysql-password="$PW" \
  --mysql-db=sbtest --tables=1 --table-size="$ROWS" prepare >/dev/null
M "$SP" -e 'ANALYZE TABLE sbtest.sbtest1' >/dev/null

# Alternate baseline and engine ROUNDS times (the machine is shared: alternating keeps the
# comparison fair); the target databases are dropped between rounds.
ROUNDS=${ROUNDS:-3}
WRITERS=${WRITERS:-3}
go build -o "$WORK/copybench" ./bench/copybench
for r in $(seq "$ROUNDS"); do
  M "$DP" -e 'DROP DATABASE IF EXISTS sbtest_dump; CREATE DATABASE sbtest_dump; DROP DATABASE IF EXISTS sbtest_mig; DROP DATABASE IF EXISTS _vt_lite'
  t0=$(date +%s.%N)
  mariadb-dump --no-defaults -h127.0.0.1 -P"$SP" -uroot -p"$PW" --single-transaction sbtest sbtest1 | M "$DP" sbtest_dump
  t1=$(date +%s.%N)
  echo "round $r: mariadb-dump --single-transaction | mariadb: $ROWS rows in $(echo "$t1 - $t0" | bc)s"
  if [ "$r" -lt "$ROUNDS" ]; then
    echo -n "round $r: "; "$WORK/copybench" ${COPYBENCH_ARGS:-} -src 127.0.0.1:"$SP" -dst 127.0.0.1:"$DP" -password "$PW" -batch "$BATCH" -writers "$WRITERS" -workflow "r$r"
  fi
done

echo "== round $ROUNDS: MIGRATE TABLES, then lag under oltp_write_only (${THREADS} threads, ${LOAD_SECONDS}s)"
READY="$WORK/ready"
"$WORK/copybench" ${COPYBENCH_ARGS:-} -src 127.0.0.1:"$SP" -dst 127.0.0.1:"$DP" -password "$PW" -batch "$BATCH" -writers "$WRITERS" \
  -workflow last -lag "${LOAD_SECONDS}s" -ready-file "$READY" &
CB=$!
while [ ! -e "$READY" ]; do sleep 0.2; kill -0 $CB 2>/dev/null || break; done
sysbench oltp_write_only --mysql-host=127.0.0.1 --mysql-port="$SP" --mysql-user=root --mysql-password="$PW" \
  --mysql-db=sbtest --tables=1 --table-size="$ROWS" --threads="$THREADS" --time="$LOAD_SECONDS" --report-interval=0 run \
  | grep -E 'transactions:|queries:|95th' || true
wait $CB
