#!/usr/bin/env bash
# bench/switch_bench.sh: write pause of MIGRATE WRITES / MIGRATE REVERSE WRITES under
# sysbench oltp_write_only through vtgate-lite, on the moved table.
#
# Runs against the local walkthrough cluster (examples/local: 101 and 201 must be up; the same
# environment variables as there: VTDATAROOT, MYSQL_PORT_BASE, VTGATE_MYSQL_PORT, ...):
#  1. sysbench prepare on the commerce primary (sbtest1, TABLE_SIZE rows);
#  2. MIGRATE TABLES sbtest1 FROM commerce TO customer WORKFLOW sbtest; waits for Running;
#  3. sysbench oltp_write_only through vtgate-lite (THREADS threads, db commerce) while it runs
#     SWITCHES switches back and forth (MIGRATE WRITES, MIGRATE REVERSE WRITES), every GAP s;
#  4. prints each switch's write pause (as the engine measured it: hold to release), p50 and
#     max, and sysbench's errors and latency; cancels nothing (the workflow stays).
#
#   TABLE_SIZE=20000 THREADS=8 SWITCHES=10 GAP=3 bench/switch_bench.sh
#
# Exit status 0 when sysbench saw no error and every switch succeeded.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../examples/local/env.sh
source "$ROOT/examples/local/env.sh"
TABLE_SIZE=${TABLE_SIZE:-20000}
THREADS=${THREADS:-8}
SWITCHES=${SWITCHES:-10}
GAP=${GAP:-3}
WF=customer.sbtest
OUT=$(mktemp -d "${TMPDIR:-/tmp}/switch-bench.XXXXXX")
PRIMARY_PORT=$(mysql_port 100)

sb() {
	sysbench oltp_write_only --db-driver=mysql --mysql-host=127.0.0.1 --tables=1 --table-size="$TABLE_SIZE" "$@"
}

if ! mysql_admin -N -B -e 'SHOW MIGRATIONS' | grep -q "^$WF"; then
	mysql_backend "$PRIMARY_PORT" -e 'DROP TABLE IF EXISTS commerce.sbtest1'
	sb --mysql-port="$PRIMARY_PORT" --mysql-user=root --mysql-password="$MYSQL_ROOT_PASSWORD" --mysql-db=commerce prepare >"$OUT/prepare.log"
	mysql_admin -e "MIGRATE TABLES sbtest1 FROM commerce TO customer WORKFLOW sbtest ON DDL IGNORE"
fi
for _ in $(seq 120); do
	state=$(mysql_admin -N -B -e 'SHOW MIGRATIONS' | awk -F'\t' -v wf="$WF" '$1 == wf { print $5 "/" $7 }')
	case "$state" in Running/* | Stopped/yes) break ;; esac
	sleep 1
done
log "workflow $WF: $state"
# Start from writes on commerce.
if [ "$state" = Stopped/yes ]; then mysql_admin -e "MIGRATE REVERSE WRITES $WF"; fi

DURATION=$((SWITCHES * GAP + GAP + 2))
sb --mysql-port="$VTGATE_MYSQL_PORT" --mysql-user="$VTGATE_USER" --mysql-password="$VTGATE_PASSWORD" --mysql-db=commerce \
	--threads="$THREADS" --time="$DURATION" --report-interval=1 --histogram=off --percentile=99 run >"$OUT/run.log" 2>&1 &
SB=$!
sleep "$GAP"
fail=0
: >"$OUT/pauses"
for i in $(seq "$SWITCHES"); do
	cmd="MIGRATE WRITES $WF"
	if [ $((i % 2)) -eq 0 ]; then cmd="MIGRATE REVERSE WRITES $WF"; fi
	if res=$(mysql_admin -N -B -e "$cmd TIMEOUT 10s" 2>&1); then
		ms=$(echo "$res" | awk -F'\t' '{ print $3 }')
		echo "$ms" >>"$OUT/pauses"
		log "$cmd: write pause $ms ms"
	else
		log "$cmd FAILED: $res"
		fail=1
	fi
	sleep "$GAP"
done
wait "$SB" || fail=1
sort -n "$OUT/pauses" | awk '{ a[NR] = $1 } END { printf "write pause over %d switches: p50 %d ms, max %d ms\n", NR, a[int((NR + 1) / 2)], a[NR] }'
grep -E "transactions:|queries:|ignored errors:|reconnects:|min:|avg:|max:|99th" "$OUT/run.log" | sed 's/^ */sysbench: /'
errs=$(awk '/ignored errors:/ { print $3 }' "$OUT/run.log")
if grep -q "FATAL" "$OUT/run.log"; then
	grep -m5 FATAL "$OUT/run.log"
	fail=1
fi
# Per-second throughput around the switches (the dips are the pauses).
awk '/\[ *[0-9]+s \]/ { printf "%s ", $7 } END { print "" }' "$OUT/run.log" | sed 's/^/sysbench tps per second: /'
log "logs in $OUT (errors: ${errs:-?})"
exit $fail
