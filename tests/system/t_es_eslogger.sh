#!/usr/bin/env bash
# uext-eslogger: every line it prints parses as JSON with Apple's eslogger field names,
# and the lines match the events the test caused (create, write, rename, unlink, exec with
# argv, exit status); --format text is one readable line per event; on exit it reports
# what it saw and dropped; a type uext cannot produce is refused with a clear message.
source "$(dirname "$0")/es_lib.sh"
ESLOGGER="$UEXT_BUILD/src/eslogger/uext-eslogger"
[ -x "$ESLOGGER" ] || fail "build first: $ESLOGGER"
start_uextd --es-watch "$MNT"
cp /bin/bash "$MNT/tool"
mkfifo "$ROOT/hold"
script='read -r x <"$0"'
mkdir "$MNT/d"

"$ESLOGGER" --path-prefix "$MNT/d" --path-prefix "$MNT/tool" exec create write rename unlink close >"$ROOT/log.json" 2>"$ROOT/log.err" &
lp=$!
wait_until 10 es_is '.clients | length' = 1 || fail "eslogger did not connect: $(cat "$ROOT/log.err")"
wait_until 10 es_is '.clients[0].subscriptions' = 6 || fail "eslogger did not subscribe"
# its subscribe returns once the process source is attached; status shows it too
wait_until 10 es_is .sources.process.active = true || fail "no process source: $(es_status .sources)"
psrc=$(es_status .sources.process.kind)
echo hello >"$MNT/d/a.txt"
mv "$MNT/d/a.txt" "$MNT/d/b.txt"
rm "$MNT/d/b.txt"
# the tool waits until its exec was printed (see t_es_events: exact fields need it alive)
(cd "$MNT/d" && "$MNT/tool" -c "$script" "$ROOT/hold" --flag "two words") &
tool=$!
wait_until 10 grep -q '"path":"'"$MNT/tool"'"' "$ROOT/log.json" || fail "eslogger never printed the tool's exec"
echo go >"$ROOT/hold"
wait $tool
# a process with a controlling terminal: its tty is in the message, stat'ed (a char device).
# The shell under script(1) creates the file itself and waits until the create was printed:
# uextd reads a process's tty from /proc, so one that has exited by then has none (this
# raced under load when touch made the file).
mkfifo "$ROOT/hold2"
script -qec "sh -c ': >$MNT/d/ttyfile; read -r x <$ROOT/hold2'" /dev/null >/dev/null &
sp=$!
wait_until 10 grep -q '"path":"'"$MNT/d/ttyfile"'"' "$ROOT/log.json" || fail "eslogger never printed ttyfile"
echo go >"$ROOT/hold2"
wait $sp
# and one gone, with its parent, before uextd handles their records (uextd stopped
# meanwhile): the process is what the fork and exec records said, tty included (eBPF)
kill -STOP "$UEXTD_PID"
script -qec "touch $MNT/d/ttyfile2" /dev/null >/dev/null
kill -CONT "$UEXTD_PID"
echo sentinel >"$MNT/d/zz"
wait_until 10 grep -q '"path":"'"$MNT/d/zz"'"' "$ROOT/log.json" || fail "eslogger never printed the sentinel"
kill -INT $lp
wait $lp || fail "eslogger exited with $?"
jq -e . "$ROOT/log.json" >/dev/null || fail "a line is not JSON"
ev() { jq -c "select($1)" "$ROOT/log.json"; }
# Apple's top-level fields on every line
n_bad=$(jq -c 'select((has("schema_version") and has("time") and has("mach_time") and has("seq_num") and has("global_seq_num") and has("event_type") and has("process") and has("event") and has("action_type")) | not)' "$ROOT/log.json" | wc -l)
assert_eq "$n_bad" 0 "lines without eslogger's top-level fields"
[ -n "$(ev '.event_type==13 and .event.create.destination.existing_file.path=="'"$MNT/d/a.txt"'"')" ] || fail "no create of a.txt"
[ -n "$(ev '.event_type==33 and .event.write.target.path=="'"$MNT/d/a.txt"'"')" ] || fail "no write of a.txt"
[ -n "$(ev '.event_type==25 and .event.rename.source.path=="'"$MNT/d/a.txt"'" and .event.rename.destination.new_path.filename=="b.txt"')" ] || fail "no rename a.txt -> b.txt"
[ -n "$(ev '.event_type==32 and .event.unlink.target.path=="'"$MNT/d/b.txt"'" and .process.executable.path=="/usr/bin/rm"')" ] || fail "no unlink of b.txt by rm: $(ev '.event_type==32' | jq -c "{exe: .process.executable.path, pv: .process.audit_token.pidversion, path: .event.unlink.target.path}")"
x=$(ev '.event_type==9 and .event.exec.target.executable.path=="'"$MNT/tool"'"')
[ -n "$x" ] || fail "no exec of the tool"
assert_eq "$(echo "$x" | jq -c .event.exec.args)" "$(json_list "$MNT/tool" -c "$script" "$ROOT/hold" --flag "two words")" "exec args"
assert_eq "$(echo "$x" | jq -r .event.exec.cwd.path)" "$MNT/d" "exec cwd"
# the file's stat as it is: read through the directory the event named (zz stays)
zz=$(ev '.event_type==13 and .event.create.destination.existing_file.path=="'"$MNT/d/zz"'"' | head -1)
assert_eq "$(echo "$zz" | jq -r '.event.create.destination.existing_file.stat | "\(.st_ino) \(.st_mode)"')" "$(stat -c %i "$MNT/d/zz") $((0x$(stat -c %f "$MNT/d/zz")))" "stat of zz in its create"
tf=$(ev '.event_type==13 and .event.create.destination.existing_file.path=="'"$MNT/d/ttyfile"'"' | head -1)
[ -n "$tf" ] || fail "no create of ttyfile"
assert_eq "$(echo "$tf" | jq -r '.process.tty.path | test("^/dev/pts/[0-9]+$")')" true "tty path of a process under script(1): $(echo "$tf" | jq -c .process.tty)"
assert_eq "$(echo "$tf" | jq -r '(.process.tty.stat.st_mode / 4096 | floor) == 2 and .process.tty.stat.st_rdev > 0')" true "tty stat is a char device"
if [ "$psrc" = '"ebpf"' ]; then
	tf2=$(ev '.event_type==13 and .event.create.destination.existing_file.path=="'"$MNT/d/ttyfile2"'"' | head -1)
	assert_eq "$(echo "$tf2" | jq -c '[.process.executable.path, (.process.tty.path | test("^/dev/pts/[0-9]+$"))]')" \
		'["/usr/bin/touch",true]' "a process gone with its parent: $(echo "$tf2" | jq -c '[.process.executable.path, .process.tty]')"
