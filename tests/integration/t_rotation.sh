#!/bin/bash
# Key rotation across a key_period boundary, without waiting: libfaketime
# (Debian package faketime) moves the clock of the KDC and of every client
# through a shared FAKETIME_TIMESTAMP_FILE.  With key_epoch 2027-03-01
# 12:00Z and key_period 1d, kvno 3 runs until 2027-03-04 12:00Z and kvno 4
# from then on.  Shows that a TGT and a service ticket obtained before the
# boundary still work after it, new tickets use the new kvno, a keytab
# written before the boundary validates tickets issued after it, and that
# kvno 3 is no longer accepted two periods later.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir
export TZ=UTC

FAKETIME_LIB=${KS_FAKETIME_LIB:-}
for f in "$FAKETIME_LIB" /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
         /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
    if [ -n "$f" ] && [ -e "$f" ]; then
        FAKETIME_LIB=$f
        break
    fi
done
[ -e "$FAKETIME_LIB" ] ||
    skip "libfaketime.so.1 not found (apt-get install faketime, or set KS_FAKETIME_LIB)"

# The faked clock: an offset from the real clock, so that it keeps running
# (a frozen clock would make client timeouts never expire).  Every process
# re-reads the file on each clock read (FAKETIME_NO_CACHE).
export FAKETIME_TIMESTAMP_FILE=$KS_TMPDIR/faketime FAKETIME_NO_CACHE=1
export KS_PRELOAD=$FAKETIME_LIB         # krb5kdc and kadmin.local via realm.sh

# set_clock "YYYY-mm-dd HH:MM:SS": move every faked clock there.
set_clock() {
    local t
    t=$(date -u -d "$1 UTC" +%s)
    # Atomically: processes read the file at any time.
    echo "+$((t - $(date +%s)))" >"$FAKETIME_TIMESTAMP_FILE.new"
    mv -f "$FAKETIME_TIMESTAMP_FILE.new" "$FAKETIME_TIMESTAMP_FILE"
    echo "# clock: $1Z"
}

# ft CMD...: run CMD on the faked clock (with the sanitizer runtimes in
# LD_PRELOAD when the build uses them).  A faked clock can turn a lost
# reply into an endless wait, so every command is bounded.
export KS_CMD_TIMEOUT=60
ft() {
    ks_module_host "$@"
}

set_clock "2027-03-04 11:50:00"
now=$(KS_CMD_TIMEOUT=10 ft date -u +%Y-%m-%dT%H:%M 2>&1)
rc=$?
if [ "$now" != 2027-03-04T11:50 ]; then
    skip "libfaketime ($FAKETIME_LIB) does not fake the clock here (date says '$now', exit $rc)"
fi

EPOCH=$(date -u -d "2027-03-01 12:00:00 UTC" +%s)
R=$KS_TMPDIR/r
realm_create "$R" --dbmod "key_epoch = $EPOCH" --dbmod 'key_period = 1d' ||
    { fail "realm_create"; finish; }
realm_env "$R"
kdc_start "$R" || { fail "kdc_start with libfaketime"; finish; }
expect_ok "the KDC runs on the faked clock (kvno 3)" \
    grep -q 'current kvno 3, key_period 86400s' "$R/kdc.log"

# kvno_of CCACHE PRINC: the kvno of PRINC's ticket in CCACHE.
kvno_of() {
    ft env KRB5CCNAME="$1" kvno --cached-only "$2" 2>&1 |
        sed -n 's/.*: kvno = \([0-9]*\).*/\1/p'
}

# --- Period 3, ten minutes before the boundary. ---
KT_OLD=$KS_TMPDIR/old.keytab
expect_match "keytab written before the boundary: kvno 3 and 4" \
    'kvno 3 \(current\) and 4 \(next\)' \
    ft "$KSTATELESS" keytab -k "$KT_OLD" host/a.example.test host/b.example.test \
    host/c.example.test
CC=FILE:$KS_TMPDIR/cc.old
expect_ok "kinit -k before the boundary" \
    ft env KRB5CCNAME="$CC" kinit -k -t "$KT_OLD" host/c.example.test
expect_match "the TGT has kvno 3" '^krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST: kvno = 3$' \
    ft env KRB5CCNAME="$CC" kvno krbtgt/EXAMPLE.TEST
expect_match "a service ticket before the boundary has kvno 3 and is valid" \
    '^host/a\.example\.test@EXAMPLE\.TEST: kvno = 3, keytab entry valid$' \
    ft env KRB5CCNAME="$CC" kvno -k "$KT_OLD" host/a.example.test
cp "$KS_TMPDIR/cc.old" "$KS_TMPDIR/cc.renew1"
cp "$KS_TMPDIR/cc.old" "$KS_TMPDIR/cc.renew2"

# --- Period 4, ten minutes after the boundary. ---
set_clock "2027-03-04 12:10:00"
expect_match "the KDC serves kvno 4 and 3 for krbtgt" '^Key: vno 4, aes256-cts-hmac-sha1-96$' \
    ks_kadmin_local -q "getprinc krbtgt/EXAMPLE.TEST"
