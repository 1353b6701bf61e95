#!/bin/bash
# Replicas: two KDCs (own ports, own directories and state dirs) holding
# copies of the same secret are interchangeable: a TGT from one gets a
# service ticket from the other, and a keytab written by kstateless on a
# third copy of the configuration and secret validates it.  With a
# different secret the same steps fail and the check values differ.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir

A=$KS_TMPDIR/a          # replica A (its own secret from kstateless init)
B=$KS_TMPDIR/b          # replica B, a copy of A's secret
C=$KS_TMPDIR/c          # an admin host: a copy of the secret, no KDC
D=$KS_TMPDIR/d          # another realm secret, same realm name
realm_create "$A" || { fail "realm_create a"; finish; }
realm_create "$B" --secret "$A/stateless.secret" || fail "realm_create b"
realm_create "$C" --secret "$A/stateless.secret" || fail "realm_create c"
realm_create "$D" || fail "realm_create d"

cv() {
    realm_run "$1" kstateless check-value
}
cvA=$(cv "$A")
expect_match "check-value of replica A" '^[0-9a-f]{16}$' echo "$cvA"
expect_eq "replica B has A's check value" "$cvA" "$(cv "$B")"
expect_eq "the admin copy has A's check value" "$cvA" "$(cv "$C")"
cvD=$(cv "$D")
if [ -n "$cvD" ] && [ "$cvD" != "$cvA" ]; then
    pass "a different secret has a different check value ($cvD)"
else
    fail "a different secret has a different check value ($cvD vs $cvA)"
fi
expect_eq "the replicas use different ports" 1 \
    "$(sort -u "$A/port" "$B/port" "$D/port" | wc -l | awk '{print ($1 == 3)}')"

for r in "$A" "$B" "$D"; do
    kdc_start "$r" || { fail "kdc_start $r"; finish; }
done
expect_ok "KDC A logs the check value" grep -q "secret check value $cvA " "$A/kdc.log"
expect_ok "KDC B logs the same check value" grep -q "secret check value $cvA " "$B/kdc.log"
expect_ok "KDC D logs its own check value" grep -q "secret check value $cvD " "$D/kdc.log"

# Keytabs from the admin copy C (same secret) and from D.
KTC=$KS_TMPDIR/from-c.keytab
KTD=$KS_TMPDIR/from-d.keytab
expect_ok "keytab written on the admin copy" \
    realm_run "$C" kstateless keytab -k "$KTC" host/client.example.test host/a.example.test
expect_ok "keytab written with secret D" \
    realm_run "$D" kstateless keytab -k "$KTD" host/client.example.test host/a.example.test

# count_log DIR REGEX: number of log lines of DIR's KDC matching REGEX.
count_log() {
    grep -Ec "$2" "$1/kdc.log"
}
TGS_A='TGS_REQ .*ISSUE: .*host/client\.example\.test@EXAMPLE\.TEST for host/a\.example\.test@EXAMPLE\.TEST'

# TGT from A, service ticket from B, validated with C's keytab.
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.ab
realm_env "$A"
expect_ok "kinit -k at KDC A (keytab from the admin copy)" \
    kinit -k -t "$KTC" host/client.example.test
expect_ok "KDC A issued the TGT" grep -Eq \
    'AS_REQ .*ISSUE: .*host/client\.example\.test@EXAMPLE\.TEST for krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST' \
    "$A/kdc.log"
realm_env "$B"
expect_match "A's TGT gets a ticket for host/a from KDC B, valid with C's keytab" \
    '^host/a\.example\.test@EXAMPLE\.TEST: kvno = [0-9]+, keytab entry valid$' \
    kvno -k "$KTC" host/a.example.test
expect_eq "KDC B issued that ticket" 1 "$(count_log "$B" "$TGS_A")"
expect_eq "KDC A issued no ticket for host/a" 0 "$(count_log "$A" "$TGS_A")"

# And the other way round: TGT from B, service ticket from A.
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.ba
realm_env "$B"
expect_ok "kinit -k at KDC B" kinit -k -t "$KTC" host/client.example.test
realm_env "$A"
expect_match "B's TGT gets a ticket from KDC A, valid with C's keytab" \
    'keytab entry valid' kvno -k "$KTC" host/a.example.test
expect_eq "KDC A issued that ticket" 1 "$(count_log "$A" "$TGS_A")"

# With a different secret, the same steps fail.
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.ad
realm_env "$A"
expect_ok "kinit -k at KDC A" kinit -k -t "$KTC" host/client.example.test
realm_env "$D"
expect_fail "KDC D (other secret) refuses A's TGT" \
    'Decrypt integrity check failed' kvno host/a.example.test
expect_ok "KDC D logs the failure" grep -Eq \
    'TGS_REQ .*for host/a\.example\.test@EXAMPLE\.TEST, Decrypt integrity check failed' \
    "$D/kdc.log"
realm_env "$A"
expect_fail "D's keytab does not validate a ticket from KDC A" \
    'keytab entry invalid' kvno -k "$KTD" host/a.example.test
expect_fail "kinit -k at KDC A with D's keytab fails" \
    'Password incorrect|integrity' \
    env KRB5CCNAME="FILE:$KS_TMPDIR/cc.x" kinit -k -t "$KTD" host/client.example.test
realm_env "$D"
expect_ok "D's keytab works at KDC D" \
    env KRB5CCNAME="FILE:$KS_TMPDIR/cc.d" kinit -k -t "$KTD" host/client.example.test
finish
