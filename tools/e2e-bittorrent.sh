#!/usr/bin/env bash
# End-to-end test of PeerWatch with real BitTorrent clients, in network namespaces.
#
#   tools/e2e-bittorrent.sh [--no-install]        (as root; CI runs it)
#
# Three namespaces joined by a bridge, addresses from TEST-NET-3 only, no default route, so no
# packet can leave:
#
#   pwe-tracker  203.0.113.1  bridge + opentracker (HTTP announce, tcp/6969)
#   pwe-seed     203.0.113.2  transmission-daemon 3.00, seeding (tcp+udp/51413)
#   pwe-leech    203.0.113.3  libtorrent 2.0 (python3), leeching (tcp+udp/6881)  + peerwatch run
#
# A random file is downloaded twice, once over TCP only and once over uTP only, with a DHT
# among the two clients only (no default bootstrap nodes), LSD, UPnP and NAT-PMP off, and
# encryption off so the peer wire is readable. `peerwatch run` captures live in the leecher's
# namespace with the torrent's infohash on its watch list (made by `peerwatch watchlist
# from-torrent`), and the test checks that its alerts name the infohash for a TCP handshake, a
# uTP handshake, a tracker announce and a DHT message, that its log's chain verifies, and that
# no captured packet has an address outside 203.0.113.0/24.
#
# Env: PEERWATCH      the binary (default: .build/debug/peerwatch of this checkout)
#      E2E_OUT        pcaps, logs and the summary (default /tmp/peerwatch-e2e, replaced each run)
#      E2E_SIZE_MB    size of the file (default 4)
#      E2E_HARD_LIMIT seconds before the run is stopped and cleaned up (default 280)
# Exit status 0 when every transfer completed and every alert was there.

set -Eeuo pipefail

# ---------------------------------------------------------------- constants
NS_T=pwe-tracker; NS_S=pwe-seed; NS_L=pwe-leech
NETS=("$NS_T" "$NS_S" "$NS_L")
IP_T=203.0.113.1; IP_S=203.0.113.2; IP_L=203.0.113.3; PFX=24
PORT_TRK=6969; PORT_S=51413; PORT_L=6881; RPC_PORT=9091
ANNOUNCE_URL="http://$IP_T:$PORT_TRK/announce"
OUT=${E2E_OUT:-/tmp/peerwatch-e2e}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERWATCH=${PEERWATCH:-$REPO/.build/debug/peerwatch}
SIZE_MB=${E2E_SIZE_MB:-4}
PHASE_TIMEOUT=60          # max seconds for one leecher run (download + DHT)
HARD_LIMIT=${E2E_HARD_LIMIT:-280}  # watchdog: whole run is aborted after this many seconds
PY=/usr/bin/python3       # Debian's python (python3-libtorrent is built for it)
PKGS=(opentracker transmission-daemon transmission-cli python3-libtorrent tcpdump iproute2 python3)

# never let a client use an inherited proxy
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY || true

SERVICES=(transmission-daemon.service opentracker.service)
WORK=""
BG_PIDS=()
T0=$(date +%s)

# shellcheck source=tools/e2e-lib.sh
. "$REPO/tools/e2e-lib.sh"

# NB: no `wait` in here: it runs from signal traps, and bash's `wait` inside a trap that
# interrupted another `wait` can block forever (seen during development).
teardown() {
    local i
    # every background process was started with `ip netns exec` (which execs), so it lives in
    # one of our namespaces; stop the seed through its RPC first so that it exits cleanly
    if [ -n "${SEED_PID:-}" ] && ip netns pids "$NS_S" 2>/dev/null | grep -qx "$SEED_PID"; then
        trpc --exit >/dev/null 2>&1 || true
        for i in $(seq 1 15); do ip netns pids "$NS_S" 2>/dev/null | grep -qx "$SEED_PID" || break; sleep 0.2; done
    fi
    kill_ns_procs
    for ns in "${NETS[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
    done
    rmdir /etc/netns 2>/dev/null || true
}


# ---------------------------------------------------------------- helpers

trpc() { nsx "$NS_S" timeout 10 transmission-remote "127.0.0.1:$RPC_PORT" "$@"; }


