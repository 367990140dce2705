#!/usr/bin/env bash
# ne/run.sh: what an outbound connection filter costs, measured side by side in one run with
# the method of ../shared/reference/ne-anchor-figures.md. Two network namespaces from
# tests/system/ne_lib.sh (client C, server S with nginx); every filter runs in C on the
# client's own OUTPUT path. Each round runs every configuration in this order, each filter
# started fresh for every workload and stopped (its rules gone) after it:
#   none        no rules; conntrack not active in C (the baseline of every ratio)
#   ct-rules    the floor's rules with the mark set in the kernel (-j MARK): conntrack plus
#               connmark, no user-space round trip
#   nfq-floor   CONNMARK --restore-mark; NFQUEUE 17 --queue-bypass for mark 0; CONNMARK
#               --save-mark in filter; bench/ne/nfq_floor answers ACCEPT + mark 1
#   nfq-all     (not by default; T1 only) every OUTPUT packet queued, no conntrack shortcut
#   opensnitch  Debian's opensnitchd (installed if missing, never as a host service), its
#               default config unchanged, one allow-always rule with operand true, no UI
#   uext        uextd with the bundled urlfilter extension, a block list that matches none
#               of the traffic (every new flow is attributed, its Host read, and decided by
#               the extension); bench/ne/uext.sh
#   uext-cache  the same with the urlfilter's kernel-cached allows (cache_ttl_ms): a program
#               going to the same destination again is answered in the kernel
# Workloads (client in C -> server in S):
#   T1   iperf3 -t 10 -O 1, 1 stream, Gbit/s
#   C    bench/ne/connrate rate: 8 threads, 8 s, HTTP GET + Connection: close to nginx :80
#   L    2000 sequential connects to nginx :80 over IPv4 (connect() timed, then GET)
#   L6   the same over IPv6
# Before every workload conntrack in C is flushed and the harness pauses 1 s. Per workload:
# client errors, queue drops and ids (/proc/net/netfilter/nfnetlink_queue in C), filter
# alive at the end, filter CPU (utime+stime+cutime+cstime), peak RSS (VmHWM), threads, and
# whole-machine CPU (/proc/stat). The table gives medians over rounds and the median of the
# per-round ratios to the same round's none.
#
# Safety: nothing leaves the two namespaces; every iptables call is made inside C; the host's
# iptables/ip6tables/nft rules, addresses and routes are fingerprinted before and after and
# the check is printed. Every workload and filter runs under timeout; the exit trap stops
# them and deletes both namespaces (ne_lib.sh's reaper does it even on SIGKILL).
#
#   usage: bench/ne/run.sh BUILD_DIR [ROUNDS]      (ROUNDS default 2; one round ~2-3 min)
#   env:   CONFIGS="none ct-rules nfq-floor opensnitch uext uext-cache" WORKLOADS="T1 C L L6"
#          C_THREADS=8 C_SECONDS=8 L_COUNT=2000 T1_SECONDS=10 KEEP=1 (keep the work dir)
set -uo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
[ $# -ge 1 ] || { echo "usage: bench/ne/run.sh BUILD_DIR [ROUNDS]" >&2; exit 2; }
B=$(realpath -m "$1")
ROUNDS=${2:-2}
CONFIGS=${CONFIGS:-none ct-rules nfq-floor opensnitch uext uext-cache}
WORKLOADS=${WORKLOADS:-T1 C L L6}
C_THREADS=${C_THREADS:-8}
C_SECONDS=${C_SECONDS:-8}
L_COUNT=${L_COUNT:-2000}
T1_SECONDS=${T1_SECONDS:-10}
CONNRATE=$B/bench/ne/connrate
NFQ_FLOOR=$B/bench/ne/nfq_floor
export UEXT_BUILD=$B UEXT_SRC=$SRC # for ne_lib.sh (ne_dnsq) and uext.sh
log() { echo "$*" >&2; }
has_cfg() { [[ " $CONFIGS " == *" $1 "* ]]; }

[ "$(id -u)" = 0 ] || { log "ne/run.sh: needs root"; exit 1; }
for c in ip iptables-restore ip6tables-restore iptables-save conntrack iperf3 nginx dnsmasq jq curl; do
	command -v $c >/dev/null || { log "ne/run.sh: needs $c"; exit 1; }
done
# Build what is missing or stale; nfq_floor does not exist without libnetfilter_queue.
{ ninja -C "$B" connrate ne_dnsq && { ninja -C "$B" nfq_floor || true; }; } >"$B/ne-bench-build.log" 2>&1 ||
	log "ne/run.sh: build failed, using what exists (see $B/ne-bench-build.log)"
[ -x "$CONNRATE" ] || { log "ne/run.sh: $CONNRATE missing"; exit 1; }

# ---- host fingerprint: only read here, compared at the end --------------------------------
host_fp() {
	{
		echo "## iptables-save"
		iptables-save 2>&1 | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//g'
		echo "## ip6tables-save"
		ip6tables-save 2>&1 | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//g'
		echo "## nft list ruleset"
		if command -v nft >/dev/null; then
			nft list ruleset 2>&1 | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/g'
		else echo "(nft not installed)"; fi
		echo "## links"
		ip -o link show | awk '{print $2}'
		echo "## addresses"
		ip -o addr show | sed -E 's/ (valid|preferred)_lft [^ ]+//g; s/\\//g'
		echo "## routes"
		ip -o -4 route show table all
		ip -o -6 route show table all | sed -E 's/ expires [^ ]+//g'
	}
}
FP_DIR=$(mktemp -d /tmp/uext-bench-ne-fp.XXXXXX)
host_fp >"$FP_DIR/before"

# ---- opensnitch: the Debian package, installed if missing, never started as a service ------
if has_cfg opensnitch && [ ! -x /usr/bin/opensnitchd ]; then
	made_policy=
	if ! { [ -x /usr/sbin/policy-rc.d ] && { /usr/sbin/policy-rc.d opensnitch start >/dev/null 2>&1; [ $? = 101 ]; }; }; then
		[ -e /usr/sbin/policy-rc.d ] && { log "ne/run.sh: /usr/sbin/policy-rc.d allows starts; install opensnitch by hand"; exit 1; }
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	log "ne/run.sh: apt-get install opensnitch (policy-rc.d denies service starts)"
	rc=0
	DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends opensnitch >/dev/null || rc=$?
	[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
	[ $rc = 0 ] || log "ne/run.sh: apt-get install opensnitch failed (rc $rc); opensnitch skipped"
fi
if has_cfg opensnitch && pgrep -x opensnitchd >/dev/null; then
	log "ne/run.sh: an opensnitchd is already running on this machine; stop it first"
	exit 1
fi

# ---- the test bed ---------------------------------------------------------------------------
source "$SRC/tests/system/ne_lib.sh"
WORK=$(mktemp -d /tmp/uext-bench-ne.XXXXXX)
RES=$WORK/results.tsv
: >"$RES"
declare -a FILTER_PIDS=() # the current filter's processes: CPU, RSS, alive
NFQ_QUEUES=""             # the queues it binds: ids and drops
CFG_BG=""                 # ne_lib background name of the current filter
cleanup() {
	set +e
	[ -n "$CFG_BG" ] && ne_stop "$CFG_BG" 2
	ne_teardown
	host_fp >"$FP_DIR/after"
	if cmp -s "$FP_DIR/before" "$FP_DIR/after"; then
		echo "host check: iptables-save, ip6tables-save, nft ruleset, links, addresses, routes: identical before and after ($(sha256sum <"$FP_DIR/after" | cut -c1-16))"
	else
		echo "host check: the host's network state CHANGED during the run:"
		diff "$FP_DIR/before" "$FP_DIR/after" | head -40
	fi
	ne_leftovers >/dev/null && echo "namespaces $NE_C and $NE_S deleted, no process left" ||
		echo "LEFT BEHIND: $(ne_leftovers)"
	rm -rf "$FP_DIR"
	if [ -n "${KEEP:-}" ]; then log "ne/run.sh: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ne_setup || { log "ne/run.sh: test bed failed: $(cat "$NE_SETUP_ERR" 2>/dev/null)"; exit 1; }
for ns in "$NE_C" "$NE_S"; do
	# TIME_WAIT capped as in the anchors: OpenSnitch's sock_diag dump walks them all
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_max_tw_buckets=1024 || { log "ne/run.sh: sysctl failed"; exit 1; }
done
ne_bg_s iperf3 timeout 7200 iperf3 -s -p 5201 || exit 1
ne_wait 10 ne_listening "$NE_S" tcp 5201 1 || { log "ne/run.sh: iperf3 server not listening"; exit 1; }

# ---- configurations --------------------------------------------------------------------------
# Every iptables call below runs inside C (ipt_c); the host's tables are never touched.
ipt_c() { ip netns exec "$NE_C" "$@"; }
rules_c() { # RULESET: load into both families' tables in C (replaces those tables)
	local fam
	for fam in iptables ip6tables; do
		printf '%s\n' "$1" | ipt_c "$fam-restore" || { log "  $fam-restore in C failed"; return 1; }
	done
}
rules_flush_c() { # empty every table of C, both families; prints how many rules were left
	local left=0 fam t n
	for fam in iptables ip6tables; do
		n=$(ipt_c "$fam-save" 2>/dev/null | grep -c '^-A')
		left=$((left + n))
		for t in mangle filter raw nat; do
			ipt_c "$fam" -t "$t" -F 2>/dev/null
			ipt_c "$fam" -t "$t" -X 2>/dev/null
		done
	done
	echo "$left"
}
FLOOR_RULES='*mangle
-A OUTPUT -j CONNMARK --restore-mark
-A OUTPUT -m mark --mark 0 -j NFQUEUE --queue-num 17 --queue-bypass
COMMIT
*filter
-A OUTPUT -m mark ! --mark 0 -m connmark --mark 0 -j CONNMARK --save-mark
COMMIT'
CT_RULES=${FLOOR_RULES/-j NFQUEUE --queue-num 17 --queue-bypass/-j MARK --set-mark 1}
ALL_RULES='*mangle
-A OUTPUT -j NFQUEUE --queue-num 17 --queue-bypass
COMMIT'

start_floor() { # RULES
	ne_bg_c floor timeout -s KILL 600 "$NFQ_FLOOR" 17 || return 1
	CFG_BG=floor
	FILTER_PIDS=()
	local t=$NE_PID_floor i c
	# the pid of nfq_floor under its timeout(1) wrapper
	for i in $(seq 250); do
		c=$(pgrep -P "$t" | head -1)
		[ -n "$c" ] && grep -qx ready "$NE_DIR/floor.err" && break
		sleep 0.02
	done
	[ -n "$c" ] && grep -qx ready "$NE_DIR/floor.err" || { log "  nfq_floor not ready: $(tail -2 "$NE_DIR/floor.err")"; return 1; }
	FILTER_PIDS=("$c")
	NFQ_QUEUES=17
	rules_c "$1"
}

OS_RULE='{
  "created": "2024-01-01T00:00:00.000000000+00:00",
  "updated": "2024-01-01T00:00:00.000000000+00:00",
  "name": "000-allow-all",
  "enabled": true,
  "precedence": false,
  "action": "allow",
  "duration": "always",
  "operator": { "type": "simple", "operand": "true", "sensitive": false, "data": "", "list": [] }
}'
os_ready() {
	[ "$(cat "/proc/${FILTER_PIDS[0]}/comm" 2>/dev/null)" = opensnitchd ] &&
		ipt_c iptables-save -t mangle | grep -q 'NFQUEUE --queue-num 0' &&
		ipt_c ip6tables-save -t mangle | grep -q 'NFQUEUE --queue-num 0' &&
		ipt_c awk '$1 == 0 {f = 1} END {exit !f}' /proc/net/netfilter/nfnetlink_queue
}
start_opensnitch() {
	local d=$WORK/os.$RANDOM
	mkdir -p "$d/rules" "$d/log" || return 1
	printf '%s\n' "$OS_RULE" >"$d/rules/000-allow-all.json"
	# `ip netns exec` runs it in a mount namespace of its own: the bind mount keeps the
	# config's LogFile (/var/log/opensnitchd.log) in our work dir and is gone when it exits.
	ne_bg_c osd bash -c 'mount --bind "$1" /var/log && exec timeout -s KILL 600 /usr/bin/opensnitchd -rules-path "$2"' \
		_ "$d/log" "$d/rules" || return 1
	CFG_BG=osd
	local i c=""
	for i in $(seq 250); do
		c=$(pgrep -P "$NE_PID_osd" -x opensnitchd | head -1)
		[ -n "$c" ] && break
		sleep 0.02
	done
	[ -n "$c" ] || { log "  opensnitchd did not start: $(tail -3 "$NE_DIR/osd.err")"; return 1; }
	FILTER_PIDS=("$c")
	NFQ_QUEUES="0 1"
	OS_DIR=$d
	ne_wait 30 os_ready || { log "  opensnitchd not intercepting after 30 s: $(tail -3 "$d/log/opensnitchd.log" 2>/dev/null)"; return 1; }
}

# uext: bench/ne/uext.sh, when it exists, replaces these two. Contract:
#   config_uext_start CFG  start uext's filter (CFG: uext or uext-cache) in "$NE_C" and return 0
#                      once it intercepts; set FILTER_PIDS=(pids to account: CPU, RSS,
#                      alive) and NFQ_QUEUES="queue numbers it binds" ("" if none). It may
#                      use ne_bg_c NAME ... and set CFG_BG=NAME so the exit trap can stop it,
#                      and $B (the build dir), $WORK (scratch). Non-zero, with the reason on
#                      stderr, skips uext for the rest of the run.
#   config_uext_stop   stop it and remove every rule it made; non-zero = not clean.
config_uext_start() { log "uext: not yet available"; return 1; }
config_uext_stop() { return 0; }
[ -f "$SRC/bench/ne/uext.sh" ] && source "$SRC/bench/ne/uext.sh"

start_cfg() {
	FILTER_PIDS=()
	NFQ_QUEUES=""
	CFG_BG=""
	case $1 in
	none) ;;
	ct-rules) rules_c "$CT_RULES" ;;
	nfq-floor) start_floor "$FLOOR_RULES" ;;
	nfq-all) start_floor "$ALL_RULES" ;;
	opensnitch) start_opensnitch ;;
	uext | uext-cache) config_uext_start "$1" ;;
	esac
}
# stop_cfg CFG: stops the filter, records its exit status and the rules it left in C.
stop_cfg() {
	local st="" left
	case $1 in
	nfq-floor | nfq-all) ne_stop floor 5; st=$NE_STOP_STATUS ;;
	opensnitch)
		ne_stop osd 15
		st=$NE_STOP_STATUS
		;;
	uext | uext-cache) config_uext_stop || log "  $1: config_uext_stop reported an unclean stop" ;;
	esac
	CFG_BG=""
	# opensnitch removes its own rules (counted before our flush); ours are flushed here
	if [ "$1" = opensnitch ] || [ "${1%-cache}" = uext ]; then rec rules_left "$(rules_flush_c)"; else rules_flush_c >/dev/null; fi
	[ -n "$st" ] && rec exit_status "$st"
	[ "$1" = opensnitch ] && rm -rf "$OS_DIR"
	return 0
}

