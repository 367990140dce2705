#!/usr/bin/env bash
# lifecycle.sh: the foundation's figures, measured side by side in one run.
#   activation: `uextctl install` of a pre-approved signed bundle until the extension is
#               running (staging + verification + policy + sandboxed spawn + hello),
#               against the baseline of a bare fork+exec of the same binary;
#   restart:    SIGKILL of a running extension until its replacement says hello;
#   idle:       uextd resident memory and wake-ups/context switches over an idle window.
# Targets (issue #2): activation median < 100 ms, first restart < 300 ms, idle uextd
# < 8 MiB RSS with no wake-ups when nothing happens.
#   usage: bench/lifecycle.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
B=$(realpath "${1:-build}")
N=${2:-30}
[ "$(id -u)" = 0 ] || { echo "lifecycle.sh: needs root" >&2; exit 1; }
UEXTD=$B/src/uextd/uextd
UEXTCTL=$B/src/uextctl/uextctl
ROOT=$(mktemp -d /tmp/uext-bench.XXXXXX)
chmod 755 "$ROOT"
ctl() { "$UEXTCTL" --root "$ROOT" --timeout 10 "$@"; }
# $EPOCHREALTIME needs no fork, so timing does not add a process start to every sample.
now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
p90() { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.9); if (i<1) i=1; print a[i]}'; }

"$UEXTD" --root "$ROOT" 2>"$ROOT/uextd.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$ROOT"' EXIT
ctl status >/dev/null
ctl keygen bench --dir "$ROOT" >/dev/null
cp "$ROOT/bench.pub" "$ROOT/etc/uext/keys/"
echo '{"allowed_publishers":["bench"]}' >"$ROOT/etc/uext/policy.json"
kill $PID; wait $PID 2>/dev/null || true
"$UEXTD" --root "$ROOT" 2>"$ROOT/uextd.log" &
PID=$!
ctl status >/dev/null
mkdir -p "$ROOT/b"
cp -r "$B/bundles/hello" "$ROOT/b/hello"
jq '.publisher="bench" | .identifier="org.uext.bench.hello"' "$B/bundles/hello/manifest.json" >"$ROOT/b/hello/manifest.json"
ctl sign "$ROOT/b/hello" --key "$ROOT/bench.key" >/dev/null
ID=org.uext.bench.hello

echo "activation ($N rounds)"
: >"$ROOT/act"; : >"$ROOT/base"; : >"$ROOT/ready"
for i in $(seq "$N"); do
	t0=$(now_us); "$B/bundles/hello/bin/hello" >/dev/null 2>&1 || true; t1=$(now_us)
	echo $((t1 - t0)) >>"$ROOT/base"
	t0=$(now_us); ctl install "$ROOT/b/hello" >/dev/null; t1=$(now_us)
	echo $((t1 - t0)) >>"$ROOT/act"
	ctl list --json | jq -r ".[0].ready_ms" >>"$ROOT/ready"
	ctl uninstall $ID >/dev/null
done
act=$(median <"$ROOT/act"); base=$(median <"$ROOT/base"); ready=$(median <"$ROOT/ready")
printf '  install->running median %.1f ms (p90 %.1f ms); spawn->hello inside uextd median %s ms\n' \
	"$(echo "$act/1000" | bc -l)" "$(echo "$(p90 <"$ROOT/act")/1000" | bc -l)" "$ready"
printf '  baseline bare fork+exec of the same binary: median %.2f ms; ratio %.1fx\n' \
	"$(echo "$base/1000" | bc -l)" "$(echo "$act/$base" | bc -l)"
printf '  target < 100 ms: %s\n' "$(lt "$act" 100000 && echo PASS || echo FAIL)"

echo "restart after SIGKILL ($N rounds)"
ctl install "$ROOT/b/hello" >/dev/null
: >"$ROOT/rst"
for i in $(seq "$N"); do
	pid=$(ctl list --json | jq -r '.[0].pid')
	t0=$(now_us)
	kill -KILL "$pid"
	# one uextctl+jq per poll (a few ms): the figure is an upper bound
	until ctl list --json | jq -e --argjson p "$pid" '.[0] | .pid != $p and .pid != 0 and .run == "running"' >/dev/null; do :; done
	t1=$(now_us)
	echo $((t1 - t0)) >>"$ROOT/rst"
	# the crash budget is per window: reset it so every round is a "first crash"
	ctl deactivate $ID >/dev/null; ctl activate $ID >/dev/null
done
rst=$(median <"$ROOT/rst")
printf '  kill->running again median %.1f ms (p90 %.1f ms; includes the polling uextctl calls)\n' \
	"$(echo "$rst/1000" | bc -l)" "$(echo "$(p90 <"$ROOT/rst")/1000" | bc -l)"
printf '  target < 300 ms: %s\n' "$(lt "$rst" 300000 && echo PASS || echo FAIL)"

echo "idle (1 extension running, 10 s window, read from /proc without touching uextd)"
cs0=$(awk '/ctxt_switches/ {s+=$2} END {print s}' /proc/$PID/status)
sleep 10
cs1=$(awk '/ctxt_switches/ {s+=$2} END {print s}' /proc/$PID/status)
rss=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
base_rss=$(/usr/bin/time -f %M sleep 0 2>&1)
printf '  uextd RSS %d KiB (peak %d KiB; baseline: sleep(1) peaks at %d KiB); wake-ups while idle: %d\n' \
	"$rss" "$hwm" "$base_rss" "$((cs1 - cs0))"
printf '  target < 8 MiB and 0 wake-ups: %s\n' "$([ "$rss" -lt 8192 ] && [ $((cs1 - cs0)) -eq 0 ] && echo PASS || echo FAIL)"