# ------------------------------------------------------------- network
setup_net() {
    local ns
    for ns in "${NETS[@]}"; do
        ip netns add "$ns"
        # DNS inside the namespaces goes to the namespace's own loopback (nothing listens)
        mkdir -p "/etc/netns/$ns"
        printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "/etc/netns/$ns/resolv.conf"
        nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    # mcast_snooping 0: otherwise the bridge itself sends IGMP joins for 224.0.0.106
    ip -n "$NS_T" link add br0 type bridge mcast_snooping 0
    ip -n "$NS_T" link add vseed type veth peer name eth0 netns "$NS_S"
    ip -n "$NS_T" link add vleech type veth peer name eth0 netns "$NS_L"
    ip -n "$NS_T" link set vseed master br0
    ip -n "$NS_T" link set vleech master br0
    ip -n "$NS_T" addr add "$IP_T/$PFX" dev br0
    ip -n "$NS_S" addr add "$IP_S/$PFX" dev eth0
    ip -n "$NS_L" addr add "$IP_L/$PFX" dev eth0
    for dev in br0 vseed vleech; do ip -n "$NS_T" link set "$dev" up; done
    ip -n "$NS_S" link set eth0 up
    ip -n "$NS_L" link set eth0 up
    wait_for 10 "veths up" bash -c "ip -n $NS_S link show eth0 | grep -q LOWER_UP && ip -n $NS_L link show eth0 | grep -q LOWER_UP"
    wait_for 10 "bridge ports forwarding" \
        bash -c "[ \$(bridge -n $NS_T link show | grep -c 'state forwarding') -eq 2 ]"
    log "namespaces up: $NS_T=$IP_T $NS_S=$IP_S $NS_L=$IP_L"
}

# ------------------------------------------------------------- leecher (libtorrent)
write_leecher() {
cat > "$WORK/leech.py" <<'PYEOF'
import json, sys, time
import libtorrent as lt

torrent, save, listen, mode, boot, timeout, logpath = sys.argv[1:8]
timeout = float(timeout)
tcp, utp = mode == "tcp", mode == "utp"
UTP_SOCKET = 1 << 17          # peer_info::utp_socket (not exported to python)

settings = {
    "listen_interfaces": listen,
    "outgoing_interfaces": listen.split(":")[0],
    # transport selection
    "enable_outgoing_tcp": tcp, "enable_incoming_tcp": tcp,
    "enable_outgoing_utp": utp, "enable_incoming_utp": utp,
    # plaintext peer wire (no MSE/PE)
    "out_enc_policy": int(lt.enc_policy.pe_disabled),
    "in_enc_policy": int(lt.enc_policy.pe_disabled),
    "allowed_enc_level": 1,                      # pe_plaintext
    "prefer_rc4": False,
    # DHT among the namespaces only
    "enable_dht": True,
    "dht_bootstrap_nodes": boot,                 # replaces dht.libtorrent.org:25401
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_prefer_verified_node_ids": False,
    "dht_privacy_lookups": False,                # keep the real infohash in get_peers
    "dht_announce_interval": 10,
    # no local discovery / port mapping
    "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "enable_ip_notifier": False,
    "alert_mask": int(lt.alert_category.error | lt.alert_category.status | lt.alert_category.peer
                      | lt.alert_category.connect | lt.alert_category.tracker | lt.alert_category.dht
                      | lt.alert_category.dht_operation | lt.alert_category.dht_log),
}
logf = open(logpath, "w", buffering=1)
t0 = time.time()
def log(msg):
    logf.write("%7.2f %s\n" % (time.time() - t0, msg))

ses = lt.session(settings)
ti = lt.torrent_info(torrent)
ih_hex = str(ti.info_hashes().v1)
ih = bytes.fromhex(ih_hex)
atp = lt.add_torrent_params()
atp.ti = ti
atp.save_path = save
h = ses.add_torrent(atp)
h.resume()

res = {"mode": mode, "infohash": ih_hex, "finished": False, "peers": {},
       "dht_get_peers_sent": [], "dht_announce_peer_sent": False, "dht_reply_from_seed": False,
       "tracker_reply": False}
last_force = 0.0
done_at = None
deadline = t0 + timeout
while time.time() < deadline:
    ses.wait_for_alert(250)
    for a in ses.pop_alerts():
        name = type(a).__name__
        msg = a.message()
        log("%s: %s" % (name, msg))
        if isinstance(a, lt.dht_outgoing_get_peers_alert) and bytes.fromhex(str(a.info_hash)) == ih:
            res["dht_get_peers_sent"].append(str(a.endpoint))
        elif isinstance(a, lt.dht_pkt_alert):       # message(): "==> [ip:port] {...}" / "<== ..."
            buf = bytes(a.pkt_buf)
            if msg.startswith("==>") and b"announce_peer" in buf and ih in buf:
                res["dht_announce_peer_sent"] = True
            elif msg.startswith("<== [" + boot + "]") and b"1:rd" in buf and b"5:token" in buf:
                res["dht_reply_from_seed"] = True
        elif isinstance(a, lt.tracker_reply_alert):
            res["tracker_reply"] = True
    for p in h.get_peer_info():
        if p.ip[0] == listen.split(":")[0]:
            continue                          # ourselves (the tracker hands our own address back)
        client = p.client.decode("utf-8", "replace") if isinstance(p.client, bytes) else p.client
        if not client:
            continue                          # handshake not completed yet
        res["peers"]["%s:%d" % (p.ip[0], p.ip[1])] = {
            "client": client, "utp": bool(p.flags & UTP_SOCKET),
            "encrypted": bool(p.flags & (p.rc4_encrypted | p.plaintext_encrypted))}
    st = h.status()
    res["payload_bytes"] = st.total_payload_download
    if st.is_seeding and not res["finished"]:
        res["finished"] = True
        res["download_seconds"] = round(time.time() - t0, 2)
        done_at = time.time()
        log("download finished")
    now = time.time()
    if now - last_force > 3 and not res["dht_announce_peer_sent"]:
        h.force_dht_announce()
        last_force = now
    if res["finished"] and res["dht_announce_peer_sent"] and now - done_at > 1.0:
        break
time.sleep(1.0)            # let the last DHT packets cross before we go away
ses.pause()
res["elapsed"] = round(time.time() - t0, 2)
print(json.dumps(res, sort_keys=True))
sys.exit(0 if res["finished"] else 2)
PYEOF
}

