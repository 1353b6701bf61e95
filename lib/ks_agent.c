/* What kregister and ktempkey have in common; see ks_agent.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <krb5/krb5.h>
#include <openssl/x509.h>

#include "ks_agent.h"
#include "ks_cms.h"

static const char *agent_prog = "ks_agent";
static krb5_boolean agent_debug;
static krb5_boolean agent_timestamps;
static krb5_boolean agent_syslog;
static sigset_t agent_stopset;      /* SIGTERM, SIGINT */

/* --- logging ------------------------------------------------------------ */

void
ks_agent_log_init(const char *prog, krb5_boolean debug,
                  krb5_boolean timestamps)
{
    agent_prog = prog;
    agent_debug = debug;
    agent_timestamps = timestamps;
}

void
ks_agent_log_to_syslog(void)
{
    if (agent_debug || agent_syslog)
        return;
    openlog(agent_prog, LOG_PID, LOG_DAEMON);
    agent_syslog = TRUE;
}

void
ks_agent_log_close(void)
{
    if (agent_syslog)
        closelog();
    agent_syslog = FALSE;
}

void
ks_agent_log(int prio, const char *fmt, ...)
{
    va_list ap;
    char when[32];
    struct tm tm;
    time_t now;

    if (prio == LOG_DEBUG && !agent_debug)
        return;
    va_start(ap, fmt);
    if (agent_syslog) {
        vsyslog(prio, fmt, ap);
    } else {
        if (agent_timestamps) {
            now = time(NULL);
            localtime_r(&now, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
            fprintf(stderr, "%s ", when);
        }
        fprintf(stderr, "%s: ", agent_prog);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        fflush(stderr);
    }
    va_end(ap);
}

void
ks_agent_log_krb5(krb5_context ctx, int prio, krb5_error_code ret,
                  const char *what)
{
    const char *msg = krb5_get_error_message(ctx, ret);

    ks_agent_log(prio, "%s: %s", what, msg);
    krb5_free_error_message(ctx, msg);
}

void
ks_agent_format_time(time_t t, krb5_boolean utc, char *buf, size_t len)
{
    struct tm tm;

    if (utc) {
        gmtime_r(&t, &tm);
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    } else {
        localtime_r(&t, &tm);
        strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    }
}

/* --- commands ----------------------------------------------------------- */

const char *
ks_agent_command(const char *prog, int argc, char **argv, int optind,
                 const char *const *commands, void (*usage)(FILE *))
{
    size_t i;

    if (optind != argc - 1) {
        fprintf(stderr, "%s: %s\n", prog, optind >= argc ?
                "no command given" : "too many arguments");
        usage(stderr);
        return NULL;
    }
    for (i = 0; commands[i] != NULL; i++) {
        if (strcmp(argv[optind], commands[i]) == 0)
            return argv[optind];
    }
    fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[optind]);
    usage(stderr);
    return NULL;
}

int
ks_agent_init(const char *name, krb5_context *ctx_out,
              krb5_principal *client_out, char **canonical_out,
              char **realm_out)
{
    krb5_context ctx;
    krb5_principal client;
    krb5_error_code ret;
    char *unparsed = NULL;

    *ctx_out = NULL;
    *client_out = NULL;
    *canonical_out = NULL;
    *realm_out = NULL;
    ret = krb5_init_context(&ctx);
    if (ret) {
        ks_agent_log(LOG_ERR, "cannot initialize krb5 (krb5.conf): %s",
                     error_message(ret));
        return -1;
    }
    *ctx_out = ctx;
    ret = krb5_parse_name(ctx, name, client_out);
    if (ret) {
        ks_agent_log_krb5(ctx, LOG_ERR, ret, "principal");
        return -1;
    }
    client = *client_out;
    /* The canonical form (with the realm) in messages. */
    ret = krb5_unparse_name(ctx, client, &unparsed);
    if (ret)
        goto oom;
    *canonical_out = strdup(unparsed);
    krb5_free_unparsed_name(ctx, unparsed);
    *realm_out = strndup(client->realm.data, client->realm.length);
    if (*canonical_out == NULL || *realm_out == NULL)
        goto oom;
    return 0;

oom:
    ks_agent_log(LOG_ERR, "out of memory");
    return -1;
}

