#!/bin/bash
# Renewal and replicas of device registrations (issue 3):
#  - renewal (kinit -S devreg/REALM -X devreg_ticket=OLD) gives a new
#    registration ticket with a different device key; the new one logs in,
#    and the old one keeps working until its end time and stops after it
#    (refused by the device's own library, and by the KDC for a device
#    whose clock lags);
#  - a staged device whose registration expired registers again with its
#    device key;
#  - two KDCs holding the same secret (own ports, own state directories,
#    the device staged in both) serve each other's registrations: register
#    at KDC 1 and log in at KDC 2, register at KDC 2 and log in at KDC 1,
#    renew at KDC 2 what KDC 1 issued; a KDC with another secret refuses.
# registration_max_life is 30 s and the clock skew 3 s so that the test
# waits for a real expiry (about 40 s in all); a ticket stays usable until
# its end time plus the clock skew, as every Kerberos ticket does.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pki.sh"
ks_tmpdir
TAMPER=${KS_DEVREG_TAMPER:-$KS_TOP_BUILDDIR/tests/integration/devreg_tamper}
[ -x "$TAMPER" ] || { fail "devreg_tamper not built ($TAMPER)"; finish; }

P=$KS_TMPDIR/pki
pki_ca "$P" regca && pki_kdc "$P" regca EXAMPLE.TEST rs &&
    pki_selfsigned "$P" d1 p256 && pki_selfsigned "$P" d2 p256 &&
    pki_selfsigned "$P" d3 p256 ||
    { fail "making the test certificates with openssl"; finish; }

LIFE=30
SKEW=3
# newrealm DIR [--secret FILE]: a devreg realm with d1, d2 and d3 staged.
newrealm() {
    local dir=$1
    shift
    realm_create "$dir" "$@" --realmopt 'max_life = 60d' \
        --libdefault "clockskew = $SKEW" \
        --dbmod "registration_max_life = $LIFE" \
        --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" &&
        realm_enable_devreg "$dir" &&
        realm_run "$dir" kstateless stage add d1 --pubkey "$P/d1.pem" &&
        realm_run "$dir" kstateless stage add d2 --pubkey "$P/d2.pem" &&
        realm_run "$dir" kstateless stage add d3 --pubkey "$P/d3.pem"
}
K1=$KS_TMPDIR/kdc1      # KDC 1
K2=$KS_TMPDIR/kdc2      # KDC 2: a copy of KDC 1's secret
KX=$KS_TMPDIR/other     # another realm secret, same realm name
newrealm "$K1" >/dev/null || { fail "creating KDC 1's realm"; finish; }
newrealm "$K2" --secret "$K1/stateless.secret" >/dev/null ||
    { fail "creating KDC 2's realm"; finish; }
newrealm "$KX" >/dev/null || { fail "creating the other realm"; finish; }
for k in "$K1" "$K2" "$KX"; do
    kdc_start "$k" || { fail "the KDC of $k did not start"; finish; }
done

C=$KS_TMPDIR
ANCHOR=devreg_anchor=FILE:$P/regca.pem
REGSVC=devreg/EXAMPLE.TEST@EXAMPLE.TEST
# register NAME CCACHE ARGS...: stock kinit registration of device/NAME
# (with its device key unless ARGS say otherwise).
register() {
    local name=$1 cc=$2
    shift 2
    ks_module_host kinit -l 30d -S devreg/EXAMPLE.TEST -X "$ANCHOR" \
        -X "devreg_identity=FILE:$P/$name.pem,$P/$name.key" "$@" \
        -c "FILE:$C/$cc" "device/$name" </dev/null
}
# renew NAME OLD NEW: renewal of device/NAME's registration OLD into NEW.
renew() {
    ks_module_host kinit -l 30d -S devreg/EXAMPLE.TEST -X "$ANCHOR" \
        -X "devreg_ticket=FILE:$C/$2" -c "FILE:$C/$3" "device/$1" </dev/null
}
# login NAME REG TGT: stock kinit login of device/NAME with REG.
login() {
    ks_module_host kinit -X "devreg_ticket=FILE:$C/$2" -c "FILE:$C/$3" \
        "device/$1" </dev/null
}
keyhash() {
    "$TAMPER" keyhash "FILE:$C/$1" "$REGSVC"
}
# endtime CCACHE: the end time (seconds since the epoch) of the
# registration ticket in CCACHE.
endtime() {
    local line
    line=$(klist -c "FILE:$C/$1" 2>/dev/null | grep " $REGSVC") || return 1
    date -d "$(awk '{print $3" "$4}' <<<"$line")" +%s
}
starttime() {
    local line
    line=$(klist -c "FILE:$C/$1" 2>/dev/null | grep " $REGSVC") || return 1
    date -d "$(awk '{print $1" "$2}' <<<"$line")" +%s
}
wait_until() {
    while [ "$(date +%s)" -lt "$1" ]; do
        sleep 0.2
    done
}
# issued DIR NAME SERVICE: how many tickets DIR's KDC issued to device/NAME
# for SERVICE.
issued() {
    grep -Ec "ISSUE: .*device/$2@EXAMPLE\.TEST for $3" "$1/kdc.log"
}