# ---- measuring -------------------------------------------------------------------------------
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$CFG" "$WL" "$1" "$2" >>"$RES"; }
cpu_ticks() { # utime+stime+cutime+cstime of the filter processes
	local t=0 p v
	for p in "${FILTER_PIDS[@]}"; do
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}')
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
sys_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; } # non-idle jiffies
filter_alive() {
	local p
	for p in "${FILTER_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done
}
queue_counts() { # "ids drops" summed over NFQ_QUEUES, from C's nfnetlink_queue
	[ -n "$NFQ_QUEUES" ] || { echo "0 0"; return; }
	ipt_c cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk -v qs=" $NFQ_QUEUES " 'index(qs, " " $1 " ") {ids += $8; drops += $6 + $7} END {print ids + 0, drops + 0}'
}
status_sum() { # FIELD: summed over the filter processes (KiB or count)
	local t=0 p v
	for p in "${FILTER_PIDS[@]}"; do
		v=$(awk -v f="$1:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# run_wl: one workload under the current configuration; records its figures.
run_wl() {
	local out c0 c1 s0 s1 q0 q1 rc=0 errs
	ipt_c conntrack -F >/dev/null 2>&1
	sleep 1 # the anchors' settle pause after the flush, not a wait for a condition
	c0=$(cpu_ticks) s0=$(sys_busy) q0=$(queue_counts)
	case $WL in
	T1)
		out=$(ipt_c timeout $((T1_SECONDS + 30)) iperf3 -c "$NE_S4" -p 5201 -t "$T1_SECONDS" -O 1 -J 2>&1) || rc=$?
		;;
	C) out=$(ipt_c timeout $((C_SECONDS + 30)) "$CONNRATE" -t "$C_THREADS" -d "$C_SECONDS" rate "$NE_S4" 80 2>"$WORK/connrate.err") || rc=$? ;;
	L) out=$(ipt_c timeout 300 "$CONNRATE" -n "$L_COUNT" lat "$NE_S4" 80 2>"$WORK/connrate.err") || rc=$? ;;
	L6) out=$(ipt_c timeout 300 "$CONNRATE" -n "$L_COUNT" lat "$NE_S6" 80 2>"$WORK/connrate.err") || rc=$? ;;
	esac
	c1=$(cpu_ticks) s1=$(sys_busy) q1=$(queue_counts)
	if [ ${#FILTER_PIDS[@]} -gt 0 ]; then
		filter_alive && rec alive 1 || rec alive 0
		rec hwm_kib "$(status_sum VmHWM)"
		rec threads "$(status_sum Threads)"
		rec cpu_s "$(echo "$c0 $c1" | awk -v hz="$(getconf CLK_TCK)" '{print ($2 - $1) / hz}')"
	fi
	rec sys_cpu_s "$(echo "$s0 $s1" | awk -v hz="$(getconf CLK_TCK)" '{print ($2 - $1) / hz}')"
	if [ -n "$NFQ_QUEUES" ]; then
		read -r i0 d0 <<<"$q0"
		read -r i1 d1 <<<"$q1"
		rec queued $((i1 - i0))
		rec drops $((d1 - d0))
	fi
	if [ "$WL" = T1 ]; then
		local g
		g=$(jq -r 'if .error then "" else .end.sum_received.bits_per_second / 1e9 end' <<<"$out" 2>/dev/null)
		if [ $rc = 0 ] && [ -n "$g" ]; then rec gbps "$g"; rec conns 2; rec errors 0; else
			rec errors 1
			log "  T1 failed (rc $rc): $(jq -r '.error // empty' <<<"$out" 2>/dev/null | head -1)"
		fi
		log "$(printf '  %-11s %-3s %s Gbit/s' "$CFG" "$WL" "$(printf '%.2f' "${g:-0}")")"
		return
	fi
	if [[ $out != mode=* ]]; then
		rec errors 1
		log "  $WL failed (rc $rc): $(tail -2 "$WORK/connrate.err")"
		return
	fi
	local kv
	for kv in $out; do
		case ${kv%%=*} in
		conns | conn_per_s | req_p50_us | req_p99_us | connect_p50_us | connect_p99_us | errors) rec "${kv%%=*}" "${kv#*=}" ;;
		esac
	done
	errs=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$out")
	[ "${errs:-1}" = 0 ] || log "  $WL: $errs client errors: $(head -2 "$WORK/connrate.err")"
	log "$(printf '  %-11s %-3s %s' "$CFG" "$WL" "$(sed 's/mode=[a-z]* //; s/family=[a-z0-9]* //' <<<"$out")")"
}

