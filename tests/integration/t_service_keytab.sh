#!/bin/bash
# Service keytabs: 'kstateless keytab' writes the current and next kvno of
# every enctype (mode 0600, merging into an existing keytab, atomically);
# kinit -k works with it; kvno -k validates a ticket that another client
# (a second service with its own keytab) fetched; krbtgt, devreg, device
# and unmatched names are refused; unmatched services are not found by the
# KDC and a service glob's require_auth is enforced.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir
umask 022

# The default schedule: key_epoch 1767225600, key_period 7d.
EPOCH=1767225600
PERIOD=604800
R=$KS_TMPDIR/r
realm_create "$R" \
    --dbmod 'service = HTTP/*.example.test require_auth=devreg-provisioned' ||
    { fail "realm_create"; finish; }
realm_env "$R"
kdc_start "$R" || { fail "kdc_start"; finish; }

now=$(date +%s)
left=$((PERIOD - (now - EPOCH) % PERIOD))
[ "$left" -lt 30 ] && sleep $((left + 1))
CUR=$(ks_kvno_at "$EPOCH" "$PERIOD" "$(date +%s)")
NEXT=$((CUR + 1))
ENCTYPES="aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128"
echo "# current kvno $CUR"

# entries KEYTAB PRINC: print "kvno enctype" for PRINC's entries, sorted.
entries() {
    klist -kte "$1" | awk -v p="$2@EXAMPLE.TEST" \
        '$4 == p { e = $5; gsub(/[()]/, "", e); print $1, e }' | sort
}
want=$(for v in "$CUR" "$NEXT"; do for e in $ENCTYPES; do echo "$v $e"; done; done | sort)

KA=$KS_TMPDIR/a.keytab
expect_match "kstateless keytab host/a.example.test" \
    "^Wrote keys of host/a\.example\.test, kvno $CUR \(current\) and $NEXT \(next\), 4 enctypes, to $(re_escape "$KA")$" \
    kstateless keytab -k "$KA" host/a.example.test
expect_eq "the keytab holds kvno $CUR and $NEXT for the four AES enctypes" \
    "$want" "$(entries "$KA" host/a.example.test)"
expect_eq "the keytab holds nothing else" 8 \
    "$(klist -k "$KA" | grep -c '@EXAMPLE.TEST')"
expect_eq "the keytab has mode 0600" 600 "$(stat -c %a "$KA")"

# Merging into an existing keytab (written by ktutil, mode 0644).
KM=$KS_TMPDIR/merged.keytab
printf 'addent -password -p other@EXAMPLE.TEST -k 7 -e aes256-cts-hmac-sha1-96\nsomepassword\nwkt %s\nquit\n' \
    "$KM" | ktutil >/dev/null 2>&1
chmod 644 "$KM"
chown nobody:nogroup "$KM"
expect_ok "kstateless keytab into an existing keytab" \
    kstateless keytab -k "FILE:$KM" host/a.example.test
expect_match "the existing entry survives" '^ +7 .* other@EXAMPLE\.TEST \(aes256-cts-hmac-sha1-96\)' \
    klist -kte "$KM"
expect_eq "the merged keytab holds host/a's 8 keys" "$want" "$(entries "$KM" host/a.example.test)"
expect_eq "the merged keytab keeps owner, group and group-read, not other-read" \
    "nobody:nogroup 640" "$(stat -c '%U:%G %a' "$KM")"
# A keytab path that is a symbolic link: the file it points to is replaced.
ln -s "$KM" "$KS_TMPDIR/link.keytab"
expect_ok "kstateless keytab through a symbolic link" \
    kstateless keytab -k "$KS_TMPDIR/link.keytab" host/a.example.test
expect_eq "the link is still a link to the merged keytab" "$KM" \
    "$(readlink "$KS_TMPDIR/link.keytab")"
rm -f "$KS_TMPDIR/link.keytab"
expect_ok "writing host/a again and adding host/c" \
    kstateless keytab -k "$KM" host/a.example.test host/c.example.test
expect_eq "rewriting replaces entries instead of duplicating them" 17 \
    "$(klist -k "$KM" | grep -c '@EXAMPLE.TEST')"
