/*
 * kinkd's Kerberos side on the event loop (see kink_krb.h).
 *
 * Three layers:
 *
 *   KDC exchanges (struct kdc_exchange): one request to the KDCs of one
 *   realm, from the profile ([realms] REALM kdc), over UDP (TCP for large
 *   requests) on non-blocking sockets watched by the loop.  The first pass
 *   gives each KDC a second before trying the next (earlier sockets stay
 *   open, so a late answer still counts); later passes retransmit with the
 *   wait doubled; after KDC_TOTAL_MS the exchange fails with
 *   KRB5_KDC_UNREACH.  A KDC that refuses (ICMP, TCP reset) is passed over
 *   at once.
 *
 *   Steppers (struct kstep): drive krb5_tkt_creds_step (tickets to peers)
 *   or krb5_init_creds_step (our TGT, keytab identity) through as many KDC
 *   exchanges as they need, switching to TCP after
 *   KRB5KRB_ERR_RESPONSE_TOO_BIG.
 *
 *   Requests (struct kink_krb_req): one kink_krb_get_ticket each.  Every
 *   answer, cached or not, reaches the caller from a 0 ms timer of the
 *   loop, one request per timer run, so a callback never runs inside
 *   kink_krb_get_ticket nor while this file walks its own lists.
 *
 * Our TGT lives in a private MEMORY ccache (that is what tkt_creds reads);
 * tickets to peers live in our own table instead (kk->cache): one server
 * can have several user-to-user tickets, one per peer TGT, which a ccache
 * cannot tell apart, and a table is easy to bound.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
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

#include <openssl/evp.h>
#include <profile.h>

#include "kink_krb.h"
#include "ks_agent.h"
#include "ks_util.h"

#define KDC_DEFAULT_PORT        "88"
#define KDC_MAX_ADDRS           32
#define KDC_FIRST_WAIT_MS       1000    /* per KDC in the first pass */
#define KDC_MAX_WAIT_SHIFT      3       /* later passes: 2, 4, 8 s */
#define KDC_TOTAL_MS            10000   /* give up on an exchange */
#define KDC_MAX_TCP_REPLY       (1024 * 1024)
#define KDC_UDP_BUF             65536
#define UDP_PREF_LIMIT_DEFAULT  1465
#define UDP_PREF_LIMIT_MAX      32700   /* as MIT: beyond this, TCP always */

#define TICKET_MIN_LEFT         60      /* cached tickets: seconds left */
#define TGT_MIN_LEFT            60      /* our TGT: usable for requests */
#define CCACHE_LOW_LEFT         300     /* re-read the ccache below this */
#define CCACHE_POLL_S           60      /* non-FILE ccaches: re-read period */
#define TGT_RETRY_MIN_S         5
#define TGT_RETRY_MAX_S         300

/* DER tags of the replies a KDC sends: [APPLICATION 11] AS-REP,
 * [APPLICATION 13] TGS-REP, [APPLICATION 30] KRB-ERROR.  Only used to drop
 * datagrams that cannot be a KDC's answer before handing one to krb5. */
#define TAG_AS_REP              0x6b
#define TAG_TGS_REP             0x6d
#define TAG_KRB_ERROR           0x7e

/* --- structures ---------------------------------------------------------- */

struct kdc_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int transport;              /* 0: either; SOCK_DGRAM or SOCK_STREAM */
};

/* The resolved KDCs of one realm, kept for the life of kk. */
struct realm_kdcs {
    struct realm_kdcs *next;
    char *realm;
    size_t n;
    struct kdc_addr addrs[KDC_MAX_ADDRS];
};

enum conn_state {
    CONN_IDLE,                  /* never used, or closed after a failure */
    CONN_UDP,                   /* datagram sent, waiting */
    CONN_TCP_CONNECT,
    CONN_TCP_WRITE,
    CONN_TCP_READLEN,
    CONN_TCP_READ
};

struct kdc_exchange;

struct kdc_conn {
    struct kdc_exchange *kx;
    const struct kdc_addr *addr;
    int fd;
    verto_ev *ev;
    enum conn_state state;
    int failed;                 /* failed in the current pass */
    size_t off;                 /* TCP: octets written / read so far */
    unsigned char lenbuf[4];
    uint32_t rlen;
    unsigned char *rbuf;
};

typedef void (*kx_done_fn)(void *owner, krb5_error_code ret,
                           const krb5_data *reply);

struct kdc_exchange {
    struct kink_krb *kk;
    const struct realm_kdcs *rk;
    int tcp;                    /* TCP to every KDC */
    unsigned char *msg;         /* 4-octet length, then the request */
    size_t msglen;              /* with the length prefix */
    struct kdc_conn *conns;     /* one per address of rk */
    size_t next;                /* next address to try in this pass */
    unsigned int pass;
    verto_ev *timer;
    uint64_t due;               /* when the timer should fire (mono ms) */
    uint64_t deadline;          /* monotonic ms */
    kx_done_fn done;
    void *owner;
};

/* A tkt_creds or init_creds context driven through KDC exchanges. */
struct kstep {
    struct kink_krb *kk;
    krb5_tkt_creds_context tcc;
    krb5_init_creds_context icc;
    struct kdc_exchange *kx;
    int tcp_only;
    void (*finish)(struct kstep *st, krb5_error_code ret);
    void *owner;
};

enum req_state {
    REQ_WAIT_TGT,               /* keytab identity: TGT being obtained */
    REQ_RUNNING,                /* TGS exchange(s) in progress */
    REQ_DONE                    /* answer ready, waiting for the loop */
};

struct kink_krb_req {
    struct kink_krb *kk;
    krb5_context ctx;
    struct kink_krb_req *prev, *next;
    enum req_state state;
    kink_krb_ticket_fn fn;
    void *arg;
    krb5_principal server;
    krb5_data second;           /* peer TGT (user-to-user), else empty */
    int u2u;
    unsigned char hash[32];     /* SHA-256 of second */
    struct kstep st;
    krb5_error_code ret;
    char *errmsg;
    krb5_creds *creds;
};

struct cache_ent {
    krb5_creds *creds;
    int u2u;
    unsigned char hash[32];
};

struct kink_krb {
    krb5_context ctx;
    verto_ctx *loop;
    int u2u_only;               /* ccache identity */
    krb5_principal self;
    char *self_name;
    krb5_principal tgs;         /* krbtgt/REALM@REALM of our realm */
    krb5_ccache mcc;            /* private MEMORY ccache: our TGT */
    krb5_creds *tgt;            /* our current TGT */
    krb5_keyblock *prev_key;    /* session key of the TGT before it */
    int udp_pref_limit;
    unsigned char *rbuf;        /* UDP receive buffer */
    struct realm_kdcs *kdcs;

    /* keytab identity */
    krb5_keytab kt;
    char *kt_name;
    struct kstep tgt_st;        /* obtaining our TGT, when tgt_st.icc */
    verto_ev *tgt_timer;        /* refresh or retry */
    unsigned int tgt_failures;

    /* ccache identity */
    krb5_ccache src_cc;
    char *cc_name;
    char *cc_path;              /* FILE: ccaches: watched for changes */
    struct stat cc_stat;
    int cc_stat_ok;
    time_t cc_read_at;
    krb5_timestamp cc_warned_end;

    struct kink_krb_req *reqs;  /* every request not yet delivered */
    verto_ev *deliver_ev;

    struct cache_ent *cache;    /* KINK_KRB_CACHE_MAX entries */
    size_t n_cache;
};

/* --- small helpers ------------------------------------------------------- */

static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* b - a in seconds for krb5 timestamps, which wrap in 2106 (as MIT's
 * ts_delta). */
static int32_t
ts_delta(krb5_timestamp b, krb5_timestamp a)
{
    return (int32_t)((uint32_t)b - (uint32_t)a);
}

static krb5_timestamp
now_ts(krb5_context ctx)
{
    krb5_timestamp t = 0;

    if (krb5_timeofday(ctx, &t) != 0)
        t = (krb5_timestamp)time(NULL);
    return t;
}

static void
format_ts(krb5_timestamp t, char *buf, size_t len)
{
    ks_agent_format_time((time_t)(uint32_t)t, FALSE, buf, len);
}

/* The message kept in ctx for ret, malloc'ed (NULL when out of memory). */
static char *
save_message(krb5_context ctx, krb5_error_code ret)
{
    const char *m = krb5_get_error_message(ctx, ret);
    char *s = strdup(m != NULL ? m : "unknown error");

    krb5_free_error_message(ctx, m);
    return s;
}

static void
addr_text(const struct kdc_addr *a, char *buf, size_t len)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];

    if (getnameinfo((const struct sockaddr *)&a->ss, a->len, host,
                    sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, len, "?");
        return;
    }
    snprintf(buf, len, a->ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
             host, serv);
}

