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

#endif
