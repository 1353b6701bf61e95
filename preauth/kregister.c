/*
 * kregister: the device agent of krb5-stateless (see kregister(8)).
 *
 *   kregister [-c CONFIG] [-d] enroll | login | run | status
 *
 * enroll registers the device (staged identity or anonymous) and stores
 * the registration ticket (a ticket for devreg/REALM@REALM) in the
 * registration ccache; login uses that ticket to get a TGT into the TGT
 * ccache; run keeps both fresh forever; status shows them.
 *
 * Every exchange is an ordinary AS exchange through libkrb5's public API,
 * with the devreg clpreauth module (loaded by krb5.conf [plugins]) doing
 * the devreg part, driven by the gic options the module documents
 * (devreg_anchor, devreg_identity, devreg_anonymous, devreg_ticket).  The
 * module keeps those options in its per-context module data, so each
 * exchange runs in a fresh krb5_context: options from an earlier exchange
 * (a devreg_ticket, say) must not leak into the next one.
 *
 * Credential caches are replaced atomically: the new credentials go to a
 * mode 0600 file next to the target, which is then renamed over it, so a
 * reader never sees a missing, empty or half-written cache.
 */
#include "ks_util.h"
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <krb5/krb5.h>
#include <openssl/rand.h>

#include "ks_agent.h"
#include "ks_config.h"

#define KR_DEFAULT_CONFIG "/etc/krb5-stateless/kregister.conf"
#define KR_DEFAULT_REG_CCACHE "/var/lib/kregister/registration.ccache"
#define KR_DEFAULT_TGT_CCACHE "/var/lib/kregister/tgt.ccache"
#define KR_DEFAULT_RENEW_FRACTION 0.5
#define KR_DEFAULT_RETRY_MIN 2
#define KR_DEFAULT_RETRY_MAX 300
/* What a registration asks for; the KDC grants at most its
 * registration_max_life.  libkrb5 rejects a reply that ends after the
 * requested time, so the request must be at least that long. */
#define KR_DEFAULT_REGISTRATION_LIFETIME (365 * 86400)
#define KR_CONFIG_MAX_LINE 4096

struct kr_config {
    char *path;                 /* the configuration file */
    char *principal;
    char *anchor;
    char *identity;
    krb5_boolean anonymous;
    char *reg_ccache;           /* "FILE:path" */
    char *reg_path;
    char *tgt_ccache;
    char *tgt_path;
    double renew_fraction;
    krb5_deltat retry_min;
    krb5_deltat retry_max;
    krb5_deltat registration_lifetime;
    krb5_deltat lifetime;       /* requested TGT life; 0: krb5.conf's */
};

/* The agent: configuration plus a long-lived context for reading caches
 * and holding error messages. */
struct kr {
    struct kr_config cfg;
    krb5_context ctx;
    krb5_principal client;
    krb5_principal devreg;      /* devreg/REALM@REALM */
    krb5_principal krbtgt;      /* krbtgt/REALM@REALM */
    char *devreg_name;
    char *realm;
};

/* A credential found in a cache. */
struct kr_ticket {
    krb5_boolean present;
    time_t start;               /* starttime, or authtime */
    time_t end;
};

enum kr_op { KR_ENROLL, KR_RENEW, KR_LOGIN };

static const char *const op_names[] = {
    "registration", "registration renewal", "login"
};

/* --- times -------------------------------------------------------------- */

/* krb5 timestamps are unsigned 32-bit seconds (valid past 2038). */
static time_t
ts2time(krb5_timestamp ts)
{
    return (time_t)(uint32_t)ts;
}

/* --- configuration ------------------------------------------------------ */

static void
config_free(struct kr_config *cfg)
{
    free(cfg->path);
    free(cfg->principal);
    free(cfg->anchor);
    free(cfg->identity);
    free(cfg->reg_ccache);
    free(cfg->reg_path);
    free(cfg->tgt_ccache);
    free(cfg->tgt_path);
    memset(cfg, 0, sizeof(*cfg));
}

/* Set *ccname_out ("FILE:path") and *path_out from a ccache value: either
 * "FILE:path" or a bare path.  Other cache types are refused: an atomic
 * replacement needs rename(2) on a file.  Returns a static reason or
 * NULL. */
