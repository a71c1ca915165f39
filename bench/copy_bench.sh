#!/usr/bin/env bash
# Copy benchmark for the migration engine (issue #3):
#   1. two fresh mariadbd servers (source, target), sysbench table of ROWS rows on the source,
#      and the real vtgate-lite binary in front of them (keyspaces src -> sbtest, dst -> sbtest_mig;
#      its migration engine does the work; admin statements go through the MySQL protocol);
#   2. ROUNDS alternations of: baseline mariadb-dump --single-transaction | mariadb into the
#      target, then MIGRATE TABLES through vtgate-lite (bench/copybench -proxy) into the same
#      server (MIGRATE CANCEL between rounds); vtgate-lite's RSS and Go heap peaks are sampled;
#   3. stream lag (p50/p99, end to end by GTID) while sysbench oltp_write_only (THREADS threads)
#      writes THROUGH vtgate-lite to the moved table for LOAD_SECONDS;
#   4. catch-up: MIGRATE STOP, CATCHUP_SECONDS of oltp_write_only through vtgate-lite (the
#      source write rate), MIGRATE START, time until the target position covers the source's
#      @@gtid_binlog_pos; prints apply rate / source write rate.
# Usage: bench/copy_bench.sh   (env: ROWS=1000000 ROUNDS=3 LOAD_SECONDS=60 THREADS=8 BATCH=10000
#        CATCHUP_SECONDS=30 CATCHUP_VIA=proxy|direct (backlog writes through vtgate-lite or straight to
#        the source primary) COPYBENCH_ARGS="-defer" for DEFER SECONDARY KEYS; IN_PROCESS=1 runs the
#        engine inside copybench without vtgate-lite, and the load straight on the source, as before)
set -euo pipefail
ROWS=${ROWS:-1000000}
LOAD_SECONDS=${LOAD_SECONDS:-60}
THREADS=${THREADS:-8}
CATCHUP_SECONDS=${CATCHUP_SECONDS:-30}
CATCHUP_VIA=${CATCHUP_VIA:-proxy} # proxy: the backlog is written through vtgate-lite; direct: straight to the source primary
IN_PROCESS=${IN_PROCESS:-0}
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
VP=$SP; SBUSER=root; SBPW=$PW; SBDB=sbtest; CB_ARGS=()
if [ "$IN_PROCESS" != 1 ]; then
  go build -o "$WORK/vtgate-lite" ./cmd/vtgate-lite
  VP=$(free_port); HP=$(free_port)
  M "$DP" -e 'CREATE DATABASE IF NOT EXISTS sbtest_mig'
  mkdir -p "$WORK/vtgl"
  cat >"$WORK/vtgl.yaml" <<YAML
listen: 127.0.0.1:$VP
http_listen: 127.0.0.1:$HP
state_dir: '$WORK/vtgl'
migration:
  copy_batch_rows: $BATCH
users:
  - {name: app, password: $PW}
  - {name: admin, password: $PW, admin: true}
keyspaces:
  src: {database: sbtest, user: root, password: $PW, primary: 127.0.0.1:$SP}
  dst: {database: sbtest_mig, user: root, password: $PW, primary: 127.0.0.1:$DP}
YAML
  "$WORK/vtgate-lite" --config "$WORK/vtgl.yaml" >"$WORK/vtgl.log" 2>&1 &
  VTGL=$!; PIDS+=($VTGL)
  for _ in $(seq 100); do mariadb --no-defaults -h127.0.0.1 -P"$VP" -uapp -p"$PW" -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
  kill -0 "$VTGL" || { cat "$WORK/vtgl.log"; exit 1; }
  echo "== vtgate-lite pid $VTGL on 127.0.0.1:$VP (engine copy_batch_rows $BATCH; copy writers: engine default)"
  SBUSER=app; SBDB=src
  CB_ARGS=(-proxy 127.0.0.1:"$VP" -admin-password "$PW" -pid "$VTGL" -metrics "http://127.0.0.1:$HP/metrics")