/* A malloc'ed copy of len bytes, NUL-terminated. */
static char *
memdup0(const void *p, size_t len)
{
    char *s = malloc(len + 1);

    if (s != NULL) {
        if (len > 0)
            memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

static verto_ev *
add_timer(struct kink_krb *kk, uint64_t ms, verto_callback *cb, void *priv)
{
    verto_ev *ev = verto_add_timeout(kk->loop, VERTO_EV_FLAG_NONE, cb,
                                     (time_t)ms);

    if (ev != NULL)
        verto_set_private(ev, priv, NULL);
    return ev;
}

static int
keyblock_equal(const krb5_keyblock *a, const krb5_keyblock *b)
{
    return a->enctype == b->enctype && a->length == b->length &&
        ks_ct_memcmp(a->contents, b->contents, a->length) == 0;
}

static int
data_equal(const krb5_data *a, const krb5_data *b)
{
    return a->length == b->length &&
        (a->length == 0 || memcmp(a->data, b->data, a->length) == 0);
}

/* --- KDC addresses from the profile -------------------------------------- */

/*
 * Split one "kdc =" value: [tcp/|udp/]host[:port], [v6]:port, or a bare
 * IPv6 address.  0 on success; ENOENT for a form we do not speak (an
 * MS-KKDCP https:// URL).
 */
static int
split_kdc_entry(const char *val, char *host, size_t hostlen, char *port,
                size_t portlen, int *transport)
{
    const char *p = val, *h, *colon, *end;
    size_t hl;

    *transport = 0;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strstr(p, "://") != NULL)
        return ENOENT;
    if (strncasecmp(p, "tcp/", 4) == 0) {
        *transport = SOCK_STREAM;
        p += 4;
    } else if (strncasecmp(p, "udp/", 4) == 0) {
        *transport = SOCK_DGRAM;
        p += 4;
    }
    end = p + strcspn(p, " \t");
    snprintf(port, portlen, "%s", KDC_DEFAULT_PORT);
    if (*p == '[') {
        h = p + 1;
        colon = memchr(h, ']', (size_t)(end - h));
        if (colon == NULL)
            return EINVAL;
        hl = (size_t)(colon - h);
        if (colon + 1 < end) {
            if (colon[1] != ':' || colon + 2 >= end)
                return EINVAL;
            snprintf(port, portlen, "%.*s", (int)(end - colon - 2),
                     colon + 2);
        }
    } else {
        h = p;
        colon = memchr(p, ':', (size_t)(end - p));
        if (colon != NULL && memchr(colon + 1, ':',
                                    (size_t)(end - colon - 1)) == NULL) {
            hl = (size_t)(colon - p);
            if (colon + 1 >= end)
                return EINVAL;
            snprintf(port, portlen, "%.*s", (int)(end - colon - 1),
                     colon + 1);
        } else {
            hl = (size_t)(end - p);     /* no port, or a bare IPv6 address */
        }
    }
    if (hl == 0 || hl >= hostlen || strspn(port, "0123456789") !=
        strlen(port) || atoi(port) < 1 || atoi(port) > 65535)
        return EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    return 0;
}

static void
add_addrinfo(struct realm_kdcs *rk, const struct addrinfo *ai, int transport)
{
    size_t i;

    for (; ai != NULL && rk->n < KDC_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(rk->addrs[0].ss))
            continue;
        for (i = 0; i < rk->n; i++) {
            if (rk->addrs[i].len == ai->ai_addrlen &&
                memcmp(&rk->addrs[i].ss, ai->ai_addr, ai->ai_addrlen) == 0)
                break;
        }
        if (i < rk->n)
            continue;
        memset(&rk->addrs[rk->n], 0, sizeof(rk->addrs[0]));
        memcpy(&rk->addrs[rk->n].ss, ai->ai_addr, ai->ai_addrlen);
        rk->addrs[rk->n].len = ai->ai_addrlen;
        rk->addrs[rk->n].transport = transport;
        rk->n++;
    }
}

/*
 * The KDCs of realm, resolved once and kept: numeric addresses first
 * (AI_NUMERICHOST), then a name lookup, which may block the loop; that
 * happens only the first time a realm is used.
 */
static krb5_error_code
realm_kdcs_get(struct kink_krb *kk, const krb5_data *realm,
               const struct realm_kdcs **out)
{
    krb5_context ctx = kk->ctx;
    struct realm_kdcs *rk;
    profile_t prof = NULL;
    char **vals = NULL, *rname = NULL;
    const char *names[4];
    char host[NI_MAXHOST], port[NI_MAXSERV];
    struct addrinfo hints, *ai;
    krb5_error_code ret;
    int transport, gret, n_entries = 0;
    size_t i;

    *out = NULL;
    for (rk = kk->kdcs; rk != NULL; rk = rk->next) {
        if (strlen(rk->realm) == realm->length &&
            memcmp(rk->realm, realm->data, realm->length) == 0) {
            *out = rk;
            return 0;
        }
    }

    rname = memdup0(realm->data, realm->length);
    if (rname == NULL)
        return ENOMEM;
    rk = calloc(1, sizeof(*rk));
    if (rk == NULL) {
        free(rname);
        return ENOMEM;
    }
    rk->realm = rname;

    ret = krb5_get_profile(ctx, &prof);
    if (ret)
        goto cleanup;
    names[0] = "realms";
    names[1] = rname;
    names[2] = "kdc";
    names[3] = NULL;
    if (profile_get_values(prof, names, &vals) != 0)
        vals = NULL;
    for (i = 0; vals != NULL && vals[i] != NULL; i++) {
        n_entries++;
        if (split_kdc_entry(vals[i], host, sizeof(host), port, sizeof(port),
                            &transport) != 0) {
            ks_agent_log(LOG_WARNING, "kerberos: realm %s: ignoring kdc = %s "
                         "(not host[:port], [address]:port, tcp/ or udp/)",
                         rname, vals[i]);
            continue;
        }
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_DGRAM;
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        gret = getaddrinfo(host, port, &hints, &ai);
        if (gret == EAI_NONAME) {
            hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
            gret = getaddrinfo(host, port, &hints, &ai);
        }
        if (gret != 0) {
            ks_agent_log(LOG_WARNING, "kerberos: realm %s: cannot resolve "
                         "KDC %s: %s", rname, host, gai_strerror(gret));
            continue;
        }
        add_addrinfo(rk, ai, transport);
        freeaddrinfo(ai);
    }
    if (n_entries == 0) {
        ret = KRB5_REALM_UNKNOWN;
        krb5_set_error_message(ctx, ret, "No KDC for realm %s in the "
                               "profile ([realms] %s kdc = ...)", rname,
                               rname);
        goto cleanup;
    }
    if (rk->n == 0) {
        ret = KRB5_REALM_CANT_RESOLVE;
        krb5_set_error_message(ctx, ret, "None of the KDCs of realm %s in "
                               "the profile resolves to an address", rname);
        goto cleanup;
    }
    rk->next = kk->kdcs;
    kk->kdcs = rk;
    *out = rk;
    rk = NULL;

cleanup:
    profile_free_list(vals);
    profile_release(prof);
    if (rk != NULL) {
        free(rk->realm);
        free(rk);
    }
    return ret;
}

/* --- KDC exchanges ------------------------------------------------------- */

static void kx_timer_cb(verto_ctx *vctx, verto_ev *ev);
static void conn_io_cb(verto_ctx *vctx, verto_ev *ev);

static void
conn_close(struct kdc_conn *c)
{
    if (c->ev != NULL)
        verto_del(c->ev);
    c->ev = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->rbuf);
    c->rbuf = NULL;
    c->state = CONN_IDLE;
    c->off = 0;
}

static void
kx_free(struct kdc_exchange *kx)
{
    size_t i;

    if (kx == NULL)
        return;
    if (kx->timer != NULL)
        verto_del(kx->timer);
    for (i = 0; kx->conns != NULL && i < kx->rk->n; i++)
        conn_close(&kx->conns[i]);
    free(kx->conns);
    free(kx->msg);
    free(kx);
}

/* End the exchange and tell its owner.  kx is gone when done runs. */
static void
kx_finish(struct kdc_exchange *kx, krb5_error_code ret,
          const unsigned char *reply, size_t len)
{
    kx_done_fn done = kx->done;
    void *owner = kx->owner;
    krb5_data d;

    d.magic = KV5M_DATA;
    d.length = 0;
    d.data = NULL;
    if (ret == 0) {
        d.data = malloc(len);
        if (d.data == NULL) {
            ret = ENOMEM;
        } else {
            memcpy(d.data, reply, len);
            d.length = (unsigned int)len;
        }
    }
    kx_free(kx);
    done(owner, ret, ret == 0 ? &d : NULL);
    free(d.data);
}

static int
conn_is_tcp(const struct kdc_exchange *kx, const struct kdc_conn *c)
{
    return kx->tcp || c->addr->transport == SOCK_STREAM;
}

static int
conn_usable(const struct kdc_exchange *kx, const struct kdc_conn *c)
{
    return !(kx->tcp && c->addr->transport == SOCK_DGRAM);
}

