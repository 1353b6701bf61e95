#!/bin/bash
# Device principals are synthesized on lookup: an AS request without
# preauthentication is refused with a preauth-required error, a normal
# (non user-to-user) ticket to a device is refused, malformed device ids are
# not found, and a custom device_namespace works (and never falls through to
# service globs).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir

R=$KS_TMPDIR/r
realm_create "$R" || { fail "realm_create"; finish; }
realm_env "$R"
kdc_start "$R" || { fail "kdc_start"; finish; }

# A client with a TGT.
expect_ok "keytab for a client service" \
    kstateless keytab -k "$KS_TMPDIR/client.keytab" host/client.example.test
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.client
expect_ok "kinit -k host/client.example.test" \
    kinit -k -t "$KS_TMPDIR/client.keytab" host/client.example.test

# AS for a device without preauthentication.
TRACE=$KS_TMPDIR/kinit-device.trace
expect_fail "kinit device/d1 without preauth is refused" \
    'preauthentication failure|pre-authentication required' \
    env KRB5_TRACE="$TRACE" KRB5CCNAME="FILE:$KS_TMPDIR/cc.dev" kinit device/d1 </dev/null
expect_ok "the KDC's answer is a preauth-required error (-1765328359)" \
    grep -Eq 'Received error from KDC: -1765328359/Additional pre-authentication required' "$TRACE"
expect_ok "the KDC logs NEEDED_PREAUTH for device/d1" \
    grep -Eq 'AS_REQ .*NEEDED_PREAUTH: device/d1@EXAMPLE\.TEST for krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST, Additional pre-authentication required' \
    "$R/kdc.log"
if grep -Eq 'ISSUE: .*device/d1@EXAMPLE\.TEST for' "$R/kdc.log"; then
    fail "the KDC issued a ticket to device/d1"
else
    pass "the KDC issued no ticket to device/d1"
fi
if klist -s -c "FILE:$KS_TMPDIR/cc.dev" 2>/dev/null; then
    fail "kinit device/d1 left credentials"
else
    pass "kinit device/d1 left no credentials"
fi

# TGS for a device as a normal server.
expect_fail "a ticket to device/d1 (not user-to-user) is refused" \
    'Server principal valid for user2user only' kvno device/d1
expect_ok "the KDC logs the refusal" \
    grep -Eq 'TGS_REQ .*host/client\.example\.test@EXAMPLE\.TEST for device/d1@EXAMPLE\.TEST, Server principal valid for user2user only' \
    "$R/kdc.log"

# Valid ids: letters, digits, . _ : - after a letter or digit; 1 to 64.
id64=$(printf 'a%.0s' $(seq 64))
for id in 7 "$id64" "D.e_v:i-c-e"; do
    expect_fail "device/$id is a device (user2user only)" \
        'Server principal valid for user2user only' kvno "device/$id"
done

# Invalid ids: not found.
for id in "a$id64" "-d1" ".d1" "_d1" ":d1" "d!1" "d*" "d 1" "dé" ""; do
    expect_fail "device/'$id' is not found" 'not found in Kerberos database' \
        kvno "device/$id"
done
expect_fail "device/a/b (three components) is not found" \
    'not found in Kerberos database' kvno device/a/b

# A custom device namespace; a catch-all service glob never captures
# device, krbtgt, devreg or kadmin names.
M=$KS_TMPDIR/modem
realm_create "$M" --dbmod 'device_namespace = modem' --dbmod 'service = */*' ||
    fail "realm_create modem"
realm_env "$M"
kdc_start "$M" || { fail "kdc_start modem"; finish; }
expect_ok "keytab for a client service (modem realm)" \
    kstateless keytab -k "$KS_TMPDIR/modem-client.keytab" host/client.example.test
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.modem
expect_ok "kinit -k host/client.example.test (modem realm)" \
    kinit -k -t "$KS_TMPDIR/modem-client.keytab" host/client.example.test
expect_fail "modem/m1 is a device (user2user only)" \
    'Server principal valid for user2user only' kvno modem/m1
expect_match "getprinc modem/m1: REQUIRES_PRE_AUTH DISALLOW_SVR" \
    '^Attributes: REQUIRES_PRE_AUTH DISALLOW_SVR$' ks_kadmin_local -q "getprinc modem/m1"
expect_fail "kinit modem/m1 without preauth is refused" \
    'preauthentication failure|pre-authentication required' \
    env KRB5CCNAME="FILE:$KS_TMPDIR/cc.m1" kinit modem/m1 </dev/null
expect_ok "the KDC logs NEEDED_PREAUTH for modem/m1" \
    grep -q 'NEEDED_PREAUTH: modem/m1@EXAMPLE.TEST' "$M/kdc.log"
expect_fail "a malformed modem id is not found, not a service" \
    'not found in Kerberos database' kvno modem/-m1
expect_match "device/d1 is an ordinary service name in the modem realm" \
    '^device/d1@EXAMPLE\.TEST: kvno = [0-9]+$' kvno device/d1
expect_fail "kadmin/admin is not captured by the */* glob" \
    'not found in Kerberos database' kvno kadmin/admin
expect_fail "krbtgt/OTHER.TEST is not captured by the */* glob" \
    'not found in Kerberos database' kvno krbtgt/OTHER.TEST@EXAMPLE.TEST
expect_fail "K/x is not captured by the */* glob" \
    'not found in Kerberos database' kvno K/x
expect_fail "devreg/OTHER is not captured by the */* glob" \
    'not found in Kerberos database' kvno devreg/OTHER
expect_fail "kstateless refuses a keytab for modem/m1" 'is a device principal' \
    kstateless keytab -k "$KS_TMPDIR/m.keytab" modem/m1
expect_fail "kstateless refuses a keytab for a malformed modem id" \
    'matches no service pattern' kstateless keytab -k "$KS_TMPDIR/m.keytab" modem/-m1
finish
