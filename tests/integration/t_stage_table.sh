#!/bin/bash
# The staging and provisioned tables: 'kstateless stage add|del|list' with
# Ed25519, EC P-256 and RSA-2048 public keys and a certificate (made with
# openssl), the keys and files it refuses and its messages and exit
# statuses, 'kstateless provision', the store's files and permissions,
# concurrent writers, a damaged store, and krb5kdc -w 2 starting and
# serving with a store present while kstateless writes to it.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir

command -v openssl >/dev/null || skip "openssl is not installed"

R=$KS_TMPDIR/r
realm_create "$R" || { fail "realm_create"; finish; }
realm_env "$R"
umask 022
store=$R/state/store.mdb
K=$KS_TMPDIR/keys
mkdir -p "$K"

# Key pairs and public keys (PEM), and the SHA-256 of each DER SPKI.
genkey() {
    local name=$1
    shift
    openssl genpkey "$@" -out "$K/$name.key" 2>/dev/null &&
        openssl pkey -in "$K/$name.key" -pubout -out "$K/$name.pub" ||
        { fail "openssl genpkey $name"; finish; }
}
fpr() {
    openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}
genkey ed -algorithm ed25519
genkey ed2 -algorithm ed25519
genkey ec -algorithm EC -pkeyopt ec_paramgen_curve:P-256
genkey rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
genkey rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
genkey p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
genkey x25519 -algorithm x25519
openssl req -x509 -new -key "$K/ec.key" -subj /CN=device-cert -days 2 \
    -out "$K/ec.crt" 2>/dev/null || { fail "openssl req"; finish; }
openssl rsa -in "$K/rsa.key" -RSAPublicKey_out -out "$K/rsa.pkcs1" 2>/dev/null ||
    { fail "openssl rsa -RSAPublicKey_out"; finish; }
fp_ed=$(fpr "$K/ed.pub")
fp_ed2=$(fpr "$K/ed2.pub")
fp_ec=$(fpr "$K/ec.pub")
fp_rsa=$(fpr "$K/rsa.pub")

# --- stage add -------------------------------------------------------------
expect_match "stage add: an Ed25519 public key" \
    "^Staged device d1: Ed25519 key, SHA-256 fingerprint $fp_ed$" \
    kstateless stage add d1 --pubkey "$K/ed.pub"
expect_match "stage add: an EC P-256 public key, with a profile" \
    "^Staged device d2: EC-P256 key, SHA-256 fingerprint $fp_ec, profile gold\.1$" \
    kstateless stage add d2 --pubkey "$K/ec.pub" --profile gold.1
expect_match "stage add: an RSA-2048 public key (options before the id)" \
    "^Staged device d3: RSA-2048 key, SHA-256 fingerprint $fp_rsa$" \
    kstateless stage add --pubkey "$K/rsa.pub" d3
expect_match "stage add: a certificate gives its public key" \
    "^Staged device mac-00:11:22:33:44:55: EC-P256 key, SHA-256 fingerprint $fp_ec$" \
    kstateless stage add mac-00:11:22:33:44:55 --pubkey "$K/ec.crt"
expect_match "stage add: a PKCS#1 RSA public key" \
    "^Staged device d5: RSA-2048 key, SHA-256 fingerprint $fp_rsa$" \
    kstateless stage add d5 --pubkey "$K/rsa.pkcs1"

expect_eq "the store file has mode 0600 (umask 022)" 600 "$(stat -c %a "$store")"
expect_eq "its lock file has mode 0600" 600 "$(stat -c %a "$store-lock")"

# --- refusals --------------------------------------------------------------
before=$(kstateless stage list 2>&1)
expect_fail "an RSA-1024 key is refused" \
    "^kstateless: the key in $(re_escape "$K/rsa1024.pub") is RSA-1024; staged keys must be Ed25519, EC P-256 or RSA of 2048 to 16384 bits$" \
    kstateless stage add d9 --pubkey "$K/rsa1024.pub"
