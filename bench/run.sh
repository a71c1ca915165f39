#!/usr/bin/env bash
# bench/run.sh: sysbench against MariaDB directly and through vtgate-lite, alternating, in one
# run, plus an idle-connection (RSS / backend connection) check. Everything it starts (its own
# mariadbd, vtgate-lite, the idle-connection client) runs from a temp dir and is stopped by PID
# on exit.
#
#   TABLE_SIZE=100000 DURATION=10 ROUNDS=3 bench/run.sh
#
# Environment:
#   TABLE_SIZE  rows in sbtest1                          (default 100000)
#   DURATION    seconds per sysbench run                 (default 10)
#   ROUNDS      direct/proxy pairs per workload and mode  (default 3)
#   THREADS     sysbench threads                         (default 8)
#   POOL_SIZE   vtgate-lite pool.size                    (default 16)
#   WORKLOADS   sysbench workloads, space-separated      (default "oltp_point_select oltp_read_write")
#   IDLE_CONNS  idle client connections for the RSS test (default 1000)
#   REV=<git rev> build vtgate-lite from that commit (git archive) instead of the working tree,
#               so uncommitted edits elsewhere in the repo do not leak into the numbers
#   HAPROXY=auto|1|0  also run each workload through HAProxy in TCP mode (a pure relay written in C,
#               no SQL awareness) in front of the same MariaDB, alternating with the other two:
#               the ceiling any proxy in this position reaches on this machine (auto: when
#               haproxy is installed; 1: required; `apt-get install haproxy`)
#   UNIX_BACKEND=1  also run a second vtgate-lite whose backend is MariaDB's unix socket (a proxy
#               on the database host), as target proxy_unix in the same alternation
#   BASE_REV=<git rev>  also run vtgate-lite built from that commit (TCP backend) as target
#               proxy_base in the same alternation: an A/B of two commits side by side, the
#               only fair way to compare them on this noisy machine
#   PPROF=1     take a vtgate-lite CPU profile during the first proxy run of each workload/mode
#               and print its top functions (off by default: it costs a little CPU)
#   KEEP=1      keep the temp dir (logs, sysbench outputs) after exit
#
# Exit status: 0 if every run through the proxy finished without errors, 1 otherwise (also 1
# if the idle-connection test failed to open its connections).
set -euo pipefail

TABLE_SIZE=${TABLE_SIZE:-100000}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-8}
POOL_SIZE=${POOL_SIZE:-16}
IDLE_CONNS=${IDLE_CONNS:-1000}
IDLE_HOLD=${IDLE_HOLD:-5s}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vtgl-bench.XXXXXX")

