/*
 * ktempkey: the server agent of krb5-stateless (see ktempkey(8)).
 *
 *   ktempkey register -p PRINC -k KEYTAB --identity SPEC --anchor SPEC
 *                     [--lifetime DUR] [-d]
 *   ktempkey run      (the same options)
 *
 * register makes the tempkey client module (plugins/tempkey_client.c,
 * loaded by krb5.conf [plugins]) generate a new temporary key for PRINC,
 * write it into KEYTAB and register it with every KDC of PRINC's realm;
 * run does that forever: a new key before the current one is half way to
 * its expiry (or by the time a KDC asked for), retries of KDCs that missed
 * the current key, and pruning of expired keys from the keytab.
 *
 * Every registration is an ordinary AS exchange for PRINC through
 * libkrb5's public API (krb5_init_creds_step), restricted to the tempkey
 * padata type, with the module driven by the gic options it documents
 * (tempkey_identity, tempkey_anchor, tempkey_keytab, tempkey_lifetime,
 * tempkey_key_id).  libkrb5's own transport would send to one KDC of the
 * realm; a key must reach all of them (each KDC may keep its own store),
 * so ktempkey sends each request itself, over TCP (RFC 4120 section
 * 7.2.2), to one KDC address at a time.  The first KDC that accepts a new
 * key fixes its key id; the others get the same key id (tempkey_key_id),
 * i.e. the same key, read back from the keytab by the module.
 *
 * The module keeps its options in per-context module data, so each
 * exchange runs in a fresh krb5_context (as kregister does): the key id
 * of one exchange must not leak into the next.
 *
 * The keytab and its state file (KEYTAB.tempkey, tempkey_state.h) are the
 * agent's whole memory: each round of run re-reads them, so an operator's
 * "ktempkey register" or a restart is picked up.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <krb5/krb5.h>
#include <profile.h>

#include "ks_agent.h"
#include "ks_config.h"
#include "ks_iana.h"
#include "tempkey_keytab.h"
#include "tempkey_state.h"

#define KT_DEFAULT_PORT "88"
#define KT_TIMEOUT 10                   /* seconds per request and reply */
#define KT_MAX_REPLY (1024 * 1024)      /* larger TCP replies are refused */
#define KT_RETRY_MAX 60                 /* backoff: 1, 2, 4, ... 60 s */
#define KT_MAX_SLEEP 300                /* re-read the state at least this
                                         * often (wall clock jumps) */
#define KT_POLL_SLICE_MS 200            /* check for SIGTERM this often */

/* One KDC address of the realm, and where its registration stands. */
struct kt_kdc {
    char *spec;                 /* the krb5.conf value, for messages */
    char *host;
    char *port;
    /* The latest attempt of the current round. */
    krb5_error_code ret;
    char *msg;                  /* its error message */
    uint32_t tried_id;          /* key id tried; 0: a new key */
    krb5_boolean transport;     /* failed before any KDC reply */
    /* run: the current key still has to reach this KDC. */
    krb5_boolean pending;
    unsigned int failures;
    time_t next_try;
};

struct kt {
    krb5_context ctx;           /* long-lived: state, keytab, messages */
    krb5_principal client;
    char *principal;            /* canonical, with the realm */
    char *realm;
    char *ktname;
    char *ktpath;
    char *statepath;            /* for messages */
    char *identity;
    char *anchor;
    char *lifetime;             /* seconds, as the module's option, or NULL */
    krb5_deltat grace;          /* prune after expiry + grace */
    struct kt_kdc *kdcs;
    size_t nkdcs;               /* 0: let libkrb5 locate a KDC (DNS) */
};

static int report_stdout;       /* register: results on stdout */

/* --- KDC addresses ------------------------------------------------------ */

static void
kdc_free(struct kt_kdc *k)
{
    free(k->spec);
    free(k->host);
    free(k->port);
    free(k->msg);
    memset(k, 0, sizeof(*k));
}

/*
 * Parse a krb5.conf kdc value: host, host:port, [v6addr], [v6addr]:port or
 * a bare IPv6 address, optionally after "tcp/" or "udp/" (ktempkey always
 * uses TCP: registration requests carry certificates and do not fit a
 * datagram anyway).  Returns a static reason on error.
 */
static const char *
parse_kdc(const char *value, struct kt_kdc *k)
{
    const char *s = value, *end, *colon, *port = NULL;
    char *e;
    size_t hostlen;
    long p;

    memset(k, 0, sizeof(*k));
    while (isspace((unsigned char)*s))
        s++;
    if (strncasecmp(s, "https://", 8) == 0)
        return "HTTPS (MS-KKDCP) KDC addresses are not supported by "
            "ktempkey";
    if (strncasecmp(s, "tcp/", 4) == 0 || strncasecmp(s, "udp/", 4) == 0)
        s += 4;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    if (end == s)
        return "empty address";
    if (*s == '[') {
        colon = memchr(s, ']', end - s);
        if (colon == NULL || colon == s + 1)
            return "unterminated or empty [IPv6 address]";
        hostlen = colon - (s + 1);
        k->host = strndup(s + 1, hostlen);
        if (colon + 1 < end) {
            if (colon[1] != ':')
                return "expected ':PORT' after ']'";
            port = colon + 2;
        }
    } else {
        colon = memchr(s, ':', end - s);
        if (colon != NULL && memchr(colon + 1, ':', end - colon - 1) ==
            NULL) {
            hostlen = colon - s;
            if (hostlen == 0)
                return "empty host name";
            k->host = strndup(s, hostlen);
            port = colon + 1;
        } else {
            /* No colon, or several: a bare IPv6 address. */
            k->host = strndup(s, end - s);
        }
    }
    if (k->host == NULL)
        return "out of memory";
    if (port != NULL) {
        errno = 0;
        p = strtol(port, &e, 10);
        if (port == end || e != end || errno != 0 || p < 1 || p > 65535 ||
            !isdigit((unsigned char)*port))
            return "invalid port";
        k->port = strndup(port, end - port);
    } else {
        k->port = strdup(KT_DEFAULT_PORT);
    }
    k->spec = strndup(s, end - s);
    if (k->port == NULL || k->spec == NULL)
        return "out of memory";
    return NULL;
}

