#!/usr/bin/env bash
# Endpoint Security NOTIFY events: the fields of a program the test runs are exact (pid,
# ppid, argv, executable path and SHA-256, uids, cwd); path, target-path and process
# muting (and inversion) are applied before delivery; a client too slow for the event
# rate loses messages and sees exactly that many seq_num gaps, counted in status.
source "$(dirname "$0")/es_lib.sh"
start_uextd --es-watch "$MNT"

# --- exact fields ------------------------------------------------------------------
# The program (a copy of bash) waits on a fifo until its exec was reported: a program that
# has already exited when uextd handles its exec is described from what uextd last knew
# (docs/es-api.md), and this test is about exact fields.
cp /bin/bash "$MNT/prog"
mkdir -p "$ROOT/cwd"
chmod 755 "$ROOT/cwd"
mkfifo -m 0666 "$ROOT/hold"
script='read -r x <"$0"'
start_probe f exec fork exit
( cd "$ROOT/cwd" && exec env -i UEXT_A=1 "UEXT_B=two words" /usr/bin/setpriv --reuid 65534 --regid 65534 \
	--clear-groups "$MNT/prog" -c "$script" "$ROOT/hold" one "two words" ) &
child=$!
exec_seen() { probe_lines f '.type=="exec" and .target.exe=="'"$MNT/prog"'"' | grep -q .; }
wait_until 10 exec_seen || fail "no exec event for pid $child"
echo go >"$ROOT/hold"
wait $child
sync_exit() { probe_lines f '.type=="exit" and .process.pid=='$child | grep -q .; }
wait_until 10 sync_exit || fail "no exit event for pid $child"
ex=$(probe_lines f '.type=="exec" and .target.exe=="'"$MNT/prog"'"')
[ "$(echo "$ex" | wc -l)" = 1 ] || fail "want one exec of prog, got: $ex"
assert_eq "$(echo "$ex" | jq -c .argv)" "$(json_list "$MNT/prog" -c "$script" "$ROOT/hold" one "two words")" "argv"
assert_eq "$(echo "$ex" | jq -c .env)" "$(json_list UEXT_A=1 "UEXT_B=two words")" "environment"
assert_eq "$(echo "$ex" | jq .target.pid)" "$child" "pid"
assert_eq "$(echo "$ex" | jq .target.ppid)" "$$" "ppid"
assert_eq "$(echo "$ex" | jq .target.ruid)" 65534 "uid after setpriv"
assert_eq "$(echo "$ex" | jq -r .cwd)" "$ROOT/cwd" "cwd"
assert_eq "$(echo "$ex" | jq -r .target.sha256)" "$(sha256sum "$MNT/prog" | cut -d' ' -f1)" "executable SHA-256"
assert_eq "$(echo "$ex" | jq -r .process.exe)" /usr/bin/setpriv "the process before the exec"
[ "$(echo "$ex" | jq '.target.pidversion != .process.pidversion')" = true ] || fail "exec must give a new pidversion"
fork=$(probe_lines f '.type=="fork" and .child.pid=='$child)
assert_eq "$(echo "$fork" | jq .process.pid)" "$$" "fork parent"
assert_eq "$(probe_lines f '.type=="exit" and .process.pid=='$child | jq .stat)" 0 "exit status"
stop_probe f
ok "exec fields exact: pid $child, ppid $$, uid 65534, argv, environment, cwd, SHA-256"

# An environment past what an exec record keeps is cut between variables, never inside one.
big=$(head -c 3000 /dev/zero | tr '\0' x)
start_probe g exec open
env -i UEXT_A=1 "UEXT_BIG=$big" UEXT_C=3 "$MNT/prog" -c true || fail "exec with a big environment failed"
sync_probe g
assert_eq "$(probe_lines g '.type=="exec" and .target.exe=="'"$MNT/prog"'"' | jq -c .env)" '["UEXT_A=1"]' \
	"environment cut before the variable that did not fit"
stop_probe g
ok "a 3 KB variable is left out whole, the ones before it kept"

