#!/usr/bin/env bash
# 101_initial_cluster.sh: starts the example "commerce" keyspace and vtgate-lite in front of it.
#
#  1. Installs MariaDB and sysbench when they are missing (apt-get; sudo when not root).
#  2. Starts three MariaDB servers, each with its own datadir under $VTDATAROOT/mysql_<port>:
#     uid 100 primary (17100), uid 101 replica (17101), uid 102 rdonly (17102); the replicas
#     follow the primary by GTID. Binlogs are ROW with full images and full metadata.
#  3. Creates database commerce and its tables (../common/create_commerce_schema.sql).
#  4. Writes $VTDATAROOT/vtgate-lite.yaml, builds vtgate-lite and starts it on 127.0.0.1:15306
#     (MySQL protocol) and 127.0.0.1:15000 (HTTP, /metrics).
#
# Re-running it is safe: what is already running is left alone, what is missing is started.
# Every process started is recorded in $VTDATAROOT/*.pid; 401_teardown.sh stops them.
# SKIP_VTGATE=1 stops after step 3 (MariaDB only).
set -euo pipefail
set +m # no job control: background children keep our PIDs and ignore the terminal's Ctrl-C
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=env.sh
source ./env.sh

KEYSPACE=commerce
UIDS=(100 101 102)
TYPES=(primary replica rdonly)
PRIMARY_PORT=$(mysql_port "${UIDS[0]}")
WAIT_SECONDS=30

started=0 # how many processes this run started
start_keyspace_servers

# The schema, once: re-running after a migration must not bring back tables it moved away.
if [ ! -e "$VTDATAROOT/mysql_$PRIMARY_PORT/.schema_applied" ]; then
	log "Creating database $KEYSPACE and applying ../common/create_commerce_schema.sql"
	sql "$PRIMARY_PORT" -e "CREATE DATABASE IF NOT EXISTS \`$KEYSPACE\`"
	sql "$PRIMARY_PORT" "$KEYSPACE" <"$EXAMPLES_COMMON_DIR/create_commerce_schema.sql"
	touch "$VTDATAROOT/mysql_$PRIMARY_PORT/.schema_applied"
fi

# Every replica has applied everything the primary has.
wait_replicas_caught_up "${UIDS[@]:1}"
pos=$(sql "$PRIMARY_PORT" -N -B -e 'SELECT @@gtid_binlog_pos')
log "MariaDB: primary 127.0.0.1:$PRIMARY_PORT, replica 127.0.0.1:$(mysql_port 101), rdonly 127.0.0.1:$(mysql_port 102) (GTID $pos)"

if [ "${SKIP_VTGATE:-0}" = 1 ]; then
	log "SKIP_VTGATE=1: not starting vtgate-lite."
	echo
	echo "Reach MariaDB directly:  mysql --no-defaults -h 127.0.0.1 -P $PRIMARY_PORT -u root -p$MYSQL_ROOT_PASSWORD $KEYSPACE"
	echo "Stop everything:         $EXAMPLES_LOCAL_DIR/401_teardown.sh"
	exit 0
fi

# The vtgate-lite config: written once, so later steps (201-205) may edit it.
if [ ! -e "$VTGATE_CONFIG" ]; then
	log "Writing $VTGATE_CONFIG"
	cat >"$VTGATE_CONFIG" <<-YAML
		# vtgate-lite config for the examples/local walkthrough (written by 101_initial_cluster.sh).
		listen: $VTGATE_HOST:$VTGATE_MYSQL_PORT
		http_listen: $VTGATE_HOST:$VTGATE_HTTP_PORT
		state_dir: '$VTDATAROOT/vtgate-lite'
		users:
		  - {name: $VTGATE_USER, password: $VTGATE_PASSWORD}
		  - {name: $VTGATE_ADMIN_USER, password: $VTGATE_ADMIN_PASSWORD, admin: true}
		keyspaces:
		  $KEYSPACE:
		    database: $KEYSPACE
		$(keyspace_accounts)
		    primary: 127.0.0.1:$PRIMARY_PORT
		    replicas:
		      - {address: 127.0.0.1:$(mysql_port 101), type: replica}
		      - {address: 127.0.0.1:$(mysql_port 102), type: rdonly}
		vschema:
		  $KEYSPACE: '$EXAMPLES_LOCAL_DIR/vschema_commerce_initial.json'
	YAML
fi
mkdir -p "$VTDATAROOT/vtgate-lite"

vtgate_ready() { mysql -N -B -e 'select 1' >/dev/null 2>&1; }

if pid_alive "$VTGATE_PIDFILE"; then
	log "vtgate-lite is already running (pid $(cat "$VTGATE_PIDFILE")) on $VTGATE_HOST:$VTGATE_MYSQL_PORT"
else
	port_in_use "$VTGATE_MYSQL_PORT" &&
		die "port $VTGATE_MYSQL_PORT is in use by a process not recorded in $VTDATAROOT (an older vtgate-lite?); stop it or set VTGATE_MYSQL_PORT"
	build_vtgate_lite || die "cannot start vtgate-lite (MariaDB is up; SKIP_VTGATE=1 $0 starts only MariaDB)"
	log "Starting vtgate-lite --config $VTGATE_CONFIG (log: $VTGATE_LOG)"
	setsid nohup "$VTGATE_LITE_BIN" --config "$VTGATE_CONFIG" >>"$VTGATE_LOG" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$VTGATE_PIDFILE"
	started=$((started + 1))
	deadline=$((SECONDS + WAIT_SECONDS))
	until vtgate_ready; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$VTGATE_PIDFILE"
			tail -n 40 "$VTGATE_LOG" >&2 || true
			die "vtgate-lite exited during startup (log above: $VTGATE_LOG)"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 40 "$VTGATE_LOG" >&2 || true
			kill -TERM "$pid" 2>/dev/null || true
			rm -f "$VTGATE_PIDFILE"
			die "vtgate-lite did not answer 'select 1' on $VTGATE_HOST:$VTGATE_MYSQL_PORT within ${WAIT_SECONDS}s; stopped it (pid $pid). Log: $VTGATE_LOG"
		fi
		sleep 0.2
	done
fi

echo
if [ "$started" = 0 ]; then
	echo "The $KEYSPACE cluster and vtgate-lite were already up; nothing to do."
else
	echo "The $KEYSPACE cluster is up, with vtgate-lite in front of it."
fi
cat <<-MSG

	Connect through vtgate-lite:
	  mysql -h $VTGATE_HOST -P $VTGATE_MYSQL_PORT -u $VTGATE_USER -p$VTGATE_PASSWORD           # queries
	  mysql -h $VTGATE_HOST -P $VTGATE_MYSQL_PORT -u $VTGATE_ADMIN_USER -p$VTGATE_ADMIN_PASSWORD         # admin commands
	or, after 'source $EXAMPLES_LOCAL_DIR/env.sh', just: mysql
	Metrics: http://$VTGATE_HOST:$VTGATE_HTTP_PORT/metrics    Log: $VTGATE_LOG

	Next (from examples/local, after 'source env.sh'):
	  mysql < ../common/insert_commerce_data.sql
	  mysql --table < ../common/select_commerce_data.sql
	Stop and remove everything: ./401_teardown.sh
MSG
