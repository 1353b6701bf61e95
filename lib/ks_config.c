/* Configuration of the stateless backend; see ks_config.h and
 * krb5-stateless(7) for the keys. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <profile.h>

#include "ks_config.h"
#include "ks_err.h"

static const char *const known_keys[] = {
    "db_library", "secret_file", "state_dir", "key_epoch", "key_period",
    "service", "device_namespace", "device_max_life",
    "registration_max_life", "unprovisioned_services", "tempkey_services",
    NULL
};

/* The four AES enctypes, used when supported_enctypes is not set. */
static const krb5_enctype default_enctypes[] = {
    ENCTYPE_AES256_CTS_HMAC_SHA1_96, ENCTYPE_AES128_CTS_HMAC_SHA1_96,
    ENCTYPE_AES256_CTS_HMAC_SHA384_192, ENCTYPE_AES128_CTS_HMAC_SHA256_128,
};

/*
 * Cut an end-of-line comment (whitespace then '#') and trailing whitespace
 * from a value in place.  The profile library keeps them in the value, and
 * kdc.conf examples put comments after values.
 */
void
ks_config_strip_comment(char *value)
{
    char *p, *end;

    for (p = value; *p != '\0'; p++) {
        if (*p == '#' && (p == value || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            break;
        }
    }
    end = value + strlen(value);
    while (end > value && isspace((unsigned char)end[-1]))
        *--end = '\0';
}

krb5_error_code
ks_parse_duration(const char *s, krb5_deltat *out)
{
    krb5_deltat d;
    char *copy;
    const char *p;
    krb5_error_code ret;

    /* krb5_string_to_deltat() accepts some trailing junk ("7x"); allow only
     * the characters of its formats (7d, 10h30m, 1d 2h, 3600, 1:30:00). */
    if (*s == '\0')
        return KSTL_BAD_CONFIG;
    for (p = s; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p) && strchr("dhms: ", *p) == NULL)
            return KSTL_BAD_CONFIG;
    }
    copy = strdup(s);
    if (copy == NULL)
        return ENOMEM;
    ret = krb5_string_to_deltat(copy, &d);
    free(copy);
    if (ret || d <= 0)
        return KSTL_BAD_CONFIG;
    *out = d;
    return 0;
}

void
ks_service_rule_free(struct ks_service_rule *rule)
{
    size_t i;

    if (rule == NULL)
        return;
    free(rule->pattern);
    for (i = 0; i < rule->nattrs; i++) {
        free(rule->attr_names[i]);
        free(rule->attr_values[i]);
    }
    free(rule->attr_names);
    free(rule->attr_values);
    memset(rule, 0, sizeof(*rule));
}

/* Return a malloc'ed copy of the next whitespace-delimited token of *p. */
static char *
next_token(const char **p)
{
    const char *s = *p, *start;
    char *tok;

    while (*s != '\0' && isspace((unsigned char)*s))
        s++;
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    start = s;
    while (*s != '\0' && !isspace((unsigned char)*s))
        s++;
    tok = strndup(start, s - start);
    *p = s;
    return tok;
}

krb5_error_code
ks_parse_service_rule(const char *value, struct ks_service_rule *rule,
                      const char **why)
{
    const char *p = value;
    char *tok, *eq, **n, **v;

    memset(rule, 0, sizeof(*rule));
    rule->pattern = next_token(&p);
    if (rule->pattern == NULL) {
        *why = "empty value (expected a principal glob such as host/*)";
        return KSTL_BAD_CONFIG;
    }
    if (strchr(rule->pattern, '=') != NULL || strchr(rule->pattern, '@')) {
        *why = "the first word must be a principal glob without realm";
        goto fail;
    }
    while ((tok = next_token(&p)) != NULL) {
        eq = strchr(tok, '=');
        if (eq == NULL || eq == tok || eq[1] == '\0') {
            free(tok);
            *why = "attributes must be written name=value";
            goto fail;
        }
        n = realloc(rule->attr_names, (rule->nattrs + 1) * sizeof(*n));
        if (n != NULL)
            rule->attr_names = n;
        v = realloc(rule->attr_values, (rule->nattrs + 1) * sizeof(*v));
        if (v != NULL)
            rule->attr_values = v;
        if (n == NULL || v == NULL) {
            free(tok);
            ks_service_rule_free(rule);
            return ENOMEM;
        }
        *eq = '\0';
        rule->attr_names[rule->nattrs] = tok;
        rule->attr_values[rule->nattrs] = strdup(eq + 1);
        if (rule->attr_values[rule->nattrs] == NULL) {
            free(tok);
            ks_service_rule_free(rule);
            return ENOMEM;
        }
        rule->nattrs++;
    }
    return 0;

fail:
    ks_service_rule_free(rule);
    return KSTL_BAD_CONFIG;
}