static const char *
parse_ccache(const char *value, char **ccname_out, char **path_out)
{
    const char *path = value, *p;

    if (strncmp(value, "FILE:", 5) == 0) {
        path = value + 5;
    } else {
        /* A residual type prefix is letters before the first colon. */
        for (p = value; isalpha((unsigned char)*p); p++)
            ;
        if (*p == ':' && p > value)
            return "only FILE: credential caches are supported (kregister "
                "replaces a cache by renaming a new file over it)";
    }
    if (*path == '\0')
        return "empty file name";
    *path_out = strdup(path);
    if (*path_out == NULL || asprintf(ccname_out, "FILE:%s", path) < 0) {
        free(*path_out);
        *path_out = NULL;
        *ccname_out = NULL;
        return "out of memory";
    }
    return NULL;
}

/* Parse a yes/no value; -1 when it is neither. */
static int
parse_bool(const char *v)
{
    if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
        strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0)
        return 1;
    if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
        strcmp(v, "0") == 0 || strcasecmp(v, "off") == 0)
        return 0;
    return -1;
}

/* Store one "key = value" of line lineno into cfg; print an error naming
 * the file, line and key and return -1 on a bad key or value. */
static int
config_set(struct kr_config *cfg, unsigned int lineno, const char *key,
           const char *value, unsigned int *seen)
{
    static const char *const keys[] = {
        "principal", "anchor", "identity", "anonymous",
        "registration_ccache", "ccache", "renew_fraction", "retry_min",
        "retry_max", "registration_lifetime", "lifetime", NULL
    };
    const char *why = NULL;
    char **str = NULL, *end;
    krb5_deltat *dur = NULL;
    unsigned int i;
    int b;

    for (i = 0; keys[i] != NULL && strcmp(keys[i], key) != 0; i++)
        ;
    if (keys[i] == NULL) {
        fprintf(stderr, "kregister: %s:%u: unknown key '%s'\n", cfg->path,
                lineno, key);
        return -1;
    }
    if (*seen & (1U << i)) {
        fprintf(stderr, "kregister: %s:%u: key '%s' is given twice\n",
                cfg->path, lineno, key);
        return -1;
    }
    *seen |= 1U << i;
    if (*value == '\0') {
        fprintf(stderr, "kregister: %s:%u: key '%s' has no value\n",
                cfg->path, lineno, key);
        return -1;
    }

    if (strcmp(key, "principal") == 0) {
        str = &cfg->principal;
    } else if (strcmp(key, "anchor") == 0) {
        str = &cfg->anchor;
    } else if (strcmp(key, "identity") == 0) {
        str = &cfg->identity;
    } else if (strcmp(key, "anonymous") == 0) {
        b = parse_bool(value);
        if (b < 0)
            why = "expected yes or no";
        else
            cfg->anonymous = b;
    } else if (strcmp(key, "registration_ccache") == 0) {
        why = parse_ccache(value, &cfg->reg_ccache, &cfg->reg_path);
    } else if (strcmp(key, "ccache") == 0) {
        why = parse_ccache(value, &cfg->tgt_ccache, &cfg->tgt_path);
    } else if (strcmp(key, "renew_fraction") == 0) {
        errno = 0;
        cfg->renew_fraction = strtod(value, &end);
        if (errno != 0 || *end != '\0' || !(cfg->renew_fraction > 0.0) ||
            !(cfg->renew_fraction < 1.0))
            why = "expected a number greater than 0 and less than 1";
    } else if (strcmp(key, "retry_min") == 0) {
        dur = &cfg->retry_min;
    } else if (strcmp(key, "retry_max") == 0) {
        dur = &cfg->retry_max;
    } else if (strcmp(key, "registration_lifetime") == 0) {
        dur = &cfg->registration_lifetime;
    } else if (strcmp(key, "lifetime") == 0) {
        dur = &cfg->lifetime;
    }

    if (str != NULL) {
        *str = strdup(value);
        if (*str == NULL)
            why = "out of memory";
    }
    if (dur != NULL && ks_parse_duration(value, dur) != 0)
        why = "expected a duration greater than zero in krb5 syntax (30s, "
            "5m, 10h, 7d)";
    if (why != NULL) {
        fprintf(stderr, "kregister: %s:%u: invalid value '%s' for key "
                "'%s': %s\n", cfg->path, lineno, value, key, why);
        return -1;
    }
    return 0;
}

/* Read the configuration file at path into cfg; print a one-line error
 * naming the cause and return -1 on failure. */
