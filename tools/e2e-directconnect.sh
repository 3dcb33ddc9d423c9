#!/usr/bin/env bash
# End-to-end test of PeerWatch with real Direct Connect software, in network namespaces.
#
#   tools/e2e-directconnect.sh [--no-install]        (as root; CI runs it)
#
# Three namespaces, addresses from TEST-NET-3 only, no default route, so no packet can leave:
#
#   pwdc-hub  203.0.113.40  bridge + uhub (ADC, tcp/1511)   + peerwatch run on the bridge
#   pwdc-get  203.0.113.41  eiskaltdcpp-daemon "getter"     (active, tcp+udp/41411)
#   pwdc-shr  203.0.113.42  eiskaltdcpp-daemon "sharer"     (active, tcp+udp/41421), sharing a random file
#
# The getter queues the file by its magnet link (TTH and size), searches for the TTH, and the
# sharer's result (URES over UDP) makes it a source: the getter downloads it with
# `GET file TTH/...`, in clear (no TLS, no compression). `peerwatch run` captures live on the
# hub's bridge, which sees the hub's and the clients' traffic, with the file's TTH (computed
# by rhash, checked against the clients' own) on its watch list. The test checks that it alerts
# on the search (client to hub), the search result (UDP), the download request (client to
# client), that the transfer's flow_end counts the file's bytes, that the log's chain verifies,
# and that no captured packet has an address outside 203.0.113.0/24.
#
# Env: PEERWATCH      the binary (default: .build/debug/peerwatch of this checkout)
#      E2E_OUT        logs, capture and summary (default /tmp/peerwatch-e2e-dc, replaced each run)
#      E2E_HARD_LIMIT seconds before the run is stopped and cleaned up (default 150)
# Exit status 0 when the transfer completed and every alert was there.

set -Eeuo pipefail

NS_H=pwdc-hub; NS_G=pwdc-get; NS_S=pwdc-shr
NETS=("$NS_H" "$NS_G" "$NS_S")
IP_H=203.0.113.40; IP_G=203.0.113.41; IP_S=203.0.113.42
PORT_HUB=1511; PORT_G=41411; PORT_S=41421
HUB_URL="adc://$IP_H:$PORT_HUB"
OUT=${E2E_OUT:-/tmp/peerwatch-e2e-dc}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERWATCH=${PEERWATCH:-$REPO/.build/debug/peerwatch}
HARD_LIMIT=${E2E_HARD_LIMIT:-150}
SIZE=3000000
PKGS=(uhub eiskaltdcpp-daemon rhash curl tcpdump iproute2 python3)

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY || true

SERVICES=(uhub.service)
WORK=""
T0=$(date +%s)
# shellcheck source=tools/e2e-lib.sh
. "$REPO/tools/e2e-lib.sh"
teardown() {
    kill_ns_procs
    delete_namespaces
}


setup_net() {
    local ns
    for ns in "${NETS[@]}"; do
        ip netns add "$ns"
        nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    # mcast_snooping 0: otherwise the bridge itself sends IGMP reports (a packet outside TEST-NET)
    ip -n "$NS_H" link add br0 type bridge mcast_snooping 0
    ip -n "$NS_H" link set br0 up
    ip -n "$NS_H" addr add "$IP_H/24" dev br0
    ip link add vget netns "$NS_H" type veth peer name eth0 netns "$NS_G"
    ip link add vshr netns "$NS_H" type veth peer name eth0 netns "$NS_S"
    for v in vget vshr; do ip -n "$NS_H" link set "$v" master br0; ip -n "$NS_H" link set "$v" up; done
    ip -n "$NS_G" addr add "$IP_G/24" dev eth0; ip -n "$NS_G" link set eth0 up
    ip -n "$NS_S" addr add "$IP_S/24" dev eth0; ip -n "$NS_S" link set eth0 up
}

rpc() {                      # rpc NAMESPACE METHOD [PARAMS-JSON]
    nsx "$1" curl -s -m5 -d "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"$2\",\"params\":${3:-{\}}}" http://127.0.0.1:3121/
}

rpc_has() {                  # rpc_has NAMESPACE METHOD TEXT [PARAMS-JSON]: the answer contains TEXT
    rpc "$1" "$2" "${4:-{\}}" | grep -qF -- "$3"
}

