# ne_lib.sh owns the network test bed: two network namespaces joined by one veth pair, the
# peers in the server one (nginx HTTP/HTTPS, dnsmasq, on demand openssl s_server) and their
# teardown. Policy under test (rules, queues, filters) lives with the caller.
#
#   client "C"  $NE_C  10.210.0.1/24  fd00:210::1/64   (interface ne0, no default route)
#   server "S"  $NE_S  10.210.0.2/24  fd00:210::2/64
#
# Sourced by system tests (after lib.sh, under set -euo pipefail) and by bench/ne/run.sh.
# It sets no shell option; each function returns non-zero with a message on stderr when it
# fails, so `ne_setup || skip ...` works. Every wait polls with a deadline, never a fixed
# sleep. Nothing here touches the host's own network: links are created directly inside the
# namespaces, and a detached reaper removes both namespaces if the caller dies without
# running its EXIT trap (e.g. SIGKILLed by CTest's timeout).
#
# Functions:
#   ne_setup                 namespaces, addresses, certificates, nginx, dnsmasq; installs
#                            ne_teardown in front of the caller's EXIT trap
#   ne_teardown              kills every process in both namespaces, deletes them and the
#                            state directory; idempotent
#   ne_in_c CMD... / ne_in_s CMD...   run CMD in C / S (ip netns exec)
#   ne_curl [CURL-OPTS...] URL...     curl in C; *.test names resolved to S (both families,
#                            pick with -4/-6), TLS checked against $NE_CA, bounded
#   ne_dig NAME [A|AAAA|both]  query dnsmasq in S from C (ne_dnsq), prints "A addr" lines
#   ne_start_s_server        openssl s_server -www on :4433 (v4+v6) in S, waits until it listens
#   ne_bg_c NAME CMD... / ne_bg_s NAME CMD...   start a background process in C / S, tracked
#                            by NAME (pid in NE_PID_<NAME>); ne_stop NAME [SECS] stops it (TERM,
#                            then KILL after SECS, default 5; exit status in NE_STOP_STATUS)
#   ne_wait SECS CMD...      run CMD every 20 ms until it succeeds or SECS pass
#   ne_listening NS tcp|udp PORT [COUNT]   COUNT (1) sockets listen on PORT in namespace NS
#   ne_leftovers             prints what of a torn-down bed still exists; 0 when nothing
#
# Exports: NE_C NE_S NE_C4 NE_S4 NE_C6 NE_S6 NE_IF NE_DIR NE_WWW (index pages, big = 2 MiB
# of random bytes, huge = 64 MiB sparse) NE_CA NE_CERT NE_KEY NE_DNSQ; NE_SETUP_ERR is a file
# holding the reason when ne_setup fails (removed by ne_teardown).
# Pages: http(s)://{allowed,blocked,other}.test/ answer "<name>\n"; any other Host "default\n";
# /big and /huge exist on every name.

NE_LIB_PATH=$(realpath "${BASH_SOURCE[0]}")

# ---- reaper mode: `bash ne_lib.sh --reaper PARENT NS_C NS_S DIR` (started by ne_setup) ----
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = --reaper ]; then
	parent=$2
	echo $$ >"$5/reaper.pid"
	trap '' INT HUP # only ne_teardown (TERM) or the parent's death ends it
	nap=""
	trap '[ -n "$nap" ] && kill "$nap" 2>/dev/null; exit 0' TERM
	# `wait` (not a foreground sleep) lets TERM in at once, and the sleep goes with us
	while kill -0 "$parent" 2>/dev/null; do
		sleep 1 &
		nap=$!
		wait "$nap"
	done
	for ns in "$3" "$4"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
	rm -rf "$5" "/tmp/uext-ne-$parent.err"
	exit 0
fi

NE_C4=10.210.0.1
NE_S4=10.210.0.2
NE_C6=fd00:210::1
NE_S6=fd00:210::2
NE_IF=ne0
NE_NAMES="allowed.test blocked.test other.test"
NE_UP=""
NE_BG_NAMES=""
export NE_C4 NE_S4 NE_C6 NE_S6 NE_IF

