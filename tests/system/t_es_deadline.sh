#!/usr/bin/env bash
# AUTH deadlines: a client stopped with SIGSTOP releases every blocked process within its
# deadline plus a small margin, with the default verdict (allow, or deny when uextd runs
# fail-closed); a client killed with SIGKILL releases them at once; a client that keeps
# missing is killed by uextd and counted.
source "$(dirname "$0")/es_lib.sh"
DEADLINE=800
MARGIN=700
echo data >"$MNT/f"

# opens_in_background N: N processes open the file; their pids in BG.
opens_in_background() {
	BG=()
	for i in $(seq "$1"); do
		cat "$MNT/f" >"$ROOT/out.$i" 2>&1 &
		BG+=($!)
	done
}
# wait_bg: wait for BG (in this shell: a subshell cannot wait for them); FAILED = how many failed.
wait_bg() {
	FAILED=0
	for p in "${BG[@]}"; do wait "$p" || FAILED=$((FAILED + 1)); done
}

start_uextd --es-watch "$MNT" --es-deadline $DEADLINE --es-misses 1000
start_probe s auth_open
kill -STOP "${PROBE_PIDS[s]}"
t0=$(now_ms)
opens_in_background 5
wait_bg; failed=$FAILED
dt=$(($(now_ms) - t0))
kill -CONT "${PROBE_PIDS[s]}"
assert_eq "$failed" 0 "opens failed under fail-open default"
[ $dt -ge $((DEADLINE - 100)) ] || fail "released after $dt ms: before the deadline, so nobody waited?"
[ $dt -le $((DEADLINE + MARGIN)) ] || fail "released after $dt ms (deadline $DEADLINE ms + margin $MARGIN ms)"
[ "$(es_status .counters.default_allow)" -ge 5 ] || fail "default verdicts not counted: $(es_status .counters)"
[ "$(es_status '.clients[0].deadline_misses')" -ge 5 ] || fail "misses not counted per client"
ok "SIGSTOPped client: 5 blocked opens released with ALLOW after $dt ms (deadline $DEADLINE ms)"

# SIGKILL: released at once, long before the deadline.
stop_probe s
stop_uextd
start_uextd --es-watch "$MNT" --es-deadline 10000
start_probe k --silent auth_open
opens_in_background 3
wait_until 5 es_is .auth_pending -ge 3 || fail "opens did not block: $(es_status .)"
t0=$(now_ms)
kill -KILL "${PROBE_PIDS[k]}"
wait "${PROBE_PIDS[k]}" 2>/dev/null || true
wait_bg; failed=$FAILED
dt=$(($(now_ms) - t0))
unset "PROBE_PIDS[k]"
assert_eq "$failed" 0 "opens after the client died"
[ $dt -le 1000 ] || fail "released $dt ms after SIGKILL (deadline 10 s)"
ok "SIGKILLed client: 3 blocked opens released $dt ms after the kill"

# Fail-closed: the default verdict is deny.
stop_uextd
start_uextd --es-watch "$MNT" --es-deadline $DEADLINE --es-fail-closed --es-misses 1000
start_probe c --silent auth_open
opens_in_background 2
wait_bg; failed=$FAILED
assert_eq "$failed" 2 "opens under fail-closed with a silent client"
grep -q "Operation not permitted" "$ROOT/out.1" || fail "fail-closed: want EPERM, got $(cat "$ROOT/out.1")"
[ "$(es_status .miss_default)" = '"deny"' ] || fail "status must say the miss default: $(es_status .miss_default)"
stop_probe c
ok "fail-closed: a silent client's opens are denied at the deadline"

# A client that keeps missing is killed (an extension would be restarted).
stop_uextd
start_uextd --es-watch "$MNT" --es-deadline 300 --es-misses 2
start_probe m --silent auth_open
pid=${PROBE_PIDS[m]}
opens_in_background 1; wait_bg
opens_in_background 1; wait_bg
wait_until 5 test ! -e "/proc/$pid/status" -o "$(awk '/^State/{print $2}' /proc/$pid/status 2>/dev/null)" = Z ||
	fail "the missing client is still alive"
wait "$pid" 2>/dev/null || true
unset "PROBE_PIDS[m]"
assert_eq "$(es_status .counters.clients_killed)" 1 "clients killed"
assert_eq "$(cat "$MNT/f")" data "opens work again without the client"
ok "a client missing 2 deadlines in a row was killed"
