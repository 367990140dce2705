# es_lib.sh: shared by the Endpoint Security system tests. Sourced instead of lib.sh.
# The test re-executes itself in a private mount namespace and mounts a tmpfs there:
# uextd's permission marks go on that tmpfs only, never on a filesystem the runner uses,
# and they vanish with the namespace whatever happens. Every AUTH also has uextd's
# deadline, and CTest's timeout is the outer watchdog.
if [ -z "${UEXT_ES_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (fanotify permission events)"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: needs unshare (util-linux)"; exit 77; }
	exec env UEXT_ES_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROBE="$UEXT_BUILD/tests/es_probe"
[ -x "$PROBE" ] || fail "build first: $PROBE"
MNT="$ROOT/mnt"
mkdir -p "$MNT"
mount -t tmpfs -o size=512m,mode=0755 uext-es-test "$MNT" || skip "cannot mount a tmpfs"
declare -A PROBE_PIDS=()

es_cleanup() {
	local rc=$?
	if declare -F es_cleanup_hook >/dev/null; then es_cleanup_hook || true; fi # the test's own
	for p in "${PROBE_PIDS[@]}"; do { kill -KILL "$p" && wait "$p"; } 2>/dev/null || true; done
	stop_uextd
	umount -l "$MNT" 2>/dev/null || true
	rm -rf "$ROOT"
	exit $rc
}
trap es_cleanup EXIT

# start_probe NAME ARGS...: an ES client in the background, output in $ROOT/NAME.out;
# returns once it has subscribed (its "ready" line).
start_probe() {
	local name=$1
	shift
	: >"$ROOT/$name.out"
	"$PROBE" "$@" >"$ROOT/$name.out" 2>"$ROOT/$name.err" &
	PROBE_PIDS[$name]=$!
	wait_until 10 grep -qx ready "$ROOT/$name.out" || { cat "$ROOT/$name.err" >&2; fail "probe $name did not start"; }
}

# stop_probe NAME: SIGTERM, wait for its summary line.
stop_probe() {
	local p=${PROBE_PIDS[$1]}
	kill -TERM "$p" 2>/dev/null || true
	timeout 60 tail --pid="$p" -f /dev/null || fail "probe $1 did not exit"
	wait "$p" 2>/dev/null || true
	unset "PROBE_PIDS[$1]"
}

# probe_lines NAME JQ-FILTER: the messages of probe NAME that the filter selects.
probe_lines() { grep '^{"type"' "$ROOT/$1.out" | jq -c "select($2)"; }
probe_count() { probe_lines "$1" "$2" | wc -l; }

# sync_probe NAME [DIR]: make an event every probe subscribed to AUTH_OPEN/NOTIFY_OPEN sees
# last, and wait until NAME has printed it; everything before it has been delivered.
SYNC_N=0
sync_probe() {
	SYNC_N=$((SYNC_N + 1))
	local f="${2:-$MNT}/.sync.$SYNC_N"
	: >"$f"
	cat "$f" >/dev/null
	wait_until 10 grep -q "\"path\":\"$f\"" "$ROOT/$1.out" || fail "probe $1 never saw $f"
}

# json_list ARG...: the arguments as a compact JSON array of strings (no newlines in them).
json_list() { printf '%s\n' "$@" | jq -R . | jq -sc .; }

# now_ms: monotonic-enough milliseconds for latency assertions.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

es_status() { ctl --json status | jq -c ".es$1"; }
# es_is FILTER OP VALUE: a test on a status field, evaluated afresh on every call (for
# wait_until: "$(es_status ...)" as an argument would be evaluated once, before it).
es_is() { test "$(es_status "$1")" "$2" "$3"; }