expect_eq "host/c's 8 keys were added" "$want" "$(entries "$KM" host/c.example.test)"
left=$(find "$KS_TMPDIR" -maxdepth 1 -name '*.keytab?*')
expect_eq "no temporary keytab is left behind" "" "$left"

# kinit -k with the derived keytab.
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.a
expect_ok "kinit -k -t KEYTAB host/a.example.test" \
    kinit -k -t "$KA" host/a.example.test
expect_match "host/a holds a TGT" 'krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST' klist

# Another client (host/c with its own keytab) fetches a ticket for host/a,
# which host/a's keytab validates.
KC=$KS_TMPDIR/c.keytab
expect_ok "kstateless keytab host/c.example.test" \
    kstateless keytab -k "$KC" host/c.example.test
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.c
expect_ok "kinit -k -t KEYTAB host/c.example.test" \
    kinit -k -t "$KC" host/c.example.test
expect_match "kvno -k validates host/c's ticket for host/a with host/a's keytab" \
    "^host/a\.example\.test@EXAMPLE\.TEST: kvno = $CUR, keytab entry valid$" \
    kvno -k "$KA" host/a.example.test
expect_fail "a keytab without host/a does not validate it" \
    'keytab entry invalid|No key table entry found' \
    kvno -k "$KC" host/a.example.test
expect_match "kvno -k with the merged keytab" "keytab entry valid" \
    kvno -k "$KM" host/a.example.test

# Refused principals: nothing is written.
KR=$KS_TMPDIR/refused.keytab
cp "$KA" "$KR"
hash=$(sha256sum <"$KR")
expect_fail "krbtgt gets no keytab" \
    '^kstateless: krbtgt/EXAMPLE\.TEST is a realm TGS principal; only derived service principals get keytabs \(realm keys never leave the KDC\)' \
    kstateless keytab -k "$KR" krbtgt/EXAMPLE.TEST
expect_eq "refusal exits 1" 1 "$KS_RC"
expect_fail "krbtgt@REALM gets no keytab" 'is a realm TGS principal' \
    kstateless keytab -k "$KR" krbtgt/EXAMPLE.TEST@EXAMPLE.TEST
expect_fail "devreg gets no keytab" \
    '^kstateless: devreg/EXAMPLE\.TEST is a registration service principal; only derived service principals get keytabs \(realm keys never leave the KDC\)' \
    kstateless keytab -k "$KR" devreg/EXAMPLE.TEST
expect_fail "a device gets no keytab" \
    '^kstateless: device/d1 is a device principal; only derived service principals get keytabs \(devices have no keys\)' \
    kstateless keytab -k "$KR" device/d1
expect_fail "a name matching no service glob gets no keytab" \
    "^kstateless: ldap/x\.example\.test matches no service pattern in \[dbmodules\] stateless \(add a 'service =' glob for it\)" \
    kstateless keytab -k "$KR" ldap/x.example.test
expect_fail "one refused name among good ones writes nothing" 'matches no service pattern' \
    kstateless keytab -k "$KR" host/z.example.test ldap/x.example.test
expect_eq "refused requests leave the keytab unchanged" "$hash" "$(sha256sum <"$KR")"
expect_fail "a refused request creates no keytab" 'is a realm TGS principal' \
    kstateless keytab -k "$KS_TMPDIR/none.keytab" krbtgt/EXAMPLE.TEST
if [ -e "$KS_TMPDIR/none.keytab" ]; then
    fail "a refused request created a keytab"
else
    pass "no keytab file was created"
fi
expect_fail "kstateless keytab without a principal is a usage error" 'usage: ' \
    kstateless keytab -k "$KR"
expect_eq "usage errors exit 2" 2 "$KS_RC"

# The KDC: names outside the globs are not found; require_auth is enforced.
expect_fail "kvno of a service matching no glob: not found" \
    'Server ldap/x\.example\.test@EXAMPLE\.TEST not found in Kerberos database' \
    kvno ldap/x.example.test
expect_fail "globs match whole components (host/* does not match host/a/b)" \
    'not found in Kerberos database' kvno host/a/b.example.test
expect_fail "a service glob with require_auth: KDC policy rejects the request" \
    'KDC policy rejects request' kvno HTTP/www.example.test
expect_ok "the require_auth service still gets a keytab" \
    kstateless keytab -k "$KS_TMPDIR/http.keytab" HTTP/www.example.test
finish