# ---- rounds ----------------------------------------------------------------------------------
ACTIVE=()
for c in $CONFIGS; do
	case $c in
	nfq-floor | nfq-all) [ -x "$NFQ_FLOOR" ] || { log "ne/run.sh: $NFQ_FLOOR not built, $c skipped"; continue; } ;;
	opensnitch) [ -x /usr/bin/opensnitchd ] || { log "ne/run.sh: opensnitchd missing, skipped"; continue; } ;;
	none | ct-rules | uext | uext-cache) ;;
	*) log "ne/run.sh: unknown configuration '$c'"; exit 2 ;;
	esac
	ACTIVE+=("$c")
done
[ "${ACTIVE[0]:-}" = none ] || { log "ne/run.sh: 'none' must be the first configuration"; exit 2; }
SKIPPED=""
log "ne/run.sh: $ROUNDS round(s) of: ${ACTIVE[*]}; workloads $WORKLOADS (work dir $WORK)"
log "  C: $C_THREADS threads x $C_SECONDS s; L/L6: $L_COUNT connects; T1: iperf3 -t $T1_SECONDS -O 1; tcp_max_tw_buckets 1024"
T_START=$SECONDS
for ROUND in $(seq "$ROUNDS"); do
	log "round $ROUND"
	for CFG in "${ACTIVE[@]}"; do
		[[ " $SKIPPED " == *" $CFG "* ]] && continue
		for WL in $WORKLOADS; do
			[ "$CFG" = nfq-all ] && [ "$WL" != T1 ] && continue # throughput only, as the anchors
			if ! start_cfg "$CFG"; then
				if [ "${CFG%-cache}" = uext ]; then SKIPPED="$SKIPPED $CFG"; rules_flush_c >/dev/null; break; fi
				log "  $CFG: filter did not start; $WL skipped this round"
				rec start_failed 1
				stop_cfg "$CFG"
				continue
			fi
			run_wl
			stop_cfg "$CFG"
		done
	done
	log "  (round $ROUND done at $((SECONDS - T_START)) s)"
