#!/usr/bin/env bash
# Builds in release mode and runs the throughput benchmark: PeerWatch's read pipeline against a
# bare libpcap loop over the same generated capture. Usage: tools/benchmark.sh [PACKETS]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release   # every product, so that no stale module is linked
"$(swift build -c release --show-bin-path)/peerwatch-benchmark" --packets "${1:-1000000}"
