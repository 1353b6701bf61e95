/* What devreg.so and tempkey.so do alike; see ks_preauth.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_config.h"
#include "ks_preauth.h"

/* ---- padata elements ---------------------------------------------------- */

krb5_error_code
ks_preauth_padata_new(krb5_preauthtype type, unsigned char *der, size_t len,
                      krb5_pa_data **pa_out)
{
    krb5_pa_data *pa;

    *pa_out = NULL;
    pa = calloc(1, sizeof(*pa));
    if (pa == NULL) {
        free(der);
        return ENOMEM;
    }
    pa->magic = KV5M_PA_DATA;
    pa->pa_type = type;
    pa->contents = der;
    pa->length = len;
    *pa_out = pa;
    return 0;
}

krb5_error_code
ks_preauth_padata_list(krb5_pa_data *pa, krb5_pa_data ***list_out)
{
    krb5_pa_data **list;

    *list_out = NULL;
    list = calloc(2, sizeof(*list));
    if (list == NULL) {
        ks_preauth_padata_free(pa);
        return ENOMEM;
    }
    list[0] = pa;
    *list_out = list;
    return 0;
}

/* A deep copy of pa. */
static krb5_error_code
padata_copy(const krb5_pa_data *pa, krb5_pa_data **copy_out)
{
    krb5_pa_data *copy;

    copy = calloc(1, sizeof(*copy));
    if (copy == NULL)
        return ENOMEM;
    *copy = *pa;
    copy->contents = malloc(pa->length ? pa->length : 1);
    if (copy->contents == NULL) {
        free(copy);
        return ENOMEM;
    }
    if (pa->length > 0)
        memcpy(copy->contents, pa->contents, pa->length);
    *copy_out = copy;
    return 0;
}

void
ks_preauth_padata_free(krb5_pa_data *pa)
{
    if (pa != NULL) {
        free(pa->contents);
        free(pa);
    }
}

/* The first element of type in the NULL-terminated list, or NULL. */
static krb5_pa_data *
padata_find(krb5_pa_data *const *list, krb5_preauthtype type)
{
    size_t i;

    for (i = 0; list != NULL && list[i] != NULL; i++) {
        if (list[i]->pa_type == type)
            return list[i];
    }
    return NULL;
}

/* ---- configuration ------------------------------------------------------ */

char *
ks_preauth_realm_string(profile_t profile, const char *realm, const char *key)
{
    char *val = NULL, *copy;

    if (profile_get_string(profile, "realms", realm, key, NULL, &val) != 0 ||
        val == NULL)
        return NULL;
    copy = strdup(val);
    profile_release_string(val);
    if (copy != NULL)
        ks_config_strip_comment(copy);
    return copy;
}

krb5_error_code
ks_preauth_db_library(profile_t profile, const char *section, char **lib_out)
{
    char *lib = NULL;

    *lib_out = NULL;
    if (profile_get_string(profile, "dbmodules", section, "db_library", NULL,
                           &lib) != 0 || lib == NULL)
        return 0;
    *lib_out = strdup(lib);
    profile_release_string(lib);
    return (*lib_out == NULL) ? ENOMEM : 0;
}

int
ks_preauth_princ_in_realm(krb5_const_principal princ, const char *realm)
{
    return princ->realm.length == strlen(realm) &&
        memcmp(princ->realm.data, realm, princ->realm.length) == 0;
}

