#!/usr/bin/env bash
# An Endpoint Security extension: the bundled exec logger runs in uextd's sandbox, gets its
# client connection from the manager (its sandbox cannot reach the es socket), and logs
# the execs the test makes; a SIGKILLed ES extension is restarted and is a client again.
source "$(dirname "$0")/es_lib.sh"
BUNDLE="$UEXT_BUILD/bundles/execlog"
[ -d "$BUNDLE" ] || fail "build first: $BUNDLE"
start_uextd --es-watch "$MNT"
make_key uext
echo '{"allowed_publishers": ["uext"]}' >"$ROOT/etc/uext/policy.json"
cp -r "$BUNDLE" "$WORK/execlog"
sign_bundle "$WORK/execlog" uext
ctl install "$WORK/execlog" >/dev/null || fail "install: $(tail -5 "$UEXTD_LOG")"
ID=org.uext.execlog
wait_until 10 grep -q "\[$ID\] logging every exec" "$UEXTD_LOG" || fail "the extension did not subscribe"
assert_eq "$(es_status '.clients | length')" 1 "es clients"
cp /bin/true "$MNT/marker-prog"
"$MNT/marker-prog" alpha beta
wait_until 10 grep -q "\[$ID\] exec pid=[0-9]* ppid=$$ uid=0 $MNT/marker-prog argv=\[\"$MNT/marker-prog\",\"alpha\",\"beta\"\]" "$UEXTD_LOG" ||
	fail "no exec line for marker-prog: $(grep "\[$ID\]" "$UEXTD_LOG" | tail -3)"
ok "the exec logger extension logs an exec with pid, ppid, uid, path and argv"

pid=$(json_of $ID pid)
kill -KILL "$pid"
again() { local p; p=$(json_of $ID pid); [ "$p" != "$pid" ] && [ "$p" != 0 ] && [ "$(json_of $ID run)" = running ]; }
wait_until 10 again || fail "not restarted"
wait_until 10 es_is '.clients | length' = 1 || fail "the restarted extension is not a client: $(es_status .clients)"
"$MNT/marker-prog" gamma
wait_until 10 grep -q "marker-prog\",\"gamma\"" "$UEXTD_LOG" || fail "no exec line after the restart"
ok "SIGKILLed ES extension restarted and logging again"