fi
A() { mariadb --no-defaults -h127.0.0.1 -P"$VP" -uadmin -p"$PW" "$@"; }
for r in $(seq "$ROUNDS"); do
  if [ "$IN_PROCESS" = 1 ]; then
    M "$DP" -e 'DROP DATABASE IF EXISTS sbtest_mig; DROP DATABASE IF EXISTS _vt_lite'
  fi
  M "$DP" -e 'DROP DATABASE IF EXISTS sbtest_dump; CREATE DATABASE sbtest_dump'
  t0=$(date +%s.%N)
  mariadb-dump --no-defaults -h127.0.0.1 -P"$SP" -uroot -p"$PW" --single-transaction sbtest sbtest1 | M "$DP" sbtest_dump
  t1=$(date +%s.%N)
  echo "round $r: mariadb-dump --single-transaction | mariadb: $ROWS rows in $(echo "$t1 - $t0" | bc)s"
  if [ "$r" -lt "$ROUNDS" ]; then
    echo -n "round $r: "; "$WORK/copybench" ${COPYBENCH_ARGS:-} "${CB_ARGS[@]}" -src 127.0.0.1:"$SP" -dst 127.0.0.1:"$DP" -password "$PW" -batch "$BATCH" -writers "$WRITERS" -workflow "r$r"
    if [ "$IN_PROCESS" != 1 ]; then A -e "MIGRATE CANCEL dst.r$r" >/dev/null; fi
  fi
done

echo "== round $ROUNDS: MIGRATE TABLES, then lag under oltp_write_only (${THREADS} threads, ${LOAD_SECONDS}s, through $([ "$IN_PROCESS" = 1 ] && echo 'the source directly' || echo vtgate-lite))"
READY="$WORK/ready"
CU=()
if [ "$IN_PROCESS" != 1 ] && [ "$CATCHUP_SECONDS" -gt 0 ]; then mkdir -p "$WORK/catchup"; CU=(-catchup-dir "$WORK/catchup"); fi
"$WORK/copybench" ${COPYBENCH_ARGS:-} "${CB_ARGS[@]}" "${CU[@]}" -src 127.0.0.1:"$SP" -dst 127.0.0.1:"$DP" -password "$PW" -batch "$BATCH" -writers "$WRITERS" \
  -workflow last -lag "${LOAD_SECONDS}s" -interval 200ms -ready-file "$READY" >"$WORK/cb.out" &
CB=$!; PIDS+=($CB)
while [ ! -e "$READY" ]; do sleep 0.2; kill -0 $CB 2>/dev/null || break; done
cat "$WORK/cb.out"
sb() { sysbench oltp_write_only --mysql-host=127.0.0.1 --mysql-port="${SBPORT:-$VP}" --mysql-user="${SBU:-$SBUSER}" --mysql-password="$SBPW" \
  --mysql-db="${SBD:-$SBDB}" --tables=1 --table-size="$ROWS" --threads="$THREADS" --report-interval=0 --percentile=99 "$@" run; }
sb --time="$LOAD_SECONDS" | grep -E 'transactions:|queries:|write:|errors:|99th' || true
if [ "${#CU[@]}" -gt 0 ]; then
  while [ ! -e "$WORK/catchup/stopped" ]; do sleep 0.2; kill -0 $CB 2>/dev/null || break; done
  echo "== catch-up: MIGRATE STOP dst.last; oltp_write_only (${THREADS} threads, ${CATCHUP_SECONDS}s) via $CATCHUP_VIA; MIGRATE START"
  if [ "$CATCHUP_VIA" = direct ]; then
    SBPORT=$SP SBU=root SBD=sbtest sb --time="$CATCHUP_SECONDS" >"$WORK/catchup/sb.log" || true
  else
    sb --time="$CATCHUP_SECONDS" >"$WORK/catchup/sb.log" || true
  fi
  grep -E 'transactions:|queries:|write:|errors:|99th' "$WORK/catchup/sb.log" || true
  touch "$WORK/catchup/writes-done"
fi
wait $CB
tail -n +2 "$WORK/cb.out"
if [ "${#CU[@]}" -gt 0 ]; then
  src_tps=$(awk '/transactions:/ { gsub(/[()]/, "", $3); print $3 }' "$WORK/catchup/sb.log")
  src_rows=$(awk -v t="$CATCHUP_SECONDS" '/^ *write:/ { printf "%.0f", $2 / t }' "$WORK/catchup/sb.log")
  awk -v s="$src_tps" -v sr="$src_rows" '/^catchup:/ { for (i = 1; i <= NF; i++) if ($i == "trx/s") r = $(i-1)
    printf "catch-up: source wrote %.0f trx/s (%s row events/s) during the backlog; applied %.0f trx/s; ratio apply/source %.2fx (target >= 2)\n", s, sr, r, r / s }' "$WORK/cb.out"
fi
