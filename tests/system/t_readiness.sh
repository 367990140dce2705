#!/usr/bin/env bash
# Start when ready: a request made before uextd is up waits for it (bounded), instead of
# failing; with no uextd at all it fails after its timeout with a clear message.
source "$(dirname "$0")/lib.sh"

t0=$SECONDS
TIMEFORMAT='%U %S'
if { time "$UEXTCTL" --timeout 1 status 2>"$WORK/err"; } 2>"$WORK/time"; then fail "status answered with no uextd"; fi
grep -q "uextd is not running" "$WORK/err" || fail "message: $(cat "$WORK/err")"
[ $((SECONDS - t0)) -le 3 ] || fail "the 1 s timeout took $((SECONDS - t0)) s"
# it waits without spinning, even with no run directory to watch yet
awk '{ exit !($1 + $2 < 0.25) }' "$WORK/time" || fail "waiting 1 s took $(cat "$WORK/time") s of CPU (user sys)"
ok "no manager: refused after the timeout, saying why, without spinning"

# The client starts first and waits; uextd comes up after it (the run directory does
# not even exist yet).
"$UEXTCTL" --timeout 20 status --json >"$WORK/status.json" 2>"$WORK/err" &
client=$!
# The client is alive while no uextd exists; it can only succeed later by having waited.
[ ! -e "$ROOT/run/uext/control.sock" ] || fail "a control socket exists before uextd"
kill -0 $client 2>/dev/null || fail "client exited before uextd started: $(cat "$WORK/err")"
start_uextd
wait $client || fail "waiting client failed: $(cat "$WORK/err")"
jq -e '.pid > 0' "$WORK/status.json" >/dev/null || fail "status output"
# status says what the kernel offers the Endpoint Security engine, and why not if not
jq -e '.kernel.fanotify | (.permission_events | type == "boolean") and (.permission_events or (.missing_because | length > 0))' \
	"$WORK/status.json" >/dev/null || fail "status lacks the fanotify probe: $(jq -c .kernel "$WORK/status.json")"
ok "a client started before uextd got its answer once uextd was ready"

# install waits until the extension is running, not only until it is installed
make_key uext-examples
echo '{"allowed_publishers":["uext-examples"]}' >"$ROOT/etc/uext/policy.json"
stop_uextd
start_uextd
make_bundle "$WORK/a" 1.0
sign_bundle "$WORK/a" uext-examples
ctl install "$WORK/a" | grep -q "\[activated enabled\] pid [1-9]" || fail "install did not wait for the process"
ok "install returns once the extension is running"

# A second uextd on the same root refuses before touching anything: the first keeps
# its sockets, its extension and its answers.
ino() { stat -c %i "$ROOT/run/uext/control.sock" "$ROOT/run/uext/es.sock" | tr '\n' ' '; }
before=$(ino)
ext_pid=$(json_of org.uext.example.hello pid)
if timeout 10 "$UEXTD" --root "$ROOT" >"$WORK/second.out" 2>&1; then fail "a second uextd started"; fi
grep -qF "already running on root '$(realpath "$ROOT")' (pid $UEXTD_PID " "$WORK/second.out" || fail "second uextd said: $(cat "$WORK/second.out")"
assert_eq "$(ino)" "$before" "socket inodes after a second uextd"
assert_eq "$(ctl status --json | jq .pid)" "$UEXTD_PID" "status answered by"
assert_eq "$(json_of org.uext.example.hello pid)" "$ext_pid" "extension pid after a second uextd"
kill -0 "$ext_pid" || fail "the first manager's extension died"
ok "a second uextd on the same root refuses, naming the first, and changes nothing"

# A manager that is there but does not answer (stopped) is named, not called absent.
kill -STOP "$UEXTD_PID"
rc=0
"$UEXTCTL" --timeout 0.2 status 2>"$WORK/err" >/dev/null || rc=$?
kill -CONT "$UEXTD_PID"
assert_eq "$rc" 1 "exit status of status against a stopped uextd"
grep -qF "no answer from uextd (pid $UEXTD_PID) within" "$WORK/err" || fail "message: $(cat "$WORK/err")"
ctl status >/dev/null || fail "uextd does not answer after SIGCONT"
ok "a stopped uextd: named by its pid, not reported absent"
