/* What devreg_tamper and tempkey_tamper share; see tamper_common.h. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>
#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/crypto.h>

#include "ks_asn1.h"
#include "tamper_common.h"

/* ---- ASN.1 templates (RFC 4120) ----------------------------------------- */

ASN1_SEQUENCE(TAMPER_PA_DATA) = {
    ASN1_EXP(TAMPER_PA_DATA, type, ASN1_INTEGER, 1),
    ASN1_EXP(TAMPER_PA_DATA, value, ASN1_OCTET_STRING, 2),
} ASN1_SEQUENCE_END(TAMPER_PA_DATA)

ASN1_ITEM_TEMPLATE(TAMPER_METHOD_DATA) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, TAMPER_METHOD_DATA,
                          TAMPER_PA_DATA)
ASN1_ITEM_TEMPLATE_END(TAMPER_METHOD_DATA)

ASN1_SEQUENCE(TAMPER_KDC_REQ) = {
    ASN1_EXP(TAMPER_KDC_REQ, pvno, ASN1_INTEGER, 1),
    ASN1_EXP(TAMPER_KDC_REQ, msg_type, ASN1_INTEGER, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(TAMPER_KDC_REQ, padata, TAMPER_PA_DATA, 3),
    ASN1_EXP(TAMPER_KDC_REQ, req_body, ASN1_ANY, 4),
} ASN1_SEQUENCE_END(TAMPER_KDC_REQ)

ASN1_ITEM_TEMPLATE(TAMPER_AS_REQ) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_EXPTAG | ASN1_TFLG_APPLICATION, 10,
                          TAMPER_AS_REQ, TAMPER_KDC_REQ)
ASN1_ITEM_TEMPLATE_END(TAMPER_AS_REQ)

ASN1_SEQUENCE(TAMPER_KDC_REP) = {
    ASN1_EXP(TAMPER_KDC_REP, pvno, ASN1_INTEGER, 0),
    ASN1_EXP(TAMPER_KDC_REP, msg_type, ASN1_INTEGER, 1),
    ASN1_EXP_SEQUENCE_OF_OPT(TAMPER_KDC_REP, padata, TAMPER_PA_DATA, 2),
    ASN1_EXP(TAMPER_KDC_REP, crealm, ASN1_ANY, 3),
    ASN1_EXP(TAMPER_KDC_REP, cname, ASN1_ANY, 4),
    ASN1_EXP(TAMPER_KDC_REP, ticket, ASN1_ANY, 5),
    ASN1_EXP(TAMPER_KDC_REP, enc_part, ASN1_ANY, 6),
} ASN1_SEQUENCE_END(TAMPER_KDC_REP)

ASN1_ITEM_TEMPLATE(TAMPER_AS_REP) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_EXPTAG | ASN1_TFLG_APPLICATION, 11,
                          TAMPER_AS_REP, TAMPER_KDC_REP)
ASN1_ITEM_TEMPLATE_END(TAMPER_AS_REP)

/* ---- state -------------------------------------------------------------- */

static const char *prog = "tamper";
static krb5_context ctx;
static unsigned int tampered;           /* tamperings done */
static krb5_error_code hook_ret;        /* first failure inside a hook */
static char hook_what[256];

/* ---- set-up, reporting and the tampering count -------------------------- */

krb5_context
tamper_init(const char *name, krb5_pre_send_fn send_hook,
            krb5_post_recv_fn recv_hook)
{
    prog = name;
    if (krb5_init_context(&ctx) != 0) {
        fprintf(stderr, "%s: cannot initialize krb5\n", prog);
        ctx = NULL;
        return NULL;
    }
    if (send_hook != NULL)
        krb5_set_kdc_send_hook(ctx, send_hook, NULL);
    if (recv_hook != NULL)
        krb5_set_kdc_recv_hook(ctx, recv_hook, NULL);
    return ctx;
}