int
ks_agent_check_identity(krb5_context ctx, const char *identity,
                        const char *anchor)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;
    X509_STORE *store = NULL;
    krb5_error_code ret;

    if (identity != NULL) {
        ret = ks_identity_load(ctx, identity, &key, &cert, &chain);
        EVP_PKEY_free(key);
        X509_free(cert);
        sk_X509_pop_free(chain, X509_free);
        if (ret) {
            ks_agent_log_krb5(ctx, LOG_ERR, ret, "identity");
            return -1;
        }
    }
    ret = ks_anchors_load(ctx, anchor, &store);
    X509_STORE_free(store);
    if (ret) {
        ks_agent_log_krb5(ctx, LOG_ERR, ret, "anchor");
        return -1;
    }
    return 0;
}

krb5_error_code
ks_agent_exchange_context(krb5_context agent_ctx, krb5_context *ctx_out)
{
    krb5_error_code ret;

    ret = krb5_init_context(ctx_out);
    if (ret) {
        *ctx_out = NULL;
        krb5_set_error_message(agent_ctx, ret, "cannot initialize krb5 "
                               "(krb5.conf): %s", error_message(ret));
    }
    return ret;
}

/* --- stopping and waiting ----------------------------------------------- */

int
ks_agent_block_stop_signals(void)
{
    sigemptyset(&agent_stopset);
    sigaddset(&agent_stopset, SIGTERM);
    sigaddset(&agent_stopset, SIGINT);
    if (sigprocmask(SIG_BLOCK, &agent_stopset, NULL) != 0)
        return errno;
    return 0;
}

krb5_boolean
ks_agent_stop_requested(void)
{
    sigset_t pending;

    if (sigpending(&pending) != 0)
        return FALSE;
    return sigismember(&pending, SIGTERM) == 1 ||
        sigismember(&pending, SIGINT) == 1;
}

int
ks_agent_sleep_or_stop(time_t seconds)
{
    struct timespec now, deadline, ts;
    int sig;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += seconds > 0 ? seconds : 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        ts.tv_sec = deadline.tv_sec - now.tv_sec;
        ts.tv_nsec = deadline.tv_nsec - now.tv_nsec;
        if (ts.tv_nsec < 0) {
            ts.tv_sec--;
            ts.tv_nsec += 1000000000L;
        }
        if (ts.tv_sec < 0)
            ts.tv_sec = ts.tv_nsec = 0;
        sig = sigtimedwait(&agent_stopset, NULL, &ts);
        if (sig > 0) {
            ks_agent_log(LOG_INFO, "stopping on signal %d", sig);
            return 1;
        }
        /* EINTR: another signal interrupted the wait; wait the rest. */
        if (errno != EINTR)
            return 0;
    }
}

time_t
ks_agent_backoff(unsigned int n, time_t min, time_t max)
{
    time_t d = min;

    while (n-- > 1 && d < max)
        d *= 2;
    return d > max ? max : d;
}

/* --- files -------------------------------------------------------------- */

char *
ks_agent_dirname(const char *path)
{
    char *dir = strdup(path), *slash;

    if (dir == NULL)
        return NULL;
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        free(dir);
        return strdup(".");
    }
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return dir;
}

int
ks_agent_sync_file(const char *path)
{
    int fd, r;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    r = fsync(fd);
    close(fd);
    return r;
}

void
ks_agent_sync_dir(const char *path)
{
    char *dir = ks_agent_dirname(path);
    int fd;

    if (dir == NULL)
        return;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

time_t
ks_agent_earliest(time_t a, time_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}
