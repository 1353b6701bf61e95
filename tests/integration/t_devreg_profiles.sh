#!/bin/bash
# Profiles and policy of registered devices (issue 3, item 5), on the
# stateless backend with the stock kinit and kvno:
#   - a device registered anonymously and not provisioned gets service
#     tickets only for unprovisioned_services (and krbtgt): anything else,
#     a user-to-user ticket to another device included, is refused with
#     KDC_ERR_POLICY ("KDC policy rejects request") and the KDC logs
#     DEVREG_UNPROVISIONED; an AS request by a device for a service
#     (kinit -S) is refused too (DEVREG_AS_SERVICE);
#   - once provisioned ('kstateless provision') and logged in again, the
#     restriction is gone, while require_auth=devreg-staged still refuses
#     the anonymous device (stock MIT require_auth);
#   - a staging entry's --profile becomes an auth indicator that
#     require_auth can ask for.
# The indicators in each TGT are shown by probe services, each requiring
# one indicator (MIT's KDC reads the TGT's indicators itself and issues
# the ticket only if that one is present); the probes are listed in
# unprovisioned_services so that only require_auth decides them.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pki.sh"
ks_tmpdir

P=$KS_TMPDIR/pki
pki_ca "$P" regca && pki_kdc "$P" regca EXAMPLE.TEST rs &&
    pki_selfsigned "$P" d1 p256 && pki_selfsigned "$P" d2 p256 ||
    { fail "making the test certificates with openssl"; finish; }

R=$KS_TMPDIR/sl
realm_create "$R" --realmopt 'max_life = 60d' \
    --realmopt 'max_renewable_life = 1d' \
    --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" \
    --realmopt 'devreg_allow_anonymous = true' \
    --dbmod 'service = sip/*' \
    --dbmod 'service = HTTP/* require_auth=devreg-staged' \
    --dbmod 'service = cam/* require_auth=camera' \
    --dbmod 'service = ind-anonymous/* require_auth=devreg-anonymous' \
    --dbmod 'service = ind-provisioned/* require_auth=devreg-provisioned' \
    --dbmod 'service = ind-staged/* require_auth=devreg-staged' \
    --dbmod 'unprovisioned_services = sip/* ind-*/*  # anonymous devices'
realm_enable_devreg "$R"
realm_env "$R"
expect_ok "stage device d1 (no profile)" \
    kstateless stage add d1 --pubkey "$P/d1.pem"
expect_ok "stage device d2 with profile camera" \
    kstateless stage add d2 --pubkey "$P/d2.pem" --profile camera
kdc_start "$R" || { fail "the KDC did not start"; finish; }

ANCHOR=devreg_anchor=FILE:$P/regca.pem
POLICY='KDC policy rejects request'
# register NAME CCACHE ARGS...: registration of device/NAME into CCACHE.
register() {
    local name=$1 cc=$2
    shift 2
    ks_module_host kinit -l 30d -S devreg/EXAMPLE.TEST -X "$ANCHOR" "$@" \
        -c "FILE:$KS_TMPDIR/$cc" "device/$name" </dev/null
}
# login NAME REGCC TGTCC [ARGS...]: log device/NAME in with REGCC.
login() {
    local name=$1 reg=$2 tgt=$3
    shift 3
    ks_module_host kinit "$@" -X "devreg_ticket=FILE:$KS_TMPDIR/$reg" \
        -c "FILE:$KS_TMPDIR/$tgt" "device/$name" </dev/null
}
# tgs CCACHE SERVICE: a service ticket for SERVICE with the TGT in CCACHE.
tgs() {
    KRB5CCNAME=FILE:$KS_TMPDIR/$1 kvno "$2"
}
# u2u CCACHE PEERCC PEER: a user-to-user ticket for PEER, whose TGT is in
# PEERCC, with the TGT in CCACHE.
u2u() {
    KRB5CCNAME=FILE:$KS_TMPDIR/$1 kvno --u2u "FILE:$KS_TMPDIR/$2" "$3"
}
# logged STATUS CLIENT SERVER [TEXT]: the KDC log has a line for a request
# by CLIENT for SERVER (names without realm) with STATUS, whose message
# has TEXT (an extended regex).  (The client library asks again when
# refused, so one refusal may log two lines.)
logged() {
    local c s
    c=$(re_escape "$2@EXAMPLE.TEST")
    s=$(re_escape "$3@EXAMPLE.TEST")
    grep -qE "$1: .*$c for $s, .*${4:-}" "$R/kdc.log"
}
# nlogged REGEX: the number of KDC log lines matching REGEX.
nlogged() {
    grep -cE "$1" "$R/kdc.log"
}
# kdc_alive: the KDC process still runs.
kdc_alive() {
    kill -0 "$(cat "$R/kdc.pid")"
}

# --- an anonymous device, not provisioned ----------------------------------
expect_ok "device a1 registers anonymously" \
    register a1 reg.a1 -X devreg_anonymous=yes
expect_ok "a1 logs in (renewable TGT)" login a1 reg.a1 tgt.a1 -r 5h
expect_ok "staged device d1 registers" \
    register d1 reg.d1 -X "devreg_identity=FILE:$P/d1.pem,$P/d1.key"
expect_ok "d1 logs in" login d1 reg.d1 tgt.d1

expect_ok "a1 gets a ticket for sip/x (unprovisioned_services)" \
    tgs tgt.a1 sip/x.example.test
expect_fail "a1 is refused host/x with a policy error" "$POLICY" \
    tgs tgt.a1 host/x.example.test
expect_ok "the KDC logs the reason, DEVREG_UNPROVISIONED, and its message" \
    logged DEVREG_UNPROVISIONED device/a1 host/x.example.test \
    "stateless: .*anonymously and is not provisioned.*provision a1'"