MDB_PID=""
VTG_PID=""
IDLE_PID=""
HA_PID=""
VTGU_PID=""
VTGB_PID=""

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# stop_pid PID NAME SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pid() {
	local pid=$1 name=$2 secs=$3 i
	[[ -n $pid ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	log "$name (pid $pid) did not stop in ${secs}s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	set +e
	stop_pid "$IDLE_PID" idleconns 5
	stop_pid "$VTG_PID" vtgate-lite 15
	stop_pid "$HA_PID" haproxy 5
	stop_pid "$VTGU_PID" vtgate-lite-unix 15
	stop_pid "$VTGB_PID" vtgate-lite-base 15
	stop_pid "$MDB_PID" mariadbd 60
	if [[ ${KEEP:-} == 1 ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: a TCP port on 127.0.0.1 nobody listens on and that we have not handed out yet,
# below the kernel's ephemeral range (32768+), where client connections take their source ports.
USED_PORTS=" "
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % 22000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if [[ -z $(ss -Htln "sport = :$p" 2>/dev/null) ]]; then
			USED_PORTS+="$p "
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# ---------------------------------------------------------------- 1. build
if [[ -n ${REV:-} ]]; then
	BUILT_FROM="commit $(git -C "$ROOT" rev-parse --short=12 "$REV^{commit}") ($REV)"
	mkdir -p "$WORK/src"
	git -C "$ROOT" archive "$REV" | tar -x -C "$WORK/src"
	SRC=$WORK/src
else
	dirty=$(git -C "$ROOT" status --porcelain -- . ':!bench' ':!docs' 2>/dev/null | wc -l)
	BUILT_FROM="working tree at $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo '?') ($dirty uncommitted paths outside bench/ and docs/)"
	SRC=$ROOT
fi
log "building vtgate-lite from $BUILT_FROM and bench/idleconns into $WORK"
(cd "$SRC" && go build -o "$WORK/vtgate-lite" ./cmd/vtgate-lite)
(cd "$ROOT" && go build -o "$WORK/idleconns" ./bench/idleconns)

# ---------------------------------------------------------------- 2. MariaDB
MDB_PORT=$(free_port)
MDB_DIR=$WORK/mdb
MDB_SOCK=$MDB_DIR/mdb.sock
mkdir -p "$MDB_DIR"
MARIADBD=$(command -v mariadbd || command -v mysqld || echo /usr/sbin/mariadbd)
[[ -x $MARIADBD ]] || die "mariadbd not found"

log "initialising MariaDB datadir"
mariadb-install-db --no-defaults --user=root --datadir="$MDB_DIR/data" \
	--auth-root-authentication-method=normal --skip-test-db >"$MDB_DIR/install.log" 2>&1 ||
	{ tail -20 "$MDB_DIR/install.log" >&2; die "mariadb-install-db failed"; }

# Flags as internal/testcluster serverArgs, but a 256M buffer pool.
"$MARIADBD" --no-defaults --user=root \
	--datadir="$MDB_DIR/data" \
	--port="$MDB_PORT" --bind-address=127.0.0.1 \
	--socket="$MDB_SOCK" --pid-file="$MDB_DIR/mdb.pid" \
	--log-error="$MDB_DIR/err.log" \
	--server-id=1 \
	--log-bin="$MDB_DIR/data/binlog" \
	--binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL \
	--log-slave-updates=ON --gtid-domain-id=0 --gtid-strict-mode=ON \
	--skip-name-resolve --max-connections=1000 \
	--innodb-buffer-pool-size=256M --innodb-log-file-size=48M \
	--innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
	--performance-schema=OFF --skip-slave-start \
	>"$MDB_DIR/stdout.log" 2>&1 &
MDB_PID=$!
log "mariadbd pid $MDB_PID port $MDB_PORT"

sock_sql() { mariadb --no-defaults -uroot -S "$MDB_SOCK" -N -B -e "$1"; }
direct_sql() { mariadb --no-defaults -h127.0.0.1 -P"$MDB_PORT" -uroot -prootpw -N -B -e "$1"; }

for ((i = 0; i < 300; i++)); do
	kill -0 "$MDB_PID" 2>/dev/null || { tail -30 "$MDB_DIR/err.log" >&2; die "mariadbd exited"; }
	sock_sql 'SELECT 1' >/dev/null 2>&1 && break
	sleep 0.1
done
sock_sql 'SELECT 1' >/dev/null || { tail -30 "$MDB_DIR/err.log" >&2; die "mariadbd not up after 30s"; }
sock_sql "SET sql_log_bin=0;
CREATE USER IF NOT EXISTS root@'127.0.0.1';
ALTER USER root@'127.0.0.1' IDENTIFIED BY 'rootpw';
GRANT ALL ON *.* TO root@'127.0.0.1';
ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('rootpw') OR unix_socket;
CREATE DATABASE sbtest;"

# ---------------------------------------------------------------- 3. vtgate-lite
VTG_PORT=$(free_port)
VTG_HTTP=$(free_port)
mkdir -p "$WORK/state"
cat >"$WORK/vtgate-lite.yaml" <<EOF
listen: 127.0.0.1:$VTG_PORT
http_listen: 127.0.0.1:$VTG_HTTP
state_dir: $WORK/state
log_level: warn
http_debug: $([[ ${PPROF:-} == 1 ]] && echo true || echo false)
users:
  - {name: sb, password: sbpw}
keyspaces:
  sbtest:
    database: sbtest
    user: root
    password: rootpw
    primary: 127.0.0.1:$MDB_PORT
pool:
  size: $POOL_SIZE
EOF
"$WORK/vtgate-lite" --config "$WORK/vtgate-lite.yaml" >"$WORK/vtgate-lite.log" 2>&1 &
VTG_PID=$!
log "vtgate-lite pid $VTG_PID port $VTG_PORT (http $VTG_HTTP)"

proxy_sql() { mariadb --no-defaults -h127.0.0.1 -P"$VTG_PORT" -usb -psbpw -N -B -e "$1"; }
for ((i = 0; i < 300; i++)); do
	kill -0 "$VTG_PID" 2>/dev/null || { tail -30 "$WORK/vtgate-lite.log" >&2; die "vtgate-lite exited"; }
	proxy_sql 'select 1' >/dev/null 2>&1 && break
	sleep 0.1
done
proxy_sql 'select 1' >/dev/null || { tail -30 "$WORK/vtgate-lite.log" >&2; die "vtgate-lite not answering after 30s"; }

# ---------------------------------------------------------------- 3b. HAProxy (reference relay)
TARGETS=(direct proxy)
HAPROXY=${HAPROXY:-auto}
if [[ $HAPROXY == 1 ]] && ! command -v haproxy >/dev/null; then
	die "HAPROXY=1 but haproxy is not installed (apt-get install haproxy)"
fi
if [[ $HAPROXY != 0 ]] && command -v haproxy >/dev/null; then
	HA_PORT=$(free_port)
	printf '%s\n' "global" "  nbthread $(nproc)" "defaults" "  mode tcp" "  timeout connect 5s" \
		"  timeout client 600s" "  timeout server 600s" "listen mysql" "  bind 127.0.0.1:$HA_PORT" \
		"  server mdb 127.0.0.1:$MDB_PORT" >"$WORK/haproxy.cfg"
	haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
	HA_PID=$!
	for ((i = 0; i < 100; i++)); do
		mariadb --no-defaults -h127.0.0.1 -P"$HA_PORT" -uroot -prootpw -N -B -e 'select 1' >/dev/null 2>&1 && break
		kill -0 "$HA_PID" 2>/dev/null || { cat "$WORK/haproxy.log" >&2; die "haproxy exited"; }
		sleep 0.1
	done
	log "haproxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}') pid $HA_PID port $HA_PORT (TCP relay, nbthread $(nproc))"
	TARGETS+=(haproxy)
fi

# ---------------------------------------------------------------- 3c. more vtgate-lite instances
# start_extra NAME BINARY [SED_EXPR]: a second vtgate-lite with vtgate-lite.yaml's settings on
# its own ports and state_dir (SED_EXPR edits the config further); sets EXTRA_PORT, EXTRA_PID.
start_extra() {
	local name=$1 bin=$2 edit=${3:-} i
	EXTRA_PORT=$(free_port)
	mkdir -p "$WORK/state-$name"
	sed -e "s#^listen: .*#listen: 127.0.0.1:$EXTRA_PORT#" -e "s#^http_listen: .*#http_listen: 127.0.0.1:$(free_port)#" \
		-e "s#^state_dir: .*#state_dir: $WORK/state-$name#" ${edit:+-e "$edit"} \
		"$WORK/vtgate-lite.yaml" >"$WORK/vtgate-lite-$name.yaml"
	"$bin" --config "$WORK/vtgate-lite-$name.yaml" >"$WORK/vtgate-lite-$name.log" 2>&1 &
	EXTRA_PID=$!
	for ((i = 0; i < 300; i++)); do
		mariadb --no-defaults -h127.0.0.1 -P"$EXTRA_PORT" -usb -psbpw -N -B -e 'select 1' >/dev/null 2>&1 && break
		kill -0 "$EXTRA_PID" 2>/dev/null || { tail -30 "$WORK/vtgate-lite-$name.log" >&2; die "vtgate-lite ($name) exited"; }
		sleep 0.1
	done
}

if [[ ${UNIX_BACKEND:-} == 1 ]]; then
	start_extra unix "$WORK/vtgate-lite" "s#primary: 127.0.0.1:$MDB_PORT#primary: $MDB_SOCK#"
	VTGU_PORT=$EXTRA_PORT VTGU_PID=$EXTRA_PID
	log "vtgate-lite (backend over the unix socket $MDB_SOCK) pid $VTGU_PID port $VTGU_PORT"
	TARGETS+=(proxy_unix)
fi

if [[ -n ${BASE_REV:-} ]]; then
	BASE_FROM="commit $(git -C "$ROOT" rev-parse --short=12 "$BASE_REV^{commit}") ($BASE_REV)"
	mkdir -p "$WORK/base-src"
	git -C "$ROOT" archive "$BASE_REV" | tar -x -C "$WORK/base-src"
	(cd "$WORK/base-src" && go build -o "$WORK/vtgate-lite-base" ./cmd/vtgate-lite)
	start_extra base "$WORK/vtgate-lite-base"
	VTGB_PORT=$EXTRA_PORT VTGB_PID=$EXTRA_PID
	log "vtgate-lite built from $BASE_FROM pid $VTGB_PID port $VTGB_PORT"
	TARGETS+=(proxy_base)
fi

# ---------------------------------------------------------------- 4. prepare
log "sysbench prepare: 1 table, $TABLE_SIZE rows (direct)"
sysbench oltp_point_select --tables=1 --table-size="$TABLE_SIZE" \
	--mysql-host=127.0.0.1 --mysql-port="$MDB_PORT" --mysql-user=root --mysql-password=rootpw \
	--mysql-db=sbtest prepare >"$WORK/prepare.log" 2>&1 ||
	{ tail -20 "$WORK/prepare.log" >&2; die "sysbench prepare failed"; }

# Sanity: the proxy must see the same data as the server.
CHECK_SQL="SELECT COUNT(*), SUM(k), BIT_XOR(CRC32(CONCAT(id,c,pad))) FROM sbtest.sbtest1"
d_check=$(direct_sql "$CHECK_SQL")
p_check=$(proxy_sql "$CHECK_SQL" 2>&1) || true
CONSISTENCY="ok"
if [[ $d_check != "$p_check" ]]; then
	CONSISTENCY="MISMATCH direct=[$d_check] proxy=[$p_check]"
	log "!!! data check through the proxy differs: $CONSISTENCY"
fi
log "data check: direct=[$d_check] proxy=[$p_check]"

# ---------------------------------------------------------------- 5. runs
RES=$WORK/results.tsv # workload mode target round rc qps tps p99 ignored proxy_cores mariadbd_cores host_busy_cores proxy_us_per_query other_cores
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: utime+stime of a process, in clock ticks.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# host_ticks: "busy total" clock ticks of all CPUs since boot.
host_ticks() { awk '/^cpu / {t=0; for (i=2; i<=NF; i++) t+=$i; print t-$5-$6, t}' /proc/stat; }
: >"$RES"
PROXY_FAIL=0
FAIL_LINES=$WORK/fail_lines.txt
: >"$FAIL_LINES"

# run_one WORKLOAD MODE TARGET ROUND
run_one() {
	local wl=$1 mode=$2 target=$3 round=$4 port user pw out rc=0 qps tps p99 ign
	local -a psopt=()
	[[ $mode == disable ]] && psopt=(--db-ps-mode=disable)
	if [[ $target == direct ]]; then
		port=$MDB_PORT user=root pw=rootpw
	elif [[ $target == haproxy ]]; then
		port=$HA_PORT user=root pw=rootpw
	elif [[ $target == proxy_unix ]]; then
		port=$VTGU_PORT user=sb pw=sbpw
	elif [[ $target == proxy_base ]]; then
		port=$VTGB_PORT user=sb pw=sbpw
	else
		port=$VTG_PORT user=sb pw=sbpw
	fi
	out=$WORK/sb.$wl.$mode.$target.$round.log
	local v0 m0 h0 t0 v1 m1 h1 t1 w0 w1 pcores mcores hcores usq
	# The process between sysbench and MariaDB whose CPU is measured: vtgate-lite, or HAProxy
	# for the reference runs (its figures go in the same columns).
	local mid=$VTG_PID
	[[ $target == haproxy ]] && mid=$HA_PID
	[[ $target == proxy_unix ]] && mid=$VTGU_PID
	[[ $target == proxy_base ]] && mid=$VTGB_PID
	v0=$(cpu_ticks "$mid") m0=$(cpu_ticks "$MDB_PID") w0=$(date +%s.%N)
	read -r h0 t0 < <(host_ticks)
	local prof_pid=""
	if [[ ${PPROF:-} == 1 && $target == proxy && $round == 1 && $DURATION -ge 4 ]]; then
		curl -sf -o "$out.pprof" "http://127.0.0.1:$VTG_HTTP/debug/pprof/profile?seconds=$((DURATION - 2))" &
		prof_pid=$!
	fi
	timeout --kill-after=10 $((DURATION + 60)) \
		/usr/bin/time -o "$out.time" -f '%U %S' sysbench "$wl" --tables=1 --table-size="$TABLE_SIZE" \
		--mysql-host=127.0.0.1 --mysql-port="$port" --mysql-user="$user" --mysql-password="$pw" \
		--mysql-db=sbtest "${psopt[@]}" --mysql-ignore-errors=1213 \
		--threads="$THREADS" --time="$DURATION" --percentile=99 run >"$out" 2>&1 || rc=$?
	v1=$(cpu_ticks "$mid") m1=$(cpu_ticks "$MDB_PID") w1=$(date +%s.%N)
	read -r h1 t1 < <(host_ticks)
	if [[ -n $prof_pid ]]; then
		wait "$prof_pid" || true
		[[ -s $out.pprof ]] && (cd "$ROOT" && go tool pprof -top -nodecount=25 "$WORK/vtgate-lite" "$out.pprof" 2>/dev/null) >"$out.top" || true
	fi
	qps=$(sed -n 's/^ *queries: .*(\([0-9.]*\) per sec\.).*/\1/p' "$out" | head -1)
	tps=$(sed -n 's/^ *transactions: .*(\([0-9.]*\) per sec\.).*/\1/p' "$out" | head -1)
	p99=$(sed -n 's/^ *99th percentile: *\([0-9.]*\).*/\1/p' "$out" | head -1)
	ign=$(sed -n 's/^ *ignored errors: *\([0-9]*\).*/\1/p' "$out" | head -1)
	[[ -n $qps ]] || qps=0
	[[ -n $tps ]] || tps=0
	[[ -n $p99 ]] || p99=NA
	[[ -n $ign ]] || ign=NA
	# CPU used during the run, in cores (the host has $(nproc)): vtgate-lite, mariadbd, and all busy CPU.
	pcores=$(awk -v a="$v0" -v b="$v1" -v w0="$w0" -v w1="$w1" -v k="$CLK_TCK" 'BEGIN {printf "%.2f", (b-a)/k/(w1-w0)}')
	mcores=$(awk -v a="$m0" -v b="$m1" -v w0="$w0" -v w1="$w1" -v k="$CLK_TCK" 'BEGIN {printf "%.2f", (b-a)/k/(w1-w0)}')
	hcores=$(awk -v a="$h0" -v b="$h1" -v w0="$w0" -v w1="$w1" -v k="$CLK_TCK" 'BEGIN {printf "%.2f", (b-a)/k/(w1-w0)}')
	usq=$(awk -v a="$v0" -v b="$v1" -v q="$qps" -v d="$DURATION" -v k="$CLK_TCK" 'BEGIN {if (q+0 > 0) printf "%.1f", (b-a)/k*1e6/(q*d); else print "NA"}')
	[[ $target != direct ]] || usq=-
	# Everything else on the host (other tenants of the shared cores): host - vtgate-lite - mariadbd - sysbench.
	ocores=$(awk -v h="$hcores" -v p="$pcores" -v m="$mcores" -v w0="$w0" -v w1="$w1" \
		'NR==1 && NF==2 && $1 ~ /^[0-9.]+$/ {s=($1+$2)/(w1-w0)} END {printf "%.2f", h-p-m-s}' "$out.time" 2>/dev/null || echo NA)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$mode" "$target" "$round" "$rc" "$qps" "$tps" "$p99" "$ign" \
		"$pcores" "$mcores" "$hcores" "$usq" "$ocores" >>"$RES"
	log "$(printf '%-18s %-8s %-6s round %s: rc=%s qps=%s tps=%s p99=%sms ignored_errors=%s cpu(cores): vtgate-lite=%s mariadbd=%s host=%s other=%s' \
		"$wl" "$mode" "$target" "$round" "$rc" "$qps" "$tps" "$p99" "$ign" "$pcores" "$mcores" "$hcores" "$ocores")"
	if [[ $rc != 0 || $ign != 0 ]]; then
		{
			echo "=== $wl ps=$mode via $target round $round: exit code $rc, ignored errors $ign"
			grep -iE 'FATAL|error|warning|ALERT' "$out" | sort | uniq -c | sort -rn | head -20
		} >>"$FAIL_LINES"
		# Deadlocks (1213, the only error sysbench is told to retry) happen between sysbench's own
		# transactions, directly as well: they are counted and shown, not failures. Any other
		# error ends the sysbench run with a non-zero exit code.
		if [[ $rc != 0 && ($target == proxy || $target == proxy_unix) ]]; then
			PROXY_FAIL=1
			log "!!! ERRORS through the proxy ($wl ps=$mode round $round): exit code $rc, ignored errors $ign"
			grep -iE 'FATAL|error' "$out" | sort | uniq -c | sort -rn | head -10 >&2 || true
		fi
	fi
}

read -ra WORKLOADS <<<"${WORKLOADS:-oltp_point_select oltp_read_write}"
MODES=(prepared disable)
for wl in "${WORKLOADS[@]}"; do
	for mode in "${MODES[@]}"; do
		for ((r = 1; r <= ROUNDS; r++)); do
			for target in "${TARGETS[@]}"; do
				run_one "$wl" "$mode" "$target" "$r"
			done
		done
	done
done

# After the runs (read_write changed rows): direct and proxy must still agree.
d_check=$(direct_sql "$CHECK_SQL")
p_check=$(proxy_sql "$CHECK_SQL" 2>&1) || true
if [[ $d_check != "$p_check" ]]; then
	CONSISTENCY+="; after runs MISMATCH direct=[$d_check] proxy=[$p_check]"
fi

# ---------------------------------------------------------------- table
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) {print "NA"} else if (NR%2) {print v[(NR+1)/2]} else {printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}}'; }
col() { awk -F'\t' -v w="$1" -v m="$2" -v t="$3" -v c="$4" '$1==w && $2==m && $3==t {print $c}' "$RES"; }
errs() { awk -F'\t' -v w="$1" -v m="$2" -v t="$3" '$1==w && $2==m && $3==t {n += ($9=="NA" ? 0 : $9); if ($5 != 0) f++} END {printf "%d ignored, %d failed runs\n", n, f}' "$RES"; }

echo
echo "## vtgate-lite built from $BUILT_FROM"
echo "## sysbench: threads=$THREADS time=${DURATION}s rounds=$ROUNDS table_size=$TABLE_SIZE pool.size=$POOL_SIZE (medians over rounds)"
echo
printf '| %-17s | %-8s | %10s | %10s | %6s | %10s | %10s | %12s | %12s | %-26s | %-26s | %14s |\n' \
	workload "ps mode" "direct qps" "proxy qps" ratio "direct tps" "proxy tps" "direct p99ms" "proxy p99ms" "proxy errors" "direct errors" "proxy cpu us/q"
echo '|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|'
SUMMARY=$WORK/summary.tsv
: >"$SUMMARY"
for wl in "${WORKLOADS[@]}"; do
	for mode in "${MODES[@]}"; do
		dq=$(col "$wl" "$mode" direct 6 | median)
		pq=$(col "$wl" "$mode" proxy 6 | median)
		dt=$(col "$wl" "$mode" direct 7 | median)
		pt=$(col "$wl" "$mode" proxy 7 | median)
		dp=$(col "$wl" "$mode" direct 8 | grep -v NA | median || true)
		pp=$(col "$wl" "$mode" proxy 8 | grep -v NA | median || true)
		ratio=$(awk -v a="$pq" -v b="$dq" 'BEGIN {if (b+0 > 0) printf "%.2f", a/b; else print "NA"}')
		[[ $wl == oltp_read_write ]] || { dt=-; pt=-; }
		pe=$(errs "$wl" "$mode" proxy)
		de=$(errs "$wl" "$mode" direct)
		us=$(col "$wl" "$mode" proxy 13 | grep -v NA | median || true)
		printf '| %-17s | %-8s | %10s | %10s | %6s | %10s | %10s | %12s | %12s | %-26s | %-26s | %14s |\n' \
			"$wl" "$mode" "$dq" "$pq" "$ratio" "$dt" "$pt" "$dp" "$pp" "$pe" "$de" "$us"
		printf '%s\t%s\t%s\n' "$wl" "$mode" "$ratio" >>"$SUMMARY"
	done
done
echo
if [[ " ${TARGETS[*]} " == *" haproxy "* ]]; then
	echo "Reference: HAProxy in TCP mode (no parsing, no routing) in front of the same MariaDB, same runs"
	echo
	printf '| %-17s | %-8s | %10s | %11s | %11s | %15s | %19s | %13s | %16s |\n' \
		workload "ps mode" "direct qps" "haproxy qps" "vtgate qps" "haproxy/direct" "vtgate-lite/haproxy" "haproxy p99ms" "haproxy cpu us/q"
	echo '|---|---|---:|---:|---:|---:|---:|---:|---:|'
	for wl in "${WORKLOADS[@]}"; do
		for mode in "${MODES[@]}"; do
			dq=$(col "$wl" "$mode" direct 6 | median)
			hq=$(col "$wl" "$mode" haproxy 6 | median)
			pq=$(col "$wl" "$mode" proxy 6 | median)
			hp=$(col "$wl" "$mode" haproxy 8 | grep -v NA | median || true)
			hu=$(col "$wl" "$mode" haproxy 13 | grep -v NA | median || true)
			printf '| %-17s | %-8s | %10s | %11s | %11s | %15s | %19s | %13s | %16s |\n' "$wl" "$mode" "$dq" "$hq" "$pq" \
				"$(awk -v a="$hq" -v b="$dq" 'BEGIN {if (b+0 > 0) printf "%.2f", a/b; else print "NA"}')" \
				"$(awk -v a="$pq" -v b="$hq" 'BEGIN {if (b+0 > 0) printf "%.2f", a/b; else print "NA"}')" "$hp" "$hu"
		done
	done
	echo
fi
if [[ " ${TARGETS[*]} " == *" proxy_unix "* ]]; then
	echo "vtgate-lite with its backend over MariaDB's unix socket (proxy on the database host), same runs"
	echo
	printf '| %-17s | %-8s | %10s | %15s | %6s | %13s | %16s | %-26s |\n' \
		workload "ps mode" "direct qps" "unix-proxy qps" ratio "unix p99ms" "unix cpu us/q" "errors"
	echo '|---|---|---:|---:|---:|---:|---:|---|'
	for wl in "${WORKLOADS[@]}"; do
		for mode in "${MODES[@]}"; do
			dq=$(col "$wl" "$mode" direct 6 | median)
			uq=$(col "$wl" "$mode" proxy_unix 6 | median)
			ratio=$(awk -v a="$uq" -v b="$dq" 'BEGIN {if (b+0 > 0) printf "%.2f", a/b; else print "NA"}')
			printf '| %-17s | %-8s | %10s | %15s | %6s | %13s | %16s | %-26s |\n' "$wl" "$mode" "$dq" "$uq" "$ratio" \
				"$(col "$wl" "$mode" proxy_unix 8 | grep -v NA | median || true)" \
				"$(col "$wl" "$mode" proxy_unix 13 | grep -v NA | median || true)" "$(errs "$wl" "$mode" proxy_unix)"
			printf '%s\t%s\t%s\n' "$wl" "$mode" "$ratio" >>"$SUMMARY.unix"
		done
	done
	echo
fi
if [[ " ${TARGETS[*]} " == *" proxy_base "* ]]; then
	echo "A/B: vtgate-lite from $BUILT_FROM against $BASE_FROM, same runs"
	echo
	printf '| %-17s | %-8s | %10s | %10s | %9s | %20s |\n' workload "ps mode" "this qps" "base qps" "this/base" "cpu us/q this / base"
	echo '|---|---|---:|---:|---:|---:|'
	for wl in "${WORKLOADS[@]}"; do
		for mode in "${MODES[@]}"; do
			pq=$(col "$wl" "$mode" proxy 6 | median)
			bq=$(col "$wl" "$mode" proxy_base 6 | median)
			printf '| %-17s | %-8s | %10s | %10s | %9s | %20s |\n' "$wl" "$mode" "$pq" "$bq" \
				"$(awk -v a="$pq" -v b="$bq" 'BEGIN {if (b+0 > 0) printf "%.3f", a/b; else print "NA"}')" \
				"$(col "$wl" "$mode" proxy 13 | grep -v NA | median || true) / $(col "$wl" "$mode" proxy_base 13 | grep -v NA | median || true)"
		done
	done
	echo
fi
echo "Per-run results (workload, ps mode, target, round, exit code, qps, tps, p99 ms, ignored errors,"
echo "  CPU cores used by vtgate-lite (by HAProxy in haproxy rows), by mariadbd, by the whole host ($(nproc) CPUs), vtgate-lite CPU us per query, CPU cores used by other processes on the host):"
sed 's/^/    /' "$RES"
echo
echo "Data check (COUNT, SUM(k), BIT_XOR(CRC32(row))) direct vs proxy: $CONSISTENCY"

# ---------------------------------------------------------------- 6. idle connections
# The BASE_REV instance's pooled connections would count as backend connections below.
stop_pid "$VTGB_PID" vtgate-lite-base 15
VTGB_PID=""
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
backend_conns() {
	# TCP connections of user root on MariaDB (the vtgate-lite under test; the UNIX_BACKEND one
	# comes over the socket, host localhost), minus the one running this query.
	local n
	n=$(direct_sql "SELECT COUNT(*) FROM information_schema.processlist WHERE user='root' AND host LIKE '127.0.0.1:%'")
	echo $((n - 1))
}
echo
echo "## idle connections: $IDLE_CONNS client connections to vtgate-lite (pool.size=$POOL_SIZE)"
RSS_BEFORE=$(rss_kb "$VTG_PID")
BE_BEFORE=$(backend_conns)
"$WORK/idleconns" -dsn "sb:sbpw@tcp(127.0.0.1:$VTG_PORT)/sbtest" -n "$IDLE_CONNS" -hold "$IDLE_HOLD" \
	>"$WORK/idleconns.out" 2>"$WORK/idleconns.err" &
IDLE_PID=$!
IDLE_OK=0
for ((i = 0; i < 600; i++)); do
	grep -q '^READY' "$WORK/idleconns.out" 2>/dev/null && { IDLE_OK=1; break; }
	kill -0 "$IDLE_PID" 2>/dev/null || break
	sleep 0.1
done
sleep 1
RSS_IDLE=$(rss_kb "$VTG_PID")
BE_IDLE=$(backend_conns)
CLIENTS_SEEN=$(ss -Htn state established "sport = :$VTG_PORT" | wc -l)
idle_rc=0
wait "$IDLE_PID" || idle_rc=$?
IDLE_PID=""
cat "$WORK/idleconns.out"
[[ -s $WORK/idleconns.err ]] && sed 's/^/    /' "$WORK/idleconns.err"
[[ $IDLE_OK == 1 && $idle_rc == 0 ]] || { log "!!! idleconns failed (exit $idle_rc)"; PROXY_FAIL=1; }
echo "established client TCP connections at vtgate-lite: $CLIENTS_SEEN"
echo "vtgate-lite VmRSS before: $((RSS_BEFORE / 1024)) MB, with $IDLE_CONNS idle clients: $((RSS_IDLE / 1024)) MB (target < 200 MB)"
echo "backend connections (processlist user=root, minus this query): before: $BE_BEFORE, with idle clients: $BE_IDLE (target <= pool.size $POOL_SIZE)"

# ---------------------------------------------------------------- verdict
echo
echo "## targets"
verdict() { if [[ $2 == 1 ]]; then echo "MET      $1"; else echo "NOT MET  $1"; fi; }
for wl in "${WORKLOADS[@]}"; do
	for mode in "${MODES[@]}"; do
		r=$(awk -F'\t' -v w="$wl" -v m="$mode" '$1==w && $2==m {print $3}' "$SUMMARY")
		ok=$(awk -v r="$r" 'BEGIN {print (r != "NA" && r+0 >= 0.6) ? 1 : 0}')
		verdict "$wl ps=$mode proxy/direct qps $r >= 0.60" "$ok"
	done
done
if [[ -s $SUMMARY.unix ]]; then
	while IFS=$'\t' read -r wl mode r; do
		verdict "$wl ps=$mode proxy (unix-socket backend)/direct qps $r >= 0.60" "$(awk -v r="$r" 'BEGIN {print (r != "NA" && r+0 >= 0.6) ? 1 : 0}')"
	done <"$SUMMARY.unix"
fi
tot() { awk -F'\t' -v t="$1" '$3==t {i += ($9=="NA" ? 0 : $9); if ($5 != 0) f++} END {printf "%d failed runs, %d retried deadlocks", f, i}' "$RES"; }
verdict "zero errors through the proxy (proxy: $(tot proxy); direct: $(tot direct))" "$((1 - PROXY_FAIL))"
echo "         (sysbench runs with --mysql-ignore-errors=1213: an InnoDB deadlock between its own transactions"
echo "          is retried and counted, as it happens directly too; any other error fails the run)"
verdict "data check direct == proxy ($CONSISTENCY)" "$([[ $CONSISTENCY == ok ]] && echo 1 || echo 0)"
verdict "RSS with $IDLE_CONNS idle clients $((RSS_IDLE / 1024)) MB < 200 MB" "$((RSS_IDLE < 200 * 1024 ? 1 : 0))"
verdict "backend connections with idle clients $BE_IDLE <= $POOL_SIZE" "$((BE_IDLE <= POOL_SIZE ? 1 : 0))"

if [[ ${PPROF:-} == 1 ]]; then
	for f in "$WORK"/sb.*.proxy.1.log.top; do
		[[ -s $f ]] || continue
		echo
		echo "## vtgate-lite CPU profile: $(basename "$f" .log.top | sed 's/^sb\.//')"
		cat "$f"
	done
fi
if [[ -s $FAIL_LINES ]]; then
	echo
	echo "## sysbench error output (counts of distinct lines)"
	cat "$FAIL_LINES"
fi
if grep -qiE 'level=(ERROR|WARN)' "$WORK/vtgate-lite.log"; then
	echo
	echo "## vtgate-lite warnings/errors (distinct, first 20)"
	grep -iE 'level=(ERROR|WARN)' "$WORK/vtgate-lite.log" | sed -E 's/time=[^ ]+ //' | sort | uniq -c | sort -rn | head -20
fi

if [[ $PROXY_FAIL != 0 || $CONSISTENCY != ok ]]; then
	echo
	echo "!!!!!!!! FAILURE: sysbench errors or wrong results through vtgate-lite (see above) !!!!!!!!"
	exit 1
fi
echo
echo "OK: no errors through vtgate-lite"
