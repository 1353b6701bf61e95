#!/bin/bash
# kinkd against a real kernel (issue 5): in a User-Mode Linux guest
# (uml-run.sh), a KDC of the stateless backend with devreg and two device
# peers, each in its own network namespace with only the TGT of its devreg
# login (user-to-user tickets through GETTGT), run kinkd with the xfrm
# backend.  The guest (guest_kinkd.sh) checks that
#
#   - the first packet of a ping triggers an ACQUIRE and kinkd negotiates;
#   - a ping between the peers then passes as ESP (tcpdump on the wire:
#     ESP with the pair's SPIs, no plaintext ICMP; SA byte counters grow);
#   - kinkctl delete removes the SAs on both sides (the trap policies
#     come back, and the next packet negotiates again);
#   - restarting one peer (kill -9, then start again) recovers;
#   - a rekey (lifetime 60 s, rekey at 54 s) under a running ping loses at
#     most one packet, and the SPIs change.
#
# Here, on the host, before the guest boots: the certificates, the realm
# (stateless + devreg, anonymous registration) and, with the host's KDC on
# loopback, the registration and login of device/a and device/b; the
# guest then runs the same realm's KDC on its bridge address.
#
# Needs root (skips otherwise); skipped in sanitizer builds (ASan cannot
# run in UML).  Environment (tests/uml/Makefile.am): KINKD, KINKCTL,
# KSTATELESS, KS_MODULE_DIR, KS_DEVREG_MODULE; KS_KEEP=1 keeps the work
# directory of a failed run.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/realm.sh"
. "$here/../lib/pki.sh"
t0=$(date +%s)

[ "$(id -u)" = 0 ] || skip "needs root (UML, network namespaces)"
[ "${KS_SANITIZE:-no}" = yes ] &&
    skip "sanitizer builds cannot run in UML (ASan's shadow memory does not fit)"
_ks_require KINKD "the built kinkd"
_ks_require KINKCTL "the built kinkctl"
_ks_require KS_DEVREG_MODULE "the built devreg.so"
ks_tmpdir
T=$KS_TMPDIR
# uml-run.sh refuses paths with white space; the guest needs to read T.
case $T in *[[:space:]]*) skip "work directory with white space: $T" ;; esac
chmod 755 "$T"

# --- realm and device logins, on the host ----------------------------------
P=$T/pki
pki_ca "$P" regca && pki_kdc "$P" regca EXAMPLE.TEST rs ||
    { fail "making the test certificates with openssl"; finish; }
R=$T/realm
realm_create "$R" \
    --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" \
    --realmopt 'devreg_allow_anonymous = true' ||
    { fail "creating the realm"; finish; }
realm_enable_devreg "$R"
realm_env "$R"
kdc_start "$R" || { fail "the KDC did not start (host)"; finish; }
for d in a b; do
    ks_module_host kinit -S devreg/EXAMPLE.TEST \
        -X "devreg_anchor=FILE:$P/regca.pem" -X devreg_anonymous=yes \
        -c "FILE:$T/reg.$d" "device/$d" </dev/null >/dev/null 2>&1
    # Anonymous devices reach only unprovisioned_services until provisioned.
    expect_match "provision device $d" "Provisioned device $d" \
        kstateless provision "$d"
    expect_ok "device/$d logs in with its (anonymous) registration ticket" \
        ks_module_host kinit -X "devreg_ticket=FILE:$T/reg.$d" \
        -c "FILE:$T/tgt.$d" "device/$d"
done
kdc_stop "$R"
[ -s "$T/tgt.a" ] && [ -s "$T/tgt.b" ] || { fail "no device TGTs"; finish; }

# The guest's copy of the realm: its KDC listens on the bridge address of
# the guest's root namespace, which both device namespaces reach.
KDC_ADDR=10.9.0.254
port=$(cat "$R/port")
G=$T/guest-realm
mkdir -p "$G"
for f in krb5.conf kdc.conf; do
    sed "s/127\.0\.0\.1:$port/$KDC_ADDR:$port/g" "$R/$f" >"$G/$f"
done
grep -q "$KDC_ADDR:$port" "$G/krb5.conf" ||
    { fail "rewriting the realm's addresses for the guest"; finish; }

# --- the guest -----------------------------------------------------------
export KINKD KINKCTL KRB5KDC
export KS_UML_WORK=$T KS_UML_REALM=$G KS_UML_KDC=$KDC_ADDR:$port
UML_PASS_ENV="KINKD KINKCTL KRB5KDC KS_UML_WORK KS_UML_REALM KS_UML_KDC" \
    UML_PKGS="tcpdump iputils-ping" UML_MODULES="bridge" \
    UML_TIMEOUT=${UML_TIMEOUT:-300} \
    bash "$here/uml-run.sh" "$here/guest_kinkd.sh" "$T/uml"
rc=$?
echo "# wall time $(( $(date +%s) - t0 )) s"
[ $rc -eq 77 ] && skip "UML is not available here (see above)"
np=$(grep -c '^PASS:' "$T/uml/guest.log" 2>/dev/null)
nf=$(grep -c '^FAIL:' "$T/uml/guest.log" 2>/dev/null)
echo "# guest: ${np:-0} passed, ${nf:-0} failed, rc $rc"
if [ "$rc" -eq 0 ] && [ "${nf:-0}" -eq 0 ] && [ "${np:-0}" -gt 0 ]; then
    pass "kinkd in a real kernel (UML): ACQUIRE, ESP, delete, restart, rekey"
else
    fail "kinkd in a real kernel (UML): guest rc $rc, ${nf:-0} failed (guest log above)"
fi
finish
