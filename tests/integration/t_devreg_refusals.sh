#!/bin/bash
# Refusals of issue 3 not covered elsewhere (replay: t_login_replay.sh;
# wrong key, unstaged device, certificates, anonymous policy:
# t_register_and_login.sh): a registration with a missing, stale or
# invalid freshness token; a login with a tampered registration ticket,
# with device A's registration ticket as device B (renamed by the client,
# and presented unchanged with A's own authenticator), and with an expired
# registration ticket.  For each: the request fails, the KDC's log names
# the cause (the line "preauth (devreg) verify failure: <cause>"), the
# client's output names the same cause, the causes the client sees are
# all different, and a good registration or login right after succeeds.
#
# Requests that stock kinit cannot make are made by devreg_tamper, which
# runs the same client library and devreg module in-process and tampers
# through the library's KDC send/receive hooks; it prints the line stock
# kinit would print for the same error.  The freshness token is made stale
# by waiting longer than the realm's clock skew (3 s here) between the
# KDC's challenge and the answer.  The KDC-side expiry check runs with the
# KDC's clock two hours ahead (libfaketime, KDC only), since a client whose
# clock agrees refuses an expired credential itself.
#
# The client's output ("the client is told why") comes from the KDC's
# refusal text, sent as e-data and made the error message by the client
# module (doc/devreg-protocol.md, "Client-visible errors").
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pki.sh"
ks_tmpdir
TAMPER=${KS_DEVREG_TAMPER:-$KS_TOP_BUILDDIR/tests/integration/devreg_tamper}
[ -x "$TAMPER" ] || { fail "devreg_tamper not built ($TAMPER)"; finish; }