# --- 1. Registration, then renewal --------------------------------------
realm_env "$K1"
expect_ok "d1 registers at KDC 1" register d1 reg.old
end_old=$(endtime reg.old)
expect_eq "its registration ticket lives registration_max_life (${LIFE}s)" \
    "$LIFE" "$((end_old - $(starttime reg.old)))"
expect_ok "d1 logs in with it" login d1 reg.old tgt.1

# --- 2. Two KDCs with the same secret (while the old ticket ages) --------
realm_env "$K1"
expect_ok "d2 registers at KDC 1" register d2 reg.d2.k1
realm_env "$K2"
expect_ok "d2 logs in at KDC 2 with the registration from KDC 1" \
    login d2 reg.d2.k1 tgt.d2.k2
expect_eq "KDC 2 issued d2's TGT" 1 "$(issued "$K2" d2 krbtgt/)"
expect_eq "KDC 2 did not register d2" 0 "$(issued "$K2" d2 devreg/)"
expect_ok "d3 registers at KDC 2" register d3 reg.d3.k2
realm_env "$K1"
expect_ok "d3 logs in at KDC 1 with the registration from KDC 2" \
    login d3 reg.d3.k2 tgt.d3.k1
expect_eq "KDC 1 issued d3's TGT" 1 "$(issued "$K1" d3 krbtgt/)"
expect_eq "KDC 1 did not register d3" 0 "$(issued "$K1" d3 devreg/)"
realm_env "$K2"
expect_ok "KDC 2 renews the registration KDC 1 issued to d2" \
    renew d2 reg.d2.k1 reg.d2.k2
expect_eq "KDC 2 issued that registration ticket" 1 "$(issued "$K2" d2 devreg/)"
realm_env "$K1"
expect_ok "d2 logs in at KDC 1 with the registration renewed at KDC 2" \
    login d2 reg.d2.k2 tgt.d2.k1
realm_env "$KX"
expect_fail "a KDC with another secret refuses KDC 1's registration ticket" \
    'Password incorrect|registration ticket|integrity|Preauthentication failed' \
    login d2 reg.d2.k1 tgt.x
expect_match "(it logs why)" \
    'verify failure: .*registration ticket.*(decrypt|tampered|not issued)|verify failure: .*integrity' \
    cat "$KX/kdc.log"

# --- 3. Renewal ----------------------------------------------------------
realm_env "$K1"
# Renew halfway through, so that the new ticket outlives the old one.
wait_until $((end_old - LIFE / 2))
expect_ok "d1 renews its registration" renew d1 reg.old reg.new
end_new=$(endtime reg.new)
expect_eq "the new registration ticket lives registration_max_life" \
    "$LIFE" "$((end_new - $(starttime reg.new)))"
if [ -n "$end_new" ] && [ "$end_new" -gt "$end_old" ]; then
    pass "the new registration ends after the old one"
else
    fail "the new registration ends after the old one ($end_new <= $end_old)"
fi
h_old=$(keyhash reg.old)
h_new=$(keyhash reg.new)
expect_match "the device key of each can be read" '^[0-9a-f]{64}$' \
    printf '%s\n%s\n' "$h_old" "$h_new"
if [ -n "$h_old" ] && [ "$h_old" != "$h_new" ]; then
    pass "renewal gives a different device key"
else
    fail "renewal gives a different device key (old $h_old, new $h_new)"
fi
expect_ok "d1 logs in with the new registration" login d1 reg.new tgt.2

# The old registration works until its end time ...
if [ "$(date +%s)" -ge "$((end_old - 2))" ]; then
    fail "the test ran too slowly to log in before the old registration's end"
fi
wait_until $((end_old - 4))
expect_ok "the old registration still logs in shortly before its end time" \
    login d1 reg.old tgt.3
# ... and not after it (plus the clock skew every ticket is allowed).
wait_until $((end_old + SKEW + 1))
n=$(wc -l <"$K1/kdc.log")
expect_fail "after its end time the old registration no longer logs in" \
    'expired' login d1 reg.old tgt.4
expect_ok "the new registration still does" login d1 reg.new tgt.5
expect_fail "nor does it renew" 'expired' renew d1 reg.old reg.x
# Above, the device's library refused it by its own clock.  A device
# whose clock lags (set to 2 s before the old end time) still believes it
# valid; the KDC refuses it.
lag=$(( $(date +%s) - (end_old - 2) ))
expect_fail "a device whose clock lags ${lag} s: the KDC refuses the old registration" \
    'expired' \
    "$TAMPER" login -t "$((-lag))" "FILE:$C/reg.old" device/d1 "FILE:$C/tgt.6"
expect_match "(the KDC logs that it has expired)" \
    'verify failure: .*registration ticket (has )?expired' \
    tail -n +"$((n + 1))" "$K1/kdc.log"

# --- 4. Registration again after expiry ----------------------------------
expect_ok "d1 registers again with its device key" register d1 reg.again
h_again=$(keyhash reg.again)
if [ -n "$h_again" ] && [ "$h_again" != "$h_old" ] &&
       [ "$h_again" != "$h_new" ]; then
    pass "the new registration has a device key of its own"
else
    fail "the new registration has a device key of its own ($h_again)"
fi
expect_ok "d1 logs in with it" login d1 reg.again tgt.7

for k in "$K1" "$K2" "$KX"; do
    kdc_stop "$k"
done
finish
