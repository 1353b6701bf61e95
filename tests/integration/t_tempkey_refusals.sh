#!/bin/bash
# Refusals of temporary server key registrations (issue 4): after good
# registrations of key ids 1 and 2 for host/web.example.test, each of
#   a bad signature on the request, a server certificate not under
#   tempkey_anchors, a certificate naming another principal, a key id
#   rollback, a lifetime above tempkey_max_life, a replayed request, keys
#   sealed to another KDC key, garbage padata, an expired server
#   certificate and a certificate with the wrong EKU
# fails; the client's message names the cause ("KDC refused: <text>
# [<cause-name>]", the cause names of plugins/tempkey_padata.c); the KDC
# logs the refusal ("preauth (tempkey) verify failure: <text>") and issues
# nothing; and right after each one an ordinary client still gets a
# ticket for host/web.example.test in the last accepted key (the KDC keeps
# serving and stored nothing).  The client messages are pairwise distinct,
# and the rolled-back key is not left in the second keytab.
#
# Requests that ktempkey cannot make are made by tempkey_tamper, which
# runs the same client library and tempkey module in-process and tampers
# through the library's KDC send/receive hooks.  A replayed request goes
# to the KDC after a restart: MIT's KDC answers a request identical to one
# it served from its per-process lookaside cache (see t_login_replay.sh),
# so only a process that did not serve the original runs the replay check
# (as a second worker or a restarted KDC would).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pki.sh"
ks_tmpdir
_ks_require KTEMPKEY "the built ktempkey program"
TAMPER=${KS_TEMPKEY_TAMPER:-$KS_TOP_BUILDDIR/tests/integration/tempkey_tamper}
[ -x "$TAMPER" ] || { fail "tempkey_tamper not built ($TAMPER)"; finish; }

P=$KS_TMPDIR/pki
# srvca: the realm's tempkey_anchors; otherca: an unrelated CA; rs2: a
# second KDC certificate under the KDC's CA (another key); expired: issued
# 40 days ago for 30 days.
pki_ca "$P" regca && pki_kdc "$P" regca EXAMPLE.TEST rs &&
    pki_kdc "$P" regca EXAMPLE.TEST rs2 &&
    pki_ca "$P" srvca && pki_ca "$P" otherca &&
    pki_server "$P" srvca web host/web.example.test EXAMPLE.TEST &&
    pki_server "$P" otherca foreign host/web.example.test EXAMPLE.TEST &&
    pki_server "$P" srvca other host/other.example.test EXAMPLE.TEST &&
    pki_server "$P" srvca badeku host/web.example.test EXAMPLE.TEST 30 \
        1.3.6.1.5.5.7.3.1 &&
    PKI_CLOCK="40 days ago" pki_server "$P" srvca expired \
        host/web.example.test EXAMPLE.TEST 30 ||
    { fail "making the test certificates with openssl"; finish; }

R=$KS_TMPDIR/sl
realm_create "$R" \
    --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" \
    --realmopt "tempkey_anchors = FILE:$P/srvca.pem" \
    --realmopt 'tempkey_max_life = 2h'
realm_enable_tempkey "$R"
realm_env "$R"
kdc_start "$R" || { fail "the KDC did not start"; finish; }

WEB=host/web.example.test
KT=$KS_TMPDIR/web.keytab
KT_B=$KS_TMPDIR/web-second.keytab
ANCHOR=FILE:$P/regca.pem
ident() { echo "FILE:$P/$1.pem,$P/$1.key"; }
# tk ARGS...: ktempkey (a stock-like program loading tempkey.so).
tk() {
    ks_module_host "$KTEMPKEY" "$@" --anchor "$ANCHOR" </dev/null
}
# tamper MODE [FILE] ARGS: tempkey_tamper for host/web.example.test with
# keytab KT and the good identity (our program, built with the sanitizers
# when the module is: run directly).
tamper() {
    local mode=$1 file=()
    shift
    case $mode in
        capture|replay|other-kdc-cert) file=("$1"); shift ;;
    esac
    "$TAMPER" "$mode" "${file[@]}" "$WEB" "tempkey_anchor=$ANCHOR" \
        "tempkey_keytab=$KT" "tempkey_identity=$(ident web)" "$@" </dev/null
}

