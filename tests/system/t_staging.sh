#!/usr/bin/env bash
# Staging and verifying a bundle never stalls the manager: while a bundle with a large
# file is copied and hashed (on a worker thread), status still answers and reports it.
source "$(dirname "$0")/lib.sh"
start_uextd
make_key uext-examples
make_bundle "$WORK/big" 1.0
head -c 512M /dev/zero >"$WORK/big/data.bin"
sign_bundle "$WORK/big" uext-examples
ctl --timeout 120 install "$WORK/big" >"$WORK/install.out" 2>&1 &
inst=$!
# A manager blocked by the copy could only answer once the install was over, and would
# then report 0 in progress: seeing 1 proves it answered in the middle of the staging.
staging() { ctl status --json | jq -e '.extensions.installs_in_progress == 1'; }
wait_until 60 staging || fail "never saw the install in progress"
t0=${EPOCHREALTIME/./}
ctl status --json >"$WORK/mid.json"
t1=${EPOCHREALTIME/./}
ok "status answered while a 512 MiB bundle was being staged ($(( (10#$t1 - 10#$t0) / 1000 )) ms for one more call)"
wait $inst || fail "install failed: $(cat "$WORK/install.out")"
grep -q "waiting for user" "$WORK/install.out" || fail "install result: $(cat "$WORK/install.out")"
assert_eq "$(ctl status --json | jq .extensions.installs_in_progress)" 0 "no install left in progress"
ok "the large bundle installed"
