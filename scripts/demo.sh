#!/usr/bin/env bash
# demo.sh: install the dependencies, build, and show uext at work under a private root
# (default /tmp/uext-demo; nothing outside it is touched). Every step is real: a real
# uextd, a real signed bundle, a real sandboxed process read back from /proc.
#   --root DIR     where to run (removed and re-created)
#   --no-build     use the existing build/ directory
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
DEMO_ROOT=/tmp/uext-demo
build=1
while [ $# -gt 0 ]; do
	case "$1" in
	--root) DEMO_ROOT=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	-h|--help) sed -n '2,7p' "$0"; exit 0 ;;
	*) echo "demo.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: run as root: uextd creates sandboxes (uids, namespaces, cgroups)" >&2
	exit 1
fi
if [ $build = 1 ]; then
	./scripts/deps.sh
	echo "building..."
	./scripts/build.sh build >/dev/null
fi
B=$SRC/build
UEXTD=$B/src/uextd/uextd
UEXTCTL=$B/src/uextctl/uextctl
ID=org.uext.example.hello

bold=$(tput bold 2>/dev/null || true)
dim=$(tput dim 2>/dev/null || true)
off=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }
# uextctl and uextd from the build, and the root for every uextctl call, so each command
# shown below can be pasted as it is.
export PATH="$B/src/uextctl:$B/src/uextd:$PATH" UEXT_ROOT="$DEMO_ROOT"
ctl() { uextctl "$@"; }
show_proc() {
	local pid=$1
	printf '   pid %s: ' "$pid"
	awk '/^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):/ { printf "%s %s  ", $1, $2 } END { print "" }' "/proc/$pid/status"
	printf '   mount namespace %s (uextd: %s)\n' "$(readlink /proc/$pid/ns/mnt)" "$(readlink /proc/self/ns/mnt)"
}

umount -l "$DEMO_ROOT/watched" 2>/dev/null || true
rm -rf "$DEMO_ROOT"
mkdir -p "$DEMO_ROOT/keys-private" "$DEMO_ROOT/bundles" "$DEMO_ROOT/watched"
chmod 755 "$DEMO_ROOT"
# The Endpoint Security engine watches a tmpfs of the demo's own, never a host filesystem.
mount -t tmpfs -o size=64m,mode=0755 uext-demo "$DEMO_ROOT/watched"
W=$DEMO_ROOT/watched
UEXTD_PID=""
ESLOG_PID=""
NET_UEXTD_PID=""
cleanup() {
	[ -n "$ESLOG_PID" ] && kill -INT "$ESLOG_PID" 2>/dev/null || true
	if [ -n "$NET_UEXTD_PID" ]; then
		kill -TERM "$NET_UEXTD_PID" 2>/dev/null || true
		timeout 15 tail --pid="$NET_UEXTD_PID" -f /dev/null 2>/dev/null || kill -KILL "$NET_UEXTD_PID" 2>/dev/null || true
	fi
	if [ -n "$UEXTD_PID" ]; then
		kill -TERM "$UEXTD_PID" 2>/dev/null || true
		timeout 15 tail --pid="$UEXTD_PID" -f /dev/null 2>/dev/null || kill -KILL "$UEXTD_PID" 2>/dev/null || true
	fi
	umount -l "$W" 2>/dev/null || true
}
trap cleanup EXIT

step "1. start the manager under $DEMO_ROOT (its log is indented below); file events on $W"
"$UEXTD" --root "$DEMO_ROOT" --es-watch "$W" 2>&1 | sed -u 's/^/      uextd| /' &
UEXTD_PID=$(pgrep -n -f "^$UEXTD --root $DEMO_ROOT" || true)
ctl status >/dev/null # waits (bounded) until the control socket answers
UEXTD_PID=$(pgrep -n -f "^$UEXTD --root $DEMO_ROOT")
run uextctl status

step "2. a publisher key, trusted by this manager"
run uextctl keygen uext-examples --dir "$DEMO_ROOT/keys-private"
run cp "$DEMO_ROOT/keys-private/uext-examples.pub" "$DEMO_ROOT/etc/uext/keys/"