done

# ---- report ----------------------------------------------------------------------------------
SHOWN=()
for c in "${ACTIVE[@]}"; do [[ " $SKIPPED " == *" $c "* ]] || SHOWN+=("$c"); done
awk -F'\t' -v cfgs="${SHOWN[*]}" -v skipped="$SKIPPED" -v rounds="$ROUNDS" "$(cat "$SRC/bench/stats.awk")"'
# median over rounds of a per-round quotient k1 / k2 (e.g. CPU per connection)
function per(c, w, k1, k2, scale,   r, lst) {
	lst = ""
	for (r in R) if (((r, c, w, k1) in V) && ((r, c, w, k2) in V) && V[r, c, w, k2] > 0)
		lst = lst " " V[r, c, w, k1] * scale / V[r, c, w, k2]
	return median(lst)
}
function maxof(c, w, k,   n, a, i, m) { n = split(L[c, w, k], a, " "); m = ""; for (i = 1; i <= n; i++) if (m == "" || a[i] + 0 > m) m = a[i] + 0; return m }
function fmt(x, f) { return x == "" ? "-" : sprintf(f, x) }
function cell(c, w, k, f,   m, r) {
	m = med(c, w, k)
	if (m == "") return "-"
	if (c == "none") return sprintf(f, m)
	r = ratio(c, w, k)
	return sprintf(f " (%s)", m, r == "" ? "?" : sprintf("%.2fx", r))
}
function pair(c, w, k1, k2, f,   a, b, r1, r2) {
	a = med(c, w, k1); b = med(c, w, k2)
	if (a == "") return "-"
	if (c == "none") return sprintf(f " / " f, a, b)
	r1 = ratio(c, w, k1); r2 = ratio(c, w, k2)
	return sprintf(f " / " f " (%.2fx / %.2fx)", a, b, r1, r2)
}
function row(title, what,   j, c, v, i, m, t, x, y) {
	printf "| %-44s |", title
	for (j = 1; j <= nc; j++) {
		c = C[j]
		if (what == "t1") v = cell(c, "T1", "gbps", "%.2f")
		else if (what == "crate") v = cell(c, "C", "conn_per_s", "%.0f")
		else if (what == "clat") v = pair(c, "C", "req_p50_us", "req_p99_us", "%.0f")
		else if (what == "l") v = pair(c, "L", "connect_p50_us", "connect_p99_us", "%.0f")
		else if (what == "l6") v = pair(c, "L6", "connect_p50_us", "connect_p99_us", "%.0f")
		else if (what == "lreq") v = cell(c, "L", "req_p50_us", "%.0f")
		else if (what == "fcpu") {
			v = "-"
			if (((c SUBSEP "C" SUBSEP "cpu_s") in L) || ((c SUBSEP "L" SUBSEP "cpu_s") in L))
				v = fmt(per(c, "L", "cpu_s", "conns", 1e6), "%.0f") " / " fmt(per(c, "C", "cpu_s", "conns", 1e6), "%.0f")
		} else if (what == "scpu") v = fmt(per(c, "C", "sys_cpu_s", "conns", 1e6), "%.0f")
		else if (what == "t1cpu") {
			v = "-"
			if ((c SUBSEP "T1" SUBSEP "cpu_s") in L) v = fmt(med(c, "T1", "cpu_s"), "%.2f")
		} else if (what == "queued") {
			v = "-"
			if (((c SUBSEP "L" SUBSEP "queued") in L) || ((c SUBSEP "C" SUBSEP "queued") in L) || ((c SUBSEP "T1" SUBSEP "queued") in L))
				v = fmt(per(c, "L", "queued", "conns", 1), "%.2f") " / " fmt(per(c, "C", "queued", "conns", 1), "%.2f") " / " fmt(med(c, "T1", "queued"), "%d")
		}
		else if (what == "rss") {
			m = ""; t = 0
			for (i = 1; i <= nws; i++) if ((c SUBSEP WS[i] SUBSEP "hwm_kib") in L) {
				x = maxof(c, WS[i], "hwm_kib"); if (m == "" || x > m) m = x
				y = maxof(c, WS[i], "threads"); if (y > t) t = y
			}
			v = m == "" ? "-" : sprintf("%.1f MiB / %d", m / 1024, t)
		}
		printf " %-30s |", v
	}
	printf "\n"
}
END {
	nc = split(cfgs, C, " ")
	nws = split("T1 C L L6", WS, " ")
	printf "\n=== key table (medians over %d round(s); ratio = median of per-round ratios to none) ===\n\n", rounds
	printf "| %-44s |", "metric"; for (j = 1; j <= nc; j++) printf " %-30s |", C[j]; printf "\n"
	printf "|%s|", "----------------------------------------------"; for (j = 1; j <= nc; j++) printf "%s|", "--------------------------------"; printf "\n"
	row("T1 bulk TCP, 1 stream, Gbit/s", "t1")
	row("C new connections/s (8 threads)", "crate")
	row("C request latency p50 / p99, µs", "clat")
	row("L connect() p50 / p99, µs (IPv4)", "l")
	row("L6 connect() p50 / p99, µs (IPv6)", "l6")
	row("L request (connect to EOF) p50, µs", "lreq")
	row("filter CPU per new connection (L / C), µs", "fcpu")
	row("filter CPU during T1, s", "t1cpu")
	row("whole-machine CPU per connection (C), µs", "scpu")
	row("packets queued per connection (L / C / T1 run)", "queued")
	row("filter peak RSS (VmHWM) / threads, max", "rss")

	printf "\n=== checks (every record) ===\n"
	for (j = 1; j <= nc; j++) {
		c = C[j]; errs = 0; drops = 0; dead = 0; recs = 0; sf = 0; rl = ""; ex = ""; unclean = 0
		for (k in V) {
			split(k, p, SUBSEP)
			if (p[2] != c) continue
			if (p[4] == "errors") { recs++; errs += V[k] }
			if (p[4] == "drops") drops += V[k]
			if (p[4] == "alive" && V[k] == 0) dead++
			if (p[4] == "start_failed") sf++
			if (p[4] == "rules_left") { rl = rl " " V[k]; if (V[k] > 0) unclean++ }
			if (p[4] == "exit_status") { ex = ex " " V[k]; if (V[k] != 0) unclean++ }
		}
		printf "  %-11s %2d workload runs: client errors %d, queue drops %d, filter dead at end %d, start failures %d",
			c, recs, errs, drops, dead, sf
		if (rl != "") printf ", its rules left after stop:%s", rl
		if (ex != "") printf ", exit status on SIGTERM:%s", ex
		printf "  %s%s\n", (errs == 0 && drops == 0 && dead == 0 && sf == 0) ? "OK" : "CHECK FAILED",
			unclean ? " (NOTE: unclean stop; the harness flushed what it left)" : ""
	}
	if (skipped != "") printf "  skipped:%s (see the log above)\n", skipped
	printf "\n  anchors (../shared/reference/ne-anchor-figures.md, 6 rounds on an idle VM): nfq-floor C 0.68x, L p50 2.06x\n"
	printf "  (+18 µs), 30-36 µs filter CPU/conn, 1.00 packet/conn; OpenSnitch C 0.03x, L p50 ~85x (~1.5 ms)\n"
}' "$RES"
log ""
log "raw figures: $RES (KEEP=1 keeps them)"
