#!/usr/bin/env bash
# t_ne_filter: the network filter engine against real peers (nginx over HTTP and HTTPS,
# openssl s_client, dnsmasq) in two network namespaces this test creates; uextd and the
# filter (tests/system/ne_probe.c, <uext/ne.h> only) run in the client's namespace, so
# every rule and queue lives there and nothing touches the host's own network.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ne_lib.sh"

PROBE="$UEXT_BUILD/tests/ne_probe"
[ -x "$PROBE" ] || fail "build first: $PROBE"
command -v iptables-restore >/dev/null || skip "needs iptables"
trap 'stop_filter; stop_uextd; rm -rf "$ROOT"' EXIT
ne_setup || skip "network namespaces unavailable: $(cat "$NE_SETUP_ERR" 2>/dev/null)" # tears down first on exit

IN_C=(nsenter "--net=/run/netns/$NE_C") # keeps the host's mounts: cgroup2 stays visible to uextd
FILTER_PID=""

start_uextd_c() {
	"${IN_C[@]}" "$UEXTD" --root "$ROOT" --no-es --debug "$@" >>"$UEXTD_LOG" 2>&1 &
	UEXTD_PID=$!
	ctl status >/dev/null || fail "uextd did not come up"
}
ne_status() { ctl --json status | jq -c ".ne$1"; }
ne_is() { test "$(ne_status "$1")" "$2" "$3"; } # for wait_until: evaluated at every try
start_filter() {
	: >"$ROOT/filter.out"
	: >"$ROOT/filter.err" # the previous filter's "ready" must not count
	"${IN_C[@]}" "$PROBE" "$@" >"$ROOT/filter.out" 2>"$ROOT/filter.err" &
	FILTER_PID=$!
	wait_until 10 grep -q ready "$ROOT/filter.err" || fail "filter did not connect: $(cat "$ROOT/filter.err")"
}
stop_filter() {
	[ -n "$FILTER_PID" ] || return 0
	kill -TERM "$FILTER_PID" 2>/dev/null || true
	wait "$FILTER_PID" 2>/dev/null || true
	FILTER_PID=""
}
# fetch NAME PROTO [FAMILY] [CURL...]: body of NAME's page, exit status of curl
fetch() {
	local name=$1 proto=$2 fam=${3:-4} addr port
	shift 3 || shift $#
	[ "$fam" = 6 ] && addr="[$NE_S6]" || addr=$NE_S4
	[ "$proto" = https ] && port=443 || port=80
	"${IN_C[@]}" timeout 10 "${CURL:-curl}" -sk --max-time 8 --resolve "$name:$port:$addr" "$@" "$proto://$name/"
}
decisions() { jq -cR "fromjson? | select($1)" "$ROOT/filter.out"; } # a line being written is skipped
elapsed_ms() { local t0=$1; echo $(($(date +%s%N) / 1000000 - t0)); }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

start_uextd_c
wait_until 5 ne_is .active = false || fail "engine active with no filter"

# --- lazy mode: one round trip per connection, name from the first bytes -----------------
start_filter --block blocked.test --peek 2048
wait_until 5 ne_is .active = true || fail "engine not active with a filter"
for fam in 4 6; do
	for proto in http https; do
		body=$(fetch allowed.test $proto $fam) || fail "allowed.test over $proto/IPv$fam failed"
		[[ "$body" == allowed.test* ]] || fail "allowed.test $proto/IPv$fam: wrong body '$body'"
		t0=$(now_ms)
		if fetch blocked.test $proto $fam >/dev/null; then fail "blocked.test over $proto/IPv$fam went through: $(tail -3 "$ROOT/filter.out") $(ne_status .counters) $("${IN_C[@]}" iptables-save -c | grep -E "NFQUEUE|CONNMARK")"; fi
		ms=$(elapsed_ms "$t0")
		[ "$ms" -lt 1500 ] || fail "blocked.test over $proto/IPv$fam failed only after $ms ms (not reset at once)"
		ok "IPv$fam $proto: allowed.test loads, blocked.test fails in $ms ms"
	done
