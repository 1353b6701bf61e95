/*
 * KINK (RFC 4430) cryptography: KEYMAT for the IPsec SAs, the Kerberos
 * PRF it rests on (with racoon2's variant), and the KINK checksum and
 * KINK_ENCRYPT encryption.  Everything uses the ticket's session key.
 *
 * KEYMAT (RFC 4430 sections 3.2.1 and 5, IKE's Quick Mode derivation of
 * RFC 2409 section 5.5; kink_keymat_pfs() below adds the optional PFS
 * term):
 *
 *   src    = protocol (1 octet) | SPI (4 octets, network order) | Ni_b
 *            [| Nr_b]
 *   K1     = prf(session key, src)
 *   Kn     = prf(session key, K(n-1) | src)
 *   KEYMAT = K1 | K2 | ... truncated to the length the SA needs
 *
 * prf is the RFC 3961 PRF of the session key's enctype (krb5_c_prf); Nr_b
 * is left out in the optimistic 2-message CREATE (the responder accepted
 * the initiator's first proposal and sent no Nonce), included otherwise.
 * Ni_b and Nr_b are the Nonce payload bodies.  protocol and SPI are those
 * of the SA being keyed (its inbound SPI for the side that chose it).
 *
 * The racoon2 variant (per-peer `prf = racoon2`): racoon2's kinkd computes
 * the simplified-profile PRF of aes128/aes256-cts-hmac-sha1-96 with a
 * message block size of 1 instead of RFC 3962's 16: it encrypts the whole
 * 20-octet SHA-1 hash with AES-CBC-CTS instead of its first 16 octets
 * (kinkd/bbkk_common.c, prf_simplified_profile), so its PRF output is 20
 * octets and differs from every other implementation's.  For every other
 * enctype both variants are krb5_c_prf (racoon2 agrees for des3; it has
 * no SHA-2 enctypes at all).
 */
#ifndef KINK_KEYMAT_H
#define KINK_KEYMAT_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>

/*
 * Kerberos key usages of KINK_ENCRYPT (RFC 4430 section 4.2.7) and of the
 * KINK checksum (section 4).  These values are racoon2's kinkd's
 * (kinkd/bbkk.h: KINK_ENCRYPT 39, CKSUM 40; its authors wrote the RFC),
 * the one deployed implementation; check them against the RFC text.
 */
#define KINK_KU_ENCRYPT 39
#define KINK_KU_CKSUM   40

enum kink_prf_variant {
    KINK_PRF_RFC = 0,           /* RFC 3961/3962/8009: krb5_c_prf */
    KINK_PRF_RACOON2 = 1        /* racoon2's AES-SHA1 PRF (see above) */
};

/* Largest PRF output of any enctype (RFC 8009 aes256-sha384: 48). */
#define KINK_PRF_MAX 64

/* Output length of prf for the enctype: 16 for the AES-SHA1 enctypes
 * (20 in the racoon2 variant), 32/48 for the SHA-2 ones ... */
krb5_error_code kink_prf_length(krb5_context ctx,
                                enum kink_prf_variant variant,
                                krb5_enctype enctype, size_t *len_out);

/* prf(key, in) into out, which has room for kink_prf_length() octets. */
krb5_error_code kink_prf(krb5_context ctx, enum kink_prf_variant variant,
                         const krb5_keyblock *key, const uint8_t *in,
                         size_t in_len, uint8_t *out);

/*
 * KEYMAT (see the top of this file) with the RFC PRF into out (out_len
 * octets, 1 .. 65535).  nr may be NULL with nr_len 0 (optimistic
 * exchange); ni must not be empty.  On error out is zeroed.
 */
krb5_error_code kink_keymat(krb5_context ctx,
                            const krb5_keyblock *session_key,
                            uint8_t protocol, uint32_t spi,
                            const uint8_t *ni, size_t ni_len,
                            const uint8_t *nr, size_t nr_len,
                            uint8_t *out, size_t out_len);

/* The same with the PRF variant chosen for the peer. */
krb5_error_code kink_keymat_variant(krb5_context ctx,
                                    enum kink_prf_variant variant,
                                    const krb5_keyblock *session_key,
                                    uint8_t protocol, uint32_t spi,
                                    const uint8_t *ni, size_t ni_len,
                                    const uint8_t *nr, size_t nr_len,
                                    uint8_t *out, size_t out_len);