void
ks_config_free(struct ks_config *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    free(cfg->section);
    free(cfg->secret_file);
    free(cfg->state_dir);
    for (i = 0; i < cfg->nservices; i++)
        ks_service_rule_free(&cfg->services[i]);
    free(cfg->services);
    free(cfg->device_namespace);
    for (i = 0; i < cfg->nunprovisioned; i++)
        free(cfg->unprovisioned_services[i]);
    free(cfg->unprovisioned_services);
    for (i = 0; i < cfg->ntempkey_services; i++)
        free(cfg->tempkey_services[i]);
    free(cfg->tempkey_services);
    free(cfg);
}

/* Fetch the values of key in [dbmodules] section; *vals is NULL when the
 * key is absent. */
static krb5_error_code
get_values(profile_t profile, const char *section, const char *key,
           char ***vals)
{
    const char *names[4] = { "dbmodules", section, key, NULL };
    long pret;
    size_t i;

    *vals = NULL;
    pret = profile_get_values(profile, names, vals);
    if (pret == PROF_NO_RELATION || pret == PROF_NO_SECTION) {
        *vals = NULL;
        return 0;
    }
    if (pret)
        return (krb5_error_code)pret;
    for (i = 0; (*vals)[i] != NULL; i++)
        ks_config_strip_comment((*vals)[i]);
    return 0;
}

/* Fetch a single-valued key; *out is NULL when absent. */
static krb5_error_code
get_single(krb5_context ctx, profile_t profile, const char *section,
           const char *key, char **out)
{
    char **vals;
    krb5_error_code ret;

    *out = NULL;
    ret = get_values(profile, section, key, &vals);
    if (ret || vals == NULL)
        return ret;
    if (vals[1] != NULL) {
        profile_free_list(vals);
        krb5_set_error_message(ctx, KSTL_BAD_CONFIG,
                               "stateless: %s is given more than once in "
                               "[dbmodules] %s", key, section);
        return KSTL_BAD_CONFIG;
    }
    *out = strdup(vals[0]);
    profile_free_list(vals);
    return *out == NULL ? ENOMEM : 0;
}

/* Reject relations in the section that no version of this module knows. */
static krb5_error_code
check_unknown_keys(krb5_context ctx, profile_t profile, const char *section)
{
    const char *names[3] = { "dbmodules", section, NULL };
    void *iter = NULL;
    char *name = NULL, *value = NULL;
    krb5_error_code ret = 0;
    size_t i;
    long pret;

    /* Subsections are listed too: none is known, so any is refused. */
    pret = profile_iterator_create(profile, names,
                                   PROFILE_ITER_LIST_SECTION, &iter);
    if (pret)
        return 0;               /* no such section: defaults apply */
    while (profile_iterator(&iter, &name, &value) == 0 && name != NULL) {
        for (i = 0; known_keys[i] != NULL; i++) {
            if (strcmp(name, known_keys[i]) == 0)
                break;
        }
        if (known_keys[i] == NULL) {
            ret = KSTL_BAD_CONFIG;
            krb5_set_error_message(ctx, ret, "stateless: unknown option "
                                   "'%s' in [dbmodules] %s", name, section);
        }
        profile_release_string(name);
        profile_release_string(value);
        if (ret)
            break;
    }
    profile_iterator_free(&iter);
    return ret;
}

/* Load a duration key into *out, leaving the default when absent. */
static krb5_error_code
load_duration(krb5_context ctx, profile_t profile, const char *section,
              const char *key, krb5_deltat *out)
{
    char *s;
    krb5_error_code ret;

    ret = get_single(ctx, profile, section, key, &s);
    if (ret || s == NULL)
        return ret;
    ret = ks_parse_duration(s, out);
    if (ret == KSTL_BAD_CONFIG) {
        krb5_set_error_message(ctx, ret, "stateless: %s: invalid duration "
                               "'%s' (use krb5 syntax such as 10h, 7d or "
                               "seconds, greater than zero)", key, s);
    }
    free(s);
    return ret;
}

