#!/bin/bash
# Guest side of t_uml_kinkd.sh (runs inside UML through uml-run.sh).
#
# Network: a bridge br0 in the guest's root namespace (10.9.0.254, where
# the KDC listens) and namespaces a (10.9.0.1 on va) and b (10.9.0.2 on
# vb), each joined to the bridge by a veth (ra, rb on the bridge side).
# The wire between the peers is watched with tcpdump on ra, a bridge port:
# no IPsec processing happens there, so it shows exactly what a sends and
# receives.  kinkd runs in a and in b with the xfrm backend, each with the
# TGT cache of its device login (KS_UML_WORK/tgt.a, tgt.b), lifetime 60 s.
#
# Environment (from the host): KINKD, KINKCTL, KRB5KDC, KS_UML_WORK,
# KS_UML_REALM (krb5.conf, kdc.conf for the guest), KS_UML_KDC (addr:port).
set -u
W=$KS_UML_WORK
G=$KS_UML_REALM
GT=${GUEST_TMP:-/run/uml-guest}
A=10.9.0.1 B=10.9.0.2 K=10.9.0.254
export KRB5_CONFIG=$G/krb5.conf KRB5_KDC_PROFILE=$G/kdc.conf KRB5RCACHEDIR=$GT
NFAIL=0
t_start=$(cut -d' ' -f1 /proc/uptime)

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; NFAIL=$((NFAIL + 1)); }
ts() { awk -v a="$t_start" -v b="$(cut -d' ' -f1 /proc/uptime)" \
           'BEGIN { printf "%.1f", b - a }'; }
note() { echo "# [$(ts)s] $*"; }
dump() {
    local n
    for n in a b; do
        echo "---- kinkd $n log"
        grep -v 'control: request' "$GT/$n.log" 2>/dev/null | sed 's/^/    | /'
        echo "---- ns $n: ip -s xfrm state / policy"
        ip -n $n -s xfrm state | sed 's/^/    | /'
        ip -n $n xfrm policy | sed 's/^/    | /'
    done
    echo "---- KDC"; sed 's/^/    | /' "$GT/kdc.out"
}
die() { fail "$*"; dump; stop_all; exit 1; }