client_config() {            # client_config DIR NICK IP PORT SHARE-XML
    local cid
    # Each client needs its own CID, or the hub refuses the second ("CID is taken").
    cid=$(python3 -c 'import os, base64; print(base64.b32encode(os.urandom(24)).decode().rstrip("="))')
    mkdir -p "$1/conf" "$1/dl"
    cat > "$1/conf/DCPlusPlus.xml" <<EOC
<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<DCPlusPlus>
	<Settings>
		<CID type="string">$cid</CID>
		<Nick type="string">$2</Nick>
		<Description type="string">peerwatch e2e</Description>
		<ExternalIp type="string">$3</ExternalIp>
		<BindAddress type="string">$3</BindAddress>
		<IncomingConnections type="int">0</IncomingConnections>
		<AutoDetectIncomingConnection type="int">0</AutoDetectIncomingConnection>
		<NoIpOverride type="int">1</NoIpOverride>
		<InPort type="int">$4</InPort>
		<UDPPort type="int">$4</UDPPort>
		<TLSPort type="int">$(($4 + 1))</TLSPort>
		<UseTLS type="int">0</UseTLS>
		<RequireTLS type="int">0</RequireTLS>
		<UseDHT type="int">0</UseDHT>
		<AllowNatt type="int">0</AllowNatt>
		<CompressTransfers type="int">0</CompressTransfers>
		<SegmentedDL type="int">0</SegmentedDL>
		<AutoSearch type="int">0</AutoSearch>
		<AutoSearchAutoMatch type="int">0</AutoSearchAutoMatch>
		<HashingStartDelay type="int">0</HashingStartDelay>
		<DownloadDirectory type="string">$1/dl/</DownloadDirectory>
		<TempDownloadDirectory type="string">$1/dl/Incomplete/</TempDownloadDirectory>
		<LogDirectory type="string">$1/conf/Logs/</LogDirectory>
	</Settings>
	$5
</DCPlusPlus>
EOC
}

analyze() {
    local foreign
    foreign=$(tcpdump -r "$OUT/hub.pcap" -n 'ip and not (src net 203.0.113.0/24 and dst net 203.0.113.0/24)' 2>/dev/null | wc -l)
    python3 - "$OUT/alerts.json" "$TTH_HEX" "$SIZE" "$IP_G" "$IP_S" "$IP_H:$PORT_HUB" > "$OUT/summary.txt" <<'PYEOF' || return 1
import json, sys
log, tth, size, getter, sharer, hub = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
records = [json.loads(line) for line in open(log)]
matches = [r for r in records if r["event_type"] == "match"]
ends = [r for r in records if r["event_type"] == "flow_end"]
def seen(message, proto, src, dst=None):
    for r in matches:
        p = r["p2p"]
        if p["message"] == message and r["proto"] == proto and p["id_type"] == "tth" and p["id"] == tth and r["src_ip"] == src \
                and (dst is None or f'{r["dest_ip"]}:{r["dest_port"]}' == dst) and p["protocol"] == "directconnect":
            return r
    return None
checks = {
    "search (getter to hub)": seen("search", "TCP", getter, hub),
    "search result (UDP, sharer to getter)": seen("search_result", "UDP", sharer),
    "download request (getter to sharer)": seen("get", "TCP", getter),
}
transfer = [e for e in ends if e["p2p"].get("protocol") == "directconnect" and max(e["p2p"].get("file_bytes_toserver", 0), e["p2p"].get("file_bytes_toclient", 0)) >= size]
ok = all(checks.values()) and transfer and all(m["p2p"]["id"] == tth for m in matches)
for name, record in checks.items():
    print(f"{name:40} {'found' if record else 'MISSING'}")
result = checks["search result (UDP, sharer to getter)"]
if result:
    print(f"{'result context':40} {json.dumps(result['p2p'].get('context'))}")
print(f"{'transfer flow_end (file bytes)':40} {[max(e['p2p']['file_bytes_toserver'], e['p2p']['file_bytes_toclient']) for e in transfer] or 'MISSING'}")
print(f"{'matches':40} {len(matches)}")
sys.exit(0 if ok else 1)
PYEOF
    {
        echo "tth               $TTH ($TTH_HEX)"
        cat "$OUT/summary.txt"
        echo "peerwatch exit    $PW_EXIT"
        echo "chain             $("$PEERWATCH" verify "$OUT/alerts.json" 2>&1)"
        echo "non-TEST-NET pkts $foreign"
        echo "transfer          $TRANSFER"
    } | tee "$OUT/summary-full.txt" >&2
    [ "$PW_EXIT" -eq 0 ] && [ "$foreign" -eq 0 ] && [ "$TRANSFER" = ok ] && "$PEERWATCH" verify "$OUT/alerts.json" >/dev/null
}

