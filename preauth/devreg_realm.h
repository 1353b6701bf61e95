/*
 * Per-realm state of the devreg KDC module: configuration read from
 * kdc.conf at start-up, the shared store opened on first use, and the
 * freshness tokens of the registration challenge.
 *
 * Configuration: the realm's [realms] devreg_* options, and, when the
 * realm's database_module is the stateless backend, its [dbmodules]
 * section (device_namespace, registration_max_life, state_dir).  Other
 * backends (MIT's db2, for the drop-in) use the defaults, with
 * devreg_state_dir naming the directory of the replay cache.
 *
 * Freshness token (opaque to clients):
 *   u32be kvno || i32be enctype || krb5_c_encrypt ciphertext
 * of DER FreshnessPlain{kdc-time, client} in the current krbtgt/REALM key,
 * key usage KS_KEYUSAGE_FRESHNESS, so that any KDC of the realm can check
 * it without shared state.
 */
#ifndef DEVREG_REALM_H
#define DEVREG_REALM_H

#include <stdint.h>
#include <krb5/krb5.h>
#include <kdb.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ks_store.h"

#define DEVREG_DEFAULT_STATE_DIR "/var/lib/krb5kdc/devreg"

struct devreg_realm {
    char *realm;
    char *device_namespace;
    krb5_principal devreg_princ;    /* devreg/REALM@REALM */
    char *devreg_name;
    krb5_principal krbtgt_princ;
    char *state_dir;
    krb5_deltat registration_max_life;
    krb5_deltat clockskew;
    krb5_boolean allow_anonymous;
    struct ks_store *store;         /* opened on first use */
    /* Registration: the registration service identity (devreg_identity)
     * and the manufacturer anchors (devreg_manufacturer_anchors); NULL
     * when not configured. */
    EVP_PKEY *kdc_key;
    X509 *kdc_cert;
    STACK_OF(X509) *kdc_chain;
    X509_STORE *mfr_anchors;
};

struct devreg_realms {
    size_t n;
    struct devreg_realm *r;
};

/* The key agreement groups this KDC offers. */
extern const int32_t devreg_groups[];
extern const size_t devreg_ngroups;

krb5_error_code devreg_realms_load(krb5_context ctx, const char **realmnames,
                                   struct devreg_realms **out);
void devreg_realms_free(krb5_context ctx, struct devreg_realms *realms);

/* The realm of princ, or NULL if this KDC does not serve it. */
struct devreg_realm *devreg_realm_find(struct devreg_realms *realms,
                                       krb5_const_principal princ);

/* Nonzero if princ is NAMESPACE/ID with a valid device id. */
int devreg_is_device(const struct devreg_realm *dr,
                     krb5_const_principal princ);

/* The realm's store, opened on first use in this process. */
krb5_error_code devreg_realm_store(krb5_context ctx, struct devreg_realm *dr,
                                   struct ks_store **store_out);

/* Nonzero if the device princ is in the provisioned table. */
int devreg_is_provisioned(krb5_context ctx, struct devreg_realm *dr,
                          struct ks_store *store, krb5_const_principal princ);

/* Make the ticket being issued a registration ticket: it ends
 * registration_max_life after its start, or at the requested end. */
void devreg_set_registration_times(const struct devreg_realm *dr,
                                   const krb5_kdc_req *request,
                                   krb5_enc_tkt_part *enc_tkt_reply);

/* Make a freshness token for client. */
krb5_error_code devreg_freshness_make(krb5_context ctx,
                                      const struct devreg_realm *dr,
                                      krb5_const_principal client,
                                      krb5_data *token_out);

/* Check a freshness token for client: KRB5KDC_ERR_PREAUTH_EXPIRED when it
 * is older (or newer) than clockskew, KRB5KDC_ERR_PREAUTH_FAILED when it
 * does not decrypt or names another client. */
krb5_error_code devreg_freshness_check(krb5_context ctx,
                                       const struct devreg_realm *dr,
                                       krb5_const_principal client,
                                       const krb5_data *token);

#endif
