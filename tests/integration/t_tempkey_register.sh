#!/bin/bash
# Temporary server keys (issue 4, items 1-3 and 6): ktempkey registers a
# key for host/web.example.test; an ordinary client's stock kvno gets a
# ticket whose kvno is the key id, kvno -k validates it with the keytab,
# kinit -k logs in with it; the next registration takes the next key id;
# tickets never outlive the key; kstateless tempkeys lists (no key bytes)
# and purges; a certificate naming the host by dNSName (no EKU) works for
# a tempkey_services principal, which is unknown before its first key.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pki.sh"
ks_tmpdir
_ks_require KTEMPKEY "the built ktempkey program"

P=$KS_TMPDIR/pki
pki_ca "$P" regca && pki_kdc "$P" regca EXAMPLE.TEST rs &&
    pki_ca "$P" srvca &&
    pki_server "$P" srvca web host/web.example.test EXAMPLE.TEST &&
    pki_server_dns "$P" srvca www www.example.test 30 none ||
    { fail "making the test certificates with openssl"; finish; }

R=$KS_TMPDIR/sl
realm_create "$R" --dbmod 'tempkey_services = www/*' \
    --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" \
    --realmopt "tempkey_anchors = FILE:$P/srvca.pem" \
    --realmopt 'tempkey_max_life = 2h'
realm_enable_tempkey "$R"
realm_env "$R"
kdc_start "$R" || { fail "the KDC did not start"; finish; }

KT=$KS_TMPDIR/web.keytab
tk() {
    ks_module_host "$KTEMPKEY" "$@" --anchor "FILE:$P/regca.pem" </dev/null
}
WEB=(-p host/web.example.test -k "$KT" --identity "FILE:$P/web.pem,$P/web.key")

expect_match "ktempkey register reports key id 1" \
    'registered key id 1 of host/web.example.test@EXAMPLE.TEST' \
    tk register "${WEB[@]}" --lifetime 1h
expect_match "the keytab holds key id 1" ' 1 host/web.example.test@EXAMPLE.TEST' \
    klist -k "$KT"
expect_eq "the keytab is mode 0600" 600 "$(stat -c %a "$KT")"

# An ordinary client (a user with a password would do; a derived-key
# service principal is simpler here).
kstateless keytab -k "$KS_TMPDIR/user.keytab" host/client.example.test >/dev/null ||
    fail "kstateless keytab for the client"
export KRB5CCNAME=FILE:$KS_TMPDIR/cc.client
expect_ok "the client logs in" \
    ks_module_host kinit -k -t "$KS_TMPDIR/user.keytab" host/client.example.test
expect_match "kvno prints the registered key id" \
    'host/web.example.test@EXAMPLE.TEST: kvno = 1$' ks_module_host kvno host/web.example.test
expect_match "kvno -k validates the ticket with the server's keytab" \
    'kvno = 1, keytab entry valid' ks_module_host kvno -k "$KT" host/web.example.test

# The ticket ends no later than the key.
expiry=$(awk '$1 == "host/web.example.test@EXAMPLE.TEST" && $2 == 1 {print $4}' \
    "$KT.tempkey")
end=$(klist | awk '/host\/web.example.test@/ {print $3" "$4}')
end_s=$(date -d "$end" +%s)
if [ -n "$expiry" ] && [ "$end_s" -le "$expiry" ]; then
    pass "the ticket ends ($end) no later than the key's expiry"
else
    fail "the ticket ends at $end ($end_s), after the key's expiry '$expiry'"
fi

expect_ok "kinit -k with the temporary key" \
    ks_module_host kinit -k -t "$KT" -c "FILE:$KS_TMPDIR/cc.web" \
    host/web.example.test

expect_match "a second registration takes key id 2" \
    'registered key id 2 of host/web.example.test' \
    tk register "${WEB[@]}" --lifetime 1h
kdestroy >/dev/null 2>&1
ks_module_host kinit -k -t "$KS_TMPDIR/user.keytab" host/client.example.test
expect_match "new tickets carry key id 2" \
    'host/web.example.test@EXAMPLE.TEST: kvno = 2$' ks_module_host kvno host/web.example.test
expect_match "and validate" 'kvno = 2, keytab entry valid' \
    ks_module_host kvno -k "$KT" host/web.example.test

list_oneline() {
    kstateless tempkeys list | tr '\n' ' '
}
expect_match "kstateless tempkeys list shows both key ids" \
    'host/web.example.test@EXAMPLE.TEST +1 .*host/web.example.test@EXAMPLE.TEST +2 ' \
    list_oneline
# No key bytes: the list has no long hex or base64 runs.
if kstateless tempkeys list | grep -Eq '[0-9A-Fa-f]{32}|[A-Za-z0-9+/]{40}'; then
    fail "kstateless tempkeys list prints something like key bytes"
else
    pass "kstateless tempkeys list prints no key material"
fi

# dNSName certificate, no EKU, for a tempkey_services principal.
expect_fail "an unregistered tempkey_services principal is unknown" \
    'not found in Kerberos database' ks_module_host kvno www/www.example.test
KT2=$KS_TMPDIR/www.keytab
expect_match "a dNSName certificate without EKU registers www/www.example.test" \
    'registered key id 1 of www/www.example.test' \
    tk register -p www/www.example.test -k "$KT2" \
    --identity "FILE:$P/www.pem,$P/www.key"
expect_match "its tickets validate" 'kvno = 1, keytab entry valid' \
    ks_module_host kvno -k "$KT2" www/www.example.test

# Purge: the principal forgets its keys.
expect_ok "kstateless tempkeys purge www/www.example.test" \
    kstateless tempkeys purge www/www.example.test@EXAMPLE.TEST
kdestroy >/dev/null 2>&1
ks_module_host kinit -k -t "$KS_TMPDIR/user.keytab" host/client.example.test
expect_fail "after the purge it has no tickets" 'not found in Kerberos database' \
    ks_module_host kvno www/www.example.test

# Another backend: MIT's db2 cannot hold temporary keys, and the module
# says so (krb5-stateless(7), TEMPORARY SERVER KEYS, Other backends).
kdc_stop "$R"
D=$KS_TMPDIR/db2
realm_create "$D" --backend db2 \
    --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" \
    --realmopt "tempkey_anchors = FILE:$P/srvca.pem"
realm_enable_tempkey "$D"
realm_env "$D"
ks_kadmin_local -q "addprinc -nokey +requires_preauth host/web.example.test" \
    >/dev/null 2>&1
kdc_start "$D" || { fail "the db2 KDC with tempkey did not start"; finish; }
expect_fail "a db2 realm refuses temporary keys, naming the cause" \
    "db_library = db2.*cannot store temporary keys.*\[unsupported-database\]" \
    tk register "${WEB[@]}" -k "$KS_TMPDIR/db2.keytab"
finish
