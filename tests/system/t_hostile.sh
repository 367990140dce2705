#!/usr/bin/env bash
# A malformed message closes that peer, never uextd: garbage on the control socket, and
# an extension that writes garbage on its manager socket (it is killed and counted as
# a crash with a protocol error in its history; the manager goes on).
source "$(dirname "$0")/lib.sh"
start_uextd
"$UEXT_BUILD/tests/ipc_garbage" "$ROOT/run/uext/control.sock" 400 | tee "$WORK/g.out"
grep -q "sent=400 closed=400" "$WORK/g.out" || fail "uextd must close every hostile client: $(cat "$WORK/g.out")"
kill -0 "$UEXTD_PID" || fail "uextd died"
ctl status >/dev/null || fail "uextd does not answer after the garbage"
ok "400 malformed control messages: each peer closed, uextd unharmed"

make_key uext-examples
echo '{"allowed_publishers":["uext-examples"]}' >"$ROOT/etc/uext/policy.json"
stop_uextd
start_uextd
make_bundle "$WORK/g" 1.0 org.uext.example.garbage
# A datagram on fd 3 that no schema accepts, then wait to be killed.
printf '#!/bin/bash\nprintf "\\x28\\x00\\x05\\x00garbage-garbage-garbage" >&3\nexec sleep 60\n' >"$WORK/g/bin/hello"
chmod 755 "$WORK/g/bin/hello"
sign_bundle "$WORK/g" uext-examples
ctl install --no-wait "$WORK/g" >/dev/null
proto_err() { ctl history org.uext.example.garbage --json | jq -e 'map(.to) | index("protocol-error")'; }
wait_until 10 proto_err || fail "no protocol error recorded"
ctl history org.uext.example.garbage | grep -q "killed by signal 9" || fail "the extension was not killed"
[ "$(ctl status --json | jq .counters.protocol_errors)" -ge 1 ] || fail "protocol error not counted"
kill -0 "$UEXTD_PID" || fail "uextd died"
ok "an extension sending garbage is killed and counted; uextd goes on"