void
tamper_fini(void)
{
    krb5_free_context(ctx);
    ctx = NULL;
}

void
tamper_report(krb5_error_code code, const char *what)
{
    const char *msg = krb5_get_error_message(ctx, code);

    fprintf(stderr, "%s: %s: %s\n", prog, what, msg);
    krb5_free_error_message(ctx, msg);
}

krb5_error_code
tamper_hook_fail(krb5_error_code code, const char *what)
{
    if (hook_ret == 0) {
        hook_ret = code;
        snprintf(hook_what, sizeof(hook_what), "%s", what);
    }
    return code;
}

void
tamper_done(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    tampered++;
}

unsigned int
tamper_count(void)
{
    return tampered;
}

int
tamper_outcome(krb5_error_code ret, krb5_boolean tampering,
               const char *protocol, krb5_boolean kinit_password)
{
    const char *msg;

    if (hook_ret) {
        tamper_report(hook_ret, hook_what);
        return 3;
    }
    if (tampering && tampered == 0) {
        msg = ret ? krb5_get_error_message(ctx, ret) : NULL;
        fprintf(stderr, "%s: nothing was tampered with (no %s message of "
                "the expected kind went by)%s%s\n", prog, protocol,
                msg != NULL ? "; the exchange failed: " : "",
                msg != NULL ? msg : "");
        krb5_free_error_message(ctx, msg);
        return 3;
    }
    if (!ret)
        return 0;
    msg = krb5_get_error_message(ctx, ret);
    /* The line kinit would print, so that tests judge what a kinit user
     * sees; the library's own code and message follow on a line of their
     * own.  Stock kinit replaces the message of
     * KRB5KRB_AP_ERR_BAD_INTEGRITY with "Password incorrect". */
    if (kinit_password && ret == KRB5KRB_AP_ERR_BAD_INTEGRITY)
        fprintf(stderr, "%s: Password incorrect while getting initial "
                "credentials\n", prog);
    else
        fprintf(stderr, "%s: %s while getting initial credentials\n", prog,
                msg);
    fprintf(stderr, "%s: (library: error %ld: %s)\n", prog, (long)ret, msg);
    krb5_free_error_message(ctx, msg);
    return 1;
}

int
tamper_set_attrs(krb5_get_init_creds_opt *opt, char **attrs, int nattrs)
{
    krb5_error_code ret = 0;
    char *attr = NULL, *eq;
    int i;

    for (i = 0; !ret && i < nattrs; i++) {
        free(attr);
        attr = strdup(attrs[i]);
        if (attr == NULL) {
            ret = ENOMEM;
            break;
        }
        eq = strchr(attr, '=');
        if (eq == NULL) {
            fprintf(stderr, "%s: '%s' is not ATTR=VALUE\n", prog, attrs[i]);
            free(attr);
            return 2;
        }
        *eq = '\0';
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, attr, eq + 1);
    }
    free(attr);
    if (ret) {
        tamper_report(ret, "setting the -X attributes");
        return 3;
    }
    return 0;
}

/* ---- DER and PA-DATA ---------------------------------------------------- */

ASN1_VALUE *
tamper_der_decode(const ASN1_ITEM *it, const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    ASN1_VALUE *v;

    if (len == 0 || len > KS_ASN1_MAX_INPUT)
        return NULL;
    v = ASN1_item_d2i(NULL, &p, (long)len, it);
    if (v != NULL && p != der + len) {
        ASN1_item_free(v, it);
        return NULL;
    }
    return v;
}

krb5_error_code
tamper_der_encode(const ASN1_ITEM *it, const ASN1_VALUE *v, krb5_data *out)
{
    unsigned char *der = NULL;
    int len;

    memset(out, 0, sizeof(*out));
    len = ASN1_item_i2d(v, &der, it);
    if (len <= 0)
        return ASN1_BAD_FORMAT;
    out->data = malloc(len);
    if (out->data == NULL) {
        OPENSSL_free(der);
        return ENOMEM;
    }
    memcpy(out->data, der, len);
    out->length = len;
    out->magic = KV5M_DATA;
    OPENSSL_free(der);
    return 0;
}

