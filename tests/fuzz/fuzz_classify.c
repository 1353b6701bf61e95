/*
 * Fuzz target: principal names as they arrive from the network, through
 * ks_classify() and ks_device_id_valid().
 *
 * Input format: a principal written like krb5's unparsed form but raw:
 * components separated by '/', the realm after the first unescaped '@'
 * (everything after it, '/' and '@' included),
 * '\' making the next byte literal (so components may hold '/', '@', NUL
 * and any other byte).  Without an '@' the realm is EXAMPLE.TEST, the
 * realm being classified for, so that most inputs reach the service globs.
 *
 * Besides memory errors, the target aborts when a classification breaks
 * the rules of lib/ks_names.h (a device with an invalid id, a reserved
 * name matching a glob, a service without its rule, a foreign realm).
 */
#include "config.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>

#include "ks_config.h"
#include "ks_names.h"

#define REALM "EXAMPLE.TEST"
#define FUZZ_MAX_INPUT 65536

static krb5_context ctx;
static struct ks_config cfg;

static const char *const rules[] = {
    "host/*",
    "HTTP/*.example.test require_auth=devreg-provisioned",
    "ldap/*/" REALM " a=1 b=2",
    "*/[a-c]*.example.test",
    "svc-*",
    "x?y/*/*",
    "[!a-z]*/*",
    "*/*",                      /* catch-alls: reserved names must not */
    "*",                        /* reach them */
};
#define NRULES (sizeof(rules) / sizeof(*rules))

/* Build the fixed configuration once. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *why = NULL;
    size_t i;

    setenv("KRB5_CONFIG", "/dev/null", 1);
    if (krb5_init_context(&ctx) != 0)
        abort();
    cfg.device_namespace = strdup("device");
    cfg.services = calloc(NRULES, sizeof(*cfg.services));
    if (cfg.device_namespace == NULL || cfg.services == NULL)
        abort();
    for (i = 0; i < NRULES; i++) {
        if (ks_parse_service_rule(rules[i], &cfg.services[i], &why) != 0) {
            fprintf(stderr, "bad rule %s: %s\n", rules[i], why);
            abort();
        }
    }
    cfg.nservices = NRULES;
    return 0;
}

/*
 * Walk the input as described at the top of this file, calling out(d, c)
 * for each literal byte c of component d (d = ncomp for the realm); return
 * the number of components.
 */
static size_t
walk(const uint8_t *buf, size_t len, int *have_realm,
     void (*out)(void *arg, size_t d, char c), void *arg)
{
    size_t i, d = 0;

    *have_realm = 0;
    for (i = 0; i < len; i++) {
        if (buf[i] == '\\' && i + 1 < len) {
            i++;
            out(arg, *have_realm ? SIZE_MAX : d, (char)buf[i]);
        } else if (buf[i] == '/' && !*have_realm) {
            d++;
        } else if (buf[i] == '@' && !*have_realm) {
            *have_realm = 1;
        } else {
            out(arg, *have_realm ? SIZE_MAX : d, (char)buf[i]);
        }
    }
    return d + 1;
}

/* Per-component byte counts (the realm apart), filled by count_byte(). */
struct sizes {
    size_t n[4096], realm;
};

static void
count_byte(void *arg, size_t d, char c)
{
    struct sizes *sz = arg;

    if (d == SIZE_MAX)
        sz->realm++;
    else if (d < 4096)
        sz->n[d]++;
}

/* walk() callback that stores into the principal's components. */
static void
store_byte(void *arg, size_t d, char c)
{
    krb5_principal p = arg;
    krb5_data *t = (d == SIZE_MAX) ? &p->realm : &p->data[d];

    t->data[t->length++] = c;
}

/* Decode the input into a principal; NULL if it has too many components
 * (over 4096) or memory runs out. */
