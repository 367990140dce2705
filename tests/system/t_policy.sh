#!/usr/bin/env bash
# Admin policy (the system-extension policy payload): pre-approval by publisher and by
# identifier, type restrictions that refuse, no admin overrides, non-removable
# extensions, and an invalid policy file that refuses everything.
source "$(dirname "$0")/lib.sh"
make_key uext-examples
make_key evilcorp
POLICY="$ROOT/etc/uext/policy.json"
mkdir -p "$ROOT/etc/uext"
cat >"$POLICY" <<'JSON'
{
  "allow_user_overrides": false,
  "allowed_publishers": ["uext-examples"],
  "allowed_types": {"evilcorp": ["driver"]},
  "removable_extensions": {"uext-examples": ["org.uext.example.removable"]}
}
JSON
start_uextd

make_bundle "$WORK/a" 1.0 org.uext.example.hello
sign_bundle "$WORK/a" uext-examples
ctl install "$WORK/a" >/dev/null
assert_eq "$(json_of org.uext.example.hello state)" activated_enabled "allowed publisher is pre-approved"
assert_eq "$(json_of org.uext.example.hello run)" running "pre-approved extension runs at once"
ok "allowed publisher: enabled without approval"

make_bundle "$WORK/e" 1.0 com.evilcorp.es evilcorp
sign_bundle "$WORK/e" evilcorp
if ctl install "$WORK/e" 2>"$WORK/err"; then fail "policy should refuse evilcorp endpoint-security"; fi
grep -q "refused by policy" "$WORK/err" || fail "refusal message: $(cat "$WORK/err")"
grep -q "endpoint-security" "$WORK/err" || fail "refusal must name the type: $(cat "$WORK/err")"
[ -z "$(json_of com.evilcorp.es state)" ] || fail "refused extension is listed"
[ -z "$(ls "$ROOT/var/lib/uext/bundles" | grep evilcorp || true)" ] || fail "refused bundle left staged"
ok "publisher restricted to other types: refused, nothing staged"

make_bundle "$WORK/d" 1.0 com.evilcorp.drv evilcorp
jq '.type="driver" | .personalities=[{"subsystem":"net"}]' "$WORK/d/manifest.json" >"$WORK/m" && mv "$WORK/m" "$WORK/d/manifest.json"
sign_bundle "$WORK/d" evilcorp
if ctl install "$WORK/d" 2>"$WORK/err"; then fail "install without overrides should refuse an unlisted extension"; fi
grep -q "refused by policy" "$WORK/err" || fail "no-override refusal: $(cat "$WORK/err")"
ok "allow_user_overrides=false: unlisted extension refused"

if ctl uninstall org.uext.example.hello 2>"$WORK/err"; then fail "non-removable extension removed"; fi
grep -q "required by policy" "$WORK/err" || fail "non-removable message: $(cat "$WORK/err")"
make_bundle "$WORK/r" 1.0 org.uext.example.removable
sign_bundle "$WORK/r" uext-examples
ctl install "$WORK/r" >/dev/null
ctl uninstall org.uext.example.removable >/dev/null
ok "policy-approved extension removable only when listed"

# An edited policy applies at once: allowing admins to approve makes the driver wait;
# listing it then completes the activation without an admin (as an MDM profile does).
cat >"$POLICY" <<'JSON'
{"allowed_publishers": ["uext-examples"], "allowed_types": {"evilcorp": ["driver"]}}
JSON
ctl install "$WORK/d" >/dev/null
assert_eq "$(json_of com.evilcorp.drv state)" activated_waiting_for_user "driver waits under the edited policy"
cat >"$POLICY" <<'JSON'
{"allowed_publishers": ["uext-examples"], "allowed_types": {"evilcorp": ["driver"]},
 "allowed_extensions": {"evilcorp": ["com.evilcorp.drv"]}}
JSON
ctl wait com.evilcorp.drv running >/dev/null || fail "policy change did not complete the activation"
assert_eq "$(json_of com.evilcorp.drv approved_by)" policy "approved by the policy"
ok "policy edits apply without a restart and complete waiting activations"

# A broken policy refuses installs (after a manager restart) rather than widening them.
echo '{"allowed_publisherz": ["x"]}' >"$POLICY"
stop_uextd
start_uextd
ctl status --json | jq -e '.policy.valid == false' >/dev/null || fail "status must show the invalid policy"
ctl status | grep -q "INVALID" || fail "status text must show the invalid policy"
make_bundle "$WORK/b" 1.0 org.uext.example.other
sign_bundle "$WORK/b" uext-examples
if ctl install "$WORK/b" 2>"$WORK/err"; then fail "install with an invalid policy"; fi
grep -q "policy" "$WORK/err" || fail "invalid policy message: $(cat "$WORK/err")"
ok "invalid policy: shown in status, installs refused"