declare -A PID=()
# start_kinkd N: kinkd -d in namespace N, log GT/N.log (appended), wait
# for its "started" line.
start_kinkd() {
    local n=$1 n0 i
    n0=$(grep -c 'started: ' "$GT/$n.log" 2>/dev/null)
    ip netns exec $n "$KINKD" -d -c "$GT/$n.conf" </dev/null \
        >>"$GT/$n.log" 2>&1 &
    PID[$n]=$!
    for ((i = 0; i < 300; i++)); do
        [ "$(grep -c 'started: ' "$GT/$n.log" 2>/dev/null)" -gt "${n0:-0}" ] &&
            return 0
        kill -0 "${PID[$n]}" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
stop_kinkd() {     # SIGTERM, wait up to 10 s; non-zero if it had to be killed
    local n=$1 pid=${PID[$1]:-} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    unset "PID[$n]"
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"; wait "$pid" 2>/dev/null; return 1
    fi
    wait "$pid" 2>/dev/null
}
stop_all() {
    local n
    for n in "${!PID[@]}"; do stop_kinkd $n; done
    [ -n "${KDC_PID:-}" ] && kill -TERM "$KDC_PID" 2>/dev/null
}
ctl() { local n=$1; shift; "$KINKCTL" -t 30 -s "$GT/$n/ctl.sock" "$@"; }
# spis N: "IN OUT" of N's first SA pair (empty if none).
spis() {
    ctl $1 sa 2>/dev/null |
        sed -nE 's/.* in=0x([0-9a-f]{8}) out=0x([0-9a-f]{8}) .*/\1 \2/p' |
        head -1
}
# wait_sa N [EXCEPT_IN] [SECONDS]: wait until N has an SA pair whose
# inbound SPI is not EXCEPT_IN; print "IN OUT".
wait_sa() {
    local n=$1 not=${2:-} s end
    end=$(( $(cut -d. -f1 /proc/uptime) + ${3:-15} ))
    while :; do
        s=$(spis $n)
        if [ -n "$s" ] && [ "${s%% *}" != "$not" ]; then
            echo "$s"; return 0
        fi
        [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ] || return 1
        sleep 0.2
    done
}
# bytes NS SPI: the byte counter of SA SPI (hex, no 0x) in namespace NS.
bytes() {
    ip -n "$1" -s xfrm state | awk -v spi="spi 0x$2" '
        index($0, spi) { on = 1 }
        on && /lifetime current:/ { getline; sub(/\(bytes\).*/, "");
            gsub(/[ \t]/, ""); print; exit }'
}
# has_state NS SPI: whether NS's kernel has an SA with SPI.
has_state() { ip -n "$1" xfrm state | grep -q "spi 0x$2 "; }
# ping_rx NS DST COUNT [ARGS]: the number of echo replies.
ping_rx() {
    local ns=$1 dst=$2 c=$3
    shift 3
    ip netns exec "$ns" ping -n -c "$c" -W 1 "$@" "$dst" 2>/dev/null |
        sed -n 's/.* \([0-9]*\) received.*/\1/p'
}

# esp_check LABEL IN OUT: 10 pings a -> b while tcpdump watches the wire
# (ra); all must pass, the wire shows ESP with both SPIs and no plaintext
# ICMP, and the byte counters of both SAs in a grow.
esp_check() {
    local label=$1 in=$2 out=$3 d=$GT/cap.$RANDOM tp nrx nesp nicmp
    local bi0 bo0 bi1 bo1 ok=0
    bi0=$(bytes a "$in") bo0=$(bytes a "$out")
    # --immediate-mode: without it the last packets can sit in the capture
    # ring's current block when tcpdump is stopped, and are lost.
    tcpdump -Z root -U --immediate-mode -n -i ra -w "$d.pcap" \
        "esp or (icmp and host $A and host $B)" 2>"$d.err" &
    tp=$!
    for _ in $(seq 100); do grep -q listening "$d.err" && break; sleep 0.05; done
    sleep 0.2
    nrx=$(ping_rx a $B 10 -i 0.2)
    sleep 0.5
    kill -INT $tp 2>/dev/null; wait $tp 2>/dev/null
    tcpdump -n -r "$d.pcap" >"$d.wire" 2>/dev/null
    nesp=$(grep -c 'ESP(spi=' "$d.wire")
    nicmp=$(grep -c ICMP "$d.wire")
    bi1=$(bytes a "$in") bo1=$(bytes a "$out")
    echo "#   $label: ${nrx:-0}/10 replies; wire: $nesp ESP, $nicmp plaintext ICMP;" \
         "bytes in 0x$in ${bi0:-?} -> ${bi1:-?}, out 0x$out ${bo0:-?} -> ${bo1:-?}"
    [ "${nrx:-0}" = 10 ] && pass "$label: 10/10 pings a -> b pass" ||
        { fail "$label: ping a -> b lost replies (${nrx:-0}/10)"; ok=1; }
    [ "$nesp" -ge 20 ] && [ "$nicmp" -eq 0 ] &&
        pass "$label: the wire shows ESP ($nesp packets) and no plaintext ICMP" ||
        { fail "$label: wire has $nesp ESP (want >= 20), $nicmp plaintext ICMP (want 0)"; ok=1; }
    # Outbound from a: ESP with b's inbound SPI (a's out); replies: a's in.
    grep -q "$A > $B: ESP(spi=0x$out," "$d.wire" &&
        grep -q "$B > $A: ESP(spi=0x$in," "$d.wire" &&
        pass "$label: ESP a->b carries SPI 0x$out, b->a 0x$in (the negotiated pair)" ||
        { fail "$label: ESP on the wire does not carry the pair's SPIs (a->b 0x$out, b->a 0x$in)"; ok=1; }
    [ -n "$bi1" ] && [ -n "$bo1" ] && [ "$bi1" -gt "${bi0:-0}" ] &&
        [ "$bo1" -gt "${bo0:-0}" ] &&
        pass "$label: both SAs' byte counters in a grew" ||
        { fail "$label: SA byte counters did not grow"; ok=1; }
    [ $ok -eq 0 ] || { echo "---- wire"; sed 's/^/    | /' "$d.wire"; }
    rm -f "$d".*
    return $ok
}

# --- setup -----------------------------------------------------------------
for t in tcpdump ping ip "$KINKD" "$KINKCTL" "$KRB5KDC"; do
    command -v "$t" >/dev/null || die "$t missing in the guest"
done
ip link add br0 type bridge || die "no bridge (module bridge)"
ip addr add $K/24 dev br0 && ip link set br0 up || die "br0 up"
ip netns add a && ip netns add b || die "ip netns add"
for n in a b; do
    ip link add r$n type veth peer name v$n netns $n || die "veth $n"
    ip link set r$n master br0 && ip link set r$n up || die "r$n on br0"
    ip -n $n link set lo up && ip -n $n link set v$n up || die "v$n up"
done
ip -n a addr add $A/24 dev va && ip -n b addr add $B/24 dev vb || die "addresses"
for _ in $(seq 20); do
    [ "$(ping_rx a $B 1)" = 1 ] && break
    sleep 0.2
done
[ "$(ping_rx a $B 1)" = 1 ] && [ "$(ping_rx a $K 1)" = 1 ] &&
    [ "$(ping_rx b $K 1)" = 1 ] ||
    die "plain pings (a -> b, a -> KDC, b -> KDC)"
pass "namespaces a and b on a bridge with the KDC's address; plain pings pass"

KDC_PID=
"$KRB5KDC" -n >"$GT/kdc.out" 2>&1 &
KDC_PID=$!
port=${KS_UML_KDC##*:}
for _ in $(seq 100); do
    ss -Hluna "sport = :$port" 2>/dev/null | grep -q . && break
    sleep 0.1
done
ss -Hluna "sport = :$port" | grep -q . || die "the KDC does not listen on $KS_UML_KDC"
note "KDC (stateless + devreg) listening on $KS_UML_KDC"

# kinkd.conf for device N at ADDR with peer PADDR (device/PN).
conf() {
    local n=$1 addr=$2 paddr=$3 pn=$4
    mkdir -p "$GT/$n/state" && chmod 700 "$GT/$n/state"
    cat >"$GT/$n.conf" <<EOF
identity = ccache:FILE:$W/tgt.$n
listen = $addr:910
backend = xfrm
control_socket = $GT/$n/ctl.sock
state_dir = $GT/$n/state
lifetime = 60s
peer $paddr {
    principal = device/$pn@EXAMPLE.TEST
}
EOF
}
conf a $A $B b
conf b $B $A a
for n in a b; do
    start_kinkd $n || die "kinkd $n did not start"
done
pass "kinkd started in a and b (xfrm backend, identity: the device's TGT cache)"
ip -n a xfrm policy | grep -q "dst $B/32" && ip -n b xfrm policy | grep -q "dst $A/32" &&
    [ -z "$(ip -n a xfrm state)" ] &&
    pass "trap policies for the peer are in place, no SAs yet" ||
    fail "trap policies missing at start"

# --- 1. ACQUIRE ----------------------------------------------------------
note "phase 1: ACQUIRE"
rx=$(ping_rx a $B 3 -i 0.5)
note "first ping a -> b: ${rx:-0}/3 replies while negotiating"
S1=$(wait_sa a) || die "no SA pair in a after the first ping"
read -r IN1 OUT1 <<<"$S1"
grep -q 'ACQUIRE for traffic to '"$B" "$GT/a.log" &&
    pass "the first packet triggered an ACQUIRE in a; SA pair in=0x$IN1 out=0x$OUT1" ||
    fail "no ACQUIRE logged by kinkd a"
grep -q "GETTGT from $A" "$GT/b.log" &&
    pass "device b gave device a its TGT (GETTGT): user-to-user between devices" ||
    fail "no GETTGT in b's log"
Sb=$(wait_sa b)
[ "$Sb" = "$OUT1 $IN1" ] &&
    pass "b has the mirrored pair (in=0x$OUT1 out=0x$IN1)" ||
    fail "b's pair '$Sb' is not a's mirrored ($OUT1 $IN1)"
has_state a $IN1 && has_state a $OUT1 && has_state b $IN1 && has_state b $OUT1 &&
    pass "both kernels hold both ESP SAs" || fail "SAs missing in a kernel"

# --- 2. ESP on the wire ----------------------------------------------------
note "phase 2: traffic"
esp_check "after ACQUIRE" $IN1 $OUT1

# --- 3. kinkctl delete -----------------------------------------------------
note "phase 3: kinkctl delete"
out=$(ctl a delete $B 2>&1) && pass "kinkctl delete $B on a: $(echo $out | tr '\n' ' ')" ||
    fail "kinkctl delete: $out"
gone=
for _ in $(seq 50); do
    if ! has_state a $IN1 && ! has_state a $OUT1 && ! has_state b $IN1 &&
            ! has_state b $OUT1; then
        gone=1; break
    fi
    sleep 0.1
done
[ -n "$gone" ] && pass "the SAs are gone from both kernels (a and b)" ||
    fail "SAs left after kinkctl delete"
[ -z "$(spis a)" ] && [ -z "$(spis b)" ] &&
    pass "kinkctl sa lists no pair on either side" || fail "pairs still listed"
ip -n a xfrm policy | grep -q "dst $B/32" && ip -n b xfrm policy | grep -q "dst $A/32" &&
    pass "the trap policies are back" || fail "no trap policy after delete"
rx=$(ping_rx a $B 3 -i 0.5)
S2=$(wait_sa a $IN1) && read -r IN2 OUT2 <<<"$S2" &&
    pass "after delete the next packet negotiates again (in=0x$IN2 out=0x$OUT2; ${rx:-0}/3 replies meanwhile)" ||
    die "no new pair after delete"
esp_check "after delete and ACQUIRE" $IN2 $OUT2

# --- 4. restart one peer (kill -9) -----------------------------------------
note "phase 4: kill -9 kinkd b, start it again"
kill -KILL "${PID[b]}"; wait "${PID[b]}" 2>/dev/null; unset "PID[b]"
nb=$(wc -l <"$GT/b.log")
has_state b $IN2 && note "b's kernel keeps the dead kinkd's SAs" ||
    note "b's kernel lost the SAs with kinkd"
start_kinkd b || die "kinkd b did not start again"
pass "kinkd b restarted (new epoch)"
# What a crash leaves: a still has the old pair and b's kernel the old
# SAs, which no longer pass the new kinkd's policies (new reqid).  The new
# kinkd b sends every peer a STATUS at start; a sees b's new epoch in it
# and flushes the old pair, so a's next packet negotiates a new one.
for i in $(seq 100); do
    grep -q "restarted (epoch" "$GT/a.log" && break
    sleep 0.1
done
rx=$(ping_rx a $B 3 -i 0.3)
note "ping a -> b after a flushed: ${rx:-0}/3 replies while a negotiates"
S3=$(wait_sa a $IN2 15) || die "no new pair after b's restart"
tail -n +$((nb + 1)) "$GT/b.log" | grep -q "STATUS" &&
    ! tail -n +$((nb + 1)) "$GT/b.log" | grep -q "STATUS with .*: " &&
    pass "the restarted b told a its new epoch (STATUS at start)" ||
    fail "no STATUS from the restarted b, or it failed"
read -r IN3 OUT3 <<<"$S3"
grep -q "restarted (epoch" "$GT/a.log" &&
    pass "a saw b's new epoch: $(grep -o 'restarted (epoch[^)]*): flushing its SAs' "$GT/a.log" | tail -1)" ||
    fail "a did not notice b's restart (no epoch change logged)"
! has_state a $IN2 && ! has_state a $OUT2 &&
    pass "a flushed the old pair (0x$IN2/0x$OUT2) from its kernel" ||
    fail "the old pair is still in a's kernel"
[ "$(wait_sa b)" = "$OUT3 $IN3" ] &&
    pass "a new pair after the restart (a: in=0x$IN3 out=0x$OUT3, mirrored in b)" ||
    fail "b's pair '$(spis b)' does not mirror a's $IN3 $OUT3"
esp_check "after b's restart" $IN3 $OUT3

# --- 5. rekey under a running ping -----------------------------------------
note "phase 5: rekey (lifetime 60 s) under ping -i 0.2"
exp=$(ctl a sa | sed -nE "s/.* in=0x$IN3 .*expires-in ([0-9]+) ?s.*/\\1/p")
[ -n "$exp" ] || die "no expires-in for the pair 0x$IN3 in kinkctl sa"
# The initiator rekeys at 90% of 60 s, i.e. 6 s before the hard lifetime;
# ping until 2 s before the hard lifetime.
count=$(( (exp - 2) * 5 ))
note "pair 0x$IN3 expires in $exp s: $count pings at 0.2 s"
res=$(ip netns exec a ping -n -c $count -i 0.2 -W 1 $B 2>&1 | tail -3)
tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$res")
rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$res")
note "ping across the rekey: ${rx:-0}/${tx:-0} replies"
grep -q 'rekeying SA pair' "$GT/a.log" "$GT/b.log" &&
    pass "a rekey took place: $(grep -h 'rekeying SA pair' "$GT/a.log" "$GT/b.log" | tail -1 | sed 's/^.*rekeying/rekeying/')" ||
    fail "no rekey logged"
[ -n "$tx" ] && [ "$tx" -eq "$count" ] && [ $((tx - rx)) -le 1 ] &&
    pass "the rekey lost $((tx - rx)) of $tx packets (<= 1)" ||
    fail "ping across the rekey lost $(( ${tx:-0} - ${rx:-0} )) of ${tx:-0} packets"
for n in a b; do
    c=$(ctl $n sa | grep -c ' in=0x')
    [ "$c" = 1 ] && pass "one SA pair in $n after the rekey" ||
        fail "$c SA pairs in $n after the rekey (a rekey collision?): $(ctl $n sa | grep ' in=0x' | tr '\n' ';')"
done
S4=$(spis a)
read -r IN4 OUT4 <<<"$S4"
[ -n "$IN4" ] && [ "$IN4" != "$IN3" ] && [ "$OUT4" != "$OUT3" ] &&
    pass "the SPIs changed: in 0x$IN3 -> 0x$IN4, out 0x$OUT3 -> 0x$OUT4" ||
    fail "the SPIs did not change ('$S3' -> '$S4')"
! has_state a $IN3 && ! has_state a $OUT3 && ! has_state b $IN3 && ! has_state b $OUT3 &&
    pass "the old pair was removed from both kernels" ||
    fail "the old pair is still in a kernel"
[ -n "$IN4" ] && esp_check "after the rekey" $IN4 $OUT4

# --- the end ---------------------------------------------------------------
note "stopping"
for n in a b; do
    stop_kinkd $n || fail "kinkd $n did not stop on SIGTERM"
done
[ -z "$(ip -n a xfrm state)$(ip -n a xfrm policy)$(ip -n b xfrm state)$(ip -n b xfrm policy)" ] &&
    pass "after SIGTERM no SA and no policy is left in either kernel" ||
    fail "SAs or policies left after kinkd stopped"
kill -TERM "$KDC_PID" 2>/dev/null; wait "$KDC_PID" 2>/dev/null
note "guest part done in $(ts) s"
[ $NFAIL -eq 0 ] || { dump; exit 1; }
exit 0