/* The kdc values of [realms] REALM in krb5.conf into kt->kdcs; none (the
 * realm's KDCs are found through DNS by libkrb5) is not an error. */
static int
load_kdcs(struct kt *kt)
{
    const char *names[4];
    char **values = NULL;
    profile_t profile = NULL;
    krb5_error_code ret;
    const char *why;
    size_t n, i;
    int rc = -1;

    ret = krb5_get_profile(kt->ctx, &profile);
    if (ret) {
        ks_agent_log_krb5(kt->ctx, LOG_ERR, ret, "cannot read krb5.conf");
        return -1;
    }
    names[0] = "realms";
    names[1] = kt->realm;
    names[2] = "kdc";
    names[3] = NULL;
    ret = profile_get_values(profile, names, &values);
    if (ret == PROF_NO_RELATION || ret == PROF_NO_SECTION) {
        rc = 0;
        goto cleanup;
    }
    if (ret) {
        ks_agent_log(LOG_ERR, "cannot read the kdc values of realm %s in "
                     "krb5.conf: %s", kt->realm, error_message(ret));
        goto cleanup;
    }
    for (n = 0; values[n] != NULL; n++)
        ;
    kt->kdcs = calloc(n > 0 ? n : 1, sizeof(*kt->kdcs));
    if (kt->kdcs == NULL) {
        ks_agent_log(LOG_ERR, "out of memory");
        goto cleanup;
    }
    for (i = 0; i < n; i++) {
        why = parse_kdc(values[i], &kt->kdcs[i]);
        kt->nkdcs = i + 1;
        if (why != NULL) {
            ks_agent_log(LOG_ERR, "krb5.conf [realms] %s: invalid kdc "
                         "value '%s': %s", kt->realm, values[i], why);
            goto cleanup;
        }
    }
    rc = 0;

cleanup:
    profile_free_list(values);
    profile_release(profile);
    return rc;
}

/* --- transport ---------------------------------------------------------- */

/* The monotonic clock in milliseconds. */
static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until fd is ready for events, the deadline (mono_ms()) passes
 * (ETIMEDOUT) or a stop is requested (EINTR).  Polls in slices so that a
 * SIGTERM (blocked) stops the agent within a fraction of a second.
 */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd pfd;
    int64_t left;
    int r, ms;

    for (;;) {
        if (ks_agent_stop_requested())
            return EINTR;
        left = deadline - mono_ms();
        if (left <= 0)
            return ETIMEDOUT;
        ms = left < KT_POLL_SLICE_MS ? (int)left : KT_POLL_SLICE_MS;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        r = poll(&pfd, 1, ms);
        if (r < 0 && errno != EINTR)
            return errno;
        /* POLLERR and POLLHUP: the read or write reports the error. */
        if (r > 0)
            return 0;
    }
}

/* Connect to one address by the deadline. */
static int
connect_addr(const struct addrinfo *ai, int64_t deadline, int *fd_out)
{
    socklen_t len = sizeof(int);
    int fd, err = 0;

    *fd_out = -1;
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
                SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            err = errno;
        } else {
            err = wait_fd(fd, POLLOUT, deadline);
            if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
                                   &len) != 0)
                err = errno;
        }
    }
    if (err) {
        close(fd);
        return err;
    }
    *fd_out = fd;
    return 0;
}

/*
 * Send (sending) or receive all len bytes at p on the non-blocking socket
 * fd by the deadline.  A peer that closes before everything is received
 * is ECONNRESET.
 */
