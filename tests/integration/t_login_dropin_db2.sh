#!/bin/bash
# Login with a registration ticket on a realm that uses MIT's own db2
# backend (the drop-in case of issue 3, item 4): devreg/REALM is an
# ordinary principal, the device was created with addprinc -nokey, and the
# KDC recovers the device key from the registration ticket the device
# shows.  Registration itself is not used here: the test gives the device
# a password, gets a ticket for devreg/REALM with it (what registration
# produces: a ticket whose session key the device holds), then removes the
# device's keys (purgekeys -all), so that only the ticket can log it in.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir

R=$KS_TMPDIR/db2
realm_create "$R" --backend db2 --realmopt 'max_life = 30d' \
    --realmopt 'max_renewable_life = 30d'
realm_enable_devreg "$R" "$KS_TMPDIR/devreg-state"
realm_env "$R"
ks_kadmin_local -q "addprinc -randkey devreg/EXAMPLE.TEST" >/dev/null 2>&1
ks_kadmin_local -q "addprinc -pw Reg1stration +requires_preauth -maxlife 2h device/d1" \
    >/dev/null 2>&1
ks_kadmin_local -q "addprinc -nokey +requires_preauth device/d2" >/dev/null 2>&1
kdc_start "$R" || { fail "the db2 KDC with devreg did not start"; finish; }

REG=FILE:$KS_TMPDIR/reg.d1
echo Reg1stration | KRB5CCNAME=$REG ks_module_host kinit -l 1d \
    -S devreg/EXAMPLE.TEST device/d1 >/dev/null 2>&1
expect_match "device/d1 holds a ticket for devreg/EXAMPLE.TEST" \
    'devreg/EXAMPLE\.TEST@EXAMPLE\.TEST' klist -c "$REG"
ks_kadmin_local -q "purgekeys -all device/d1" >/dev/null 2>&1
expect_output "device/d1 has no keys left" 'Number of keys: 0' \
    ks_kadmin_local -q "getprinc device/d1"

# Login: a TGT for the keyless device, from the registration ticket.
TGT=FILE:$KS_TMPDIR/tgt.d1
expect_ok "kinit -X devreg_ticket logs device/d1 in" \
    ks_module_host kinit -X "devreg_ticket=$REG" -c "$TGT" device/d1
expect_match "klist shows a TGT for device/d1" \
    'krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST' klist -c "$TGT"
expect_match "the KDC issued it after devreg preauth" \
    'ISSUE: .*device/d1@EXAMPLE\.TEST for krbtgt/EXAMPLE\.TEST' cat "$R/kdc.log"
start=$(klist -c "$TGT" | awk '/krbtgt\//{print $1" "$2}')
end=$(klist -c "$TGT" | awk '/krbtgt\//{print $3" "$4}')
life=$(( $(date -d "$end" +%s) - $(date -d "$start" +%s) ))
expect_eq "the TGT lives the device principal's max life (2h)" 7200 "$life"
expect_ok "the TGT gets a service ticket" \
    env KRB5CCNAME="$TGT" kvno devreg/EXAMPLE.TEST

# Without the ticket the keyless device cannot log in.
expect_fail "device/d1 without a registration ticket is refused" \
    'Generic preauthentication failure|Preauthentication failed|pre-authentication' \
    ks_module_host kinit -c "FILE:$KS_TMPDIR/none" device/d1 </dev/null

# Another device cannot use device/d1's registration ticket.
expect_fail "device/d2 cannot log in with device/d1's registration ticket" \
    'no registration ticket for this device' \
    ks_module_host kinit -X "devreg_ticket=$REG" -c "FILE:$KS_TMPDIR/tgt.d2" \
    device/d2

# The KDC keeps serving.
expect_ok "the KDC still serves after the refusals" \
    ks_module_host kinit -X "devreg_ticket=$REG" -c "$TGT" device/d1

kdc_stop "$R"

# Two days later (by the KDC's clock only: the client library itself
# refuses to use a credential its own clock says has expired) the one-day
# registration has expired, and the KDC refuses it.
FAKETIME_LIB=
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
         /usr/lib/*/faketime/libfaketime.so.1; do
    [ -e "$f" ] && { FAKETIME_LIB=$f; break; }
done
if [ -n "$FAKETIME_LIB" ]; then
    export FAKETIME_TIMESTAMP_FILE=$KS_TMPDIR/faketime FAKETIME_NO_CACHE=1
    echo "+$((2 * 86400))" >"$FAKETIME_TIMESTAMP_FILE"
    KS_PRELOAD=$FAKETIME_LIB kdc_start "$R" ||
        { fail "the KDC did not start two days later"; finish; }
    expect_fail "an expired registration ticket is refused by the KDC" \
        'KDC refused: devreg: the registration ticket has expired \[registration-ticket-expired\]' \
        ks_module_host kinit -X "devreg_ticket=$REG" -c "$TGT" device/d1
    expect_match "the KDC logged why" \
        'devreg\) verify failure: devreg: the registration ticket has expired' \
        cat "$R/kdc.log"
    kdc_stop "$R"
else
    fail "libfaketime not found (apt-get install faketime)"
fi
finish
