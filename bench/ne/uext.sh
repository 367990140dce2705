# uext.sh: the uext configurations of bench/ne/run.sh (sourced by it; see its contract).
# A fresh uextd under a private root, in the client namespace (nsenter keeps the host's
# mounts, so the eBPF attribution programs find the cgroup v2 hierarchy), with the bundled
# urlfilter extension signed, installed and approved by policy, and a block list that
# matches none of the benchmark's traffic: every new flow is queued, attributed, named from
# its Host or SNI, and decided by the extension. uext-cache also lets the urlfilter cache
# its allows in the kernel (cache_ttl_ms), so a program going to the same destination
# again is answered by the eBPF connect hook without being queued. UEXTD_ARGS: more uextd
# options (e.g. --ne-cgroup DIR with an empty cgroup, to measure without the eBPF hooks).

UEXT_R=""
UEXT_PID=""

uext_ctl() { "$B/src/uextctl/uextctl" --root "$UEXT_R" --timeout 10 "$@"; }

config_uext_start() { # CFG
	local cfg=${1:-uext} i ext
	[ -x "$B/src/uextd/uextd" ] && [ -d "$B/bundles/urlfilter" ] || {
		log "  $cfg: build uextd and the urlfilter bundle in $B first (ninja -C $B)"
		return 1
	}
	UEXT_R=$(mktemp -d "$WORK/uext.XXXXXX") && chmod 0755 "$UEXT_R" || return 1
	nsenter --net="/run/netns/$NE_C" timeout -s KILL 900 "$B/src/uextd/uextd" --root "$UEXT_R" --no-es ${UEXTD_ARGS:-} \
		>"$UEXT_R/uextd.log" 2>&1 </dev/null &
	UEXT_PID=$!
	uext_ctl status >/dev/null || { log "  $cfg: uextd did not start: $(tail -3 "$UEXT_R/uextd.log")"; return 1; }
	# the real uextd under timeout(1)
	UEXT_PID=$(pgrep -P "$UEXT_PID" -x uextd || echo "$UEXT_PID")
	mkdir -p "$UEXT_R/keys-private" "$UEXT_R/etc/uext/keys"
	uext_ctl keygen uext --dir "$UEXT_R/keys-private" >/dev/null &&
		cp "$UEXT_R/keys-private/uext.pub" "$UEXT_R/etc/uext/keys/" &&
		echo '{"allowed_publishers": ["uext"]}' >"$UEXT_R/etc/uext/policy.json" &&
		cp -r "$B/bundles/urlfilter" "$UEXT_R/urlfilter" &&
		uext_ctl sign "$UEXT_R/urlfilter" --key "$UEXT_R/keys-private/uext.key" >/dev/null &&
		uext_ctl prefs set org.uext.urlfilter block '["blocked.example", "ads.example.net"]' >/dev/null || return 1
	[ "$cfg" = uext-cache ] && { uext_ctl prefs set org.uext.urlfilter cache_ttl_ms 60000 >/dev/null || return 1; }
	uext_ctl install "$UEXT_R/urlfilter" >/dev/null || { log "  $cfg: install failed: $(tail -3 "$UEXT_R/uextd.log")"; return 1; }
	for i in $(seq 250); do
		[ "$(uext_ctl --json status | jq -r '.ne.active')" = true ] && break
		sleep 0.02
	done
	[ "$(uext_ctl --json status | jq -r '.ne.active')" = true ] || { log "  $cfg: the filter is not active: $(tail -3 "$UEXT_R/uextd.log")"; return 1; }
	ext=$(uext_ctl list --json | jq -r '.[] | select(.identifier == "org.uext.urlfilter") | .pid')
	FILTER_PIDS=("$UEXT_PID" "$ext")
	NFQ_QUEUES=7810
}

config_uext_stop() {
	[ -n "$UEXT_PID" ] || return 0
	# queued packets and per-flow counters for the report, before the engine goes
	uext_ctl --json status | jq -c '.ne.counters | {packets, flows, kernel_cache_hits, default_allow, deadline_misses}' \
		>>"$WORK/uext-counters.log" 2>/dev/null
	kill -TERM "$UEXT_PID" 2>/dev/null
	local ok=0
	timeout 15 tail --pid="$UEXT_PID" -f /dev/null 2>/dev/null || { kill -KILL "$UEXT_PID" 2>/dev/null; ok=1; }
	UEXT_PID=""
	# a clean stop removes every UEXT_NE chain
	if ipt_c iptables-save | grep -q UEXT_NE || ipt_c ip6tables-save | grep -q UEXT_NE; then ok=1; fi
	return $ok
}
