#!/usr/bin/env bash
# Who may do what on the control socket (SO_PEERCRED): anyone may read status and the
# list; only root or the uext-admin group may change anything or read preferences.
source "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
start_uextd
make_key uext-examples
make_bundle "$WORK/a" 1.0
sign_bundle "$WORK/a" uext-examples
ctl install "$WORK/a" >/dev/null
# The build tree may be where other users cannot go (a clone under /root, mode 0700): they
# run a copy of uextctl and its libuext from the test's own directory.
mkdir -p "$WORK/bin"
cp "$UEXTCTL" "$UEXT_BUILD"/src/lib/libuext.so.0 "$WORK/bin/"
chmod -R a+rX "$WORK"
unpriv() { # GROUPS-OPTION uextctl-arguments...
	local groups=$1
	shift
	setpriv --reuid=65534 --regid=65534 "$groups" -- env LD_LIBRARY_PATH="$WORK/bin" "$WORK/bin/uextctl" --root "$ROOT" --timeout 10 "$@"
}
as_nobody() { unpriv --clear-groups "$@"; }

as_nobody status >/dev/null || fail "unprivileged status refused"
as_nobody list --json | jq -e 'length == 1' >/dev/null || fail "unprivileged list"
ok "unprivileged user reads status and list"

for args in "approve org.uext.example.hello" "deactivate org.uext.example.hello" "uninstall org.uext.example.hello" \
	"developer on" "reset --yes" "prefs set org.uext.example.hello k 1" "prefs get org.uext.example.hello" \
	"install $WORK/a"; do
	# shellcheck disable=SC2086
	if as_nobody $args 2>"$WORK/err"; then fail "unprivileged '$args' accepted"; fi
	grep -q "permission denied" "$WORK/err" || fail "'$args': $(cat "$WORK/err")"
done
assert_eq "$(json_of org.uext.example.hello state)" activated_waiting_for_user "state unchanged by refused calls"
ok "unprivileged mutations refused with 'permission denied'"

if getent group uext-admin >/dev/null; then
	gid=$(getent group uext-admin | cut -d: -f3)
	unpriv --groups="$gid" approve org.uext.example.hello >/dev/null ||
		fail "uext-admin member refused"
	ok "uext-admin member may approve"
fi
