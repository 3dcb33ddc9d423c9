# Helpers shared by the end-to-end tests (tools/e2e-*.sh), sourced after each sets:
#   NETS      its network namespaces          PKGS      the Debian packages it needs
#   SERVICES  packaged services to keep down  T0        its start time (date +%s)
#   WORK, OUT its scratch and artifact folders HARD_LIMIT seconds the whole run may take
# and defines `teardown` and `main`.
# Every wait is bounded; every process a test starts lives in one of its namespaces, so that
# killing those namespaces' processes and deleting them cleans up whatever happened.

log()  { printf '[%4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die()  { log "FATAL: $*"; exit 1; }
nsx()  { local ns=$1; shift; ip netns exec "$ns" "$@"; }

ns_pids() {                  # every process living in one of *our* namespaces
    local ns
    for ns in "${NETS[@]}"; do
        ip netns list 2>/dev/null | grep -qw "^$ns" || continue
        ip netns pids "$ns" 2>/dev/null || true
    done
}

kill_ns_procs() {            # TERM once, up to 5 s grace, then KILL
    local pids i
    pids=$(ns_pids); [ -z "$pids" ] && return 0
    kill -TERM $pids 2>/dev/null || true
    for i in $(seq 1 25); do [ -z "$(ns_pids)" ] && return 0; sleep 0.2; done
    pids=$(ns_pids); [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
}

delete_namespaces() {
    local ns
    for ns in "${NETS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}

wait_for() {                 # wait_for SECONDS DESCRIPTION CMD...: CMD until it succeeds
    local secs=$1 what=$2; shift 2
    local end=$(( $(date +%s) + secs ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && { log "timeout (${secs}s) waiting for: $what"; return 1; }
        sleep 0.3
    done
}

ensure_packages() {          # ensure_packages yes|no: installs what PKGS lacks (no: fails instead)
    local missing=() p
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "${1:-}" = no ] && die "missing packages: ${missing[*]}"
    log "installing: ${missing[*]}"
    # keep the packaged system services from starting
    local made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends "${missing[@]}" \
        || { [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
    if [ -d /run/systemd/system ] && [ ${#SERVICES[@]} -gt 0 ]; then
        systemctl disable --now "${SERVICES[@]}" >/dev/null 2>&1 || true
    fi
}

on_exit() {                  # the EXIT trap: tears down, keeps the logs, reports the exit status
    local rc=$?
    trap - EXIT INT TERM
    teardown
    if [ -n "$WORK" ]; then
        [ -d "$OUT" ] && cp "$WORK"/logs/* "$OUT/" 2>/dev/null
        rm -rf "$WORK"
    fi
    log "cleaned up (exit $rc, $(( $(date +%s) - T0 ))s total)"
    exit $rc
}

stop_peerwatch() {           # SIGTERM to PW_PID, 10 s to exit; PW_EXIT gets its status (137: killed)
    kill -TERM "$PW_PID" 2>/dev/null || true
    local i; for i in $(seq 1 50); do kill -0 "$PW_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$PW_PID" 2>/dev/null; then log "peerwatch did not stop on SIGTERM"; kill -KILL "$PW_PID"; PW_EXIT=137; return; fi
    wait "$PW_PID" 2>/dev/null && PW_EXIT=0 || PW_EXIT=$?
    log "peerwatch exited $PW_EXIT"
}

run_test() {                 # run_test "$@": as root, packages first, then main under HARD_LIMIT
    # coreutils `timeout` sends TERM (the trap cleans up) after HARD_LIMIT seconds and KILL 30 s
    # after that; package installation happens before, outside that limit.
    if [ -z "${E2E_INNER:-}" ]; then
        [ "$(id -u)" -eq 0 ] || die "must run as root"
        ensure_packages "$([ "${1:-}" = --no-install ] && echo no || echo yes)"
        E2E_INNER=1 exec timeout -k 30 "$HARD_LIMIT" bash "$0" "$@"
    fi
    main "$@"
}