static int
transfer_all(int fd, unsigned char *p, size_t len, int64_t deadline,
             krb5_boolean sending)
{
    ssize_t n;
    int err;

    while (len > 0) {
        if (sending)
            n = send(fd, p, len, MSG_NOSIGNAL);
        else
            n = recv(fd, p, len, 0);
        if (n == 0 && !sending)
            return ECONNRESET;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return errno;
            err = wait_fd(fd, sending ? POLLOUT : POLLIN, deadline);
            if (err)
                return err;
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Send req to the KDC over TCP (4-byte big-endian length, then the
 * message) and read its reply into *rep, within KT_TIMEOUT seconds.
 * Every failure is KRB5_KDC_UNREACH with a message naming the KDC and the
 * cause, except EINTR when a stop was requested.
 */
static krb5_error_code
send_tcp(krb5_context ctx, const struct kt_kdc *kdc, const krb5_data *req,
         krb5_data *rep)
{
    struct addrinfo hints, *res = NULL, *ai;
    unsigned char hdr[4], *buf = NULL;
    const char *stage = "connect";
    int64_t deadline;
    uint32_t len = 0;
    int fd = -1, err = ECONNREFUSED, gai;

    rep->magic = KV5M_DATA;
    rep->length = 0;
    rep->data = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    gai = getaddrinfo(kdc->host, kdc->port, &hints, &res);
    if (gai != 0) {
        krb5_set_error_message(ctx, KRB5_KDC_UNREACH, "cannot resolve KDC "
                               "host %s: %s", kdc->host, gai_strerror(gai));
        return KRB5_KDC_UNREACH;
    }
    deadline = mono_ms() + KT_TIMEOUT * 1000;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        err = connect_addr(ai, deadline, &fd);
        if (!err || err == EINTR || err == ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (err)
        goto failed;

    if (req->length > 0x7fffffffU) {
        err = EMSGSIZE;
        stage = "send";
        goto failed;
    }
    buf = malloc(req->length + 4);
    if (buf == NULL) {
        close(fd);
        return ENOMEM;
    }
    buf[0] = (unsigned char)(req->length >> 24);
    buf[1] = (unsigned char)(req->length >> 16);
    buf[2] = (unsigned char)(req->length >> 8);
    buf[3] = (unsigned char)req->length;
    memcpy(buf + 4, req->data, req->length);
    stage = "send";
    err = transfer_all(fd, buf, req->length + 4, deadline, TRUE);
    free(buf);
    buf = NULL;
    if (err)
        goto failed;

    stage = "receive";
    err = transfer_all(fd, hdr, 4, deadline, FALSE);
    if (err)
        goto failed;
    len = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
        ((uint32_t)hdr[2] << 8) | hdr[3];
    /* The high bit is reserved (RFC 4120 7.2.2); a huge length is not a
     * KDC speaking Kerberos. */
    if (len == 0 || len > KT_MAX_REPLY) {
        err = EPROTO;
        goto failed;
    }
    buf = malloc(len);
    if (buf == NULL) {
        close(fd);
        return ENOMEM;
    }
    err = transfer_all(fd, buf, len, deadline, FALSE);
    if (err)
        goto failed;
    close(fd);
    rep->data = (char *)buf;
    rep->length = len;
    return 0;

failed:
    free(buf);
    if (fd >= 0)
        close(fd);
    if (err == EINTR) {
        krb5_set_error_message(ctx, EINTR, "interrupted by a stop request");
        return EINTR;
    }
    if (err == ETIMEDOUT) {
        krb5_set_error_message(ctx, KRB5_KDC_UNREACH, "cannot reach KDC %s: "
                               "no %s within %d s", kdc->spec,
                               strcmp(stage, "connect") == 0 ?
                               "connection" : "reply", KT_TIMEOUT);
    } else if (err == EPROTO) {
        krb5_set_error_message(ctx, KRB5_KDC_UNREACH, "KDC %s: reply length "
                               "%lu is not a Kerberos message's",
                               kdc->spec, (unsigned long)len);
    } else {
        krb5_set_error_message(ctx, KRB5_KDC_UNREACH, "cannot reach KDC %s: "
                               "%s: %s", kdc->spec, stage, strerror(err));
    }
    return KRB5_KDC_UNREACH;
}

/* --- exchanges ---------------------------------------------------------- */

/*
 * Add what the generic failures mean here to their message.  The module
 * sets precise messages for what it detects (they name tempkey, or say
 * "KDC refused"); the others come from libkrb5 when the tempkey exchange
 * did not happen.  Note that the preauth list restricts only libkrb5's
 * first, optimistic request: after the KDC's PREAUTH_REQUIRED libkrb5
 * tries every method the KDC offers, and encrypted timestamp then fails
 * with EIO (it wants a password, and there is no prompter), reported as
 * "Pre-authentication failed: Input/output error".
 */
static void
explain_failure(krb5_context ctx, krb5_error_code ret)
{
    const char *msg, *hint = NULL;

    if (ret == KRB5_PREAUTH_FAILED || ret == EIO) {
        hint = "tempkey did not run: the KDC did not offer it (does the "
            "KDC load the tempkey module, and is this principal one the "
            "stateless backend serves?), or the tempkey client module is "
            "not loaded through krb5.conf [plugins] clpreauth";
    } else if (ret == KRB5KDC_ERR_PREAUTH_FAILED) {
        hint = "the KDC refused the tempkey request (its log names the "
            "cause)";
    }
    if (hint == NULL)
        return;
    msg = krb5_get_error_message(ctx, ret);
    if (strstr(msg, "tempkey") == NULL && strstr(msg, "KDC refused") == NULL)
        krb5_set_error_message(ctx, ret, "%s: %s", msg, hint);
    krb5_free_error_message(ctx, msg);
}

/*
 * One AS exchange for kt->client with the tempkey module: a new key
 * (key_id 0) or the existing key key_id, with kdc (NULL: libkrb5 locates
 * a KDC).  On failure the message is copied to kt->ctx and *transport
 * says whether no KDC reply was involved.
 */
static krb5_error_code
exchange(struct kt *kt, const struct kt_kdc *kdc, uint32_t key_id,
         krb5_boolean *transport)
{
    krb5_context ctx = NULL;
    krb5_get_init_creds_opt *opt = NULL;
    krb5_init_creds_context icc = NULL;
    krb5_principal client = NULL;
    krb5_preauthtype pa_list[1] = { KS_PA_TEMPKEY };
    krb5_data req = { 0 }, rep = { 0 }, realm = { 0 };
    unsigned int flags = 0;
    krb5_error_code ret;
    char idbuf[16];

    *transport = FALSE;
    ret = ks_agent_exchange_context(kt->ctx, &ctx);
    if (ret)
        return ret;
    ret = krb5_copy_principal(ctx, kt->client, &client);
    if (!ret)
        ret = krb5_get_init_creds_opt_alloc(ctx, &opt);
    if (ret)
        goto cleanup;
    krb5_get_init_creds_opt_set_preauth_list(opt, pa_list, 1);
    ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "tempkey_identity",
                                         kt->identity);
    if (!ret)
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "tempkey_anchor",
                                             kt->anchor);
    if (!ret)
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "tempkey_keytab",
                                             kt->ktname);
    if (!ret && kt->lifetime != NULL)
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "tempkey_lifetime",
                                             kt->lifetime);
    if (!ret && key_id != 0) {
        snprintf(idbuf, sizeof(idbuf), "%u", (unsigned int)key_id);
        ret = krb5_get_init_creds_opt_set_pa(ctx, opt, "tempkey_key_id",
                                             idbuf);
    }
    if (ret)
        goto cleanup;
    /* No prompter: there is no password; the module sets the reply key. */
    ret = krb5_init_creds_init(ctx, client, NULL, NULL, 0, opt, &icc);
    if (ret)
        goto cleanup;

    if (kdc == NULL) {
        ret = krb5_init_creds_get(ctx, icc);
        goto cleanup;
    }
    for (;;) {
        flags = 0;
        ret = krb5_init_creds_step(ctx, icc, &rep, &req, &realm, &flags);
        krb5_free_data_contents(ctx, &rep);
        /* The realm to send to: always kt->realm here (no referrals for a
         * server's own principal), and the KDC is fixed anyway. */
        krb5_free_data_contents(ctx, &realm);
        if (ret || !(flags & KRB5_INIT_CREDS_STEP_FLAG_CONTINUE))
            break;
        ret = send_tcp(ctx, kdc, &req, &rep);
        krb5_free_data_contents(ctx, &req);
        if (ret) {
            *transport = TRUE;
            break;
        }
    }
    krb5_free_data_contents(ctx, &req);