done
n=$(decisions '.host == "blocked.test" and .verdict == "drop"' | wc -l)
[ "$n" -ge 4 ] || fail "expected 4 drops of blocked.test, filter saw $n"
line=$(decisions '.host == "allowed.test" and .rport == 443' | head -1)
[ "$(jq -r .exe <<<"$line")" = "$(readlink -f "$(command -v curl)")" ] || fail "exe not attributed: $line"
[ "$(jq -r .attribution <<<"$line")" = 1 ] || fail "not attributed in the kernel: $line"
[ "$(jq -r .host_source <<<"$line")" = 1 ] || fail "host not from the SNI: $line"
ok "flows carry pid/exe from the kernel and the SNI ($(jq -r '"pid \(.pid) \(.exe)"' <<<"$line"))"

# --- the largest ClientHello this OpenSSL sends: over several segments -------------------
alpn=$(for i in $(seq 1 120); do printf 'proto-%03d-xxxxxxxxxxxx,' "$i"; done)
alpn="${alpn}http/1.1" # nginx refuses a hello whose ALPN offers nothing it speaks
hello() { # NAME: 0 when the handshake completed
	echo | "${IN_C[@]}" timeout 10 openssl s_client -connect "$NE_S4:443" -servername "$1" -alpn "$alpn" \
		-groups X25519:P-256:P-384:P-521:ffdhe2048 >"$ROOT/sclient.out" 2>&1
	grep -q "^New, TLS" "$ROOT/sclient.out"
}
hello allowed.test || fail "large hello to allowed.test failed: $(tail -3 "$ROOT/sclient.out")"
if hello blocked.test; then fail "large hello to blocked.test went through"; fi
big=$(decisions '.host == "blocked.test" and .rport == 443' | jq -s 'map(.bytes_out) | max')
[ "$big" -gt 1500 ] || fail "the hello was not larger than one segment ($big bytes)"
ok "a $big-byte ClientHello spanning segments: blocked by name, allowed one completes"

# --- decided flows stay in the kernel ---------------------------------------------------
before=$(ne_status .counters.packets)
"${IN_C[@]}" timeout 20 curl -s -o /dev/null --resolve "allowed.test:80:$NE_S4" http://allowed.test/big ||
	fail "download failed"
after=$(ne_status .counters.packets)
[ $((after - before)) -le 2 ] || fail "an allowed flow kept reaching user space: $((after - before)) packets queued"
ok "a $(stat -c %s "$NE_WWW/big" 2>/dev/null || echo large) byte download queued $((after - before)) packet(s)"

# --- DNS: a query is named by what it asks; answers name flows that carry no name --------
if ne_dig blocked.test A >/dev/null; then fail "a DNS query for a blocked name was answered"; fi
[ -n "$(decisions '.rport == 53 and .host == "blocked.test" and .verdict == "drop"')" ] || fail "the DNS query was not named"
ne_dig other.test A >/dev/null || fail "DNS query for other.test failed"
wait_until 5 ne_is .counters.dns_answers -ge 1 || fail "the DNS answer was not seen"
"${IN_C[@]}" timeout 5 bash -c "exec 3<>/dev/tcp/$NE_S4/80; printf 'x' >&3" || true
dns_named() { [ -n "$(decisions '.host_source == 3 and .rport == 80')" ]; }
wait_until 5 dns_named ||
	fail "a raw TCP flow was not named from DNS: $(tail -2 "$ROOT/filter.out")"
line=$(decisions '.host_source == 3 and .rport == 80' | tail -1)
[ "$(jq -r .host <<<"$line")" = other.test ] || fail "named wrong: $line"
ok "a DNS query for a blocked name is refused; a flow without SNI or Host is named from the answer uextd saw"

# --- per-application rules tell two programs apart ---------------------------------------
stop_filter
cp "$(command -v curl)" "$WORK/curl2"
start_filter --block-exe "$WORK/curl2" --peek 2048
fetch allowed.test http >/dev/null || fail "curl blocked by a rule for curl2"
if CURL="$WORK/curl2" fetch allowed.test http >/dev/null; then fail "curl2 was not blocked"; fi
ok "a rule for one executable blocks it and not another"