# ------------------------------------------------------------- seed (transmission)
write_transmission_settings() {  # $1 = config dir, $2 = true|false (uTP)
    cat > "$1/settings.json" <<EOF
{
    "bind-address-ipv4": "$IP_S",
    "bind-address-ipv6": "::1",
    "peer-port": $PORT_S,
    "peer-port-random-on-start": false,
    "port-forwarding-enabled": false,
    "lpd-enabled": false,
    "dht-enabled": true,
    "pex-enabled": true,
    "utp-enabled": $2,
    "encryption": 0,
    "blocklist-enabled": false,
    "rpc-enabled": true,
    "rpc-bind-address": "127.0.0.1",
    "rpc-port": $RPC_PORT,
    "rpc-authentication-required": false,
    "rpc-whitelist-enabled": true,
    "rpc-whitelist": "127.0.0.1",
    "rpc-host-whitelist-enabled": false,
    "download-dir": "$WORK/seed",
    "incomplete-dir-enabled": false,
    "watch-dir-enabled": false,
    "start-added-torrents": true,
    "ratio-limit-enabled": false,
    "idle-seeding-limit-enabled": false,
    "speed-limit-up-enabled": false,
    "speed-limit-down-enabled": false,
    "message-level": 3
}
EOF
    # DHT bootstrap: Transmission reads "host port" lines from <config-dir>/dht.bootstrap
    echo "$IP_L $PORT_L" > "$1/dht.bootstrap"
}

# A fresh daemon (fresh config dir) per phase: Transmission remembers peers per IP
# address, and a peer it has seen as a seed is never unchoked again (see pitfalls).
SEED_PID=""
start_seed() {               # $1 = true|false (uTP enabled)
    local cfg="$WORK/tr-config-$PHASE"
    mkdir -p "$cfg"
    write_transmission_settings "$cfg" "$1"
    TR_DHT_VERBOSE=1 ip netns exec "$NS_S" transmission-daemon -f -g "$cfg" \
        >"$WORK/logs/transmission-$PHASE.log" 2>&1 &
    SEED_PID=$!; BG_PIDS+=($SEED_PID)
    wait_for 15 "transmission RPC" trpc -l
    trpc -a "$WORK/payload.torrent" -w "$WORK/seed" >/dev/null
    wait_for 30 "transmission verified the payload" \
        bash -c "ip netns exec $NS_S transmission-remote 127.0.0.1:$RPC_PORT -t 1 -i | grep -q 'Percent Done: 100%'"
    # make sure the seed is registered at the tracker before the leecher asks for peers
    wait_for 20 "transmission announced to the tracker" \
        bash -c "ip netns exec $NS_S transmission-remote 127.0.0.1:$RPC_PORT -t 1 -it | grep -q 'Got a list of'"
    log "transmission (utp-enabled=$1) seeding: $(trpc -t 1 -i | awk -F': ' '/^  State/{print $2}')"
}
stop_seed() {
    trpc --exit >/dev/null 2>&1 || true
    local i; for i in $(seq 1 50); do kill -0 "$SEED_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SEED_PID" 2>/dev/null || true
    wait "$SEED_PID" 2>/dev/null || true
    cp "$WORK/tr-config-$PHASE/settings.json" "$OUT/transmission-settings-$PHASE.json" 2>/dev/null || true
}