/* Load a string key into *out (malloc'ed), or a copy of dflt. */
static krb5_error_code
load_string(krb5_context ctx, profile_t profile, const char *section,
            const char *key, const char *dflt, char **out)
{
    krb5_error_code ret;

    ret = get_single(ctx, profile, section, key, out);
    if (ret)
        return ret;
    if (*out == NULL)
        *out = strdup(dflt);
    return *out == NULL ? ENOMEM : 0;
}

static krb5_error_code
load_epoch(krb5_context ctx, profile_t profile, const char *section,
           int64_t *out)
{
    char *s, *end;
    long long v;
    krb5_error_code ret;

    ret = get_single(ctx, profile, section, "key_epoch", &s);
    if (ret || s == NULL)
        return ret;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < 0 || v > INT32_MAX) {
        ret = KSTL_BAD_CONFIG;
        krb5_set_error_message(ctx, ret, "stateless: key_epoch: '%s' is not "
                               "a unix time in seconds", s);
    } else {
        *out = v;
    }
    free(s);
    return ret;
}

static krb5_error_code
load_services(krb5_context ctx, profile_t profile, struct ks_config *cfg)
{
    char **vals;
    const char *why;
    krb5_error_code ret;
    size_t n, i;

    ret = get_values(profile, cfg->section, "service", &vals);
    if (ret || vals == NULL)
        return ret;
    for (n = 0; vals[n] != NULL; n++);
    cfg->services = calloc(n, sizeof(*cfg->services));
    if (cfg->services == NULL) {
        profile_free_list(vals);
        return ENOMEM;
    }
    for (i = 0; i < n; i++) {
        ret = ks_parse_service_rule(vals[i], &cfg->services[i], &why);
        if (ret == KSTL_BAD_CONFIG) {
            krb5_set_error_message(ctx, ret, "stateless: service = %s: %s",
                                   vals[i], why);
        }
        if (ret)
            break;
        cfg->nservices++;
    }
    profile_free_list(vals);
    return ret;
}

/* Load the whitespace-separated globs of every value of key into *globs
 * (NULL-terminated) and *count. */
static krb5_error_code
load_globs(profile_t profile, const char *section, const char *key,
           char ***globs, size_t *count)
{
    char **vals, **list, *tok;
    const char *p;
    krb5_error_code ret;
    size_t i;

    ret = get_values(profile, section, key, &vals);
    if (ret || vals == NULL)
        return ret;
    for (i = 0; vals[i] != NULL && ret == 0; i++) {
        p = vals[i];
        while (ret == 0 && (tok = next_token(&p)) != NULL) {
            list = realloc(*globs, (*count + 2) * sizeof(*list));
            if (list == NULL) {
                free(tok);
                ret = ENOMEM;
                break;
            }
            *globs = list;
            list[(*count)++] = tok;
            list[*count] = NULL;
        }
    }
    profile_free_list(vals);
    return ret;
}

static krb5_error_code
load_unprovisioned(krb5_context ctx, profile_t profile, struct ks_config *cfg)
{
    return load_globs(profile, cfg->section, "unprovisioned_services",
                      &cfg->unprovisioned_services, &cfg->nunprovisioned);
}

int
ks_tempkey_glob_valid(const char *glob, const char *device_namespace,
                      const char **why)
{
    static const char *const reserved[] = {
        "krbtgt", "devreg", "kadmin", "K", NULL
    };
    const char *slash = strchr(glob, '/');
    size_t first, i;

    if (strchr(glob, '@') != NULL || strchr(glob, '=') != NULL) {
        *why = "a tempkey_services glob names a principal without realm "
            "and has no attributes";
        return 0;
    }
    if (slash == NULL || slash == glob || slash[1] == '\0') {
        *why = "a tempkey_services glob must name two or more components "
            "(such as HTTP/*.example.test)";
        return 0;
    }
    first = (size_t)(slash - glob);
    for (i = 0; reserved[i] != NULL; i++) {
        if (strlen(reserved[i]) == first &&
            strncmp(glob, reserved[i], first) == 0)
            break;
    }
    if (reserved[i] != NULL || (strlen(device_namespace) == first &&
                                strncmp(glob, device_namespace, first) == 0)) {
        *why = "krbtgt, devreg, kadmin, K and device principals never have "
            "temporary keys";
        return 0;
    }
    return 1;
}

