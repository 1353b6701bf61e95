/*
 * Registration (doc/devreg-protocol.md): the device's DevregRegister and
 * the KDC's DevregReply.  Both sides derive the AS reply key from an
 * ephemeral ECDH exchange with the RFC 8636 KDF; the KDC signs its half
 * with the registration service identity, the device (staged mode) signs
 * its half with its device key.
 */
#ifndef DEVREG_REGISTER_H
#define DEVREG_REGISTER_H

#include <krb5/krb5.h>
#include <krb5/kdcpreauth_plugin.h>

#include "devreg_realm.h"
#include "ks_asn1.h"
#include "ks_ecdh.h"
#include <openssl/x509.h>

/* KDC: check a registration request; on success replace the reply key,
 * add the indicators, make the ticket a registration ticket and set
 * *reply_out to the DevregReply padata to return.  *devreg_code_out gets
 * the KS_DEVREG_E_* cause of a refusal. */
krb5_error_code devreg_register_verify(krb5_context ctx,
                                       struct devreg_realm *dr,
                                       krb5_kdc_req *request,
                                       krb5_enc_tkt_part *enc_tkt_reply,
                                       const struct ks_devreg_register *reg,
                                       krb5_kdcpreauth_callbacks cb,
                                       krb5_kdcpreauth_rock rock,
                                       krb5_pa_data **reply_out,
                                       int32_t *devreg_code_out);

/* Client state between the request and the reply. */
struct devreg_client_reg {
    struct ks_ecdh_key *ecdh;
    unsigned char auth_pack_hash[KS_SHA256_LEN];
};

void devreg_client_reg_free(struct devreg_client_reg *cr);

/* Client: the identity and anchors a krb5 context keeps loaded between
 * its registrations (reloaded when the -X value changes; a process that
 * wants a changed file read again uses a new context, as kregister does). */
struct devreg_client_cache {
    char *identity;             /* the devreg_identity value loaded */
    EVP_PKEY *key;
    X509 *cert;
    STACK_OF(X509) *chain;
    char *anchor;               /* the devreg_anchor value loaded */
    X509_STORE *anchors;
};

void devreg_client_cache_free(struct devreg_client_cache *cache);

/* Client: build the DevregRegister for challenge (identity NULL:
 * anonymous); keep the state in *cr_out. */
krb5_error_code devreg_register_make(krb5_context ctx, const char *identity,
                                     struct devreg_client_cache *cache,
                                     const struct ks_devreg_challenge *ch,
                                     const krb5_data *req_body,
                                     struct ks_devreg_message *msg_out,
                                     struct devreg_client_reg **cr_out);

/* Client: check the KDC's DevregReply (pa: its padata value) against the
 * anchor and derive the reply key for enctype into *key_out. */
krb5_error_code devreg_register_finish(krb5_context ctx,
                                       struct devreg_client_reg *cr,
                                       const char *anchor,
                                       struct devreg_client_cache *cache,
                                       const struct ks_devreg_reply *reply,
                                       const krb5_data *reply_der,
                                       krb5_const_principal client,
                                       krb5_const_principal server,
                                       krb5_enctype enctype,
                                       const krb5_data *req_body,
                                       krb5_keyblock *key_out);

#endif
