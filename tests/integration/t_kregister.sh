#!/bin/bash
# kregister, the device agent (issue 3, item 8): enroll and login for a
# staged and an anonymous device, the refusals (configuration, secret file
# modes, wrong anchor, login before enrolling), then "kregister run" with
# short lifetimes (device_max_life 20s, registration_max_life 40s,
# renew_fraction 0.5): the TGT cache stays valid across a full TGT
# lifetime and is replaced by rename (never missing or empty), the
# registration is renewed, and across a KDC outage longer than a TGT
# lifetime the agent retries with a growing backoff and has a valid TGT
# again within retry_max (plus slack) of the KDC's return.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pki.sh"
_ks_require KREGISTER "the built kregister program"
ks_tmpdir

# The background agent and sampler are stopped at exit, before realm.sh's
# own cleanup (which must see the test's exit status in $?).
KR_PID=
SAMPLER_PID=
_kr_cleanup() {
    local rc=$?
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
    [ -n "$KR_PID" ] && kill -TERM "$KR_PID" 2>/dev/null
    (exit "$rc")
    _ks_cleanup
}
trap _kr_cleanup EXIT

P=$KS_TMPDIR/pki
pki_ca "$P" regca && pki_kdc "$P" regca EXAMPLE.TEST rs &&
    pki_ca "$P" otherca && pki_selfsigned "$P" d1 p256 ||
    { fail "making the test certificates with openssl"; finish; }

R=$KS_TMPDIR/sl
realm_create "$R" --dbmod 'device_max_life = 20s' \
    --dbmod 'registration_max_life = 40s' \
    --realmopt "devreg_identity = FILE:$P/rs.pem,$P/rs.key" \
    --realmopt 'devreg_allow_anonymous = true'
realm_enable_devreg "$R"
realm_env "$R"
expect_ok "stage device d1's key" kstateless stage add d1 --pubkey "$P/d1.pem"
kdc_start "$R" || { fail "the KDC did not start"; finish; }

D=$KS_TMPDIR/dev
mkdir -p "$D"
RETRY_MAX=4
# conf NAME LINES...: write $D/NAME.conf for device/NAME with the usual
# keys, then LINES (one per argument).
conf() {
    local name=$1
    shift
    {
        echo "# kregister.conf of device $name"
        echo "principal = device/$name@EXAMPLE.TEST"
        echo "anchor = FILE:$P/regca.pem"
        echo "registration_ccache = FILE:$D/$name.reg   # the registration"
        echo "ccache = $D/$name.tgt"
        echo "renew_fraction = 0.5"
        echo "retry_min = 1s"
        echo "retry_max = ${RETRY_MAX}s"
        printf '%s\n' "$@"
    } >"$D/$name.conf"
}
kr() {
    "$KREGISTER" "$@" </dev/null
}
# endtime CCACHE SERVICE: the end time (unix seconds) of SERVICE's ticket.
endtime() {
    local line
    line=$(klist -c "$1" 2>/dev/null | grep " $2\$") || return 1
    date -d "$(awk '{print $3" "$4}' <<<"$line")" +%s
}
TGS=krbtgt/EXAMPLE.TEST@EXAMPLE.TEST
DEVREG=devreg/EXAMPLE.TEST@EXAMPLE.TEST

# --- usage and refusals ------------------------------------------------------

expect_match "-h prints the usage" 'usage: kregister .*enroll \| login \| run' \
    kr -h
expect_fail "an unknown command is refused" "unknown command 'frobnicate'" \
    kr -c "$D/none.conf" frobnicate
expect_fail "a missing configuration file is refused, naming it" \
    "cannot open configuration file $(re_escape "$D/none.conf")" \
    kr -c "$D/none.conf" enroll
conf d1 "identity = FILE:$P/d1.pem,$P/d1.key"
cp "$D/d1.conf" "$D/unknown.conf"
echo "colour = blue" >>"$D/unknown.conf"
expect_fail "an unknown key is refused, naming the key and line" \
    "unknown.conf:10: unknown key 'colour'" kr -c "$D/unknown.conf" enroll
sed 's/^renew_fraction = .*/renew_fraction = 1.5/' "$D/d1.conf" \
    >"$D/fraction.conf"
expect_fail "a renew_fraction outside (0, 1) is refused" \
    "fraction.conf:6: invalid value '1.5' for key 'renew_fraction'" \
    kr -c "$D/fraction.conf" enroll
