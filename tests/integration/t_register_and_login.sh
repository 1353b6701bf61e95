#!/bin/bash
# Registration (issue 3, item 2) and login (item 3) on the stateless
# backend, with the stock kinit: a device staged in the staging table, a
# device certificate from a manufacturer CA, and an anonymous device each
# register (kinit -S devreg/REALM ...), get a registration ticket for
# registration_max_life, then log in with it for a TGT capped at
# device_max_life.  Then the refusals, each with the KDC still serving.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pki.sh"
ks_tmpdir

P=$KS_TMPDIR/pki
pki_ca "$P" regca && pki_kdc "$P" regca EXAMPLE.TEST rs &&
    pki_ca "$P" otherca && pki_kdc "$P" otherca EXAMPLE.TEST rs-other &&
    pki_ca "$P" mfrca && pki_ca "$P" rogueca &&
    pki_selfsigned "$P" d1 p256 && pki_selfsigned "$P" wrongkey p256 &&
    pki_device "$P" mfrca m1 device/m1 EXAMPLE.TEST &&
    pki_device "$P" mfrca m2 device/m2 EXAMPLE.TEST &&
    pki_device "$P" rogueca m3 device/m3 EXAMPLE.TEST &&
    pki_device "$P" mfrca m4 device/m4 EXAMPLE.TEST 30 1.3.6.1.5.5.7.3.2 &&
    PKI_CLOCK='40 days ago' pki_device "$P" mfrca m5 device/m5 EXAMPLE.TEST 30 &&
    PKI_CLOCK='10 days' pki_device "$P" mfrca m6 device/m6 EXAMPLE.TEST 30 ||
    { fail "making the test certificates with openssl"; finish; }

R=$KS_TMPDIR/sl
realm_create "$R" --realmopt 'max_life = 60d' \
    --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" \
    --realmopt "devreg_manufacturer_anchors = FILE:$P/mfrca.pem" \
    --realmopt 'devreg_allow_anonymous = true'
realm_enable_devreg "$R"
realm_env "$R"
expect_ok "stage device d1's key" kstateless stage add d1 --pubkey "$P/d1.pem"
kdc_start "$R" || { fail "the KDC did not start"; finish; }

ANCHOR=devreg_anchor=FILE:$P/regca.pem
# register NAME CCACHE ARGS...: registration of device/NAME into CCACHE.
register() {
    local name=$1 cc=$2
    shift 2
    ks_module_host kinit -l 30d -S devreg/EXAMPLE.TEST -X "$ANCHOR" "$@" \
        -c "FILE:$KS_TMPDIR/$cc" "device/$name" </dev/null
}
# life CCACHE SERVICE: the lifetime in seconds of SERVICE's ticket.
life() {
    local line start end
    line=$(klist -c "FILE:$KS_TMPDIR/$1" | grep " $2")
    start=$(awk '{print $1" "$2}' <<<"$line")
    end=$(awk '{print $3" "$4}' <<<"$line")
    echo $(( $(date -d "$end" +%s) - $(date -d "$start" +%s) ))
}
login() {
    local name=$1 reg=$2 tgt=$3
    ks_module_host kinit -X "devreg_ticket=FILE:$KS_TMPDIR/$reg" \
        -c "FILE:$KS_TMPDIR/$tgt" "device/$name" </dev/null
}

# Staged, staging table.
expect_ok "staged device d1 registers with its key" \
    register d1 reg.d1 -X "devreg_identity=FILE:$P/d1.pem,$P/d1.key"
expect_eq "its registration ticket lives registration_max_life (30d)" \
    2592000 "$(life reg.d1 devreg/EXAMPLE.TEST)"
expect_ok "d1 logs in with its registration ticket" login d1 reg.d1 tgt.d1
expect_eq "its TGT lives device_max_life (10h)" 36000 \
    "$(life tgt.d1 krbtgt/EXAMPLE.TEST)"
expect_ok "d1's TGT gets a service ticket" \
    env KRB5CCNAME=FILE:$KS_TMPDIR/tgt.d1 kvno host/a.example.test

# Staged, manufacturer CA.
expect_ok "device m1 with a manufacturer certificate registers" \
    register m1 reg.m1 -X "devreg_identity=FILE:$P/m1.pem,$P/m1.key"
expect_ok "m1 logs in" login m1 reg.m1 tgt.m1

# Anonymous.
expect_ok "an unstaged device registers anonymously" \
    register a1 reg.a1 -X devreg_anonymous=yes