krb5_error_code
ks_preauth_set_string(char **field, const char *value)
{
    char *copy = strdup(value);

    if (copy == NULL)
        return ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

/* ---- refusals ----------------------------------------------------------- */

void
ks_preauth_cut_text(const char *text, char buf[KS_PREAUTH_TEXT_MAX + 1])
{
    size_t len;

    snprintf(buf, KS_PREAUTH_TEXT_MAX + 1, "%s", text);
    len = strlen(buf);
    if (len == KS_PREAUTH_TEXT_MAX) {
        /* Back over continuation bytes, then over the lead byte. */
        while (len > 0 && ((unsigned char)buf[len - 1] & 0xC0) == 0x80)
            len--;
        if (len > 0 && ((unsigned char)buf[len - 1] & 0x80))
            len--;
        buf[len] = '\0';
    }
}

/* The table entry of cause, or NULL. */
static const struct ks_preauth_cause *
cause_find(const struct ks_preauth_causes *causes, int32_t cause)
{
    size_t i;

    for (i = 0; i < causes->n; i++) {
        if (causes->list[i].code == cause)
            return &causes->list[i];
    }
    return NULL;
}

/* The code cause travels with. */
static krb5_error_code
wire_code(const struct ks_preauth_causes *causes, int32_t cause)
{
    const struct ks_preauth_cause *c = cause_find(causes, cause);

    return (c != NULL) ? c->wire : KRB5KDC_ERR_PREAUTH_FAILED;
}

/* The name of cause, or NULL. */
static const char *
cause_name(const struct ks_preauth_causes *causes, int32_t cause)
{
    const struct ks_preauth_cause *c = cause_find(causes, cause);

    return (c != NULL) ? c->name : NULL;
}

/* Turn the refusal *code of cause into its wire code with the same
 * message, and the error e-data (see ks_preauth_verify_respond). */
static void
refuse(krb5_context ctx, const struct ks_preauth_causes *causes,
       int32_t cause, krb5_error_code *code, krb5_pa_data ***e_data_out)
{
    const char *msg = krb5_get_error_message(ctx, *code);
    krb5_error_code wire = wire_code(causes, cause);
    char *text = strdup(msg);

    krb5_free_error_message(ctx, msg);
    if (text == NULL) {
        *code = ENOMEM;
        return;
    }
    if (causes->error_edata(cause, text, e_data_out) != 0)
        *e_data_out = NULL;
    *code = wire;
    krb5_set_error_message(ctx, wire, "%s", text);
    free(text);
}

void
ks_preauth_verify_respond(krb5_context ctx,
                          const struct ks_preauth_causes *causes,
                          krb5_error_code ret, int32_t cause,
                          krb5_pa_data *reply, krb5_pa_data **e_data,
                          krb5_kdcpreauth_verify_respond_fn respond,
                          void *arg)
{
    if (ret != 0 && cause != 0) {
        refuse(ctx, causes, cause, &ret, &e_data);
        ks_preauth_padata_free(reply);
        reply = NULL;
    }
    (*respond)(arg, ret, (krb5_kdcpreauth_modreq)reply, e_data, NULL);
}

krb5_error_code
ks_preauth_return_padata(krb5_context ctx, krb5_pa_data *padata,
                         krb5_data *req_pkt, krb5_kdc_req *request,
                         krb5_kdc_rep *reply, krb5_keyblock *encrypting_key,
                         krb5_pa_data **send_pa_out,
                         krb5_kdcpreauth_callbacks cb,
                         krb5_kdcpreauth_rock rock,
                         krb5_kdcpreauth_moddata moddata,
                         krb5_kdcpreauth_modreq modreq)
{
    krb5_pa_data *pa = (krb5_pa_data *)modreq;

    if (pa == NULL)
        return 0;
    return padata_copy(pa, send_pa_out);
}

void
ks_preauth_free_modreq(krb5_context ctx, krb5_kdcpreauth_moddata moddata,
                       krb5_kdcpreauth_modreq modreq)
{
    ks_preauth_padata_free((krb5_pa_data *)modreq);
}

/* ---- refusals: the client side ------------------------------------------ */

/* Keep msg (malloc'ed, taken; NULL after a failed allocation is fine) as
 * the message r ends with, on code. */
static void
keep_message(struct ks_preauth_refusal *r, krb5_error_code code, char *msg)
{
    if (r == NULL || msg == NULL) {
        free(msg);
        return;
    }
    free(r->msg);
    r->msg = msg;
    r->code = code;
}

void
ks_preauth_refusal_fini(krb5_context ctx, struct ks_preauth_refusal *r)
{
    if (r == NULL)
        return;
    if (r->msg != NULL)
        krb5_set_error_message(ctx, r->code, "%s", r->msg);
    free(r->msg);
    r->msg = NULL;
}

void
ks_preauth_refuse_reply(krb5_context ctx, struct ks_preauth_refusal *r,
                        krb5_error_code code)
{
    const char *msg;

    if (r == NULL)
        return;
    msg = krb5_get_error_message(ctx, code);
    keep_message(r, KRB5_LIBOS_CANTREADPWD, strdup(msg));
    krb5_free_error_message(ctx, msg);
}

/* The krb5 error code of the KDC's error (KRB5_PREAUTH_FAILED for
 * none). */
static krb5_error_code
error_code(const krb5_error *error)
{
    return (error != NULL) ? (krb5_error_code)error->error +
        ERROR_TABLE_BASE_krb5 : KRB5_PREAUTH_FAILED;
}

/* Make, set on code and keep in r the message of a refusal the KDC
 * explained with cause (named name, or NULL) and text (or NULL); see
 * ks_preauth_tryagain.  Return 0 or ENOMEM. */
static krb5_error_code
kdc_refused(krb5_context ctx, struct ks_preauth_refusal *r,
            krb5_error_code code, const char *mech, int32_t cause,
            const char *name, char *text)
{
    char *p, *out = NULL;
    int n;

    if (text != NULL) {
        /* The KDC's words; keep control characters off the terminal. */
        for (p = text; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        }
        n = asprintf(&out, "KDC refused: %s%s%s%s", text, name ? " [" : "",
                     name ? name : "", name ? "]" : "");
    } else {
        n = asprintf(&out, "KDC refused the %s request (cause %d%s%s)", mech,
                     (int)cause, name ? ": " : "", name ? name : "");
    }
    if (n < 0)
        return ENOMEM;
    krb5_set_error_message(ctx, code, "%s", out);
    keep_message(r, code, out);
    return 0;
}

krb5_error_code
ks_preauth_tryagain(krb5_context ctx, const struct ks_preauth_causes *causes,
                    struct ks_preauth_refusal *r, const krb5_error *error,
                    krb5_pa_data *const *error_padata)
{
    krb5_error_code code = error_code(error), ret;
    krb5_pa_data *pa;
    int32_t cause = 0;
    char *text = NULL;

    pa = padata_find(error_padata, causes->pa_type);
    if (pa == NULL || causes->error_decode(pa, &cause, &text) != 0)
        return code;
    ret = kdc_refused(ctx, r, code, causes->mech, cause,
                      cause_name(causes, cause), text);
    free(text);
    return ret ? ret : code;
}
