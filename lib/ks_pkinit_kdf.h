/*
 * The PKINIT key derivation function of RFC 8636 section 3.2, which devreg
 * uses for its AS reply key (doc/devreg-protocol.md, "Reply key"):
 *
 *   key = random-to-key(enctype,
 *                       SP 800-56C one-step KDF, hash H (OpenSSL SSKDF)
 *                       (Z, keybytes(enctype), FixedInfo = DER OtherInfo))
 *
 *   OtherInfo = { algorithmID  id-pkinit-kdf-sha1/256/512, no parameters,
 *                 partyUInfo   DER KRB5PrincipalName(client),
 *                 partyVInfo   DER KRB5PrincipalName(server),
 *                 suppPubInfo  DER PkinitSuppPubInfo { enctype,
 *                                  as-REQ, pk-as-rep } }
 *
 * i.e. H(counter || Z || OtherInfo) with a 32-bit big-endian counter from
 * 1, concatenated and cut to keybytes.  The principals' name types are
 * encoded as they are (see ks_krb5_principal_name_der() in ks_asn1.h):
 * both peers must pass the names as the KDC-REQ-BODY carries them.
 */
#ifndef KS_PKINIT_KDF_H
#define KS_PKINIT_KDF_H

#include <stddef.h>
#include <krb5/krb5.h>

enum ks_pkinit_kdf_hash {
    KS_PKINIT_KDF_SHA1 = 1,     /* id-pkinit-kdf-sha1   1.3.6.1.5.2.3.6.1 */
    KS_PKINIT_KDF_SHA256 = 2,   /* id-pkinit-kdf-sha256 1.3.6.1.5.2.3.6.2 */
    KS_PKINIT_KDF_SHA512 = 3,   /* id-pkinit-kdf-sha512 1.3.6.1.5.2.3.6.3 */
};

/* The RFC 8636 KDF output before random-to-key: outlen bytes into out. */
krb5_error_code ks_pkinit_kdf_bytes(krb5_context ctx,
                                    enum ks_pkinit_kdf_hash hash,
                                    const unsigned char *z, size_t zlen,
                                    krb5_const_principal client,
                                    krb5_const_principal server,
                                    krb5_enctype enctype,
                                    const krb5_data *as_req,
                                    const krb5_data *pk_as_rep,
                                    unsigned char *out, size_t outlen);

/* The RFC 8636 reply key of enctype into *key_out (contents allocated;
 * free with krb5_free_keyblock_contents, which zeroes them).  Unknown
 * enctypes give KRB5_BAD_ENCTYPE, an empty Z or a bad hash EINVAL. */
krb5_error_code ks_pkinit_kdf(krb5_context ctx, enum ks_pkinit_kdf_hash hash,
                              const unsigned char *z, size_t zlen,
                              krb5_const_principal client,
                              krb5_const_principal server,
                              krb5_enctype enctype, const krb5_data *as_req,
                              const krb5_data *pk_as_rep,
                              krb5_keyblock *key_out);

#endif
