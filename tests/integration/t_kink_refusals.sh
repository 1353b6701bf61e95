#!/bin/bash
# kinkd refusals (issue 5): a peer authenticated as another principal than
# its configuration names, a selector outside the peer's allowance, a
# CREATE with a tampered checksum, a replayed CREATE (after the responder
# restarted: the replay cache is on disk), garbage datagrams and
# datagrams from unknown addresses — each logged with its cause, no SA
# installed, and the daemon keeps serving; and a keytab or state directory
# open to others stops kinkd at start.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/kink.sh"
ks_tmpdir
T=$KS_TMPDIR
command -v tcpdump >/dev/null ||
    { fail "tcpdump is not installed (apt-get install tcpdump)"; finish; }
_ks_require KINK_INJECT "the built kink_inject"

R=$T/r
realm_create "$R" || { fail "realm_create"; finish; }
realm_env "$R"
kdc_start "$R" || { fail "kdc_start"; finish; }
for h in a b d e; do
    kstateless keytab -k "$T/$h.keytab" host/$h.example.test >/dev/null ||
        { fail "kstateless keytab host/$h"; finish; }
done
PORT=$(free_port)
A=127.0.0.2 B=127.0.0.3 D=127.0.0.5 E=127.0.0.6
{
    kink_peer $B host/b.example.test@EXAMPLE.TEST "$PORT"
    kink_peer $D host/d.example.test@EXAMPLE.TEST "$PORT"
    kink_peer $E host/e.example.test@EXAMPLE.TEST "$PORT"
} | kinkd_conf "$T/a.conf" $A "$PORT" "keytab:FILE:$T/a.keytab host/a.example.test" "$T/a"
kink_peer $A host/a.example.test@EXAMPLE.TEST "$PORT" |
    kinkd_conf "$T/b.conf" $B "$PORT" "keytab:FILE:$T/b.keytab host/b.example.test" "$T/b"
# D expects another principal at A's address.
kink_peer $A host/wrong.example.test@EXAMPLE.TEST "$PORT" |
    kinkd_conf "$T/d.conf" $D "$PORT" "keytab:FILE:$T/d.keytab host/d.example.test" "$T/d"
# E allows A only SAs for 10.0.0.0/8, not for A's own address.
kink_peer $A host/a.example.test@EXAMPLE.TEST "$PORT" "allow = 10.0.0.0/8" |
    kinkd_conf "$T/e.conf" $E "$PORT" "keytab:FILE:$T/e.keytab host/e.example.test" "$T/e"
# Secret files and the state directory must be private.
cp "$T/a.keytab" "$T/open.keytab"; chmod 644 "$T/open.keytab"
sed "s#FILE:$T/a.keytab#FILE:$T/open.keytab#" "$T/a.conf" >"$T/open.conf"
expect_fail "kinkd refuses a keytab readable by others" \
    "identity keytab $(re_escape "$T/open.keytab") is accessible by others \(mode 644\): it must be 0600" \
    "$KINKD" -d -c "$T/open.conf"
mkdir -p "$T/openstate"; chmod 755 "$T/openstate"
sed "s#^state_dir = .*#state_dir = $T/openstate#" "$T/a.conf" >"$T/open2.conf"
expect_fail "kinkd refuses a state directory open to others" \
    "state_dir $(re_escape "$T/openstate") is accessible by others \(mode 755\): it must be 0700" \
    "$KINKD" -d -c "$T/open2.conf"

for h in a b d e; do
    kinkd_start $h "$T/$h.conf" || { fail "kinkd $h did not start"; finish; }
done

# 1. Wrong principal.
expect_fail "D refuses A, which is configured as another principal" \
    'refused our AP-REQ' kinkctl_at "$T/a" initiate $D
expect_match "D logs the principal mismatch" \
    "refused CREATE from $A \(host/wrong\.example\.test@EXAMPLE\.TEST\): authenticated as host/a\.example\.test@EXAMPLE\.TEST" \
    cat "$T/d.log"
expect_eq "D installed no SA" "" "$(kinkctl_at "$T/d" sa)"

# 2. Selector outside the allowance.
expect_fail "E refuses a selector outside A's allowance" \
    'INVALID-ID-INFORMATION' kinkctl_at "$T/a" initiate $E
expect_match "E logs the refused selector" \
    "refused CREATE from $A \(host/a\.example\.test@EXAMPLE\.TEST\): selector .*$A/32.* is outside the peer's allowance" \
    cat "$T/e.log"