static int
config_load(const char *path, struct kr_config *cfg)
{
    char line[KR_CONFIG_MAX_LINE], *key, *value, *eq;
    unsigned int lineno = 0, seen = 0;
    size_t len;
    FILE *f;
    int ret = -1;

    memset(cfg, 0, sizeof(*cfg));
    cfg->renew_fraction = KR_DEFAULT_RENEW_FRACTION;
    cfg->retry_min = KR_DEFAULT_RETRY_MIN;
    cfg->retry_max = KR_DEFAULT_RETRY_MAX;
    cfg->registration_lifetime = KR_DEFAULT_REGISTRATION_LIFETIME;
    cfg->path = strdup(path);
    if (cfg->path == NULL) {
        fprintf(stderr, "kregister: out of memory\n");
        return -1;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "kregister: cannot open configuration file %s: %s\n",
                path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
            fprintf(stderr, "kregister: %s:%u: line too long\n", path,
                    lineno);
            goto cleanup;
        }
        key = ks_trim(line);
        if (*key == '\0' || *key == '#')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            fprintf(stderr, "kregister: %s:%u: expected 'key = value'\n",
                    path, lineno);
            goto cleanup;
        }
        *eq = '\0';
        key = ks_trim(key);
        value = ks_trim(eq + 1);
        /* "value   # comment" */
        ks_config_strip_comment(value);
        if (config_set(cfg, lineno, key, value, &seen) != 0)
            goto cleanup;
    }
    if (ferror(f)) {
        fprintf(stderr, "kregister: cannot read configuration file %s: %s\n",
                path, strerror(errno));
        goto cleanup;
    }

    if (cfg->principal == NULL) {
        fprintf(stderr, "kregister: %s: key 'principal' is missing (the "
                "device's principal, e.g. device/ID@REALM)\n", path);
        goto cleanup;
    }
    if (cfg->anchor == NULL) {
        fprintf(stderr, "kregister: %s: key 'anchor' is missing (the CA of "
                "the registration service's certificate, FILE:ca.pem)\n",
                path);
        goto cleanup;
    }
    if (cfg->identity != NULL && cfg->anonymous) {
        fprintf(stderr, "kregister: %s: 'identity' and 'anonymous = yes' "
                "exclude each other\n", path);
        goto cleanup;
    }
    if (cfg->identity == NULL && !cfg->anonymous) {
        fprintf(stderr, "kregister: %s: neither 'identity' nor 'anonymous = "
                "yes' is set: the device cannot register\n", path);
        goto cleanup;
    }
    if (cfg->retry_min > cfg->retry_max) {
        fprintf(stderr, "kregister: %s: retry_min (%ld s) is greater than "
                "retry_max (%ld s)\n", path, (long)cfg->retry_min,
                (long)cfg->retry_max);
        goto cleanup;
    }
    if ((cfg->reg_ccache == NULL &&
         parse_ccache(KR_DEFAULT_REG_CCACHE, &cfg->reg_ccache,
                      &cfg->reg_path) != NULL) ||
        (cfg->tgt_ccache == NULL &&
         parse_ccache(KR_DEFAULT_TGT_CCACHE, &cfg->tgt_ccache,
                      &cfg->tgt_path) != NULL)) {
        fprintf(stderr, "kregister: out of memory\n");
        goto cleanup;
    }
    if (strcmp(cfg->reg_path, cfg->tgt_path) == 0) {
        fprintf(stderr, "kregister: %s: registration_ccache and ccache must "
                "be different files (both are %s)\n", path, cfg->reg_path);
        goto cleanup;
    }
    ret = 0;

cleanup:
    fclose(f);
    return ret;
}

/* --- credential caches -------------------------------------------------- */

/* Find client's ticket for server in ccname.  A missing file or ticket is
 * not an error (t->present is FALSE); an unreadable cache is. */
static krb5_error_code
read_ticket(struct kr *kr, const char *ccname, krb5_const_principal server,
            struct kr_ticket *t)
{
    krb5_ccache cc = NULL;
    krb5_creds mcreds, creds;
    krb5_error_code ret;

    memset(t, 0, sizeof(*t));
    memset(&mcreds, 0, sizeof(mcreds));
    memset(&creds, 0, sizeof(creds));
    ret = krb5_cc_resolve(kr->ctx, ccname, &cc);
    if (ret)
        return ret;
    mcreds.client = kr->client;
    mcreds.server = (krb5_principal)server;
    ret = krb5_cc_retrieve_cred(kr->ctx, cc, 0, &mcreds, &creds);
    if (ret == KRB5_FCC_NOFILE || ret == KRB5_CC_NOTFOUND ||
        ret == KRB5_CC_END) {
        ret = 0;
    } else if (ret == 0) {
        t->present = TRUE;
        t->start = ts2time(creds.times.starttime ? creds.times.starttime :
                           creds.times.authtime);
        t->end = ts2time(creds.times.endtime);
        /* The registration ticket's session key is the device key. */
        krb5_free_cred_contents(kr->ctx, &creds);
    }
    krb5_cc_close(kr->ctx, cc);
    return ret;
}

