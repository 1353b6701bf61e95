#!/bin/bash
# A login request (AS-REQ with a registration ticket) is accepted once:
# replayed byte for byte to another KDC process sharing the realm's state
# (as krb5kdc -w N workers do), or to the same KDC after a restart, it is
# refused (the KDC logs "replayed login request" and says so to the client
# in the error's e-data), and the KDC keeps serving.  (A replay to
# the very process that served the original gets MIT's lookaside cache's
# copy of the original reply, useless to whoever replays it; as_replay says
# so with exit 3.)  Realm and devices as in t_login_dropin_db2.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir
REPLAY=${KS_AS_REPLAY:-$KS_TOP_BUILDDIR/tests/integration/as_replay}
[ -x "$REPLAY" ] || { fail "as_replay not built ($REPLAY)"; finish; }

R=$KS_TMPDIR/db2
realm_create "$R" --backend db2 --realmopt 'max_life = 30d'
realm_enable_devreg "$R" "$KS_TMPDIR/devreg-state"
realm_env "$R"
ks_kadmin_local -q "addprinc -randkey devreg/EXAMPLE.TEST" >/dev/null 2>&1
ks_kadmin_local -q "addprinc -pw Reg1stration +requires_preauth device/d1" \
    >/dev/null 2>&1

# A second KDC process for the same realm: same database and devreg state,
# another port (what a second krb5kdc worker shares).
R2=$KS_TMPDIR/db2-second
mkdir -p "$R2"
port2=$(free_port)
port1=$(cat "$R/port")
for f in kdc.conf krb5.conf; do
    sed -e "s/127\.0\.0\.1:$port1/127.0.0.1:$port2/g" \
        -e "s|$R/kdc.log|$R2/kdc.log|" "$R/$f" >"$R2/$f"
done
cp "$R/port" "$R/realm" "$R/backend" "$R2/" && echo "$port2" >"$R2/port"

kdc_start "$R" || { fail "the KDC did not start"; finish; }
kdc_start "$R2" || { fail "the second KDC did not start"; finish; }
REG=FILE:$KS_TMPDIR/reg.d1
echo Reg1stration | KRB5CCNAME=$REG ks_module_host kinit -l 1d \
    -S devreg/EXAMPLE.TEST device/d1 >/dev/null 2>&1
ks_kadmin_local -q "purgekeys -all device/d1" >/dev/null 2>&1

expect_match "a login is recorded against the first KDC" 'recorded a login' \
    ks_module_host "$REPLAY" record "$REG" device/d1 "$KS_TMPDIR/login"

# replays DIR: how many replayed logins DIR's KDC has logged.
replays() { grep -c 'verify failure: devreg: replayed login request' "$1/kdc.log"; }

realm_env "$R2"
expect_eq "no replay logged before" 0 "$(replays "$R2")"
expect_match "replayed to the second KDC process it is refused" \
    'refused \(KRB-ERROR [0-9]+\).*reason: devreg: replayed login request' \
    ks_module_host "$REPLAY" send device/d1 "$KS_TMPDIR/login"
expect_eq "the second KDC logged it as a replayed login request" 1 \
    "$(replays "$R2")"
expect_ok "the second KDC still serves a fresh login" \
    ks_module_host kinit -X "devreg_ticket=$REG" -c "FILE:$KS_TMPDIR/tgt2" device/d1

realm_env "$R"
ks_module_host "$REPLAY" send device/d1 "$KS_TMPDIR/login" >"$KS_TMPDIR/same.out" 2>&1
rc=$?
expect_eq "replayed to the KDC that served it: its cached copy of the reply (exit 3)" \
    3 "$rc"

kdc_stop "$R"
before=$(replays "$R")
kdc_start "$R" || { fail "the KDC did not restart"; finish; }
expect_match "replayed after a KDC restart it is refused" \
    'refused \(KRB-ERROR [0-9]+\).*reason: devreg: replayed login request' \
    ks_module_host "$REPLAY" send device/d1 "$KS_TMPDIR/login"
expect_eq "the restarted KDC logged it as a replayed login request" \
    $((before + 1)) "$(replays "$R")"
expect_ok "the restarted KDC still serves a fresh login" \
    ks_module_host kinit -X "devreg_ticket=$REG" -c "FILE:$KS_TMPDIR/tgt3" device/d1

kdc_stop "$R"
kdc_stop "$R2"
finish
