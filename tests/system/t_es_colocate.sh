#!/usr/bin/env bash
# AUTH co-location (uext_es_set_colocation): a client that asks for it gets its handler
# thread on the CPU uextd's engine is pinned to, and only its handler thread; a client that
# does not ask leaves the engine unpinned; a CPU made busy by another process is left for
# one with room, and the client follows; the last such client gone, the engine lets go.
# CTest runs it alone (RUN_SERIAL): the move needs a CPU that no other test keeps busy.
source "$(dirname "$0")/es_lib.sh"
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs (co-location is off on one)"
[ -r /proc/thread-self/schedstat ] || skip "no /proc/thread-self/schedstat (CONFIG_SCHED_INFO): uextd never pins"
start_uextd --es-watch "$MNT" --es-deadline 3000
echo ok >"$MNT/plain"
HOG=
hog_stop() {
	if [ -n "$HOG" ]; then { kill -KILL "$HOG" && wait "$HOG"; } 2>/dev/null || true; fi
	HOG=
}
es_cleanup_hook() { hog_stop; }

# opens N: AUTH_OPEN traffic for the engine to measure its CPU by (the tick is 250 ms);
# bash's own opens, so no process is started that would keep the other CPU busy
opens() { local _l; for _ in $(seq "$1"); do read -r _l <"$MNT/plain"; done; }
# the CPUs a probe's threads may run on, one "TID LIST" line per thread
masks() { for t in /proc/"${PROBE_PIDS[$1]}"/task/*; do echo "${t##*/} $(awk '/^Cpus_allowed_list/ {print $2}' "$t/status")"; done; }
all=$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)
engine_pinned() { opens 20; es_is .colocate.cpu -ge 0; }

# A client that does not ask: the engine stays where the scheduler puts it.
start_probe plain --quiet auth_open
# AUTH traffic across at least two of the engine's 250 ms ticks, where it would pin
end=$((${EPOCHREALTIME/./} + 600000))
while ((${EPOCHREALTIME/./} < end)); do opens 20; done
assert_eq "$(es_status .colocate.cpu)" -1 "engine CPU with a client that did not ask"
es_status .colocate.why_not | grep -q "no AUTH client asked" || fail "why not pinned: $(es_status .colocate)"
stop_probe plain
ok "a client that does not ask for co-location: engine not pinned"

start_probe co --quiet --colocate auth_open
wait_until 5 engine_pinned || fail "engine not pinned with a co-located client: $(es_status .colocate)"
assert_eq "$(ctl --json status | jq '.es.clients[] | select(.pid=='"${PROBE_PIDS[co]}"') | .colocate')" true "client colocate flag"
# The next messages carry the engine's CPU and the handler thread waits there; the
# engine may move (this test starts processes), so CPU and masks are read together.
cpu= m=
follows() {
	opens 5
	cpu=$(es_status .colocate.cpu)
	m=$(masks co)
	[ "$cpu" -ge 0 ] && [ "$(grep -c " $cpu\$" <<<"$m")" = 1 ]
}
wait_until 5 follows || fail "one thread of the client on the engine's CPU $cpu: $m"
[ "$(grep -vc " $cpu\$" <<<"$m")" -ge 1 ] && ! grep -v " $cpu\$" <<<"$m" | grep -vq " $all\$" ||
	fail "the client's other threads keep their own mask ($all): $m"
ctl status | grep -Eq "es engine:   on CPU [0-9]+ with its co-located AUTH clients" || fail "uextctl status: $(ctl status | grep 'es engine')"
# the handler thread alone also takes the engine's priority (nice -10)
h=$(grep " $cpu\$" <<<"$m" | cut -d' ' -f1)
assert_eq "$(awk '{print $19}' /proc/"${PROBE_PIDS[co]}"/task/"$h"/stat)" -10 "the handler thread's nice"
for t in /proc/"${PROBE_PIDS[co]}"/task/*; do
	[ "${t##*/}" = "$h" ] || assert_eq "$(awk '{print $19}' "$t/stat")" "$(awk '{print $19}' /proc/$$/stat)" "nice of the client's thread ${t##*/}"
done
ok "co-located: engine on CPU $cpu, the client's handler thread alone follows it, at the engine's priority"