# ------------------------------------------------------------- tracker (opentracker)
start_tracker() {
    local d="$WORK/tracker"
    mkdir -p "$d"
    # Debian's opentracker is built with WANT_ACCESSLIST_WHITE: only listed hashes are tracked.
    echo "$INFOHASH" > "$d/whitelist.txt"
    chmod 755 "$d"; chmod 644 "$d/whitelist.txt"
    ip netns exec "$NS_T" opentracker -i "$IP_T" -p "$PORT_TRK" -P "$PORT_TRK" -d "$d" -u nobody -w whitelist.txt \
        >"$WORK/logs/opentracker.log" 2>&1 &
    BG_PIDS+=($!)
    wait_for 10 "opentracker listening" \
        bash -c "ip netns exec $NS_T ss -ltn | grep -q '$IP_T:$PORT_TRK'"
    log "opentracker listening on $ANNOUNCE_URL"
}

# ------------------------------------------------------------- one download phase
CAP_PID=""
start_capture() {            # $1 = pcap path
    : > "$WORK/logs/tcpdump-$PHASE.log"
    ip netns exec "$NS_L" tcpdump -i eth0 -n -s 0 -U -Z root -w "$1" >"$WORK/logs/tcpdump-$PHASE.log" 2>&1 &
    CAP_PID=$!; BG_PIDS+=($CAP_PID)
    wait_for 10 "tcpdump ready" grep -q 'listening on' "$WORK/logs/tcpdump-$PHASE.log"
}
stop_capture() {
    kill -INT "$CAP_PID" 2>/dev/null || true
    local i; for i in $(seq 1 30); do kill -0 "$CAP_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
}

run_phase() {                # $1 = tcp|utp
    PHASE=$1
    local pcap="$OUT/leech-$PHASE.pcap" dl="$WORK/leech-$PHASE"
    mkdir -p "$dl"
    start_capture "$pcap"
    if [ "$PHASE" = tcp ]; then start_seed false; else start_seed true; fi
    log "phase $PHASE: leecher starting (timeout ${PHASE_TIMEOUT}s)"
    local rc=0
    # run in the background and `wait`, so that a TERM/INT trap fires at once
    ip netns exec "$NS_L" timeout -k 5 $((PHASE_TIMEOUT + 10)) "$PY" "$WORK/leech.py" "$WORK/payload.torrent" "$dl" \
        "$IP_L:$PORT_L" "$PHASE" "$IP_S:$PORT_S" "$PHASE_TIMEOUT" "$OUT/libtorrent-$PHASE.log" \
        > "$OUT/leech-$PHASE.json" &
    local lp=$!; BG_PIDS+=($lp)
    wait "$lp" || rc=$?
    stop_seed
    stop_capture
    log "phase $PHASE: leecher exit $rc: $(cat "$OUT/leech-$PHASE.json" 2>/dev/null)"
    if cmp -s "$WORK/seed/payload.bin" "$dl/payload.bin"; then
        log "phase $PHASE: payload verified (cmp OK)"; echo ok > "$WORK/xfer-$PHASE"
    else
        log "phase $PHASE: payload MISSING or DIFFERENT"; echo fail > "$WORK/xfer-$PHASE"
    fi
}