sed 's/^retry_max = .*/retry_max = soon/' "$D/d1.conf" >"$D/retry.conf"
expect_fail "a malformed duration is refused" \
    "retry.conf:8: invalid value 'soon' for key 'retry_max'" \
    kr -c "$D/retry.conf" run
sed "s|^ccache = .*|ccache = KEYRING:persistent:0|" "$D/d1.conf" \
    >"$D/keyring.conf"
expect_fail "a non-FILE ccache is refused" \
    "keyring.conf:5: .*only FILE: credential caches" \
    kr -c "$D/keyring.conf" login
conf both "identity = FILE:$P/d1.pem,$P/d1.key" "anonymous = yes"
expect_fail "identity and anonymous together are refused" \
    "'identity' and 'anonymous = yes' exclude each other" \
    kr -c "$D/both.conf" enroll
cp "$P/d1.key" "$D/d1-group.key"
chmod 640 "$D/d1-group.key"
conf grp "identity = FILE:$P/d1.pem,$D/d1-group.key"
expect_fail "a group-readable identity key is refused by enroll, naming the file and mode" \
    "private key file $(re_escape "$D/d1-group.key") is accessible by group or others \(mode 640\)" \
    kr -c "$D/grp.conf" enroll
expect_fail "... and by run, at start-up" \
    "d1-group.key is accessible by group or others" \
    timeout 20 "$KREGISTER" -c "$D/grp.conf" run
expect_fail "login before enrolling is refused" \
    "cannot log in: no registration ticket for device/d1@EXAMPLE.TEST in FILE:$(re_escape "$D/d1.reg") \(run 'kregister enroll' first\)" \
    kr -c "$D/d1.conf" login
sed "s|regca.pem|otherca.pem|" "$D/d1.conf" >"$D/anchor.conf"
expect_fail "enroll with a wrong anchor fails: the registration service's reply is not accepted" \
    "registration of device/d1@EXAMPLE.TEST failed: devreg: the KDC's certificate does not verify against devreg_anchor FILE:$(re_escape "$P/otherca.pem")" \
    kr -c "$D/anchor.conf" enroll
expect_fail "... and stores no registration" 'No credentials cache found' \
    klist -c "FILE:$D/d1.reg"
sed '/^\[plugins\]/,$d' "$R/krb5.conf" >"$D/noplugin.krb5.conf"
expect_fail "without the devreg client module in krb5.conf, enroll says so" \
    'is the devreg client module loaded through krb5.conf \[plugins\] clpreauth' \
    env KRB5_CONFIG="$D/noplugin.krb5.conf" "$KREGISTER" -c "$D/d1.conf" enroll

# --- enroll and login: staged and anonymous -------------------------------

expect_match "staged device d1 enrolls" \
    "registration of device/d1@EXAMPLE.TEST: registration valid until" \
    kr -c "$D/d1.conf" enroll
expect_match "its registration cache holds the registration ticket" \
    "$(re_escape "$DEVREG")" klist -c "FILE:$D/d1.reg"
expect_ok "d1 logs in" kr -c "$D/d1.conf" login
expect_match "its TGT cache holds a TGT" "$(re_escape "$TGS")" \
    klist -c "FILE:$D/d1.tgt"
expect_match "... for device/d1" 'Default principal: device/d1@EXAMPLE.TEST$' \
    klist -c "FILE:$D/d1.tgt"
expect_eq "the caches are mode 600" "600 600" \
    "$(stat -c %a "$D/d1.reg") $(stat -c %a "$D/d1.tgt")"
expect_ok "d1's TGT gets a service ticket" \
    env KRB5CCNAME="FILE:$D/d1.tgt" kvno host/a.example.test
expect_ok "kregister status reports both valid" kr -c "$D/d1.conf" status

