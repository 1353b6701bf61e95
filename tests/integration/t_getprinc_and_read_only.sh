#!/bin/bash
# Entries look normal: kadmin.local getprinc shows kvnos, enctypes,
# attributes and maximum life for krbtgt, a derived service, a device and
# devreg; every modifying kadmin operation fails with the read-only
# message; 'kvno SERVICE' prints the current kvno, computed here from
# key_epoch, key_period and the clock.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir
export TZ=UTC

EPOCH=1700006400        # 2023-11-15 00:00:00Z
PERIOD=86400            # 1d: services and krbtgt live 12h, devreg 30d
SKEW=300                # [libdefaults] clockskew default
R=$KS_TMPDIR/r
realm_create "$R" --dbmod "key_epoch = $EPOCH" --dbmod "key_period = 1d" \
    --dbmod 'service = HTTP/*.example.test require_auth=devreg-provisioned' ||
    { fail "realm_create"; finish; }
realm_env "$R"
export KRB5CCNAME=FILE:$KS_TMPDIR/cc

# Stay clear of a key period boundary while the test runs.
now=$(date +%s)
left=$((PERIOD - (now - EPOCH) % PERIOD))
if [ "$left" -lt 30 ]; then
    sleep $((left + 1))
fi
CUR=$(ks_kvno_at "$EPOCH" "$PERIOD" "$(date +%s)")
PREV=$((CUR - 1))
ENCTYPES="aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128"
echo "# current kvno $CUR"
since=$(date -u -d "@$((EPOCH + (CUR - 1) * PERIOD))" '+%a %b %d %H:%M:%S %Z %Y')

# keys_are DESC OUTPUT KVNO...: OUTPUT lists exactly the four AES enctypes
# for each KVNO and no other key.
keys_are() {
    local desc=$1 out=$2 v e want got
    shift 2
    want=""
    for v in "$@"; do
        for e in $ENCTYPES; do
            want="$want$v $e"$'\n'
        done
    done
    got=$(sed -n 's/^Key: vno \([0-9]*\), \([^ ]*\).*/\1 \2/p' <<<"$out" | sort)
    want=$(printf '%s' "$want" | sort)
    expect_eq "$desc" "$want" "$got"
}

getprinc() {
    ks_kadmin_local -q "getprinc $1"
}

# krbtgt: current and previous kvno, max life period/2.
expect_match "getprinc krbtgt/EXAMPLE.TEST" \
    '^Principal: krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST$' getprinc krbtgt/EXAMPLE.TEST
out=$KS_OUT
keys_are "krbtgt keys: kvno $CUR and $PREV, four AES enctypes" "$out" "$CUR" "$PREV"
expect_match "krbtgt: 8 keys" '^Number of keys: 8$' echo "$out"
expect_match "krbtgt: maximum life 12h (key_period/2)" \
    '^Maximum ticket life: 0 days 12:00:00$' echo "$out"
expect_match "krbtgt: maximum renewable life 7d" \
    '^Maximum renewable life: 7 days 00:00:00$' echo "$out"
expect_match "krbtgt: last modified at the start of kvno $CUR by krb5-stateless" \
    "^Last modified: $since \(krb5-stateless@EXAMPLE\.TEST\)$" echo "$out"
expect_match "krbtgt: no attributes" '^Attributes:$' echo "$out"

# A derived service.
expect_match "getprinc host/a.example.test (derived service)" \
    '^Principal: host/a\.example\.test@EXAMPLE\.TEST$' getprinc host/a.example.test
out=$KS_OUT
keys_are "host/a keys: kvno $CUR and $PREV, four AES enctypes" "$out" "$CUR" "$PREV"
expect_match "host/a: maximum life 12h (key_period/2)" \
    '^Maximum ticket life: 0 days 12:00:00$' echo "$out"
expect_match "host/a: no attributes" '^Attributes:$' echo "$out"
expect_match "a service glob's attribute is a string attribute" \
    '^require_auth: devreg-provisioned$' \
    ks_kadmin_local -q "getstrs HTTP/www.example.test"

# A device: keyless, preauth, user-to-user only, 10h.
expect_match "getprinc device/d1" '^Principal: device/d1@EXAMPLE\.TEST$' \
    getprinc device/d1
out=$KS_OUT
expect_match "device/d1: no keys" '^Number of keys: 0$' echo "$out"
expect_match "device/d1: REQUIRES_PRE_AUTH DISALLOW_SVR" \
    '^Attributes: REQUIRES_PRE_AUTH DISALLOW_SVR$' echo "$out"
