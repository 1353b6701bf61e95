/*
 * Configuration of the stateless backend: the [dbmodules] section named by
 * the realm's database_module, plus the realm's supported_enctypes.
 */
#ifndef KS_CONFIG_H
#define KS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <krb5/krb5.h>

#include "ks_schedule.h"

#define KS_DEFAULT_SECRET_FILE "/etc/krb5kdc/stateless.secret"
#define KS_DEFAULT_STATE_DIR "/var/lib/krb5kdc/stateless"
#define KS_DEFAULT_KEY_EPOCH 1767225600     /* 2026-01-01T00:00:00Z */
#define KS_DEFAULT_KEY_PERIOD (7 * 86400)
#define KS_DEFAULT_DEVICE_NAMESPACE "device"
#define KS_DEFAULT_DEVICE_MAX_LIFE (10 * 3600)
#define KS_DEFAULT_REGISTRATION_MAX_LIFE (30 * 86400)

/* One "service = GLOB [name=value ...]" line. */
struct ks_service_rule {
    char *pattern;              /* fnmatch(3) glob, FNM_PATHNAME, no realm */
    size_t nattrs;
    char **attr_names;          /* string attributes set on the entry */
    char **attr_values;
};

struct ks_config {
    char *section;              /* [dbmodules] subsection name */
    char *secret_file;
    char *state_dir;
    struct ks_schedule schedule;
    struct ks_service_rule *services;
    size_t nservices;
    char *device_namespace;
    krb5_deltat device_max_life;
    krb5_deltat registration_max_life;
    char **unprovisioned_services;  /* globs, NULL-terminated */
    size_t nunprovisioned;
    /* Globs (as service rules: no realm, FNM_PATHNAME) of principals that
     * are served only with temporary keys (no derived keys); each names
     * two or more components.  NULL-terminated. */
    char **tempkey_services;
    size_t ntempkey_services;
};

/* Read [dbmodules] section from ctx's profile into *out.  Errors return
 * KSTL_BAD_CONFIG (or ENOMEM) with a message naming the key. */
krb5_error_code ks_config_load(krb5_context ctx, const char *section,
                               struct ks_config **out);

void ks_config_free(struct ks_config *cfg);

/* Cut an end-of-line comment (whitespace, then '#') and trailing
 * whitespace from value, in place. */
void ks_config_strip_comment(char *value);

/* Nonzero if glob may be a tempkey_services value: no '@' or '=', at
 * least two components (a '/'), and a first component that is not one
 * of krbtgt, devreg, kadmin, K or device_namespace (names never served
 * with temporary keys).  On refusal set *why to a static string. */
int ks_tempkey_glob_valid(const char *glob, const char *device_namespace,
                          const char **why);

/* Parse a krb5 duration ("10h", "7d", "3600", "1d 2h"); must be > 0. */
krb5_error_code ks_parse_duration(const char *s, krb5_deltat *out);

/* Parse one service rule value into *rule.  On error set *why to a static
 * string describing the problem. */
krb5_error_code ks_parse_service_rule(const char *value,
                                      struct ks_service_rule *rule,
                                      const char **why);

void ks_service_rule_free(struct ks_service_rule *rule);

/* The enctypes to derive keys for: the realm's supported_enctypes, or the
 * four AES enctypes when it is not set.  *out is 0-terminated. */
krb5_error_code ks_config_enctypes(krb5_context ctx, const char *realm,
                                   krb5_enctype **out, size_t *count);

/* The clock skew allowance: [libdefaults] clockskew, default 300 s. */
krb5_deltat ks_config_clockskew(krb5_context ctx);

/* Find the [dbmodules] section used by realm: the realm's database_module,
 * or the realm name itself as libkdb5 does.  *out is malloc'ed. */
krb5_error_code ks_config_section_for_realm(krb5_context ctx,
                                            const char *realm, char **out);

#endif