# How a cache is replaced, seen in the system calls of a second login: the
# TGT cache's own name is only ever the target of a rename, never opened
# for writing, truncated or unlinked.  (Checking the inode would not do:
# libkrb5's FILE cache recreates the file even when written in place.)
# LeakSanitizer cannot run under ptrace, hence detect_leaks=0.
if command -v strace >/dev/null 2>&1 &&
       strace -f -qq -o /dev/null true >/dev/null 2>&1; then
    ST=$KS_TMPDIR/login.strace
    expect_ok "d1 logs in again (traced)" env ASAN_OPTIONS=detect_leaks=0 \
        strace -f -qq -o "$ST" \
        -e trace=open,openat,openat2,creat,truncate,unlink,unlinkat,rename,renameat,renameat2 \
        "$KREGISTER" -c "$D/d1.conf" login
    q=\"$(re_escape "$D/d1.tgt")\"
    bad=$(grep -E "(open|openat|openat2|creat)\(.*$q, [^)]*(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC)|(unlink|unlinkat|truncate)\(.*$q" "$ST")
    expect_eq "the TGT cache is never written in place" "" "$bad"
    expect_match "the TGT cache is replaced by renaming a new file over it" \
        "rename(at2?)?\\(.*\"$(re_escape "$D/d1.tgt").[A-Za-z0-9]{6}\", .*$q(, 0)?\\) = 0" \
        cat "$ST"
else
    echo "# strace cannot trace here: the system-call check of the atomic replacement is left out"
fi

conf a1 "anonymous = yes"
expect_ok "unstaged device a1 enrolls anonymously" kr -c "$D/a1.conf" enroll
expect_match "its registration cache holds the registration ticket" \
    "$(re_escape "$DEVREG")" klist -c "FILE:$D/a1.reg"
expect_ok "a1 logs in" kr -c "$D/a1.conf" login
expect_match "its TGT cache holds a TGT" "$(re_escape "$TGS")" \
    klist -c "FILE:$D/a1.tgt"

# --- run: refresh before expiry, atomic replacement ----------------------

TGT=FILE:$D/d1.tgt
REG=FILE:$D/d1.reg
tgt_end0=$(endtime "$TGT" "$TGS")
reg_end0=$(endtime "$REG" "$DEVREG")
LOG=$KS_TMPDIR/run.log
"$KREGISTER" -d -c "$D/d1.conf" run </dev/null >"$LOG" 2>&1 &
KR_PID=$!

# A sampler, about 1000 times a second: the cache files must never be
# missing or empty.  (read -t on a pipe that never delivers is a sleep
# without a fork; a busy loop would take a whole CPU.)
rm -f "$KS_TMPDIR/sampler.bad" "$KS_TMPDIR/sampler.stop"
(
    exec {nap}<> <(:)
    while [ ! -e "$KS_TMPDIR/sampler.stop" ]; do
        read -r -t 0.001 -u "$nap"
        for f in "$D/d1.tgt" "$D/d1.reg"; do
            [ -s "$f" ] || echo "$(date +%T.%N) $f missing or empty" \
                >>"$KS_TMPDIR/sampler.bad"
        done
    done
) &
SAMPLER_PID=$!

# klist -s every half second across more than one TGT lifetime (20s),
# recording the distinct end times.
t_end=$(($(date +%s) + 24))
gaps=0
declare -A ends=()
while [ "$(date +%s)" -lt "$t_end" ]; do
    if ! klist -s -c "$TGT"; then
        gaps=$((gaps + 1))
        echo "# $(date +%T) klist -s -c $TGT failed"
    fi
    e=$(endtime "$TGT" "$TGS") && ends[$e]=1
    sleep 0.5
done
expect_eq "the TGT cache held a valid TGT at every sample for 24s" 0 "$gaps"
expect_eq "kregister run is still running" yes \
    "$(kill -0 "$KR_PID" 2>/dev/null && echo yes)"
tgt_end1=$(endtime "$TGT" "$TGS")
if [ "$(date +%s)" -ge "$tgt_end0" ] && [ "${tgt_end1:-0}" -gt "$tgt_end0" ]; then
    pass "the TGT was replaced before expiry (end time $tgt_end0 -> $tgt_end1, past the first TGT's expiry)"
else
    fail "the TGT was not kept fresh across its expiry (end time $tgt_end0 -> ${tgt_end1:-none})"
fi
if [ "${#ends[@]}" -ge 3 ]; then
    pass "the TGT was replaced at least twice in 24s (${#ends[@]} end times seen)"
else
    fail "the TGT was replaced too rarely: end times ${!ends[*]}"
fi
expect_eq "the replaced TGT cache is mode 600" 600 "$(stat -c %a "$D/d1.tgt")"
reg_end1=$(endtime "$REG" "$DEVREG")
if [ "${reg_end1:-0}" -gt "$reg_end0" ]; then
    pass "the registration was renewed (end time $reg_end0 -> $reg_end1)"