# ------------------------------------------------------------- peerwatch
PW_PID=""
PW_EXIT=1
start_peerwatch() {
    # The infohash as libtorrent computes it is what the watch list holds; PeerWatch's own
    # reading of the .torrent must agree with it.
    INFOHASH=$("$PY" -c 'import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hashes().v1)' "$WORK/payload.torrent")
    [ ${#INFOHASH} -eq 40 ] || die "libtorrent gave no infohash for the torrent"
    local ours
    ours=$("$PEERWATCH" watchlist from-torrent "$WORK/payload.torrent" | awk -F'[: ]' '/^btih:/{print $2; exit}')
    [ "$ours" = "$INFOHASH" ] || die "peerwatch watchlist from-torrent says $ours, libtorrent says $INFOHASH"
    echo "btih:$INFOHASH e2e payload" > "$WORK/watchlist.txt"
    ip netns exec "$NS_L" "$PEERWATCH" run --interface eth0 --watchlist "e2e=$WORK/watchlist.txt" \
        --log "$OUT/alerts.json" --state-dir "$WORK/state" --sensor e2e-leech --home-net "$IP_L/32" \
        >"$WORK/logs/peerwatch.out" 2>"$WORK/logs/peerwatch.err" &
    PW_PID=$!; BG_PIDS+=($PW_PID)
    wait_for 20 "peerwatch capturing" grep -q 'capture started' "$WORK/logs/peerwatch.err"
    log "peerwatch capturing on $NS_L/eth0, watching $INFOHASH"
}

# ------------------------------------------------------------- checks
analyze() {                  # prints a summary, returns non-zero if anything is missing
    local res=0 foreign=0 p
    for p in "$OUT/leech-tcp.pcap" "$OUT/leech-utp.pcap"; do
        foreign=$((foreign + $(tcpdump -r "$p" -n 'ip and not (src net 203.0.113.0/24 and dst net 203.0.113.0/24)' 2>/dev/null | wc -l)))
    done
    "$PY" - "$OUT/alerts.json" "$INFOHASH" "$OUT/leech-tcp.json" "$OUT/leech-utp.json" "$IP_L" "$PORT_L" "$IP_T:$PORT_TRK" \
        > "$OUT/summary.txt" <<'PYEOF' || res=1
# Every match is checked against what the clients themselves report: the peers libtorrent had
# a completed handshake with (and over which transport), the DHT nodes it sent get_peers to,
# the tracker; its endpoints, role, direction and subscriber side must be what the README says.
import json, sys
path, infohash, tcp_json, utp_json, leech, leech_port, tracker = sys.argv[1:8]
records = [json.loads(line) for line in open(path) if line.strip()]
matches = [r for r in records if r["event_type"] == "match"]
clients = {name: json.loads(open(p).read() or "{}") for name, p in (("tcp", tcp_json), ("utp", utp_json))}
peers = {mode: set(c.get("peers", {})) for mode, c in clients.items()}
def endpoint(text):                  # libtorrent writes "('203.0.113.2', 51413)"
    host, port = text.strip("()").replace("'", "").split(", ")
    return "%s:%s" % (host, port)
dht_nodes = set(endpoint(e) for c in clients.values() for e in c.get("dht_get_peers_sent", []))
problems = []
def ep(m, side): return "%s:%d" % (m[side + "_ip"], m[side + "_port"])
def expect(m, what, condition):
    if not condition: problems.append("%s %s -> %s %s: %s" % (m["p2p"]["protocol"], ep(m, "src"), ep(m, "dest"), m["p2p"]["message"], what))
for m in matches:
    p2p = m["p2p"]
    expect(m, "id %s is not libtorrent's infohash" % p2p["id"], p2p["id"] == infohash)
    expect(m, "subscriber %s" % m["subscriber"], m["subscriber"] == ("src" if m["src_ip"] == leech else "dest" if m["dest_ip"] == leech else "?"))
    protocol, message = p2p["protocol"], p2p["message"]
    if protocol in ("bittorrent", "utp"):
        mode = "tcp" if protocol == "bittorrent" else "utp"
        expect(m, "message", message == "handshake")
        remote = ep(m, "dest") if m["src_ip"] == leech else ep(m, "src")
        expect(m, "libtorrent had no %s peer %s" % (mode, remote), remote in peers[mode])
        if m["proto"] == "TCP":
            # The side that connected asks for the torrent.
            expect(m, "direction %s" % p2p["direction"], p2p["direction"] == "to_server")
            expect(m, "role %s" % p2p["role"], p2p["role"] == "seeking")
    elif protocol == "bittorrent-tracker":
        expect(m, "not from the leecher to the tracker", m["src_ip"] == leech and ep(m, "dest") == tracker)
        # Before the download completes the leecher seeks; its announces after (left=0 or
        # event=completed) offer the content.
        context = p2p.get("context", {})
        done = context.get("left") == 0 or context.get("event") == "completed"
        expect(m, "message/role %s/%s with left=%s event=%s" % (message, p2p["role"], context.get("left"), context.get("event")),
               message == "tracker.announce" and p2p["role"] == ("offering" if done else "seeking"))
    elif protocol == "bittorrent-dht":
        expect(m, "message", message in ("dht.get_peers", "dht.announce_peer"))
        if m["src_ip"] == leech:
            expect(m, "libtorrent sent no get_peers to %s" % ep(m, "dest"), message != "dht.get_peers" or p2p["role"] != "seeking" or ep(m, "dest") in dht_nodes)
            expect(m, "role", p2p["role"] == ("seeking" if message == "dht.get_peers" else "offering"))
    else:
        problems.append("unexpected protocol %s" % protocol)
def seen(protocol): return [m for m in matches if m["p2p"]["protocol"] == protocol]
checks = {"tcp handshake": seen("bittorrent"), "utp handshake": seen("utp"),
          "tracker announce": seen("bittorrent-tracker"), "dht": seen("bittorrent-dht")}
ok = not problems
for name, found in checks.items():
    example = found[0] if found else None
    print("%-17s %3d  %s" % (name, len(found), "" if not example else "%s %s -> %s role %s" % (
        example["timestamp"], ep(example, "src"), ep(example, "dest"), example["p2p"]["role"])))
    ok = ok and len(found) > 0
print("libtorrent peers  tcp %s, utp %s" % (sorted(peers["tcp"]), sorted(peers["utp"])))
ends = [r for r in records if r["event_type"] == "flow_end"]
print("flow_end records  %3d" % len(ends))
for problem in problems: print("MISMATCH          " + problem)
sys.exit(0 if ok else 1)
PYEOF
    {
        echo "infohash          $INFOHASH"
        cat "$OUT/summary.txt"
        echo "peerwatch exit    $PW_EXIT"
        echo "chain             $("$PEERWATCH" verify "$OUT/alerts.json" 2>&1)"
        echo "non-TEST-NET pkts $foreign"
        echo "transfer_tcp      $(cat "$WORK/xfer-tcp")"
        echo "transfer_utp      $(cat "$WORK/xfer-utp")"
    } | tee "$OUT/summary-full.txt" >&2
    [ "$PW_EXIT" -eq 0 ] && [ "$foreign" -eq 0 ] && "$PEERWATCH" verify "$OUT/alerts.json" >/dev/null \
        && grep -q ok "$WORK/xfer-tcp" && grep -q ok "$WORK/xfer-utp" || res=1
    return $res
}

# ------------------------------------------------------------- main
main() {
    trap on_exit EXIT
    trap 'log "interrupted (SIGINT)"; exit 130' INT
    trap 'log "terminated (SIGTERM, or the ${HARD_LIMIT}s limit was reached)"; exit 124' TERM

    teardown                                  # leftovers of an earlier, killed run
    WORK=$(mktemp -d /tmp/pwe-bt-e2e.XXXXXX)
    chmod 755 "$WORK"
    mkdir -p "$WORK/logs" "$WORK/seed"
    rm -rf "$OUT"; mkdir -p "$OUT"

    setup_net

    head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom > "$WORK/seed/payload.bin"
    transmission-create -o "$WORK/payload.torrent" -t "$ANNOUNCE_URL" -s 256 "$WORK/seed/payload.bin" \
        >"$WORK/logs/create.log" 2>&1
    cp "$WORK/payload.torrent" "$OUT/"
    [ -x "$PEERWATCH" ] || die "no peerwatch binary at $PEERWATCH (swift build first, or set PEERWATCH)"
    start_peerwatch
    log "torrent created: ${SIZE_MB} MiB, infohash $INFOHASH"

    write_leecher
    start_tracker
    run_phase tcp
    run_phase utp
    stop_peerwatch

    local rc=0
    analyze || rc=$?
    log "artifacts in $OUT; result: $([ $rc -eq 0 ] && echo PASS || echo FAIL)"
    echo "e2e-bittorrent: $([ $rc -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed")"
    return $rc
}

run_test "$@"
