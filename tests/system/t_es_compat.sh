#!/usr/bin/env bash
# Apple compatibility: tests/compat/apple_client.c, written only against Apple's documented
# EndpointSecurity API (block handler with clang -fblocks, es_new_client_f otherwise),
# built unchanged against libuext, runs against uextd: it subscribes, answers AUTH_EXEC
# (some from another thread after es_retain_message), prints exec/fork/exit, mutes.
source "$(dirname "$0")/es_lib.sh"
start_uextd --es-watch "$MNT"
cp /bin/true "$MNT/true"
ran=0
for variant in apple_client_blocks apple_client_f; do
	bin="$UEXT_BUILD/tests/$variant"
	[ -x "$bin" ] || continue
	out="$ROOT/$variant.out"
	"$bin" >"$out" 2>"$ROOT/$variant.err" &
	pid=$!
	wait_until 10 grep -q "subscriptions" "$out" || fail "$variant did not start: $(cat "$ROOT/$variant.err")"
	grep -q "^3 subscriptions" "$out" || fail "$variant: $(cat "$out")"
	grep -q "^muted: /usr/bin/yes" "$out" || fail "$variant: muted path not listed"
	(cd "$MNT" && ./true one two) || fail "$variant: an allowed exec failed"
	child_ok() { grep -q "^exec pid=[0-9]* pidversion=[0-9]* euid=0 $MNT/true\( ./true one two\)\? (cwd $MNT)\$" "$out"; }
	wait_until 10 child_ok || fail "$variant: no AUTH_EXEC line for the exec: $(cat "$out")"
	wait_until 10 grep -q "^exit [0-9]* status 0" "$out" || fail "$variant: no exit line"
	grep -q "^fork " "$out" || fail "$variant: no fork line"
	kill -TERM $pid
	wait $pid || fail "$variant exited with $?"
	[ ! -s "$ROOT/$variant.err" ] || fail "$variant complained: $(cat "$ROOT/$variant.err")"
	ran=$((ran + 1))
	ok "$variant: Apple's sample client runs unchanged against libuext"
done
[ $ran -gt 0 ] || fail "no compat client was built"