expect_fail "a1 is refused HTTP/x" "$POLICY" tgs tgt.a1 HTTP/x.example.test
expect_fail "a1 is refused a user-to-user ticket to device d1" "$POLICY" \
    u2u tgt.a1 tgt.d1 device/d1
expect_ok "the KDC logs that refusal as DEVREG_UNPROVISIONED" \
    logged DEVREG_UNPROVISIONED device/a1 device/d1
expect_ok "d1 still gets a user-to-user ticket to a1 (a1 is reachable)" \
    u2u tgt.d1 tgt.a1 device/a1
expect_ok "a1's TGT is still good for krbtgt: it renews (TGS for krbtgt)" \
    ks_module_host kinit -R -c "FILE:$KS_TMPDIR/tgt.a1"
expect_fail "the renewed TGT is as restricted" "$POLICY" \
    tgs tgt.a1 host/y.example.test
expect_fail "a1 cannot get host/x from an AS request either (kinit -S)" \
    "$POLICY" login a1 reg.a1 as.a1 -S host/x.example.test
expect_ok "the KDC logs DEVREG_AS_SERVICE for it" \
    logged DEVREG_AS_SERVICE device/a1 host/x.example.test
expect_ok "an AS request for an unprovisioned service works (kinit -S sip/x)" \
    login a1 reg.a1 as.a1 -S sip/x.example.test
expect_ok "the KDC keeps running" kdc_alive
expect_ok "and serving: a1 still gets sip/y" tgs tgt.a1 sip/y.example.test

# Indicators of a1's TGT: devreg-anonymous only.
expect_ok "a1's TGT carries devreg-anonymous" tgs tgt.a1 ind-anonymous/x
expect_fail "a1's TGT does not carry devreg-provisioned" "$POLICY" \
    tgs tgt.a1 ind-provisioned/x
expect_fail "a1's TGT does not carry devreg-staged" "$POLICY" \
    tgs tgt.a1 ind-staged/x
expect_eq "the unprovisioned rule let the probes through" 0 \
    "$(nlogged 'DEVREG_UNPROVISIONED: .*for ind-')"
expect_ok "MIT's require_auth refused them, for want of the indicator" \
    logged HIGHER_AUTHENTICATION_REQUIRED device/a1 ind-provisioned/x \
    'not present in ticket: devreg-provisioned'

# --- provisioned -----------------------------------------------------------
expect_match "provision a1" "Provisioned device a1" kstateless provision a1
expect_fail "the TGT from before provisioning stays restricted" "$POLICY" \
    tgs tgt.a1 host/z.example.test
expect_ok "a1 logs in again" login a1 reg.a1 tgt.a1p
expect_ok "the new TGT carries devreg-provisioned" \
    tgs tgt.a1p ind-provisioned/x
expect_ok "and still devreg-anonymous" tgs tgt.a1p ind-anonymous/x
expect_ok "provisioned a1 gets host/x" tgs tgt.a1p host/x.example.test
expect_ok "and a user-to-user ticket to d1" u2u tgt.a1p tgt.d1 device/d1
n_unprov=$(nlogged DEVREG_UNPROVISIONED)
expect_fail "HTTP/x (require_auth=devreg-staged) still refuses anonymous a1" \
    "$POLICY" tgs tgt.a1p HTTP/x.example.test
expect_eq "that refusal is not the unprovisioned rule" \
    "$n_unprov" "$(nlogged DEVREG_UNPROVISIONED)"
expect_ok "it is MIT's require_auth (devreg-staged not in a1's ticket)" \
    logged HIGHER_AUTHENTICATION_REQUIRED device/a1 HTTP/x.example.test \
    'not present in ticket: devreg-staged'

# --- staged devices and profiles -------------------------------------------
expect_ok "staged d1 gets host/x" tgs tgt.d1 host/x.example.test
expect_ok "staged d1 gets HTTP/x (require_auth=devreg-staged)" \
    tgs tgt.d1 HTTP/x.example.test
expect_ok "d1's TGT carries devreg-staged" tgs tgt.d1 ind-staged/x
expect_fail "d1's TGT does not carry devreg-anonymous" "$POLICY" \
    tgs tgt.d1 ind-anonymous/x
expect_fail "d1 (no profile) is refused cam/x (require_auth=camera)" \
    "$POLICY" tgs tgt.d1 cam/x.example.test
expect_fail "d1 cannot get host/x from an AS request (devices use their TGT)" \
    "$POLICY" login d1 reg.d1 as.d1 -S host/x.example.test

expect_ok "staged d2 (profile camera) registers" \
    register d2 reg.d2 -X "devreg_identity=FILE:$P/d2.pem,$P/d2.key"
expect_ok "d2 logs in" login d2 reg.d2 tgt.d2
expect_ok "d2's profile is an indicator: it gets cam/x" \
    tgs tgt.d2 cam/x.example.test
expect_ok "d2's TGT carries devreg-staged too: it gets HTTP/x" \
    tgs tgt.d2 HTTP/x.example.test
expect_ok "the KDC keeps running" kdc_alive
kdc_stop "$R"

# --- user-to-user allowed by a glob of the device namespace ----------------
sed -i 's|unprovisioned_services = |&device/* |' "$R/kdc.conf"
kdc_start "$R" || { fail "the KDC did not restart"; finish; }
expect_ok "device a2 registers anonymously" \
    register a2 reg.a2 -X devreg_anonymous=yes
expect_ok "a2 logs in" login a2 reg.a2 tgt.a2
expect_ok "with device/* in unprovisioned_services, a2 reaches d1 (u2u)" \
    u2u tgt.a2 tgt.d1 device/d1
expect_fail "but still not host/x" "$POLICY" tgs tgt.a2 host/x.example.test
kdc_stop "$R"
finish