else
    fail "the registration was not renewed after half its life (end time $reg_end0 -> ${reg_end1:-none})"
fi
expect_match "the log shows the registration renewal" \
    'registration renewal of device/d1@EXAMPLE.TEST: registration valid until' \
    cat "$LOG"

# --- KDC outage longer than a TGT lifetime --------------------------------

kdc_stop "$R"
down_at=$(date +%s)
# Longer than device_max_life: whatever TGT the agent holds expires.
sleep 22
expect_fail "while the KDC is down the TGT expires" '' klist -s -c "$TGT"
up_at=$(date +%s)
kdc_start "$R" || { fail "the KDC did not restart"; finish; }
back=
for ((i = 0; i < (RETRY_MAX + 6) * 4; i++)); do
    if klist -s -c "$TGT"; then
        back=$(date +%s)
        break
    fi
    sleep 0.25
done
if [ -n "$back" ] && [ $((back - up_at)) -le $((RETRY_MAX + 3)) ]; then
    pass "a valid TGT is back $((back - up_at))s after the KDC restarted (retry_max ${RETRY_MAX}s)"
else
    fail "no valid TGT within $((RETRY_MAX + 3))s of the KDC's restart"
fi

# The retries while the KDC was down: each failure logged with the krb5
# message, waits growing from retry_min to retry_max, far fewer attempts
# than one a second.
outage_log=$(awk -v a="$(date -d @"$down_at" +%Y-%m-%dT%H:%M:%S)" \
    -v b="$(date -d @"$up_at" +%Y-%m-%dT%H:%M:%S)" \
    '$1 >= a && $1 <= b' "$LOG")
expect_match "the log names the failure: no KDC answered" \
    'failed \(no KDC answered\): Cannot contact any KDC' echo "$outage_log"
mapfile -t waits < <(sed -n 's/.* retry [0-9]* in \([0-9]*\) s$/\1/p' \
    <<<"$outage_log")
n=${#waits[@]}
echo "# retry waits while the KDC was down: ${waits[*]}"
grows=yes
for ((i = 1; i < n; i++)); do
    if [ "${waits[i]}" -lt "${waits[i - 1]}" ] &&
           [ "${waits[i - 1]}" -lt $((RETRY_MAX * 3 / 4)) ]; then
        grows=no
    fi
    [ "${waits[i]}" -le "$RETRY_MAX" ] || grows=no
done
if [ "$n" -ge 4 ] && [ "$grows" = yes ] && [ "${waits[0]}" -le 1 ] &&
       [ "${waits[n - 1]}" -ge $((RETRY_MAX * 3 / 4)) ] &&
       [ "$n" -le $(((up_at - down_at) / 2)) ]; then
    pass "$n retries with backoff from 1s to ${RETRY_MAX}s while the KDC was down"
else
    fail "retries while the KDC was down do not back off from retry_min to retry_max: waits '${waits[*]}' over $((up_at - down_at))s"
fi

# --- stop --------------------------------------------------------------------

touch "$KS_TMPDIR/sampler.stop"
kill "$SAMPLER_PID" 2>/dev/null
{ wait "$SAMPLER_PID"; } 2>/dev/null
SAMPLER_PID=
if [ -s "$KS_TMPDIR/sampler.bad" ]; then
    fail "a cache file was seen missing or empty: $(head -3 "$KS_TMPDIR/sampler.bad")"
else
    pass "the cache files were never seen missing or empty during the run"
fi
kill -TERM "$KR_PID"
{ wait "$KR_PID"; } 2>/dev/null
rc=$?
KR_PID=
expect_eq "kregister run exits 0 on SIGTERM" 0 "$rc"
expect_match "... saying so" 'stopping on signal 15' cat "$LOG"
if _ks_sanitizer_report <"$LOG"; then
    fail "sanitizer report in kregister run's output"
    sed 's/^/    | /' "$LOG" | head -60
else
    pass "no sanitizer report from kregister run"
fi
expect_eq "no temporary cache files are left behind" "" \
    "$(cd "$D" && ls | grep -E '\.(tgt|reg)\.' )"
kdc_stop "$R"
if [ "$KS_FAILS" -gt 0 ]; then
    echo "# kregister run's log:"
    sed 's/^/#   /' "$LOG"
fi
finish
