#!/bin/bash
# The main scenarios also hold with 'krb5kdc -w 2' (worker processes each
# with their own copy of the module): keytab, kinit -k, kvno, kvno -k,
# device refusals and getprinc, with enough concurrent requests that both
# workers serve some; stopping the parent stops the workers.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir

EPOCH=1767225600
PERIOD=604800
R=$KS_TMPDIR/r
realm_create "$R" || { fail "realm_create"; finish; }
realm_env "$R"
kdc_start "$R" 2 || { fail "kdc_start -w 2"; finish; }
parent=$(cat "$R/kdc.pid")
workers=$(ks_children "$parent" | sort -n | tr '\n' ' ')
expect_eq "krb5kdc -w 2 runs two worker processes" 2 "$(wc -w <<<"$workers")"

now=$(date +%s)
left=$((PERIOD - (now - EPOCH) % PERIOD))
[ "$left" -lt 30 ] && sleep $((left + 1))
CUR=$(ks_kvno_at "$EPOCH" "$PERIOD" "$(date +%s)")

KA=$KS_TMPDIR/a.keytab
KC=$KS_TMPDIR/c.keytab
expect_ok "kstateless keytab host/a" kstateless keytab -k "$KA" host/a.example.test
expect_ok "kstateless keytab host/c" kstateless keytab -k "$KC" host/c.example.test
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.a
expect_ok "kinit -k host/a" kinit -k -t "$KA" host/a.example.test
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.c
expect_ok "kinit -k host/c" kinit -k -t "$KC" host/c.example.test
expect_match "kvno host/b prints the current kvno $CUR" \
    "^host/b\.example\.test@EXAMPLE\.TEST: kvno = $CUR$" kvno host/b.example.test
expect_match "kvno -k validates host/c's ticket for host/a" \
    "^host/a\.example\.test@EXAMPLE\.TEST: kvno = $CUR, keytab entry valid$" \
    kvno -k "$KA" host/a.example.test
expect_fail "kinit device/d1 without preauth is refused" \
    'preauthentication failure|pre-authentication required' \
    env KRB5CCNAME="FILE:$KS_TMPDIR/cc.dev" kinit device/d1 </dev/null
expect_ok "the KDC logs NEEDED_PREAUTH" grep -q 'NEEDED_PREAUTH: device/d1@EXAMPLE.TEST' "$R/kdc.log"
expect_fail "a ticket to device/d1 is user2user only" \
    'Server principal valid for user2user only' kvno device/d1
expect_fail "a name matching no glob is not found" \
    'not found in Kerberos database' kvno ldap/x.example.test
expect_match "getprinc host/a" "^Key: vno $CUR, aes256-cts-hmac-sha1-96$" \
    ks_kadmin_local -q "getprinc host/a.example.test"

# Concurrent clients until both workers have answered requests (each
# round: 4 clients, each an AS exchange with a keytab, 10 TGS exchanges,
# a kvno -k validation, and refused device TGS and AS requests).
served() {
    sed -n 's/.*krb5kdc\[\([0-9]*\)\](info): \(AS\|TGS\)_REQ .*ISSUE.*/\1/p' \
        "$R/kdc.log" | sort -un | tr '\n' ' '
}
rounds=0
errors=0
while [ "$rounds" -lt 10 ]; do
    rounds=$((rounds + 1))
    pids=()
    for j in 1 2 3 4; do
        (
            export KRB5CCNAME=FILE:$KS_TMPDIR/cc.load$j
            kinit -k -t "$KC" host/c.example.test || exit 1
            for i in $(seq 10); do
                kvno "host/r$rounds-c$j-s$i.example.test" >/dev/null || exit 1
            done
            kvno -k "$KA" host/a.example.test >/dev/null || exit 1
            kvno "device/r$rounds-d$j" 2>&1 | grep -q 'user2user only' || exit 1
            KRB5CCNAME=FILE:$KS_TMPDIR/cc.dev$j kinit "device/r$rounds-d$j" \
                </dev/null 2>&1 | grep -q 'preauthentication failure' || exit 1
        ) >"$KS_TMPDIR/load$j.out" 2>&1 &
        pids+=($!)
    done
    # Not a bare 'wait': the KDC is a child of this shell too.
    wait "${pids[@]}"
    for j in 1 2 3 4; do
        if grep -q . "$KS_TMPDIR/load$j.out"; then
            errors=$((errors + 1))
            sed 's/^/    | /' "$KS_TMPDIR/load$j.out"
        fi
    done
    [ "$(wc -w <<<"$(served)")" -ge 2 ] && break
done
expect_eq "every concurrent request succeeded" 0 "$errors"
expect_eq "both workers served requests (after $rounds rounds)" "$workers" "$(served)"

issued=$(grep -c 'ISSUE' "$R/kdc.log")
echo "# $issued tickets issued; per worker: $(sed -n 's/.*krb5kdc\[\([0-9]*\)\](info): [AT][SG]*_REQ .*ISSUE.*/\1/p' "$R/kdc.log" | sort | uniq -c | tr '\n' ' ')"

if kdc_stop "$R"; then
    pass "stopping the parent stops the workers"
else
    fail "stopping the parent stops the workers"
fi
for w in $workers; do
    if [ -e "/proc/$w" ]; then
        fail "worker $w still runs"
    else
        pass "worker $w is gone"
    fi
done
finish
