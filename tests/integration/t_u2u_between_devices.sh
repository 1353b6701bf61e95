#!/bin/bash
# User-to-user between two logged-in devices (issue 3, item 7): device A
# gets a user-to-user ticket for device B with the stock kvno --u2u, and
# u2u_exchange shows that B accepts A's AP-REQ using only its TGT session
# key, answers with an AP-REP, and that both end with the same session key.
# The devices log in with registration tickets on a db2 realm (as in
# t_login_dropin_db2.sh); device principals are keyless and user-to-user
# only (DISALLOW_SVR), as the stateless backend synthesizes them.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir
U2U=${KS_U2U_EXCHANGE:-$KS_TOP_BUILDDIR/tests/integration/u2u_exchange}
[ -x "$U2U" ] || { fail "u2u_exchange not built ($U2U)"; finish; }

R=$KS_TMPDIR/db2
realm_devices_db2 "$R" "$KS_TMPDIR/devreg-state" a b ||
    { fail "the KDC did not start"; finish; }

# Each device gets a registration ticket, loses its keys, logs in.
for d in a b; do
    devreg_login $d "$KS_TMPDIR"
done
expect_output "device principals are user-to-user only" 'DISALLOW_SVR' \
    ks_kadmin_local -q "getprinc device/b"

expect_fail "an ordinary ticket for device/b is refused" 'user2user only' \
    env KRB5CCNAME=FILE:$KS_TMPDIR/tgt.a kvno device/b
expect_match "kvno --u2u gives device/a a user-to-user ticket for device/b" \
    'device/b@EXAMPLE\.TEST: kvno = 0' \
    env KRB5CCNAME=FILE:$KS_TMPDIR/tgt.a kvno --u2u "FILE:$KS_TMPDIR/tgt.b" device/b
expect_fail "a user-to-user ticket with another device's TGT is refused" \
    'while getting credentials' \
    env KRB5CCNAME=FILE:$KS_TMPDIR/tgt.a kvno --u2u "FILE:$KS_TMPDIR/tgt.a" device/b

expect_ok "device/b accepts device/a's AP-REQ with its TGT session key, mutual auth, same session key" \
    "$U2U" "FILE:$KS_TMPDIR/tgt.a" "FILE:$KS_TMPDIR/tgt.b" device/b@EXAMPLE.TEST
printf '%s\n' "$KS_OUT" | sed 's/^/    /'
expect_fail "device/a's AP-REQ is refused by a device holding another TGT" \
    'u2u_exchange: ' \
    "$U2U" "FILE:$KS_TMPDIR/tgt.a" "FILE:$KS_TMPDIR/tgt.a" device/b@EXAMPLE.TEST

kdc_stop "$R"
finish