/* When a ticket should be replaced: renew_fraction of its life. */
static time_t
refresh_time(const struct kr *kr, const struct kr_ticket *t)
{
    double life = difftime(t->end, t->start);

    if (life <= 0)
        return t->start;
    return t->start + (time_t)(life * kr->cfg.renew_fraction);
}

/*
 * Replace the FILE cache at path with one holding creds: write a new cache
 * (mkstemp: mode 0600, next to path so that rename stays on one file
 * system), flush it, and rename it over path.  A reader sees the old cache
 * or the new one, never a missing or half-written one.
 */
static krb5_error_code
store_atomically(krb5_context ctx, const char *path, krb5_creds *creds)
{
    krb5_ccache cc = NULL;
    char *tmp = NULL, *ccname = NULL;
    krb5_error_code ret;
    int fd = -1;

    if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
        tmp = NULL;
        return ENOMEM;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot create a new credential "
                               "cache next to %s: %s", path, strerror(ret));
        goto cleanup;
    }
    if (asprintf(&ccname, "FILE:%s", tmp) < 0) {
        ccname = NULL;
        ret = ENOMEM;
        goto cleanup;
    }
    ret = krb5_cc_resolve(ctx, ccname, &cc);
    if (!ret)
        ret = krb5_cc_initialize(ctx, cc, creds->client);
    if (!ret)
        ret = krb5_cc_store_cred(ctx, cc, creds);
    if (ret) {
        krb5_prepend_error_message(ctx, ret, "cannot write credential cache "
                                   "%s", tmp);
        goto cleanup;
    }
    krb5_cc_close(ctx, cc);
    cc = NULL;
    /* The FILE cache may have reopened the file: flush it by name. */
    if (ks_agent_sync_file(tmp) != 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot flush credential cache %s: "
                               "%s", tmp, strerror(ret));
        goto cleanup;
    }
    if (rename(tmp, path) != 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot rename %s to %s: %s", tmp,
                               path, strerror(ret));
        goto cleanup;
    }
    /* Make the rename durable too. */
    ks_agent_sync_dir(path);

cleanup:
    if (cc != NULL)
        krb5_cc_close(ctx, cc);
    if (fd >= 0)
        close(fd);
    if (ret && fd >= 0)
        unlink(tmp);
    free(ccname);
    free(tmp);
    return ret;
}

/* --- exchanges ---------------------------------------------------------- */

struct kr_prompt {
    const struct kr *kr;
    enum kr_op op;
};

/*
 * libkrb5 asks for a password when no preauth module set the AS reply key.
 * For us that means the devreg exchange did not complete on the client
 * side: the module refused the registration service's reply (the module
 * then sets its own, precise message on KRB5_LIBOS_CANTREADPWD when the
 * request is freed), or devreg did not run at all.  Say so instead of
 * "Input/output error".
 */
static krb5_error_code
kr_prompter(krb5_context ctx, void *data, const char *name,
            const char *banner, int num_prompts, krb5_prompt prompts[])
{
    const struct kr_prompt *p = data;

    if (p->op == KR_ENROLL) {
        krb5_set_error_message(ctx, KRB5_LIBOS_CANTREADPWD, "devreg: the "
                               "registration service's reply was not "
                               "accepted (is its certificate issued under "
                               "anchor %s, for realm %s?), or the devreg "
                               "client module is not loaded (krb5.conf "
                               "[plugins] clpreauth)", p->kr->cfg.anchor,
                               p->kr->realm);
        /* The code the devreg client module gives its precise message
         * (why it refused the reply) when the request ends. */
        return KRB5_LIBOS_CANTREADPWD;
    } else {
        krb5_set_error_message(ctx, KRB5_PREAUTH_FAILED, "devreg: the %s "
                               "did not use the registration ticket (is the "
                               "devreg client module loaded through "
                               "krb5.conf [plugins] clpreauth, and does the "
                               "KDC offer devreg?)", op_names[p->op]);
    }
    return KRB5_PREAUTH_FAILED;
}

/*
 * Add what the bare preauth failures mean here to their message: the
 * client's (no preauth mechanism could run: without the devreg client
 * module nothing answers the KDC's devreg challenge) and the KDC's (the
 * KDC reports the cause of a devreg refusal only in its log).
 */