cleanup:
    /* Free the request first: the module may give a refusal its message
     * when the request ends. */
    krb5_init_creds_free(ctx, icc);
    if (ret) {
        explain_failure(ctx, ret);
        krb5_copy_error_message(kt->ctx, ctx);
    }
    krb5_get_init_creds_opt_free(ctx, opt);
    krb5_free_principal(ctx, client);
    krb5_free_context(ctx);
    return ret;
}

/* --- state -------------------------------------------------------------- */

/* Whether state entry e is kt's principal (compared parsed: the module
 * may write the name in another, equivalent form). */
static krb5_boolean
is_mine(struct kt *kt, const struct tk_state_entry *e)
{
    krb5_principal p = NULL;
    krb5_boolean same;

    if (strcmp(e->principal, kt->principal) == 0)
        return TRUE;
    if (krb5_parse_name(kt->ctx, e->principal, &p) != 0)
        return FALSE;
    same = krb5_principal_compare(kt->ctx, p, kt->client);
    krb5_free_principal(kt->ctx, p);
    return same;
}

/* kt's entries of the state file: the one with the highest key id into
 * *cur (zeroed, key_id 0, when none; principal not copied), the entry of
 * key_id (if not 0) into *want and whether any is unexpired at now. */
struct kt_view {
    struct tk_state_entry cur;
    struct tk_state_entry want;
    krb5_boolean have_want;
    krb5_boolean any_valid;
};

static krb5_error_code
state_view(struct kt *kt, uint32_t key_id, time_t now, struct kt_view *v)
{
    struct tk_state_entry *entries = NULL;
    size_t count = 0, i;
    krb5_error_code ret;

    memset(v, 0, sizeof(*v));
    ret = tk_state_load(kt->ctx, kt->ktname, &entries, &count);
    if (ret)
        return ret;
    for (i = 0; i < count; i++) {
        if (!is_mine(kt, &entries[i]))
            continue;
        if (entries[i].key_id > v->cur.key_id)
            v->cur = entries[i];
        if (key_id != 0 && entries[i].key_id == key_id) {
            v->want = entries[i];
            v->have_want = TRUE;
        }
        if (entries[i].expiry > now)
            v->any_valid = TRUE;
    }
    v->cur.principal = NULL;
    v->want.principal = NULL;
    tk_state_free(entries, count);
    return 0;
}

static krb5_boolean
has_id(const uint32_t *ids, size_t n, uint32_t id)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (ids[i] == id)
            return TRUE;
    }
    return FALSE;
}

/*
 * After a failed exchange for a new key: the module writes the key into
 * the keytab before sending and removes it when the KDC refuses, but an
 * exchange that was cut short (no reply, a stop request) may leave it
 * there.  Remove key ids that appeared during the exchange and have no
 * state entry: no KDC accepted them.
 */
static void
remove_unregistered(struct kt *kt, const uint32_t *before, size_t nbefore,
                    krb5_error_code failure)
{
    struct tk_state_entry *entries = NULL;
    uint32_t *ids = NULL, *drop = NULL;
    size_t nids = 0, ndrop = 0, count = 0, i, j;
    krb5_boolean recorded;
    krb5_error_code ret;
    const char *msg;
    char *saved;

    /* The exchange's error message lives in kt->ctx, which the keytab
     * functions below use too: keep it. */
    msg = krb5_get_error_message(kt->ctx, failure);
    saved = strdup(msg);
    krb5_free_error_message(kt->ctx, msg);

    if (tk_keytab_ids(kt->ctx, kt->ktname, kt->client, &ids, &nids) != 0 ||
        tk_state_load(kt->ctx, kt->ktname, &entries, &count) != 0)
        goto cleanup;
    drop = calloc(nids > 0 ? nids : 1, sizeof(*drop));
    if (drop == NULL)
        goto cleanup;
    for (i = 0; i < nids; i++) {
        if (has_id(before, nbefore, ids[i]))
            continue;
        recorded = FALSE;
        for (j = 0; j < count && !recorded; j++)
            recorded = entries[j].key_id == ids[i] && is_mine(kt,
                                                              &entries[j]);
        if (!recorded)
            drop[ndrop++] = ids[i];
    }
    for (i = 0; i < ndrop; i++) {
        ret = tk_keytab_update(kt->ctx, kt->ktname, kt->client, NULL, 0, 0,
                               &drop[i], 1);
        if (ret)
            ks_agent_log_krb5(kt->ctx, LOG_WARNING, ret, "cannot remove an "
                              "unregistered key from the keytab");
        else
            ks_agent_log(LOG_INFO, "removed unregistered key id %u of %s "
                         "from %s", (unsigned int)drop[i], kt->principal,
                         kt->ktname);
    }

cleanup:
    if (saved != NULL)
        krb5_set_error_message(kt->ctx, failure, "%s", saved);
    free(saved);
    free(drop);
    free(ids);
    tk_state_free(entries, count);
}

/* --- registration ------------------------------------------------------- */

/* Remember the outcome of an attempt with kdc (NULL: libkrb5's). */
static void
set_result(struct kt *kt, struct kt_kdc *kdc, uint32_t key_id,
           krb5_error_code ret, krb5_boolean transport)
{
    const char *msg;

    if (kdc == NULL)
        return;
    free(kdc->msg);
    kdc->msg = NULL;
    kdc->ret = ret;
    kdc->tried_id = key_id;
    kdc->transport = transport;
    if (ret) {
        msg = krb5_get_error_message(kt->ctx, ret);
        kdc->msg = strdup(msg);
        krb5_free_error_message(kt->ctx, msg);
    }
}

