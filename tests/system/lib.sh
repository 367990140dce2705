# lib.sh: shared by the system tests. Each test runs a real uextd under a fresh
# temporary root, as root, and tears everything down on exit (even on failure).
# Waits are on conditions (uextctl wait, or wait_until with a deadline), never a
# fixed sleep; every test also runs under CTest's timeout as a watchdog.
set -euo pipefail

: "${UEXT_BUILD:?UEXT_BUILD must point to the build directory}"
: "${UEXT_SRC:?UEXT_SRC must point to the source directory}"
UEXTD="$UEXT_BUILD/src/uextd/uextd"
UEXTCTL="$UEXT_BUILD/src/uextctl/uextctl"
HELLO_BUNDLE="$UEXT_BUILD/bundles/hello"
TEST_NAME="$(basename "${BASH_SOURCE[1]:-$0}" .sh)"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; [ -n "${UEXTD_LOG:-}" ] && [ -f "$UEXTD_LOG" ] && { echo "--- uextd log (tail)" >&2; tail -n 40 "$UEXTD_LOG" >&2; }; exit 1; }
ok() { echo "ok - $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (uextd creates sandboxes and cgroups)"
command -v jq >/dev/null || skip "needs jq"
[ -x "$UEXTD" ] && [ -x "$UEXTCTL" ] || fail "build first: $UEXTD, $UEXTCTL"

# The root must be reachable by the extensions' unprivileged uids (0755).
ROOT="$(mktemp -d /tmp/uext-test.XXXXXX)"
chmod 0755 "$ROOT"
export UEXT_ROOT="$ROOT"
UEXTD_LOG="$ROOT/uextd.log"
UEXTD_PID=""
KEYDIR="$ROOT/keys-private"
WORK="$ROOT/work"
mkdir -p "$KEYDIR" "$WORK"
chmod 0755 "$WORK"

ctl() { "$UEXTCTL" --timeout 10 "$@"; }

start_uextd() {
	"$UEXTD" --root "$ROOT" "$@" >>"$UEXTD_LOG" 2>&1 &
	UEXTD_PID=$!
	# Readiness: uextctl waits (inotify, bounded) for the control socket to answer.
	ctl status >/dev/null || fail "uextd did not come up"
}

stop_uextd() {
	[ -n "$UEXTD_PID" ] || return 0
	kill -TERM "$UEXTD_PID" 2>/dev/null || true
	# bounded: uextd gives extensions 5 s, then kills them
	timeout 15 tail --pid="$UEXTD_PID" -f /dev/null 2>/dev/null || kill -KILL "$UEXTD_PID" 2>/dev/null || true
	wait "$UEXTD_PID" 2>/dev/null || true
	UEXTD_PID=""
}

cleanup() {
	local rc=$?
	stop_uextd # stops the extensions and removes their cgroups
	rm -rf "$ROOT"
	exit $rc
}
trap cleanup EXIT

# wait_until SECONDS CMD...: run CMD every 20 ms until it succeeds or the deadline passes.
wait_until() {
	local secs=$1
	shift
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.02
	done
}

# json_of ID FIELD: a field of one extension from `uextctl list --json`.
json_of() { ctl list --json | jq -r --arg id "$1" ".[] | select(.identifier == \$id) | .$2"; }

# make_key PUBLISHER: key pair in $KEYDIR, public key trusted by the manager.
make_key() {
	ctl keygen "$1" --dir "$KEYDIR" >/dev/null
	mkdir -p "$ROOT/etc/uext/keys"
	cp "$KEYDIR/$1.pub" "$ROOT/etc/uext/keys/"
}

# make_bundle DIR VERSION [IDENT] [PUBLISHER]: a copy of the hello bundle, unsigned.
make_bundle() {
	local dir=$1 ver=$2 id=${3:-org.uext.example.hello} pub=${4:-uext-examples}
	rm -rf "$dir"
	cp -r "$HELLO_BUNDLE" "$dir"
	rm -rf "$dir/_uext"
	jq --arg v "$ver" --arg id "$id" --arg p "$pub" '.version=$v | .identifier=$id | .publisher=$p' \
		"$HELLO_BUNDLE/manifest.json" >"$dir/manifest.json"
}

sign_bundle() { ctl sign "$1" --key "$KEYDIR/$2.key" >/dev/null; }

# proc_field PID FIELD: a line of /proc/PID/status
proc_field() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }

assert_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