/* Open c's socket (non-blocking) and start connecting; 0 or errno. */
static int
conn_open(struct kdc_exchange *kx, struct kdc_conn *c, int tcp)
{
    int fd, flags;

    fd = socket(c->addr->ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) |
                SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    if (connect(fd, (const struct sockaddr *)&c->addr->ss, c->addr->len) != 0
        && !(tcp && errno == EINPROGRESS)) {
        int e = errno;

        close(fd);
        return e;
    }
    flags = VERTO_EV_FLAG_PERSIST |
        (tcp ? VERTO_EV_FLAG_IO_WRITE : VERTO_EV_FLAG_IO_READ);
    c->ev = verto_add_io(kx->kk->loop, flags, conn_io_cb, fd);
    if (c->ev == NULL) {
        close(fd);
        return ENOMEM;
    }
    verto_set_private(c->ev, c, NULL);
    c->fd = fd;
    c->off = 0;
    c->state = tcp ? CONN_TCP_CONNECT : CONN_UDP;
    return 0;
}

/* Send (or, for TCP, start sending) the request to c; 0 or errno. */
static int
conn_send(struct kdc_exchange *kx, struct kdc_conn *c)
{
    char where[NI_MAXHOST + 16];
    int tcp = conn_is_tcp(kx, c), e;

    addr_text(c->addr, where, sizeof(where));
    if (tcp && c->fd >= 0) {
        /* Still connecting or talking: a TCP request is not resent. */
        return 0;
    }
    if (c->fd < 0) {
        e = conn_open(kx, c, tcp);
        if (e != 0) {
            ks_agent_log(LOG_DEBUG, "kerberos: KDC %s (%s): %s", where,
                         tcp ? "tcp" : "udp", strerror(e));
            return e;
        }
    }
    if (tcp) {
        ks_agent_log(LOG_DEBUG, "kerberos: connecting to KDC %s (tcp, "
                     "%zu-octet request)", where, kx->msglen - 4);
        return 0;
    }
    if (send(c->fd, kx->msg + 4, kx->msglen - 4, 0) < 0 &&
        errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
        e = errno;
        ks_agent_log(LOG_DEBUG, "kerberos: KDC %s (udp): %s", where,
                     strerror(e));
        conn_close(c);
        return e;
    }
    ks_agent_log(LOG_DEBUG, "kerberos: sent %zu-octet request to KDC %s "
                 "(udp, pass %u)", kx->msglen - 4, where, kx->pass + 1);
    return 0;
}

/*
 * Try the next addresses of this pass until one takes the request, then
 * wait (a second in the first pass, longer later) before the next one.  0,
 * or ENOMEM when no timer can be set.
 */
static krb5_error_code
kx_try_next(struct kdc_exchange *kx)
{
    uint64_t now = mono_ms(), wait;
    unsigned int shift = kx->pass < KDC_MAX_WAIT_SHIFT ? kx->pass :
        KDC_MAX_WAIT_SHIFT;

    if (kx->timer != NULL) {
        verto_del(kx->timer);
        kx->timer = NULL;
    }
    while (kx->next < kx->rk->n) {
        struct kdc_conn *c = &kx->conns[kx->next++];

        if (!conn_usable(kx, c))
            continue;
        if (conn_send(kx, c) == 0)
            break;
        c->failed = 1;
    }
    wait = (uint64_t)KDC_FIRST_WAIT_MS << shift;
    if (now >= kx->deadline)
        wait = 0;
    else if (kx->deadline - now < wait)
        wait = kx->deadline - now;
    kx->due = now + wait;
    kx->timer = add_timer(kx->kk, wait, kx_timer_cb, kx);
    return kx->timer == NULL ? ENOMEM : 0;
}

static void
kx_timer_cb(verto_ctx *vctx, verto_ev *ev)
{
    struct kdc_exchange *kx = verto_get_private(ev);
    krb5_error_code ret;
    uint64_t now;
    size_t i;

    kx->timer = NULL;           /* a one-shot timer: verto frees it */
    now = mono_ms();
    if (now < kx->due) {
        /*
         * Early: libev measures a new timer from the time it last looked
         * at the clock, which is stale after a long callback.  A request
         * resent too soon is not just noise: krb5kdc 1.20 can crash when
         * a retransmission hits its lookaside cache after a
         * RESPONSE_TOO_BIG answer.
         */
        kx->timer = add_timer(kx->kk, kx->due - now, kx_timer_cb, kx);
        if (kx->timer == NULL)
            kx_finish(kx, ENOMEM, NULL, 0);
        return;
    }
    if (now >= kx->deadline) {
        ret = KRB5_KDC_UNREACH;
        krb5_set_error_message(kx->kk->ctx, ret, "Cannot contact any KDC "
                               "for realm '%s' (%zu address%s tried for "
                               "%d s over %s)", kx->rk->realm, kx->rk->n,
                               kx->rk->n == 1 ? "" : "es",
                               KDC_TOTAL_MS / 1000, kx->tcp ? "TCP" : "UDP");
        kx_finish(kx, ret, NULL, 0);
        return;
    }
    if (kx->next >= kx->rk->n) {
        /* A new pass: every KDC again, failed ones included (a KDC that
         * refused a second ago may be back). */
        kx->pass++;
        kx->next = 0;
        for (i = 0; i < kx->rk->n; i++)
            kx->conns[i].failed = 0;
    }
    ret = kx_try_next(kx);
    if (ret)
        kx_finish(kx, ret, NULL, 0);
}

/* c failed (refused, reset, unusable answer): close it, and if addresses
 * are left in this pass go on at once instead of waiting. */
static void
conn_fail(struct kdc_conn *c, const char *why)
{
    struct kdc_exchange *kx = c->kx;
    char where[NI_MAXHOST + 16];
    krb5_error_code ret;

    addr_text(c->addr, where, sizeof(where));
    ks_agent_log(LOG_DEBUG, "kerberos: KDC %s: %s", where, why);
    conn_close(c);
    c->failed = 1;
    if (kx->next < kx->rk->n) {
        ret = kx_try_next(kx);
        if (ret)
            kx_finish(kx, ret, NULL, 0);
    }
}

/* Whether reply can be a KDC's answer at all; -1 for a KRB-ERROR that
 * says this KDC cannot serve us (try another one). */
static int
reply_usable(krb5_context ctx, const unsigned char *p, size_t len)
{
    krb5_error *err = NULL;
    krb5_data d;
    int usable = 1;

    if (len == 0 || (p[0] != TAG_AS_REP && p[0] != TAG_TGS_REP &&
                     p[0] != TAG_KRB_ERROR))
        return 0;
    if (p[0] == TAG_KRB_ERROR) {
        d.magic = KV5M_DATA;
        d.length = (unsigned int)len;
        d.data = (char *)p;
        if (krb5_rd_error(ctx, &d, &err) != 0)
            return 0;
        if ((krb5_error_code)err->error + ERROR_TABLE_BASE_krb5 ==
            KRB5KDC_ERR_SVC_UNAVAILABLE)
            usable = -1;
        krb5_free_error(ctx, err);
    }
    return usable;
}

static void
conn_udp_read(struct kdc_conn *c)
{
    struct kdc_exchange *kx = c->kx;
    unsigned char *buf = kx->kk->rbuf;
    ssize_t n;
    int u;

    for (;;) {
        n = recv(c->fd, buf, KDC_UDP_BUF, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            conn_fail(c, strerror(errno));
            return;
        }
        u = reply_usable(kx->kk->ctx, buf, (size_t)n);
        if (u < 0) {
            conn_fail(c, "service unavailable");
            return;
        }
        if (u > 0) {
            kx_finish(kx, 0, buf, (size_t)n);
            return;
        }
        /* Not a KDC reply: ignore it and wait for the real one. */
    }
}

/* Read into buf until c->off reaches want: 1 when it has, 0 to wait for
 * more, -1 after failing the connection. */
static int
conn_recv(struct kdc_conn *c, unsigned char *buf, size_t want)
{
    ssize_t n = recv(c->fd, buf + c->off, want - c->off, 0);

    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                      errno == EINTR))
            return 0;
        conn_fail(c, n == 0 ? "connection closed" : strerror(errno));
        return -1;
    }
    c->off += (size_t)n;
    return c->off == want;
}