static void
explain_preauth_failure(krb5_context ctx, krb5_error_code ret)
{
    const char *msg, *hint = NULL;

    if (ret == KRB5_PREAUTH_FAILED) {
        hint = "no preauthentication mechanism could answer the KDC (is "
            "the devreg client module loaded through krb5.conf [plugins] "
            "clpreauth?)";
    } else if (ret == KRB5KDC_ERR_PREAUTH_FAILED) {
        hint = "the KDC refused the devreg request (its log names the "
            "cause)";
    }
    if (hint == NULL)
        return;
    msg = krb5_get_error_message(ctx, ret);
    /* Only a bare message: a module's or our prompter's is precise. */
    if (strcmp(msg, error_message(ret)) == 0)
        krb5_set_error_message(ctx, ret, "%s: %s", msg, hint);
    krb5_free_error_message(ctx, msg);
}

/*
 * Run one AS exchange (op) in a fresh context and store the result
 * atomically in the registration cache (enroll, renew) or the TGT cache
 * (login).  On failure the error message is copied to kr->ctx.
 */
static krb5_error_code
exchange(struct kr *kr, enum kr_op op, time_t *end_out)
{
    krb5_context ctx = NULL;
    krb5_get_init_creds_opt *opt = NULL;
    krb5_init_creds_context icc = NULL;
    krb5_principal client = NULL;
    struct kr_prompt prompt;
    krb5_creds creds;
    krb5_error_code ret;
    const char *path;

    memset(&creds, 0, sizeof(creds));
    prompt.kr = kr;
    prompt.op = op;
    ret = ks_agent_exchange_context(kr->ctx, &ctx);
    if (ret)
        return ret;
    ret = krb5_copy_principal(ctx, kr->client, &client);
    if (ret)
        goto cleanup;
    ret = krb5_get_init_creds_opt_alloc(ctx, &opt);
    if (ret)
        goto cleanup;
    ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "devreg_anchor",
                                         kr->cfg.anchor);
    if (ret)
        goto cleanup;
    switch (op) {
    case KR_ENROLL:
        krb5_get_init_creds_opt_set_tkt_life(opt,
                                             kr->cfg.registration_lifetime);
        if (kr->cfg.anonymous) {
            ret = krb5_get_init_creds_opt_set_pa(ctx, opt,
                                                 "devreg_anonymous", "yes");
        } else {
            ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "devreg_identity",
                                                 kr->cfg.identity);
        }
        break;
    case KR_RENEW:
        krb5_get_init_creds_opt_set_tkt_life(opt,
                                             kr->cfg.registration_lifetime);
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "devreg_ticket",
                                             kr->cfg.reg_ccache);
        break;
    case KR_LOGIN:
        if (kr->cfg.lifetime > 0)
            krb5_get_init_creds_opt_set_tkt_life(opt, kr->cfg.lifetime);
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "devreg_ticket",
                                             kr->cfg.reg_ccache);
        break;
    }
    if (ret)
        goto cleanup;
    ret = krb5_init_creds_init(ctx, client, kr_prompter, &prompt, 0, opt,
                               &icc);
    if (ret)
        goto cleanup;
    if (op != KR_LOGIN) {
        ret = krb5_init_creds_set_service(ctx, icc, kr->devreg_name);
        if (ret)
            goto cleanup;
    }
    ret = krb5_init_creds_get(ctx, icc);
    if (ret)
        goto cleanup;
    ret = krb5_init_creds_get_creds(ctx, icc, &creds);
    if (ret)
        goto cleanup;
    path = (op == KR_LOGIN) ? kr->cfg.tgt_path : kr->cfg.reg_path;
    ret = store_atomically(ctx, path, &creds);
    if (ret)
        goto cleanup;
    *end_out = ts2time(creds.times.endtime);

cleanup:
    /* Free the request first: the devreg client module gives a refusal
     * of the KDC's reply its message when the request ends (see
     * kr_prompter). */
    krb5_init_creds_free(ctx, icc);
    if (ret) {
        explain_preauth_failure(ctx, ret);
        krb5_copy_error_message(kr->ctx, ctx);
    }
    /* Zeroes the session key (the device key, for a registration). */
    krb5_free_cred_contents(ctx, &creds);
    krb5_get_init_creds_opt_free(ctx, opt);
    krb5_free_principal(ctx, client);
    krb5_free_context(ctx);
    return ret;
}