expect_match "ktempkey registers key id 1" \
    "registered key id 1 of $WEB@EXAMPLE.TEST" \
    tk register -p "$WEB" -k "$KT" --identity "$(ident web)" --lifetime 1h
expect_match "ktempkey registers key id 2" \
    "registered key id 2 of $WEB@EXAMPLE.TEST" \
    tk register -p "$WEB" -k "$KT" --identity "$(ident web)" --lifetime 1h
expect_match "the control: tempkey_tamper registers key id 3 when it tampers with nothing" \
    "registered key id 3 of $WEB" tamper register
CUR=3   # the key id the KDC serves host/web.example.test in

# An ordinary client: a derived-key service principal with a keytab.
kstateless keytab -k "$KS_TMPDIR/user.keytab" host/client.example.test \
    >/dev/null || fail "kstateless keytab for the client"
# fresh_kvno: log the client in anew and ask for a host/web ticket (both
# reach the KDC: a new ccache has no cached ticket).  kinit and kvno load
# tempkey.so through krb5.conf: ks_module_host.
NCC=0
fresh_kvno() {
    NCC=$((NCC + 1))
    local cc=FILE:$KS_TMPDIR/cc.client.$NCC
    KRB5CCNAME=$cc ks_module_host kinit -k -t "$KS_TMPDIR/user.keytab" \
        host/client.example.test && KRB5CCNAME=$cc ks_module_host kvno "$WEB"
}
# kdc_serves AFTER: the KDC still serves, in key id CUR.
kdc_serves() {
    expect_match "the KDC still serves after $1: kvno $WEB = $CUR" \
        "$WEB@EXAMPLE.TEST: kvno = $CUR\$" fresh_kvno
}
kdc_serves "the good registrations"

