#!/usr/bin/env bash
# 204_migrate_writes.sh: switches the writes (and primary reads) of customer and corder to
# keyspace customer (step 204 of the table-migration walkthrough; run 203 first).
#
#  1. MIGRATE WRITES customer.commerce2customer DRY RUN: the checks and steps, nothing changed.
#  2. MIGRATE WRITES customer.commerce2customer TIMEOUT 30s MAX LAG 30s: vtgate-lite holds the
#     statements on customer and corder (they wait, they do not fail), lets the transactions in
#     flight on them finish, reads commerce's position only then, waits until the customer
#     keyspace has applied it, starts the reverse stream commerce.commerce2customer_reverse
#     (customer -> commerce, so commerce stays current for a rollback), swaps the routing rules
#     in one step and releases the held statements to customer.
#  3. Shows that reads and writes of customer go to keyspace customer, and that the row written
#     reaches commerce through the reverse stream.
# Rollback, any time before 205: MIGRATE REVERSE WRITES customer.commerce2customer
# Re-running it is safe: with writes already switched it only shows where statements go.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=env.sh
source ./env.sh
# shellcheck source=switch_lib.sh
source ./switch_lib.sh

require_workflow

if [ "$(workflow_col 7)" = yes ]; then
	log "Writes of $WORKFLOW are already switched"
else
	log "Dry run: the checks and the steps, nothing changes"
	admin "MIGRATE WRITES $WORKFLOW DRY RUN"
	echo
	log "Switching writes to keyspace customer"
	admin "MIGRATE WRITES $WORKFLOW TIMEOUT 30s MAX LAG 30s"
fi
echo
admin 'SHOW MIGRATIONS'
echo
log "Where statements go now"
where_reads_go
echo
log "A write through vtgate-lite goes to customer; the reverse stream brings it to commerce"
if [ "$(mysql -N -B commerce -e "select count(*) from customer where email='grace@domain.com'")" = 0 ]; then
	mysql commerce -e "insert into customer(email) values('grace@domain.com')"
fi
sleep 2
echo "customer keyspace primary:"
mysql_backend "$(mysql_port 200)" customer -N -B -e "select customer_id, email from customer where email='grace@domain.com'"
echo "commerce keyspace primary (through commerce.commerce2customer_reverse):"
mysql_backend "$(mysql_port 100)" commerce -N -B -e "select customer_id, email from customer where email='grace@domain.com'"
cat <<-MSG

	Reads and writes of customer and corder now go to keyspace customer. commerce is kept current
	by commerce.commerce2customer_reverse: MIGRATE REVERSE WRITES $WORKFLOW switches back.

	Next: clean up commerce (205).
MSG
