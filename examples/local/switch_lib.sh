# switch_lib.sh: helpers of 203-205 (sourced after env.sh).
# shellcheck shell=bash

WORKFLOW=customer.commerce2customer

# admin SQL: one admin statement through vtgate-lite, shown as the interactive client shows it.
admin() {
	echo "mysql> $1;"
	mysql_admin --table -vv -e "$1" | awk '
		sep < 2 { if ($0 == "--------------") sep++; next }
		!n && $0 == "" { next }
		$0 == "Bye" { next }
		{ lines[n++] = $0 }
		END { while (n > 0 && lines[n - 1] == "") n--; for (i = 0; i < n; i++) print lines[i] }'
}

# workflow_col N: column N of SHOW MIGRATIONS for $WORKFLOW.
workflow_col() {
	mysql_admin -N -B -e 'SHOW MIGRATIONS' | awk -F'\t' -v wf="$WORKFLOW" -v c="$1" '$1 == wf { print $c }'
}

require_workflow() {
	mysql_admin -N -B -e 'select 1' >/dev/null 2>&1 ||
		die "cannot log in to vtgate-lite as $VTGATE_ADMIN_USER: run ./101_initial_cluster.sh first"
	[ -n "$(workflow_col 1)" ] || die "workflow $WORKFLOW does not exist: run ./202_move_tables.sh first"
}

# where_reads_go: the server that serves a read of customer at each tablet type, and a write.
where_reads_go() {
	local tt
	for tt in rdonly replica primary; do
		echo "mysql> use commerce@$tt; vexplain queries select * from customer where customer_id = 1;"
		mysql --table -e "use commerce@$tt; vexplain queries select * from customer where customer_id = 1"
	done
	echo "mysql> vexplain queries update customer set email = email where customer_id = 1;"
	mysql --table commerce -e "vexplain queries update customer set email = email where customer_id = 1"
}
