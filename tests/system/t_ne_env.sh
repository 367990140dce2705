#!/usr/bin/env bash
# t_ne_env: the network test bed of ne_lib.sh on its own (no uextd): every name over HTTP and
# HTTPS (certificate checked against the generated CA) on IPv4 and IPv6, DNS answers,
# openssl s_client to nginx and s_server, and a teardown that leaves nothing behind, also
# when the owner is SIGKILLed.
set -uo pipefail
: "${UEXT_BUILD:?UEXT_BUILD must point to the build directory}"
HERE=$(cd "$(dirname "$0")" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
probe=uext-ne-probe-$$
ip netns add "$probe" 2>/dev/null || skip "ip netns is not usable here"
ip netns exec "$probe" true 2>/dev/null
rc=$?
ip netns del "$probe"
[ $rc = 0 ] || skip "ip netns exec is not usable here"
for c in nginx dnsmasq openssl curl; do command -v $c >/dev/null || skip "needs $c"; done
export NE_DNSQ="$UEXT_BUILD/tests/ne_dnsq"
[ -x "$NE_DNSQ" ] || fail "build first: $NE_DNSQ"

source "$HERE/ne_lib.sh"
ne_setup || fail "ne_setup: $(cat "$NE_SETUP_ERR")"
ok "namespaces $NE_C and $NE_S up"
[ -z "$(ip -n "$NE_C" route show default)" ] || fail "the client has a default route"

# --- HTTP and HTTPS, every name, both families -------------------------------------------
for fam in 4 6; do
	for scheme in http https; do
		for name in allowed.test blocked.test other.test; do
			body=$(ne_curl -$fam "$scheme://$name/") || fail "$scheme://$name/ over IPv$fam failed"
			[ "$body" = "$name" ] || fail "$scheme://$name/ over IPv$fam: body '$body'"
		done
		peer=$(ne_curl -$fam -o /dev/null -w '%{remote_ip}' "$scheme://allowed.test/")
		want=$NE_S4
		[ $fam = 6 ] && want=$NE_S6
		[ "$peer" = "$want" ] || fail "$scheme over IPv$fam went to '$peer'"
	done
	ok "IPv$fam: http and https to allowed/blocked/other.test answer their names (CA-verified)"
done
body=$(ne_in_c timeout 10 curl -s --max-time 5 "http://$NE_S4/") || fail "by address failed"
[ "$body" = default ] || fail "any other Host: body '$body'"
want=$(sha256sum <"$NE_WWW/big")
got=$(ne_curl -6 https://allowed.test/big | sha256sum)
[ "$got" = "$want" ] || fail "/big over https/IPv6 differs"
size=$(ne_curl -4 -o /dev/null -w '%{size_download}' http://other.test/huge)
[ "$size" = $((64 << 20)) ] || fail "/huge: $size bytes"
ok "by address: default page; /big (2 MiB) intact over https/IPv6; /huge (64 MiB) over http/IPv4"

# --- DNS ---------------------------------------------------------------------------------
ans=$(ne_dig allowed.test | sort | tr '\n' ' ')
[ "$ans" = "A $NE_S4 AAAA $NE_S6 " ] || fail "DNS for allowed.test: '$ans'"
ans=$(ne_in_c "$NE_DNSQ" -t AAAA "$NE_S6" www.blocked.test) || fail "DNS over IPv6 failed"
[ "$ans" = "AAAA $NE_S6" ] || fail "AAAA for www.blocked.test over IPv6: '$ans'"
ne_dig example.com >/dev/null
rcode=$?
[ $rcode -ge 10 ] || fail "example.com: expected an error rcode (exit >= 10), got exit $rcode"
ne_in_c "$NE_DNSQ" -w 300 "$NE_S4" -p 54 allowed.test >/dev/null 2>&1
rc=$?
[ $rc = 2 ] || fail "a port without a server: expected exit 2 (timeout), got $rc"
got=$(ne_in_c getent ahostsv4 other.test | awk 'NR == 1 {print $1}')
[ "$got" = "$NE_S4" ] || fail "libc in C (ip netns exec) did not resolve through S: '$got'"
grep -q 'query\[A\] allowed.test' "$NE_DIR/dnsmasq.log" || fail "dnsmasq did not log the query"
ok "DNS: A+AAAA for *.test over IPv4 and IPv6, rcode $((rcode - 10)) for others, timeout when nobody answers, libc resolves via S"

# --- openssl s_client: nginx :443 and s_server :4433 --------------------------------------
sclient() { # ADDR:PORT NAME
	echo | ne_in_c timeout 10 openssl s_client -connect "$1" -servername "$2" -CAfile "$NE_CA" \
		-verify_return_error -verify_hostname "$2" 2>&1
}
# (output captured first: with pipefail, grep -q quitting early would fail the writer)
out=$(sclient "$NE_S4:443" blocked.test)
grep -q 'Verify return code: 0 (ok)' <<<"$out" || fail "s_client to nginx :443"
ne_start_s_server || fail "s_server did not start"
for a in "$NE_S4:4433" "[$NE_S6]:4433"; do
	out=$(sclient "$a" other.test)
	grep -q 'Verify return code: 0 (ok)' <<<"$out" || fail "s_client to s_server $a: $(tail -3 <<<"$out")"
done
out=$(ne_curl -4 https://allowed.test:4433/) || fail "https to s_server -www failed"
grep -q 's_server' <<<"$out" || fail "https to s_server -www: unexpected page"
ok "openssl s_client verifies nginx :443 and s_server :4433 (IPv4 and IPv6)"

# --- teardown leaves nothing --------------------------------------------------------------
pids="$NE_PID_nginx $NE_PID_dnsmasq $NE_PID_s_server $(ip netns pids "$NE_C") $(ip netns pids "$NE_S")"
ne_bg_c sleeper sleep 300 || fail "ne_bg_c"
pids="$pids $NE_PID_sleeper"
dir=$NE_DIR
ne_teardown
ne_teardown || fail "a second ne_teardown failed"
ne_leftovers || fail "left behind after ne_teardown"
for p in $pids; do [ -e "/proc/$p" ] && fail "process $p ($(cat /proc/$p/comm)) survived the teardown"; done
[ -e "$dir" ] && fail "$dir survived"
ok "teardown: namespaces, $(wc -w <<<"$pids") processes and $dir gone; a second teardown is a no-op"

# --- the owner SIGKILLed: the reaper cleans up --------------------------------------------
out=$(timeout 60 bash -c 'source "$1"; ne_setup >&2 || exit 1; echo "$NE_C $NE_S $NE_DIR $NE_PID_nginx"; kill -KILL $$' \
	_ "$HERE/ne_lib.sh")
read -r c s d ng <<<"$out"
[ -n "${ng:-}" ] || fail "the SIGKILL run did not set up: '$out'"
gone() { [ ! -e "/run/netns/$c" ] && [ ! -e "/run/netns/$s" ] && [ ! -e "$d" ] && [ ! -e "/proc/$ng" ] && [ ! -e "/etc/netns/$c" ]; }
for _ in $(seq 500); do gone && break; sleep 0.02; done
gone || fail "after SIGKILL of the owner: $c/$s/$d/nginx $ng still there"
ok "owner SIGKILLed: the reaper removed $c, $s, nginx and $d"
