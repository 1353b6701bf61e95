#!/bin/bash
# kinkd with the none backend (issue 5): two kinkd with keytabs on
# loopback addresses negotiate SA pairs; each side's inbound keys equal
# the other side's outbound keys (kinkd -K logs them with the none
# backend); with tickets cached a new SA pair takes exactly 2 messages, and
# 3 (with ACK) when the responder picks a proposal other than the
# initiator's first — both counted from a tcpdump capture on lo; kinkctl
# status/peers/sa/delete; SIGTERM sends DELETE.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/kink.sh"
ks_tmpdir
T=$KS_TMPDIR
command -v tcpdump >/dev/null ||
    { fail "tcpdump is not installed (apt-get install tcpdump): the message counts need a capture"; finish; }
_ks_require KINK_INJECT "the built kink_inject"

R=$T/r
realm_create "$R" || { fail "realm_create"; finish; }
realm_env "$R"
kdc_start "$R" || { fail "kdc_start"; finish; }
for h in a b c d e; do
    kstateless keytab -k "$T/$h.keytab" host/$h.example.test >/dev/null ||
        { fail "kstateless keytab host/$h"; finish; }
done

PORT=$(free_port)
A=127.0.0.2 B=127.0.0.3 C=127.0.0.4 D=127.0.0.5 E=127.0.0.6
# X relays between A and C (kink_inject proxy) and loses the first ACK:
# A knows C, and C knows A, at X's address too.
X=127.0.0.7
{
    kink_peer $B host/b.example.test@EXAMPLE.TEST "$PORT"
    kink_peer $C host/c.example.test@EXAMPLE.TEST "$PORT"
    kink_peer $D host/d.example.test@EXAMPLE.TEST "$PORT" "pfs = ecp256"
    kink_peer $E host/e.example.test@EXAMPLE.TEST "$PORT" "pfs = modp2048"
    kink_peer $X host/c.example.test@EXAMPLE.TEST "$PORT"
} | kinkd_conf "$T/a.conf" $A "$PORT" "keytab:FILE:$T/a.keytab host/a.example.test" "$T/a"
kink_peer $A host/a.example.test@EXAMPLE.TEST "$PORT" |
    kinkd_conf "$T/b.conf" $B "$PORT" "keytab:FILE:$T/b.keytab host/b.example.test" "$T/b"
# C accepts only A's third proposal (aes128-cbc hmac-sha1).
{
    kink_peer $A host/a.example.test@EXAMPLE.TEST "$PORT" \
        "proposal = esp aes128-cbc hmac-sha1"
    kink_peer $X host/a.example.test@EXAMPLE.TEST "$PORT" \
        "proposal = esp aes128-cbc hmac-sha1"
} | kinkd_conf "$T/c.conf" $C "$PORT" "keytab:FILE:$T/c.keytab host/c.example.test" "$T/c"
# D and E want PFS (KE payloads) with ECP-256 and MODP-2048.
kink_peer $A host/a.example.test@EXAMPLE.TEST "$PORT" "pfs = ecp256" |
    kinkd_conf "$T/d.conf" $D "$PORT" "keytab:FILE:$T/d.keytab host/d.example.test" "$T/d"
kink_peer $A host/a.example.test@EXAMPLE.TEST "$PORT" "pfs = modp2048" |
    kinkd_conf "$T/e.conf" $E "$PORT" "keytab:FILE:$T/e.keytab host/e.example.test" "$T/e"

expect_match "kinkd -t checks a configuration" 'OK \(5 peers\)' "$KINKD" -t -c "$T/a.conf"
for h in a b c d e; do
    kinkd_start $h "$T/$h.conf" -K || { fail "kinkd $h did not start"; finish; }
done
pass "five kinkd started with keytab identities"

# keys_of LOG SPI DIR: the hex keys the none backend logged for SPI in
# direction DIR (in or out) of LOG.
keys_of() {
    grep -E "none: +$3 SPI 0x$2 " "$1" | tail -n 1 | sed -E 's/.* keys? //'
}

# pair_with NAME PEER: negotiate with kinkctl initiate, print "IN OUT".
spis_of() {
    sed -nE 's/.*in=0x([0-9a-f]{8}) out=0x([0-9a-f]{8}).*/\1 \2/p' <<<"$1" | head -n 1
}