expect_ok "a1 logs in" login a1 reg.a1 tgt.a1

# Refusals.
expect_fail "an unstaged device with a self-signed certificate is refused (no manufacturer CA issued it)" \
    'KDC refused: .*\[untrusted-certificate\]' \
    register d9 reg.d9 -X "devreg_identity=FILE:$P/wrongkey.pem,$P/wrongkey.key"
expect_fail "a staged device signing with another key is refused" \
    'KDC refused: .*not the pinned \(staged\) public key \[bad-signature\]' \
    register d1 reg.bad -X "devreg_identity=FILE:$P/wrongkey.pem,$P/wrongkey.key"
expect_fail "a certificate from another CA is refused" \
    'KDC refused: .*\[untrusted-certificate\]' \
    register m3 reg.m3 -X "devreg_identity=FILE:$P/m3.pem,$P/m3.key"
expect_fail "a certificate naming another device is refused" \
    'KDC refused: devreg: the device certificate does not name m9 \[certificate-names-another-device\]' \
    register m9 reg.m9 -X "devreg_identity=FILE:$P/m2.pem,$P/m2.key"
expect_fail "a certificate without the PKINIT client EKU is refused" \
    'KDC refused: .*\[wrong-eku\]' \
    register m4 reg.m4 -X "devreg_identity=FILE:$P/m4.pem,$P/m4.key"
expect_fail "an expired device certificate is refused" \
    'KDC refused: .*\[certificate-expired\]' \
    register m5 reg.m5 -X "devreg_identity=FILE:$P/m5.pem,$P/m5.key"
expect_fail "a device certificate not valid yet is refused" \
    'KDC refused: .*\[certificate-not-yet-valid\]' \
    register m6 reg.m6 -X "devreg_identity=FILE:$P/m6.pem,$P/m6.key"
expect_fail "anonymous registration of a staged device is refused" \
    'KDC refused: devreg: device d1 is staged and must register with its device key \[anonymous-for-staged-device\]' \
    register d1 reg.d1a -X devreg_anonymous=yes
# The client refuses a KDC whose certificate does not chain to its anchor,
# and registration without an anchor.  (libkrb5 then falls back to asking
# for a password to decrypt the reply, which fails without a terminal; the
# module gives that failure its own message: see doc/devreg-protocol.md.)
expect_fail "a KDC certificate not under the client's anchor is refused by the client" \
    "devreg: the KDC's certificate does not verify against devreg_anchor FILE:$P/otherca.pem" \
    ks_module_host kinit -l 30d -S devreg/EXAMPLE.TEST \
    -X "devreg_anchor=FILE:$P/otherca.pem" -X devreg_anonymous=yes \
    -c "FILE:$KS_TMPDIR/reg.x" device/a2
expect_fail "no registration ticket was stored" 'No credentials cache found' \
    klist -c "FILE:$KS_TMPDIR/reg.x"
expect_fail "registration without an anchor is refused by the client" \
    'devreg: give the registration service.s trust anchor with -X devreg_anchor' \
    ks_module_host kinit -S devreg/EXAMPLE.TEST -X devreg_anonymous=yes \
    -c "FILE:$KS_TMPDIR/reg.y" device/a3
expect_fail "no registration ticket was stored" 'No credentials cache found' \
    klist -c "FILE:$KS_TMPDIR/reg.y"
expect_fail "device a1's registration ticket does not log in d1" \
    'no registration ticket for this device' login d1 reg.a1 tgt.x
expect_ok "the KDC still serves" login d1 reg.d1 tgt.d1b
kdc_stop "$R"

# Anonymous registration disabled, no manufacturer CA.
sed -i -e 's/devreg_allow_anonymous = true/devreg_allow_anonymous = false/' \
    -e '/devreg_manufacturer_anchors/d' "$R/kdc.conf"
kdc_start "$R" || { fail "the KDC did not restart"; finish; }
expect_fail "anonymous registration is refused when disabled" \
    'devreg: the KDC does not allow anonymous registration' \
    register a5 reg.a5 -X devreg_anonymous=yes
expect_fail "without a manufacturer CA an unstaged device is refused as not staged" \
    'KDC refused: devreg: device d9 is not staged \[unknown-device\]' \
    register d9 reg.d9b -X "devreg_identity=FILE:$P/wrongkey.pem,$P/wrongkey.key"
expect_ok "staged registration still works" \
    register d1 reg.d1c -X "devreg_identity=FILE:$P/d1.pem,$P/d1.key"
kdc_stop "$R"
finish
