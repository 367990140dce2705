#!/usr/bin/env bash
# deps.sh: install everything uext needs to build, test and demonstrate on Debian 12.
# Idempotent and quick when everything is already there.
set -euo pipefail
PKGS=(
	build-essential cmake ninja-build pkg-config clang
	libclang-rt-14-dev  # the sanitizer runtime: only a Recommends of clang on Debian 12
	libsodium-dev libjansson-dev libsqlite3-dev libseccomp-dev libcap-ng-dev libcmocka-dev
	libbpf-dev bpftool libelf-dev zlib1g-dev
	libblocksruntime-dev  # Apple-style block handlers (clang -fblocks) in the compat test
	jq bc time util-linux bsdutils procps iproute2 sqlite3  # bsdutils: script(1), a tty for t_es_eslogger
	# the network filter: NFQUEUE and conntrack marks through iptables(-nft)
	iptables libnetfilter-queue-dev libmnl-dev conntrack
	# real peers of the network tests, run inside namespaces the tests create
	nginx dnsmasq-base curl openssl iperf3
	python3-minimal  # small socket peers of t_ne_filter (an inbound server, hostile bytes)
)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: missing packages: ${missing[*]}; run as root (sudo) to install them" >&2
		exit 1
	fi
	echo "deps.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# The tests' peers (nginx, dnsmasq, iperf3) run only inside namespaces the tests make:
	# the packages must not start them as host services (invoke-rc.d asks policy-rc.d).
	own_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	trap 'if [ $own_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