ne__err() {
	echo "ne_lib: $*" >&2
	[ -n "${NE_SETUP_ERR:-}" ] && [ -z "$NE_UP" ] && echo "$*" >>"$NE_SETUP_ERR"
	return 1
}

ne_wait() {
	local secs=$1 end
	shift
	end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.02
	done
}

ne_in_c() { ip netns exec "$NE_C" "$@"; }
ne_in_s() { ip netns exec "$NE_S" "$@"; }

# ne__bg NS NAME CMD...: CMD in namespace NS, in the background, stdout/stderr in
# $NE_DIR/NAME.{out,err}. `ip netns exec` execs CMD, so $! is CMD's own pid.
ne__bg() {
	local ns=$1 name=$2
	shift 2
	[[ $name =~ ^[A-Za-z0-9_]+$ ]] || { ne__err "bad process name '$name'"; return 1; }
	ip netns exec "$ns" "$@" >"$NE_DIR/$name.out" 2>"$NE_DIR/$name.err" </dev/null &
	printf -v "NE_PID_$name" %s $!
	NE_BG_NAMES="$NE_BG_NAMES $name"
}
ne_bg_c() { ne__bg "$NE_C" "$@"; }
ne_bg_s() { ne__bg "$NE_S" "$@"; }

# ne_stop NAME [SECS]: TERM, up to SECS (5) for it to exit, then KILL; reaps it. Returns 0
# when it exited on TERM; its exit status is left in NE_STOP_STATUS.
ne_stop() {
	local - v="NE_PID_$1" pid rc=0
	set +e # callers may run under set -e; a failed kill or wait is expected here
	pid=${!v:-}
	NE_STOP_STATUS=""
	[ -n "$pid" ] || return 0
	if kill -TERM "$pid" 2>/dev/null; then
		ne_wait "${2:-5}" ne__gone "$pid" || { kill -KILL "$pid" 2>/dev/null; rc=1; }
	fi
	wait "$pid" 2>/dev/null
	NE_STOP_STATUS=$?
	printf -v "$v" %s ""
	NE_BG_NAMES=${NE_BG_NAMES/ $1/}
	return $rc
}
# ne__gone PID: PID has exited (a zombie child of ours counts as gone).
ne__gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

ne_curl() {
	local r=() n p
	for n in $NE_NAMES; do
		for p in 80 443 4433; do r+=(--resolve "$n:$p:$NE_S4,[$NE_S6]"); done
	done
	ip netns exec "$NE_C" timeout 30 curl -sS --max-time 20 --cacert "$NE_CA" "${r[@]}" "$@"
}

ne_dig() {
	[ -x "${NE_DNSQ:-}" ] || { echo "ne_dig: ne_dnsq not built (set NE_DNSQ or UEXT_BUILD)" >&2; return 1; }
	ip netns exec "$NE_C" "$NE_DNSQ" -t "${2:-both}" "$NE_S4" "$1"
}

# ne_listening NS tcp|udp PORT [COUNT]: at least COUNT (1) sockets listen on PORT in NS.
ne_listening() {
	local flag=-Hltn
	[ "$2" = udp ] && flag=-Hlun
	[ "$(ip netns exec "$1" ss $flag "sport = :$3" | wc -l)" -ge "${4:-1}" ]
}

ne_start_s_server() {
	local -
	set +e
	[ -n "$NE_UP" ] || { echo "ne_start_s_server: ne_setup first" >&2; return 1; }
	ne_listening "$NE_S" tcp 4433 1 && return 0
	# a bare port binds [::] with IPV6_V6ONLY off (one socket, both families); "[::]:4433"
	# would be IPv6 only
	ne_bg_s s_server openssl s_server -accept 4433 -cert "$NE_CERT" -key "$NE_KEY" \
		-cert_chain "$NE_CA" -www -quiet || return 1
	ne_wait 10 ne_listening "$NE_S" tcp 4433 1 || {
		echo "ne_start_s_server: not listening: $(tail -3 "$NE_DIR/s_server.err")" >&2
		return 1
	}
}