static void
conn_tcp_io(struct kdc_conn *c)
{
    struct kdc_exchange *kx = c->kx;
    ssize_t n;
    int err;
    socklen_t elen = sizeof(err);

    switch (c->state) {
    case CONN_TCP_CONNECT:
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
            err = errno;
        if (err == EINPROGRESS)
            return;
        if (err != 0) {
            conn_fail(c, strerror(err));
            return;
        }
        c->state = CONN_TCP_WRITE;
        c->off = 0;
        /* fall through */
    case CONN_TCP_WRITE:
        n = send(c->fd, kx->msg + c->off, kx->msglen - c->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                conn_fail(c, strerror(errno));
            return;
        }
        c->off += (size_t)n;
        if (c->off < kx->msglen)
            return;
        c->state = CONN_TCP_READLEN;
        c->off = 0;
        verto_set_flags(c->ev, VERTO_EV_FLAG_PERSIST | VERTO_EV_FLAG_IO_READ);
        return;
    case CONN_TCP_READLEN:
        if (conn_recv(c, c->lenbuf, 4) <= 0)
            return;
        c->rlen = ((uint32_t)c->lenbuf[0] << 24) |
            ((uint32_t)c->lenbuf[1] << 16) | ((uint32_t)c->lenbuf[2] << 8) |
            c->lenbuf[3];
        if (c->rlen == 0 || c->rlen > KDC_MAX_TCP_REPLY) {
            conn_fail(c, "bad TCP reply length");
            return;
        }
        c->rbuf = malloc(c->rlen);
        if (c->rbuf == NULL) {
            conn_fail(c, strerror(ENOMEM));
            return;
        }
        c->state = CONN_TCP_READ;
        c->off = 0;
        return;
    case CONN_TCP_READ:
        if (conn_recv(c, c->rbuf, c->rlen) <= 0)
            return;
        err = reply_usable(kx->kk->ctx, c->rbuf, c->rlen);
        if (err <= 0) {
            conn_fail(c, err < 0 ? "service unavailable" :
                      "not a KDC reply");
            return;
        }
        kx_finish(kx, 0, c->rbuf, c->rlen);
        return;
    default:
        return;
    }
}

static void
conn_io_cb(verto_ctx *vctx, verto_ev *ev)
{
    struct kdc_conn *c = verto_get_private(ev);

    if (c->state == CONN_UDP)
        conn_udp_read(c);
    else
        conn_tcp_io(c);
}

/*
 * Start sending req to the KDCs of realm.  done(owner, ...) runs later from
 * the loop (never from here) with the reply or an error whose message is
 * set on the context; *kx_out lets the owner cancel with kx_free().
 */
static krb5_error_code
kx_start(struct kink_krb *kk, const krb5_data *req, const krb5_data *realm,
         int tcp, kx_done_fn done, void *owner, struct kdc_exchange **kx_out)
{
    const struct realm_kdcs *rk;
    struct kdc_exchange *kx;
    krb5_error_code ret;
    size_t i, usable = 0;

    *kx_out = NULL;
    ret = realm_kdcs_get(kk, realm, &rk);
    if (ret)
        return ret;
    kx = calloc(1, sizeof(*kx));
    if (kx == NULL)
        return ENOMEM;
    kx->kk = kk;
    kx->rk = rk;
    kx->tcp = tcp;
    kx->done = done;
    kx->owner = owner;
    kx->msglen = (size_t)req->length + 4;
    kx->msg = malloc(kx->msglen);
    kx->conns = calloc(rk->n, sizeof(*kx->conns));
    if (kx->msg == NULL || kx->conns == NULL) {
        kx_free(kx);
        return ENOMEM;
    }
    kx->msg[0] = (unsigned char)(req->length >> 24);
    kx->msg[1] = (unsigned char)(req->length >> 16);
    kx->msg[2] = (unsigned char)(req->length >> 8);
    kx->msg[3] = (unsigned char)req->length;
    memcpy(kx->msg + 4, req->data, req->length);
    for (i = 0; i < rk->n; i++) {
        kx->conns[i].kx = kx;
        kx->conns[i].addr = &rk->addrs[i];
        kx->conns[i].fd = -1;
        if (conn_usable(kx, &kx->conns[i]))
            usable++;
    }
    if (usable == 0) {
        kx_free(kx);
        ret = KRB5_KDC_UNREACH;
        krb5_set_error_message(kk->ctx, ret, "No KDC of realm '%s' takes "
                               "TCP (the request is too large for UDP)",
                               rk->realm);
        return ret;
    }
    kx->deadline = mono_ms() + KDC_TOTAL_MS;
    ret = kx_try_next(kx);
    if (ret) {
        kx_free(kx);
        return ret;
    }
    *kx_out = kx;
    return 0;
}

/* --- steppers ------------------------------------------------------------ */

static void step_run(struct kstep *st, const krb5_data *in);

static void
step_reply(void *owner, krb5_error_code ret, const krb5_data *reply)
{
    struct kstep *st = owner;

    st->kx = NULL;
    if (ret) {
        st->finish(st, ret);
        return;
    }
    step_run(st, reply);
}

/* Feed in (NULL at the start) to the context and send what it asks for;
 * st->finish runs when it is done or fails (maybe before this returns). */
static void
step_run(struct kstep *st, const krb5_data *in)
{
    struct kink_krb *kk = st->kk;
    krb5_data out, realm, empty;
    krb5_error_code ret;
    unsigned int flags = 0;
    int tcp;

    memset(&out, 0, sizeof(out));
    memset(&realm, 0, sizeof(realm));
    memset(&empty, 0, sizeof(empty));
    if (in == NULL)
        in = &empty;
    if (st->tcc != NULL)
        ret = krb5_tkt_creds_step(kk->ctx, st->tcc, (krb5_data *)in, &out,
                                  &realm, &flags);
    else
        ret = krb5_init_creds_step(kk->ctx, st->icc, (krb5_data *)in, &out,
                                   &realm, &flags);
    if (ret == KRB5KRB_ERR_RESPONSE_TOO_BIG && !st->tcp_only &&
        out.length > 0) {
        ks_agent_log(LOG_DEBUG, "kerberos: the KDC's answer is too big for "
                     "UDP; asking again over TCP");
        st->tcp_only = 1;
        ret = 0;
        flags = KRB5_TKT_CREDS_STEP_FLAG_CONTINUE;
    }
    /* KRB5_TKT_CREDS_STEP_FLAG_CONTINUE == KRB5_INIT_CREDS_STEP_FLAG_CONTINUE */
    if (ret == 0 && (flags & KRB5_TKT_CREDS_STEP_FLAG_CONTINUE)) {
        tcp = st->tcp_only || out.length > (unsigned int)kk->udp_pref_limit;
        ret = kx_start(kk, &out, &realm, tcp, step_reply, st, &st->kx);
        krb5_free_data_contents(kk->ctx, &out);
        krb5_free_data_contents(kk->ctx, &realm);
        if (ret == 0)
            return;
    } else {
        krb5_free_data_contents(kk->ctx, &out);
        krb5_free_data_contents(kk->ctx, &realm);
    }
    st->finish(st, ret);
}

/* --- ticket cache -------------------------------------------------------- */

static void
cache_drop(struct kink_krb *kk, size_t i)
{
    krb5_free_creds(kk->ctx, kk->cache[i].creds);
    kk->cache[i] = kk->cache[--kk->n_cache];
}

/* Drop tickets past their end (or with less than min_left seconds). */
static void
cache_expire(struct kink_krb *kk, int32_t min_left)
{
    krb5_timestamp now = now_ts(kk->ctx);
    size_t i = 0;

    while (i < kk->n_cache) {
        if (ts_delta(kk->cache[i].creds->times.endtime, now) < min_left)
            cache_drop(kk, i);
        else
            i++;
    }
}

static struct cache_ent *
cache_find(struct kink_krb *kk, krb5_const_principal server, int u2u,
           const unsigned char *hash)
{
    size_t i;

    for (i = 0; i < kk->n_cache; i++) {
        struct cache_ent *e = &kk->cache[i];

        if (e->u2u == u2u && (!u2u || memcmp(e->hash, hash, 32) == 0) &&
            krb5_principal_compare(kk->ctx, e->creds->server, server))
            return e;
    }
    return NULL;
}

/* Keep a copy of creds for server (and peer TGT hash). */
static void
cache_put(struct kink_krb *kk, krb5_const_principal server, int u2u,
          const unsigned char *hash, const krb5_creds *creds)
{
    struct cache_ent *e;
    krb5_creds *copy;
    size_t i, oldest;

    if (krb5_copy_creds(kk->ctx, creds, &copy) != 0)
        return;                 /* not cached: only costs a KDC exchange */
    /* Key the entry by the name asked for, whatever the KDC returned. */
    krb5_free_principal(kk->ctx, copy->server);
    copy->server = NULL;
    if (krb5_copy_principal(kk->ctx, server, &copy->server) != 0) {
        krb5_free_creds(kk->ctx, copy);
        return;
    }
    e = cache_find(kk, server, u2u, hash);
    if (e != NULL) {
        krb5_free_creds(kk->ctx, e->creds);
        e->creds = copy;
        return;
    }
    if (kk->n_cache >= KINK_KRB_CACHE_MAX)
        cache_expire(kk, 0);
    if (kk->n_cache >= KINK_KRB_CACHE_MAX) {
        /* Full of live tickets: the one ending first goes. */
        oldest = 0;
        for (i = 1; i < kk->n_cache; i++) {
            if (ts_delta(kk->cache[i].creds->times.endtime,
                         kk->cache[oldest].creds->times.endtime) < 0)
                oldest = i;
        }
        cache_drop(kk, oldest);
    }
    e = &kk->cache[kk->n_cache++];
    e->creds = copy;
    e->u2u = u2u;
    memcpy(e->hash, hash, 32);
}

