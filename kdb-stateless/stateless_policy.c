/*
 * Ticket policy of the stateless backend (stateless_policy.h).
 *
 * The indicators read here are those the devreg preauth module put into
 * the device's TGT at login (devreg-anonymous from the registration
 * ticket, devreg-provisioned from the provisioned table), carried as
 * AD-IF-RELEVANT { AD-CAMMAC { AD-AUTH-INDICATOR } } in the ticket's
 * encrypted part.  The KDC decrypted that ticket with its own krbtgt key
 * before calling us, which is what makes the unverified CAMMAC
 * trustworthy: only the KDC can have written it.
 *
 * User-to-user: an anonymous, unprovisioned device asking for a ticket to
 * another device (device/ID with ENC-TKT-IN-SKEY) is held to the same
 * rule; an operator who wants such devices to reach their peers adds a
 * glob of the device namespace to unprovisioned_services.
 * Tickets *to* an unprovisioned device are not restricted: the rule is on
 * what the device may reach, and its peers' own TGTs decide theirs.
 */
#include "config.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "ks_asn1.h"
#include "ks_iana.h"
#include "ks_names.h"
#include "stateless_policy.h"

/* Nonzero if the NULL-terminated list holds the string s. */
static int
has_indicator(char *const *list, const char *s)
{
    size_t i;

    for (i = 0; list != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0)
            return 1;
    }
    return 0;
}

/*
 * Nonzero if server, a principal of realm, matches an
 * unprovisioned_services glob: fnmatch(3) with FNM_PATHNAME on the name
 * without realm, as for service rules (ks_names.h).  Unlike service rules
 * any name may match, the device namespace included (user-to-user).
 */
static int
unprovisioned_allowed(krb5_context ctx, const struct ks_config *cfg,
                      const char *realm, krb5_const_principal server)
{
    char *name = NULL;
    size_t i;
    int found = 0;

    if (cfg->nunprovisioned == 0 || server->realm.length != strlen(realm) ||
        memcmp(server->realm.data, realm, server->realm.length) != 0)
        return 0;
    if (krb5_unparse_name_flags(ctx, server, KRB5_PRINCIPAL_UNPARSE_NO_REALM,
                                &name) != 0)
        return 0;
    for (i = 0; i < cfg->nunprovisioned && !found; i++)
        found = fnmatch(cfg->unprovisioned_services[i], name,
                        FNM_PATHNAME) == 0;
    krb5_free_unparsed_name(ctx, name);
    return found;
}

/* Nonzero if p is the device principal namespace/ID of realm. */
static int
is_device(krb5_context ctx, const struct ks_config *cfg, const char *realm,
          krb5_const_principal p)
{
    return ks_classify(ctx, cfg, realm, p, NULL) == KS_KIND_DEVICE;
}

/* Set a policy error naming client and server, and the log status. */
static krb5_error_code
refuse(krb5_context ctx, krb5_const_principal client,
       krb5_const_principal server, const char *status_lit,
       const char **status, const char *why)
{
    char *cname = NULL, *sname = NULL;

    /* Names are for the message only; an unparse failure leaves "?". */
    (void)krb5_unparse_name(ctx, client, &cname);
    (void)krb5_unparse_name(ctx, server, &sname);
    krb5_set_error_message(ctx, KRB5KDC_ERR_POLICY, "stateless: %s may not "
                           "get a ticket for %s: %s",
                           cname != NULL ? cname : "?",
                           sname != NULL ? sname : "?", why);
    krb5_free_unparsed_name(ctx, cname);
    krb5_free_unparsed_name(ctx, sname);
    *status = status_lit;
    return KRB5KDC_ERR_POLICY;
}

krb5_error_code
ks_policy_check_tgs(krb5_context ctx, const struct ks_config *cfg,
                    const char *realm, krb5_const_principal server,
                    const krb5_ticket *ticket, const char **status)
{
    const krb5_enc_tkt_part *enc;
    char **indicators = NULL;
    char id[KS_DEVICE_ID_MAX + 1] = "ID", why[256];
    krb5_error_code ret;

    /* libkdb5 calls us only after the KDC decrypted the header ticket;
     * without its plaintext there is nothing to decide on, so refuse. */
    if (ticket == NULL || ticket->enc_part2 == NULL) {
        *status = KS_POLICY_STATUS_BAD_AUTHDATA;
        krb5_set_error_message(ctx, KRB5KDC_ERR_POLICY, "stateless: TGS "
                               "policy check without a decrypted ticket");
        return KRB5KDC_ERR_POLICY;
    }
    enc = ticket->enc_part2;
    if (enc->authorization_data == NULL)
        return 0;

    ret = ks_authdata_indicators(ctx, enc->authorization_data, &indicators);
    if (ret) {
        /* Fail closed: the KDC wrote this ticket, so malformed
         * authorization data means it is not a ticket we can judge. */
        ret = refuse(ctx, enc->client, server, KS_POLICY_STATUS_BAD_AUTHDATA,
                     status, "its ticket's auth indicators cannot be read");
        goto cleanup;
    }
    if (!has_indicator(indicators, KS_INDICATOR_ANONYMOUS) ||
        has_indicator(indicators, KS_INDICATOR_PROVISIONED))
        goto cleanup;

    /* The restricted profile: krbtgt (TGT renewal) and the globs. */
    if (ks_classify(ctx, cfg, realm, server, NULL) == KS_KIND_KRBTGT ||
        unprovisioned_allowed(ctx, cfg, realm, server))
        goto cleanup;
    /* Name the device in the fix when the client is one (it always is
     * for devreg logins; "ID" otherwise). */
    if (is_device(ctx, cfg, realm, enc->client)) {
        snprintf(id, sizeof(id), "%.*s", (int)enc->client->data[1].length,
                 enc->client->data[1].data);
    }
    snprintf(why, sizeof(why), "the device registered anonymously and is "
             "not provisioned, so it may reach only unprovisioned_services "
             "(provision it with 'kstateless provision %s', then log in "
             "again)", id);
    ret = refuse(ctx, enc->client, server, KS_POLICY_STATUS_UNPROVISIONED,
                 status, why);

cleanup:
    ks_free_indicators(indicators);
    return ret;
}

krb5_error_code
ks_policy_check_as(krb5_context ctx, const struct ks_config *cfg,
                   const char *realm, krb5_const_principal client,
                   krb5_const_principal server, const char **status)
{
    enum ks_kind kind;

    if (client == NULL || server == NULL ||
        !is_device(ctx, cfg, realm, client))
        return 0;
    kind = ks_classify(ctx, cfg, realm, server, NULL);
    if (kind == KS_KIND_KRBTGT || kind == KS_KIND_DEVREG ||
        unprovisioned_allowed(ctx, cfg, realm, server))
        return 0;
    return refuse(ctx, client, server, KS_POLICY_STATUS_AS_SERVICE, status,
                  "devices get service tickets with their TGT, where the "
                  "KDC checks their registration (log in, then use kvno)");
}
