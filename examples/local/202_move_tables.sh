#!/usr/bin/env bash
# 202_move_tables.sh: starts moving tables customer and corder from keyspace commerce to keyspace
# customer (step 202 of the table-migration walkthrough; run 101 and 201 first).
#
#  1. As the admin user, through vtgate-lite (15306):
#       MIGRATE TABLES customer, corder FROM commerce TO customer
#     which creates workflow customer.commerce2customer (<target keyspace>.<source>2<target>).
#     The statement returns at once; vtgate-lite copies the rows and then follows commerce's
#     binlog in the background. Until reads and writes are switched (203, 204) every query for
#     customer and corder still goes to commerce.
#  2. Shows the progress: polls SHOW MIGRATION customer.commerce2customer until the workflow's
#     state (SHOW MIGRATIONS, column state) is Running, i.e. the copy is done and the binlog is
#     being followed; then prints SHOW MIGRATIONS and SHOW MIGRATION.
#  3. Verifies the copy: VDIFF customer.commerce2customer, then polls
#     SHOW VDIFF customer.commerce2customer LAST until the comparison is completed.
#
# The questions the Vitess guide leaves open (its TODOs):
#  - Does this session need to stay alive? No. The workflow runs inside vtgate-lite, not in the
#    client: MIGRATE TABLES returns as soon as the workflow is recorded, and you may disconnect.
#  - How do we monitor it? SHOW MIGRATIONS (every workflow: state, rows copied, lag) and
#    SHOW MIGRATION <keyspace>.<workflow> (per table: state, rows, rate, ETA, binlog position).
#  - How do we resume if it failed? Nothing to do in the usual cases: the workflow's state lives
#    in the sidecar schema _vt_lite on the target primary, and after a vtgate-lite restart (or a
#    MariaDB restart, or a lost connection) it carries on from the last committed position by
#    itself. A workflow in state Error shows why in the message column; after fixing the cause,
#    MIGRATE START customer.commerce2customer starts it again (MIGRATE STOP pauses it).
#
# Re-running it is safe: an existing workflow customer.commerce2customer is not created again
# (its progress is shown and a new VDIFF is run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=env.sh
source ./env.sh

WORKFLOW=customer.commerce2customer
RUNNING_WAIT_SECONDS=${RUNNING_WAIT_SECONDS:-60}
VDIFF_WAIT_SECONDS=${VDIFF_WAIT_SECONDS:-60}

# admin SQL: one admin statement through vtgate-lite, shown as the interactive client would
# show it (the statement, then the table or "Query OK" with the server's message). -vv makes
# the batch client print those; the awk drops the statement echo and the "Bye" it adds.
admin() {
	echo "mysql> $1;"
	mysql_admin --table -vv -e "$1" | awk '
		sep < 2 { if ($0 == "--------------") sep++; next }
		!n && $0 == "" { next }
		$0 == "Bye" { next }
		{ lines[n++] = $0 }
		END { while (n > 0 && lines[n - 1] == "") n--; for (i = 0; i < n; i++) print lines[i] }'
}

mysql_admin -N -B -e 'select 1' >/dev/null 2>&1 ||
	die "cannot log in to vtgate-lite as $VTGATE_ADMIN_USER on $VTGATE_HOST:$VTGATE_MYSQL_PORT: run ./101_initial_cluster.sh first"
mysql_admin -N -B -e 'SHOW KEYSPACES' | grep -qx customer ||
	die "vtgate-lite does not serve keyspace customer: run ./201_customer_tablets.sh first"

# workflow_state: the state column of SHOW MIGRATIONS for $WORKFLOW ("" when there is none).
workflow_state() {
	mysql_admin -N -B -e 'SHOW MIGRATIONS' | awk -F'\t' -v wf="$WORKFLOW" '$1 == wf { print $5 }'
}

if [ -n "$(workflow_state)" ]; then
	log "Workflow $WORKFLOW already exists (state $(workflow_state)); not creating it again"
else
	log "Starting the migration"
	admin 'MIGRATE TABLES customer, corder FROM commerce TO customer'
fi

# Progress, one line per poll: the workflow's state and each table's state and rows copied.
log "Waiting (up to ${RUNNING_WAIT_SECONDS}s) for $WORKFLOW to reach state Running"
deadline=$((SECONDS + RUNNING_WAIT_SECONDS))
while :; do
	tables=$(mysql_admin -N -B -e "SHOW MIGRATION $WORKFLOW" | awk -F'\t' '{ printf "%s%s: %s, %s/%s rows", sep, $1, $2, $3, $4; sep = "; " }')
	state=$(workflow_state) # after the tables: it may be a step ahead of them, never behind
	log "state ${state:-?}  ($tables)"
	case "$state" in
	Running) break ;;
	Error | Stopped)
		admin 'SHOW MIGRATIONS'
		admin "SHOW MIGRATION $WORKFLOW"
		die "workflow $WORKFLOW is $state (see the message column above)"
		;;
	esac
	if [ "$SECONDS" -ge "$deadline" ]; then
		admin 'SHOW MIGRATIONS'
		admin "SHOW MIGRATION $WORKFLOW"
		die "workflow $WORKFLOW is not Running after ${RUNNING_WAIT_SECONDS}s (state: ${state:-none})"
	fi
	sleep 1
done

echo
admin 'SHOW MIGRATIONS'
echo
admin "SHOW MIGRATION $WORKFLOW"

# VDIFF: compares source and target at one binlog position, while the stream keeps going.
echo
log "Verifying the copy"
admin "VDIFF $WORKFLOW"
deadline=$((SECONDS + VDIFF_WAIT_SECONDS))
while :; do
	# Column 3 is each table's state: running, completed or error.
	states=$(mysql_admin -N -B -e "SHOW VDIFF $WORKFLOW LAST" | awk -F'\t' '{ print $3 }' | sort -u | tr '\n' ' ')
	case "$states" in
	"completed ") break ;;
	*error* | *interrupted*)
		admin "SHOW VDIFF $WORKFLOW LAST"
		die "VDIFF of $WORKFLOW did not complete (table states: $states)"
		;;
	esac
	if [ "$SECONDS" -ge "$deadline" ]; then
		admin "SHOW VDIFF $WORKFLOW LAST"
		die "VDIFF of $WORKFLOW not completed after ${VDIFF_WAIT_SECONDS}s (table states: ${states:-none})"
	fi
	sleep 1
done
echo
admin "SHOW VDIFF $WORKFLOW LAST"

cat <<-MSG

	Workflow $WORKFLOW is Running: customer and corder are copied to keyspace customer and kept
	current from commerce's binlog. Reads and writes still go to commerce.

	- This session did not need to stay alive: the workflow runs inside vtgate-lite.
	- Monitor it any time (as $VTGATE_ADMIN_USER): SHOW MIGRATIONS; SHOW MIGRATION $WORKFLOW;
	- After a vtgate-lite restart it resumes by itself from its last committed position.
	  In state Error, fix the cause shown in the message column, then: MIGRATE START $WORKFLOW;

	Next: switch reads (203), then writes (204).
MSG
