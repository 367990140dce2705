#!/usr/bin/env bash
# Supervision: an extension killed with SIGKILL comes back at once with a new pid; one
# that crashes in a loop ends 'failed' after the crash budget, with the reason shown.
source "$(dirname "$0")/lib.sh"
start_uextd --crash-limit 3 --crash-window 600
make_key uext-examples
echo '{"allowed_publishers": ["uext-examples"]}' >"$ROOT/etc/uext/policy.json"
stop_uextd
start_uextd --crash-limit 3 --crash-window 600
ID=org.uext.example.hello
make_bundle "$WORK/a" 1.0
sign_bundle "$WORK/a" uext-examples
ctl install "$WORK/a" >/dev/null
pid=$(json_of $ID pid)
kill -KILL "$pid"
running_again() { local p; p=$(json_of $ID pid); [ "$p" != "$pid" ] && [ "$p" != 0 ] && [ "$(json_of $ID run)" = running ]; }
wait_until 5 running_again || fail "not restarted after SIGKILL"
assert_eq "$(json_of $ID restarts)" 1 "restart counted"
assert_eq "$(json_of $ID state)" activated_enabled "state after one crash"
ctl history $ID | grep -q "crashed" || fail "crash not in history"
ok "SIGKILLed extension restarted (pid $pid -> $(json_of $ID pid))"

# A bundle whose executable exits at once: it never becomes ready.
make_bundle "$WORK/c" 1.0 org.uext.example.crasher
printf '#!/bin/sh\necho "crasher: giving up" >&2\nexit 3\n' >"$WORK/c/bin/hello"
chmod 755 "$WORK/c/bin/hello"
sign_bundle "$WORK/c" uext-examples
ctl install --no-wait "$WORK/c" >/dev/null
failed() { [ "$(json_of org.uext.example.crasher state)" = failed ]; }
wait_until 10 failed || fail "crash loop did not end in failed"
reason=$(json_of org.uext.example.crasher reason)
echo "$reason" | grep -q "crashed 3 times" || fail "failed reason: $reason"
echo "$reason" | grep -q "exited with status 3" || fail "failed reason lacks the exit: $reason"
ctl list | grep -q "reason: crashed 3 times" || fail "list must show the reason"
grep -q "crasher: giving up" "$UEXTD_LOG" || fail "the extension's stderr is not in the log"
assert_eq "$(json_of org.uext.example.crasher pid)" 0 "no process once failed"
ok "crash loop ends failed: $reason"

# activate gives it a fresh budget
ctl activate --no-wait org.uext.example.crasher >/dev/null
wait_until 10 failed || fail "re-activated crasher did not fail again"
ok "activate retries a failed extension with a fresh budget"