/*
 * Register key_id (0: a new key) with kdc; on success the key id the KDC
 * accepted into *id_out.  A new key's id is the newest of the state file
 * (the module records a key only when a KDC accepted it); ktempkey checks
 * that it is newer than before the exchange, so that a module that did
 * not record anything cannot make it announce an old key.
 */
static krb5_error_code
register_one(struct kt *kt, struct kt_kdc *kdc, uint32_t key_id,
             uint32_t *id_out)
{
    struct kt_view before, after;
    uint32_t *ids = NULL;
    size_t nids = 0;
    krb5_boolean transport = FALSE;
    krb5_error_code ret;

    *id_out = 0;
    ret = state_view(kt, 0, time(NULL), &before);
    if (!ret && key_id == 0)
        ret = tk_keytab_ids(kt->ctx, kt->ktname, kt->client, &ids, &nids);
    if (ret)
        goto done;
    if (key_id != 0)
        ks_agent_log(LOG_DEBUG, "registering key id %u of %s with KDC %s",
                     (unsigned int)key_id, kt->principal,
                     kdc != NULL ? kdc->spec : "(located by libkrb5)");
    else
        ks_agent_log(LOG_DEBUG, "registering a new key of %s (current key id: "
                     "%u) with KDC %s", kt->principal,
                     (unsigned int)before.cur.key_id,
                     kdc != NULL ? kdc->spec : "(located by libkrb5)");
    ret = exchange(kt, kdc, key_id, &transport);
    if (!ret)
        ret = state_view(kt, key_id, time(NULL), &after);
    if (ret) {
        if (key_id == 0)
            remove_unregistered(kt, ids, nids, ret);
        goto done;
    }
    if (key_id == 0 && after.cur.key_id > before.cur.key_id) {
        *id_out = after.cur.key_id;
    } else if (key_id != 0 && after.have_want) {
        *id_out = key_id;
    } else {
        ret = KRB5_PREAUTH_FAILED;
        krb5_set_error_message(kt->ctx, ret, "the exchange succeeded but the "
                               "tempkey client module recorded no %s key in "
                               "%s (is the module of this release loaded, "
                               "and does the KDC offer tempkey?)",
                               key_id ? "such" : "new", kt->statepath);
        if (key_id == 0)
            remove_unregistered(kt, ids, nids, ret);
    }

done:
    set_result(kt, kdc, key_id, ret, transport);
    free(ids);
    return ret;
}

/* Report the outcome of the latest attempt with kdc (NULL: libkrb5's
 * KDC; then ret is given). */
static void
report(struct kt *kt, const struct kt_kdc *kdc, krb5_error_code ret,
       uint32_t key_id)
{
    const char *where = kdc != NULL ? kdc->spec : "(located by libkrb5)";
    struct kt_view v;
    char exp[32], ren[32], idtext[32];
    const char *msg;

    if (kdc != NULL) {
        ret = kdc->ret;
        if (!ret)
            key_id = kdc->tried_id ? kdc->tried_id : key_id;
    }
    if (!ret) {
        if (state_view(kt, key_id, time(NULL), &v) != 0 || !v.have_want) {
            ks_agent_log(LOG_WARNING, "registered key id %u of %s with KDC "
                         "%s, but cannot read its state entry",
                         (unsigned int)key_id, kt->principal, where);
            return;
        }
        ks_agent_format_time(v.want.expiry, TRUE, exp, sizeof(exp));
        if (v.want.renew_by != 0)
            ks_agent_format_time(v.want.renew_by, TRUE, ren, sizeof(ren));
        else
            snprintf(ren, sizeof(ren), "%s", exp);
        if (report_stdout) {
            printf("registered key id %u of %s with KDC %s, expires %s, "
                   "renew by %s\n", (unsigned int)key_id, kt->principal,
                   where, exp, ren);
            fflush(stdout);
        } else {
            ks_agent_log(LOG_INFO, "registered key id %u of %s with KDC %s, "
                         "expires %s, renew by %s", (unsigned int)key_id,
                         kt->principal, where, exp, ren);
        }
        return;
    }
    if (kdc != NULL && kdc->tried_id != 0)
        snprintf(idtext, sizeof(idtext), "key id %u",
                 (unsigned int)kdc->tried_id);
    else
        snprintf(idtext, sizeof(idtext), "a new key");
    if (kdc != NULL) {
        ks_agent_log(LOG_ERR, "registration of %s of %s with KDC %s failed: "
                     "%s", idtext, kt->principal, where,
                     kdc->msg != NULL ? kdc->msg : error_message(ret));
    } else {
        msg = krb5_get_error_message(kt->ctx, ret);
        ks_agent_log(LOG_ERR, "registration of %s of %s with KDC %s failed: "
                     "%s", idtext, kt->principal, where, msg);
        krb5_free_error_message(kt->ctx, msg);
    }
}

/*
 * Register a new key with every KDC: the first KDC that accepts one fixes
 * the key id; every other KDC gets that key id, including those that
 * refused earlier for another reason than being unreachable (a busy KDC,
 * say).  Reports one line per KDC.  Returns the new key id (0 when no KDC
 * accepted a key) and sets *all_ok when every KDC has it.  In run mode,
 * KDCs that missed the key become pending.
 */