expect_match "  ... and still kvno 3" '^Key: vno 3, aes256-cts-hmac-sha1-96$' echo "$KS_OUT"
expect_match "the service ticket from before the boundary still validates" \
    '^host/a\.example\.test@EXAMPLE\.TEST: kvno = 3, keytab entry valid$' \
    ft env KRB5CCNAME="$CC" kvno -k "$KT_OLD" host/a.example.test
expect_match "the TGT from before the boundary gets a new ticket, of kvno 4" \
    '^host/b\.example\.test@EXAMPLE\.TEST: kvno = 4, keytab entry valid$' \
    ft env KRB5CCNAME="$CC" kvno -k "$KT_OLD" host/b.example.test
expect_eq "  ... with the same (kvno 3) TGT, no new AS exchange" 3 \
    "$(kvno_of "$CC" krbtgt/EXAMPLE.TEST)"
expect_eq "  ... so the KDC saw one AS request" 1 "$(grep -c 'AS_REQ .*ISSUE' "$R/kdc.log")"

KT_NEW=$KS_TMPDIR/new.keytab
expect_match "keytab written after the boundary: kvno 4 and 5" \
    'kvno 4 \(current\) and 5 \(next\)' \
    ft "$KSTATELESS" keytab -k "$KT_NEW" host/c.example.test
CC2=FILE:$KS_TMPDIR/cc.new
expect_ok "kinit -k after the boundary" \
    ft env KRB5CCNAME="$CC2" kinit -k -t "$KT_NEW" host/c.example.test
expect_match "a new TGT has kvno 4" '^krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST: kvno = 4$' \
    ft env KRB5CCNAME="$CC2" kvno krbtgt/EXAMPLE.TEST
expect_match "a ticket issued after the boundary (kvno 4) validates with the keytab written before it" \
    '^host/a\.example\.test@EXAMPLE\.TEST: kvno = 4, keytab entry valid$' \
    ft env KRB5CCNAME="$CC2" kvno -k "$KT_OLD" host/a.example.test

# Not an acceptance item, reported for information: kinit -k decrypts the
# AS reply with the highest kvno of its keytab (4 here) while the KDC now
# encrypts it in kvno 5.
if ft env KRB5CCNAME="FILE:$KS_TMPDIR/cc.x" kinit -k -t "$KT_OLD" host/c.example.test \
        >"$KS_TMPDIR/kinit-old.out" 2>&1; then
    echo "# note: kinit -k with the keytab written before the boundary works"
else
    echo "# note: kinit -k with the keytab written before the boundary fails: $(cat "$KS_TMPDIR/kinit-old.out")"
fi

# --- Still period 4, after the kvno 3 TGT expired (it lived 12h). ---
set_clock "2027-03-04 23:55:00"
expect_ok "the kvno 3 TGT can be renewed one period later (kvno 3 still served)" \
    ft env KRB5CCNAME="FILE:$KS_TMPDIR/cc.renew1" kinit -R
expect_eq "  ... and the renewed TGT has kvno 4" 4 \
    "$(kvno_of "FILE:$KS_TMPDIR/cc.renew1" krbtgt/EXAMPLE.TEST)"

# --- Period 5: kvno 3 is current - 2. ---
set_clock "2027-03-05 12:10:00"
expect_match "the KDC serves kvno 5 and 4 for krbtgt" '^Key: vno 5, aes256-cts-hmac-sha1-96$' \
    ks_kadmin_local -q "getprinc krbtgt/EXAMPLE.TEST"
if grep -q '^Key: vno 3,' <<<"$KS_OUT"; then
    fail "the KDC no longer serves kvno 3"
else
    pass "the KDC no longer serves kvno 3"
fi
expect_fail "a kvno 3 TGT (current - 2) is no longer accepted" \
    'PROCESS_TGS|No matching key|not available' \
    ft env KRB5CCNAME="FILE:$KS_TMPDIR/cc.renew2" kinit -R
expect_ok "  ... the KDC finds no key for it" \
    grep -Eq 'TGS_REQ .*krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST, No matching key in entry' "$R/kdc.log"
KT_5=$KS_TMPDIR/5.keytab
expect_ok "keytab written in period 5" \
    ft "$KSTATELESS" keytab -k "$KT_5" host/c.example.test
CC5=FILE:$KS_TMPDIR/cc.5
expect_ok "kinit -k in period 5" ft env KRB5CCNAME="$CC5" kinit -k -t "$KT_5" host/c.example.test
expect_fail "a kvno 5 ticket does not validate with the keytab of period 3 (kvno 3, 4)" \
    'keytab entry invalid|No key table entry found|Key version number for principal in key table is incorrect|Key version is not available' \
    ft env KRB5CCNAME="$CC5" kvno -k "$KT_OLD" host/a.example.test
expect_match "  ... and validates with the keytab of period 4 (kvno 4, 5)" \
    '^host/c\.example\.test@EXAMPLE\.TEST: kvno = 5, keytab entry valid$' \
    ft env KRB5CCNAME="$CC5" kvno -k "$KT_NEW" host/c.example.test
finish