step "3. sign the example extension (version 1.0) and install it"
cp -r "$B/bundles/hello" "$DEMO_ROOT/bundles/hello-1.0"
run cat "$DEMO_ROOT/bundles/hello-1.0/manifest.json"
run uextctl sign "$DEMO_ROOT/bundles/hello-1.0" --key "$DEMO_ROOT/keys-private/uext-examples.key"
run uextctl install "$DEMO_ROOT/bundles/hello-1.0"
run uextctl list

step "4. an admin approves it: it starts, sandboxed"
run uextctl approve $ID
pid=$(ctl list --json | jq -r ".[] | select(.identifier==\"$ID\") | .pid")
show_proc "$pid"
run uextctl prefs get $ID

step "5. a tampered copy is refused, naming the file"
cp -r "$DEMO_ROOT/bundles/hello-1.0" "$DEMO_ROOT/bundles/tampered"
jq '.version="9.9"' "$DEMO_ROOT/bundles/hello-1.0/manifest.json" >"$DEMO_ROOT/bundles/tampered/manifest.json"
run uextctl install "$DEMO_ROOT/bundles/tampered" || true

step "6. kill it with SIGKILL: the manager restarts it"
run kill -KILL "$pid"
for _ in $(seq 250); do
	npid=$(ctl list --json | jq -r ".[] | select(.identifier==\"$ID\" and .run==\"running\") | .pid")
	[ -n "$npid" ] && [ "$npid" != "$pid" ] && [ "$npid" != 0 ] && break
	sleep 0.02
done
echo "   pid $pid -> ${npid:-?}"
run uextctl list

step "7. live preferences: a heartbeat every second, set while it runs"
run uextctl prefs set $ID heartbeat_s 1
ctl wait $ID running >/dev/null
sleep 2.2 # let two heartbeats show in the log above
run uextctl prefs set $ID heartbeat_s 0

step "8. upgrade to 1.1: staged and verified first, then the old process is replaced"
cp -r "$DEMO_ROOT/bundles/hello-1.0" "$DEMO_ROOT/bundles/hello-1.1"
jq '.version="1.1"' "$DEMO_ROOT/bundles/hello-1.0/manifest.json" >"$DEMO_ROOT/bundles/hello-1.1/manifest.json"
run uextctl sign "$DEMO_ROOT/bundles/hello-1.1" --key "$DEMO_ROOT/keys-private/uext-examples.key"
run uextctl install "$DEMO_ROOT/bundles/hello-1.1"
run uextctl list

step "9. remove it"
run uextctl uninstall $ID
run uextctl list
run uextctl history $ID

step "10. legacy kernel modules on this host (the analogue of macOS's legacy extension notice)"
run uextctl legacy

step "11. Endpoint Security: the bundled exec logger, an ES extension, logs every exec"
run uextctl keygen uext --dir "$DEMO_ROOT/keys-private"
cp "$DEMO_ROOT/keys-private/uext.pub" "$DEMO_ROOT/etc/uext/keys/"
echo '{"allowed_publishers": ["uext"]}' >"$DEMO_ROOT/etc/uext/policy.json"
cp -r "$B/bundles/execlog" "$DEMO_ROOT/bundles/execlog"
run uextctl sign "$DEMO_ROOT/bundles/execlog" --key "$DEMO_ROOT/keys-private/uext.key"
run uextctl install "$DEMO_ROOT/bundles/execlog"
# The demo's own tools (jq, uextctl, sleep) would fill the log: mute them, live.
run uextctl prefs set org.uext.execlog mute_prefixes "[\"/usr/\", \"$B/\"]"
cp /bin/true "$W/hello-world"
run "$W/hello-world" --from-the-demo
sleep 0.3 # let its log line show above