/* Load tempkey_services (after device_namespace) and refuse bad globs. */
static krb5_error_code
load_tempkey_services(krb5_context ctx, profile_t profile,
                      struct ks_config *cfg)
{
    krb5_error_code ret;
    const char *why;
    size_t i;

    ret = load_globs(profile, cfg->section, "tempkey_services",
                     &cfg->tempkey_services, &cfg->ntempkey_services);
    if (ret)
        return ret;
    for (i = 0; i < cfg->ntempkey_services; i++) {
        if (!ks_tempkey_glob_valid(cfg->tempkey_services[i],
                                   cfg->device_namespace, &why)) {
            krb5_set_error_message(ctx, KSTL_BAD_CONFIG, "stateless: "
                                   "tempkey_services = %s: %s",
                                   cfg->tempkey_services[i], why);
            return KSTL_BAD_CONFIG;
        }
    }
    return 0;
}

/* Device namespaces are one plain component that no other kind of
 * principal uses as its first component. */
static krb5_boolean
namespace_valid(const char *ns)
{
    static const char *const reserved[] = {
        "krbtgt", "devreg", "kadmin", "K", NULL
    };
    const char *p;
    size_t i;

    if (*ns == '\0' || strlen(ns) > 32)
        return FALSE;
    for (i = 0; reserved[i] != NULL; i++) {
        if (strcmp(ns, reserved[i]) == 0)
            return FALSE;
    }
    for (p = ns; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return FALSE;
    }
    return TRUE;
}

