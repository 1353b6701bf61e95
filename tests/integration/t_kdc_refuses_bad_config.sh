#!/bin/bash
# A KDC with an unusable realm secret or a bad [dbmodules] configuration
# refuses to start, and its log names the cause; 'kstateless check-value'
# refuses the same configuration with the same message.  Covers: missing
# secret, short and oversized secret, group/other permissions, unknown
# option, bad durations, and a key schedule that overflows 16-bit kvnos.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir

# A good secret to copy into the broken realms.
GOOD=$KS_TMPDIR/good
realm_create "$GOOD" || { fail "realm_create good"; finish; }
good_secret=$GOOD/stateless.secret

# refused NAME DESC REGEX: the KDC and check-value of realm NAME both refuse
# to start with a message matching REGEX.
refused() {
    local dir=$KS_TMPDIR/$1 desc=$2 re=$3
    echo "# $desc"
    kdc_start_expect_failure "$dir" "$re" "$desc"
    realm_env "$dir"
    expect_fail "kstateless check-value refuses: $desc" "^kstateless: .*$re" \
        kstateless check-value
}

# Missing secret_file.
realm_create "$KS_TMPDIR/missing" --no-secret
refused missing "missing secret_file" \
    "stateless: cannot open secret_file $(re_escape "$KS_TMPDIR/missing/stateless.secret"): No such file or directory \(create it with 'kstateless init'"

# The KDC's stderr points at the log.
expect_ok "krb5kdc's stderr says the realm cannot be initialized" \
    grep -q "cannot initialize realm EXAMPLE.TEST" "$KS_TMPDIR/missing/kdc.stderr"

# Short (31 bytes), empty and oversized (4097 bytes) secrets.
for n in 31 0 4097; do
    realm_create "$KS_TMPDIR/size$n" --no-secret
    head -c "$n" /dev/urandom >"$KS_TMPDIR/size$n/stateless.secret"
    chmod 600 "$KS_TMPDIR/size$n/stateless.secret"
    refused "size$n" "secret of $n bytes" \
        "stateless: secret_file $(re_escape "$KS_TMPDIR/size$n/stateless.secret") holds $n bytes; it must hold 32 to 4096"
done

# 32 bytes is enough.
realm_create "$KS_TMPDIR/size32" --no-secret
head -c 32 /dev/urandom >"$KS_TMPDIR/size32/stateless.secret"
chmod 600 "$KS_TMPDIR/size32/stateless.secret"
if kdc_start "$KS_TMPDIR/size32"; then
    pass "a KDC starts with a 32-byte secret"
    kdc_stop "$KS_TMPDIR/size32"
else
    fail "a KDC starts with a 32-byte secret"
fi

# Secrets readable by group or others.
for mode in 640 604 660; do
    realm_create "$KS_TMPDIR/mode$mode" --secret "$good_secret"
    chmod "$mode" "$KS_TMPDIR/mode$mode/stateless.secret"
    refused "mode$mode" "secret of mode $mode" \
        "stateless: secret_file $(re_escape "$KS_TMPDIR/mode$mode/stateless.secret") is accessible by group or others \(mode $mode\); chmod 600 it"
done

# Unknown option.
realm_create "$KS_TMPDIR/unknown" --secret "$good_secret" --dbmod 'bogus_option = 1'
refused unknown "unknown option" \
    "stateless: unknown option 'bogus_option' in \[dbmodules\] stateless"

# Bad durations.
realm_create "$KS_TMPDIR/period" --secret "$good_secret" --dbmod 'key_period = abc'
refused period "key_period = abc" \
    "stateless: key_period: invalid duration 'abc'"
realm_create "$KS_TMPDIR/period0" --secret "$good_secret" --dbmod 'key_period = 0'
refused period0 "key_period = 0" \
    "stateless: key_period: invalid duration '0'"
realm_create "$KS_TMPDIR/devlife" --secret "$good_secret" --dbmod 'device_max_life = 10 lightyears'
refused devlife "device_max_life = 10 lightyears" \
    "stateless: device_max_life: invalid duration '10 lightyears'"
realm_create "$KS_TMPDIR/devlife0" --secret "$good_secret" --dbmod 'device_max_life = 0s'
refused devlife0 "device_max_life = 0s" \
    "stateless: device_max_life: invalid duration '0s'"

# A one-hour period from the default epoch (1767225600) reaches kvno 65535
# within 10 years; two hours do not.
when=$(date -u -d "@$((1767225600 + (65535 - 1) * 3600))" '+%Y-%m-%d %H:%M:%SZ')
realm_create "$KS_TMPDIR/overflow" --secret "$good_secret" --dbmod 'key_period = 1h'
refused overflow "key_period = 1h overflows 16-bit kvnos" \
    "stateless: key_period 3600s from key_epoch 1767225600 reaches kvno 65535 on $when, within 10 years"
realm_create "$KS_TMPDIR/period2h" --secret "$good_secret" --dbmod 'key_period = 2h'
if kdc_start "$KS_TMPDIR/period2h"; then
    pass "a KDC starts with key_period = 2h (kvno 65535 more than 10 years away)"
    kdc_stop "$KS_TMPDIR/period2h"
else
    fail "a KDC starts with key_period = 2h (kvno 65535 more than 10 years away)"
fi

# The good realm itself starts: the failures above come from the changes.
if kdc_start "$GOOD"; then
    pass "the unmodified realm starts"
else
    fail "the unmodified realm starts"
fi
finish
