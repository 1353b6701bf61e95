#!/bin/bash
# The realm secret: 'kstateless init' creates a 64-byte mode-0600 secret and
# a mode-0700 state_dir, never replaces an existing secret, and the check
# value it prints is the one 'kstateless check-value' prints and the KDC
# logs when it loads the module.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/realm.sh"
ks_tmpdir

R=$KS_TMPDIR/r
state=$R/var/lib/stateless
secret=$R/stateless.secret
realm_create "$R" --no-secret --dbmod "state_dir = $state" ||
    { fail "realm_create"; finish; }
realm_env "$R"
# A permissive umask: the modes must not come from the caller's umask.
umask 022

expect_match "kstateless init creates the realm secret" \
    "^Created realm secret $(re_escape "$secret") for EXAMPLE\.TEST \(check value [0-9a-f]{16}\)" \
    kstateless init
init_cv=$(sed -n 's/.*(check value \([0-9a-f]*\)).*/\1/p' <<<"$KS_OUT")

expect_eq "the secret holds 64 bytes" 64 "$(stat -c %s "$secret" 2>&1)"
expect_eq "the secret has mode 0600" 600 "$(stat -c %a "$secret" 2>&1)"
expect_eq "the secret is a regular file" "regular file" "$(stat -c %F "$secret" 2>&1)"
expect_eq "state_dir (with missing parents) has mode 0700" 700 \
    "$(stat -c %a "$state" 2>&1)"
leftovers=$(find "$R" -maxdepth 1 -name 'stateless.secret?*')
expect_eq "no temporary file is left next to the secret" "" "$leftovers"
if [ "$(od -An -v -tx1 "$secret" | tr -d ' \n' | tr -d 0)" = "" ]; then
    fail "the secret is all zero bytes"
else
    pass "the secret is not all zero bytes"
fi

hash_before=$(sha256sum <"$secret")
expect_fail "a second init refuses to replace the secret" \
    "^kstateless: .*secret_file $(re_escape "$secret") already exists; not replacing it" \
    kstateless init
expect_eq "the second init exits 1" 1 "$KS_RC"
expect_eq "the refused init leaves the secret unchanged" "$hash_before" \
    "$(sha256sum <"$secret")"
expect_eq "the refused init leaves its mode unchanged" 600 "$(stat -c %a "$secret")"

expect_match "check-value prints 16 hex digits" '^[0-9a-f]{16}$' \
    kstateless check-value
cv=$KS_OUT
expect_eq "check-value equals the value init printed" "$init_cv" "$cv"

# A second realm gets a different secret, hence a different check value.
R2=$KS_TMPDIR/r2
realm_create "$R2" || fail "realm_create r2"
cv2=$(realm_env "$R2" && kstateless check-value 2>&1)
if [ -n "$cv2" ] && [ "$cv2" != "$cv" ] &&
       ! cmp -s "$secret" "$R2/stateless.secret"; then
    pass "two inits make different secrets and check values"
else
    fail "two inits made the same secret or check value ($cv, $cv2)"
fi

if kdc_start "$R"; then
    pass "the KDC starts with the new secret"
    expect_ok "the KDC logs the same check value" grep -Eq \
        "stateless: realm EXAMPLE\.TEST secret check value $cv \(secret_file $(re_escape "$secret")\)" \
        "$R/kdc.log"
    kdc_stop "$R" && pass "the KDC stops cleanly"
else
    fail "the KDC starts with the new secret"
fi
finish
