#!/usr/bin/env bash
# 401_teardown.sh: stops everything the examples/local scripts started and removes $VTDATAROOT.
#
#  1. Stops vtgate-lite first, then anything else recorded, then the MariaDB servers: each
#     by the PID recorded in $VTDATAROOT/*.pid (checked to be ours), with SIGTERM, then
#     SIGKILL if it is still running after 20 s.
#  2. Removes $VTDATAROOT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=env.sh
source ./env.sh

STOP_SECONDS=20

# stop NAME PIDFILE...: sends SIGTERM to every live process named by the PIDFILEs at once,
# waits up to STOP_SECONDS for all of them, then sends SIGKILL to what is left.
stop() {
	local name=$1 pidfile pid pids=()
	shift
	for pidfile; do
		if pid_alive "$pidfile"; then
			pid=$(cat "$pidfile")
			log "Stopping ${name:+$name }$(basename "$pidfile" .pid) (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
		rm -f "$pidfile"
	done
	local deadline=$((SECONDS + STOP_SECONDS))
	for pid in "${pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null; do
			if [ "$SECONDS" -ge "$deadline" ]; then
				log "pid $pid still running after ${STOP_SECONDS}s: SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.1
		done
	done
}

if [ ! -d "$VTDATAROOT" ]; then
	log "Nothing to tear down: $VTDATAROOT does not exist."
	exit 0
fi

# vtgate-lite first, so no client reaches a half-stopped cluster; then whatever else later
# steps recorded (e.g. a load generator); then every MariaDB server.
shopt -s nullglob
stop "" "$VTGATE_PIDFILE"
others=()
for pidfile in "$VTDATAROOT"/*.pid; do
	case "$(basename "$pidfile")" in mysql_*.pid) ;; *) others+=("$pidfile") ;; esac
done
stop "" "${others[@]}"
stop MariaDB "$VTDATAROOT"/mysql_*.pid

# Refuse to remove anything that does not look like ours.
case "$VTDATAROOT" in
"" | / | "$HOME" | "$REPO_ROOT" | "$EXAMPLES_LOCAL_DIR") die "refusing to remove VTDATAROOT=$VTDATAROOT" ;;
esac
log "Removing $VTDATAROOT"
rm -rf "$VTDATAROOT"
log "Teardown complete."