/* Errors after which the same request may succeed later: no KDC answered
 * (or could be found), or the KDC said it is temporarily unavailable. */
static krb5_boolean
is_transient(krb5_error_code ret)
{
    switch (ret) {
    case KRB5_KDC_UNREACH:
    case KRB5_REALM_CANT_RESOLVE:
    case KRB5_REALM_UNKNOWN:
    case KRB5KDC_ERR_SVC_UNAVAILABLE:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EAGAIN:
        return TRUE;
    default:
        return FALSE;
    }
}

/* --- commands ----------------------------------------------------------- */

/* Read both caches; log (and treat as absent) a cache that cannot be
 * read. */
static void
read_state(struct kr *kr, struct kr_ticket *reg, struct kr_ticket *tgt)
{
    char what[PATH_MAX + 64];
    krb5_error_code ret;

    ret = read_ticket(kr, kr->cfg.reg_ccache, kr->devreg, reg);
    if (ret) {
        snprintf(what, sizeof(what), "cannot read registration cache %s",
                 kr->cfg.reg_ccache);
        ks_agent_log_krb5(kr->ctx, LOG_WARNING, ret, what);
    }
    ret = read_ticket(kr, kr->cfg.tgt_ccache, kr->krbtgt, tgt);
    if (ret) {
        snprintf(what, sizeof(what), "cannot read ticket cache %s",
                 kr->cfg.tgt_ccache);
        ks_agent_log_krb5(kr->ctx, LOG_WARNING, ret, what);
    }
}

/* One exchange with a log line either way; returns its error. */
static krb5_error_code
step(struct kr *kr, enum kr_op op, int fail_prio)
{
    krb5_error_code ret;
    time_t end = 0;
    char when[32], what[512];

    ret = exchange(kr, op, &end);
    if (ret) {
        snprintf(what, sizeof(what), "%s of %s failed%s", op_names[op],
                 kr->cfg.principal, is_transient(ret) ?
                 " (no KDC answered)" : "");
        ks_agent_log_krb5(kr->ctx, fail_prio, ret, what);
        return ret;
    }
    ks_agent_format_time(end, FALSE, when, sizeof(when));
    ks_agent_log(LOG_INFO, "%s of %s: %s valid until %s", op_names[op],
                 kr->cfg.principal, op == KR_LOGIN ? "TGT" : "registration",
                 when);
    return 0;
}

static int
cmd_enroll(struct kr *kr)
{
    return step(kr, KR_ENROLL, LOG_ERR) ? 1 : 0;
}

/* Why a registration cannot be used now, or NULL. */
static const char *
registration_problem(struct kr *kr, const struct kr_ticket *reg, time_t now)
{
    if (!reg->present)
        return "no registration ticket";
    if (reg->end <= now)
        return "the registration ticket has expired";
    return NULL;
}

static int
cmd_login(struct kr *kr)
{
    struct kr_ticket reg, tgt;
    const char *why;

    read_state(kr, &reg, &tgt);
    why = registration_problem(kr, &reg, time(NULL));
    if (why != NULL) {
        ks_agent_log(LOG_ERR, "cannot log in: %s for %s in %s (run "
                     "'kregister enroll' first)", why, kr->cfg.principal,
                     kr->cfg.reg_ccache);
        return 1;
    }
    return step(kr, KR_LOGIN, LOG_ERR) ? 1 : 0;
}

static void
print_ticket(const char *label, const char *ccname, const char *server,
             const struct kr_ticket *t, time_t refresh, time_t now)
{
    char end[32], ref[32];

    if (!t->present) {
        printf("%s: none in %s\n", label, ccname);
        return;
    }
    ks_agent_format_time(t->end, FALSE, end, sizeof(end));
    ks_agent_format_time(refresh, FALSE, ref, sizeof(ref));
    printf("%s: %s in %s, %s %s, refresh after %s\n", label, server, ccname,
           t->end > now ? "valid until" : "expired at", end, ref);
}