static uint32_t
register_round(struct kt *kt, krb5_boolean *all_ok)
{
    uint32_t key_id = 0, id;
    krb5_error_code ret;
    size_t i, first = 0;

    *all_ok = FALSE;
    if (kt->nkdcs == 0) {
        ret = register_one(kt, NULL, 0, &key_id);
        report(kt, NULL, ret, key_id);
        *all_ok = (ret == 0);
        return key_id;
    }
    for (i = 0; i < kt->nkdcs; i++) {
        kt->kdcs[i].pending = FALSE;
        kt->kdcs[i].failures = 0;
        kt->kdcs[i].next_try = 0;
        set_result(kt, &kt->kdcs[i], 0, 0, FALSE);
    }
    for (i = 0; i < kt->nkdcs && key_id == 0; i++) {
        if (ks_agent_stop_requested())
            break;
        if (register_one(kt, &kt->kdcs[i], 0, &id) == 0) {
            key_id = id;
            first = i;
        }
    }
    if (key_id != 0) {
        for (i = 0; i < kt->nkdcs; i++) {
            if (i == first || (i < first && kt->kdcs[i].transport))
                continue;
            if (ks_agent_stop_requested()) {
                set_result(kt, &kt->kdcs[i], key_id, EINTR, TRUE);
                continue;
            }
            (void)register_one(kt, &kt->kdcs[i], key_id, &id);
        }
    }
    *all_ok = (key_id != 0);
    for (i = 0; i < kt->nkdcs; i++) {
        /* Those not reached before a stop request have no result. */
        if (key_id == 0 && kt->kdcs[i].ret == 0)
            continue;
        report(kt, &kt->kdcs[i], 0, key_id);
        if (key_id != 0 && kt->kdcs[i].ret != 0) {
            *all_ok = FALSE;
            kt->kdcs[i].pending = TRUE;
            kt->kdcs[i].failures = 1;
            kt->kdcs[i].next_try = time(NULL) + 1;
        }
    }
    return key_id;
}

static int
cmd_register(struct kt *kt)
{
    krb5_boolean all_ok;

    report_stdout = 1;
    (void)register_round(kt, &all_ok);
    return all_ok ? 0 : 1;
}

/* --- run ---------------------------------------------------------------- */

/* Retry wait n (1, 2, ...): 1, 2, 4, ... capped at KT_RETRY_MAX. */
static time_t
backoff(unsigned int n)
{
    return ks_agent_backoff(n, 1, KT_RETRY_MAX);
}

/*
 * Remove from the keytab, then from the state file, kt's keys whose
 * expiry + grace has passed, never the current key cur.  Keys without a
 * state entry are not ktempkey's to judge and stay.  Returns the earliest
 * time a remaining key becomes prunable (0: none).
 */
static time_t
prune(struct kt *kt, uint32_t cur, time_t now)
{
    struct tk_state_entry *entries = NULL;
    uint32_t *drop = NULL;
    size_t count = 0, ndrop = 0, i;
    time_t next = 0, when;
    krb5_error_code ret;
    char exp[32];

    ret = tk_state_load(kt->ctx, kt->ktname, &entries, &count);
    if (ret) {
        ks_agent_log_krb5(kt->ctx, LOG_ERR, ret, "cannot prune");
        return 0;
    }
    drop = calloc(count > 0 ? count : 1, sizeof(*drop));
    if (drop == NULL)
        goto cleanup;
    for (i = 0; i < count; i++) {
        if (!is_mine(kt, &entries[i]) || entries[i].key_id == cur)
            continue;
        when = entries[i].expiry + kt->grace;
        if (when <= now) {
            drop[ndrop++] = entries[i].key_id;
            ks_agent_format_time(entries[i].expiry, TRUE, exp, sizeof(exp));
            ks_agent_log(LOG_INFO, "pruning key id %u of %s (expired %s)",
                         (unsigned int)entries[i].key_id, kt->principal, exp);
        } else if (next == 0 || when < next) {
            next = when;
        }
    }
    if (ndrop == 0)
        goto cleanup;
    /* Keytab first: a key that left the state file but not the keytab
     * would never be pruned. */
    ret = tk_keytab_update(kt->ctx, kt->ktname, kt->client, NULL, 0, 0,
                           drop, ndrop);
    if (!ret)
        ret = tk_state_remove(kt->ctx, kt->ktname, kt->principal, drop,
                              ndrop);
    if (ret) {
        ks_agent_log_krb5(kt->ctx, LOG_ERR, ret, "cannot prune expired keys");
        /* Try again at the next retry interval. */
        next = now + KT_RETRY_MAX;
    }
    /* The state file may name the principal in another form: remove
     * those lines too (a no-op when there are none). */
    for (i = 0; !ret && i < count; i++) {
        if (has_id(drop, ndrop, entries[i].key_id) &&
            strcmp(entries[i].principal, kt->principal) != 0 &&
            is_mine(kt, &entries[i]))
            (void)tk_state_remove(kt->ctx, kt->ktname, entries[i].principal,
                                  &entries[i].key_id, 1);
    }

cleanup:
    free(drop);
    tk_state_free(entries, count);
    return next;
}

/*
 * Keep kt's keys registered, forever.  Each round re-reads the state
 * file and the keytab and does what is due:
 *  - a new key when there is no unexpired key, the current (highest) key
 *    is missing from the keytab, or now >= the earlier of registered +
 *    lifetime/2 and the KDCs' renew-by time; a round in which no KDC
 *    accepted a key is retried after 1, 2, 4, ... 60 s;
 *  - the current key for KDCs that missed it, each with its own backoff;
 *  - pruning of expired keys (prune()).
 * Then it sleeps until the next of these is due (at most KT_MAX_SLEEP).
 */
