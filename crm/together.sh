#!/usr/bin/env bash
# Runs the background worker beside the web server and stops both together: Ctrl-C or a
# TERM stops both, and either one ending (a crash, a failed start) stops the other, so the
# site never runs without its worker or the other way round. Used by `make run` and `make serve`.
#
#   crm/together.sh WORKER COMMAND… -- SERVER COMMAND…
set -u
worker=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do worker+=("$1"); shift; done
if [ $# -lt 2 ] || [ ${#worker[@]} -eq 0 ]; then
  echo "usage: $0 WORKER COMMAND… -- SERVER COMMAND…" >&2
  exit 2
fi
shift
"${worker[@]}" &
worker_pid=$!
"$@" &
server_pid=$!

stop() {
  trap - INT TERM EXIT
  kill -TERM "$worker_pid" "$server_pid" 2>/dev/null
  wait "$worker_pid" "$server_pid" 2>/dev/null
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

wait -n "$worker_pid" "$server_pid"
status=$?
if kill -0 "$worker_pid" 2>/dev/null; then name="The web server"; else name="The background worker"; fi
echo "$name stopped (exit status $status); stopping the other one too." >&2
exit "$status"
