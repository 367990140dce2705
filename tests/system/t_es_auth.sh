#!/usr/bin/env bash
# Endpoint Security AUTH: a denied exec or open fails with EPERM and an allowed one goes
# through; with two clients, one denying, the access is denied; an allow with cache=true
# stops further AUTH messages for that file until it is modified, then they resume.
source "$(dirname "$0")/es_lib.sh"
start_uextd --es-watch "$MNT" --es-deadline 3000 --es-exec-args
cp /bin/true "$MNT/true"
cp /bin/true "$MNT/blocked_bin"
echo ok >"$MNT/plain"
echo hidden >"$MNT/secret"

start_probe a --deny secret --deny blocked_bin auth_exec auth_open
"$MNT/true" --first "and second" || fail "allowed exec failed"
out=$("$MNT/blocked_bin" 2>&1) && fail "denied exec ran"
echo "$out" | grep -q "Operation not permitted" || fail "denied exec: want EPERM, got: $out"
assert_eq "$(cat "$MNT/plain")" ok "allowed open"
out=$(cat "$MNT/secret" 2>&1) && fail "denied open succeeded"
echo "$out" | grep -q "Operation not permitted" || fail "denied open: want EPERM, got: $out"
sync_probe a
[ "$(probe_count a '.type=="auth_exec" and .path=="'"$MNT/blocked_bin"'" and .verdict=="deny"')" -ge 1 ] ||
	fail "the denied exec was not an AUTH_EXEC message"
[ "$(probe_count a '.type=="auth_open" and .path=="'"$MNT/secret"'"')" -ge 1 ] || fail "no AUTH_OPEN for the secret"
if [ "$(es_status .sources.process.kind)" = '"ebpf"' ]; then
	# argv of the exec being decided, captured at execve entry (eBPF only)
	assert_eq "$(probe_lines a '.type=="auth_exec" and .path=="'"$MNT/true"'"' | jq -c .argv)" \
		"[\"$MNT/true\",\"--first\",\"and second\"]" "AUTH_EXEC argv"
fi
ok "AUTH deny gives EPERM for exec and open; allow lets them through"

# Two clients: b allows everything, a denies the secret: deny wins.
start_probe b auth_open
out=$(cat "$MNT/secret" 2>&1) && fail "deny must win over allow"
sync_probe b
[ "$(probe_count b '.path=="'"$MNT/secret"'" and .verdict=="allow"')" -ge 1 ] || fail "b did not see the open"
stop_probe a
assert_eq "$(cat "$MNT/secret")" hidden "with only the allowing client left"
stop_probe b
ok "two clients: deny wins; the allowing client alone allows"

# Cache: one client answering allow + cache.
start_probe c --cache auth_open
for i in $(seq 100); do cat "$MNT/plain" >/dev/null; done
sync_probe c
n=$(probe_count c '.path=="'"$MNT/plain"'" and .process.exe=="/usr/bin/cat"')
assert_eq "$n" 1 "AUTH_OPEN messages for 100 opens of a cached file"
cached=$(es_status .counters.cached)
[ "$cached" -ge 1 ] || fail "status counts no cache entry"
echo more >>"$MNT/plain" # a modification drops the kernel's cache entry
for i in $(seq 10); do cat "$MNT/plain" >/dev/null; done
sync_probe c
n=$(probe_count c '.path=="'"$MNT/plain"'" and .process.exe=="/usr/bin/cat"')
assert_eq "$n" 2 "AUTH_OPEN messages after the file was modified (then cached again)"
# A new client clears the cache (as on macOS).
start_probe d auth_open
cat "$MNT/plain" >/dev/null
sync_probe c
n=$(probe_count c '.path=="'"$MNT/plain"'" and .process.exe=="/usr/bin/cat"')
assert_eq "$n" 3 "AUTH_OPEN after a new client cleared the cache"
ok "cache=true: 100 opens -> 1 AUTH, modified -> AUTH again, new client -> cache cleared"