check_keys() {
    local desc=$1 ilog=$2 rlog=$3 in=$4 out=$5 k1 k2
    k1=$(keys_of "$ilog" "$in" in); k2=$(keys_of "$rlog" "$in" out)
    if [ -n "$k1" ] && [ "$k1" = "$k2" ]; then
        pass "$desc: the initiator's inbound keys (SPI 0x$in) are the responder's outbound keys"
    else
        fail "$desc: inbound SPI 0x$in keys differ: initiator '$k1', responder '$k2'"
    fi
    k1=$(keys_of "$ilog" "$out" out); k2=$(keys_of "$rlog" "$out" in)
    if [ -n "$k1" ] && [ "$k1" = "$k2" ]; then
        pass "$desc: the initiator's outbound keys (SPI 0x$out) are the responder's inbound keys"
    else
        fail "$desc: outbound SPI 0x$out keys differ: initiator '$k1', responder '$k2'"
    fi
}

# 1. The first SA pair (tickets not yet cached).
expect_match "kinkctl initiate $B negotiates an SA pair" \
    "SA pair with $B: in=0x[0-9a-f]{8} out=0x[0-9a-f]{8}" kinkctl_at "$T/a" initiate $B
read -r IN OUT <<<"$(spis_of "$KS_OUT")"
check_keys "A-B" "$T/a.log" "$T/b.log" "$IN" "$OUT"
expect_match "B lists the pair with the SPIs mirrored" \
    "^$A in=0x$OUT out=0x$IN esp aes256-gcm16 transport" kinkctl_at "$T/b" sa
expect_match "A's peers line shows B up" \
    "^$B host/b\.example\.test@EXAMPLE\.TEST state=up .*sas=1" kinkctl_at "$T/a" peers

# capture CMD...: run CMD with tcpdump capturing the KINK port on lo;
# CAP_COUNT gets the number of datagrams seen.
capture() {
    local pcap=$T/cap.$RANDOM.pcap tpid i
    tcpdump -i lo -n -U --immediate-mode -w "$pcap" "udp port $PORT" >"$pcap.log" 2>&1 &
    tpid=$!
    for ((i = 0; i < 100; i++)); do
        grep -q 'listening on' "$pcap.log" && break
        sleep 0.05
    done
    _ks_run "$@"
    sleep 0.3
    kill -INT "$tpid"; wait "$tpid" 2>/dev/null
    CAP_COUNT=$(tcpdump -r "$pcap" -n 2>/dev/null | wc -l)
    CAP_FILE=$pcap
}

# 2. With the ticket cached: exactly two messages.
capture "$KINKCTL" -s "$T/a/ctl.sock" initiate $B
if [ "$KS_RC" -eq 0 ] && [ "$CAP_COUNT" -eq 2 ]; then
    pass "with tickets cached a new SA pair took exactly 2 messages (CREATE, REPLY)"
else
    fail "the second SA pair: kinkctl exit $KS_RC, $CAP_COUNT messages (want 2): $KS_OUT"
fi
read -r IN2 OUT2 <<<"$(spis_of "$KS_OUT")"
check_keys "A-B second pair" "$T/a.log" "$T/b.log" "$IN2" "$OUT2"
[ "$IN2" != "$IN" ] && pass "the second pair has a new SPI" ||
    fail "the second pair reused SPI 0x$IN"

# 3. C picks A's third proposal: three messages (CREATE, REPLY, ACK).
expect_ok "a first ticket for host/c" kinkctl_at "$T/a" initiate $C
capture "$KINKCTL" -s "$T/a/ctl.sock" initiate $C
if [ "$KS_RC" -eq 0 ] && [ "$CAP_COUNT" -eq 3 ]; then
    pass "a responder's choice of another proposal takes 3 messages (CREATE, REPLY, ACK)"
else
    fail "A-C: kinkctl exit $KS_RC, $CAP_COUNT messages (want 3): $KS_OUT"
fi
read -r IN3 OUT3 <<<"$(spis_of "$KS_OUT")"
sleep 0.2
check_keys "A-C (3 messages, Nr in KEYMAT)" "$T/a.log" "$T/c.log" "$IN3" "$OUT3"
expect_match "C installed the pair after the ACK, with aes128-cbc hmac-sha1" \
    "^$A in=0x$OUT3 out=0x$IN3 esp aes128-cbc hmac-sha1 transport" kinkctl_at "$T/c" sa