static int
cmd_run(struct kt *kt)
{
    struct kt_view v;
    uint32_t *ids = NULL, pending_id = 0, id;
    size_t nids = 0, i;
    unsigned int gen_failures = 0;
    time_t now, due, next, gen_not_before = 0, state_retry = 0;
    krb5_boolean all_ok, in_keytab;
    krb5_error_code ret;
    char when[32];

    ks_agent_log(LOG_INFO, "keeping temporary keys of %s in %s, registered "
                 "with %s%zu KDC%s", kt->principal, kt->ktname,
                 kt->nkdcs ? "" : "the KDCs libkrb5 locates (DNS) instead of ",
                 kt->nkdcs, kt->nkdcs == 1 ? "" : "s");
    for (;;) {
        now = time(NULL);
        next = now + KT_MAX_SLEEP;
        ret = state_view(kt, 0, now, &v);
        if (!ret)
            ret = tk_keytab_ids(kt->ctx, kt->ktname, kt->client, &ids,
                                &nids);
        if (ret) {
            /* A broken state file or keytab needs the operator; keep
             * saying so, and carry on when it is fixed. */
            ks_agent_log_krb5(kt->ctx, LOG_ERR, ret, "cannot read the keytab "
                              "or its state");
            state_retry = state_retry ? state_retry * 2 : 1;
            if (state_retry > KT_RETRY_MAX)
                state_retry = KT_RETRY_MAX;
            if (ks_agent_sleep_or_stop(state_retry))
                break;
            continue;
        }
        state_retry = 0;
        in_keytab = has_id(ids, nids, v.cur.key_id);
        free(ids);
        ids = NULL;

        if (!v.any_valid || v.cur.key_id == 0) {
            due = now;
            ks_agent_log(LOG_DEBUG, "%s has no unexpired key", kt->principal);
        } else if (!in_keytab) {
            due = now;
            ks_agent_log(LOG_WARNING, "key id %u of %s is not in %s: "
                         "registering a new key", (unsigned int)v.cur.key_id,
                         kt->principal, kt->ktname);
        } else {
            due = v.cur.registered + (v.cur.expiry - v.cur.registered) / 2;
            due = ks_agent_earliest(due, v.cur.renew_by);
        }
        /* A newer key (an operator's "ktempkey register") or an expired
         * one ends the retries for the old key. */
        if (pending_id != v.cur.key_id || v.cur.expiry <= now) {
            for (i = 0; i < kt->nkdcs; i++)
                kt->kdcs[i].pending = FALSE;
            pending_id = 0;
        }

        if (now >= due && now >= gen_not_before) {
            id = register_round(kt, &all_ok);
            if (id == 0) {
                gen_failures++;
                gen_not_before = now + backoff(gen_failures);
                ks_agent_log(LOG_WARNING, "no KDC accepted a new key of %s; "
                             "retry %u in %ld s", kt->principal, gen_failures,
                             (long)(gen_not_before - now));
            } else {
                gen_failures = 0;
                pending_id = id;
                /* At most one registration a second, whatever renew-by
                 * time a KDC sends (one in the past, say); a KDC's
                 * renew-by is otherwise honoured as it is. */
                gen_not_before = now + 1;
            }
            if (ks_agent_sleep_or_stop(0))
                break;
            continue;
        }
        if (now >= due)
            next = ks_agent_earliest(next, gen_not_before);
        else
            next = ks_agent_earliest(next, due);

        for (i = 0; i < kt->nkdcs; i++) {
            if (!kt->kdcs[i].pending)
                continue;
            if (kt->kdcs[i].next_try <= now) {
                if (ks_agent_stop_requested())
                    break;
                ret = register_one(kt, &kt->kdcs[i], pending_id, &id);
                report(kt, &kt->kdcs[i], 0, pending_id);
                if (!ret) {
                    kt->kdcs[i].pending = FALSE;
                    continue;
                }
                kt->kdcs[i].failures++;
                kt->kdcs[i].next_try = time(NULL) +
                    backoff(kt->kdcs[i].failures);
                ks_agent_log(LOG_WARNING, "retry %u of key id %u with KDC %s "
                             "in %ld s", kt->kdcs[i].failures,
                             (unsigned int)pending_id, kt->kdcs[i].spec,
                             (long)backoff(kt->kdcs[i].failures));
            }
            next = ks_agent_earliest(next, kt->kdcs[i].next_try);
        }

        next = ks_agent_earliest(next, prune(kt, v.cur.key_id, time(NULL)));
        now = time(NULL);
        if (next < now)
            next = now;
        ks_agent_format_time(next, TRUE, when, sizeof(when));
        ks_agent_log(LOG_DEBUG, "current key id %u of %s; next check at %s",
                     (unsigned int)v.cur.key_id, kt->principal, when);
        if (ks_agent_sleep_or_stop(next - now))
            break;
    }
    free(ids);
    return 0;
}

/* --- setup -------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(f, "usage: ktempkey register | run -p PRINC -k KEYTAB "
            "--identity FILE:cert.pem,key.pem\n"
            "                --anchor FILE:ca.pem [--lifetime DUR] [-d]\n"
            "  register  register a new temporary key with every KDC\n"
            "  run       keep temporary keys registered and the keytab "
            "pruned (foreground)\n"
            "  -p, --principal PRINC   the server's principal\n"
            "  -k, --keytab KEYTAB     the keytab of temporary keys (FILE:)\n"
            "  --identity SPEC         the server's certificate and key\n"
            "  --anchor SPEC           anchor of the KDCs' certificate\n"
            "  --lifetime DUR          requested key lifetime (default: the "
            "KDC's maximum)\n"
            "  -d                      log to stderr, with debug messages\n"
            "  -h                      print this help\n");
}

/* Parse the principal, find its realm's KDCs and check, once at start-up,
 * everything that would otherwise fail only at the first registration. */
static int
kt_init(struct kt *kt, const char *principal)
{
    struct tk_state_entry *entries = NULL;
    size_t count = 0;
    krb5_error_code ret;
    struct stat st;
    char *dir = NULL;
    int rc = -1;

    if (ks_agent_init(principal, &kt->ctx, &kt->client, &kt->principal,
                      &kt->realm) != 0)
        return -1;

    ret = tk_keytab_path(kt->ctx, kt->ktname, &kt->ktpath);
    if (ret) {
        ks_agent_log_krb5(kt->ctx, LOG_ERR, ret, "keytab");
        return -1;
    }
    if (asprintf(&kt->statepath, "%s.tempkey", kt->ktpath) < 0) {
        kt->statepath = NULL;
        goto oom;
    }
    dir = ks_agent_dirname(kt->ktpath);
    if (dir == NULL)
        goto oom;
    /* The keytab is replaced by renaming a new file in its directory. */
    if (access(dir, W_OK | X_OK) != 0) {
        ks_agent_log(LOG_ERR, "keytab directory %s is not writable: %s", dir,
                     strerror(errno));
        goto cleanup;
    }
    if (stat(kt->ktpath, &st) == 0 && !S_ISREG(st.st_mode)) {
        ks_agent_log(LOG_ERR, "keytab %s is not a regular file", kt->ktpath);
        goto cleanup;
    }
    ret = tk_state_load(kt->ctx, kt->ktname, &entries, &count);
    tk_state_free(entries, count);
    if (ret) {
        ks_agent_log_krb5(kt->ctx, LOG_ERR, ret, "state");
        goto cleanup;
    }

    if (ks_agent_check_identity(kt->ctx, kt->identity, kt->anchor) != 0 ||
        load_kdcs(kt) != 0)
        goto cleanup;
    if (kt->grace < 0)
        kt->grace = ks_config_clockskew(kt->ctx);
    rc = 0;
    goto cleanup;

oom:
    ks_agent_log(LOG_ERR, "out of memory");

cleanup:
    free(dir);
    return rc;
}