expect_eq "exit status 1" 1 "$KS_RC"
expect_fail "an EC P-384 key is refused" \
    "^kstateless: the key in .* is EC secp384r1; staged keys must be" \
    kstateless stage add d9 --pubkey "$K/p384.pub"
expect_fail "an X25519 key is refused" "is X25519; staged keys must be" \
    kstateless stage add d9 --pubkey "$K/x25519.pub"
expect_fail "a private key file is refused" \
    "holds a private key; give its public key \(openssl pkey -in .* -pubout\)" \
    kstateless stage add d9 --pubkey "$K/ed.key"
expect_fail "a file without PEM is refused" \
    "$(re_escape "$R/kdc.conf") holds no PEM public key or certificate" \
    kstateless stage add d9 --pubkey "$R/kdc.conf"
printf -- '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' >"$K/bad.pub"
expect_fail "a damaged PEM public key is refused" \
    "cannot decode the PEM 'PUBLIC KEY' block" \
    kstateless stage add d9 --pubkey "$K/bad.pub"
expect_fail "a missing key file is refused" \
    "cannot read public key file $(re_escape "$K/nonexistent.pub"): No such file or directory" \
    kstateless stage add d9 --pubkey "$K/nonexistent.pub"
expect_fail "an invalid device id is refused" \
    "^kstateless: invalid device id 'a/b' \(1 to 64 characters from \[A-Za-z0-9\._:-\], starting with a letter or digit\)$" \
    kstateless stage add a/b --pubkey "$K/ed.pub"
expect_eq "exit status 1" 1 "$KS_RC"
expect_fail "a device id of 65 characters is refused" "invalid device id" \
    kstateless stage add "$(printf 'a%.0s' {1..65})" --pubkey "$K/ed.pub"
expect_fail "an invalid profile is refused" \
    "^kstateless: invalid profile name 'gold!' \(1 to 32 characters from \[A-Za-z0-9\._-\]\)$" \
    kstateless stage add d9 --pubkey "$K/ed.pub" --profile 'gold!'
expect_fail "a profile of 33 characters is refused" "invalid profile name" \
    kstateless stage add d9 --pubkey "$K/ed.pub" --profile "$(printf 'p%.0s' {1..33})"
expect_fail "a profile that would pass for the KDC's own indicator is refused" \
    "^kstateless: profile name 'devreg-provisioned' is reserved" \
    kstateless stage add d9 --pubkey "$K/ed.pub" --profile devreg-provisioned
expect_fail "an id already staged is refused without --replace" \
    "^kstateless: device 'd1' is already staged; give --replace to replace its key$" \
    kstateless stage add d1 --pubkey "$K/ed2.pub"
expect_eq "exit status 1" 1 "$KS_RC"
expect_eq "the refusals changed nothing" "$before" "$(kstateless stage list 2>&1)"
expect_fail "stage add without --pubkey is a usage error" "^usage: kstateless stage add" \
    kstateless stage add d9
expect_eq "exit status 2" 2 "$KS_RC"
expect_fail "stage add with two ids is a usage error" "^usage:" \
    kstateless stage add d9 d10 --pubkey "$K/ed.pub"
expect_eq "exit status 2" 2 "$KS_RC"
expect_fail "an unknown stage command is a usage error" \
    "unknown stage command 'frob'" kstateless stage frob
expect_eq "exit status 2" 2 "$KS_RC"
expect_fail "stage alone is a usage error" "^usage:" kstateless stage
expect_eq "exit status 2" 2 "$KS_RC"
expect_match "stage -h prints the usage" "kstateless stage list" kstateless stage -h
expect_match "kstateless -h lists the stage and provision commands" \
    "provision --remove DEVICE-ID" kstateless -h

expect_match "stage add --replace replaces the key and the profile" \
    "^Replaced the staged key of device d1: Ed25519 key, SHA-256 fingerprint $fp_ed2, profile silver$" \
    kstateless stage add d1 --pubkey "$K/ed2.pub" --profile silver --replace
