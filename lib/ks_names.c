/* Classification of principal names; the rules are in ks_names.h. */
#include "config.h"

#include <ctype.h>
#include <fnmatch.h>
#include <string.h>

#include "ks_names.h"

int
ks_device_id_valid(const char *id, size_t len)
{
    size_t i;
    unsigned char c;

    if (len < 1 || len > KS_DEVICE_ID_MAX)
        return 0;
    if (!isalnum((unsigned char)id[0]))
        return 0;
    for (i = 0; i < len; i++) {
        c = (unsigned char)id[i];
        if (!(isascii(c) && isalnum(c)) && c != '.' && c != '_' &&
            c != ':' && c != '-')
            return 0;
    }
    return 1;
}

/* Nonzero if component i of p equals the NUL-terminated s. */
static int
comp_is(krb5_const_principal p, int i, const char *s)
{
    size_t n = strlen(s);

    return i < p->length && p->data[i].length == n &&
        (n == 0 || memcmp(p->data[i].data, s, n) == 0);
}

/* Nonzero if data d equals the NUL-terminated s. */
static int
data_is(const krb5_data *d, const char *s)
{
    size_t n = strlen(s);

    return d->length == n && (n == 0 || memcmp(d->data, s, n) == 0);
}

enum ks_kind
ks_classify(krb5_context ctx, const struct ks_config *cfg, const char *realm,
            krb5_const_principal p, const struct ks_service_rule **rule_out)
{
    char *name = NULL;
    enum ks_kind kind = KS_KIND_NONE;
    size_t i;

    if (rule_out != NULL)
        *rule_out = NULL;
    if (p == NULL || p->length < 1 || !data_is(&p->realm, realm))
        return KS_KIND_NONE;

    if (comp_is(p, 0, "krbtgt"))
        return (p->length == 2 && comp_is(p, 1, realm)) ? KS_KIND_KRBTGT :
            KS_KIND_NONE;
    if (comp_is(p, 0, "devreg"))
        return (p->length == 2 && comp_is(p, 1, realm)) ? KS_KIND_DEVREG :
            KS_KIND_NONE;
    if (comp_is(p, 0, cfg->device_namespace)) {
        return (p->length == 2 &&
                ks_device_id_valid(p->data[1].data, p->data[1].length)) ?
            KS_KIND_DEVICE : KS_KIND_NONE;
    }
    if (p->length == 2 && comp_is(p, 0, "K") && comp_is(p, 1, "M"))
        return KS_KIND_MASTER;
    if (comp_is(p, 0, "kadmin") || comp_is(p, 0, "K"))
        return KS_KIND_NONE;

    if (cfg->nservices == 0)
        return KS_KIND_NONE;
    if (krb5_unparse_name_flags(ctx, p, KRB5_PRINCIPAL_UNPARSE_NO_REALM,
                                &name) != 0)
        return KS_KIND_NONE;
    for (i = 0; i < cfg->nservices; i++) {
        if (fnmatch(cfg->services[i].pattern, name, FNM_PATHNAME) == 0) {
            kind = KS_KIND_SERVICE;
            if (rule_out != NULL)
                *rule_out = &cfg->services[i];
            break;
        }
    }
    krb5_free_unparsed_name(ctx, name);
    return kind;
}

const char *
ks_kind_name(enum ks_kind kind)
{
    switch (kind) {
    case KS_KIND_KRBTGT:
        return "realm TGS principal";
    case KS_KIND_DEVREG:
        return "registration service principal";
    case KS_KIND_SERVICE:
        return "derived service principal";
    case KS_KIND_DEVICE:
        return "device principal";
    case KS_KIND_MASTER:
        return "master key placeholder";
    default:
        return "unknown principal";
    }
}