static int
cmd_status(struct kr *kr)
{
    struct kr_ticket reg, tgt;
    time_t now = time(NULL);
    char *tgtname = NULL;
    const char *why;

    read_state(kr, &reg, &tgt);
    if (krb5_unparse_name(kr->ctx, kr->krbtgt, &tgtname) != 0)
        tgtname = NULL;
    printf("principal: %s\n", kr->cfg.principal);
    print_ticket("registration", kr->cfg.reg_ccache, kr->devreg_name, &reg,
                 refresh_time(kr, &reg), now);
    print_ticket("ticket", kr->cfg.tgt_ccache,
                 tgtname != NULL ? tgtname : "krbtgt", &tgt,
                 refresh_time(kr, &tgt), now);
    fflush(stdout);
    krb5_free_unparsed_name(kr->ctx, tgtname);
    why = registration_problem(kr, &reg, now);
    if (why != NULL) {
        ks_agent_log(LOG_ERR, "%s for %s in %s", why, kr->cfg.principal,
                     kr->cfg.reg_ccache);
        return 1;
    }
    if (!tgt.present || tgt.end <= now) {
        ks_agent_log(LOG_ERR, "no valid TGT for %s in %s", kr->cfg.principal,
                     kr->cfg.tgt_ccache);
        return 1;
    }
    return 0;
}

/* --- run ---------------------------------------------------------------- */

/* The wait before retry number n (1, 2, ...): retry_min doubled each
 * time, capped at retry_max, less up to a quarter at random so that
 * devices that lost the same KDC do not come back in step. */
static time_t
backoff(const struct kr *kr, unsigned int n)
{
    double d = ks_agent_backoff(n, kr->cfg.retry_min, kr->cfg.retry_max);
    unsigned char r = 0;

    if (RAND_bytes(&r, 1) != 1)
        r = 0;
    d -= d * 0.25 * (r / 255.0);
    if (d < kr->cfg.retry_min)
        d = kr->cfg.retry_min;
    return (time_t)(d + 0.5);
}

/*
 * Keep the registration and the TGT fresh, forever.  The caches are the
 * state: each round re-reads them (so an operator's "kregister enroll"
 * counts), does the one exchange that is due (registration before login,
 * since login needs it), and sleeps until the next one is due.  A failed
 * exchange is retried after an exponential backoff; the failure count is
 * reset only when nothing is due any more.
 */
static int
cmd_run(struct kr *kr)
{
    struct kr_ticket reg, tgt;
    unsigned int failures = 0;
    krb5_boolean force_renew = FALSE, reg_ok, tgt_ok;
    time_t now, reg_due, tgt_due, next, wait;
    time_t reg_not_before = 0, tgt_not_before = 0;
    krb5_error_code ret;
    int op, err;

    err = ks_agent_block_stop_signals();
    if (err) {
        ks_agent_log(LOG_ERR, "cannot block SIGTERM: %s", strerror(err));
        return 1;
    }
    ks_agent_log(LOG_INFO, "keeping %s registered (%s) and logged in (%s)",
                 kr->cfg.principal, kr->cfg.reg_ccache, kr->cfg.tgt_ccache);

    for (;;) {
        now = time(NULL);
        read_state(kr, &reg, &tgt);
        reg_ok = registration_problem(kr, &reg, now) == NULL;
        tgt_ok = tgt.present && tgt.end > now;
        /* Due: missing or expired now, else at renew_fraction of its
         * life; a login refusal makes the registration due at once.
         * Never fetch the same thing twice within retry_min, in case a
         * clock far behind the KDC's makes a new ticket look due. */
        reg_due = (reg_ok && !force_renew) ? refresh_time(kr, &reg) : now;
        tgt_due = tgt_ok ? refresh_time(kr, &tgt) : now;
        if (reg_due < reg_not_before)
            reg_due = reg_not_before;
        if (tgt_due < tgt_not_before)
            tgt_due = tgt_not_before;

        op = -1;
        if (now >= reg_due)
            op = reg_ok ? KR_RENEW : KR_ENROLL;
        else if (reg_ok && now >= tgt_due)
            op = KR_LOGIN;

        if (op < 0) {
            failures = 0;
            next = reg_ok && tgt_due < reg_due ? tgt_due : reg_due;
            wait = next > now ? next - now : 1;
            ks_agent_log(LOG_DEBUG, "next refresh in %ld s", (long)wait);
        } else {
            ret = step(kr, op, op == KR_ENROLL ? LOG_ERR : LOG_WARNING);
            if (op == KR_RENEW && ret && !is_transient(ret)) {
                /* The KDC will not renew this registration (a new realm
                 * secret, say): register again from scratch. */
                ks_agent_log(LOG_WARNING, "registering %s again",
                             kr->cfg.principal);
                ret = step(kr, KR_ENROLL, LOG_ERR);
            }
            if (op == KR_LOGIN) {
                tgt_not_before = now + kr->cfg.retry_min;
                /* A refused login means the KDC no longer accepts this
                 * registration: renew (or re-register) first. */
                if (ret && !is_transient(ret))
                    force_renew = TRUE;
            } else {
                reg_not_before = now + kr->cfg.retry_min;
                if (!ret)
                    force_renew = FALSE;
            }
            wait = 0;
            if (ret) {
                failures++;
                wait = backoff(kr, failures);
                ks_agent_log(is_transient(ret) ? LOG_WARNING : LOG_ERR,
                             "retry %u in %ld s", failures, (long)wait);
            }
        }
        /* With wait 0 this still picks up a stop request that came
         * during the exchange. */
        if (ks_agent_sleep_or_stop(wait))
            break;
    }
    return 0;
}

