/* Per-realm state of the devreg KDC module; see devreg_realm.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <profile.h>

#include "devreg_realm.h"
#include "ks_asn1.h"
#include "ks_freshness.h"
#include "ks_cms.h"
#include "ks_config.h"
#include "ks_iana.h"
#include "ks_names.h"
#include "ks_preauth.h"
#include "ks_util.h"

const int32_t devreg_groups[] = { KS_DEVREG_GROUP_X25519,
                                  KS_DEVREG_GROUP_P256 };
const size_t devreg_ngroups = sizeof(devreg_groups) / sizeof(*devreg_groups);

/* Fill dr for realm from the profile. */
static krb5_error_code
load_realm(krb5_context ctx, profile_t profile, const char *realm,
           struct devreg_realm *dr)
{
    struct ks_config *cfg = NULL;
    char *section = NULL, *lib = NULL, *s;
    krb5_error_code ret;

    dr->realm = strdup(realm);
    if (dr->realm == NULL)
        return ENOMEM;
    dr->clockskew = ks_config_clockskew(ctx);
    dr->registration_max_life = KS_DEFAULT_REGISTRATION_MAX_LIFE;
    ret = ks_config_section_for_realm(ctx, realm, &section);
    if (!ret)
        ret = ks_preauth_db_library(profile, section, &lib);
    if (ret)
        goto cleanup;
    /* The stateless backend's [dbmodules] section has the settings. */
    if (lib != NULL && strcmp(lib, "stateless") == 0) {
        ret = ks_config_load(ctx, section, &cfg);
        if (ret)
            goto cleanup;
        dr->device_namespace = strdup(cfg->device_namespace);
        dr->state_dir = strdup(cfg->state_dir);
        dr->registration_max_life = cfg->registration_max_life;
    } else {
        dr->device_namespace = strdup(KS_DEFAULT_DEVICE_NAMESPACE);
        dr->state_dir = ks_preauth_realm_string(profile, realm,
                                                "devreg_state_dir");
        if (dr->state_dir == NULL)
            dr->state_dir = strdup(DEVREG_DEFAULT_STATE_DIR);
    }
    if (dr->device_namespace == NULL || dr->state_dir == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    s = ks_preauth_realm_string(profile, realm, "devreg_identity");
    if (s != NULL) {
        ret = ks_identity_load(ctx, s, &dr->kdc_key, &dr->kdc_cert,
                               &dr->kdc_chain);
        free(s);
        if (ret)
            goto cleanup;
    }
    s = ks_preauth_realm_string(profile, realm,
                                "devreg_manufacturer_anchors");
    if (s != NULL) {
        ret = ks_anchors_load(ctx, s, &dr->mfr_anchors);
        free(s);
        if (ret)
            goto cleanup;
    }
    s = ks_preauth_realm_string(profile, realm, "devreg_allow_anonymous");
    dr->allow_anonymous = s != NULL &&
        (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
         strcmp(s, "1") == 0);
    free(s);
    ret = krb5_build_principal(ctx, &dr->devreg_princ, strlen(realm), realm,
                               "devreg", realm, (char *)NULL);
    if (!ret)
        ret = krb5_build_principal(ctx, &dr->krbtgt_princ, strlen(realm),
                                   realm, "krbtgt", realm, (char *)NULL);
    if (!ret)
        ret = krb5_unparse_name(ctx, dr->devreg_princ, &dr->devreg_name);

cleanup:
    ks_config_free(cfg);
    free(section);
    free(lib);
    return ret;
}

static void
free_realm(krb5_context ctx, struct devreg_realm *dr)
{
    free(dr->realm);
    free(dr->device_namespace);
    free(dr->state_dir);
    krb5_free_principal(ctx, dr->devreg_princ);
    krb5_free_principal(ctx, dr->krbtgt_princ);
    krb5_free_unparsed_name(ctx, dr->devreg_name);
    ks_store_close(dr->store);
    EVP_PKEY_free(dr->kdc_key);
    X509_free(dr->kdc_cert);
    if (dr->kdc_chain != NULL)
        sk_X509_pop_free(dr->kdc_chain, X509_free);
    X509_STORE_free(dr->mfr_anchors);
}

void
devreg_realms_free(krb5_context ctx, struct devreg_realms *realms)
{
    size_t i;

    if (realms == NULL)
        return;
    for (i = 0; i < realms->n; i++)
        free_realm(ctx, &realms->r[i]);
    free(realms->r);
    free(realms);
}

krb5_error_code
devreg_realms_load(krb5_context ctx, const char **realmnames,
                   struct devreg_realms **out)
{
    struct devreg_realms *realms;
    profile_t profile = NULL;
    krb5_error_code ret = 0;
    size_t n = 0, i;

