#!/usr/bin/env bash
# Start when ready: a request made before uextd is up waits for it (bounded), instead of
# failing; with no uextd at all it fails after its timeout with a clear message.
source "$(dirname "$0")/lib.sh"

t0=$SECONDS
if "$UEXTCTL" --timeout 1 status 2>"$WORK/err"; then fail "status answered with no uextd"; fi
grep -q "uextd is not running" "$WORK/err" || fail "message: $(cat "$WORK/err")"
[ $((SECONDS - t0)) -le 3 ] || fail "the 1 s timeout took $((SECONDS - t0)) s"
ok "no manager: refused after the timeout, saying why"

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