expect_match "device/d1: maximum life 10h" '^Maximum ticket life: 0 days 10:00:00$' \
    echo "$out"

# devreg: old kvnos served as long as a 30-day registration ticket lives:
# ceil((30d + clockskew) / 1d) = 31 previous kvnos.
NPREV=$(((30 * 86400 + SKEW + PERIOD - 1) / PERIOD))
expect_match "getprinc devreg/EXAMPLE.TEST" '^Principal: devreg/EXAMPLE\.TEST@EXAMPLE\.TEST$' \
    getprinc devreg/EXAMPLE.TEST
out=$KS_OUT
keys_are "devreg keys: kvno $((CUR - NPREV)) to $CUR" "$out" $(seq "$((CUR - NPREV))" "$CUR")
expect_match "devreg: maximum life 30d (registration_max_life)" \
    '^Maximum ticket life: 30 days 00:00:00$' echo "$out"
expect_match "devreg: DISALLOW_TGT_BASED" '^Attributes: DISALLOW_TGT_BASED$' echo "$out"

expect_output "getprinc of a name matching nothing: does not exist" \
    'Principal does not exist' getprinc ldap/x.example.test
expect_output "getprinc of a malformed device id: does not exist" \
    'Principal does not exist' getprinc device/-d1
expect_match "listprincs lists krbtgt" \
    'krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST' ks_kadmin_local -q listprincs
expect_match "listprincs lists devreg" 'devreg/EXAMPLE\.TEST@EXAMPLE\.TEST' echo "$KS_OUT"

# Every modification fails with the read-only message.  (kadmin.local -q
# exits 0 even when its command fails, so only the output is checked.)
RO="stateless: cannot (store a principal|change keys|delete a principal|rename a principal): the stateless backend is read-only \(keys derive from the realm secret: add 'service =' globs to kdc\.conf and write keytabs with 'kstateless keytab'\)"
for q in "addprinc -randkey foo/bar.example.test" "addprinc -pw secret foo" \
         "modprinc -maxlife 1h host/a.example.test" \
         "delprinc -force host/a.example.test" \
         "cpw -randkey host/a.example.test" "cpw -pw secret host/a.example.test" \
         "ktadd -k $KS_TMPDIR/ktadd.kt host/a.example.test" \
         "setstr host/a.example.test name value" \
         "renprinc -force host/a.example.test ldap/z.example.test"; do
    expect_output "kadmin.local $q: read-only" "$RO" ks_kadmin_local -q "$q"
done
if [ -s "$KS_TMPDIR/ktadd.kt" ]; then
    fail "the refused ktadd wrote a keytab"
else
    pass "the refused ktadd wrote no keytab"
fi
expect_output "the refused addprinc added nothing" 'Principal does not exist' \
    getprinc foo/bar.example.test
expect_match "host/a's keys are unchanged" "^Key: vno $CUR, aes256-cts-hmac-sha1-96$" \
    getprinc host/a.example.test
expect_match "host/a's maximum life is unchanged" '^Maximum ticket life: 0 days 12:00:00$' \
    echo "$KS_OUT"

# kvno SERVICE prints the current kvno.
kdc_start "$R" || { fail "kdc_start"; finish; }
expect_ok "keytab for a client service" \
    kstateless keytab -k "$KS_TMPDIR/client.kt" host/client.example.test
expect_ok "kinit -k host/client.example.test" \
    kinit -k -t "$KS_TMPDIR/client.kt" host/client.example.test
expect_match "kvno host/b.example.test prints the current kvno $CUR" \
    "^host/b\.example\.test@EXAMPLE\.TEST: kvno = $CUR$" kvno host/b.example.test
expect_match "kvno krbtgt/EXAMPLE.TEST prints the current kvno $CUR" \
    "^krbtgt/EXAMPLE\.TEST@EXAMPLE\.TEST: kvno = $CUR$" kvno krbtgt/EXAMPLE.TEST
# Ticket lives are capped at key_period/2 (the client asks for 24h).
life() {
    local -a f
    read -r -a f < <(klist | grep " $1@EXAMPLE.TEST\$")
    set -- "${f[@]}"
    echo $(($(date -d "$3 $4" +%s) - $(date -d "$1 $2" +%s)))
}
expect_eq "the TGT lives 12h (key_period/2)" 43200 "$(life krbtgt/EXAMPLE.TEST)"
l=$(life host/b.example.test)
if [ -n "$l" ] && [ "$l" -le 43200 ] && [ "$l" -gt 43000 ]; then
    pass "the service ticket lives at most 12h ($l s)"
else
    fail "the service ticket lives at most 12h ($l s)"
fi
finish