# --- chmod / chown: fanotify's FAN_ATTRIB joined with the syscall the process made -----
echo data >"$MNT/attr"
start_probe a setmode setowner setuid setreuid
chmod 640 "$MNT/attr"
chown 65534:65534 "$MNT/attr"
setpriv --reuid 65534 true
sync_attr() { probe_lines a '.type=="setowner"' | grep -q .; }
wait_until 10 sync_attr || fail "no setowner event: $(cat "$ROOT/a.out")"
sm=$(probe_lines a '.type=="setmode" and .path=="'"$MNT/attr"'"')
assert_eq "$(echo "$sm" | jq .mode)" $((8#640)) "setmode mode"
assert_eq "$(echo "$sm" | jq -r .process.exe)" /usr/bin/chmod "setmode instigator"
so=$(probe_lines a '.type=="setowner" and .path=="'"$MNT/attr"'"')
assert_eq "$(echo "$so" | jq -r .process.exe)" /usr/bin/chown "setowner instigator"
setid() { probe_lines a '(.type=="setuid" or .type=="setreuid") and .uid==65534' | grep -q .; }
wait_until 10 setid || fail "no set*uid 65534 by setpriv: $(grep -E 'setuid|setreuid' "$ROOT/a.out")"
stop_probe a
ok "setmode (0640 by chmod), setowner (by chown) and setuid (65534) reported"

# --- muting ------------------------------------------------------------------------
mkdir -p "$MNT/muted" "$MNT/seen"
echo a >"$MNT/muted/a"
echo b >"$MNT/seen/b"
start_probe m --mute-path "target_prefix:$MNT/muted" --mute-path literal:/usr/bin/head open
cat "$MNT/muted/a" "$MNT/seen/b" >/dev/null
head -c1 "$MNT/seen/b" >/dev/null
sync_probe m
assert_eq "$(probe_count m '.path=="'"$MNT/muted/a"'"')" 0 "events on a muted target prefix"
assert_eq "$(probe_count m '.path=="'"$MNT/seen/b"'" and .process.exe=="/usr/bin/cat"')" 1 "cat's open of seen/b"
assert_eq "$(probe_count m '.process.exe=="/usr/bin/head"')" 0 "events of a muted executable"
stop_probe m
start_probe i --mute-path "target_prefix:$MNT/seen" --invert target_path open
cat "$MNT/muted/a" "$MNT/seen/b" >/dev/null
sync_probe i "$MNT/seen" # inverted: only events under seen/ are delivered
assert_eq "$(probe_count i '.path=="'"$MNT/muted/a"'"')" 0 "inverted: a path outside the selection"
assert_eq "$(probe_count i '.path=="'"$MNT/seen/b"'"')" 1 "inverted: the selected path"
stop_probe i
ok "target-path and executable-path muting, and inverted target muting"

# Process muting by audit token: the probe mutes the process of the first message it sees
# attributed to a copy of bash (which keeps reading seen/b until told to go on); that
# execution's later opens are not delivered, other processes' are.
cp /bin/bash "$MNT/mybash"
echo b2 >"$MNT/seen/b2"
start_probe p --mute-proc-of "$MNT/mybash" open
"$MNT/mybash" -c 'while [ ! -e "$3" ]; do read -r x <"$1"; sleep 0.02; done; read -r x <"$2"' _ \
	"$MNT/seen/b" "$MNT/seen/b2" "$ROOT/go" &
mb=$!
wait_until 10 grep -q "{\"muted\":$mb}" "$ROOT/p.out" || fail "the probe did not mute pid $mb"
touch "$ROOT/go"
wait $mb
cat "$MNT/seen/b2" >/dev/null
sync_probe p
[ "$(probe_count p '.process.pid=='$mb)" -ge 1 ] || fail "no message from pid $mb before it was muted"
[ "$(probe_count p '.path=="'"$MNT/seen/b2"'" and .process.pid=='$mb)" = 0 ] ||
	fail "open after muting: $(grep -E "muted|\"pid\":$mb" "$ROOT/p.out" | cut -c1-300)"
assert_eq "$(probe_count p '.path=="'"$MNT/seen/b2"'" and .process.exe=="/usr/bin/cat"')" 1 "another process"
stop_probe p
ok "process muting by audit token"

# --- overflow: a slow client loses messages, and knows exactly how many ----------------
N=60000
mkdir "$MNT/o"
start_probe o --slow-us 150 --quiet create
before=$(es_status .counters.notify_events)
# In steps of 5000 creates, each read by uextd before the next: the overflow forced is the
# slow client's in uextd, not fanotify's queue in the kernel (16384 events; a slow uextd,
# e.g. the ASan build, could overflow it, and the kernel does not say how many it lost).
read_upto() { [ "$(es_status .counters.notify_events)" -ge $((before + $1)) ]; }
for ((k = 0; k < N; k += 5000)); do
	(cd "$MNT/o" && seq $((k + 1)) $((k + 5000)) | xargs touch)
	wait_until 60 read_upto $((k + 5000)) || fail "uextd did not read the events: $(es_status .counters)"
done
assert_eq "$(es_status .counters.kernel_lost)" 0 "events lost in the kernel"
# A gap shows at the next message delivered: once the queue has drained, one more event.
drained() { [ "$(es_status '.clients[0].queued_bytes')" = 0 ]; }
wait_until 60 drained || fail "the client's queue did not drain: $(es_status .clients)"
touch "$MNT/o/last"
dropped=$(es_status '.clients[0].dropped')
stop_probe o
sum=$(grep summary "$ROOT/o.out")
msgs=$(echo "$sum" | jq .summary.messages)
gaps=$(echo "$sum" | jq .summary.seq_gaps)
[ "$dropped" -gt 0 ] || fail "the slow client lost nothing ($sum): no overflow forced"
assert_eq "$gaps" "$dropped" "seq_num gaps seen by the client vs drops counted by uextd"
assert_eq "$((msgs + gaps))" "$((N + 1))" "messages + gaps"
ok "overflow: $msgs delivered + $gaps dropped = $N + 1 creates; gaps == status drop counter"
