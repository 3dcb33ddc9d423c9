#!/usr/bin/env bash
# Builds in release mode and runs the throughput benchmark: PeerWatch's read pipeline against a
# bare libpcap loop over the same generated capture (310,000 flows, about 3.3 million packets, a
# 10,000,000-entry watch list; generated once into the temporary directory, then reused), for 1
# and 2 workers. Usage: tools/benchmark.sh [--threads 1,2] [--runs 3] [--flows N] [--active N]
# [--list-entries N] [--max-flows N] [--directory DIR] [--regenerate]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release   # every product, so that no stale module is linked
"$(swift build -c release --show-bin-path)/peerwatch-benchmark" "$@"