# --- static rules (NEFilterRule): decided without asking the filter -------------------------
stop_filter
start_filter --peek 2048 --rule "drop,tcp,$NE_S4/32,443" --rule "allow,tcp,any,80" --rule "drop,any,any,0,exe=$WORK/curl2"
if fetch allowed.test https >/dev/null; then fail "a static drop rule (address, port) let a flow through"; fi
fetch allowed.test http >/dev/null || fail "a static allow rule did not allow"
if CURL="$WORK/curl2" fetch allowed.test https 6 >/dev/null; then fail "a static executable rule did not drop"; fi
[ ! -s "$ROOT/filter.out" ] || fail "flows decided by static rules reached the filter: $(head -2 "$ROOT/filter.out")"
[ "$(ne_status .counters.exe_rule)" -ge 1 ] || fail "the executable rule was not counted"
ok "static rules by address and port (in the kernel) and by executable (in uextd) never reach the filter"

# --- a drop decided on bytes that came in: our socket is closed at once, not left waiting --
stop_filter
start_filter --peek 2048 --block-in "Content-Length: 11" # other.test's page, "other.test\n"
fetch allowed.test http >/dev/null || fail "a response without the marker was dropped"
t0=$(now_ms)
if fetch other.test http >/dev/null; then fail "a response with the marker went through"; fi
ms=$(elapsed_ms "$t0")
[ "$ms" -lt 1500 ] || fail "the client waited $ms ms for a flow dropped on inbound bytes"
[ "$(ne_status .counters.sockets_closed)" -ge 1 ] || fail "the local socket was not closed"
ok "a flow dropped on its inbound bytes fails at once in the client ($ms ms)"

# --- Apple mode: new_flow at the SYN, peek, pause ----------------------------------------
stop_filter
start_filter --block blocked.test --peek 0 --want 1024 --pause-ms 200
t0=$(now_ms)
fetch allowed.test http >/dev/null || fail "paused then allowed flow failed"
ms=$(elapsed_ms "$t0")
[ "$ms" -ge 150 ] || fail "a paused flow went through in $ms ms"
if fetch blocked.test http >/dev/null; then fail "blocked.test passed in SYN mode"; fi
[ -n "$(decisions '.verdict == "peek" and .event == "new"')" ] || fail "no PEEK at new_flow"
ok "SYN-time new_flow, PEEK of the request, PAUSE then resume ($ms ms)"

# --- the filter dies: policy default, never a hang --------------------------------------
stop_filter
start_filter --stall --peek 2048
kill -KILL "$FILTER_PID"
wait "$FILTER_PID" 2>/dev/null || true
FILTER_PID=""
t0=$(now_ms)
fetch blocked.test http >/dev/null || fail "fail-open: a new flow failed after the filter died"
ok "filter SIGKILLed (fail-open): a new flow is allowed by policy in $(elapsed_ms "$t0") ms"
stop_uextd
start_uextd_c --ne-fail-closed --ne-deadline 300
start_filter --stall --peek 2048
t0=$(now_ms)
if fetch allowed.test http >/dev/null; then fail "fail-closed: a stalled filter let a flow through"; fi
ms=$(elapsed_ms "$t0")
[ "$ms" -lt 2000 ] || fail "fail-closed deadline took $ms ms"
[ "$(ne_status .counters.deadline_misses)" -ge 1 ] || fail "deadline miss not counted"
kill -KILL "$FILTER_PID"
wait "$FILTER_PID" 2>/dev/null || true
FILTER_PID=""
t0=$(now_ms)
if fetch allowed.test http >/dev/null; then fail "fail-closed: a flow passed with the filter dead"; fi
ms=$(elapsed_ms "$t0")
[ "$ms" -lt 1500 ] || fail "fail-closed with a dead filter: $ms ms (not reset at once)"
ok "fail-closed: a stalled filter's flow is reset at its 300 ms deadline, a dead filter's at once ($ms ms)"

# --- uextd killed and restarted: established flows live on, rules stay consistent --------
stop_uextd
start_uextd_c
start_filter --block blocked.test --peek 2048
# a download slower than the restart (64 MiB at 2 MB/s): it must keep going across it
"${IN_C[@]}" timeout 60 curl -s --limit-rate 2M --resolve "allowed.test:80:$NE_S4" -o "$ROOT/huge.part" \
	http://allowed.test/huge >/dev/null 2>&1 &
