#!/usr/bin/env bash
# env.sh: shared settings for the examples/local scripts. Source it:
#
#   source examples/local/env.sh
#   mysql < examples/common/insert_commerce_data.sql      # `mysql` reaches vtgate-lite as user app
#
# Every value below can be overridden from the environment (the tests do, to use free ports).

# Where this file lives, whatever the caller's working directory.
EXAMPLES_LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXAMPLES_COMMON_DIR="$(cd "$EXAMPLES_LOCAL_DIR/../common" && pwd)"
REPO_ROOT="$(cd "$EXAMPLES_LOCAL_DIR/../.." && pwd)"
export EXAMPLES_LOCAL_DIR EXAMPLES_COMMON_DIR REPO_ROOT

# All state (datadirs, logs, pid files, the built binary) lives here; 401_teardown.sh removes it.
export VTDATAROOT="${VTDATAROOT:-$EXAMPLES_LOCAL_DIR/vtdataroot}"
case "$VTDATAROOT" in /*) ;; *) VTDATAROOT="$PWD/$VTDATAROOT" ;; esac

# Ports. As in the Vitess examples, a MariaDB "tablet" with uid U listens on MYSQL_PORT_BASE+U
# and uses server id U: commerce is 100 (primary), 101 (replica), 102 (rdonly) -> 17100-17102;
# the customer keyspace of the table-migration walkthrough uses 200-202 -> 17200-17202.
export MYSQL_PORT_BASE="${MYSQL_PORT_BASE:-17000}"
export VTGATE_HOST="${VTGATE_HOST:-127.0.0.1}"
export VTGATE_MYSQL_PORT="${VTGATE_MYSQL_PORT:-15306}"
export VTGATE_HTTP_PORT="${VTGATE_HTTP_PORT:-15000}"

# Credentials. vtgate-lite: app/secret (queries), admin/secret (admin commands). Backends:
# root/rootpw for setting the servers up only; vtgate-lite logs in as vtgate_app (the
# application's statements) and vtgate_engine (the migration engine, replica health checks),
# created with the minimum grants of ../common/grants.sql (see docs/security.md).
export MYSQL_ROOT_PASSWORD="${MYSQL_ROOT_PASSWORD:-rootpw}"
export BACKEND_APP_USER="${BACKEND_APP_USER:-vtgate_app}"
export BACKEND_APP_PASSWORD="${BACKEND_APP_PASSWORD:-apppw}"
export BACKEND_ENGINE_USER="${BACKEND_ENGINE_USER:-vtgate_engine}"
export BACKEND_ENGINE_PASSWORD="${BACKEND_ENGINE_PASSWORD:-enginepw}"
export VTGATE_USER="${VTGATE_USER:-app}"
export VTGATE_PASSWORD="${VTGATE_PASSWORD:-secret}"
export VTGATE_ADMIN_USER="${VTGATE_ADMIN_USER:-admin}"
export VTGATE_ADMIN_PASSWORD="${VTGATE_ADMIN_PASSWORD:-secret}"

export VTGATE_CONFIG="${VTGATE_CONFIG:-$VTDATAROOT/vtgate-lite.yaml}"
export VTGATE_LOG="$VTDATAROOT/tmp/vtgate-lite.log"
export VTGATE_PIDFILE="$VTDATAROOT/vtgate-lite.pid"
# The binary: built into $VTDATAROOT/bin by build_vtgate_lite, unless VTGATE_LITE_BIN names one.
export VTGATE_LITE_BIN="${VTGATE_LITE_BIN:-$VTDATAROOT/bin/vtgate-lite}"

# mariadbd and mariadb-install-db live in /usr/sbin and /usr/bin on Debian.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin" ;; esac
case ":$PATH:" in *:/usr/local/sbin:*) ;; *) PATH="$PATH:/usr/local/sbin" ;; esac
export PATH

# mysql: the client, pointed at vtgate-lite (like the Vitess examples' alias). A function, so it
# also works inside scripts. `command mysql` below is the real client.
mysql() {
	command mysql --no-defaults -h "$VTGATE_HOST" -P "$VTGATE_MYSQL_PORT" -u "$VTGATE_USER" -p"$VTGATE_PASSWORD" "$@"
}
# mysql_admin: the same as the admin user (migration commands, SHOW VITESS_... style statements).
mysql_admin() {
	command mysql --no-defaults -h "$VTGATE_HOST" -P "$VTGATE_MYSQL_PORT" -u "$VTGATE_ADMIN_USER" -p"$VTGATE_ADMIN_PASSWORD" "$@"
}

# mysql_port UID -> the MariaDB port of tablet UID.
mysql_port() { echo $((MYSQL_PORT_BASE + $1)); }

# mysql_backend PORT [args...]: the client, as root, straight to one MariaDB (bypassing vtgate-lite).
mysql_backend() {
	local port=$1
	shift
	command mysql --no-defaults -h 127.0.0.1 -P "$port" -u root -p"$MYSQL_ROOT_PASSWORD" "$@"
}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

# as_root CMD...: runs CMD as root, through sudo when we are not root.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# install_missing_packages: installs MariaDB server + client and sysbench when mariadbd or
# the mariadb client is missing (Debian/Ubuntu, no prompts).
install_missing_packages() {
	if command -v mariadbd >/dev/null 2>&1 && { command -v mariadb >/dev/null 2>&1 || command -v mysql >/dev/null 2>&1; }; then
		return 0
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "mariadbd or the mariadb client is missing and there is no apt-get: install MariaDB 10.6+ (server and client) yourself"
	log "Installing mariadb-server mariadb-client sysbench (apt-get)..."
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server mariadb-client sysbench
	command -v mariadbd >/dev/null 2>&1 || die "apt-get finished but mariadbd is still not found"
}

# build_vtgate_lite: builds vtgate-lite into $VTGATE_LITE_BIN when Go is present. Without Go
# an existing binary is used. Returns non-zero, with a clear message, when neither works.
build_vtgate_lite() {
	if [ "$VTGATE_LITE_BIN" != "$VTDATAROOT/bin/vtgate-lite" ]; then
		[ -x "$VTGATE_LITE_BIN" ] || { echo "ERROR: VTGATE_LITE_BIN=$VTGATE_LITE_BIN is not an executable file" >&2; return 1; }
		log "Using vtgate-lite binary $VTGATE_LITE_BIN (VTGATE_LITE_BIN is set; not building)"
		return 0
	fi
	if ! command -v go >/dev/null 2>&1; then
		if [ -x "$VTGATE_LITE_BIN" ]; then
			log "Go not found; using the existing $VTGATE_LITE_BIN"
			return 0
		fi
		echo "ERROR: Go is not installed and there is no $VTGATE_LITE_BIN." >&2
		echo "       Install Go (see go.mod for the version) or set VTGATE_LITE_BIN=/path/to/vtgate-lite." >&2
		return 1
	fi
	mkdir -p "$(dirname "$VTGATE_LITE_BIN")"
	log "Building vtgate-lite (go build ./cmd/vtgate-lite)..."
	if ! (cd "$REPO_ROOT" && go build -o "$VTGATE_LITE_BIN" ./cmd/vtgate-lite); then
		echo "ERROR: vtgate-lite failed to build (see the compiler output above);" >&2
		echo "       the code may be in the middle of a change." >&2
		return 1
	fi
}

# pid_alive PIDFILE: true when PIDFILE names a running process that these scripts started
# (its command line mentions $VTDATAROOT), so a recycled PID is never taken for ours.
pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if [ -r "/proc/$pid/cmdline" ]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$VTDATAROOT" || return 1
	fi
}

# ---------------------------------------------------------------------------------------------
# Starting MariaDB "tablets" (used by 101_initial_cluster.sh and 201_customer_tablets.sh).
# The calling script sets KEYSPACE, PRIMARY_PORT (the keyspace's primary), WAIT_SECONDS and
# started=0 (start_mariadb counts the processes it starts there), then calls find_mariadb_tools.

# find_mariadb_tools: sets MARIADBD, INSTALL_DB and CLIENT (dies when one is missing).
find_mariadb_tools() {
	MARIADBD=$(command -v mariadbd) || die "mariadbd not found"
	INSTALL_DB=$(command -v mariadb-install-db || command -v mysql_install_db) || die "mariadb-install-db not found"
	CLIENT=$(command -v mariadb || command -v mysql) || die "the mariadb client is not found"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# sql PORT [args...]: root on one local server through its unix socket.
sql() {
	local port=$1
	shift
	"$CLIENT" --no-defaults -S "$VTDATAROOT/mysql_$port/mdb.sock" -u root -p"$MYSQL_ROOT_PASSWORD" "$@"
}

# start_mariadb UID TYPE: initializes (first time) and starts one server, waits for a login.
start_mariadb() {
	local uid=$1 type=$2 port dir pidfile fresh=0 pid
	port=$(mysql_port "$uid")
	dir="$VTDATAROOT/mysql_$port"
	pidfile="$VTDATAROOT/mysql_$port.pid"
	if pid_alive "$pidfile"; then
		log "MariaDB $KEYSPACE/$type (uid $uid) is already running on port $port (pid $(cat "$pidfile"))"
		return 0
	fi
	port_in_use "$port" && die "port $port is in use by another process (not one recorded in $VTDATAROOT); stop it or set MYSQL_PORT_BASE"

	if [ ! -d "$dir/data/mysql" ]; then
		log "Initializing datadir $dir/data"
		rm -rf "$dir"
		mkdir -p "$dir/tmp"
		# Own tmpdir: bootstraps sharing /tmp can collide on temporary table names.
		if ! "$INSTALL_DB" --no-defaults --user="$(id -un)" --datadir="$dir/data" --tmpdir="$dir/tmp" \
			--auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1; then
			cat "$dir/install.log" >&2
			rm -rf "$dir"
			die "mariadb-install-db failed for $dir"
		fi
		fresh=1
	fi

	local args=(
		--no-defaults --user="$(id -un)"
		--datadir="$dir/data" --port="$port" --bind-address=127.0.0.1
		--socket="$dir/mdb.sock" --pid-file="$dir/mdb.pid" --log-error="$dir/err.log" --tmpdir="$dir/tmp"
		--server-id="$uid"
		--log-bin="$dir/data/binlog" --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL
		--log-slave-updates=ON --gtid-domain-id=0 --gtid-strict-mode=ON
		--skip-name-resolve --max-connections=500
		--log-bin-trust-function-creators=ON # the engine's deny triggers without SUPER (../common/grants.sql)
		--innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 --sync-binlog=0
	)
	[ "$type" = primary ] || args+=(--read-only=ON)
	mkdir -p "$dir/tmp"

	log "Starting MariaDB $KEYSPACE/$type (uid $uid, server id $uid) on 127.0.0.1:$port"
	setsid nohup "$MARIADBD" "${args[@]}" >>"$dir/stdout.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$pidfile"
	started=$((started + 1))

	# Wait for a real login (mariadb-admin ping answers even when access is denied).
	local login=(-p"$MYSQL_ROOT_PASSWORD")
	[ "$fresh" = 1 ] && login=()
	local deadline=$((SECONDS + WAIT_SECONDS))
	until "$CLIENT" --no-defaults -S "$dir/mdb.sock" -u root "${login[@]}" -e 'select 1' >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$pidfile"
			tail -n 30 "$dir/err.log" >&2 || true
			die "MariaDB on port $port exited during startup (log above: $dir/err.log)"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 30 "$dir/err.log" >&2 || true
			die "MariaDB on port $port did not accept logins within ${WAIT_SECONDS}s (pid $pid still running; 401_teardown.sh stops it)"
		fi
		sleep 0.2
	done

	if [ "$fresh" = 1 ]; then
		# Users are per server: keep them out of the binlog so replicas do not replay them.
		"$CLIENT" --no-defaults -S "$dir/mdb.sock" -u root <<-SQL
			SET sql_log_bin=0;
			ALTER USER root@localhost IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
			CREATE USER IF NOT EXISTS root@'127.0.0.1';
			ALTER USER root@'127.0.0.1' IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
			GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
			CREATE USER IF NOT EXISTS root@'%';
			ALTER USER root@'%' IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
			GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;
		SQL
	fi
	# On every start, so a datadir made before the accounts existed gets them (idempotent).
	apply_grants "$port"
}

# apply_grants PORT: creates vtgate-lite's backend accounts for database $KEYSPACE on one
# server (../common/grants.sql), out of the binlog like every per-server user.
apply_grants() {
	{
		echo "SET sql_log_bin=0;"
		sed -e "s/{{database}}/$KEYSPACE/g" \
			-e "s/{{app_user}}/$BACKEND_APP_USER/g" -e "s/{{app_password}}/$BACKEND_APP_PASSWORD/g" \
			-e "s/{{engine_user}}/$BACKEND_ENGINE_USER/g" -e "s/{{engine_password}}/$BACKEND_ENGINE_PASSWORD/g" \
			"$EXAMPLES_COMMON_DIR/grants.sql"
	} | sql "$1" || die "applying ../common/grants.sql on port $1 failed"
}

# keyspace_accounts: the backend accounts of a keyspace's entry in vtgate-lite.yaml (4-space indent).
keyspace_accounts() {
	printf '    user: %s\n    password: %s\n    admin_user: %s\n    admin_password: %s\n' \
		"$BACKEND_APP_USER" "$BACKEND_APP_PASSWORD" "$BACKEND_ENGINE_USER" "$BACKEND_ENGINE_PASSWORD"
}

# attach_replica UID: points a replica at the primary by GTID, once.
attach_replica() {
	local port dir
	port=$(mysql_port "$1")
	dir="$VTDATAROOT/mysql_$port"
	[ -e "$dir/.replication_configured" ] && return 0
	log "Attaching 127.0.0.1:$port to the primary 127.0.0.1:$PRIMARY_PORT (MASTER_USE_GTID=slave_pos)"
	sql "$port" <<-SQL
		STOP SLAVE;
		SET GLOBAL gtid_slave_pos='';
		CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PRIMARY_PORT, MASTER_USER='root',
		  MASTER_PASSWORD='$MYSQL_ROOT_PASSWORD', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
		START SLAVE;
	SQL
	touch "$dir/.replication_configured"
}

# wait_replicas_caught_up UID...: waits (WAIT_SECONDS) until every replica UID has applied
# everything the primary PRIMARY_PORT has; dies with the replica's SHOW SLAVE STATUS if not.
wait_replicas_caught_up() {
	local pos uid port got
	pos=$(sql "$PRIMARY_PORT" -N -B -e 'SELECT @@gtid_binlog_pos')
	for uid; do
		port=$(mysql_port "$uid")
		got=$(sql "$port" -N -B -e "SELECT MASTER_GTID_WAIT('$pos', $WAIT_SECONDS)")
		if [ "$got" != 0 ]; then
			sql "$port" -e 'SHOW SLAVE STATUS\G' | grep -E 'Running:|Last_(IO|SQL)_Error:|Gtid_IO_Pos:' >&2 || true
			die "replica 127.0.0.1:$port did not reach GTID $pos within ${WAIT_SECONDS}s (its SHOW SLAVE STATUS is above)"
		fi
	done
}

# start_keyspace_servers installs what is missing, then starts one keyspace's servers:
# UIDS[0] is the primary, the others its replicas (types in TYPES), attached by GTID.
# It counts what it started in the caller's $started.
start_keyspace_servers() {
	install_missing_packages
	find_mariadb_tools
	mkdir -p "$VTDATAROOT/tmp"
	local i uid
	for i in "${!UIDS[@]}"; do
		start_mariadb "${UIDS[$i]}" "${TYPES[$i]}"
	done
	for uid in "${UIDS[@]:1}"; do
		attach_replica "$uid"
	done
}
