#!/usr/bin/env bash
# 201_customer_tablets.sh: starts the "customer" keyspace and adds it to the running vtgate-lite
# (step 201 of the table-migration walkthrough; run 101_initial_cluster.sh first).
#
#  1. Starts three MariaDB servers exactly like 101 does for commerce: uid 200 primary (17200),
#     uid 201 replica (17201), uid 202 rdonly (17202); the replicas follow the primary by GTID.
#  2. Creates the empty database customer (no tables: MIGRATE TABLES in 202 creates them).
#  3. Adds keyspace customer to $VTDATAROOT/vtgate-lite.yaml (a new file renamed over the old
#     one). vtgate-lite re-reads its config when it changes, so there is no restart: the script
#     waits until SHOW KEYSPACES through vtgate-lite lists customer.
#
# Re-running it is safe: what is already running is left alone, what is missing is started, and
# the config is only rewritten when customer is not in it yet. Processes are recorded in
# $VTDATAROOT/*.pid like 101's; 401_teardown.sh stops them. SKIP_VTGATE=1 stops after step 2.
set -euo pipefail
set +m # no job control: background children keep our PIDs and ignore the terminal's Ctrl-C
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=env.sh
source ./env.sh

KEYSPACE=customer
UIDS=(200 201 202)
TYPES=(primary replica rdonly)
PRIMARY_PORT=$(mysql_port "${UIDS[0]}")
WAIT_SECONDS=30
KEYSPACE_WAIT_SECONDS=15

# vtgate-lite (started by 101) must be running: its config file is where the keyspace goes.
if [ "${SKIP_VTGATE:-0}" != 1 ]; then
	[ -e "$VTGATE_CONFIG" ] || die "$VTGATE_CONFIG does not exist: run ./101_initial_cluster.sh first"
	pid_alive "$VTGATE_PIDFILE" || die "vtgate-lite is not running (no live pid in $VTGATE_PIDFILE): run ./101_initial_cluster.sh first"
fi

started=0 # how many processes this run started
start_keyspace_servers

# An empty database: the migration creates the tables (from SHOW CREATE TABLE on the source).
if [ -z "$(sql "$PRIMARY_PORT" -N -B -e "SHOW DATABASES LIKE '$KEYSPACE'")" ]; then
	log "Creating database $KEYSPACE (empty: MIGRATE TABLES creates its tables)"
	sql "$PRIMARY_PORT" -e "CREATE DATABASE IF NOT EXISTS \`$KEYSPACE\`"
fi

wait_replicas_caught_up "${UIDS[@]:1}"
log "MariaDB: primary 127.0.0.1:$PRIMARY_PORT, replica 127.0.0.1:$(mysql_port 201), rdonly 127.0.0.1:$(mysql_port 202) (GTID $(sql "$PRIMARY_PORT" -N -B -e 'SELECT @@gtid_binlog_pos'))"

if [ "${SKIP_VTGATE:-0}" = 1 ]; then
	log "SKIP_VTGATE=1: not adding $KEYSPACE to vtgate-lite."
	exit 0
fi

# has_keyspace: true when the config's top-level `keyspaces:` map has an entry for $KEYSPACE.
has_keyspace() {
	awk -v ks="$KEYSPACE" '
		/^[^ #]/ { in_ks = ($0 ~ /^keyspaces:[ \t]*$/) ; next }
		in_ks && $0 ~ "^  " ks ":[ \t]*$" { found = 1 }
		END { exit !found }' "$VTGATE_CONFIG"
}

if has_keyspace; then
	log "$VTGATE_CONFIG already has keyspace $KEYSPACE"
else
	log "Adding keyspace $KEYSPACE to $VTGATE_CONFIG (vtgate-lite picks the change up without a restart)"
	tmp="$VTGATE_CONFIG.tmp.$$"
	trap 'rm -f "$tmp"' EXIT
	# The new entry goes at the end of the keyspaces: map (before the next top-level key).
	awk -v ks="$KEYSPACE" -v accounts="$(keyspace_accounts)" -v primary="127.0.0.1:$PRIMARY_PORT" \
		-v replica="127.0.0.1:$(mysql_port 201)" -v rdonly="127.0.0.1:$(mysql_port 202)" '
		function entry() {
			print "  " ks ":"
			print "    database: " ks
			print accounts
			print "    primary: " primary
			print "    replicas:"
			print "      - {address: " replica ", type: replica}"
			print "      - {address: " rdonly ", type: rdonly}"
			done = 1
		}
		/^[^ #]/ {
			if (in_ks && !done) entry()
			in_ks = ($0 ~ /^keyspaces:[ \t]*$/)
		}
		{ print }
		END {
			if (in_ks && !done) entry()
			if (!done) exit 3
		}' "$VTGATE_CONFIG" >"$tmp" || die "no top-level 'keyspaces:' map in $VTGATE_CONFIG; add keyspace $KEYSPACE by hand"
	chmod --reference="$VTGATE_CONFIG" "$tmp" 2>/dev/null || true
	mv -f "$tmp" "$VTGATE_CONFIG"
	trap - EXIT
fi

# vtgate-lite polls its config once a second; wait until it serves the keyspace.
keyspace_served() { mysql_admin -N -B -e 'SHOW KEYSPACES' 2>/dev/null | grep -qx "$KEYSPACE"; }
deadline=$((SECONDS + KEYSPACE_WAIT_SECONDS))
until keyspace_served; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "SHOW KEYSPACES through vtgate-lite:" >&2
		mysql_admin -e 'SHOW KEYSPACES' >&2 || true
		grep -i 'config' "$VTGATE_LOG" | tail -n 10 >&2 || true
		die "vtgate-lite does not list keyspace $KEYSPACE ${KEYSPACE_WAIT_SECONDS}s after the config change (its log: $VTGATE_LOG)"
	fi
	sleep 0.5
done
log "vtgate-lite serves keyspace $KEYSPACE"

echo
if [ "$started" = 0 ]; then
	echo "The $KEYSPACE keyspace was already up and served by vtgate-lite; nothing to do."
else
	echo "The $KEYSPACE keyspace is up and served by vtgate-lite."
fi
mysql_admin --table -e 'SHOW KEYSPACES'
cat <<-MSG

	Next: ./202_move_tables.sh   (MIGRATE TABLES customer, corder FROM commerce TO customer)
MSG