ne__certs() {
	local t=$NE_DIR/tls san="" n
	mkdir -p "$t" || return 1
	for n in $NE_NAMES; do san="$san,DNS:$n"; done
	{
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj /CN=uext-ne-test-ca -keyout "$t/ca.key" -out "$t/ca.crt" &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-subj /CN=allowed.test -keyout "$t/server.key" -out "$t/server.csr" &&
			printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
				"${san#,}" >"$t/ext.cnf" &&
			openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
				-days 2 -extfile "$t/ext.cnf" -out "$t/server.crt"
	} >"$t/openssl.log" 2>&1 || { ne__err "certificate generation failed: $(tail -2 "$t/openssl.log")"; return 1; }
	NE_CA=$t/ca.crt NE_CERT=$t/server.crt NE_KEY=$t/server.key
	export NE_CA NE_CERT NE_KEY
}

ne__www() {
	local n
	NE_WWW=$NE_DIR/www
	export NE_WWW
	mkdir -p "$NE_WWW/default" "$NE_DIR/nginx-tmp" || return 1
	echo default >"$NE_WWW/default/index.html"
	for n in $NE_NAMES; do
		mkdir -p "$NE_WWW/$n" && echo "$n" >"$NE_WWW/$n/index.html" || return 1
	done
	head -c $((2 << 20)) /dev/urandom >"$NE_WWW/big" && truncate -s 64M "$NE_WWW/huge" || return 1
	chmod -R a+rX "$NE_WWW"
}

