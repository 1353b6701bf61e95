#!/bin/bash
# Temporary server keys over time (issue 4, items 2-5): with krb5kdc -w 2 a
# key registered through one worker is served by both at once; a key is
# still served after kill -9 of the KDC right after its registration;
# ktempkey run rotates short-lived keys while a loop of kvno + kvno -k
# validations runs, and none fails; ktempkey run honours the KDC's
# renew-by time (tempkey_renew_interval); ktempkey registers each key with
# both KDCs of a realm and either issues tickets in it; after expiry
# without renewal the service gets no tickets, with a clear error.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pki.sh"
ks_tmpdir
_ks_require KTEMPKEY "the built ktempkey program"

P=$KS_TMPDIR/pki
pki_ca "$P" regca && pki_kdc "$P" regca EXAMPLE.TEST rs &&
    pki_kdc "$P" regca EXAMPLE.TEST rs2 && pki_ca "$P" srvca &&
    pki_server "$P" srvca web host/web.example.test EXAMPLE.TEST &&
    pki_server "$P" srvca short host/short.example.test EXAMPLE.TEST &&
    pki_server "$P" srvca rot host/rot.example.test EXAMPLE.TEST ||
    { fail "making the test certificates with openssl"; finish; }

A=$KS_TMPDIR/a
B=$KS_TMPDIR/b
opts=(--realmopt "tempkey_anchors = FILE:$P/srvca.pem"
      --realmopt 'tempkey_max_life = 1h' --libdefault 'clockskew = 10')
realm_create "$A" --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" \
    "${opts[@]}" || { fail "realm_create a"; finish; }
realm_create "$B" --secret "$A/stateless.secret" \
    --realmopt "devreg_identity = FILE:$P/rs2.pem,$P/rs2.key" "${opts[@]}" ||
    { fail "realm_create b"; finish; }
realm_enable_tempkey "$A"
realm_enable_tempkey "$B"

KT=$KS_TMPDIR/web.keytab
WEB=(-p host/web.example.test -k "$KT" --identity "FILE:$P/web.pem,$P/web.key"
     --anchor "FILE:$P/regca.pem")
tk() {
    ks_module_host "$KTEMPKEY" "$@" </dev/null
}
realm_env "$A"
kstateless keytab -k "$KS_TMPDIR/client.keytab" host/client.example.test \
    >/dev/null 2>&1 || fail "kstateless keytab for the client"
# fresh_kvno: a new client ccache and a service ticket (printing kvno's
# line), as an ordinary client that has no ticket cached.
# FRESH_SERVICE (default host/web.example.test) names the service.
fresh_kvno() {
    local cc
    cc=$(mktemp "$KS_TMPDIR/cc.XXXXXX")
    KRB5CCNAME=FILE:$cc ks_module_host kinit -k -t "$KS_TMPDIR/client.keytab" \
        host/client.example.test || return 1
    KRB5CCNAME=FILE:$cc ks_module_host kvno "$@" "${FRESH_SERVICE:-host/web.example.test}"
    local rc=$?
    rm -f "$cc"
    return $rc
}

# --- krb5kdc -w 2 ----------------------------------------------------
kdc_start "$A" 2 || { fail "kdc_start -w 2"; finish; }
expect_match "register key id 1 through the worker KDC" 'registered key id 1 ' \
    tk register "${WEB[@]}" --lifetime 30m
mark=$(wc -l <"$A/kdc.log")
ok=0 bad=0
for i in $(seq 1 24); do
    if fresh_kvno 2>&1 | grep -q 'kvno = 1$'; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
done
expect_eq "24 fresh tickets right after the registration all carry key id 1" \
    "24 0" "$ok $bad"
pids=$(tail -n +"$((mark + 1))" "$A/kdc.log" |
    grep -E 'TGS_REQ .*ISSUE: .* for host/web\.example\.test@' |
    sed -E 's/.*krb5kdc\[([0-9]+)\].*/\1/' | sort -u | wc -l)
if [ "$pids" -ge 2 ]; then
    pass "both workers issued tickets in the new key ($pids processes)"
else
    fail "only $pids worker process(es) issued the tickets; expected both"
fi

# --- kill -9 right after a registration --------------------------------
expect_match "register key id 2" 'registered key id 2 ' \
    tk register "${WEB[@]}" --lifetime 30m
kdc_kill9 "$A"
kdc_start "$A" 2 || { fail "restart after kill -9"; finish; }
expect_match "after kill -9 and a restart the key is still served" \
    'kvno = 2$' fresh_kvno
expect_match "and validates" 'kvno = 2, keytab entry valid' fresh_kvno -k "$KT"

# --- rotation under load -----------------------------------------------
# A principal of its own, whose keys all live 12 s: ktempkey run registers
# the next one every 6 s and prunes a key once it and the clock skew (10 s)
# have passed.
kdc_stop "$A"
kdc_start "$A" || { fail "kdc_start"; finish; }
KTR=$KS_TMPDIR/rot.keytab
ROT=(-p host/rot.example.test -k "$KTR" --identity "FILE:$P/rot.pem,$P/rot.key"
     --anchor "FILE:$P/regca.pem")
"$KTEMPKEY" run "${ROT[@]}" --lifetime 12s -d \
    >"$KS_TMPDIR/run.log" 2>&1 </dev/null &
