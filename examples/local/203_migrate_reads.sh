#!/usr/bin/env bash
# 203_migrate_reads.sh: switches the reads of customer and corder at tablet types rdonly and
# replica to keyspace customer (step 203 of the table-migration walkthrough; run 202 first).
#
#  1. As the admin user, through vtgate-lite:
#       MIGRATE READS customer.commerce2customer TABLET_TYPE rdonly
#       MIGRATE READS customer.commerce2customer TABLET_TYPE replica
#     Each is a routing-rule change, effective at once: reads at that tablet type go to the
#     customer keyspace's server of that type; writes and primary reads stay on commerce.
#  2. Shows where a read and a write go, through VEXPLAIN QUERIES (the servers vtgate-lite used),
#     at tablet types rdonly, replica and primary.
# Re-running it is safe (switching reads that are switched changes nothing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=env.sh
source ./env.sh
# shellcheck source=switch_lib.sh
source ./switch_lib.sh

require_workflow

log "Switching reads at rdonly, then replica, to keyspace customer"
admin "MIGRATE READS $WORKFLOW TABLET_TYPE rdonly"
admin "MIGRATE READS $WORKFLOW TABLET_TYPE replica"
echo
admin 'SHOW MIGRATIONS'
echo
log "Where statements go now (VEXPLAIN QUERIES runs them and lists the backend queries)"
where_reads_go
cat <<-MSG

	Reads of customer and corder at rdonly and replica now come from keyspace customer; writes and
	primary reads still go to commerce. To switch back: MIGRATE REVERSE READS $WORKFLOW TABLET_TYPE rdonly, replica;

	Next: switch writes (204).
MSG
