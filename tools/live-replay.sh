#!/usr/bin/env bash
# Live, side by side: the benchmark mix (its first 300,000 packets by default) replayed with
# tcpreplay into a veth pair inside a network namespace this script creates, at rising rates up
# to the fastest tcpreplay manages here. At each rate `peerwatch run` and `tcpdump -w /dev/null`
# capture the same interface at the same time; the script prints both kernel drop counts and
# compares PeerWatch's live alerts with what `peerwatch read` finds in the same file.
#
# Usage (as root): tools/live-replay.sh [--packets N] [--rates "50000 100000 200000 400000 top"]
#                  [--threads N] [--buffer-mib N] [--stall SECONDS] [--capture FILE] [--watchlist FILE]
# --stall stops PeerWatch (SIGSTOP) for that long while the replay runs: only the kernel ring
# holds packets meanwhile, which shows what --buffer-size buys.
# Without --capture it generates the benchmark mix (tools/benchmark, cached in the temporary
# directory) and its 10,000,000-entry watch list. Needs tcpreplay, tcpdump and iproute2.
set -euo pipefail
cd "$(dirname "$0")/.."

packets=300000
rates="50000 100000 200000 400000 top"
threads=2
buffer_mib=64
capture=""
watchlist=""
stall=""
while [ $# -gt 0 ]; do
    case "$1" in
        --packets) packets="$2"; shift 2 ;;
        --rates) rates="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --buffer-mib) buffer_mib="$2"; shift 2 ;;
        --capture) capture="$2"; shift 2 ;;
        --stall) stall="$2"; shift 2 ;;
        --watchlist) watchlist="$2"; shift 2 ;;
        *) echo "live-replay: unknown option $1" >&2; exit 2 ;;
    esac
done

[ "$(id -u)" -eq 0 ] || { echo "live-replay: run as root (it makes a network namespace)" >&2; exit 2; }
for tool in tcpreplay tcpdump ip; do
    command -v "$tool" >/dev/null || { echo "live-replay: $tool is missing (apt-get install -y tcpreplay tcpdump iproute2)" >&2; exit 2; }
done

swift build -c release >/dev/null
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d "${TMPDIR:-/tmp}/peerwatch-replay.XXXXXX")"
ns="pwreplay$$"
cleanup() {
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$capture" ]; then
    data="${TMPDIR:-/tmp}/peerwatch-benchmark"
    # Generates (or reuses) the mix and its list; the run itself is not needed here.
    "$bin/peerwatch-benchmark" --directory "$data" --generate-only >/dev/null
    capture="$(ls "$data"/mix-*.pcap | head -1)"
    watchlist="$(ls "$data"/list-*.txt | head -1)"
fi
[ -n "$watchlist" ] || { echo "live-replay: give --watchlist with --capture" >&2; exit 2; }

# The first N packets, and what `read` finds in them (the reference).
tcpdump -r "$capture" -c "$packets" -w "$work/replay.pcap" 2>/dev/null
"$bin/peerwatch" read "$work/replay.pcap" --watchlist "$watchlist" --quiet --log "$work/read.json" --threads "$threads" 2>/dev/null
# A match's identity: the flow's endpoints, the identifier and the message.
identities() {
    python3 -c '
import json, sys
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event_type") != "match": continue
    p = r["p2p"]
    seen.add((r["src_ip"], r.get("src_port"), r["dest_ip"], r.get("dest_port"), p["id"], p["message"]))
for item in sorted(seen, key=str): print(item)
' "$1"
}
identities "$work/read.json" > "$work/read.ids"
expected=$(wc -l < "$work/read.ids")

ip netns add "$ns"
ip -n "$ns" link add replay0 type veth peer name tap0
ip -n "$ns" link set replay0 mtu 9000 up
ip -n "$ns" link set tap0 mtu 9000 up
ip -n "$ns" link set lo up

printf '%-8s %10s %10s %12s %12s %10s %10s\n' "rate" "replayed" "achieved" "tcpdump_drop" "pw_drop" "alerts" "of_read"
for rate in $rates; do
    log="$work/live-$rate.json"
    rm -f "$log"
    ip netns exec "$ns" tcpdump -i tap0 -n -B $((buffer_mib * 1024)) -w /dev/null 2>"$work/tcpdump.err" &
    dump=$!
    ip netns exec "$ns" "$bin/peerwatch" run --interface tap0 --watchlist "$watchlist" --log "$log" --metrics off \
        --threads "$threads" --buffer-size "$buffer_mib" --max-alerts-per-second 0 --state-dir "$work" 2>"$work/pw.err" &
    monitor=$!
    for _ in $(seq 1 200); do
        grep -q "capture started" "$work/pw.err" 2>/dev/null && grep -q "listening on" "$work/tcpdump.err" 2>/dev/null && break
        sleep 0.1
    done
    if [ "$rate" = top ]; then speed=(--topspeed); else speed=(--pps="$rate"); fi
    # The capture is loaded into memory first (-K), so that disk reads do not pace the replay.
    staller=""
    if [ -n "$stall" ]; then
        ( sleep 0.2; kill -STOP "$monitor"; sleep "$stall"; kill -CONT "$monitor" ) &
        staller=$!
    fi
    ip netns exec "$ns" tcpreplay -K -i replay0 "${speed[@]}" "$work/replay.pcap" >"$work/tcpreplay.out" 2>&1
    [ -z "$staller" ] || wait "$staller"
    sleep 2
    kill -TERM "$dump" "$monitor"
    wait "$dump" 2>/dev/null || true
    wait "$monitor" 2>/dev/null || true
    achieved=$(grep -oE '[0-9.]+ pps' "$work/tcpreplay.out" | head -1 | cut -d' ' -f1)
    sent=$(grep -oE 'Successful packets: +[0-9]+' "$work/tcpreplay.out" | grep -oE '[0-9]+$')
    dump_drop=$(grep -oE '[0-9]+ packets dropped by kernel' "$work/tcpdump.err" | grep -oE '^[0-9]+' || echo "?")
    pw_drop=$(grep -oE 'capture.dropped.kernel=[0-9]+' "$work/pw.err" | tail -1 | cut -d= -f2 || echo "?")
    identities "$log" > "$work/live.ids"
    alerts=$(wc -l < "$work/live.ids")
    same=$(comm -12 "$work/read.ids" "$work/live.ids" | wc -l)
    printf '%-8s %10s %10s %12s %12s %10s %10s\n' "$rate" "${sent:-?}" "${achieved:-?}" "$dump_drop" "$pw_drop" "$alerts" "$same/$expected"
done