LONG_PID=$!
wait_until 5 ne_is .counters.allowed -ge 1 || fail "long download not allowed"
size_at_least() { [ "$(stat -c %s "$ROOT/huge.part" 2>/dev/null || echo 0)" -ge "$1" ]; }
wait_until 10 size_at_least 1000000 || fail "the long download does not progress"
rules_before=$("${IN_C[@]}" iptables-save | grep -c UEXT_NE)
kill -KILL "$UEXTD_PID"
wait "$UEXTD_PID" 2>/dev/null || true
UEXTD_PID=""
stop_filter
start_uextd_c
start_filter --block blocked.test --peek 2048
rules_after=$("${IN_C[@]}" iptables-save | grep -c UEXT_NE)
[ "$rules_before" = "$rules_after" ] || fail "rules changed across a restart: $rules_before -> $rules_after lines"
kill -0 "$LONG_PID" 2>/dev/null || fail "the long download ended across the restart"
size=$(stat -c %s "$ROOT/huge.part")
wait_until 10 size_at_least $((size + 2000000)) || fail "the long download stalled after the restart at $size bytes"
kill "$LONG_PID" 2>/dev/null
wait "$LONG_PID" 2>/dev/null || true
if fetch blocked.test http >/dev/null; then fail "after the restart blocked.test passed"; fi
ok "uextd SIGKILLed mid-download: the download went on past $((size / 1000000)) MB, rules identical, filtering resumed"

# --- inbound: a connection to a server in the client namespace is a flow too --------------
cat >"$WORK/inbound_srv.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 8181)); s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    try:  # a dropped flow's socket is closed under us (ECONNABORTED)
        c.recv(4096); c.sendall(b"HTTP/1.0 200 OK\r\n\r\ninbound\n")
    except OSError:
        pass
    c.close()
PY
"${IN_C[@]}" python3 "$WORK/inbound_srv.py" >"$ROOT/inbound.out" 2>&1 &
SRV_PID=$!
wait_until 5 grep -q listening "$ROOT/inbound.out" || fail "inbound server did not start"
body=$(ne_in_s timeout 5 curl -s --max-time 4 -H "Host: inbound.test" "http://$NE_C4:8181/") || fail "inbound connection failed"
[ "$body" = inbound ] || fail "inbound body: '$body'"
if ne_in_s timeout 5 curl -s --max-time 4 -H "Host: blocked.test" "http://$NE_C4:8181/" >/dev/null; then
	fail "an inbound request for a blocked name passed"
fi
line=$(decisions '.direction == 2 and .lport == 8181 and .host == "inbound.test"' | tail -1)
[ -n "$line" ] || fail "the filter saw no inbound flow: $(tail -2 "$ROOT/filter.out")"
[ "$(jq -r .uid <<<"$line")" = 0 ] || fail "inbound flow not attributed to the listener's uid: $line"
kill -0 "$SRV_PID" 2>/dev/null || fail "the inbound server died"
kill "$SRV_PID" 2>/dev/null || true
wait "$SRV_PID" 2>/dev/null || true
ok "inbound flows: seen with the local server's uid and the Host asked for, blocked by name"

# --- hostile packets never crash the engine ---------------------------------------------
"${IN_C[@]}" python3 - "$NE_S4" <<'EOF'
import socket, sys, os, random
dst = sys.argv[1]
random.seed(7)
bad = [b"\x16\x03\x01\xff\xff\x01\x00\xff\xfb", b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03",
       b"\x16\x03\x01\x40\x00" + os.urandom(200), b"GET / HTTP/1.1\r\nHost: " + b"a" * 9000 + b"\r\n\r\n",
       b"\x16" * 3000, b"\x16\x03\x03\x00\x30\x01\x00\x00\x2c\x03\x03" + b"\x00" * 32 + b"\xff\xff"]
for b in bad:
    try:
        s = socket.create_connection((dst, 80), timeout=2)
        s.sendall(b)
        s.close()
    except OSError:
        pass
for i in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(bytes(random.getrandbits(8) for _ in range(random.randint(0, 600))), (dst, 53))
    u.close()
EOF
kill -0 "$UEXTD_PID" || fail "uextd died on hostile packets"
fetch allowed.test http >/dev/null || fail "the engine stopped working after hostile packets"
ok "hostile TLS, HTTP and DNS bytes: engine alive and filtering ($(ne_status .counters.malformed) malformed)"

stop_filter
wait_until 15 ne_is .active = false || fail "rules not removed after the filter stopped"
[ "$("${IN_C[@]}" iptables-save | grep -c UEXT_NE)" = 0 ] || fail "rules left behind after the filter stopped"
ok "the filter's clean stop removes every rule"