static krb5_principal
decode(const uint8_t *buf, size_t len)
{
    static struct sizes sz;
    krb5_principal p;
    size_t i, ncomp;
    int have_realm;

    memset(&sz, 0, sizeof(sz));
    ncomp = walk(buf, len, &have_realm, count_byte, &sz);
    if (ncomp > 4096)
        return NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->magic = KV5M_PRINCIPAL;
    p->type = KRB5_NT_PRINCIPAL;
    p->data = calloc(ncomp, sizeof(*p->data));
    if (p->data == NULL)
        goto fail;
    p->length = (krb5_int32)ncomp;
    for (i = 0; i < ncomp; i++) {
        p->data[i].magic = KV5M_DATA;
        /* Exact sizes, so that ASan sees any read past a component. */
        p->data[i].data = malloc(sz.n[i] ? sz.n[i] : 1);
        if (p->data[i].data == NULL)
            goto fail;
    }
    p->realm.magic = KV5M_DATA;
    p->realm.data = malloc(have_realm ? (sz.realm ? sz.realm : 1) :
                           strlen(REALM));
    if (p->realm.data == NULL)
        goto fail;
    walk(buf, len, &have_realm, store_byte, p);
    if (!have_realm) {
        memcpy(p->realm.data, REALM, strlen(REALM));
        p->realm.length = strlen(REALM);
    }
    return p;

fail:
    krb5_free_principal(ctx, p);
    return NULL;
}

/* Nonzero if component i of p equals s. */
static int
comp_eq(krb5_const_principal p, int i, const char *s)
{
    return i < p->length && p->data[i].length == strlen(s) &&
        memcmp(p->data[i].data, s, p->data[i].length) == 0;
}

/* Abort when the classification breaks the rules of ks_names.h. */
static void
check_invariants(krb5_const_principal p, enum ks_kind kind,
                 const struct ks_service_rule *rule)
{
    int in_realm = p->realm.length == strlen(REALM) &&
        memcmp(p->realm.data, REALM, p->realm.length) == 0;

    if (kind != KS_KIND_NONE && !in_realm)
        abort();
    if ((kind == KS_KIND_SERVICE) != (rule != NULL))
        abort();
    switch (kind) {
    case KS_KIND_KRBTGT:
        if (p->length != 2 || !comp_eq(p, 0, "krbtgt") ||
            !comp_eq(p, 1, REALM))
            abort();
        break;
    case KS_KIND_DEVREG:
        if (p->length != 2 || !comp_eq(p, 0, "devreg") ||
            !comp_eq(p, 1, REALM))
            abort();
        break;
    case KS_KIND_DEVICE:
        if (p->length != 2 || !comp_eq(p, 0, cfg.device_namespace) ||
            !ks_device_id_valid(p->data[1].data, p->data[1].length))
            abort();
        break;
    case KS_KIND_MASTER:
        if (p->length != 2 || !comp_eq(p, 0, "K") || !comp_eq(p, 1, "M"))
            abort();
        break;
    case KS_KIND_SERVICE:
        if (comp_eq(p, 0, "krbtgt") || comp_eq(p, 0, "devreg") ||
            comp_eq(p, 0, "kadmin") || comp_eq(p, 0, "K") ||
            comp_eq(p, 0, cfg.device_namespace))
            abort();
        if (rule < cfg.services || rule >= cfg.services + cfg.nservices)
            abort();
        break;
    default:
        break;
    }
}

/* Abort if ks_device_id_valid() accepts bytes outside the documented
 * rule: 1-64 of [A-Za-z0-9._:-], first a letter or digit. */
static void
check_device_id(const char *id, size_t len)
{
    size_t i;
    unsigned char c;

    if (!ks_device_id_valid(id, len))
        return;
    if (len < 1 || len > KS_DEVICE_ID_MAX)
        abort();
    for (i = 0; i < len; i++) {
        c = (unsigned char)id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') ||
              (i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'))))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    krb5_principal p;
    const struct ks_service_rule *rule = NULL;
    enum ks_kind kind;
    krb5_int32 i;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    check_device_id((const char *)data, size);
    p = decode(data, size);
    if (p == NULL)
        return 0;
    kind = ks_classify(ctx, &cfg, REALM, p, &rule);
    check_invariants(p, kind, rule);
    if (ks_classify(ctx, &cfg, REALM, p, NULL) != kind)
        abort();
    for (i = 0; i < p->length; i++)
        check_device_id(p->data[i].data, p->data[i].length);
    (void)ks_kind_name(kind);
    krb5_free_principal(ctx, p);
    return 0;
}
