#!/usr/bin/env bash
# Fuzzes every decoder with seeded mutations, in release mode with AddressSanitizer, a million
# inputs per target unless told otherwise. Usage: tools/fuzz.sh [--runs N] [TARGET...]
# Targets: bencode dht utp tracker handshake metadata http magnet torrent packet
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=address --product peerwatch-fuzz
exec "$(swift build -c release --scratch-path .build-fuzz --show-bin-path)/peerwatch-fuzz" "$@"