# refused DESC CAUSE TEXT CMD...: CMD fails without crashing (tempkey_tamper:
# exit 1, the tampering was done) and its "KDC refused: ..." message
# matches the extended regex TEXT and ends with "[CAUSE]"; while it runs the KDC
# logs a tempkey verify failure matching TEXT and issues no ticket.  The
# client's line goes to CLIENT_LINES.
CLIENT_LINES=()
refused() {
    local desc=$1 cause=$2 text=$3 n newlog line
    shift 3
    n=$(wc -l <"$R/kdc.log")
    expect_fail "$desc: refused, and the client is told why ([$cause])" \
        "KDC refused: .*($text).* \\[$cause\\]" "$@"
    if [ "$1" = tamper ] && [ "$KS_RC" -ne 1 ]; then
        fail "$desc: tempkey_tamper exit $KS_RC, not 1 (tampering not done?)"
    fi
    # From "KDC refused" to the cause name (kinit-style programs add
    # " while getting initial credentials").
    line=$(grep -E 'KDC refused' <<<"$KS_OUT" | head -n 1 |
               sed -E 's/(\])[^]]*$/\1/')
    line=${line#*KDC refused}
    CLIENT_LINES+=("KDC refused${line:-: <no refusal line>}")
    newlog=$(tail -n +"$((n + 1))" "$R/kdc.log")
    if grep -q 'ISSUE: ' <<<"$newlog"; then
        fail "$desc: the KDC issued nothing"
        grep 'ISSUE: ' <<<"$newlog" | sed 's/^/    | /'
    else
        pass "$desc: the KDC issued nothing"
    fi
    if grep -Eq -- "preauth \(tempkey\) verify failure: .*($text)" \
            <<<"$newlog"; then
        pass "$desc: the KDC logs the refusal"
    else
        fail "$desc: the KDC logs the refusal (no tempkey verify failure" \
            "matching /$text/)"
        printf '%s\n' "$newlog" | grep -E 'verify failure|AS_REQ' |
            sed 's/^/    | /' | tail -n 4
    fi
}

# 1. A bad signature: one byte of the CMS signature flipped.
refused "a request with a bad signature" bad-signature \
    'signature verification failed' \
    tamper bad-signature
kdc_serves "a bad signature"

# 2. A server certificate from a CA that is not in tempkey_anchors.
refused "a certificate not under tempkey_anchors" untrusted-certificate \
    'does not chain to a trust anchor' \
    tk register -p "$WEB" -k "$KT" --identity "$(ident foreign)"
kdc_serves "an untrusted certificate"

# 3. A certificate naming host/other.example.test used for host/web.
refused "a certificate for another principal" \
    certificate-names-another-principal \
    "names neither $WEB" \
    tk register -p "$WEB" -k "$KT" --identity "$(ident other)"
kdc_serves "a certificate for another principal"

# 4. Key id rollback: a second, empty keytab for the same principal makes
# ktempkey pick key id 1, below the stored 3.
refused "a key id rollback (key id 1 after $CUR)" key-id-rollback \
    "key id 1 is not above the highest registered key id $CUR" \
    tk register -p "$WEB" -k "$KT_B" --identity "$(ident web)"
kdc_serves "a key id rollback"
expect_eq "the refused key id 1 is not left in the second keytab" 0 \
    "$(klist -k "$KT_B" 2>/dev/null | grep -c " 1 $WEB@")"

# 5. A lifetime above tempkey_max_life (2h; the KDC allows the clock skew).
refused "a lifetime above tempkey_max_life" lifetime-too-long \
    'more than tempkey_max_life' \
    tk register -p "$WEB" -k "$KT" --identity "$(ident web)" --lifetime 3h
kdc_serves "a lifetime above the maximum"

# 6. A replayed request: captured from a good registration (key id 4),
# replayed to the restarted KDC while its freshness token is still within
# the clock skew.
expect_match "a good registration is captured (key id 4)" \
    "registered key id 4 of $WEB" tamper capture "$KS_TMPDIR/captured.req"
if grep -q '^captured: ' <<<"$KS_OUT" && [ -s "$KS_TMPDIR/captured.req" ]; then
    pass "its AS-REQ is saved"
else
    fail "its AS-REQ is saved (no capture reported, or an empty file)"
fi
CUR=4
kdc_stop "$R"
kdc_start "$R" || { fail "the KDC did not restart"; finish; }
refused "a replayed request" replayed-request \
    'replayed registration request' \
    tamper replay "$KS_TMPDIR/captured.req"
kdc_serves "a replayed request"

# 7. Keys sealed to another KDC key: the challenge carries rs2's
# certificate (same CA, names krbtgt, so the client accepts it).
refused "keys sealed to a different KDC key" sealed-to-another-kdc-key \
    "sealed to another key than this KDC's certificate" \
    tamper other-kdc-cert "$P/rs2.pem"
kdc_serves "keys sealed to another KDC key"

# 8. Garbage instead of a TempkeyRequest.
refused "garbage tempkey padata" malformed \
    'malformed tempkey padata' \
    tamper garbage
kdc_serves "garbage padata"

# 9. An expired server certificate.
refused "an expired server certificate" certificate-expired \
    'certificate has expired' \
    tk register -p "$WEB" -k "$KT" --identity "$(ident expired)"
kdc_serves "an expired certificate"

# 10. A server certificate whose EKU is serverAuth, not id-pkinit-KPClientAuth.
refused "a certificate with the wrong EKU" wrong-eku \
    'extended key usage' \
    tk register -p "$WEB" -k "$KT" --identity "$(ident badeku)"
kdc_serves "a certificate with the wrong EKU"

# The refused registrations left nothing behind in the good keytab: its
# key ids are the accepted ones.
expect_eq "the keytab holds exactly the accepted key ids 1-$CUR" \
    "$(seq 1 "$CUR" | tr '\n' ' ')" \
    "$(klist -k "$KT" | awk -v p="$WEB@EXAMPLE.TEST" '$2 == p {print $1}' |
       sort -un | tr '\n' ' ')"

# Each cause reaches the client as a different message, and the texts
# differ even without the cause names.
n=${#CLIENT_LINES[@]}
distinct=$(printf '%s\n' "${CLIENT_LINES[@]}" | sort -u | wc -l)
if [ "$distinct" -eq "$n" ]; then
    pass "the client's messages for the $n refusals are pairwise distinct"
else
    fail "the client's messages for the $n refusals are pairwise distinct" \
        "(only $distinct are)"
    printf '%s\n' "${CLIENT_LINES[@]}" | sed 's/^/    | /'
fi
distinct=$(printf '%s\n' "${CLIENT_LINES[@]}" | sed 's/ \[[^]]*\]$//' |
               sort -u | wc -l)
expect_eq "their texts without the cause names are distinct too" "$n" \
    "$distinct"

kdc_stop "$R"
finish
