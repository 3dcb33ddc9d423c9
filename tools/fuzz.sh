#!/usr/bin/env bash
# Fuzzes every decoder with seeded mutations, in release mode with AddressSanitizer, a million
# inputs per target unless told otherwise. Usage: tools/fuzz.sh [--runs N] [TARGET...]
# Targets: bencode dht utp tracker handshake metadata http magnet torrent packet
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=address --product peerwatch-fuzz
# A small quarantine keeps AddressSanitizer from churning pages on a million short-lived inputs.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16:detect_leaks=0}"
exec "$(swift build -c release --scratch-path .build-fuzz --show-bin-path)/peerwatch-fuzz" "$@"