ne__nginx_conf() {
	local d=$NE_DIR n
	cat <<-EOF
		worker_processes 2;
		daemon off;
		pid $d/nginx.pid;
		error_log $d/nginx.err warn;
		events { worker_connections 4096; }
		http {
		    access_log off;
		    default_type text/plain;
		    sendfile on;
		    keepalive_requests 1000000;
		    client_body_temp_path $d/nginx-tmp/body;
		    proxy_temp_path $d/nginx-tmp/proxy;
		    fastcgi_temp_path $d/nginx-tmp/fastcgi;
		    uwsgi_temp_path $d/nginx-tmp/uwsgi;
		    scgi_temp_path $d/nginx-tmp/scgi;
		    ssl_certificate $NE_CERT;
		    ssl_certificate_key $NE_KEY;
		    server {
		        listen 80 default_server backlog=4096;
		        listen [::]:80 default_server ipv6only=on backlog=4096;
		        listen 443 ssl default_server;
		        listen [::]:443 ssl default_server ipv6only=on;
		        server_name _;
		        root $NE_WWW/default;
		        location ~ ^/(big|huge)\$ { root $NE_WWW; }
		    }
	EOF
	for n in $NE_NAMES; do
		cat <<-EOF
			    server {
			        listen 80; listen [::]:80; listen 443 ssl; listen [::]:443 ssl;
			        server_name $n;
			        root $NE_WWW/$n;
			        location ~ ^/(big|huge)\$ { root $NE_WWW; }
			    }
		EOF
	done
	echo "}"
}

# ne__http_ok FAMILY SCHEME: the default page answers from C.
ne__http_ok() {
	local a=$NE_S4
	[ "$1" = 6 ] && a="[$NE_S6]"
	ip netns exec "$NE_C" timeout 3 curl -skf --max-time 2 -o /dev/null "$2://$a/"
}

ne__link_ready() {
	ip -n "$NE_C" link show "$NE_IF" | grep -q LOWER_UP &&
		ip -n "$NE_S" link show "$NE_IF" | grep -q LOWER_UP &&
		[ -z "$(ip -n "$NE_C" -6 addr show dev "$NE_IF" tentative)" ] &&
		[ -z "$(ip -n "$NE_S" -6 addr show dev "$NE_IF" tentative)" ]
}

ne__net() {
	local ns a4 a6
	ip netns add "$NE_C" || { ne__err "ip netns add $NE_C failed"; return 1; }
	ip netns add "$NE_S" || { ne__err "ip netns add $NE_S failed"; return 1; }
	# made inside C with its peer placed straight into S: the host never holds the link
	ip -n "$NE_C" link add "$NE_IF" type veth peer name "$NE_IF" netns "$NE_S" ||
		{ ne__err "cannot create the veth pair"; return 1; }
	for ns in "$NE_C" "$NE_S"; do
		if [ "$ns" = "$NE_C" ]; then a4=$NE_C4 a6=$NE_C6; else a4=$NE_S4 a6=$NE_S6; fi
		{
			ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$NE_IF.accept_dad=0" net.ipv6.conf.default.accept_dad=0 &&
				ip -n "$ns" link set lo up &&
				ip -n "$ns" addr add "$a4/24" dev "$NE_IF" &&
				ip -n "$ns" addr add "$a6/64" dev "$NE_IF" nodad &&
				ip -n "$ns" link set "$NE_IF" up
		} || { ne__err "cannot configure $ns"; return 1; }
	done
	ne_wait 10 ne__link_ready || { ne__err "veth link not up within 10 s"; return 1; }
	# For programs that resolve through libc under `ip netns exec` (not nsenter): *.test via S.
	mkdir -p "/etc/netns/$NE_C" && printf 'nameserver %s\nnameserver %s\n' "$NE_S4" "$NE_S6" >"/etc/netns/$NE_C/resolv.conf"
}

ne__servers() {
	ne__nginx_conf >"$NE_DIR/nginx.conf" || return 1
	ne_bg_s nginx nginx -p "$NE_DIR" -e "$NE_DIR/nginx.err" -c "$NE_DIR/nginx.conf" || return 1
	ne_bg_s dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
		--bind-interfaces --listen-address="$NE_S4" --listen-address="$NE_S6" --port=53 \
		--address="/test/$NE_S4" --address="/test/$NE_S6" --pid-file="$NE_DIR/dnsmasq.pid" \
		--log-facility="$NE_DIR/dnsmasq.log" --log-queries || return 1
	local f s
	for f in 4 6; do
		for s in http https; do
			ne_wait 10 ne__http_ok $f $s || {
				ne__err "nginx not answering $s over IPv$f within 10 s: $(tail -3 "$NE_DIR/nginx.err" "$NE_DIR/nginx.out" 2>/dev/null)"
				return 1
			}
		done
	done
	ne_wait 10 ne_listening "$NE_S" udp 53 2 ||
		{ ne__err "dnsmasq not listening within 10 s: $(tail -3 "$NE_DIR/dnsmasq.err" "$NE_DIR/dnsmasq.log" 2>/dev/null)"; return 1; }
}

# ne_setup: see the top of the file. On failure it removes what it made and returns 1; the
# reason is on stderr and in $NE_SETUP_ERR.
ne_setup() {
	local - old t
	set +e # failures are handled one by one below; the caller's options come back on return
	[ -z "$NE_UP" ] || { echo "ne_setup: already set up ($NE_C, $NE_S)" >&2; return 1; }
	NE_SETUP_ERR=/tmp/uext-ne-$$.err
	: >"$NE_SETUP_ERR"
	export NE_SETUP_ERR
	# Run the teardown first on exit, then whatever the caller had (its status preserved).
	old=$(trap -p EXIT)
	if [ -n "$old" ]; then
		eval "set -- $old"
		t=$3
		# `(exit rc) || ...` hands the status on without tripping the caller's set -e
		[[ $t == *ne_teardown* ]] ||
			trap "__ne_rc=\$?; ne_teardown; if [ \$__ne_rc = 0 ]; then $t; else (exit \$__ne_rc) || { $t; }; fi" EXIT
	else
		trap '__ne_rc=$?; ne_teardown; exit $__ne_rc' EXIT
	fi
	[ -n "$(trap -p INT)" ] || trap 'exit 130' INT
	[ -n "$(trap -p TERM)" ] || trap 'exit 143' TERM

	[ "$(id -u)" = 0 ] || { ne__err "needs root"; return 1; }
	local c
	for c in ip nginx dnsmasq openssl curl ss; do
		command -v $c >/dev/null || { ne__err "needs $c"; return 1; }
	done
	NE_DNSQ=${NE_DNSQ:-${UEXT_BUILD:+$UEXT_BUILD/tests/ne_dnsq}}
	export NE_DNSQ
	NE_C=uext-ne-c-$$ NE_S=uext-ne-s-$$
	export NE_C NE_S
	NE_DIR=$(mktemp -d /tmp/uext-ne.XXXXXX) || { ne__err "mktemp failed"; return 1; }
	chmod 0755 "$NE_DIR"
	export NE_DIR
	# the reaper's own session: it outlives a process-group kill of the caller
	setsid bash "$NE_LIB_PATH" --reaper $$ "$NE_C" "$NE_S" "$NE_DIR" </dev/null >/dev/null 2>&1 &
	NE_REAPER_BG=$!
	if ! ne_wait 5 test -s "$NE_DIR/reaper.pid"; then
		ne__err "reaper did not start"
	elif ne__net && ne__certs && ne__www && ne__servers; then
		NE_UP=1
		return 0
	fi
	ne__teardown_bed
	return 1
}

# Everything but $NE_SETUP_ERR (which must survive a failed ne_setup for the caller).
ne__teardown_bed() {
	local - ns p n pids
	set +e # a half-built bed: every step may fail, and every step must still run
	[ -n "${NE_DIR:-}" ] || return 0
	for n in $NE_BG_NAMES; do ne_stop "$n" 2>/dev/null; done
	for ns in "$NE_C" "$NE_S"; do
		ip netns pids "$ns" >/dev/null 2>&1 || continue
		# processes someone else started in our namespaces (a filter, a workload): TERM, then KILL
		pids=$(ip netns pids "$ns")
		[ -n "$pids" ] || continue
		kill -TERM $pids 2>/dev/null
		for p in $pids; do ne_wait 5 ne__gone "$p" || kill -KILL "$p" 2>/dev/null; done
	done
	for ns in "$NE_C" "$NE_S"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
		rm -rf "/etc/netns/$ns"
	done
	if [ -s "$NE_DIR/reaper.pid" ]; then
		NE_REAPER_PID=$(cat "$NE_DIR/reaper.pid")
		kill -TERM "$NE_REAPER_PID" 2>/dev/null && ne_wait 5 ne__gone "$NE_REAPER_PID"
	fi
	# only our own child: a bare `wait` would also wait for the caller's background jobs
	[ -n "${NE_REAPER_BG:-}" ] && wait "$NE_REAPER_BG" 2>/dev/null
	NE_REAPER_BG=""
	rm -rf "$NE_DIR"
	NE_LAST_DIR=$NE_DIR
	NE_DIR=""
	NE_UP=""
	return 0
}

ne_teardown() {
	ne__teardown_bed
	[ -n "${NE_SETUP_ERR:-}" ] && rm -f "$NE_SETUP_ERR"
	return 0
}

# ne_leftovers: after ne_teardown, prints any namespace, process or directory left; 0 if none.
ne_leftovers() {
	local - left="" ns
	set +e
	for ns in "${NE_C:-}" "${NE_S:-}"; do
		[ -n "$ns" ] || continue
		[ -e "/run/netns/$ns" ] && left="$left namespace:$ns"
		[ -e "/etc/netns/$ns" ] && left="$left /etc/netns/$ns"
	done
	[ -n "${NE_REAPER_PID:-}" ] && grep -qs -- --reaper "/proc/$NE_REAPER_PID/cmdline" && left="$left reaper:$NE_REAPER_PID"
	[ -n "${NE_LAST_DIR:-}" ] && [ -e "$NE_LAST_DIR" ] && left="$left $NE_LAST_DIR"
	[ -z "$left" ] || { echo "ne_leftovers:$left"; return 1; }
}
