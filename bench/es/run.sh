#!/usr/bin/env bash
# es/run.sh: what an Endpoint Security monitor costs the processes it watches, uext against
# no monitor, fapolicyd and auditd, measured side by side in one run. Every round runs every
# configuration (the order rotates per round), each with a freshly started monitor:
#   none             no monitor (the baseline of every ratio);
#   fan-floor        the mechanism floor: one thread answering every fanotify permission
#                    event (open, exec) ALLOW itself at once (bench/es/fan_floor.c);
#   fan-relay        the floor of a decision made in a second process (uext's shape): the
#                    reader sends each event's fd number to a child on its own CPU and
#                    answers when it comes back (fan_floor --relay --pin); W2h only;
#   fan-relay-spin   the same with both processes polling instead of sleeping, a CPU burned
#                    (fan_floor --relay --spin): the best a second process can do; W2h only;
#   uext-observe     uextd + a client subscribed to NOTIFY exec/fork/exit/open/close/
#                    create/unlink/write;
#   uext-auth        uextd + a client answering AUTH_EXEC/AUTH_OPEN allow, cache=false,
#                    sharing the engine's CPU (uext_es_set_colocation);
#   uext-auth-cache  the same with cache=true;
#   uext-auth-nocolo uext-auth without co-location (not in the default CONFIGS);
#   uext-auth-nopoll uext-auth with uextd --es-busy-poll 0 (not in the default CONFIGS);
#   fapolicyd        Debian's 1.1.7, --permissive, `allow perm=any all : all`,
#                    watch_fs=tmpfs, mount marks (as ../shared/reference/es-anchor-figures.md);
#   auditd           `-a always,exit -F arch=b64 -S execve,execveat`, backlog 8192.
# Workloads (bench/es/workload.c), all on a scratch tmpfs:
#   W1  exec storm      N_EXEC fork+execve of a tmpfs copy of /bin/true
#   W2h hot open        N_HOT open+close of one file
#   W2c cold open       one pass over N_COLD 64-byte files created before the monitor starts
#   W3  create storm    N_CREATE x (create, write 4 KiB, close, unlink)
#   W5  open latency    p50/p99 of one open every LAT_GAP_US while N_LAT_EXEC execs run
#   NOTIFY              events/s one uext client receives, with seq_num gaps (drops), while
#                       NOTIFY_PROCS generators each create and unlink N_NOTIFY files
# Per workload: median µs/op over rounds, median of per-round ratios to the same round's
# none, monitor CPU (utime+stime of uextd+client, fapolicyd, auditd+kauditd), the busy CPU
# time of the whole machine per operation (/proc/stat), and monitor peak RSS (VmHWM).
# Targets (the ES engine's issue) are printed next to the figures.
#
# Safety: everything runs in a private mount namespace (unshare -m), on a tmpfs mounted
# there; fapolicyd uses mount marks, which only see this namespace's mounts, and a private
# /etc/fapolicyd, /var/lib/fapolicyd, /var/log and /run, so the host's files are never
# touched. Every monitor runs under `timeout -s KILL`, a canary watchdog SIGKILLs the
# monitors if an open on the scratch tmpfs stalls for 3 s, and the exit trap stops them.
# Kernel audit is global: its rules, `enabled` and backlog_limit are restored on exit.
#
#   usage: bench/es/run.sh [BUILD_DIR] [ROUNDS]
#   env:   CONFIGS="none uext-observe ..." and the N_* sizes above; KEEP=1 keeps the
#          work directory (results.tsv, logs)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=$(realpath -m "${1:-build}")
ROUNDS=${2:-5}
N_EXEC=${N_EXEC:-2000}
N_HOT=${N_HOT:-200000}
N_COLD=${N_COLD:-10000}
N_CREATE=${N_CREATE:-20000}
N_LAT_EXEC=${N_LAT_EXEC:-1000}
LAT_GAP_US=${LAT_GAP_US:-200}
N_NOTIFY=${N_NOTIFY:-200000}
NOTIFY_PROCS=${NOTIFY_PROCS:-1} # parallel NOTIFY generators, N_NOTIFY iterations each
CONFIGS=${CONFIGS:-none fan-floor fan-relay fan-relay-spin uext-observe uext-auth uext-auth-cache fapolicyd auditd}
MON_MAX_S=${MON_MAX_S:-1800} # hard cap on one monitor's life
WL_MAX_S=${WL_MAX_S:-600}    # hard cap on one workload run
WL=$B/bench/uext-bench-workload
CLIENT=$B/bench/uext-bench-es-client
UEXTD=$B/src/uextd/uextd
UEXTCTL=$B/src/uextctl/uextctl
has_cfg() { [[ " $CONFIGS " == *" $1 "* ]]; }