expect_match "--replace of an id not yet staged stages it" \
    "^Staged device d6: Ed25519 key" \
    kstateless stage add d6 --pubkey "$K/ed.pub" --replace

# --- stage list ------------------------------------------------------------
date_re='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
expect_ok "stage list" kstateless stage list
list=$KS_OUT
expect_eq "stage list prints one line per device, in id order" \
    "d1 d2 d3 d5 d6 mac-00:11:22:33:44:55" "$(cut -d' ' -f1 <<<"$list" | tr '\n' ' ' | sed 's/ $//')"
expect_ok "d1: Ed25519, the new fingerprint, profile silver, a UTC date" \
    grep -Eq "^d1 Ed25519 $fp_ed2 silver $date_re$" <<<"$list"
expect_ok "d2: EC-P256, profile gold.1" \
    grep -Eq "^d2 EC-P256 $fp_ec gold\.1 $date_re$" <<<"$list"
expect_ok "d3: RSA-2048, no profile" \
    grep -Eq "^d3 RSA-2048 $fp_rsa - $date_re$" <<<"$list"
expect_ok "the certificate's device has the key's fingerprint" \
    grep -Eq "^mac-00:11:22:33:44:55 EC-P256 $fp_ec - $date_re$" <<<"$list"
today=$(date -u +%Y-%m-%d)
expect_ok "the date is today's (UTC)" grep -q "^d3 .* ${today}T" <<<"$list"
if grep -qiE 'PRIVATE|BEGIN' <<<"$list"; then
    fail "stage list prints key material"
else
    pass "stage list prints no key material"
fi
expect_fail "stage list with an argument is a usage error" "^usage:" \
    kstateless stage list d1
expect_eq "exit status 2" 2 "$KS_RC"

# --- stage del -------------------------------------------------------------
expect_match "stage del" "^Removed device d3 from the staging table$" \
    kstateless stage del d3
expect_fail "stage del of an id not staged" "^kstateless: device 'd3' is not staged$" \
    kstateless stage del d3
expect_eq "exit status 1" 1 "$KS_RC"
expect_fail "stage del of an invalid id" "invalid device id" kstateless stage del 'x y'
expect_fail "stage del without an id is a usage error" "^usage:" kstateless stage del
expect_eq "exit status 2" 2 "$KS_RC"
if kstateless stage list | grep -q '^d3 '; then
    fail "d3 is still listed after stage del"
else
    pass "d3 is no longer listed"
fi

# --- provision -------------------------------------------------------------
expect_ok "provision --list of an empty table" kstateless provision --list
expect_eq "prints nothing" "" "$KS_OUT"
expect_match "provision a device" "^Provisioned device anon-7$" \
    kstateless provision anon-7
expect_match "provision it again: a note, status 0" \
    "^Device anon-7 is already provisioned \(since $date_re\)$" \
    kstateless provision anon-7
expect_ok "provision another" kstateless provision d1
expect_ok "provision --list" kstateless provision --list
expect_eq "it lists both devices in id order" "anon-7 d1" \
    "$(cut -d' ' -f1 <<<"$KS_OUT" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "each with its UTC date" 2 "$(grep -Ec "^[a-z0-9-]+ $date_re$" <<<"$KS_OUT")"
expect_match "provision --remove" "^Removed device anon-7 from the provisioned table$" \
    kstateless provision --remove anon-7
expect_fail "provision --remove of a device not provisioned" \
    "^kstateless: device 'anon-7' is not provisioned$" \
    kstateless provision --remove anon-7
expect_eq "exit status 1" 1 "$KS_RC"
expect_fail "provision of an invalid id" "^kstateless: invalid device id 'a b'" \
    kstateless provision 'a b'
expect_fail "provision without an id is a usage error" "^usage: kstateless provision" \
    kstateless provision
expect_eq "exit status 2" 2 "$KS_RC"
expect_fail "provision --list with an id is a usage error" "^usage:" \
    kstateless provision --list d1
expect_eq "exit status 2" 2 "$KS_RC"
expect_fail "provision --remove --list is a usage error" "^usage:" \
    kstateless provision --remove --list