/* --- requests: delivery -------------------------------------------------- */

static void deliver_cb(verto_ctx *vctx, verto_ev *ev);

static void
req_unlink(struct kink_krb_req *req)
{
    struct kink_krb *kk = req->kk;

    if (req->prev != NULL)
        req->prev->next = req->next;
    else if (kk != NULL && kk->reqs == req)
        kk->reqs = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

static void
req_free(struct kink_krb_req *req)
{
    krb5_context ctx = req->ctx;

    kx_free(req->st.kx);
    krb5_tkt_creds_free(ctx, req->st.tcc);
    krb5_free_principal(ctx, req->server);
    krb5_free_data_contents(ctx, &req->second);
    krb5_free_creds(ctx, req->creds);
    free(req->errmsg);
    free(req);
}

/* Make sure the delivery timer runs; 0 or ENOMEM. */
static krb5_error_code
arm_delivery(struct kink_krb *kk)
{
    if (kk->deliver_ev != NULL)
        return 0;
    kk->deliver_ev = add_timer(kk, 0, deliver_cb, kk);
    if (kk->deliver_ev == NULL) {
        /* Delivered when a later request arms the timer. */
        ks_agent_log(LOG_ERR, "kerberos: cannot add a timer: out of memory");
        return ENOMEM;
    }
    return 0;
}

/* The request's answer is ready: hand it to the loop. */
static void
req_done(struct kink_krb_req *req, krb5_error_code ret, krb5_creds *creds)
{
    req->state = REQ_DONE;
    req->ret = ret;
    req->creds = creds;
    if (ret) {
        free(req->errmsg);
        req->errmsg = save_message(req->ctx, ret);
    }
    kx_free(req->st.kx);
    req->st.kx = NULL;
    krb5_tkt_creds_free(req->ctx, req->st.tcc);
    req->st.tcc = NULL;
    (void)arm_delivery(req->kk);
}

/* One answer per timer run: the callback may close kk, cancel or start
 * requests, so nothing of kk is touched once it has been called. */
static void
deliver_cb(verto_ctx *vctx, verto_ev *ev)
{
    struct kink_krb *kk = verto_get_private(ev);
    struct kink_krb_req *req, *more;

    kk->deliver_ev = NULL;
    for (req = kk->reqs; req != NULL && req->state != REQ_DONE;
         req = req->next);
    if (req == NULL)
        return;
    req_unlink(req);
    for (more = kk->reqs; more != NULL && more->state != REQ_DONE;
         more = more->next);
    if (more != NULL)
        (void)arm_delivery(kk);
    req->kk = NULL;             /* delivered: kink_krb_cancel is a no-op */
    if (req->ret && req->errmsg != NULL)
        krb5_set_error_message(req->ctx, req->ret, "%s", req->errmsg);
    req->fn(req->arg, req->ret, req->ret ? NULL : req->creds);
    req_free(req);
}

/* --- requests: TGS exchanges --------------------------------------------- */

static void
req_step_finish(struct kstep *st, krb5_error_code ret)
{
    struct kink_krb_req *req = st->owner;
    struct kink_krb *kk = req->kk;
    krb5_creds *creds = NULL;
    char *sname = NULL;

    st->kx = NULL;
    if (ret == 0) {
        creds = calloc(1, sizeof(*creds));
        if (creds == NULL)
            ret = ENOMEM;
        else
            ret = krb5_tkt_creds_get_creds(kk->ctx, st->tcc, creds);
        if (ret) {
            free(creds);
            creds = NULL;
        }
    }
    if (ret == 0) {
        /* tkt_creds leaves is_skey unset; say what the ticket is, for
         * krb5_cc_retrieve_cred users and AP_OPTS_USE_SESSION_KEY. */
        creds->is_skey = req->u2u ? TRUE : FALSE;
        cache_put(kk, req->server, req->u2u, req->hash, creds);
        if (krb5_unparse_name(kk->ctx, req->server, &sname) == 0) {
            ks_agent_log(LOG_DEBUG, "kerberos: obtained a %sticket for %s",
                         req->u2u ? "user-to-user " : "", sname);
            krb5_free_unparsed_name(kk->ctx, sname);
        }
    }
    req_done(req, ret, creds);
}

/* Start the TGS exchange(s) of a request; the outcome arrives through
 * req_step_finish (maybe before this returns: it only queues it). */
static void
req_start(struct kink_krb_req *req)
{
    struct kink_krb *kk = req->kk;
    krb5_creds in;
    krb5_flags options = KRB5_GC_NO_STORE;
    krb5_error_code ret;

    req->state = REQ_RUNNING;
    memset(&in, 0, sizeof(in));
    in.client = kk->self;
    in.server = req->server;
    if (req->u2u) {
        /* krb5 1.20's tkt_creds sets KDC_OPT_ENC_TKT_IN_SKEY by itself when
         * the request has a second ticket (get_creds.c,
         * make_request_for_service); USER_USER makes its cache lookup
         * match on the second ticket. */
        in.second_ticket = req->second;
        options |= KRB5_GC_USER_USER;
    }
    ret = krb5_tkt_creds_init(kk->ctx, kk->mcc, &in, options, &req->st.tcc);
    if (ret) {
        req_done(req, ret, NULL);
        return;
    }
    step_run(&req->st, NULL);
}

/* --- our TGT ------------------------------------------------------------- */

static void tgt_fetch_start(struct kink_krb *kk);

/* Whether our TGT can serve TGS requests now. */
static int
tgt_usable(struct kink_krb *kk)
{
    return kk->tgt != NULL &&
        ts_delta(kk->tgt->times.endtime, now_ts(kk->ctx)) > TGT_MIN_LEFT;
}

/* Make tgt our TGT (copied); the previous session key is kept for
 * user-to-user tickets issued before the change. */
static krb5_error_code
tgt_install(struct kink_krb *kk, const krb5_creds *tgt)
{
    krb5_creds *copy = NULL;
    krb5_keyblock *prev = NULL;
    krb5_error_code ret;

    ret = krb5_copy_creds(kk->ctx, tgt, &copy);
    if (ret)
        return ret;
    if (kk->tgt != NULL && !keyblock_equal(&kk->tgt->keyblock,
                                           &copy->keyblock)) {
        ret = krb5_copy_keyblock(kk->ctx, &kk->tgt->keyblock, &prev);
        if (ret)
            goto fail;
    }
    ret = krb5_cc_initialize(kk->ctx, kk->mcc, kk->self);
    if (ret == 0)
        ret = krb5_cc_store_cred(kk->ctx, kk->mcc, copy);
    if (ret)
        goto fail;
    if (prev != NULL) {
        krb5_free_keyblock(kk->ctx, kk->prev_key);
        kk->prev_key = prev;
    }
    krb5_free_creds(kk->ctx, kk->tgt);
    kk->tgt = copy;
    return 0;

fail:
    krb5_free_keyblock(kk->ctx, prev);
    krb5_free_creds(kk->ctx, copy);
    return ret;
}

/* Start the requests that waited for our TGT, or fail them with ret. */
static void
tgt_release_waiters(struct kink_krb *kk, krb5_error_code ret)
{
    struct kink_krb_req *req;

    for (req = kk->reqs; req != NULL; req = req->next) {
        if (req->state != REQ_WAIT_TGT)
            continue;
        if (ret)
            req_done(req, ret, NULL);
        else
            req_start(req);     /* queues its answer, never calls back */
    }
}

static void
tgt_timer_cb(verto_ctx *vctx, verto_ev *ev)
{
    struct kink_krb *kk = verto_get_private(ev);

    kk->tgt_timer = NULL;
    tgt_fetch_start(kk);
}

static void
tgt_schedule(struct kink_krb *kk, time_t seconds)
{
    if (kk->tgt_timer != NULL)
        verto_del(kk->tgt_timer);
    kk->tgt_timer = add_timer(kk, (uint64_t)seconds * 1000, tgt_timer_cb,
                              kk);
}

static void
tgt_step_finish(struct kstep *st, krb5_error_code ret)
{
    struct kink_krb *kk = st->kk;
    krb5_creds creds;
    int32_t life, left;
    time_t wait;
    char until[32];

    st->kx = NULL;
    memset(&creds, 0, sizeof(creds));
    if (ret == 0)
        ret = krb5_init_creds_get_creds(kk->ctx, st->icc, &creds);
    if (ret == 0)
        ret = tgt_install(kk, &creds);
    if (st->icc != NULL)
        krb5_init_creds_free(kk->ctx, st->icc);
    st->icc = NULL;
    if (ret) {
        ks_agent_log_krb5(kk->ctx, LOG_WARNING, ret, "kerberos: cannot "
                          "obtain a TGT with the keytab");
        kk->tgt_failures++;
        wait = ks_agent_backoff(kk->tgt_failures, TGT_RETRY_MIN_S,
                                TGT_RETRY_MAX_S);
        /* An old TGT still in force keeps serving until it ends. */
        if (tgt_usable(kk))
            tgt_release_waiters(kk, 0);
        else
            tgt_release_waiters(kk, ret);
        tgt_schedule(kk, wait);
        krb5_free_cred_contents(kk->ctx, &creds);
        return;
    }
    krb5_free_cred_contents(kk->ctx, &creds);
    kk->tgt_failures = 0;
    format_ts(kk->tgt->times.endtime, until, sizeof(until));
    ks_agent_log(LOG_INFO, "kerberos: obtained a TGT for %s, valid until %s",
                 kk->self_name, until);
    /* Renew with a fifth of the life left (at least five minutes, unless
     * the TGT is shorter than ten). */
    left = ts_delta(kk->tgt->times.endtime, now_ts(kk->ctx));
    life = ts_delta(kk->tgt->times.endtime, kk->tgt->times.starttime ?
                    kk->tgt->times.starttime : kk->tgt->times.authtime);
    if (life < left)
        life = left;
    wait = left - (life / 5 > 300 ? life / 5 : (life / 2 < 300 ? life / 2 :
                                                300));
    if (wait < 10)
        wait = 10;
    tgt_schedule(kk, wait);
    tgt_release_waiters(kk, 0);
}

/* Keytab identity: obtain our TGT (again) in the background. */
static void
tgt_fetch_start(struct kink_krb *kk)
{
    krb5_error_code ret;

    if (kk->u2u_only || kk->tgt_st.icc != NULL)
        return;
    if (kk->tgt_timer != NULL) {
        verto_del(kk->tgt_timer);
        kk->tgt_timer = NULL;
    }
    ret = krb5_init_creds_init(kk->ctx, kk->self, NULL, NULL, 0, NULL,
                               &kk->tgt_st.icc);
    if (ret == 0)
        ret = krb5_init_creds_set_keytab(kk->ctx, kk->tgt_st.icc, kk->kt);
    if (ret) {
        if (kk->tgt_st.icc != NULL)
            krb5_init_creds_free(kk->ctx, kk->tgt_st.icc);
        kk->tgt_st.icc = NULL;
        tgt_step_finish(&kk->tgt_st, ret);
        return;
    }
    kk->tgt_st.tcp_only = 0;
    ks_agent_log(LOG_DEBUG, "kerberos: obtaining a TGT for %s",
                 kk->self_name);
    step_run(&kk->tgt_st, NULL);
}

/* The newest TGT of our principal in the identity ccache, into *out. */
static krb5_error_code
ccache_read_tgt(struct kink_krb *kk, krb5_creds *out)
{
    krb5_context ctx = kk->ctx;
    krb5_principal princ = NULL;
    krb5_cc_cursor cur;
    krb5_creds c;
    krb5_error_code ret;
    int found = 0;

    memset(out, 0, sizeof(*out));
    ret = krb5_cc_get_principal(ctx, kk->src_cc, &princ);
    if (ret) {
        krb5_prepend_error_message(ctx, ret, "ccache %s", kk->cc_name);
        return ret;
    }
    if (kk->self != NULL && !krb5_principal_compare(ctx, princ, kk->self)) {
        krb5_free_principal(ctx, princ);
        ret = KRB5_CC_NOTFOUND;
        krb5_set_error_message(ctx, ret, "ccache %s now belongs to another "
                               "principal than %s", kk->cc_name,
                               kk->self_name);
        return ret;
    }
    krb5_free_principal(ctx, princ);
    ret = krb5_cc_start_seq_get(ctx, kk->src_cc, &cur);
    if (ret) {
        krb5_prepend_error_message(ctx, ret, "ccache %s", kk->cc_name);
        return ret;
    }
    while (krb5_cc_next_cred(ctx, kk->src_cc, &cur, &c) == 0) {
        if (krb5_principal_compare(ctx, c.server, kk->tgs) &&
            krb5_principal_compare(ctx, c.client, kk->self) &&
            (!found || ts_delta(c.times.endtime, out->times.endtime) > 0)) {
            krb5_free_cred_contents(ctx, out);
            *out = c;
            found = 1;
        } else {
            krb5_free_cred_contents(ctx, &c);
        }
    }
    krb5_cc_end_seq_get(ctx, kk->src_cc, &cur);
    if (!found) {
        ret = KRB5_CC_NOTFOUND;
        krb5_set_error_message(ctx, ret, "ccache %s holds no TGT for %s "
                               "(run kregister login)", kk->cc_name,
                               kk->self_name);
    }
    return ret;
}

/*
 * Ccache identity: take the TGT again from the ccache when its file
 * changed (kregister renewed it), when our copy is near its end, or every
 * CCACHE_POLL_S for ccaches that are not files.  Errors are logged and the
 * copy kept.
 */
static void
ccache_refresh(struct kink_krb *kk)
{
    krb5_context ctx = kk->ctx;
    struct stat st;
    krb5_creds c;
    krb5_error_code ret;
    krb5_timestamp now = now_ts(ctx);
    time_t t = time(NULL);
    int changed = 0, st_ok = 0;
    char until[32];

    if (!kk->u2u_only)
        return;
    if (kk->cc_path != NULL) {
        st_ok = stat(kk->cc_path, &st) == 0;
        if (st_ok != kk->cc_stat_ok ||
            (st_ok && (st.st_ino != kk->cc_stat.st_ino ||
                       st.st_size != kk->cc_stat.st_size ||
                       st.st_mtim.tv_sec != kk->cc_stat.st_mtim.tv_sec ||
                       st.st_mtim.tv_nsec != kk->cc_stat.st_mtim.tv_nsec)))
            changed = 1;
    } else if (t - kk->cc_read_at >= CCACHE_POLL_S) {
        changed = 1;
    }
    if (!changed && kk->tgt != NULL &&
        ts_delta(kk->tgt->times.endtime, now) >= CCACHE_LOW_LEFT)
        return;
    /* Near the end and unchanged: look again at most once a second. */
    if (!changed && t == kk->cc_read_at)
        return;
    kk->cc_read_at = t;
    if (kk->cc_path != NULL) {
        kk->cc_stat_ok = st_ok;
        if (st_ok)
            kk->cc_stat = st;
    }
    ret = ccache_read_tgt(kk, &c);
    if (ret) {
        if (changed)
            ks_agent_log_krb5(ctx, LOG_WARNING, ret, "kerberos: re-reading "
                              "our TGT");
        return;
    }
    if (kk->tgt != NULL && data_equal(&c.ticket, &kk->tgt->ticket)) {
        krb5_free_cred_contents(ctx, &c);
        return;
    }
    if (ts_delta(c.times.endtime, now) <= 0) {
        if (c.times.endtime != kk->cc_warned_end) {
            format_ts(c.times.endtime, until, sizeof(until));
            ks_agent_log(LOG_WARNING, "kerberos: the TGT in %s ended at %s; "
                         "is kregister running?", kk->cc_name, until);
            kk->cc_warned_end = c.times.endtime;
        }
        krb5_free_cred_contents(ctx, &c);
        return;
    }
    ret = tgt_install(kk, &c);
    krb5_free_cred_contents(ctx, &c);
    if (ret) {
        ks_agent_log_krb5(ctx, LOG_WARNING, ret, "kerberos: installing our "
                          "new TGT");
        return;
    }
    format_ts(kk->tgt->times.endtime, until, sizeof(until));
    ks_agent_log(LOG_INFO, "kerberos: took the TGT of %s from %s, valid "
                 "until %s", kk->self_name, kk->cc_name, until);
}

/* --- public: requests ---------------------------------------------------- */

krb5_error_code
kink_krb_get_ticket(struct kink_krb *kk, krb5_const_principal server,
                    const krb5_data *server_tgt, kink_krb_ticket_fn fn,
                    void *arg, struct kink_krb_req **req_out)
{
    krb5_context ctx = kk->ctx;
    struct kink_krb_req *req;
    struct cache_ent *e;
    krb5_error_code ret;
    char until[32];

    if (req_out != NULL)
        *req_out = NULL;
    if (server == NULL || fn == NULL ||
        (server_tgt != NULL && server_tgt->length == 0)) {
        krb5_set_error_message(ctx, EINVAL, "kink_krb_get_ticket: no server, "
                               "callback or peer TGT");
        return EINVAL;
    }
    ccache_refresh(kk);

    req = calloc(1, sizeof(*req));
    if (req == NULL)
        return ENOMEM;
    req->kk = kk;
    req->ctx = ctx;
    req->fn = fn;
    req->arg = arg;
    req->st.kk = kk;
    req->st.finish = req_step_finish;
    req->st.owner = req;
    ret = krb5_copy_principal(ctx, server, &req->server);
    if (ret)
        goto fail;
    if (server_tgt != NULL) {
        req->u2u = 1;
        req->second.data = memdup0(server_tgt->data, server_tgt->length);
        if (req->second.data == NULL) {
            ret = ENOMEM;
            goto fail;
        }
        req->second.length = server_tgt->length;
        if (EVP_Digest(server_tgt->data, server_tgt->length, req->hash, NULL,
                       EVP_sha256(), NULL) != 1) {
            ret = ENOMEM;
            goto fail;
        }
    }

    /* Link it first: whatever happens next is delivered from the loop. */
    req->next = kk->reqs;
    if (kk->reqs != NULL)
        kk->reqs->prev = req;
    kk->reqs = req;

    e = cache_find(kk, server, req->u2u, req->hash);
    if (e != NULL && ts_delta(e->creds->times.endtime, now_ts(ctx)) >=
        TICKET_MIN_LEFT) {
        krb5_creds *copy;

        ret = krb5_copy_creds(ctx, e->creds, &copy);
        if (ret)
            goto fail_linked;
        req_done(req, 0, copy);
    } else if (tgt_usable(kk)) {
        req_start(req);
    } else if (kk->u2u_only) {
        ret = KRB5_CC_NOTFOUND;
        if (kk->tgt != NULL) {
            format_ts(kk->tgt->times.endtime, until, sizeof(until));
            krb5_set_error_message(ctx, ret, "Our TGT (from %s) ends at %s; "
                                   "run kregister", kk->cc_name, until);
        } else {
            krb5_set_error_message(ctx, ret, "No TGT in %s; run kregister",
                                   kk->cc_name);
        }
        goto fail_linked;
    } else {
        req->state = REQ_WAIT_TGT;
        tgt_fetch_start(kk);    /* may fail the request: queued, fine */
    }
    if (kk->deliver_ev == NULL && req->state == REQ_DONE &&
        arm_delivery(kk) != 0) {
        ret = ENOMEM;
        goto fail_linked;
    }
    if (req_out != NULL)
        *req_out = req;
    return 0;

fail_linked:
    req_unlink(req);
fail:
    req_free(req);
    return ret;
}

void
kink_krb_cancel(struct kink_krb_req *req)
{
    if (req == NULL || req->kk == NULL)
        return;
    req_unlink(req);
    req_free(req);
}

size_t
kink_krb_cache_size(const struct kink_krb *kk)
{
    return kk->n_cache;
}

krb5_const_principal
kink_krb_self(const struct kink_krb *kk)
{
    return kk->self;
}

int
kink_krb_is_u2u_only(const struct kink_krb *kk)
{
    return kk->u2u_only;
}

krb5_error_code
kink_krb_tgt_ticket(struct kink_krb *kk, krb5_data *out)
{
    krb5_context ctx = kk->ctx;
    krb5_error_code ret = KRB5_CC_NOTFOUND;
    char until[32];

    out->magic = KV5M_DATA;
    out->length = 0;
    out->data = NULL;
    ccache_refresh(kk);
    if (kk->tgt == NULL) {
        if (kk->u2u_only) {
            krb5_set_error_message(ctx, ret, "No TGT in %s; run kregister",
                                   kk->cc_name);
        } else {
            tgt_fetch_start(kk);
            krb5_set_error_message(ctx, ret, "No TGT for %s yet (being "
                                   "obtained with keytab %s)", kk->self_name,
                                   kk->kt_name);
        }
        return ret;
    }
    if (ts_delta(kk->tgt->times.endtime, now_ts(ctx)) <= 0) {
        format_ts(kk->tgt->times.endtime, until, sizeof(until));
        if (kk->u2u_only) {
            krb5_set_error_message(ctx, ret, "Our TGT (from %s) ended at %s; "
                                   "run kregister", kk->cc_name, until);
        } else {
            tgt_fetch_start(kk);
            krb5_set_error_message(ctx, ret, "Our TGT ended at %s (a new one "
                                   "is being obtained)", until);
        }
        return ret;
    }
    out->data = memdup0(kk->tgt->ticket.data, kk->tgt->ticket.length);
    if (out->data == NULL)
        return ENOMEM;
    out->length = kk->tgt->ticket.length;
    return 0;
}

/* --- public: incoming AP-REQs -------------------------------------------- */

/* One krb5_rd_req: with key (user-to-user) or the keytab. */
static krb5_error_code
rd_req_once(struct kink_krb *kk, const krb5_data *ap_req,
            const krb5_keyblock *key, krb5_auth_context *ac_out,
            krb5_ticket **ticket_out)
{
    krb5_context ctx = kk->ctx;
    krb5_auth_context ac = NULL;
    krb5_ticket *ticket = NULL;
    krb5_error_code ret;
    char *sname = NULL;

    *ac_out = NULL;
    *ticket_out = NULL;
    ret = krb5_auth_con_init(ctx, &ac);
    if (ret)
        return ret;
    /*
     * No KRB5_AUTH_CONTEXT_DO_TIME: in krb5 1.20 that flag only makes
     * krb5_rd_req open the default replay cache (a file), and the replay
     * check is the caller's.  The ticket times and the authenticator's
     * clock skew are checked whatever the flags (rd_req_dec.c).
     */
    ret = krb5_auth_con_setflags(ctx, ac, 0);
    if (ret == 0 && key != NULL)
        ret = krb5_auth_con_setuseruserkey(ctx, ac, (krb5_keyblock *)key);
    if (ret == 0)
        ret = krb5_rd_req(ctx, &ac, ap_req, kk->self,
                          key != NULL ? NULL : kk->kt, NULL, &ticket);
    if (ret == 0 && !krb5_principal_compare(ctx, ticket->server, kk->self)) {
        /* rd_req does not compare the name of a user-to-user ticket. */
        ret = KRB5KRB_AP_WRONG_PRINC;
        if (krb5_unparse_name(ctx, ticket->server, &sname) == 0) {
            krb5_set_error_message(ctx, ret, "The ticket is for %s, not for "
                                   "us (%s)", sname, kk->self_name);
            krb5_free_unparsed_name(ctx, sname);
        }
    }
    if (ret) {
        krb5_free_ticket(ctx, ticket);
        krb5_auth_con_free(ctx, ac);
        return ret;
    }
    *ac_out = ac;
    *ticket_out = ticket;
    return 0;
}

/* Keytab errors after which the ticket may be user-to-user instead. */
static int
keytab_miss(krb5_error_code ret)
{
    return ret == KRB5KRB_AP_ERR_BAD_INTEGRITY || ret == KRB5_KT_NOTFOUND ||
        ret == KRB5_KT_KVNONOTFOUND || ret == KRB5KRB_AP_ERR_NOKEY ||
        ret == KRB5KRB_AP_ERR_BADKEYVER || ret == KRB5_KT_END;
}

krb5_error_code
kink_krb_rd_req(struct kink_krb *kk, const krb5_data *ap_req,
                krb5_auth_context *ac_out, krb5_ticket **ticket_out)
{
    krb5_context ctx = kk->ctx;
    const krb5_keyblock *keys[2];
    krb5_error_code ret = 0, kt_ret = 0;
    char *kt_msg = NULL;
    size_t n = 0, i;

    *ac_out = NULL;
    *ticket_out = NULL;
    ccache_refresh(kk);
    if (!kk->u2u_only) {
        kt_ret = rd_req_once(kk, ap_req, NULL, ac_out, ticket_out);
        if (kt_ret == 0 || !keytab_miss(kt_ret))
            return kt_ret;
        kt_msg = save_message(ctx, kt_ret);
    }
    if (kk->tgt != NULL)
        keys[n++] = &kk->tgt->keyblock;
    if (kk->prev_key != NULL)
        keys[n++] = kk->prev_key;
    for (i = 0; i < n; i++) {
        ret = rd_req_once(kk, ap_req, keys[i], ac_out, ticket_out);
        if (ret != KRB5KRB_AP_ERR_BAD_INTEGRITY)
            break;              /* accepted, or decrypted but refused */
    }
    if (ret == 0 || (n > 0 && ret != KRB5KRB_AP_ERR_BAD_INTEGRITY)) {
        free(kt_msg);
        return ret;
    }
    if (!kk->u2u_only) {
        /* Neither key: the keytab's answer says more. */
        krb5_set_error_message(ctx, kt_ret, "%s",
                               kt_msg != NULL ? kt_msg : "keytab");
        free(kt_msg);
        return kt_ret;
    }
    ret = KRB5KRB_AP_ERR_BAD_INTEGRITY;
    krb5_set_error_message(ctx, ret, "The ticket is encrypted in neither "
                           "the current nor the previous TGT session key "
                           "of %s (a user-to-user ticket for an older TGT, "
                           "or not for us)", kk->self_name);
    return ret;
}

/* --- public: open and close ---------------------------------------------- */

/* kk->self is known: its name and its realm's TGS name. */
static krb5_error_code
set_self_names(struct kink_krb *kk)
{
    krb5_error_code ret;

    ret = krb5_unparse_name(kk->ctx, kk->self, &kk->self_name);
    if (ret)
        return ret;
    return krb5_build_principal_ext(kk->ctx, &kk->tgs,
                                    kk->self->realm.length,
                                    kk->self->realm.data, KRB5_TGS_NAME_SIZE,
                                    KRB5_TGS_NAME, kk->self->realm.length,
                                    kk->self->realm.data, 0);
}

static krb5_error_code
open_keytab(struct kink_krb *kk, const struct kink_conf *cfg)
{
    krb5_context ctx = kk->ctx;
    krb5_principal want = NULL;
    krb5_kt_cursor cur;
    krb5_keytab_entry ent;
    krb5_error_code ret;
    const char *name = cfg->keytab != NULL ? cfg->keytab :
        KINK_CONF_DEFAULT_KEYTAB;

    kk->kt_name = strdup(name);
    if (kk->kt_name == NULL)
        return ENOMEM;
    ret = krb5_kt_resolve(ctx, name, &kk->kt);
    if (ret) {
        krb5_prepend_error_message(ctx, ret, "keytab %s", name);
        return ret;
    }
    if (cfg->identity_principal != NULL) {
        ret = krb5_parse_name(ctx, cfg->identity_principal, &want);
        if (ret) {
            krb5_prepend_error_message(ctx, ret, "identity principal %s",
                                       cfg->identity_principal);
            return ret;
        }
    }
    ret = krb5_kt_start_seq_get(ctx, kk->kt, &cur);
    if (ret) {
        krb5_prepend_error_message(ctx, ret, "cannot read keytab %s", name);
        krb5_free_principal(ctx, want);
        return ret;
    }
    while ((ret = krb5_kt_next_entry(ctx, kk->kt, &ent, &cur)) == 0) {
        if (want == NULL || krb5_principal_compare(ctx, ent.principal,
                                                   want)) {
            ret = krb5_copy_principal(ctx, ent.principal, &kk->self);
            krb5_free_keytab_entry_contents(ctx, &ent);
            break;
        }
        krb5_free_keytab_entry_contents(ctx, &ent);
    }
    krb5_kt_end_seq_get(ctx, kk->kt, &cur);
    if (ret == KRB5_KT_END || (ret == 0 && kk->self == NULL)) {
        ret = KRB5_KT_NOTFOUND;
        krb5_set_error_message(ctx, ret, "keytab %s holds no key%s%s",
                               name, want != NULL ? " for " : "",
                               want != NULL ? cfg->identity_principal : "");
    } else if (ret) {
        krb5_prepend_error_message(ctx, ret, "cannot read keytab %s", name);
    }
    krb5_free_principal(ctx, want);
    return ret ? ret : set_self_names(kk);
}

static krb5_error_code
open_ccache(struct kink_krb *kk, const struct kink_conf *cfg)
{
    krb5_context ctx = kk->ctx;
    krb5_principal princ = NULL;
    krb5_creds c;
    krb5_error_code ret;
    const char *type;
    char until[32];
    struct stat st;

    if (cfg->ccache == NULL) {
        krb5_set_error_message(ctx, EINVAL, "identity ccache: no ccache "
                               "named");
        return EINVAL;
    }
    kk->cc_name = strdup(cfg->ccache);
    if (kk->cc_name == NULL)
        return ENOMEM;
    ret = krb5_cc_resolve(ctx, cfg->ccache, &kk->src_cc);
    if (ret) {
        krb5_prepend_error_message(ctx, ret, "ccache %s", cfg->ccache);
        return ret;
    }
    type = krb5_cc_get_type(ctx, kk->src_cc);
    if (type != NULL && strcmp(type, "FILE") == 0) {
        kk->cc_path = strdup(krb5_cc_get_name(ctx, kk->src_cc));
        if (kk->cc_path == NULL)
            return ENOMEM;
        /* Before reading, so that a change while we read is seen later. */
        kk->cc_stat_ok = stat(kk->cc_path, &st) == 0;
        if (kk->cc_stat_ok)
            kk->cc_stat = st;
    }
    ret = krb5_cc_get_principal(ctx, kk->src_cc, &princ);
    if (ret) {
        krb5_prepend_error_message(ctx, ret, "ccache %s (run kregister "
                                   "login)", cfg->ccache);
        return ret;
    }
    kk->self = princ;
    ret = set_self_names(kk);
    if (ret)
        return ret;
    kk->cc_read_at = time(NULL);
    ret = ccache_read_tgt(kk, &c);
    if (ret)
        return ret;
    if (ts_delta(c.times.endtime, now_ts(ctx)) <= 0) {
        format_ts(c.times.endtime, until, sizeof(until));
        krb5_free_cred_contents(ctx, &c);
        ret = KRB5KRB_AP_ERR_TKT_EXPIRED;
        krb5_set_error_message(ctx, ret, "The TGT in ccache %s ended at %s "
                               "(run kregister)", cfg->ccache, until);
        return ret;
    }
    ret = tgt_install(kk, &c);
    krb5_free_cred_contents(ctx, &c);
    return ret;
}

krb5_error_code
kink_krb_open(krb5_context ctx, verto_ctx *loop, const struct kink_conf *cfg,
              struct kink_krb **out)
{
    struct kink_krb *kk;
    profile_t prof = NULL;
    krb5_error_code ret;
    int limit = UDP_PREF_LIMIT_DEFAULT;

    *out = NULL;
    kk = calloc(1, sizeof(*kk));
    if (kk == NULL)
        return ENOMEM;
    kk->ctx = ctx;
    kk->loop = loop;
    kk->u2u_only = cfg->identity_type == KINK_CONF_IDENTITY_CCACHE;
    kk->tgt_st.kk = kk;
    kk->tgt_st.finish = tgt_step_finish;
    kk->tgt_st.owner = kk;
    kk->rbuf = malloc(KDC_UDP_BUF);
    kk->cache = calloc(KINK_KRB_CACHE_MAX, sizeof(*kk->cache));
    if (kk->rbuf == NULL || kk->cache == NULL) {
        ret = ENOMEM;
        goto fail;
    }

    if (krb5_get_profile(ctx, &prof) == 0) {
        if (profile_get_integer(prof, "libdefaults", "udp_preference_limit",
                                NULL, UDP_PREF_LIMIT_DEFAULT, &limit) != 0)
            limit = UDP_PREF_LIMIT_DEFAULT;
        profile_release(prof);
    }
    if (limit < 0 || limit > UDP_PREF_LIMIT_MAX)
        limit = UDP_PREF_LIMIT_MAX;
    kk->udp_pref_limit = limit;

    ret = krb5_cc_new_unique(ctx, "MEMORY", NULL, &kk->mcc);
    if (ret) {
        krb5_prepend_error_message(ctx, ret, "private memory ccache");
        goto fail;
    }
    if (kk->u2u_only)
        ret = open_ccache(kk, cfg);
    else
        ret = open_keytab(kk, cfg);
    if (ret)
        goto fail;
    if (!kk->u2u_only) {
        ret = krb5_cc_initialize(ctx, kk->mcc, kk->self);
        if (ret)
            goto fail;
        tgt_fetch_start(kk);
    }
    *out = kk;
    return 0;

fail:
    kink_krb_close(kk);
    return ret;
}

void
kink_krb_close(struct kink_krb *kk)
{
    struct kink_krb_req *req;
    struct realm_kdcs *rk;
    size_t i;

    if (kk == NULL)
        return;
    while ((req = kk->reqs) != NULL) {
        req_unlink(req);
        req_free(req);
    }
    if (kk->deliver_ev != NULL)
        verto_del(kk->deliver_ev);
    if (kk->tgt_timer != NULL)
        verto_del(kk->tgt_timer);
    kx_free(kk->tgt_st.kx);
    if (kk->tgt_st.icc != NULL)
        krb5_init_creds_free(kk->ctx, kk->tgt_st.icc);
    for (i = 0; i < kk->n_cache; i++)
        krb5_free_creds(kk->ctx, kk->cache[i].creds);
    free(kk->cache);
    while ((rk = kk->kdcs) != NULL) {
        kk->kdcs = rk->next;
        free(rk->realm);
        free(rk);
    }
    if (kk->mcc != NULL)
        krb5_cc_destroy(kk->ctx, kk->mcc);
    if (kk->src_cc != NULL)
        krb5_cc_close(kk->ctx, kk->src_cc);
    if (kk->kt != NULL)
        krb5_kt_close(kk->ctx, kk->kt);
    krb5_free_creds(kk->ctx, kk->tgt);
    krb5_free_keyblock(kk->ctx, kk->prev_key);
    krb5_free_principal(kk->ctx, kk->self);
    krb5_free_principal(kk->ctx, kk->tgs);
    krb5_free_unparsed_name(kk->ctx, kk->self_name);
    free(kk->kt_name);
    free(kk->cc_name);
    free(kk->cc_path);
    free(kk->rbuf);
    free(kk);
}