fi
zc=$(ev '.event_type==12 and .event.close.target.path=="'"$MNT/d/zz"'"' | head -1)
assert_eq "$(echo "$zc" | jq -r '"\(.event.close.modified) \(.event.close.target.stat.st_size)"')" "true 9" "close of zz: modified, 9 bytes"
[ -z "$(ev '(.event.create.destination.existing_file.path // .event.write.target.path // "'"$MNT/d"'") | startswith("'"$MNT/d"'") | not')" ] || fail "--path-prefix let other paths through"
grep -q "dropped 0" "$ROOT/log.err" || grep -q '"dropped":0' "$ROOT/log.err" || fail "no summary on exit: $(cat "$ROOT/log.err")"
ok "eslogger JSON: every line parses, Apple's field names, create/write/rename/unlink/exec match what the test did"

"$ESLOGGER" --format text --path-prefix "$MNT/d" create unlink >"$ROOT/log.txt" 2>&1 &
lp=$!
wait_until 10 es_is '.clients | length' = 1 || fail "eslogger (text) did not connect"
wait_until 10 es_is '.clients[0].subscriptions' = 2 || fail "eslogger (text) did not subscribe"
wait_until 10 es_is .sources.process.active = true || fail "no process source: $(es_status .sources)"
touch "$MNT/d/t1"
wait_until 10 grep -q "create pid=[0-9]* ppid=[0-9]* uid=0 $MNT/d/t1" "$ROOT/log.txt" || fail "text line: $(cat "$ROOT/log.txt")"
kill -TERM $lp
wait $lp || fail "eslogger (text) exited with $?"
ok "eslogger --format text"

out=$("$ESLOGGER" exchangedata 2>&1) && fail "an event uext cannot produce was accepted"
echo "$out" | grep -qi "exchangedata" || fail "the refusal does not name the event: $out"
ok "refused: $out"