step "12. uext-eslogger: live process and file events as text (Apple's eslogger for uext)"
ESLOG=$B/src/eslogger/uext-eslogger
printf '%s$ %s%s\n' "$dim" "uext-eslogger --format text --path-prefix $W exec open create write rename unlink close" "$off"
"$ESLOG" --format text --path-prefix "$W" exec open create write rename unlink close 2>&1 | sed -u 's/^/      eslogger| /' &
ESLOG_PID=$(pgrep -n -f "^$ESLOG --format text")
for _ in $(seq 100); do [ "$(ctl --json status | jq '.es.clients | length')" -ge 2 ] && break; sleep 0.05; done
run sh -c "echo secret > $W/notes.txt; cat $W/notes.txt >/dev/null; mv $W/notes.txt $W/notes.old; rm $W/notes.old; $W/hello-world"
sleep 0.5
kill -INT "$ESLOG_PID"
timeout 5 tail --pid="$ESLOG_PID" -f /dev/null || true
ESLOG_PID=""
step "13. the same events as JSON Lines, with Apple's eslogger field names (one shown)"
"$ESLOG" --count 1 --path-prefix "$W" exec >"$DEMO_ROOT/one-exec.json" 2>/dev/null &
epid=$!
for _ in $(seq 100); do [ "$(ctl --json status | jq '.es.clients | length')" -ge 2 ] && break; sleep 0.05; done
"$W/hello-world" json please
timeout 5 tail --pid="$epid" -f /dev/null || true
jq '{event_type, time, process: {pid: .process.audit_token.pid, executable: .process.executable.path}, event: {exec: {args: .event.exec.args, target: .event.exec.target.executable.path, cwd: .event.exec.cwd.path}}}' "$DEMO_ROOT/one-exec.json" | sed 's/^/   /'
run uextctl status

step "14. the network filter: the bundled urlfilter extension in two namespaces of the demo's own"
# The host's own traffic is never filtered by the demo: a second manager runs in a client
# namespace joined to a server namespace (nginx over HTTP and HTTPS, dnsmasq) by one veth.
export UEXT_BUILD=$B UEXT_SRC=$SRC
source "$SRC/tests/system/ne_lib.sh"
if ne_setup; then
	NR=$DEMO_ROOT/net
	mkdir -p "$NR/etc/uext/keys" && chmod 755 "$NR"
	cp "$DEMO_ROOT/keys-private/uext.pub" "$NR/etc/uext/keys/"
	echo '{"allowed_publishers": ["uext"]}' >"$NR/etc/uext/policy.json"
	nsenter --net="/run/netns/$NE_C" "$UEXTD" --root "$NR" --no-es 2>&1 | sed -u 's/^/      uextd(net)| /' &
	NET_UEXTD_PID=$(pgrep -n -f "^$UEXTD --root $NR")
	nctl() { uextctl --root "$NR" "$@"; }
	nctl status >/dev/null
	cp -r "$B/bundles/urlfilter" "$DEMO_ROOT/bundles/urlfilter"
	run uextctl sign "$DEMO_ROOT/bundles/urlfilter" --key "$DEMO_ROOT/keys-private/uext.key"
	run uextctl --root "$NR" prefs set org.uext.urlfilter block '["blocked.test", "http://allowed.test/private/"]'
	run uextctl --root "$NR" install "$DEMO_ROOT/bundles/urlfilter"
	for _ in $(seq 100); do [ "$(nctl --json status | jq -r .ne.active)" = true ] && break; sleep 0.05; done
	for url in http://allowed.test/ https://allowed.test/ https://blocked.test/ http://blocked.test/ http://allowed.test/private/x; do
		t0=$(date +%s%N)
		out=$(ne_curl -o /dev/null -w '%{http_code}|%{errormsg}' "$url" 2>/dev/null) || true # blocked ones fail
		[ "${out%%|*}" = 000 ] && res="refused at once: ${out#*|}" || res="HTTP ${out%%|*}"
		printf '   curl %-32s -> %s (%d ms)\n' "$url" "$res" $((($(date +%s%N) - t0) / 1000000))
	done
	sleep 0.3 # the blocked-flow lines above come from the extension's log
	nctl status | grep '^ne ' | sed 's/^/   /'
else
	echo "   (skipped: $(cat "$NE_SETUP_ERR" 2>/dev/null))"
fi

step "done: stopping the manager"