# A lost ACK: C repeats its REPLY until the ACK comes, A answers the
# repeated REPLY with the ACK again, and C installs the pair.
"$KINK_INJECT" proxy $X "$PORT" $A $C 1 20 >"$T/proxy.log" 2>&1 &
PROXY=$!
for ((i = 0; i < 100; i++)); do grep -q ready "$T/proxy.log" && break; sleep 0.05; done
expect_match "A negotiates with C through a relay that loses the first ACK" \
    "SA pair with $X: in=0x" kinkctl_at "$T/a" initiate $X
read -r INX OUTX <<<"$(spis_of "$KS_OUT")"
for ((i = 0; i < 100; i++)); do
    kinkctl_at "$T/c" sa | grep -q "in=0x$OUTX" && break
    sleep 0.1
done
kill $PROXY 2>/dev/null; wait $PROXY 2>/dev/null
expect_eq "the relay dropped one ACK and passed a second" \
    "1 1" "$(grep -c 'type 5 .* dropped' "$T/proxy.log") $(grep -c 'X>Y type 5 len [0-9]*$' "$T/proxy.log")"
expect_eq "C repeated its REPLY (two REPLYs to A)" 2 "$(grep -c 'Y>X type 3' "$T/proxy.log")"
expect_match "C installed the pair after the second ACK" \
    "^$X in=0x$OUTX out=0x$INX esp aes128-cbc hmac-sha1" kinkctl_at "$T/c" sa
check_keys "A-C through the relay" "$T/a.log" "$T/c.log" "$INX" "$OUTX"

# PFS: KE payloads in CREATE and REPLY, g^xy in KEYMAT; still 2 messages.
for pfs in "$D ecp256 d" "$E modp2048 e"; do
    read -r peer group h <<<"$pfs"
    capture "$KINKCTL" -s "$T/a/ctl.sock" initiate $peer
    if [ "$KS_RC" -eq 0 ] && [ "$CAP_COUNT" -eq 2 ]; then
        pass "PFS with $group: an SA pair in 2 messages"
    else
        fail "PFS with $group: kinkctl exit $KS_RC, $CAP_COUNT messages: $KS_OUT"
    fi
    read -r INP OUTP <<<"$(spis_of "$KS_OUT")"
    check_keys "A-$h (PFS $group)" "$T/a.log" "$T/$h.log" "$INP" "$OUTP"
done
expect_match "D (PFS ecp256) initiates to A" "SA pair with $A: in=0x" \
    "$KINKCTL" -s "$T/d/ctl.sock" initiate $A
expect_match "D's CREATE carried a KE payload (A derived g^xy)" \
    "^$D in=0x.* esp aes256-gcm16 transport" kinkctl_at "$T/a" sa

# 4. kinkctl status and delete.
expect_match "kinkctl status names the principal and backend" \
    'principal: host/a\.example\.test@EXAMPLE\.TEST' kinkctl_at "$T/a" status
expect_output "kinkctl status shows the backend" '^backend: none$' kinkctl_at "$T/a" status
expect_ok "kinkctl delete $B" kinkctl_at "$T/a" delete $B
sleep 0.3
expect_eq "A has no SA with B after delete" "" "$(kinkctl_at "$T/a" sa | grep "^$B ")"
expect_eq "B has no SA with A after A's DELETE" "" "$(kinkctl_at "$T/b" sa)"
expect_fail "kinkctl names an unknown peer" "no peer 192\.0\.2\.9" \
    kinkctl_at "$T/a" initiate 192.0.2.9

# 5. SIGTERM: A sends DELETE for the A-C pair before it exits.
kinkd_stop a && pass "kinkd A stopped cleanly on SIGTERM" || fail "kinkd A did not stop cleanly"
sleep 0.2
# (The pair through the relay stays: the relay is gone.)
expect_eq "C dropped the pair when A stopped (DELETE on shutdown)" "" \
    "$(kinkctl_at "$T/c" sa | grep "^$A ")"
for h in b c d e; do
    kinkd_stop $h || fail "kinkd $h did not stop cleanly"
done
finish