# ---- outside the namespace: build, install the peers, then re-enter privately ----------
if [ -z "${UEXT_BENCH_ES_INNER:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "es/run.sh: needs root" >&2; exit 1; }
	# Build what is missing or stale. A tree that does not configure or build (other work
	# in progress) is tolerated as long as the workload binary exists; the client, uextd and
	# uextctl are needed only for the uext configurations, which are skipped without them.
	mkdir -p "$B/bench"
	{
		[ -f "$B/build.ninja" ] || cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release
		ninja -C "$B" uext-bench-workload uext-bench-fan-floor
	} >"$B/bench/workload-build.log" 2>&1 || {
		[ -x "$WL" ] || { echo "es/run.sh: cannot build the workload, see $B/bench/workload-build.log" >&2; exit 1; }
		echo "es/run.sh: build failed, using the existing $WL (see $B/bench/workload-build.log)" >&2
	}
	ninja -C "$B" uext-bench-es-client uextd uextctl >"$B/bench/es-client-build.log" 2>&1 || true
	pkgs=()
	if has_cfg fapolicyd && ! command -v fapolicyd >/dev/null; then pkgs+=(fapolicyd); fi
	if has_cfg auditd && ! command -v auditd >/dev/null; then pkgs+=(auditd); fi
	if [ ${#pkgs[@]} -gt 0 ]; then
		# The packages' postinst must not start the daemons: a default fapolicyd marks
		# every ext4/tmpfs mount of the host. Without a policy-rc.d that denies, lay one
		# down for the install only.
		made_policy=
		if ! { [ -x /usr/sbin/policy-rc.d ] && { /usr/sbin/policy-rc.d x start >/dev/null 2>&1; [ $? = 101 ]; }; }; then
			[ -e /usr/sbin/policy-rc.d ] && { echo "es/run.sh: /usr/sbin/policy-rc.d allows starts; install ${pkgs[*]} by hand" >&2; exit 1; }
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			made_policy=1
		fi
		echo "es/run.sh: apt-get install ${pkgs[*]}"
		rc=0
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null || rc=$?
		[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
		[ $rc = 0 ] || { echo "es/run.sh: apt-get install failed" >&2; exit 1; }
	fi
	export UEXT_BENCH_ES_INNER=1
	exec unshare -m --propagation private "$0" "$B" "$ROUNDS"
fi

# ---- inside the private mount namespace -------------------------------------------------
WORK=$(mktemp -d /tmp/uext-bench-es.XXXXXX)
chmod 755 "$WORK"
S=$WORK/scratch
RES=$WORK/results.tsv
: >"$RES"
MONPIDS=$WORK/monpids # pids the watchdog may SIGKILL
: >"$MONPIDS"
WATCHDOG=
AUDIT_ORIG=
declare -a MON=()  # real pids of the current monitor's processes
declare -a TPID=() # their `timeout` wrappers
CLIENT_PID=
CLIENT_OUT=
UROOT=

log() { echo "$*" >&2; }
mon_cpu_ticks() { # utime+stime of the current monitor processes (+kauditd for auditd)
	local t=0 p v
	for p in "${MON[@]}" ${KAUDITD:-}; do
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
all_cpu_ticks() { # busy ticks of every CPU, every process (user+nice+system+irq+softirq)
	awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat
}
mon_hwm_kib() {
	local t=0 p v
	for p in "${MON[@]}"; do
		v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
mon_alive() {
	local p
	for p in "${MON[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done
}
# The child timeout(1) forked for its command, polled a bounded number of times.
child_of() {
	local i c
	for i in $(seq 500); do
		c=$(pgrep -P "$1" | head -1 || true)
		[ -n "$c" ] && { echo "$c"; return 0; }
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}
# Start "$@" under a hard time cap; sets REPLY to the command's own pid.
spawn() {
	local out=$1 err=$2
	shift 2
	timeout -s KILL "$MON_MAX_S" "$@" >"$out" 2>"$err" &
	local t=$!
	TPID+=("$t")
	REPLY=$(child_of "$t") || return 1
	MON+=("$REPLY")
	echo "$REPLY" >>"$MONPIDS"
}
# TERM a pid, then KILL if it is still there after ~5 s.
stop_pid() {
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for i in $(seq 500); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.01; done
	kill -KILL "$1" 2>/dev/null || true
}
reap() {
	local t
	for t in "${TPID[@]}"; do wait "$t" 2>/dev/null || true; done
	MON=(); TPID=(); CLIENT_PID=; KAUDITD=
	: >"$MONPIDS"
}
ready_line() { # file: poll (10 s at most) for its line "ready" while every monitor lives
	local i
	for i in $(seq 1000); do
		grep -qx ready "$1" 2>/dev/null && return 0
		mon_alive || return 1
		sleep 0.01
	done
	return 1
}
wait_line() { # file regex tries: poll until a line of file matches
	local i
	for i in $(seq "$3"); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.01; done
	return 1
}

cleanup() {
	set +e
	[ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null && wait "$WATCHDOG" 2>/dev/null
	local p
	for p in "${MON[@]}"; do kill -KILL "$p" 2>/dev/null; done
	reap
	if [ -n "$AUDIT_ORIG" ]; then
		auditctl -D >/dev/null 2>&1
		read -r en bl <<<"$AUDIT_ORIG"
		auditctl -e "$en" -b "$bl" >/dev/null 2>&1
	fi
	for m in "$S" /etc/fapolicyd /var/lib/fapolicyd /var/log /run; do
		mountpoint -q "$m" 2>/dev/null && [[ "$m" == "$S" || -n "$PRIVATE_DONE" ]] && umount -l "$m"
	done
	if [ -n "${KEEP:-}" ]; then log "es/run.sh: kept $WORK"; else
		mountpoint -q "$S" || rm -rf "$WORK"
	fi
}
PRIVATE_DONE=
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$WL" ] || { log "es/run.sh: $WL missing (build failed?)"; exit 1; }
mkdir -p "$S"
mount -t tmpfs -o size=2g,mode=755 uext-bench-es "$S"
cp /bin/true "$S/true"
echo hot >"$S/hot"
echo canary >"$S/canary"
mkdir -p "$S/w3" "$S/notify"

# Private state for the peers, seen only in this namespace.
if has_cfg fapolicyd || has_cfg auditd; then
	mkdir -p "$WORK/etc-fapolicyd/rules.d" "$WORK/etc-fapolicyd/trust.d" "$WORK/lib-fapolicyd" "$WORK/log" "$WORK/audit/plugins.d"
	PRIVATE_DONE=1
	mount -t tmpfs -o mode=755 uext-bench-run /run
	mkdir -p /run/fapolicyd
	if [ -d /etc/fapolicyd ]; then
		mount --bind "$WORK/etc-fapolicyd" /etc/fapolicyd
		mkdir -p /var/lib/fapolicyd
		mount --bind "$WORK/lib-fapolicyd" /var/lib/fapolicyd
	fi
	mount --bind "$WORK/log" /var/log
	cat >/etc/fapolicyd/fapolicyd.conf <<-EOF
		permissive = 1
		nice_val = 14
		q_size = 640
		uid = root
		gid = root
		do_stat_report = 1
		detailed_report = 1
		db_max_size = 50
		subj_cache_size = 1549
		obj_cache_size = 8191
		watch_fs = tmpfs
		trust = file
		integrity = none
		syslog_format = rule,dec,perm,auid,pid,exe,:,path,ftype,trust
		rpm_sha256_only = 0
		allow_filesystem_mark = 0
	EOF
	echo 'allow perm=any all : all' >/etc/fapolicyd/compiled.rules
	echo 'allow perm=any all : all' >/etc/fapolicyd/rules.d/10-allow-all.rules
	: >/etc/fapolicyd/fapolicyd.trust
	cat >"$WORK/audit/auditd.conf" <<-EOF
		local_events = yes
		write_logs = yes
		log_file = $WORK/log/audit.log
		log_format = ENRICHED
		flush = INCREMENTAL_ASYNC
		freq = 50
		max_log_file = 1024
		num_logs = 2
		max_log_file_action = ROTATE
		space_left = 16
		space_left_action = IGNORE
		admin_space_left = 8
		admin_space_left_action = IGNORE
		disk_full_action = IGNORE
		disk_error_action = IGNORE
		q_depth = 2000
		overflow_action = IGNORE
		plugin_dir = $WORK/audit/plugins.d
		end_of_event_timeout = 2
	EOF
	chmod 700 "$WORK/audit"
	chmod 600 "$WORK/audit/auditd.conf"
fi
if has_cfg auditd; then
	AUDIT_ORIG=$(auditctl -s | awk '/^enabled/ {e=$2} /^backlog_limit/ {b=$2} END {print e, b}')
fi
SCRATCH_MNT_ID=$(awk -v m="$S" '$5 == m {print $1}' /proc/self/mountinfo | tail -1)

# Canary watchdog: an open on the scratch tmpfs that takes over 3 s means a monitor is
# stuck; SIGKILL releases every open it holds.
(
	trap - EXIT
	while :; do
		if ! timeout -s KILL 3 cat "$S/canary" >/dev/null 2>&1; then
			echo "watchdog: canary open stalled > 3 s at $(date +%T); monitors SIGKILLed" >>"$WORK/watchdog.log"
			xargs -r kill -KILL <"$MONPIDS" 2>/dev/null
		fi
		sleep 2
	done
) &
WATCHDOG=$!

# ---- monitors ---------------------------------------------------------------------------
# Each start_* sets MON (and CLIENT_PID for uext) and returns non-zero, with the reason on
# stderr, when the monitor did not come up.
start_uext() { # mode [client argument]
	UROOT=$WORK/root.$CFG.$RANDOM
	mkdir -p "$UROOT"
	chmod 755 "$UROOT"
	spawn "$UROOT/uextd.out" "$UROOT/uextd.log" "$UEXTD" --root "$UROOT" --es-watch "$S" ${UEXTD_ARGS:-} || {
		log "  uextd did not start: $(tail -2 "$UROOT/uextd.log")"; return 1; }
	local i ok=
	for i in $(seq 1000); do
		if UEXT_ROOT=$UROOT "$UEXTCTL" status >/dev/null 2>&1; then ok=1; break; fi
		mon_alive || break
		sleep 0.01
	done
	[ -n "$ok" ] || { log "  uextd not ready: $(tail -2 "$UROOT/uextd.log")"; return 1; }
	CLIENT_OUT=$UROOT/client.out
	UEXT_ROOT=$UROOT spawn "$CLIENT_OUT" "$UROOT/client.err" "$CLIENT" "$@" || {
		log "  es client did not start: $(tail -2 "$UROOT/client.err")"; return 1; }
	CLIENT_PID=$REPLY
	ready_line "$CLIENT_OUT" && return 0
	log "  es client ($1) not ready: $(tail -2 "$UROOT/client.err")"
	return 1
}
client_interval() { # ask the client for the figures since the last ask; prints that line
	local n
	n=$(wc -l <"$CLIENT_OUT")
	kill -USR1 "$CLIENT_PID" 2>/dev/null || return 1
	local i
	for i in $(seq 1000); do
		[ "$(wc -l <"$CLIENT_OUT")" -gt "$n" ] && { tail -1 "$CLIENT_OUT"; return 0; }
		sleep 0.01
	done
	return 1
}
stop_mons() { # last started first (the client before its uextd)
	local i
	for ((i = ${#MON[@]} - 1; i >= 0; i--)); do stop_pid "${MON[$i]}"; done
	reap
}
stop_uext() {
	stop_mons
	rm -rf "$UROOT"
}

start_fapolicyd() {
	rm -f /run/fapolicyd.pid
	spawn "$WORK/fapolicyd.out" "$WORK/fapolicyd.log" fapolicyd --debug-deny --permissive || {
		log "  fapolicyd did not start"; return 1; }
	# Ready when its fanotify fd holds a mount mark on the scratch tmpfs (mnt_id in hex).
	local want i f
	want=$(printf 'mnt_id:%x ' "$SCRATCH_MNT_ID")
	for i in $(seq 3000); do
		for f in /proc/"${MON[0]}"/fdinfo/*; do
			grep -q "fanotify $want" "$f" 2>/dev/null && return 0
		done
		mon_alive || break
		sleep 0.01
	done
	log "  fapolicyd not ready: $(tail -3 "$WORK/fapolicyd.log")"
	return 1
}

start_fan_floor() { # fan_floor options...
	spawn "$WORK/fan_floor.out" "$WORK/fan_floor.err" "$B/bench/uext-bench-fan-floor" "$@" "$S" || {
		log "  fan_floor did not start"; return 1; }
	if ready_line "$WORK/fan_floor.err"; then
		REPLY=$(pgrep -P "${MON[0]}" || true) # the --relay child: its CPU counts too
		[ -z "$REPLY" ] || MON+=("$REPLY")
		return 0
	fi
	log "  fan_floor not ready: $(tail -2 "$WORK/fan_floor.err")"
	return 1
}

start_auditd() {
	rm -f /run/auditd.pid
	spawn "$WORK/auditd.out" "$WORK/auditd.log" auditd -n -c "$WORK/audit" || { log "  auditd did not start"; return 1; }
	local i ok=
	for i in $(seq 1000); do
		auditctl -s 2>/dev/null | grep -qx "pid ${MON[0]}" && { ok=1; break; }
		mon_alive || break
		sleep 0.01
	done
	[ -n "$ok" ] || { log "  auditd not ready: $(tail -2 "$WORK/auditd.log")"; return 1; }
	auditctl -b 8192 >/dev/null
	auditctl -e 1 >/dev/null
	auditctl -a always,exit -F arch=b64 -S execve,execveat -k uext-bench >/dev/null
	KAUDITD=$(pgrep -x kauditd | head -1 || true)
	AUDIT_LOST0=$(auditctl -s | awk '/^lost/ {print $2}')
}
stop_auditd() {
	auditctl -D >/dev/null
	auditctl -e 0 >/dev/null
	AUDIT_LOST1=$(auditctl -s | awk '/^lost/ {print $2}')
	stop_mons
}

start_cfg() {
	case $1 in
	none) return 0 ;;
	fan-floor) start_fan_floor ;;
	fan-relay) start_fan_floor --relay --pin ;;
	fan-relay-spin) start_fan_floor --relay --spin ;;
	uext-observe) start_uext observe ;;
	uext-auth) start_uext --colocate auth ;;
	uext-auth-cache) start_uext --colocate auth-cache ;;
	uext-auth-nocolo) start_uext auth ;;
	uext-auth-nopoll) UEXTD_ARGS="--es-busy-poll 0" start_uext --colocate auth ;;
	fapolicyd) start_fapolicyd ;;
	auditd) start_auditd ;;
	esac
}
stop_cfg() {
	case $1 in
	none) ;;
	uext-*) stop_uext ;;
	fapolicyd | fan-*) stop_mons ;;
	auditd) stop_auditd ;;
	esac
}

# ---- one workload under one configuration ------------------------------------------------
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$CFG" "$1" "$2" "$3" >>"$RES"; }
run_wl() { # name, workload arguments...
	local name=$1 out c0 c1 a0 a1 j
	shift
	c0=$(mon_cpu_ticks)
	a0=$(all_cpu_ticks)
	if ! out=$(timeout -s KILL "$WL_MAX_S" "$WL" "$@"); then
		log "  $CFG $name: workload failed"
		rec "$name" failed 1
		return 0
	fi
	c1=$(mon_cpu_ticks)
	a1=$(all_cpu_ticks)
	rec "$name" us "$(jq -r .us_per_op <<<"$out")"
	# CPU time of the whole machine per operation: wall time on this VM moves by 10% between
	# runs, the work done much less
	rec "$name" all_cpu_us "$(echo "($a1 - $a0) * 1000000 / $(getconf CLK_TCK) / $(jq -r .n <<<"$out")" | bc -l)"
	rec "$name" p50 "$(jq -r .p50_us <<<"$out")"
	rec "$name" p99 "$(jq -r .p99_us <<<"$out")"
	rec "$name" n "$(jq -r .n <<<"$out")"
	[ "$name" = latency ] && rec "$name" exec_us "$(jq -r .exec_us <<<"$out")"
	[ "$CFG" != none ] && rec "$name" cpu_s "$(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l)"
	mon_alive || { log "  $CFG $name: monitor died"; rec "$name" died 1; }
	if [ -n "$CLIENT_PID" ] && j=$(client_interval); then
		rec "$name" msgs "$(jq -r .messages <<<"$j")"
		rec "$name" gaps "$(jq -r .gaps <<<"$j")"
		rec "$name" type_gaps "$(jq -r .type_gaps <<<"$j")"
		rec "$name" resp_err "$(jq -r .respond_errors <<<"$j")"
		if [ "$(jq -r .auth <<<"$j")" != 0 ]; then
			rec "$name" auth "$(jq -r .auth <<<"$j")"
			rec "$name" lat_p50 "$(jq -r .lat_p50_us <<<"$j")"
			rec "$name" lat_p99 "$(jq -r .lat_p99_us <<<"$j")"
		fi
	fi
	printf '  %-16s %-8s %10.2f µs/op  p99 %8.1f µs\n' "$CFG" "$name" "$(jq -r .us_per_op <<<"$out")" "$(jq -r .p99_us <<<"$out")" >&2
}

# NOTIFY_PROCS generators in parallel, each in its own directory; prints their summed
# iterations/s.
notify_gen() {
	local i pids=() sum=0
	for i in $(seq "$NOTIFY_PROCS"); do
		mkdir -p "$S/notify/$i"
		rm -f "$S/notify/$i/uext-bench-end"
		timeout -s KILL "$WL_MAX_S" "$WL" notify "$S/notify/$i" "$N_NOTIFY" >"$WORK/notify.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || log "  NOTIFY generator failed"; done
	for i in $(seq "$NOTIFY_PROCS"); do sum=$(jq -r --argjson s "$sum" '$s + .ops_per_s' "$WORK/notify.$i"); done
	echo "$sum"
}

# ---- is uext usable? ----------------------------------------------------------------------
UEXT_OK=
UEXT_WHY=
if [[ " $CONFIGS " != *" uext-"* ]]; then
	UEXT_WHY="not asked for (CONFIGS)"
elif [ ! -x "$CLIENT" ]; then
	UEXT_WHY="the ES client did not build or link (libuext's es_* not there yet?): see $B/bench/es-client-build.log: $(grep -m1 -E 'undefined reference|error' "$B/bench/es-client-build.log" 2>/dev/null || true)"
elif [ ! -x "$UEXTD" ] || [ ! -x "$UEXTCTL" ]; then
	UEXT_WHY="uextd/uextctl not built in $B"
else
	CFG=probe
	if start_uext observe 2>"$WORK/probe.err"; then UEXT_OK=1; else UEXT_WHY="probe failed: $(tr '\n' ' ' <"$WORK/probe.err")"; fi
	stop_uext
fi
ACTIVE=()
for c in $CONFIGS; do
	if [[ $c == uext-* && -z $UEXT_OK ]]; then continue; fi
	if [ "$c" = fapolicyd ] && ! command -v fapolicyd >/dev/null; then log "es/run.sh: fapolicyd missing, skipped"; continue; fi
	if [ "$c" = auditd ] && ! command -v auditd >/dev/null; then log "es/run.sh: auditd missing, skipped"; continue; fi
	ACTIVE+=("$c")
done
[ -n "$UEXT_OK" ] || log "es/run.sh: SKIPPING the uext configurations: $UEXT_WHY"
[ "${ACTIVE[0]:-}" = none ] || { log "es/run.sh: 'none' must be the first configuration"; exit 1; }

log "es/run.sh: $ROUNDS rounds of: ${ACTIVE[*]} (work dir $WORK)"
log "  W1 $N_EXEC execs, W2h $N_HOT opens, W2c $N_COLD files, W3 $N_CREATE iterations, W5 1 open/${LAT_GAP_US} µs during $N_LAT_EXEC execs, NOTIFY $N_NOTIFY create+unlink"
NCFG=${#ACTIVE[@]}
for ROUND in $(seq "$ROUNDS"); do
	log "round $ROUND"
	# The machine's own noise, no monitor: one clock-spinning thread on every CPU at once.
	CFG=machine
	pids=()
	for c in $(seq 0 $(($(nproc) - 1))); do
		taskset -c "$c" "$WL" stalls 1000 >"$WORK/stalls.$c" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for c in $(seq 0 $(($(nproc) - 1))); do
		rec stalls per_s "$(jq -r .stalls_per_s "$WORK/stalls.$c")"
		rec stalls lost_pct "$(jq -r .lost_pct "$WORK/stalls.$c")"
		rec stalls p50 "$(jq -r .p50_us "$WORK/stalls.$c")"
	done
	for k in $(seq 0 $((NCFG - 1))); do
		CFG=${ACTIVE[$(((k + ROUND - 1) % NCFG))]}
		cold=$S/cold.$ROUND.$CFG
		mkdir -p "$cold"
		"$WL" mkfiles "$cold" "$N_COLD"
		if ! start_cfg "$CFG"; then
			log "  $CFG: monitor did not start, round skipped for it"
			rec all failed 1
			stop_cfg "$CFG" || true
			rm -rf "$cold"
			continue
		fi
		if [[ $CFG == fan-relay* ]]; then # floors for the AUTH latency only
			run_wl hot hot "$N_HOT" "$S/hot"
			rec all hwm_kib "$(mon_hwm_kib)"
			stop_cfg "$CFG"
			rm -rf "$cold"
			continue
		fi
		run_wl exec exec "$N_EXEC" "$S/true"
		run_wl hot hot "$N_HOT" "$S/hot"
		if [ "$CFG" = uext-auth ] && rt=$(UEXT_ROOT=$UROOT "$UEXTCTL" --json status | jq -ce '.es.clients[0].auth_response_us'); then
			# uextd's own clock, event read -> verdict; since the client connected, so 98%
			# of it is this workload's 200k opens (W1 made 4k)
			rec hot rt_p50 "$(jq .p50 <<<"$rt")"
			rec hot rt_p99 "$(jq .p99 <<<"$rt")"
		fi
		run_wl cold cold "$cold" "$N_COLD"
		run_wl create create "$S/w3" "$N_CREATE"
		run_wl latency latency "$S/hot" "$S/true" "$N_LAT_EXEC" "$LAT_GAP_US"
		[ "$CFG" != none ] && rec all hwm_kib "$(mon_hwm_kib)"
		stop_cfg "$CFG"
		# read by stop_auditd once the rule is gone
		[ "$CFG" = auditd ] && rec all audit_lost "$((AUDIT_LOST1 - AUDIT_LOST0))"
		rm -rf "$cold"
	done
	# NOTIFY throughput: the generators alone, then with one counting uext client.
	CFG=none
	out=$(notify_gen)
	rec notify gen_ops_s "$out"
	if [ -n "$UEXT_OK" ]; then
		CFG=uext-count
		if start_uext count "$NOTIFY_PROCS"; then
			c0=$(mon_cpu_ticks)
			out=$(notify_gen)
			rec notify gen_ops_s "$out"
			wait_line "$CLIENT_OUT" '^end$' 6000 || log "  NOTIFY: the client never saw the sentinel"
			c1=$(mon_cpu_ticks)
			rec notify hwm_kib "$(mon_hwm_kib)"
			stop_pid "$CLIENT_PID"
			CLIENT_PID=
			j=$(grep '"kind":"final"' "$CLIENT_OUT" | tail -1)
			if [ -n "$j" ]; then
				rec notify events_s "$(jq -r .events_per_s <<<"$j")"
				rec notify msgs "$(jq -r .messages_at_end <<<"$j")"
				rec notify gaps "$(jq -r .gaps <<<"$j")"
				rec notify type_gaps "$(jq -r .type_gaps <<<"$j")"
				rec notify end_seen "$(jq -r .end_seen <<<"$j")"
				rec notify cpu_s "$(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l)"
				log "  uext-count       notify   $(jq -r '"\(.events_per_s) events/s, \(.messages_at_end) msgs, \(.gaps) gaps (\(.type_gaps) per type)"' <<<"$j")"
			fi
		fi
		stop_uext
	fi
done
[ -s "$WORK/watchdog.log" ] && log "$(cat "$WORK/watchdog.log")"

# ---- report --------------------------------------------------------------------------------
awk -F'\t' -v cfgs="${ACTIVE[*]}" -v uext_ok="$UEXT_OK" -v uext_why="$UEXT_WHY" -v rounds="$ROUNDS" "$(cat bench/stats.awk)"'
function f(x, fmt) { return x == "" ? "–" : sprintf(fmt, x) }
function pass(b) { return b ? "PASS" : "FAIL" }
END {
	nc = split(cfgs, C, " ")
	nw = split("exec hot cold create latency", W, " ")
	title["exec"] = "W1 exec storm (µs/exec)"; title["hot"] = "W2h hot open (µs/open)"
	title["cold"] = "W2c cold open (µs/open)"; title["create"] = "W3 create storm (µs/iter)"
	title["latency"] = "W5 open under exec storm"
	printf "\n=== per workload (medians over %d rounds; ratio = median of per-round ratios to none) ===\n", rounds
	for (i = 1; i <= nw; i++) {
		w = W[i]
		printf "\n%s\n", title[w]
		if (w == "latency")
			printf "  %-16s %9s %9s %8s %9s %10s %9s %10s %12s %11s\n", "config", "p50 µs", "p99 µs", "p99 x", "exec µs", "CPU s", "ev/op", "gaps", "AUTH p50/p99", "all CPU/op"
		else
			printf "  %-16s %9s %9s %8s %9s %10s %9s %10s %12s %11s\n", "config", "µs/op", "p99 µs", "ratio", "", "CPU s", "ev/op", "gaps", "AUTH p50/p99", "all CPU/op"
		for (j = 1; j <= nc; j++) {
			c = C[j]
			if (c ~ /^fan-relay/ && w != "hot") continue # run on W2h only
			evop = ""; if (((c SUBSEP w SUBSEP "msgs") in L)) evop = med(c, w, "msgs") / med(c, w, "n")
			gaps = ((c SUBSEP w SUBSEP "gaps") in L) ? sum(c, w, "gaps") : ""
			lat = ((c SUBSEP w SUBSEP "lat_p50") in L) ? sprintf("%.1f/%.1f", med(c, w, "lat_p50"), med(c, w, "lat_p99")) : "–"
			acpu = f(med(c, w, "all_cpu_us"), w == "exec" ? "%.0f" : "%.1f")
			if (w == "latency")
				printf "  %-16s %9s %9s %8s %9s %10s %9s %10s %12s %11s\n", c, f(med(c, w, "p50"), "%.1f"), f(med(c, w, "p99"), "%.1f"),
					c == "none" ? "1.00x" : f(ratio(c, w, "p99"), "%.2fx"), f(med(c, w, "exec_us"), "%.0f"),
					f(med(c, w, "cpu_s"), "%.2f"), f(evop, "%.2f"), f(gaps, "%d"), lat, acpu
			else
				printf "  %-16s %9s %9s %8s %9s %10s %9s %10s %12s %11s\n", c, f(med(c, w, "us"), w == "exec" ? "%.0f" : "%.2f"),
					f(med(c, w, "p99"), "%.1f"), c == "none" ? "1.00x" : f(ratio(c, w, "us"), "%.2fx"), "",
					f(med(c, w, "cpu_s"), "%.2f"), f(evop, "%.2f"), f(gaps, "%d"), lat, acpu
		}
	}
	printf "\nmonitor peak RSS (VmHWM, uext = uextd + client), median over rounds:"
	for (j = 2; j <= nc; j++) printf "  %s %s KiB", C[j], f(med(C[j], "all", "hwm_kib"), "%d")
	printf "\n"
	if (("auditd" SUBSEP "all" SUBSEP "audit_lost") in L) printf "auditd records lost (sum over rounds): %d\n", sum("auditd", "all", "audit_lost")
	st = med("machine", "stalls", "per_s")
	if (st != "") printf "machine noise, no monitor (a thread spinning on each CPU): %.0f stalls/s of >= 10 µs per CPU, median stall %.1f µs, %.1f%% of CPU time;\n  an operation in flight T µs is stalled with probability about T x %.0f / 1e6 (medians over CPUs and rounds)\n",
		st, med("machine", "stalls", "p50"), med("machine", "stalls", "lost_pct"), st
	printf "NOTIFY generator alone: %s create+close+unlink/s\n", f(med("none", "notify", "gen_ops_s"), "%.0f")
	if (uext_ok) printf "NOTIFY to one uext client: %s events/s (median), %s msgs/run, gaps %s, generator %s ops/s, uextd+client CPU %s s, peak RSS %s KiB\n",
		f(med("uext-count", "notify", "events_s"), "%.0f"), f(med("uext-count", "notify", "msgs"), "%.0f"), f(sum("uext-count", "notify", "gaps"), "%d"),
		f(med("uext-count", "notify", "gen_ops_s"), "%.0f"), f(med("uext-count", "notify", "cpu_s"), "%.2f"), f(med("uext-count", "notify", "hwm_kib"), "%d")

	# Summary: µs/op (ratio) per workload and configuration.
	printf "\n=== summary: median µs/op (median ratio to none); W5 = open p99 µs ===\n"
	printf "  %-14s", "workload"; for (j = 1; j <= nc; j++) printf " %18s", C[j]; printf "\n"
	for (i = 1; i <= nw; i++) {
		w = W[i]; k = (w == "latency") ? "p99" : "us"
		printf "  %-14s", (w == "latency") ? "W5 p99" : w
		for (j = 1; j <= nc; j++) {
			c = C[j]; m = med(c, w, k)
			printf " %18s", m == "" ? "–" : sprintf(w == "exec" ? "%.0f (%.2fx)" : "%.1f (%.2fx)", m, c == "none" ? 1 : ratio(c, w, k))
		}
		printf "\n"
	}

	printf "\n=== targets ===\n"
	if (!uext_ok) {
		printf "  uext not measured: %s\n", uext_why
		printf "  (targets: hot open AUTH_OPEN allow+cache <= 1.10x none; exec storm AUTH_EXEC allow-all <= 1.10x;\n"
		printf "   uncached AUTH round trip p99 < 100 µs; >= 200k NOTIFY events/s to one client, no drops;\n"
		printf "   faster than fapolicyd on every workload)\n"
		fap = med("fapolicyd", "hot", "us")
		if (fap != "") printf "  fapolicyd to beat: W1 %.2fx, W2h %.2fx, W2c %.2fx, W3 %.2fx, W5 p99 %.2fx\n",
			ratio("fapolicyd", "exec", "us"), ratio("fapolicyd", "hot", "us"), ratio("fapolicyd", "cold", "us"),
			ratio("fapolicyd", "create", "us"), ratio("fapolicyd", "latency", "p99")
		exit
	}
	r = ratio("uext-auth-cache", "hot", "us")
	printf "  hot open, AUTH_OPEN allow+cache <= 1.10x none:        %s  %s\n", f(r, "%.2fx"), r == "" ? "n/a" : pass(r <= 1.10)
	r = ratio("uext-auth-cache", "exec", "us"); r2 = ratio("uext-auth", "exec", "us")
	printf "  exec storm, AUTH_EXEC allow-all <= 1.10x none:        %s with cache %s, %s without %s\n", f(r, "%.2fx"), r == "" ? "n/a" : pass(r <= 1.10), f(r2, "%.2fx"), r2 == "" ? "n/a" : pass(r2 <= 1.10)
	p = med("uext-auth", "hot", "p99"); q = med("uext-auth", "hot", "lat_p99"); rt = med("uext-auth", "hot", "rt_p99")
	printf "  uncached AUTH round trip p99 < 100 µs:                %s µs (whole open, W2h under uext-auth) %s; delivery half in the client p99 %s µs\n", f(p, "%.1f"), p == "" ? "n/a" : pass(p < 100), f(q, "%.1f")
	printf "    as uextd measures it, event read -> verdict:         p50 %s µs, p99 %s µs (12.5%% buckets)\n", f(med("uext-auth", "hot", "rt_p50"), "%.0f"), f(rt, "%.0f")
	printf "    the floor (fan-floor, one thread answering itself): whole open p50 %s µs, p99 %s µs\n", f(med("fan-floor", "hot", "p50"), "%.1f"), f(med("fan-floor", "hot", "p99"), "%.1f")
	printf "    the floor with the answer from a second process:     fan-relay p50 %s µs, p99 %s µs; fan-relay-spin (a CPU burned) p50 %s µs, p99 %s µs\n",
		f(med("fan-relay", "hot", "p50"), "%.1f"), f(med("fan-relay", "hot", "p99"), "%.1f"), f(med("fan-relay-spin", "hot", "p50"), "%.1f"), f(med("fan-relay-spin", "hot", "p99"), "%.1f")
	if (st != "" && med("uext-auth", "hot", "p50") != "")
		printf "    share of uncached opens in flight during a stall (p50 x stalls/s): uext-auth %.1f%%, fan-floor %s (above 1%%, a stall sets the p99)\n",
			med("uext-auth", "hot", "p50") * st / 1e4, med("fan-floor", "hot", "p50") == "" ? "–" : sprintf("%.1f%%", med("fan-floor", "hot", "p50") * st / 1e4)
	e = med("uext-count", "notify", "events_s"); g = sum("uext-count", "notify", "gaps")
	printf "  >= 200k NOTIFY events/s to one client, no drops:      %s events/s, %d gaps  %s\n", f(e, "%.0f"), g, e == "" ? "n/a" : pass(e >= 200000 && g == 0)
	printf "  faster than fapolicyd on every workload (ratio uext / fapolicyd ratio):\n"
	for (i = 1; i <= nw; i++) {
		w = W[i]; k = (w == "latency") ? "p99" : "us"; fr = ratio("fapolicyd", w, k)
		if (fr == "") { printf "    %-8s fapolicyd not measured\n", w; continue }
		printf "    %-8s fapolicyd %.2fx:", w, fr
		for (j = 1; j <= nc; j++) if (C[j] ~ /^uext/) { ur = ratio(C[j], w, k); printf "  %s %s %s", C[j], f(ur, "%.2fx"), ur == "" ? "n/a" : pass(ur < fr) }
		printf "\n"
	}
}' "$RES"
log ""
log "raw figures: $RES (KEEP=1 keeps them)"