runpid=$!
export FRESH_SERVICE=host/rot.example.test
for i in $(seq 1 50); do
    [ -s "$KTR.tempkey" ] && break
    sleep 0.2
done
ok=0 bad=0
declare -A seen=()
deadline=$((SECONDS + 40))
while [ $SECONDS -lt $deadline ]; do
    out=$(fresh_kvno -k "$KTR" 2>&1)
    if grep -q 'keytab entry valid' <<<"$out"; then
        ok=$((ok + 1))
        seen[$(sed -nE 's/.*kvno = ([0-9]+),.*/\1/p' <<<"$out")]=1
    else
        bad=$((bad + 1))
        echo "validation failed: $out" >&2
    fi
done
kill -TERM "$runpid" 2>/dev/null
wait "$runpid"
rc=$?
unset FRESH_SERVICE
expect_eq "no validation failed while ktempkey run rotated keys ($ok ok)" 0 "$bad"
if [ "${#seen[@]}" -ge 4 ] && [ "$ok" -ge 20 ]; then
    pass "validations saw ${#seen[@]} key ids: ${!seen[*]}"
else
    fail "expected >= 4 key ids and >= 20 validations, saw ${#seen[@]} (${!seen[*]}) and $ok"
fi
expect_eq "ktempkey run exits 0 on SIGTERM" 0 "$rc"
expect_ok "ktempkey run pruned expired keys from the keytab" \
    grep -q 'prun' "$KS_TMPDIR/run.log"
kept=$(klist -k "$KTR" | awk '$2 == "host/rot.example.test@EXAMPLE.TEST" {print $1}' | sort -u | wc -l)
if [ "$kept" -le 5 ]; then
    pass "the keytab keeps only the keys whose tickets may be valid ($kept key ids)"
else
    fail "the keytab keeps $kept key ids"
fi

# --- the KDC's renew-by ------------------------------------------------
kdc_stop "$A"
sed -i 's|^\( *\)tempkey_max_life = 1h|&\n\1tempkey_renew_interval = 3s|' "$A/kdc.conf"
kdc_start "$A" || { fail "kdc_start with tempkey_renew_interval"; finish; }
expect_match "the KDC asks for the next key 3 s after a registration" \
    'registered key id .* renew by' tk register "${WEB[@]}" --lifetime 10m
"$KTEMPKEY" run "${WEB[@]}" --lifetime 10m -d >"$KS_TMPDIR/run2.log" 2>&1 </dev/null &
runpid=$!
sleep 8
kill -TERM "$runpid" 2>/dev/null
wait "$runpid"
n=$(grep -c 'registered key id' "$KS_TMPDIR/run2.log")
if [ "$n" -ge 2 ]; then
    pass "ktempkey run re-registered at the KDC's renew-by (3 s), not at half of 10m ($n registrations in 8 s)"
else
    fail "ktempkey run registered $n time(s) in 8 s with renew-by 3 s"
    sed 's/^/    /' "$KS_TMPDIR/run2.log" >&2
fi

# --- two KDCs --------------------------------------------------------
kdc_stop "$A"
kdc_start "$A" || { fail "kdc_start a"; finish; }
kdc_start "$B" || { fail "kdc_start b"; finish; }
BOTH=$KS_TMPDIR/both.conf
sed "s|^\( *\)kdc = 127.0.0.1:$(cat "$A/port")|&\n\1kdc = 127.0.0.1:$(cat "$B/port")|" \
    "$A/krb5.conf" >"$BOTH"
out=$(KRB5_CONFIG=$BOTH tk register "${WEB[@]}" --lifetime 30m 2>&1)
echo "$out" | sed 's/^/    /'
id=$(sed -nE 's/.*registered key id ([0-9]+) .*/\1/p' <<<"$out" | sort -u)
nk=$(grep -c 'registered key id' <<<"$out")
if [ "$nk" -eq 2 ] && [ "$(wc -w <<<"$id")" -eq 1 ]; then
    pass "ktempkey registered key id $id with both KDCs"
else
    fail "expected one key id registered twice, got: $out"
fi
expect_match "KDC A issues tickets in it" "kvno = $id, keytab entry valid" \
    realm_run "$A" fresh_kvno -k "$KT"
expect_match "KDC B issues tickets in it" "kvno = $id, keytab entry valid" \
    realm_run "$B" fresh_kvno -k "$KT"

# --- expiry without renewal ----------------------------------------------
# Another principal, so that no longer-lived key of it is left.
KTS=$KS_TMPDIR/short.keytab
SHORT=(-p host/short.example.test -k "$KTS"
       --identity "FILE:$P/short.pem,$P/short.key" --anchor "FILE:$P/regca.pem")
export FRESH_SERVICE=host/short.example.test
expect_match "register a key living 4 s" 'registered key id 1 ' \
    tk register "${SHORT[@]}" --lifetime 4s
expect_match "its tickets validate" 'keytab entry valid' fresh_kvno -k "$KTS"
sleep 6
expect_match "kstateless tempkeys list marks the key expired" 'expired' \
    kstateless tempkeys list host/short.example.test
expect_fail "after expiry the service gets no tickets, with a clear error" \
    'expired' fresh_kvno
expect_match "a new registration after expiry works" 'registered key id 2 ' \
    tk register "${SHORT[@]}" --lifetime 30m
expect_match "and the service has tickets again" 'kvno = 2, keytab entry valid' \
    fresh_kvno -k "$KTS"
finish
