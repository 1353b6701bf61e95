/*
 * Ephemeral Diffie-Hellman for KINK's optional PFS (RFC 4430 section
 * 3.2.1: a KE payload in CREATE/REPLY, as in IKEv1 Quick Mode, RFC 2409
 * section 5.5), for the two IKEv1 groups kinkd offers
 * (kink_isakmp.h: KINK_GROUP_*):
 *
 *   KINK_GROUP_MODP_2048 (14, RFC 3526 section 3): the KE data is the
 *   public value g^x mod p, big-endian, left-padded with zeros to the
 *   length of p (256 octets, RFC 2409 section 5's rule for KE); g^xy is
 *   likewise 256 octets, left-padded.
 *
 *   KINK_GROUP_ECP_256 (19, RFC 5903): the KE data is x || y of the
 *   public point, 32 octets each, with no 0x04 prefix (section 7); g^xy
 *   is the x coordinate of the shared point alone, 32 octets.
 *
 * A peer's public value is refused (EINVAL with a krb5 error message
 * naming the cause) unless it has exactly kink_dh_public_len() octets
 * and is valid: for MODP-2048 1 < y < p-1 and y in the prime-order
 * subgroup (y^q = 1, q = (p-1)/2), for ECP-256 a point on the curve.
 * Other errors: EINVAL for an unknown group or a wrong output length,
 * ENOMEM, KRB5_CRYPTO_INTERNAL for an OpenSSL failure.  Everything is
 * OpenSSL 3 (EVP_PKEY; ECP-256 through lib/ks_ecdh.h).
 */
#ifndef KINK_DH_H
#define KINK_DH_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>

/* Largest kink_dh_public_len() / kink_dh_secret_len() of any group. */
#define KINK_DH_MAX_PUBLIC 256
#define KINK_DH_MAX_SECRET 256

/* An ephemeral key pair of one group (opaque). */
struct kink_dh;

/* Octets of a KE payload body of group: 256 for MODP-2048, 64 for
 * ECP-256; 0 for a group this version does not know. */
size_t kink_dh_public_len(uint16_t group);

/* Octets of g^xy of group: 256 for MODP-2048, 32 for ECP-256 (the x
 * coordinate only, RFC 5903 section 7); 0 for an unknown group. */
size_t kink_dh_secret_len(uint16_t group);

/* Generate a fresh key pair of group. */
krb5_error_code kink_dh_generate(krb5_context ctx, uint16_t group,
                                 struct kink_dh **out);

/*
 * Test hook (known-answer tests): a key pair of group from a fixed
 * private value, big-endian: for MODP-2048 an exponent of 1 to 256
 * octets, 1 < x < p-1; for ECP-256 a 32-octet scalar, 1 <= d < n.  Never
 * use a predictable value outside tests.
 */
krb5_error_code kink_dh_import_private(krb5_context ctx, uint16_t group,
                                       const unsigned char *priv, size_t len,
                                       struct kink_dh **out);

/* The group of dh. */
uint16_t kink_dh_group(const struct kink_dh *dh);

/* The KE payload body of dh into out; len must be kink_dh_public_len(). */
krb5_error_code kink_dh_public(krb5_context ctx, const struct kink_dh *dh,
                               unsigned char *out, size_t len);

/*
 * g^xy of dh and the peer's KE payload body (peer_len octets, of dh's
 * group) into secret; secret_len must be kink_dh_secret_len().  The peer
 * value is validated first (see above).  On error secret is zeroed; the
 * caller zeroes it after use.
 */
krb5_error_code kink_dh_derive(krb5_context ctx, const struct kink_dh *dh,
                               const unsigned char *peer, size_t peer_len,
                               unsigned char *secret, size_t secret_len);

/* Free dh (its private part is cleared); NULL is fine. */
void kink_dh_free(struct kink_dh *dh);

#endif