TAMPER_PA_DATA *
tamper_find_padata(STACK_OF(TAMPER_PA_DATA) *list, int32_t type)
{
    TAMPER_PA_DATA *pa;
    int64_t t;
    int i;

    for (i = 0; list != NULL && i < sk_TAMPER_PA_DATA_num(list); i++) {
        pa = sk_TAMPER_PA_DATA_value(list, i);
        if (pa != NULL && pa->type != NULL && pa->value != NULL &&
            ASN1_INTEGER_get_int64(&t, pa->type) && t == type)
            return pa;
    }
    return NULL;
}

krb5_error_code
tamper_set_padata_value(TAMPER_PA_DATA *pa, const unsigned char *der,
                        size_t len)
{
    if (len > INT_MAX || !ASN1_OCTET_STRING_set(pa->value, der, (int)len))
        return ENOMEM;
    return 0;
}

/* ---- the KDC's errors and the client's requests ------------------------- */

STACK_OF(TAMPER_PA_DATA) *
tamper_error_padata(const krb5_data *reply, krb5_error **err_out)
{
    *err_out = NULL;
    if (krb5_rd_error(ctx, reply, err_out) != 0) {
        *err_out = NULL;
        return NULL;
    }
    if ((*err_out)->e_data.length == 0)
        return NULL;
    return (STACK_OF(TAMPER_PA_DATA) *)
        tamper_der_decode(ASN1_ITEM_rptr(TAMPER_METHOD_DATA),
                          (unsigned char *)(*err_out)->e_data.data,
                          (*err_out)->e_data.length);
}

krb5_error_code
tamper_rebuild_error(krb5_error *err, STACK_OF(TAMPER_PA_DATA) *md,
                     krb5_data **new_reply_out)
{
    krb5_data new_edata, enc, saved;
    krb5_error_code ret;

    memset(&enc, 0, sizeof(enc));
    ret = tamper_der_encode(ASN1_ITEM_rptr(TAMPER_METHOD_DATA),
                            (ASN1_VALUE *)md, &new_edata);
    if (ret)
        return tamper_hook_fail(ret, "re-encoding the challenge");
    saved = err->e_data;
    err->e_data = new_edata;
    ret = krb5_mk_error(ctx, err, &enc);
    err->e_data = saved;
    if (!ret)
        ret = krb5_copy_data(ctx, &enc, new_reply_out);
    if (ret)
        tamper_hook_fail(ret, "re-encoding the KDC's error");
    krb5_free_data_contents(ctx, &enc);
    free(new_edata.data);
    return ret;
}

TAMPER_KDC_REQ *
tamper_as_req_padata(const krb5_data *message, int32_t type,
                     TAMPER_PA_DATA **pa_out)
{
    TAMPER_KDC_REQ *req;

    req = (TAMPER_KDC_REQ *)
        tamper_der_decode(ASN1_ITEM_rptr(TAMPER_AS_REQ),
                          (unsigned char *)message->data, message->length);
    *pa_out = req != NULL ? tamper_find_padata(req->padata, type) : NULL;
    return req;
}

krb5_error_code
tamper_replace_as_req(const TAMPER_KDC_REQ *req, krb5_data **new_message_out)
{
    krb5_data enc;
    krb5_error_code ret;

    ret = tamper_der_encode(ASN1_ITEM_rptr(TAMPER_AS_REQ),
                            (const ASN1_VALUE *)req, &enc);
    if (!ret) {
        ret = krb5_copy_data(ctx, &enc, new_message_out);
        free(enc.data);
    }
    if (ret)
        tamper_hook_fail(ret, "re-encoding the AS-REQ");
    return ret;
}
