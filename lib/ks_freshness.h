/*
 * The framing of a devreg freshness token (doc/devreg-protocol.md):
 *
 *   u32 kvno      of the krbtgt/REALM key it is encrypted in (big-endian)
 *   i32 enctype   of that key (big-endian)
 *   ciphertext    krb5_c_encrypt of DER FreshnessPlain, key usage
 *                 KS_KEYUSAGE_FRESHNESS (1..KS_FRESHNESS_MAX_CIPHERTEXT)
 *
 * The token comes back from the network inside a registration request, so
 * ks_freshness_token_parse reads it with a bounds-checked cursor and
 * refuses anything but exactly this layout.
 */
#ifndef KS_FRESHNESS_H
#define KS_FRESHNESS_H

#include <stddef.h>
#include <krb5/krb5.h>

#define KS_FRESHNESS_HEADER_LEN 8
#define KS_FRESHNESS_MAX_CIPHERTEXT 512

struct ks_freshness_token {
    krb5_kvno kvno;                 /* > 0 */
    krb5_enctype enctype;
    const unsigned char *ciphertext;  /* points into the parsed buffer */
    size_t ciphertext_len;
};

/* Parse len bytes at p into *out (pointing into p).  Return 0, or EINVAL
 * for anything but a well-formed token. */
krb5_error_code ks_freshness_token_parse(const unsigned char *p, size_t len,
                                         struct ks_freshness_token *out);

/* Frame kvno, enctype and ciphertext into *out (allocated, free with
 * krb5_free_data_contents).  EINVAL if the token would not parse. */
krb5_error_code ks_freshness_token_build(krb5_kvno kvno, krb5_enctype enctype,
                                         const unsigned char *ciphertext,
                                         size_t ciphertext_len,
                                         krb5_data *out);

/*
 * Tokens are made and checked inside krb5kdc (kdcpreauth modules), where
 * the realm database is open: the ciphertext is FreshnessPlain{kdc-time,
 * client} in the current key of krbtgt (krbtgt/REALM@REALM), key usage
 * KS_KEYUSAGE_FRESHNESS, so any KDC of the realm checks it without shared
 * state.
 */

/* Make a freshness token for client into *token_out (free with
 * krb5_free_data_contents). */
krb5_error_code ks_freshness_make(krb5_context ctx,
                                  krb5_const_principal krbtgt,
                                  krb5_const_principal client,
                                  krb5_data *token_out);

/* Check token for client: KRB5KDC_ERR_PREAUTH_EXPIRED when it is older
 * (or newer) than clockskew or its key is no longer served,
 * KRB5KDC_ERR_PREAUTH_FAILED when it does not parse or decrypt or names
 * another client.  On success *time_out (may be NULL) gets the time the
 * KDC made it. */
krb5_error_code ks_freshness_check(krb5_context ctx,
                                   krb5_const_principal krbtgt,
                                   krb5_deltat clockskew,
                                   krb5_const_principal client,
                                   const krb5_data *token,
                                   krb5_timestamp *time_out);

#endif
