#!/usr/bin/env bash
# test.sh: install dependencies, build twice (warnings as errors; AddressSanitizer +
# UndefinedBehaviorSanitizer) and run the whole suite on both. Tests that need root or
# a missing kernel feature skip with a reason. Ends with CTest's summary line.
#   --fuzz SECONDS   also build the libFuzzer harnesses and fuzz each for SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_secs=0
while [ $# -gt 0 ]; do
	case "$1" in
	--fuzz) fuzz_secs=$2; shift 2 ;;
	-h|--help) sed -n '2,6p' "$0"; exit 0 ;;
	*) echo "test.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
./scripts/deps.sh
jobs=$(nproc)

echo "== build (gcc, -Werror)"
./scripts/build.sh build -DUEXT_WERROR=ON
echo "== build (clang, ASan+UBSan, -Werror)"
CC=clang ./scripts/build.sh build-asan -DUEXT_WERROR=ON -DUEXT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

if [ "$fuzz_secs" -gt 0 ]; then
	echo "== fuzz ($fuzz_secs s each)"
	CC=clang ./scripts/build.sh build-fuzz -DUEXT_FUZZ=ON -DUEXT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	for f in build-fuzz/tests/fuzz_*; do
		name=$(basename "$f" | sed 's/^fuzz_//')
		mkdir -p "build-fuzz/corpus-$name"
		"$f" -max_total_time="$fuzz_secs" "build-fuzz/corpus-$name" "tests/fuzz/corpus/$name"
	done
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== tests (gcc build)"
(cd build && ctest -j"$jobs" --output-on-failure --timeout 300)
echo "== tests (ASan+UBSan build)"
cd build-asan && exec ctest -j"$jobs" --output-on-failure --timeout 300