expect_eq "exit status 2" 2 "$KS_RC"
expect_match "provisioning is separate from staging" "^d1 " kstateless stage list

# --- concurrent writers ----------------------------------------------------
pids=()
for i in 1 2 3 4 5 6 7 8; do
    kstateless stage add "c$i" --pubkey "$K/ed.pub" >"$KS_TMPDIR/c$i.out" 2>&1 &
    pids+=($!)
    kstateless provision "c$i" >"$KS_TMPDIR/p$i.out" 2>&1 &
    pids+=($!)
done
bad=0
for p in "${pids[@]}"; do
    wait "$p" || bad=$((bad + 1))
done
expect_eq "16 concurrent kstateless writers all succeed" 0 "$bad"
expect_eq "all 8 concurrently staged devices are listed" 8 \
    "$(kstateless stage list | grep -c '^c[1-8] ')"
expect_eq "all 8 concurrently provisioned devices are listed" 8 \
    "$(kstateless provision --list | grep -c '^c[1-8] ')"

# --- the KDC with a store present ------------------------------------------
if kdc_start "$R" 2; then
    pass "krb5kdc -w 2 starts with a store in state_dir"
    expect_fail "the KDC serves (device AS-REQ needs preauth)" \
        'preauthentication failure|pre-authentication required' \
        env KRB5CCNAME="FILE:$KS_TMPDIR/cc" kinit device/d1 </dev/null
    expect_match "stage add while the KDC runs" "^Staged device k1: " \
        kstateless stage add k1 --pubkey "$K/ec.pub"
    expect_match "stage list while the KDC runs" "^k1 EC-P256 $fp_ec " \
        kstateless stage list
    kdc_stop "$R" && pass "the KDC stops cleanly"
else
    fail "krb5kdc -w 2 starts with a store in state_dir"
fi
expect_match "the tables survive the KDC" "^k1 EC-P256" kstateless stage list

# --- permissions and damage ------------------------------------------------
chmod 664 "$store"
expect_fail "a group-writable store is refused" \
    "^kstateless: store file $(re_escape "$store") is writable by group or others \(mode 664\); chmod 600 it$" \
    kstateless stage list
expect_eq "exit status 1" 1 "$KS_RC"
chmod 600 "$store"
chmod 606 "$store-lock"
expect_fail "a world-writable lock file is refused" \
    "store file $(re_escape "$store-lock") is writable by group or others" \
    kstateless provision --list
chmod 600 "$store-lock"
chmod 770 "$R/state"
expect_fail "a group-writable state_dir is refused" \
    "state_dir $(re_escape "$R/state") is writable by group or others \(mode 770\); chmod 700 it" \
    kstateless stage list
chmod 700 "$R/state"
chmod 640 "$store"
expect_fail "a group-readable store is refused (it holds temporary server keys)" \
    "is readable by group or others \(mode 640\) but holds temporary server keys; chmod 600 it" \
    kstateless stage list
chmod 600 "$store"

# A realm whose state_dir does not exist yet.
R2=$KS_TMPDIR/r2
realm_create "$R2" --no-secret || fail "realm_create r2"
expect_fail "a missing state_dir names the fix" \
    "cannot use state_dir $(re_escape "$R2/state"): No such file or directory \(create it with 'kstateless init'\)" \
    realm_run "$R2" kstateless stage list
expect_eq "exit status 1" 1 "$KS_RC"

# A store file that is not a store: refused, no crash.
R3=$KS_TMPDIR/r3
realm_create "$R3" || fail "realm_create r3"
head -c 20000 /dev/urandom >"$R3/state/store.mdb"
chmod 600 "$R3/state/store.mdb"
expect_fail "a damaged store is refused with its name" \
    "^kstateless: store $(re_escape "$R3/state/store.mdb") is damaged or not a krb5-stateless store" \
    realm_run "$R3" kstateless stage add d1 --pubkey "$K/ed.pub"
expect_eq "exit status 1" 1 "$KS_RC"
finish
