#!/usr/bin/env bash
# The whole lifecycle with a real uextd: signed install waits for approval, approval
# starts a sandboxed process, deactivate/activate, upgrade (atomic), equal version is a
# no-op, downgrade refused unless forced, tampering refused naming the file, developer
# mode for unsigned bundles, uninstall, history, reset.
source "$(dirname "$0")/lib.sh"
ID=org.uext.example.hello
start_uextd
make_key uext-examples

make_bundle "$WORK/v1" 1.0
sign_bundle "$WORK/v1" uext-examples
ctl verify "$WORK/v1" | grep -q "signature valid" || fail "verify of a signed bundle"
out=$(ctl install "$WORK/v1")
echo "$out" | grep -q "waiting for user" || fail "default policy should wait for approval: $out"
assert_eq "$(json_of $ID state)" activated_waiting_for_user "state after install"
assert_eq "$(json_of $ID pid)" 0 "no process before approval"
ok "install waits for approval"

ctl approve $ID >/dev/null
assert_eq "$(json_of $ID state)" activated_enabled "state after approve"
assert_eq "$(json_of $ID run)" running "run state after approve"
pid=$(json_of $ID pid)
uid=$(json_of $ID uid)
[ "$pid" -gt 0 ] || fail "no pid"
assert_eq "$(proc_field "$pid" Uid | awk '{print $1}')" "$uid" "extension uid"
[ "$uid" -ge 2100000000 ] || fail "uid $uid is not in the extension range"
assert_eq "$(proc_field "$pid" CapEff)" 0000000000000000 "effective capabilities"
assert_eq "$(proc_field "$pid" CapBnd)" 0000000000000000 "bounding set"
assert_eq "$(proc_field "$pid" NoNewPrivs)" 1 "no_new_privs"
assert_eq "$(proc_field "$pid" Seccomp)" 2 "seccomp filter"
[ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] || fail "not in its own mount namespace"
# the extension itself saw a read-only system and said so in the log
wait_until 5 grep -q "writing /etc: Read-only file system" "$UEXTD_LOG" || fail "extension did not report a read-only /etc"
# it counted its start in its preferences, through uextd
assert_eq "$(ctl prefs get $ID starts)" 1 "starts preference"
ok "approved extension runs as uid $uid with no capabilities, no_new_privs, seccomp, read-only root"

ctl list | grep -q "org.uext.example.hello (1.0)" || fail "list table"
ctl list | grep -q "activated enabled" || fail "list state column"
ctl deactivate $ID >/dev/null
assert_eq "$(json_of $ID state)" activated_disabled "state after deactivate"
assert_eq "$(json_of $ID pid)" 0 "process stopped after deactivate"
kill -0 "$pid" 2>/dev/null && fail "old process still alive after deactivate"
ctl activate $ID >/dev/null
assert_eq "$(json_of $ID run)" running "running after activate"
ok "deactivate stops, activate starts again"

# upgrade: the old process goes only once the new copy is staged and verified
old_pid=$(json_of $ID pid)
old_staged=$(json_of $ID staged_path)
make_bundle "$WORK/v2" 1.1
sign_bundle "$WORK/v2" uext-examples
ctl install "$WORK/v2" | grep -q "upgraded from 1.0 to 1.1" || fail "upgrade message"
assert_eq "$(json_of $ID version)" 1.1 "version after upgrade"
assert_eq "$(json_of $ID run)" running "running after upgrade"
new_pid=$(json_of $ID pid)
[ "$new_pid" != "$old_pid" ] || fail "upgrade kept the old process"
[ -d "$old_staged" ] && fail "old staged copy left behind: $old_staged"
assert_eq "$(json_of $ID state)" activated_enabled "approval carried over to the new version"
ok "upgrade 1.0 -> 1.1 replaced the process (pid $old_pid -> $new_pid)"

ctl install "$WORK/v2" | grep -q "already installed" || fail "equal version should be a no-op"
assert_eq "$(json_of $ID pid)" "$new_pid" "no-op install must not restart"
if ctl install "$WORK/v1" 2>"$WORK/err"; then fail "downgrade accepted without --force"; fi
grep -q "older than the installed" "$WORK/err" || fail "downgrade message: $(cat "$WORK/err")"
ok "equal version is a no-op, older version refused"

# tampering: any change to any file is caught, naming the file
make_bundle "$WORK/t" 1.2
sign_bundle "$WORK/t" uext-examples
jq '.entitlements=["uext.all-powerful"]' "$WORK/t/manifest.json" >"$WORK/m" && cp "$WORK/m" "$WORK/t/manifest.json"
if ctl install "$WORK/t" 2>"$WORK/err"; then fail "tampered bundle installed"; fi
grep -q "manifest.json" "$WORK/err" || fail "tamper error must name the file: $(cat "$WORK/err")"
sign_bundle "$WORK/t" uext-examples
printf 'x' >>"$WORK/t/bin/hello"
if ctl verify "$WORK/t" 2>"$WORK/err"; then fail "tampered binary verified"; fi
grep -q "bin/hello" "$WORK/err" || fail "tamper error must name bin/hello: $(cat "$WORK/err")"
assert_eq "$(json_of $ID version)" 1.1 "a refused install leaves the installed version"
ok "tampered bundles refused, naming the file"

# unsigned: refused, unless developer mode (loudly)
make_bundle "$WORK/u" 1.0 org.uext.example.unsigned
if ctl install "$WORK/u" 2>"$WORK/err"; then fail "unsigned bundle installed"; fi
grep -q "not signed" "$WORK/err" || fail "unsigned message: $(cat "$WORK/err")"
ctl developer on >/dev/null
ctl status | grep -q "DEVELOPER MODE IS ON" || fail "status must show developer mode"
ctl install "$WORK/u" >/dev/null
ctl approve org.uext.example.unsigned >/dev/null
ctl list | grep "org.uext.example.unsigned" | grep -q UNSIGNED || fail "list must flag unsigned"
assert_eq "$(json_of org.uext.example.unsigned signed)" false "signed flag"
ctl developer off >/dev/null
ok "unsigned bundle only in developer mode, flagged"

# uninstall
staged=$(json_of $ID staged_path)
ctl uninstall $ID >/dev/null
[ -z "$(json_of $ID state)" ] || fail "still listed after uninstall"
[ -d "$staged" ] && fail "staged copy left after uninstall"
kill -0 "$new_pid" 2>/dev/null && fail "process alive after uninstall"
ctl history $ID | grep -q "activated_waiting_for_user -> activated_enabled" || fail "history lacks approval"
ctl history $ID --json | jq -e 'map(.to) | index("uninstalled")' >/dev/null || fail "history lacks uninstall"
ok "uninstall stops and removes; history kept"

if ctl reset 2>/dev/null; then fail "reset without --yes"; fi
ctl reset --yes | grep -q "1 extension removed" || fail "reset"
assert_eq "$(ctl list --json | jq length)" 0 "nothing after reset"
ok "reset needs confirmation and removes everything"