main() {
    trap on_exit EXIT
    trap 'log "interrupted (SIGINT)"; exit 130' INT
    trap 'log "terminated (SIGTERM, or the ${HARD_LIMIT}s limit was reached)"; exit 124' TERM
    teardown
    WORK=$(mktemp -d /tmp/pwe-dc-e2e.XXXXXX)
    chmod 755 "$WORK"
    mkdir -p "$WORK/logs" "$WORK/hub" "$WORK/share"
    rm -rf "$OUT"; mkdir -p "$OUT"
    [ -x "$PEERWATCH" ] || die "no peerwatch binary at $PEERWATCH (swift build first, or set PEERWATCH)"
    setup_net

    head -c "$SIZE" /dev/urandom > "$WORK/share/e2e-file.bin"
    TTH=$(rhash --tth "$WORK/share/e2e-file.bin" | awk '{print toupper($1)}')
    TTH_HEX=$(python3 -c 'import base64, sys; s = sys.argv[1]; print(base64.b32decode(s + "=" * (-len(s) % 8)).hex())' "$TTH")
    [ ${#TTH_HEX} -eq 48 ] || die "rhash gave no TTH"
    echo "tth:$TTH_HEX e2e file" > "$WORK/watchlist.txt"

    cat > "$WORK/hub/uhub.conf" <<EOC
server_port=$PORT_HUB
server_bind_addr=$IP_H
hub_name=peerwatch e2e hub
hub_enabled=1
registered_users_only=0
max_users=10
tls_enable=no
file_acl=$WORK/hub/users.conf
file_plugins=$WORK/hub/plugins.conf
EOC
    : > "$WORK/hub/users.conf"; : > "$WORK/hub/plugins.conf"
    client_config "$WORK/get" e2egetter "$IP_G" "$PORT_G" ""
    client_config "$WORK/shr" e2esharer "$IP_S" "$PORT_S" "<Share><Directory Virtual=\"e2eshare\">$WORK/share/</Directory></Share>"

    nsx "$NS_H" tcpdump -i br0 -U -s 0 -w "$OUT/hub.pcap" >"$WORK/logs/tcpdump.log" 2>&1 &
    # `ip netns exec` itself (it execs), not the nsx function (a subshell): $! is peerwatch.
    ip netns exec "$NS_H" "$PEERWATCH" run --interface br0 --watchlist "e2e=$WORK/watchlist.txt" --log "$OUT/alerts.json" \
        --state-dir "$WORK/state" --sensor e2e-dc-hub --home-net "$IP_G/32" >"$WORK/logs/peerwatch.out" 2>"$WORK/logs/peerwatch.err" &
    PW_PID=$!
    wait_for 20 "peerwatch capturing" grep -q 'capture started' "$WORK/logs/peerwatch.err"
    nsx "$NS_H" uhub -c "$WORK/hub/uhub.conf" -l "$WORK/logs/uhub.log" >/dev/null 2>&1 &
    local ns dir
    for pair in "$NS_G:get" "$NS_S:shr"; do
        ns=${pair%%:*}; dir=$WORK/${pair##*:}
        nsx "$ns" eiskaltdcpp-daemon -c "$dir/conf" -l "$dir/conf" -P 3121 -L 127.0.0.1 -u "$WORK/logs/rpc-${pair##*:}.log" \
            >"$WORK/logs/daemon-${pair##*:}.log" 2>&1 &
    done
    wait_for 20 "the getter's RPC" rpc_has "$NS_G" show.version result
    wait_for 20 "the sharer's RPC" rpc_has "$NS_S" show.version result
    wait_for 60 "the sharer's hashing" rpc_has "$NS_S" hash.status '"filesleft":0' 
    rpc "$NS_S" hub.add "{\"huburl\":\"$HUB_URL\",\"enc\":\"\"}" >/dev/null
    rpc "$NS_G" hub.add "{\"huburl\":\"$HUB_URL\",\"enc\":\"\"}" >/dev/null
    wait_for 30 "the getter to see the sharer" rpc_has "$NS_G" hub.getusers e2esharer "{\"huburl\":\"$HUB_URL\"}"
    log "both clients on the hub; queueing the file by magnet and searching its TTH $TTH"
    # The magnet queues the file with no source; the search result by TTH adds the sharer.
    rpc "$NS_G" magnet.add "{\"magnet\":\"magnet:?xt=urn:tree:tiger:$TTH&xl=$SIZE&dn=e2e-file.bin\",\"directory\":\"$WORK/get/dl\"}" >/dev/null
    rpc "$NS_G" search.send "{\"searchstring\":\"$TTH\",\"searchtype\":8}" >/dev/null
    TRANSFER=failed
    local i
    for i in $(seq 1 60); do
        if [ "$(stat -c %s "$WORK/get/dl/e2e-file.bin" 2>/dev/null)" = "$SIZE" ] && cmp -s "$WORK/get/dl/e2e-file.bin" "$WORK/share/e2e-file.bin"; then
            TRANSFER=ok; break
        fi
        # A search again now and then (the client holds back searches sent too close together).
        [ $((i % 20)) -eq 0 ] && rpc "$NS_G" search.send "{\"searchstring\":\"$TTH\",\"searchtype\":8}" >/dev/null
        sleep 1
    done
    log "transfer: $TRANSFER"
    rpc "$NS_G" daemon.stop >/dev/null 2>&1 || true
    rpc "$NS_S" daemon.stop >/dev/null 2>&1 || true
    sleep 2
    stop_peerwatch
    local rc=0
    analyze || rc=1
    log "artifacts in $OUT; result: $([ $rc -eq 0 ] && echo PASS || echo FAIL)"
    echo "e2e-directconnect: $([ $rc -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed")"
    return $rc
}

run_test "$@"
