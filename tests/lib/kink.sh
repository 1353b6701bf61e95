# kink.sh: kinkd daemons on loopback addresses for the KINK tests (bash;
# source after realm.sh).
#
#   kinkd_conf FILE ADDR PORT IDENTITY DIR   write FILE: identity, listen
#                                   ADDR:PORT, backend none, control socket
#                                   DIR/ctl.sock, state_dir DIR/state
#                                   (0700), then stdin (peer blocks and
#                                   policy lines) appended
#   kinkd_start NAME FILE [ARGS]    start the built kinkd -d -c FILE ARGS in
#                                   the background (log KS_TMPDIR/NAME.log)
#                                   and wait for its "started" line
#   kinkd_stop NAME                 SIGTERM, wait (kill -9 after 10 s);
#                                   non-zero if it crashed, was killed or
#                                   its log has a sanitizer report
#   kinkctl_at DIR ARGS...          the built kinkctl on DIR/ctl.sock
#   kink_peer ADDR PRINC PORT [LINES...]  print a peer block
#
# Every kinkd still running at exit is stopped (realm.sh's EXIT trap calls
# ks_cleanup_hook).

declare -A _KINKD_PIDS=()

kinkd_conf() {
    local file=$1 addr=$2 port=$3 identity=$4 dir=$5
    mkdir -p "$dir/state"
    chmod 700 "$dir/state"
    {
        echo "identity = $identity"
        echo "listen = $addr:$port"
        echo "backend = none"
        echo "control_socket = $dir/ctl.sock"
        echo "state_dir = $dir/state"
        cat
    } >"$file"
}

kink_peer() {
    local addr=$1 princ=$2 port=$3 l
    shift 3
    echo "peer $addr {"
    echo "    principal = $princ"
    echo "    port = $port"
    for l in "$@"; do
        echo "    $l"
    done
    echo "}"
}

kinkd_start() {
    local name=$1 conf=$2 log i n0
    shift 2
    _ks_require KINKD "the built kinkd"
    log=$KS_TMPDIR/$name.log
    # A restarted kinkd appends to its log: wait for a new "started" line.
    n0=$(grep -c 'started: ' "$log" 2>/dev/null)
    "$KINKD" -d -c "$conf" "$@" </dev/null >>"$log" 2>&1 &
    _KINKD_PIDS[$name]=$!
    for ((i = 0; i < 200; i++)); do
        if [ "$(grep -c 'started: ' "$log" 2>/dev/null)" -gt "${n0:-0}" ]; then
            return 0
        fi
        if ! kill -0 "${_KINKD_PIDS[$name]}" 2>/dev/null; then
            echo "# kinkd $name exited at start; its log:"
            sed 's/^/    | /' "$log"
            unset "_KINKD_PIDS[$name]"
            return 1
        fi
        sleep 0.05
    done
    echo "# kinkd $name did not start within 10 s; its log:"
    sed 's/^/    | /' "$log"
    return 1
}

kinkd_stop() {
    local name=$1 pid rc=0 i
    pid=${_KINKD_PIDS[$name]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "# kinkd $name did not stop on SIGTERM: killed"
        kill -KILL "$pid" 2>/dev/null
        rc=1
    fi
    wait "$pid" 2>/dev/null || rc=1
    unset "_KINKD_PIDS[$name]"
    if _ks_sanitizer_report <"$KS_TMPDIR/$name.log"; then
        echo "# sanitizer report in kinkd $name:"
        sed 's/^/    | /' "$KS_TMPDIR/$name.log" | head -60
        rc=1
    fi
    return $rc
}

ks_cleanup_hook() {
    local n rc=0
    for n in "${!_KINKD_PIDS[@]}"; do
        kinkd_stop "$n" || rc=1
    done
    return $rc
}

kinkctl_at() {
    local dir=$1
    shift
    _ks_require KINKCTL "the built kinkctl"
    "$KINKCTL" -s "$dir/ctl.sock" "$@"
}
