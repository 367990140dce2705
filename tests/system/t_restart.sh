#!/usr/bin/env bash
# uextd killed with SIGKILL and started again keeps every state: enabled ones run again
# (the old processes died with their manager), waiting and disabled ones stay so,
# preferences and history survive, and nothing of the old processes is left.
source "$(dirname "$0")/lib.sh"
start_uextd
make_key uext-examples
for n in a b c; do
	make_bundle "$WORK/$n" 1.0 "org.uext.example.$n"
	sign_bundle "$WORK/$n" uext-examples
	ctl install "$WORK/$n" >/dev/null
done
ctl approve org.uext.example.a >/dev/null
ctl approve org.uext.example.b >/dev/null
ctl deactivate org.uext.example.b >/dev/null
ctl prefs set org.uext.example.a colour '"blue"' >/dev/null
old_pid=$(json_of org.uext.example.a pid)
before=$(ctl list --json | jq -c 'map({identifier, version, state, uid}) | sort_by(.identifier)')

kill -KILL "$UEXTD_PID"
wait "$UEXTD_PID" 2>/dev/null || true
UEXTD_PID=""
# the extension dies with its manager (parent-death signal)
wait_until 5 bash -c "! kill -0 $old_pid" || fail "extension survived its manager"
start_uextd
ctl wait org.uext.example.a running >/dev/null || fail "enabled extension not running after restart"
after=$(ctl list --json | jq -c 'map({identifier, version, state, uid}) | sort_by(.identifier)')
assert_eq "$after" "$before" "states after a manager SIGKILL"
assert_eq "$(json_of org.uext.example.b pid)" 0 "disabled extension stays stopped"
assert_eq "$(json_of org.uext.example.c state)" activated_waiting_for_user "waiting extension still waits"
assert_eq "$(ctl prefs get org.uext.example.a colour)" '"blue"' "preference after restart"
assert_eq "$(ctl prefs get org.uext.example.a starts)" 2 "the extension's own counter survived and counted the restart"
ctl history org.uext.example.a | grep -q "approved by an admin" || fail "history lost"
ok "SIGKILL of uextd: every state, preference and history row kept"
