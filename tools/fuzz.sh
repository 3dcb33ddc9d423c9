#!/usr/bin/env bash
# Fuzzes every decoder and loader, in release mode with AddressSanitizer.
#
#   tools/fuzz.sh [--runs N] [--seed S] [TARGET...]              seeded mutations (default: a million inputs a target)
#   tools/fuzz.sh --libfuzzer [--time S] [--seed S] [TARGET...]  coverage-guided, S seconds a target (default 60)
#
# Targets: bencode dht utp tracker handshake metadata http magnet torrent endfinder inflate
#          watchlist verify packet carrier gnutella gnutella-udp edonkey directconnect (all of them
#          when none is named).
# Each mode has its own build folder, so plain `swift build` is never affected. A crash leaves
# the input that caused it: fuzz-crash-TARGET.bin (mutations) or fuzz-crash-TARGET-* (libFuzzer);
# replay it with `peerwatch-fuzz --replay FILE TARGET` or by passing the file to the libFuzzer
# binary with PEERWATCH_FUZZ_TARGET set. The seed is random unless given, and printed.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=(bencode dht utp tracker handshake metadata http magnet torrent endfinder inflate watchlist verify packet carrier gnutella gnutella-udp edonkey directconnect)
# A small quarantine keeps AddressSanitizer from churning pages on a million short-lived inputs.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16:detect_leaks=0}"

if [ "${1:-}" != "--libfuzzer" ]; then
    swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=address --product peerwatch-fuzz
    exec "$(swift build -c release --scratch-path .build-fuzz --show-bin-path)/peerwatch-fuzz" "$@"
fi
shift
seconds=60
seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
named=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) seconds=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        *) named+=("$1"); shift ;;
    esac
done
[ ${#named[@]} -gt 0 ] && TARGETS=("${named[@]}")
swift build -c release --scratch-path .build-libfuzzer --product peerwatch-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DLIBFUZZER
binary="$(swift build -c release --scratch-path .build-libfuzzer --show-bin-path)/peerwatch-fuzz"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "libFuzzer: ${seconds} s a target, seed ${seed} (replay the run with --seed ${seed})"
for target in "${TARGETS[@]}"; do
    mkdir -p "$work/$target"
    if ! PEERWATCH_FUZZ_TARGET=$target PEERWATCH_FUZZ_SEEDS="$work/$target" "$binary" \
        -seed="$seed" -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=4096 -timeout=10 \
        -artifact_prefix="fuzz-crash-$target-" -print_final_stats=1 "$work/$target" >"$work/$target.log" 2>&1; then
        tail -40 "$work/$target.log"
        echo "$target: CRASH (input saved as fuzz-crash-$target-*)"
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' || echo '?')
    coverage=$(grep -o 'cov: [0-9]*' "$work/$target.log" | tail -1 || true)
    printf '%-10s %10s inputs, no crash (%s)\n' "$target" "$runs" "$coverage"
done
