#!/usr/bin/env bash
# 205_clean_commerce.sh: completes the migration (step 205 of the table-migration walkthrough;
# run 204 first).
#
#  1. MIGRATE COMPLETE customer.commerce2customer DRY RUN, then MIGRATE COMPLETE: stops and
#     removes the reverse stream, removes the routing rules and commerce's VSchema entries of
#     customer and corder, and drops commerce.customer and commerce.corder.
#     (RENAME TABLES renames them to _vt_old_<name> instead; KEEP DATA leaves them.)
#  2. Shows that commerce.customer is gone (ERROR 1146) while customer, customer.customer and
#     commerce.product keep working.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=env.sh
source ./env.sh
# shellcheck source=switch_lib.sh
source ./switch_lib.sh

require_workflow

if [ "$(workflow_col 5)" = Completed ]; then
	log "Workflow $WORKFLOW is already completed"
else
	admin "MIGRATE COMPLETE $WORKFLOW DRY RUN"
	echo
	admin "MIGRATE COMPLETE $WORKFLOW"
fi
echo
admin 'SHOW MIGRATIONS'
echo
log "commerce.customer no longer exists"
echo "mysql> select * from commerce.customer;"
if mysql -e 'select * from commerce.customer' 2>&1; then
	die "commerce.customer still answers"
fi
echo
for q in 'select * from customer' 'select * from customer.customer' 'select * from commerce.product'; do
	echo "mysql> $q;"
	mysql --table -e "$q"
done
cat <<-MSG

	The migration is complete: customer and corder live in keyspace customer only.
	Tear down with ./401_teardown.sh
MSG