/* --- main --------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(f, "usage: kregister [-c CONFIG] [-d] enroll | login | run | "
            "status\n"
            "  enroll  register the device; store the registration ticket\n"
            "  login   get a TGT with the registration ticket\n"
            "  run     keep registration and TGT fresh (foreground)\n"
            "  status  show the registration and the TGT\n"
            "  -c CONFIG  configuration file (default %s)\n"
            "  -d         log to stderr, with debug messages\n"
            "  -h         print this help\n", KR_DEFAULT_CONFIG);
}

/* Parse the principals of the configuration. */
static int
kr_init(struct kr *kr)
{
    krb5_error_code ret;
    char *name = NULL;
    const krb5_data *realm;
    int rc;

    /* Messages use the canonical form (with the realm). */
    rc = ks_agent_init(kr->cfg.principal, &kr->ctx, &kr->client, &name,
                       &kr->realm);
    if (name != NULL) {
        free(kr->cfg.principal);
        kr->cfg.principal = name;
    }
    if (rc != 0)
        return -1;
    realm = &kr->client->realm;
    ret = krb5_build_principal(kr->ctx, &kr->devreg, realm->length,
                               kr->realm, "devreg", kr->realm, (char *)NULL);
    if (!ret)
        ret = krb5_build_principal(kr->ctx, &kr->krbtgt, realm->length,
                                   kr->realm, KRB5_TGS_NAME, kr->realm,
                                   (char *)NULL);
    if (!ret)
        ret = krb5_unparse_name(kr->ctx, kr->devreg, &kr->devreg_name);
    if (ret) {
        ks_agent_log(LOG_ERR, "out of memory");
        return -1;
    }
    return 0;
}

static void
kr_free(struct kr *kr)
{
    if (kr->ctx != NULL) {
        krb5_free_principal(kr->ctx, kr->client);
        krb5_free_principal(kr->ctx, kr->devreg);
        krb5_free_principal(kr->ctx, kr->krbtgt);
        krb5_free_unparsed_name(kr->ctx, kr->devreg_name);
        krb5_free_context(kr->ctx);
    }
    free(kr->realm);
    config_free(&kr->cfg);
    memset(kr, 0, sizeof(*kr));
}

int
main(int argc, char **argv)
{
    static const char *const commands[] = {
        "enroll", "login", "run", "status", NULL
    };
    const char *config = KR_DEFAULT_CONFIG, *cmd;
    struct kr kr;
    krb5_boolean debug = FALSE;
    int c, rc = 1;

    memset(&kr, 0, sizeof(kr));
    /* Caches, and their temporary files, are for the device alone. */
    umask(077);
    while ((c = getopt(argc, argv, "c:dh")) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'd':
            debug = TRUE;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    cmd = ks_agent_command("kregister", argc, argv, optind, commands, usage);
    if (cmd == NULL)
        return 2;
    if (config_load(config, &kr.cfg) != 0) {
        config_free(&kr.cfg);
        return 1;
    }
    ks_agent_log_init("kregister", debug, strcmp(cmd, "run") == 0 && debug);
    if (kr_init(&kr) != 0 ||
        ks_agent_check_identity(kr.ctx, kr.cfg.identity, kr.cfg.anchor) != 0)
        goto done;
    if (strcmp(cmd, "run") == 0) {
        ks_agent_log_to_syslog();
        /* A KDC closing a TCP connection must not kill the agent. */
        signal(SIGPIPE, SIG_IGN);
    }
    if (strcmp(cmd, "enroll") == 0)
        rc = cmd_enroll(&kr);
    else if (strcmp(cmd, "login") == 0)
        rc = cmd_login(&kr);
    else if (strcmp(cmd, "status") == 0)
        rc = cmd_status(&kr);
    else
        rc = cmd_run(&kr);

done:
    kr_free(&kr);
    ks_agent_log_close();
    return rc;
}
