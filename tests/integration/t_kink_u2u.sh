#!/bin/bash
# kinkd between two devices without keytabs (issue 5): each device has
# only the TGT of its devreg login, in a ccache; the initiator finds that
# the KDC has no service key for the other device (user-to-user only),
# asks the responder for its TGT with GETTGT, gets a user-to-user ticket
# and negotiates; the responder accepts it with its TGT session key.  The
# keys match on both sides; a second SA pair reuses the cached
# user-to-user ticket (2 messages, no GETTGT).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/kink.sh"
ks_tmpdir
T=$KS_TMPDIR

R=$T/db2
realm_devices_db2 "$R" "$T/devreg-state" a b || { fail "the KDC did not start"; finish; }
for d in a b; do
    devreg_login $d "$T"
done

PORT=$(free_port)
A=127.0.0.2 B=127.0.0.3
kink_peer $B device/b@EXAMPLE.TEST "$PORT" |
    kinkd_conf "$T/a.conf" $A "$PORT" "ccache:FILE:$T/tgt.a" "$T/a"
kink_peer $A device/a@EXAMPLE.TEST "$PORT" "gettgt = yes" |
    kinkd_conf "$T/b.conf" $B "$PORT" "ccache:FILE:$T/tgt.b" "$T/b"
for h in a b; do
    kinkd_start $h "$T/$h.conf" -K || { fail "kinkd $h did not start"; finish; }
done

command -v tcpdump >/dev/null ||
    { fail "tcpdump is not installed (apt-get install tcpdump)"; finish; }
_ks_require KINK_INJECT "the built kink_inject"
tcpdump -i lo -n -U --immediate-mode -w "$T/gettgt.pcap" \
    "udp and src host $A and dst host $B and dst port $PORT" >"$T/tcpdump.log" 2>&1 &
TPID=$!
for ((i = 0; i < 100; i++)); do grep -q 'listening on' "$T/tcpdump.log" && break; sleep 0.05; done
expect_match "device A negotiates with device B (no keytabs)" \
    "SA pair with $B: in=0x[0-9a-f]{8} out=0x[0-9a-f]{8}" kinkctl_at "$T/a" initiate $B
sleep 0.3; kill -INT $TPID; wait $TPID 2>/dev/null
# The GETTGT on the wire (RFC 4430 4.2.4): the 16-octet header (Type 4),
# then KINK_TGT_REQ: Next Payload 0, RESERVED, Payload Length (6 + name),
# PrincNameLength, PrincName.
"$KINK_INJECT" extract "$T/gettgt.pcap" $A $B "$PORT" 1 "$T/gettgt.bin"
name=device/b@EXAMPLE.TEST
hexname=$(printf %s "$name" | od -An -tx1 -v | tr -d ' \n')
want=$(printf '04 0000 %04x %04x %s' $((4 + 2 + ${#name})) ${#name} "$hexname")
h=$(od -An -tx1 -v "$T/gettgt.bin" | tr -d ' \n')
got="${h:0:2} ${h:32:4} ${h:36:4} ${h:40:4} ${h:44:$((2 * ${#name}))}"
expect_eq "the first message is a GETTGT whose KINK_TGT_REQ carries PrincNameLength and device/b's name" \
    "$want" "$got"
read -r IN OUT <<<"$(sed -nE 's/.*in=0x([0-9a-f]{8}) out=0x([0-9a-f]{8}).*/\1 \2/p' <<<"$KS_OUT")"
expect_match "A fell back to user-to-user: the KDC has no key for device/b" \
    'trying user-to-user \(GETTGT\)' cat "$T/a.log"
expect_match "B answered A's GETTGT with its TGT" "GETTGT from $A: sent our TGT" cat "$T/b.log"
k1=$(grep -E "none: +in SPI 0x$IN " "$T/a.log" | sed -E 's/.* keys? //')
k2=$(grep -E "none: +out SPI 0x$IN " "$T/b.log" | sed -E 's/.* keys? //')
[ -n "$k1" ] && [ "$k1" = "$k2" ] &&
    pass "A's inbound keys are B's outbound keys (user-to-user session key)" ||
    fail "keys differ: A in '$k1', B out '$k2'"
k1=$(grep -E "none: +out SPI 0x$OUT " "$T/a.log" | sed -E 's/.* keys? //')
k2=$(grep -E "none: +in SPI 0x$OUT " "$T/b.log" | sed -E 's/.* keys? //')
[ -n "$k1" ] && [ "$k1" = "$k2" ] &&
    pass "A's outbound keys are B's inbound keys" ||
    fail "keys differ: A out '$k1', B in '$k2'"

# B (gettgt = yes) initiates towards A: GETTGT straight away.
expect_match "device B negotiates with device A (gettgt = yes)" \
    "SA pair with $A: in=0x[0-9a-f]{8} out=0x[0-9a-f]{8}" kinkctl_at "$T/b" initiate $A
n1=$(grep -c 'GETTGT from' "$T/b.log")
expect_ok "a second SA pair from A" kinkctl_at "$T/a" initiate $B
n2=$(grep -c 'GETTGT from' "$T/b.log")
expect_eq "the second pair reused the cached user-to-user ticket (no new GETTGT)" "$n1" "$n2"
expect_match "both pairs are listed on B" "^$A in=0x" kinkctl_at "$T/b" sa
for h in a b; do
    kinkd_stop $h || fail "kinkd $h did not stop cleanly"
done
finish