# Busy polling (on by default, 50 µs at most): each AUTH event after an answer is
# measured to size the window, and status says so.
assert_eq "$(es_status .busy_poll.max_us)" 50 "default busy-poll maximum"
assert_eq "$(es_status .busy_poll.why_not)" '""' "busy polling off because"
es_is .busy_poll.events -gt 0 || fail "no AUTH event measured for busy polling: $(es_status .busy_poll)"
ctl status | grep -Eq "es engine:   polls up to 50 µs for the next AUTH \(now [0-9]+ µs\): [0-9]+ of [1-9][0-9]* events caught" ||
	fail "uextctl status: $(ctl status | grep 'es engine')"
if "$UEXTD" --root "$ROOT" --es-busy-poll 1001 2>"$WORK/bp.err"; then fail "--es-busy-poll 1001 accepted"; else assert_eq $? 2 "exit status of a bad --es-busy-poll"; fi
grep -q "invalid value '1001' for --es-busy-poll (range 0..1000 µs)" "$WORK/bp.err" || fail "message: $(cat "$WORK/bp.err")"
ok "busy polling: on at 50 µs, its window measured and shown; bad values refused"

# While a client subscribes to AUTH, the engine thread, and only it, runs at nice -10:
# every AUTH waits for it.
assert_eq "$(es_status .nice)" '{"value":-10,"wanted":-10,"why_not":""}' "engine priority"
nices=$(for t in /proc/"$UEXTD_PID"/task/*; do awk '{print $19}' "$t/stat"; done)
assert_eq "$(grep -cx -- -10 <<<"$nices")" 1 "threads of uextd at nice -10 (of: $(echo $nices))"
assert_eq "$(awk '{print $19}' /proc/"$UEXTD_PID"/stat)" "$(awk '{print $19}' /proc/$$/stat)" "uextd's main thread nice"
ctl status | grep -q "es engine:   runs at nice -10$" || fail "uextctl status: $(ctl status | grep 'es engine')"
ok "with an AUTH client, the engine thread alone runs at nice -10"

# Another process of its priority takes the engine's CPU: the engine moves to the idle one, and the
# handler thread follows.
read -r cpu m0 < <(ctl --json status | jq -r '.es.colocate | "\(.cpu) \(.moves)"')
[ "$cpu" -ge 0 ] || fail "engine not pinned before the busy CPU test"
# one process (nice and taskset exec it), so $HOG is the spinner itself; it stops itself
# in 30 s. At the engine's priority: a lower one would not delay the engine at all.
nice -n -10 taskset -c "$cpu" bash -c 'end=$((SECONDS + 30)); while [ $SECONDS -lt $end ]; do :; done' &
HOG=$!
new=
moved() { # few processes per poll: the CPU to move to is to stay idle enough
	opens 100
	local c m
	read -r c m < <(ctl --json status | jq -r '.es.colocate | "\(.cpu) \(.moves)"')
	[ "$m" -gt "$m0" ] && [ "$c" -ge 0 ] && [ "$c" -ne "$cpu" ] && new=$c
}
wait_until 10 moved || fail "engine stayed on busy CPU $cpu: $(es_status .colocate)"
to_new() { opens 5; masks co | grep -q " $new\$"; }
wait_until 5 to_new || fail "the handler thread did not follow to CPU $new: $(masks co)"
hog_stop
ok "a busy CPU: engine moved $cpu -> $new, the client followed"

# The last co-located client gone: the engine lets go.
stop_probe co
wait_until 5 es_is .colocate.cpu -eq -1 || fail "engine still pinned with no co-located client: $(es_status .colocate)"
ok "no co-located client left: engine not pinned"

# No AUTH client left: the engine thread goes back to uextd's own priority, so NOTIFY
# traffic alone does not preempt the processes making it.
start_probe watcher --quiet open
wait_until 5 es_is .nice.value -eq "$(awk '{print $19}' /proc/$$/stat)" || fail "engine priority with only a NOTIFY client: $(es_status .nice)"
es_status .nice.why_not | grep -q "raised only while a client subscribes to AUTH" || fail "why: $(es_status .nice)"
stop_probe watcher
ok "no AUTH client: the engine thread back at uextd's priority"