expect_eq "E installed no SA" "" "$(kinkctl_at "$T/e" sa)"
expect_eq "A installed no SA with E" "" "$(kinkctl_at "$T/a" sa | grep "^$E ")"

# 3. A real CREATE, captured; then tampered and replayed copies.
PCAP=$T/create.pcap
tcpdump -i lo -n -U --immediate-mode -w "$PCAP" "udp and src host $A and dst host $B and dst port $PORT" \
    >"$T/tcpdump.log" 2>&1 &
TPID=$!
for ((i = 0; i < 100; i++)); do grep -q 'listening on' "$T/tcpdump.log" && break; sleep 0.05; done
expect_match "A and B negotiate" "SA pair with $B" kinkctl_at "$T/a" initiate $B
sleep 0.3; kill -INT $TPID; wait $TPID 2>/dev/null
expect_ok "the CREATE is in the capture" \
    "$KINK_INJECT" extract "$PCAP" $A $B "$PORT" 1 "$T/create.bin"
len=$(stat -c %s "$T/create.bin")
# The header on the wire (RFC 4430 section 4): Type CREATE, MjVer 1,
# Length = the datagram, DOI 1 (IPsec), Next Payload KINK_AP_REQ, A 0,
# CksumLen 12 (the session key is aes256-cts-hmac-sha1-96).
h=$(od -An -tx1 -v -N16 "$T/create.bin" | tr -d ' \n')
expect_eq "the CREATE's header fields" \
    "01 10 $(printf %04x "$len") 00000001 01 00 000c" \
    "${h:0:2} ${h:2:2} ${h:4:4} ${h:8:8} ${h:24:2} ${h:26:2} ${h:28:4}"
sas_before=$(kinkctl_at "$T/b" sa | wc -l)

expect_ok "send the CREATE with its last checksum octet flipped" \
    "$KINK_INJECT" send "$T/create.bin" $A $B "$PORT" flip $((len - 1))
# KINK_ENCRYPT is the last payload, just before the checksum (12 octets
# for aes256-cts-hmac-sha1-96 session keys).
expect_ok "send the CREATE with an encrypted octet flipped" \
    "$KINK_INJECT" send "$T/create.bin" $A $B "$PORT" flip $((len - 20))
sleep 0.3
expect_eq "B logged two bad checksums" 2 \
    "$(grep -c "refused CREATE from $A (host/a.example.test@EXAMPLE.TEST): bad checksum" "$T/b.log")"
expect_eq "no SA came of the tampered CREATEs" "$sas_before" "$(kinkctl_at "$T/b" sa | wc -l)"

# The replay cache survives a restart of B.
kinkd_stop b || fail "kinkd b did not stop cleanly"
kinkd_start b "$T/b.conf" || { fail "kinkd b did not restart"; finish; }
expect_ok "replay the captured CREATE to the restarted B" \
    "$KINK_INJECT" send "$T/create.bin" $A $B "$PORT"
sleep 0.3
expect_match "B refuses the replayed CREATE after its restart" \
    "refused CREATE from $A \(host/a\.example\.test@EXAMPLE\.TEST\): replayed AP-REQ" cat "$T/b.log"
expect_eq "the restarted B installed no SA from the replay" "" "$(kinkctl_at "$T/b" sa)"

# 4. Garbage and strangers.
expect_ok "send 300 garbage datagrams from A's address" \
    "$KINK_INJECT" garbage $A $B "$PORT" 300 7
expect_ok "send a datagram from an address that is not a peer" \
    "$KINK_INJECT" send "$T/create.bin" 127.0.0.9 $B "$PORT"
sleep 0.5
expect_match "B logs malformed datagrams with the cause" \
    "refused message from $A \(host/a\.example\.test@EXAMPLE\.TEST\): malformed: " cat "$T/b.log"
expect_match "B logs the stranger" "refused a message from 127\.0\.0\.9: not a configured peer" \
    cat "$T/b.log"
expect_eq "no SA came of the garbage" "" "$(kinkctl_at "$T/b" sa)"
expect_match "B still serves: a new SA pair with A" "SA pair with $B" \
    kinkctl_at "$T/a" initiate $B
for h in a b d e; do
    kinkd_stop $h || fail "kinkd $h did not stop cleanly"
done
finish