    *out = NULL;
    while (realmnames != NULL && realmnames[n] != NULL)
        n++;
    realms = calloc(1, sizeof(*realms));
    if (realms == NULL)
        return ENOMEM;
    realms->r = calloc(n ? n : 1, sizeof(*realms->r));
    if (realms->r == NULL) {
        free(realms);
        return ENOMEM;
    }
    ret = krb5_get_profile(ctx, &profile);
    if (ret)
        goto cleanup;
    for (i = 0; i < n; i++) {
        ret = load_realm(ctx, profile, realmnames[i], &realms->r[i]);
        realms->n++;
        if (ret)
            goto cleanup;
    }
    *out = realms;
    realms = NULL;

cleanup:
    if (profile != NULL)
        profile_release(profile);
    devreg_realms_free(ctx, realms);
    return ret;
}

struct devreg_realm *
devreg_realm_find(struct devreg_realms *realms, krb5_const_principal princ)
{
    size_t i;

    if (realms == NULL || princ == NULL)
        return NULL;
    for (i = 0; i < realms->n; i++) {
        if (ks_preauth_princ_in_realm(princ, realms->r[i].realm))
            return &realms->r[i];
    }
    return NULL;
}

int
devreg_is_device(const struct devreg_realm *dr, krb5_const_principal princ)
{
    size_t nslen = strlen(dr->device_namespace);

    return princ->length == 2 && princ->data[0].length == nslen &&
        memcmp(princ->data[0].data, dr->device_namespace, nslen) == 0 &&
        ks_device_id_valid(princ->data[1].data, princ->data[1].length);
}

krb5_error_code
devreg_realm_store(krb5_context ctx, struct devreg_realm *dr,
                   struct ks_store **store_out)
{
    krb5_error_code ret;

    if (dr->store == NULL) {
        ret = ks_store_open(ctx, dr->state_dir, 0, &dr->store);
        if (ret)
            return ret;
    }
    *store_out = dr->store;
    return 0;
}

int
devreg_is_provisioned(krb5_context ctx, struct devreg_realm *dr,
                      struct ks_store *store, krb5_const_principal princ)
{
    char id[KS_DEVICE_ID_MAX + 1];
    time_t since;

    if (!devreg_is_device(dr, princ))
        return 0;
    memcpy(id, princ->data[1].data, princ->data[1].length);
    id[princ->data[1].length] = '\0';
    return ks_store_provision_get(ctx, store, id, &since) == 0;
}

void
devreg_set_registration_times(const struct devreg_realm *dr,
                              const krb5_kdc_req *request,
                              krb5_enc_tkt_part *enc_tkt_reply)
{
    krb5_timestamp start, end;

    start = enc_tkt_reply->times.starttime ? enc_tkt_reply->times.starttime :
        enc_tkt_reply->times.authtime;
    end = start + dr->registration_max_life;
    if (request->till != 0 && request->till < end)
        end = request->till;
    if (end > enc_tkt_reply->times.endtime)
        enc_tkt_reply->times.endtime = end;
}

krb5_error_code
devreg_freshness_make(krb5_context ctx, const struct devreg_realm *dr,
                      krb5_const_principal client, krb5_data *token_out)
{
    return ks_freshness_make(ctx, dr->krbtgt_princ, client, token_out);
}

krb5_error_code
devreg_freshness_check(krb5_context ctx, const struct devreg_realm *dr,
                       krb5_const_principal client, const krb5_data *token)
{
    return ks_freshness_check(ctx, dr->krbtgt_princ, dr->clockskew, client,
                              token, NULL);
}