krb5_error_code
ks_config_load(krb5_context ctx, const char *section, struct ks_config **out)
{
    struct ks_config *cfg;
    profile_t profile = NULL;
    krb5_error_code ret;

    *out = NULL;
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return ENOMEM;
    cfg->schedule.epoch = KS_DEFAULT_KEY_EPOCH;
    cfg->schedule.period = KS_DEFAULT_KEY_PERIOD;
    cfg->device_max_life = KS_DEFAULT_DEVICE_MAX_LIFE;
    cfg->registration_max_life = KS_DEFAULT_REGISTRATION_MAX_LIFE;
    cfg->section = strdup(section);
    if (cfg->section == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    ret = krb5_get_profile(ctx, &profile);
    if (ret)
        goto cleanup;
    ret = check_unknown_keys(ctx, profile, section);
    if (ret)
        goto cleanup;
    ret = load_string(ctx, profile, section, "secret_file",
                      KS_DEFAULT_SECRET_FILE, &cfg->secret_file);
    if (!ret)
        ret = load_string(ctx, profile, section, "state_dir",
                          KS_DEFAULT_STATE_DIR, &cfg->state_dir);
    if (!ret)
        ret = load_string(ctx, profile, section, "device_namespace",
                          KS_DEFAULT_DEVICE_NAMESPACE,
                          &cfg->device_namespace);
    if (!ret)
        ret = load_epoch(ctx, profile, section, &cfg->schedule.epoch);
    if (!ret) {
        krb5_deltat period = (krb5_deltat)cfg->schedule.period;

        ret = load_duration(ctx, profile, section, "key_period", &period);
        cfg->schedule.period = period;
    }
    if (!ret)
        ret = load_duration(ctx, profile, section, "device_max_life",
                            &cfg->device_max_life);
    if (!ret)
        ret = load_duration(ctx, profile, section, "registration_max_life",
                            &cfg->registration_max_life);
    if (!ret)
        ret = load_services(ctx, profile, cfg);
    if (!ret)
        ret = load_unprovisioned(ctx, profile, cfg);
    if (ret)
        goto cleanup;
    if (!namespace_valid(cfg->device_namespace)) {
        ret = KSTL_BAD_CONFIG;
        krb5_set_error_message(ctx, ret, "stateless: device_namespace '%s' "
                               "must be 1-32 letters, digits, '-' or '_', "
                               "and not krbtgt, devreg, kadmin or K",
                               cfg->device_namespace);
        goto cleanup;
    }
    ret = load_tempkey_services(ctx, profile, cfg);
    if (ret)
        goto cleanup;
    *out = cfg;
    cfg = NULL;

cleanup:
    if (profile != NULL)
        profile_release(profile);
    ks_config_free(cfg);
    return ret;
}

krb5_error_code
ks_config_enctypes(krb5_context ctx, const char *realm, krb5_enctype **out,
                   size_t *count)
{
    const char *names[4] = { "realms", realm, "supported_enctypes", NULL };
    profile_t profile = NULL;
    char **vals = NULL, *tok, *colon;
    const char *p;
    krb5_enctype *list = NULL, et, *nl;
    krb5_error_code ret;
    size_t n = 0, i, j;
    long pret;

    *out = NULL;
    *count = 0;
    ret = krb5_get_profile(ctx, &profile);
    if (ret)
        return ret;
    pret = profile_get_values(profile, names, &vals);
    if (pret == PROF_NO_RELATION || pret == PROF_NO_SECTION) {
        vals = NULL;
    } else if (pret) {
        ret = pret;
        goto cleanup;
    }
    if (vals == NULL) {
        n = sizeof(default_enctypes) / sizeof(*default_enctypes);
        list = calloc(n + 1, sizeof(*list));
        if (list == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        memcpy(list, default_enctypes, sizeof(default_enctypes));
        goto done;
    }
    for (i = 0; vals[i] != NULL; i++) {
        p = vals[i];
        while ((tok = next_token(&p)) != NULL) {
            /* Tokens may be "enctype:salttype", comma separated. */
            char *save = NULL, *part;

            for (part = strtok_r(tok, ",", &save); part != NULL;
                 part = strtok_r(NULL, ",", &save)) {
                colon = strchr(part, ':');
                if (colon != NULL)
                    *colon = '\0';
                if (krb5_string_to_enctype(part, &et) != 0 ||
                    !krb5_c_valid_enctype(et)) {
                    ret = KSTL_BAD_CONFIG;
                    krb5_set_error_message(ctx, ret, "stateless: realm %s "
                                           "supported_enctypes: unknown "
                                           "enctype '%s'", realm, part);
                    free(tok);
                    goto cleanup;
                }
                for (j = 0; j < n && list[j] != et; j++);
                if (j < n)
                    continue;
                nl = realloc(list, (n + 2) * sizeof(*list));
                if (nl == NULL) {
                    free(tok);
                    ret = ENOMEM;
                    goto cleanup;
                }
                list = nl;
                list[n++] = et;
                list[n] = 0;
            }
            free(tok);
        }
    }
    if (n == 0) {
        ret = KSTL_BAD_CONFIG;
        krb5_set_error_message(ctx, ret, "stateless: realm %s "
                               "supported_enctypes names no enctype", realm);
        goto cleanup;
    }

done:
    *out = list;
    *count = n;
    list = NULL;

cleanup:
    free(list);
    if (vals != NULL)
        profile_free_list(vals);
    profile_release(profile);
    return ret;
}

krb5_error_code
ks_config_section_for_realm(krb5_context ctx, const char *realm, char **out)
{
    const char *names[4] = { "realms", realm, "database_module", NULL };
    profile_t profile = NULL;
    char **vals = NULL;
    krb5_error_code ret;
    long pret;

    *out = NULL;
    ret = krb5_get_profile(ctx, &profile);
    if (ret)
        return ret;
    pret = profile_get_values(profile, names, &vals);
    if (pret == 0 && vals != NULL && vals[0] != NULL)
        *out = strdup(vals[0]);
    else
        *out = strdup(realm);
    if (vals != NULL)
        profile_free_list(vals);
    profile_release(profile);
    return *out == NULL ? ENOMEM : 0;
}

krb5_deltat
ks_config_clockskew(krb5_context ctx)
{
    profile_t profile = NULL;
    int skew = 300;

    if (krb5_get_profile(ctx, &profile) == 0) {
        profile_get_integer(profile, "libdefaults", "clockskew", NULL, 300,
                            &skew);
        profile_release(profile);
    }
    return skew > 0 ? skew : 300;
}
