#!/usr/bin/env bash
# t_ne_urlfilter: the bundled urlfilter extension, signed, installed and sandboxed by uextd
# in a client namespace this test creates, against nginx in a server one: names and URL
# prefixes blocked, live preference changes, per-application rules, a category file, the
# log line of a blocked flow, and SIGKILL of the extension (policy default, restart).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ne_lib.sh"

BUNDLE="$UEXT_BUILD/bundles/urlfilter"
[ -d "$BUNDLE" ] || fail "build first: $BUNDLE"
command -v iptables-restore >/dev/null || skip "needs iptables"
ne_setup || skip "network namespaces unavailable: $(cat "$NE_SETUP_ERR" 2>/dev/null)"

IN_C=(nsenter "--net=/run/netns/$NE_C")
ID=org.uext.urlfilter
"${IN_C[@]}" "$UEXTD" --root "$ROOT" --no-es >>"$UEXTD_LOG" 2>&1 &
UEXTD_PID=$!
ctl status >/dev/null || fail "uextd did not come up"
ne_status() { ctl --json status | jq -c ".ne$1"; }
ne_is() { test "$(ne_status "$1")" "$2" "$3"; }
# get NAME PATH [CURL]: 0 when the page loads
get() { "${IN_C[@]}" timeout 10 "${3:-curl}" -sk --max-time 5 -o /dev/null --resolve "$1:80:$NE_S4" --resolve "$1:443:$NE_S4" "$2"; }
blocked_within() { # NAME URL MS: the request fails, and fast
	local t0=$(($(date +%s%N) / 1000000)) ms
	if get "$1" "$2"; then return 1; fi
	ms=$(($(date +%s%N) / 1000000 - t0))
	[ "$ms" -lt "$3" ] || { echo "took $ms ms" >&2; return 1; }
}
prefs() { ctl prefs set $ID "$1" "$2" >/dev/null || fail "prefs set $1"; }
logged() { grep -c "\[$ID\] blocked .*host=$1" "$UEXTD_LOG"; }

make_key uext
echo '{"allowed_publishers": ["uext"]}' >"$ROOT/etc/uext/policy.json"
cp -r "$BUNDLE" "$WORK/urlfilter"
sign_bundle "$WORK/urlfilter" uext
prefs block '["blocked.test", "http://other.test/private/"]'
ctl install "$WORK/urlfilter" >/dev/null || fail "install: $(tail -5 "$UEXTD_LOG")"
wait_until 10 ne_is .active = true || fail "the extension did not connect as the network filter"
assert_eq "$(ne_status .filter.pid)" "$(json_of $ID pid)" "filter pid"

get allowed.test http://allowed.test/ || fail "allowed.test over HTTP failed"
get allowed.test https://allowed.test/ || fail "allowed.test over HTTPS failed"
blocked_within blocked.test https://blocked.test/ 1500 || fail "blocked.test over HTTPS not reset at once"
blocked_within www.blocked.test http://www.blocked.test/ 1500 || fail "a subdomain of blocked.test passed"
get other.test http://other.test/ || fail "other.test/ failed"
blocked_within other.test http://other.test/private/x 1500 || fail "the URL prefix was not blocked"
ok "names (and their subdomains) and a plain-HTTP URL prefix blocked, the rest loads"

wait_until 5 grep -q "\[$ID\] blocked pid=[0-9]* exe=$(readlink -f "$(command -v curl)") uid=0 host=blocked.test url=- remote=$NE_S4:443 rule=block:blocked.test" "$UEXTD_LOG" ||
	fail "no log line for the blocked flow: $(grep "\[$ID\] blocked" "$UEXTD_LOG" | tail -2)"
ok "a blocked flow is logged with its time, process, host, address and rule"

# live: a preference change applies to the next connection, without a restart
pid=$(json_of $ID pid)
prefs block '["other.test"]'
wait_until 5 grep -q "\[$ID\] rules reloaded" "$UEXTD_LOG" || fail "no reload"
blocked_within other.test http://other.test/ 1500 || fail "other.test not blocked after the change"
get blocked.test http://blocked.test/ || fail "blocked.test still blocked after the change"
assert_eq "$(json_of $ID pid)" "$pid" "the extension's pid (no restart)"
ok "a preference change applies at once, without a restart"

# per application: a copy of curl under another path is told apart
cp "$(command -v curl)" "$WORK/curl2"
prefs apps "[{\"exe\": \"$WORK/curl2\", \"block\": [\"allowed.test\"]}]"
wait_until 5 test "$(grep -c "\[$ID\] rules reloaded" "$UEXTD_LOG")" -ge 2 || fail "no second reload"
get allowed.test http://allowed.test/ || fail "curl was blocked by curl2's rule"
if get allowed.test http://allowed.test/ "$WORK/curl2"; then fail "curl2 was not blocked"; fi
ok "per-application rules tell two programs apart"

# categories: a file in the documented format (hosts form included)
# (a relative path is in the extension's data directory: its sandbox hides the host's /tmp)
printf '# ads\n0.0.0.0 ads.test\n*.tracker.test\nnot a domain!\n' >"$ROOT/var/lib/uext/data/$ID/ads.list"
chmod 0644 "$ROOT/var/lib/uext/data/$ID/ads.list"
prefs categories '{"ads": {"file": "ads.list", "action": "block"}}'
wait_until 5 test "$(grep -c "\[$ID\] rules reloaded" "$UEXTD_LOG")" -ge 3 || fail "no third reload"
blocked_within ads.test http://ads.test/ 1500 || fail "a category name passed: $(grep "\[$ID\]" "$UEXTD_LOG" | tail -3)"
blocked_within x.tracker.test http://x.tracker.test/ 1500 || fail "a category suffix passed"
ok "a category list blocks its names"

# the extension hangs: its flows get the policy default (allow) at the 1 s deadline, never a
# hang; killed, it is restarted by the manager and filters again
kill -STOP "$pid"
t0=$(($(date +%s%N) / 1000000))
get ads.test http://ads.test/ || fail "fail-open: a flow failed while the filter was hung"
ms=$(($(date +%s%N) / 1000000 - t0))
[ "$ms" -lt 2500 ] || fail "a hung filter held a flow for $ms ms"
[ "$(ne_status .counters.deadline_misses)" -ge 1 ] || fail "the missed deadline was not counted"
kill -KILL "$pid"
again() { local p; p=$(json_of $ID pid); [ "$p" != "$pid" ] && [ "$p" != 0 ] && [ "$(ne_status .filter.pid)" = "$p" ]; }
wait_until 10 again || fail "the extension was not restarted as the filter"
blocked_within ads.test http://ads.test/ 1500 || fail "the restarted extension does not filter"
ok "hung extension: its flow allowed by policy at the deadline ($ms ms); SIGKILLed, restarted and filtering again"
