/*
 * Ephemeral key agreement of devreg (doc/devreg-protocol.md, "Reply key"):
 * X25519 (RFC 7748) and ECDH on P-256 through OpenSSL EVP_PKEY.
 *
 * Public values use the wire form of DevregAuthPack.client-public and
 * DevregDHInfo.kdc-public: X25519 the raw 32-byte u-coordinate, P-256 the
 * 65-byte uncompressed point 0x04 || X || Y.  The shared secret Z is the
 * raw X25519 output (32 bytes) or the P-256 x-coordinate (32 bytes).
 *
 * A peer's public value is validated before use: exact size, P-256 points
 * uncompressed, on the curve and not the point at infinity; an X25519
 * exchange whose shared secret is all zero (a low-order peer point) is
 * refused.  Errors: EINVAL for an unknown group or an invalid public value
 * (with a krb5_set_error_message text naming the cause), ENOMEM, and
 * KRB5_CRYPTO_INTERNAL for an OpenSSL failure.  Outputs are set only on
 * success; secrets are zeroed where they are freed.
 */
#ifndef KS_ECDH_H
#define KS_ECDH_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>

#include "ks_iana.h"

/* The length of Z for every group this version knows. */
#define KS_ECDH_SECRET_LEN 32

/* An ephemeral key pair of one group (opaque). */
struct ks_ecdh_key;

/* The wire size of a public value of group (KS_DEVREG_GROUP_*), or 0 for a
 * group this version does not know. */
size_t ks_ecdh_public_len(int32_t group);

/* Generate a fresh key pair of group. */
krb5_error_code ks_ecdh_generate(krb5_context ctx, int32_t group,
                                 struct ks_ecdh_key **key_out);

/*
 * Test hook (known-answer tests): a key pair of group from a fixed private
 * value, the 32-byte X25519 scalar of RFC 7748 or the 32-byte big-endian
 * P-256 scalar (1 .. n-1).  Never use it with a predictable value outside
 * tests.
 */
krb5_error_code ks_ecdh_import_private(krb5_context ctx, int32_t group,
                                       const unsigned char *priv, size_t len,
                                       struct ks_ecdh_key **key_out);

/* The group of key. */
int32_t ks_ecdh_group(const struct ks_ecdh_key *key);

/* The public value of key in wire form into *pub_out (malloc'ed, free with
 * free()) and *len_out. */
krb5_error_code ks_ecdh_public(krb5_context ctx, const struct ks_ecdh_key *key,
                               unsigned char **pub_out, size_t *len_out);

/* Check that peer (len bytes) is a valid public value of group. */
krb5_error_code ks_ecdh_check_public(krb5_context ctx, int32_t group,
                                     const unsigned char *peer, size_t len);

/*
 * The shared secret Z of key and the peer's public value (wire form, of
 * key's group) into z_out, KS_ECDH_SECRET_LEN bytes; the caller zeroes it
 * after use.
 */
krb5_error_code ks_ecdh_derive(krb5_context ctx, const struct ks_ecdh_key *key,
                               const unsigned char *peer, size_t peer_len,
                               unsigned char z_out[KS_ECDH_SECRET_LEN]);

/* Free key (its private part is cleared by OpenSSL); NULL is fine. */
void ks_ecdh_free(struct ks_ecdh_key *key);

#endif