FAKETIME_LIB=${KS_FAKETIME_LIB:-}
for f in "$FAKETIME_LIB" /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
         /usr/lib/*/faketime/libfaketime.so.1; do
    if [ -n "$f" ] && [ -e "$f" ]; then
        FAKETIME_LIB=$f
        break
    fi
done

P=$KS_TMPDIR/pki
pki_ca "$P" regca && pki_kdc "$P" regca EXAMPLE.TEST rs &&
    pki_selfsigned "$P" d1 p256 && pki_selfsigned "$P" d2 p256 ||
    { fail "making the test certificates with openssl"; finish; }

SKEW=3
R=$KS_TMPDIR/sl
realm_create "$R" --realmopt 'max_life = 60d' \
    --libdefault "clockskew = $SKEW" \
    --dbmod 'registration_max_life = 1h' \
    --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" \
    --realmopt 'devreg_allow_anonymous = true'
realm_enable_devreg "$R"
realm_env "$R"
kstateless stage add d1 --pubkey "$P/d1.pem" >/dev/null &&
    kstateless stage add d2 --pubkey "$P/d2.pem" >/dev/null ||
    { fail "staging d1 and d2"; finish; }
# The KDC's clock is the real one until the expiry check moves it
# (FAKETIME_NO_CACHE: libfaketime re-reads the file on each clock read).
export FAKETIME_TIMESTAMP_FILE=$KS_TMPDIR/faketime FAKETIME_NO_CACHE=1
echo "+0" >"$FAKETIME_TIMESTAMP_FILE"
if [ -n "$FAKETIME_LIB" ]; then
    KS_PRELOAD=$FAKETIME_LIB kdc_start "$R" ||
        { fail "the KDC did not start"; finish; }
else
    kdc_start "$R" || { fail "the KDC did not start"; finish; }
fi

C=$KS_TMPDIR
ANCHOR=devreg_anchor=FILE:$P/regca.pem
ID1=devreg_identity=FILE:$P/d1.pem,$P/d1.key
ID2=devreg_identity=FILE:$P/d2.pem,$P/d2.key
# register NAME CCACHE ARGS...: stock kinit registration of device/NAME.
register() {
    local name=$1 cc=$2
    shift 2
    ks_module_host kinit -l 30d -S devreg/EXAMPLE.TEST -X "$ANCHOR" "$@" \
        -c "FILE:$C/$cc" "device/$name" </dev/null
}
# login NAME REG TGT: stock kinit login of device/NAME with REG.
login() {
    ks_module_host kinit -X "devreg_ticket=FILE:$C/$2" -c "FILE:$C/$3" \
        "device/$1" </dev/null
}
# tamper ARGS...: devreg_tamper (our program, built with the sanitizers
# when the module is, so it needs no preloading and keeps leak checks).
tamper() {
    "$TAMPER" "$@" </dev/null
}

expect_ok "d1 registers" register d1 reg.d1 -X "$ID1"
expect_ok "d2 registers" register d2 reg.d2 -X "$ID2"
expect_ok "the control: devreg_tamper registers d1 when it tampers with nothing" \
    tamper register device/d1 "FILE:$C/reg.d1.control" "$ANCHOR" "$ID1"
expect_ok "the control: devreg_tamper logs d1 in" \
    tamper login "FILE:$C/reg.d1" device/d1 "FILE:$C/tgt.control"

# refused DESC CAUSE CMD...: CMD fails without crashing; while it runs the
# KDC issues no ticket and logs a devreg verify failure matching the
# extended regex CAUSE; the line of CMD's output saying why it failed
# matches CAUSE.  That line is added to CLIENT_LINES.
CLIENT_LINES=()
refused() {
    local desc=$1 cause=$2 n newlog line out rc
    shift 2
    n=$(wc -l <"$R/kdc.log")
    out=$("$@" 2>&1)
    rc=$?
    newlog=$(tail -n +"$((n + 1))" "$R/kdc.log")
    if [ "$rc" -eq 0 ]; then
        fail "$desc: refused (it succeeded: $*)"
    elif [ "$rc" -ge 126 ] || _ks_sanitizer_report <<<"$out"; then
        fail "$desc: refused (crashed or sanitizer report, exit $rc: $*)"
    elif [ "$1" = tamper ] && [ "$rc" -ne 1 ]; then
        fail "$desc: refused (devreg_tamper exit $rc: no tampering done)"
    else
        pass "$desc: refused"
        rc=
    fi
    [ -z "$rc" ] || printf '%s\n' "$out" | sed 's/^/    | /'
    # (A tampered request that the KDC wrongly accepts can still fail at
    # the client, whose check of the reply covers the request it made.)
    if grep -q 'ISSUE: ' <<<"$newlog"; then
        fail "$desc: the KDC issued nothing"
        grep 'ISSUE: ' <<<"$newlog" | sed 's/^/    | /'
    else
        pass "$desc: the KDC issued nothing"
    fi
    if grep -Eq -- "preauth \(devreg\) verify failure: .*($cause)" <<<"$newlog"; then
        pass "$desc: the KDC logs why"
    else
        fail "$desc: the KDC logs why (no verify failure matching /$cause/)"
        printf '%s\n' "$newlog" | grep -E 'verify failure|AS_REQ' |
            sed 's/^/    | /' | tail -n 4
    fi
    line=$(grep -E 'while getting initial credentials' <<<"$out" | head -n 1)
    CLIENT_LINES+=("${line:-<no error line>}")
    if grep -Eq -- "$cause" <<<"$line"; then
        pass "$desc: the client is told why"
    else
        fail "$desc: the client is told why (/$cause/ not in '$line')"
        printf '%s\n' "$out" | sed 's/^/    | /'
    fi
}

# A missing freshness token: the device answers the challenge with an
# empty token (anonymous registration, whose auth pack is not signed).
refused "a registration without a freshness token" \
    'no freshness token|missing freshness token|freshness token is missing' \
    tamper empty-token device/a1 "FILE:$C/x" "$ANCHOR" devreg_anonymous=yes
expect_ok "the KDC still serves: a1 registers anonymously" \
    register a1 reg.a1 -X devreg_anonymous=yes

# A stale freshness token: older than the clock skew, while the device's
# own timestamps are fresh.
refused "a registration with a stale freshness token" \
    'stale freshness token|freshness token is stale' \
    tamper stale-token $((SKEW + 2)) device/d1 "FILE:$C/x" "$ANCHOR" "$ID1"
expect_ok "the KDC still serves: d1 registers" register d1 reg.d1b -X "$ID1"

# An invalid freshness token: one byte changed.
refused "a registration with a tampered freshness token" \
    'invalid freshness token|freshness token is not valid' \
    tamper bad-token device/d1 "FILE:$C/x" "$ANCHOR" "$ID1"
expect_ok "the KDC still serves: d1 registers" register d1 reg.d1c -X "$ID1"

# A tampered registration ticket: one byte of its ciphertext changed.
expect_match "a copy of d1's registration with one ticket byte flipped" \
    '^tampered: flipped byte' \
    tamper flip-ticket "FILE:$C/reg.d1" "FILE:$C/reg.flipped"
refused "a login with a tampered registration ticket" \
    'registration ticket (is )?(invalid|tampered|does not decrypt|.*tampered)' \
    login d1 reg.flipped x
expect_ok "the KDC still serves: d1 logs in" login d1 reg.d1 tgt.d1

# Device d1's registration ticket used to log in as device d2.  The
# client-side check (no registration ticket for d2 in the ccache) is
# t_register_and_login.sh's; here the KDC must refuse: first a ccache
# where d1's credential was renamed to d2 (kinit then signs as d2 with
# d1's key), then d1's ticket and d1's own authenticator in d2's request.
expect_match "d1's registration credential stored as d2's" \
    '^tampered: stored' \
    tamper rename "FILE:$C/reg.d1" "FILE:$C/reg.renamed" device/d2
WRONG_DEVICE='belongs to (another device|device/d1)|another device'
refused "kinit as d2 with d1's renamed registration ticket" \
    'the login authenticator and the registration ticket name different devices' \
    login d2 reg.renamed x
refused "a login as d2 with d1's registration ticket and authenticator" \
    "$WRONG_DEVICE" \
    tamper impersonate "FILE:$C/reg.d1" device/d2 "FILE:$C/x"
expect_ok "the KDC still serves: d2 logs in with its own" login d2 reg.d2 tgt.d2
expect_ok "the KDC still serves: d1 logs in with its own" login d1 reg.d1 tgt.d1

# Expired registration ticket (registration_max_life 1h).  A device whose
# clock says so refuses it itself, before asking the KDC:
n=$(wc -l <"$R/kdc.log")
expect_fail "a device 2h ahead does not use its expired registration" \
    'expired' tamper login -t 7200 "FILE:$C/reg.d1" device/d1 "FILE:$C/x"
expect_eq "(that refusal is the client's: the KDC verified nothing)" 0 \
    "$(tail -n +"$((n + 1))" "$R/kdc.log" | grep -c 'verify failure')"
# and the KDC refuses it when its own clock (2h ahead) says so, while the
# device's clock says it is valid.
if [ -n "$FAKETIME_LIB" ]; then
    echo "+7200" >"$FAKETIME_TIMESTAMP_FILE"
    refused "a login with a registration ticket expired by the KDC's clock" \
        'registration ticket (has )?expired|registration ticket is expired' \
        login d1 reg.d1 x
    echo "+0" >"$FAKETIME_TIMESTAMP_FILE"
    expect_ok "the KDC still serves: d1 logs in" login d1 reg.d1 tgt.d1
else
    fail "libfaketime not found (apt-get install faketime, or set" \
        "KS_FAKETIME_LIB): the KDC-side expiry is not tested"
fi

# Each cause reaches the client as a different error.
# (Compared without the program's name: kinit or devreg_tamper.)
distinct=$(printf '%s\n' "${CLIENT_LINES[@]}" | sed 's/^[^:]*: //' |
               sort -u | wc -l)
what="the client's errors for the ${#CLIENT_LINES[@]} refusals are all different"
if [ "$distinct" -eq "${#CLIENT_LINES[@]}" ]; then
    pass "$what"
else
    fail "$what (only $distinct are)"
    printf '%s\n' "${CLIENT_LINES[@]}" | sed 's/^/    | /'
fi

kdc_stop "$R"
finish