/*
 * KEYMAT with PFS (RFC 2409 section 5.5, "If PFS is desired"): the same
 * expansion with the Quick Mode Diffie-Hellman secret g(qm)^xy in front
 * of src,
 *
 *   K1 = prf(session key, g^xy | protocol | SPI | Ni_b [| Nr_b])
 *   Kn = prf(session key, K(n-1) | g^xy | protocol | SPI | Ni_b [| Nr_b])
 *
 * gxy is kink_dh_derive()'s output as it is (kink_dh.h: 256 octets for
 * MODP-2048, the 32-octet x coordinate for ECP-256).  gxy NULL with
 * gxy_len 0 is kink_keymat_variant().  On error out is zeroed.
 */
krb5_error_code kink_keymat_pfs(krb5_context ctx,
                                enum kink_prf_variant variant,
                                const krb5_keyblock *session_key,
                                const uint8_t *gxy, size_t gxy_len,
                                uint8_t protocol, uint32_t spi,
                                const uint8_t *ni, size_t ni_len,
                                const uint8_t *nr, size_t nr_len,
                                uint8_t *out, size_t out_len);

/*
 * The RFC 3961 simplified-profile PRF of an aes128/aes256-cts-hmac-sha1-96
 * key computed here, outside krb5 (which has no public way to apply the
 * derived "prf" key to anything but the truncated hash): DK(key, "prf")
 * with OpenSSL AES, then AES-CBC-CTS (zero IV) of the first hash_len
 * octets of SHA-1(in).  hash_len 16 is RFC 3962's PRF (equal to
 * krb5_c_prf; the unit tests hold this path to it), 20 is racoon2's.
 * out receives hash_len octets.  Exposed for the unit tests.
 */
krb5_error_code kink_prf_simplified_aes(krb5_context ctx,
                                        const krb5_keyblock *key,
                                        const uint8_t *in, size_t in_len,
                                        size_t hash_len, uint8_t *out);

/*
 * The KINK checksum (RFC 4430 section 4): the mandatory checksum type of
 * the session key's enctype, key usage KINK_KU_CKSUM, refused if that
 * type is not keyed.  kink_checksum_length() gives CksumLen.
 *
 * iov/n: the data ranges (KRB5_CRYPTO_TYPE_DATA or SIGN_ONLY) and exactly
 * one KRB5_CRYPTO_TYPE_CHECKSUM element, which kink_checksum_make() fills
 * in place (its length must be kink_checksum_length()) and
 * kink_checksum_verify() checks.  kink_msg_cksum_input() (kink_msg.h)
 * builds such an array over an encoded message.
 * kink_checksum_verify() returns KRB5KRB_AP_ERR_BAD_INTEGRITY for a wrong
 * checksum (of any length).
 */
krb5_error_code kink_checksum_length(krb5_context ctx,
                                     const krb5_keyblock *key,
                                     size_t *len_out);
krb5_error_code kink_checksum_make(krb5_context ctx,
                                   const krb5_keyblock *key,
                                   krb5_crypto_iov *iov, size_t n);
krb5_error_code kink_checksum_verify(krb5_context ctx,
                                     const krb5_keyblock *key,
                                     const krb5_crypto_iov *iov, size_t n);

/*
 * KINK_ENCRYPT (RFC 4430 section 4.2.7): the RFC 3961 encryption of the
 * session key's enctype with key usage KINK_KU_ENCRYPT.  Both return a
 * malloc'ed buffer in *out / *out_len (decrypted plaintext: free it with
 * ks_zfree()).  kink_decrypt() returns KRB5KRB_AP_ERR_BAD_INTEGRITY when
 * the ciphertext does not verify.  The plaintext of a block-padded
 * enctype may carry trailing padding (none for the CTS enctypes).
 */
krb5_error_code kink_encrypt(krb5_context ctx, const krb5_keyblock *key,
                             const uint8_t *plain, size_t plain_len,
                             uint8_t **out, size_t *out_len);
krb5_error_code kink_decrypt(krb5_context ctx, const krb5_keyblock *key,
                             const uint8_t *cipher, size_t cipher_len,
                             uint8_t **out, size_t *out_len);

#endif