static void
kt_free(struct kt *kt)
{
    size_t i;

    for (i = 0; i < kt->nkdcs; i++)
        kdc_free(&kt->kdcs[i]);
    free(kt->kdcs);
    if (kt->ctx != NULL) {
        krb5_free_principal(kt->ctx, kt->client);
        krb5_free_context(kt->ctx);
    }
    free(kt->principal);
    free(kt->realm);
    free(kt->ktpath);
    free(kt->statepath);
    free(kt->lifetime);
    memset(kt, 0, sizeof(*kt));
}

enum {
    OPT_IDENTITY = 256,
    OPT_ANCHOR,
    OPT_LIFETIME,
    OPT_PRUNE_GRACE
};

int
main(int argc, char **argv)
{
    static const char *const commands[] = { "register", "run", NULL };
    static const struct option longopts[] = {
        { "principal", required_argument, NULL, 'p' },
        { "keytab", required_argument, NULL, 'k' },
        { "identity", required_argument, NULL, OPT_IDENTITY },
        { "anchor", required_argument, NULL, OPT_ANCHOR },
        { "lifetime", required_argument, NULL, OPT_LIFETIME },
        /* Not in the usage: for tests and unusual clocks. */
        { "prune-grace", required_argument, NULL, OPT_PRUNE_GRACE },
        { "debug", no_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *principal = NULL, *cmd, *lifetime = NULL, *grace = NULL;
    struct kt kt;
    krb5_deltat d;
    krb5_boolean debug = FALSE;
    int c, err, rc = 1;

    memset(&kt, 0, sizeof(kt));
    kt.grace = -1;
    /* Keytabs, state files and their temporary files are the server's
     * alone. */
    umask(077);
    while ((c = getopt_long(argc, argv, "p:k:dh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            principal = optarg;
            break;
        case 'k':
            kt.ktname = optarg;
            break;
        case OPT_IDENTITY:
            kt.identity = optarg;
            break;
        case OPT_ANCHOR:
            kt.anchor = optarg;
            break;
        case OPT_LIFETIME:
            lifetime = optarg;
            break;
        case OPT_PRUNE_GRACE:
            grace = optarg;
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
    cmd = ks_agent_command("ktempkey", argc, argv, optind, commands, usage);
    if (cmd == NULL)
        return 2;
    if (principal == NULL) {
        fprintf(stderr, "ktempkey: -p PRINC is missing (the server's "
                "principal, e.g. host/web.example.test@REALM)\n");
        return 2;
    }
    if (kt.ktname == NULL) {
        fprintf(stderr, "ktempkey: -k KEYTAB is missing (the keytab that "
                "receives the temporary keys)\n");
        return 2;
    }
    if (kt.identity == NULL) {
        fprintf(stderr, "ktempkey: --identity is missing (the server's "
                "certificate and key, FILE:cert.pem,key.pem)\n");
        return 2;
    }
    if (kt.anchor == NULL) {
        fprintf(stderr, "ktempkey: --anchor is missing (the CA of the KDCs' "
                "certificate, FILE:ca.pem)\n");
        return 2;
    }
    if (lifetime != NULL) {
        if (ks_parse_duration(lifetime, &d) != 0) {
            fprintf(stderr, "ktempkey: invalid --lifetime '%s': expected a "
                    "duration greater than zero in krb5 syntax (30m, 10h, "
                    "1d)\n", lifetime);
            return 2;
        }
        if (asprintf(&kt.lifetime, "%ld", (long)d) < 0) {
            fprintf(stderr, "ktempkey: out of memory\n");
            return 1;
        }
    }
    if (grace != NULL) {
        if (strcmp(grace, "0") == 0) {
            kt.grace = 0;
        } else if (ks_parse_duration(grace, &kt.grace) != 0) {
            fprintf(stderr, "ktempkey: invalid --prune-grace '%s': expected "
                    "a duration in krb5 syntax\n", grace);
            free(kt.lifetime);
            return 2;
        }
    }

    /* SIGTERM and SIGINT wait, blocked, until the agent can stop cleanly:
     * between exchanges, or in a transport wait (which gives up at once),
     * so that a key the module wrote for an unfinished exchange is
     * removed again. */
    err = ks_agent_block_stop_signals();
    if (err) {
        fprintf(stderr, "ktempkey: cannot block SIGTERM: %s\n",
                strerror(err));
        free(kt.lifetime);
        return 1;
    }
    /* A KDC closing a TCP connection must not kill the agent. */
    signal(SIGPIPE, SIG_IGN);
    ks_agent_log_init("ktempkey", debug, strcmp(cmd, "run") == 0 && debug);
    if (kt_init(&kt, principal) != 0)
        goto done;
    if (strcmp(cmd, "run") == 0) {
        ks_agent_log_to_syslog();
        rc = cmd_run(&kt);
    } else {
        rc = cmd_register(&kt);
        if (ks_agent_stop_requested()) {
            ks_agent_log(LOG_ERR, "interrupted");
            rc = 1;
        }
    }

done:
    kt_free(&kt);
    ks_agent_log_close();
    return rc;
}
