/*
 * kinkd: KINK (RFC 4430) — IPsec SAs negotiated with Kerberos tickets.
 *
 * One process, one libverto loop.  The loop watches the UDP sockets
 * (kinkd.conf listen), the SA backend's event socket (ACQUIRE, EXPIRE),
 * the control socket (kinkctl), the KDC exchanges of kink_krb.c and the
 * timers (retransmission, rekey, expiry), and SIGTERM/SIGINT/SIGHUP.
 *
 * Exchanges, as initiator (struct exch):
 *
 *   [GETTGT -> REPLY(TGT_REP)]       only for a peer without a service key
 *   CREATE  -> REPLY [-> ACK]        AP_REQ, ENCRYPT(ISAKMP: SA, Nonce
 *                                    [, IDci, IDcr]); REPLY: AP_REP,
 *                                    ENCRYPT(ISAKMP: SA [, Nonce]); ACK
 *                                    when the responder chose a proposal
 *                                    other than our first (it then sends
 *                                    Nr and sets the A flag)
 *   DELETE  -> REPLY                 AP_REQ, ENCRYPT(ISAKMP: Delete)
 *   STATUS  -> REPLY                 AP_REQ
 *
 * Every message with a Kerberos session key carries the KINK checksum.
 * The responder keeps, per peer, the replies to the last few XIDs and
 * answers a retransmitted request with the same bytes (duplicate
 * detection); a new AP-REQ whose authenticator was seen before is refused
 * (the replay cache lives in STATE_DIR/replay.mdb, so a restarted kinkd
 * refuses replays too).  Epochs: ours is the start time; a peer whose
 * epoch changes has restarted, and its SAs are flushed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <krb5/krb5.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <verto.h>

#include "ks_agent.h"
#include "ks_store.h"
#include "ks_util.h"
#include "kink_conf.h"
#include "kink_ctl.h"
#include "kink_dh.h"
#include "kink_isakmp.h"
#include "kink_keymat.h"
#include "kink_krb.h"
#include "kink_msg.h"
#include "kink_sa.h"

#define PROG "kinkd"

/* Retransmission: 1, 2, 4, 8 s, then the exchange fails. */
#define RETRANS_FIRST_MS 1000
#define RETRANS_TRIES    5
/* Replies kept per peer for duplicate detection, and for how long. */
#define DUP_SLOTS        16
#define DUP_KEEP         60
/* A responder waits this long for the ACK of a 3-message CREATE. */
#define ACK_WAIT         30
/* Nonce length we send (RFC 2409: 8..256). */
#define NONCE_LEN        32
/* Replay cache entries live this long: the authenticator's clock skew
 * window on both sides. */
#define REPLAY_WINDOW    (2 * 300)
/* ISAKMP Notify message types (RFC 2408 section 3.14.1). */
#define NOTIFY_INVALID_ID_INFORMATION 18
#define NOTIFY_NO_PROPOSAL_CHOSEN     14
#define NOTIFY_INVALID_KEY_INFORMATION 17

struct peer;
struct exch;

struct sa_rec {
    struct sa_rec *next;
    struct peer *peer;
    struct kink_sa_pair pair;
    time_t created, soft_at, hard_at;
    int initiator;              /* we sent the CREATE */
    int rekeying;               /* a rekey of this pair is under way */
    verto_ev *timer;
};

struct dup_slot {
    int used;
    uint32_t xid;
    unsigned char req_hash[32];
    uint8_t *reply;
    size_t reply_len;
    time_t at;
};

/* A responder's CREATE waiting for its ACK (3-message exchange). */
struct pending_ack {
    struct pending_ack *next;
    struct peer *peer;
    uint32_t xid;
    struct kink_sa_pair pair;
    krb5_keyblock *key;
    time_t until;
    /* Our REPLY, retransmitted until the ACK comes (it may be lost). */
    int sock;
    uint8_t *reply;
    size_t reply_len;
    unsigned int tries;
    verto_ev *timer;
};

struct waiter {
    int done;
    krb5_error_code ret;
    char msg[256];
};

struct peer {
    const struct kink_conf_peer *conf;
    char name[INET6_ADDRSTRLEN + 8];        /* address, for logs */
    struct sockaddr_storage local;          /* our address towards it */
    int sock;                               /* socket to send from */
    uint32_t epoch;
    int epoch_known;
    uint32_t reqid;                         /* of its traps and SA pairs */
    int want_create;                        /* ACQUIRE during another exchange */
    uint32_t ack_xid;                       /* our last ACK, sent again if */
    uint8_t *ack_msg;                       /* its REPLY comes again */
    size_t ack_len;
    int need_u2u;                           /* gettgt auto: KDC had no key */
    krb5_data tgt;                          /* its TGT (GETTGT), or empty */
    struct sa_rec *sas;
    struct exch *exch;                      /* our exchange in progress */
    struct dup_slot dup[DUP_SLOTS];
    unsigned int dup_next;
    time_t last_heard;
    const char *state;
    unsigned long n_created, n_failed;
    char last_error[200];
};

enum exch_state { EX_TICKET, EX_GETTGT, EX_WAIT_REPLY };

struct exch {
    struct peer *peer;
    uint8_t type;                           /* CREATE, DELETE, STATUS */
    enum exch_state state;
    uint32_t xid;
    uint8_t *msg;
    size_t msg_len;
    unsigned int tries;
    verto_ev *timer;
    struct kink_krb_req *kreq;
    krb5_creds *creds;
    krb5_auth_context ac;
    /* CREATE */
    unsigned char ni[NONCE_LEN];
    uint32_t spi_in;
    struct kink_dh *dh;                     /* PFS: our KE's key pair */
    unsigned char ke[KINK_DH_MAX_PUBLIC];
    size_t ke_len;
    struct kink_conf_selector sel;
    struct sa_rec *rekey_of;                /* pair being replaced */
    /* DELETE */
    uint32_t del_spis[16];
    size_t n_del;
    /* Who waits: kinkctl initiate ids. */
    unsigned long ctl_id;
};

struct daemon {
    krb5_context ctx;
    verto_ctx *loop;
    struct kink_conf *cfg;
    struct kink_krb *krb;
    struct kink_sa_backend *sa;
    struct kink_ctl *ctl;
    struct ks_store *store;
    int socks[KINK_CONF_MAX_LISTEN];
    int sock_family[KINK_CONF_MAX_LISTEN];
    size_t n_socks;
    struct peer *peers;
    size_t n_peers;
    struct pending_ack *acks;
    uint32_t epoch;
    uint32_t next_xid;
    uint32_t next_reqid;
    time_t started;
    int show_keys;
    int stopping;
    unsigned long n_msgs_in, n_msgs_out, n_refused;
    /* kinkctl initiate results by id */
    unsigned long next_ctl_id;
    struct {
        unsigned long id;
        int done;
        char text[300];
        /* initiate PEER COUNT: pairs still to negotiate, and the start */
        unsigned long remaining, total;
        struct timespec t0;
    } results[32];
};

static struct daemon D;

/* ------------------------------------------------------------------ */
/* small helpers */

static void
addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *a = sa->sa_family == AF_INET6 ?
        (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
        (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (inet_ntop(sa->sa_family, a, buf, len) == NULL)
        snprintf(buf, len, "?");
}

/* ret's message (as set on the context) in a static buffer: valid until
 * the next call. */
static const char *
kmsg(krb5_error_code ret)
{
    static char buf[300];
    const char *m = krb5_get_error_message(D.ctx, ret);
    snprintf(buf, sizeof(buf), "%s", m);
    krb5_free_error_message(D.ctx, m);
    return buf;
}

/* Log "WHAT: krb5 message" with a formatted WHAT. */
static void log_krb5(int prio, krb5_error_code ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
log_krb5(int prio, krb5_error_code ret, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    ks_agent_log_krb5(D.ctx, prio, ret, what);
}

static void
prefix_of(const struct sockaddr_storage *ss, struct kink_conf_prefix *p)
{
    memset(p, 0, sizeof(*p));
    p->family = ss->ss_family;
    if (ss->ss_family == AF_INET6) {
        memcpy(p->addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        p->plen = 128;
    } else {
        memcpy(p->addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        p->plen = 32;
    }
}

static void
prefix_str(const struct kink_conf_prefix *p, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (p->family == 0) {
        snprintf(buf, len, "any");
        return;
    }
    if (inet_ntop(p->family, p->addr, a, sizeof(a)) == NULL)
        snprintf(a, sizeof(a), "?");
    snprintf(buf, len, "%s/%u", a, p->plen);
}

static void
sel_str(const struct kink_conf_selector *s, char *buf, size_t len)
{
    char r[64], l[64];
    prefix_str(&s->remote, r, sizeof(r));
    prefix_str(&s->local, l, sizeof(l));
    snprintf(buf, len, "%s <-> %s proto %u port %u", l, r, s->proto,
             s->port);
}

static const char *
esp_name(const struct kink_isakmp_esp *e, char *buf, size_t len)
{
    const char *auth = "";
    if (e->auth_alg == KINK_AUTH_HMAC_SHA1)
        auth = " hmac-sha1";
    else if (e->auth_alg == KINK_AUTH_HMAC_SHA2_256)
        auth = " hmac-sha256";
    snprintf(buf, len, "aes%u-%s%s", e->key_bits,
             e->transform_id == KINK_ESP_AES_GCM_16 ? "gcm16" : "cbc", auth);
    return buf;
}

static char *
princ_str(krb5_const_principal p)
{
    char *s = NULL;
    if (p == NULL || krb5_unparse_name(D.ctx, p, &s) != 0)
        return strdup("?");
    return s;
}

static time_t
now(void)
{
    return time(NULL);
}

static void
peer_error(struct peer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* sending */

static void
send_to_peer(struct peer *p, const uint8_t *buf, size_t len)
{
    const struct kink_conf_peer *c = p->conf;
    if (sendto(p->sock, buf, len, 0, (const struct sockaddr *)&c->addr,
               c->addr_len) < 0)
        ks_agent_log(LOG_WARNING, "sending to %s: %s", p->name,
                     strerror(errno));
    else
        D.n_msgs_out++;
}

/*
 * Encode msg, with a checksum in key when key is not NULL (in the peer's
 * checksum mode), into a malloc'ed buffer.
 */
static krb5_error_code
finish_msg(struct peer *p, struct kink_msg *msg, const krb5_keyblock *key,
           uint8_t **out, size_t *out_len)
{
    krb5_error_code ret;
    size_t cklen = 0, off;
    struct kink_cksum_input in;

    msg->doi = KINK_DOI_IPSEC;
    if (key != NULL) {
        ret = kink_checksum_length(D.ctx, key, &cklen);
        if (ret)
            return ret;
    }
    ret = kink_msg_encode(msg, cklen, out, out_len, &off);
    if (ret)
        return ret;
    if (key == NULL)
        return 0;
    ret = kink_msg_cksum_input(*out, *out_len,
                               p->conf->cksum == KINK_CONF_CKSUM_RACOON2 ?
                               KINK_CKSUM_RACOON2 : KINK_CKSUM_RFC4430, &in);
    if (!ret)
        ret = kink_checksum_make(D.ctx, key, in.iov, in.n);
    if (ret) {
        free(*out);
        *out = NULL;
    }
    return ret;
}

static void
add_payload(struct kink_msg *m, uint8_t type, uint32_t epoch,
            const void *data, size_t len)
{
    struct kink_payload *pl = &m->chain.p[m->chain.n++];
    memset(pl, 0, sizeof(*pl));
    pl->type = type;
    pl->epoch = epoch;
    pl->data = data;
    pl->data_len = len;
}

/* Wrap a KINK_ISAKMP payload (isakmp bytes, first type) into an encrypted
 * inner chain; *enc receives the ciphertext (free it). */
static krb5_error_code
encrypt_isakmp(const krb5_keyblock *key, const krb5_data *isakmp,
               uint8_t first, uint8_t **enc, size_t *enc_len)
{
    struct kink_chain inner;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    krb5_error_code ret;

    memset(&inner, 0, sizeof(inner));
    inner.n = 1;
    inner.p[0].type = KINK_ISAKMP;
    inner.p[0].inner_next = first;
    inner.p[0].qm_maj = KINK_QMMAJ;
    inner.p[0].qm_min = KINK_QMMIN;
    inner.p[0].data = (const uint8_t *)isakmp->data;
    inner.p[0].data_len = isakmp->length;
    ret = kink_msg_encode_inner(&inner, &plain, &plain_len);
    if (ret)
        return ret;
    ret = kink_encrypt(D.ctx, key, plain, plain_len, enc, enc_len);
    ks_zfree(plain, plain_len);
    return ret;
}

/* Encode the Quick Mode payloads qm, encrypt them in key and add them to
 * m as its KINK_ENCRYPT payload; *enc (free it) holds the ciphertext m
 * points to. */
static krb5_error_code
add_encrypted_qm(struct kink_msg *m, const krb5_keyblock *key,
                 const struct kink_isakmp_payload *qm, size_t nqm,
                 uint8_t **enc, size_t *enc_len)
{
    krb5_data isakmp = { 0 };
    uint8_t first = 0;
    const char *why;
    krb5_error_code ret;

    ret = kink_isakmp_encode_alloc(qm, nqm, &isakmp, &first, &why);
    if (ret) {
        krb5_set_error_message(D.ctx, ret, "Quick Mode payloads: %s", why);
        return ret;
    }
    ret = encrypt_isakmp(key, &isakmp, first, enc, enc_len);
    krb5_free_data_contents(D.ctx, &isakmp);
    if (!ret)
        add_payload(m, KINK_ENCRYPT, 0, *enc, *enc_len);
    return ret;
}

/* Send a KINK_ERROR (unauthenticated) REPLY. */
static void
reply_kink_error(struct peer *p, int sock, const struct sockaddr *to,
                 socklen_t tolen, uint32_t xid, uint32_t code)
{
    struct kink_msg m;
    uint8_t *buf = NULL;
    size_t len;
    struct kink_payload *pl;

    memset(&m, 0, sizeof(m));
    m.type = KINK_MSG_REPLY;
    m.xid = xid;
    m.doi = KINK_DOI_IPSEC;
    pl = &m.chain.p[m.chain.n++];
    memset(pl, 0, sizeof(*pl));
    pl->type = KINK_ERROR;
    pl->error_code = code;
    if (kink_msg_encode(&m, 0, &buf, &len, &(size_t){0}) == 0) {
        if (sendto(sock, buf, len, 0, to, tolen) >= 0)
            D.n_msgs_out++;
    }
    free(buf);
    (void)p;
}

/* The same, to the peer's configured address and port. */
static void
error_reply(struct peer *p, int sock, uint32_t xid, uint32_t code)
{
    reply_kink_error(p, sock, (const struct sockaddr *)&p->conf->addr,
                     p->conf->addr_len, xid, code);
}

/* Send a KINK_KRB_ERROR REPLY for a refused AP-REQ. */
static void
reply_krb_error(struct peer *p, int sock, uint32_t xid, krb5_error_code code)
{
    krb5_error err;
    krb5_data der = { 0 };
    struct kink_msg m;
    uint8_t *buf = NULL;
    size_t len;
    int32_t usec;

    memset(&err, 0, sizeof(err));
    krb5_us_timeofday(D.ctx, &err.stime, &usec);
    err.susec = usec;
    err.error = (code > KRB5KDC_ERR_NONE && code <= KRB5KDC_ERR_NONE + 127) ?
        (krb5_ui_4)(code - ERROR_TABLE_BASE_krb5) : (krb5_ui_4)(KRB5KRB_ERR_GENERIC - ERROR_TABLE_BASE_krb5);
    err.server = (krb5_principal)kink_krb_self(D.krb);
    if (krb5_mk_error(D.ctx, &err, &der) != 0)
        return;
    memset(&m, 0, sizeof(m));
    m.type = KINK_MSG_REPLY;
    m.xid = xid;
    m.doi = KINK_DOI_IPSEC;
    add_payload(&m, KINK_KRB_ERROR, 0, der.data, der.length);
    if (kink_msg_encode(&m, 0, &buf, &len, &(size_t){0}) == 0) {
        if (sendto(sock, buf, len, 0, (const struct sockaddr *)&p->conf->addr,
                   p->conf->addr_len) >= 0)
            D.n_msgs_out++;
    }
    free(buf);
    krb5_free_data_contents(D.ctx, &der);
}

/* ------------------------------------------------------------------ */
/* SA records */

static void sa_timer_cb(verto_ctx *loop, verto_ev *ev);
static void start_exchange(struct peer *p, uint8_t type, struct sa_rec *rekey,
                           unsigned long ctl_id);

static void
log_pair(const char *what, struct peer *p, const struct kink_sa_pair *pair)
{
    char e[48], s[160];
    sel_str(&pair->sel, s, sizeof(s));
    ks_agent_log(LOG_INFO, "%s SA pair with %s (%s): in SPI 0x%08x, out SPI "
                 "0x%08x, esp %s, %s, selector %s, lifetime %u s", what,
                 p->name, p->conf->principal_name, pair->in.spi,
                 pair->out.spi, esp_name(&pair->esp, e, sizeof(e)),
                 pair->esp.encap_mode == KINK_ENCAP_TUNNEL ? "tunnel" :
                 "transport", s, pair->hard_seconds);
}

static void
sa_schedule(struct sa_rec *r)
{
    time_t t = now(), at;
    if (r->timer != NULL)
        verto_del(r->timer);
    r->timer = NULL;
    at = (!r->rekeying && r->soft_at > 0) ? r->soft_at : r->hard_at;
    if (at == 0)
        return;
    r->timer = verto_add_timeout(D.loop, VERTO_EV_FLAG_NONE, sa_timer_cb,
                                 at > t ? (at - t) * 1000 : 0);
    if (r->timer != NULL)
        verto_set_private(r->timer, r, NULL);
}

static void
sa_unlink(struct sa_rec *r)
{
    struct sa_rec **pp;
    for (pp = &r->peer->sas; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (r->peer->exch != NULL && r->peer->exch->rekey_of == r)
        r->peer->exch->rekey_of = NULL;
    if (r->timer != NULL)
        verto_del(r->timer);
    ks_zero(&r->pair, sizeof(r->pair));
    free(r);
}

/* Whether another pair of the peer uses the same selector (policies are
 * shared between a pair and its replacement). */
static int
selector_shared(const struct sa_rec *r)
{
    const struct sa_rec *o;
    for (o = r->peer->sas; o != NULL; o = o->next) {
        if (o != r && memcmp(&o->pair.sel, &r->pair.sel,
                             sizeof(r->pair.sel)) == 0)
            return 1;
    }
    return 0;
}

static int selector_is_default(const struct peer *p,
                               const struct kink_conf_selector *s);
static int add_trap(struct peer *p);

static void
sa_remove(struct sa_rec *r, const char *why)
{
    krb5_error_code ret;
    int last = !selector_shared(r);
    ret = kink_sa_delete(D.sa, &r->pair, last);
    if (ret)
        log_krb5(LOG_WARNING, ret, "deleting SA pair with %s",
                          r->peer->name);
    /* The backend removed the policies with the last pair; traffic to
     * the peer must trigger a new negotiation again (unless stopping). */
    if (last && !D.stopping && selector_is_default(r->peer, &r->pair.sel))
        add_trap(r->peer);
    ks_agent_log(LOG_INFO, "deleted SA pair with %s (%s): in SPI 0x%08x, out "
                 "SPI 0x%08x (%s)", r->peer->name,
                 r->peer->conf->principal_name, r->pair.in.spi,
                 r->pair.out.spi, why);
    sa_unlink(r);
}

static struct sa_rec *
sa_install(struct peer *p, const struct kink_sa_pair *pair, int initiator)
{
    struct sa_rec *r;
    krb5_error_code ret;

    ret = kink_sa_add(D.sa, pair);
    if (ret) {
        log_krb5(LOG_ERR, ret, "installing SA pair with %s",
                          p->name);
        peer_error(p, "installing SA pair: %s",
                   kmsg(ret));
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->peer = p;
    r->pair = *pair;
    r->created = now();
    r->initiator = initiator;
    r->hard_at = pair->hard_seconds ? r->created + pair->hard_seconds : 0;
    /* The initiator of a pair rekeys it at the soft lifetime; the
     * responder a little later, in case the initiator is gone. */
    if (pair->soft_seconds) {
        r->soft_at = r->created + pair->soft_seconds;
        if (!initiator)
            r->soft_at += (pair->hard_seconds - pair->soft_seconds) / 2;
    }
    r->next = p->sas;
    p->sas = r;
    p->n_created++;
    p->state = "up";
    log_pair("installed", p, pair);
    sa_schedule(r);
    return r;
}

static void
sa_timer_cb(verto_ctx *loop, verto_ev *ev)
{
    struct sa_rec *r = verto_get_private(ev);
    time_t t = now();

    (void)loop;
    r->timer = NULL;            /* one-shot: libverto frees it */
    if (r->hard_at && t >= r->hard_at) {
        sa_remove(r, "hard lifetime expired");
        return;
    }
    if (!r->rekeying && r->soft_at && t >= r->soft_at) {
        r->rekeying = 1;
        ks_agent_log(LOG_INFO, "rekeying SA pair with %s (in SPI 0x%08x)",
                     r->peer->name, r->pair.in.spi);
        start_exchange(r->peer, KINK_MSG_CREATE, r, 0);
    }
    sa_schedule(r);
}

/* Drop every SA of a peer (it restarted, or kinkctl delete). */
static void
flush_peer(struct peer *p, const char *why)
{
    while (p->sas != NULL)
        sa_remove(p->sas, why);
}

/* ------------------------------------------------------------------ */
/* keys */

/* KEYMAT for one direction of pair into d (SPI d->spi). */
static krb5_error_code
derive_dir(struct peer *p, const krb5_keyblock *key,
           const struct kink_isakmp_esp *esp, struct kink_sa_dir *d,
           const uint8_t *gxy, size_t gxy_len,
           const uint8_t *ni, size_t ni_len, const uint8_t *nr, size_t nr_len)
{
    size_t el, al;
    unsigned char km[2 * KINK_SA_MAX_KEY];
    krb5_error_code ret;

    ret = kink_sa_key_lengths(esp, &el, &al);
    if (ret)
        return ret;
    /* With PFS, g(qm)^xy goes first in the PRF input (RFC 2409 5.5). */
    ret = kink_keymat_pfs(D.ctx, p->conf->prf == KINK_CONF_PRF_RACOON2 ?
                          KINK_PRF_RACOON2 : KINK_PRF_RFC, key, gxy, gxy_len,
                          KINK_PROTO_IPSEC_ESP, d->spi, ni, ni_len,
                          nr, nr_len, km, el + al);
    if (ret)
        return ret;
    memcpy(d->enc_key, km, el);
    d->enc_key_len = el;
    memcpy(d->auth_key, km + el, al);
    d->auth_key_len = al;
    ks_zero(km, sizeof(km));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Quick Mode payloads */

static int
esp_equal(const struct kink_isakmp_esp *a, const struct kink_isakmp_esp *b)
{
    return a->transform_id == b->transform_id && a->key_bits == b->key_bits &&
        a->auth_alg == b->auth_alg && a->encap_mode == b->encap_mode &&
        a->group == b->group;
}

/* Build our SA payload: one ESP proposal per policy proposal (numbers
 * 1..n, alternatives), each with our SPI; or only `only` when not NULL
 * (a responder's answer, with proposal number `number`). */
struct sa_build {
    struct kink_isakmp_sa sa;
    struct kink_isakmp_proposal prop[KINK_CONF_MAX_PROPOSALS];
    struct kink_isakmp_transform xf[KINK_CONF_MAX_PROPOSALS];
    struct kink_isakmp_esp_attrs attrs[KINK_CONF_MAX_PROPOSALS];
    unsigned char spi[4];
};

static krb5_error_code
build_sa(struct sa_build *b, const struct kink_conf_policy *pol,
         const struct kink_isakmp_esp *only, uint8_t number, uint32_t spi)
{
    size_t i, n = only != NULL ? 1 : pol->n_proposals;
    const char *why;
    krb5_error_code ret;

    memset(b, 0, sizeof(*b));
    b->spi[0] = spi >> 24;
    b->spi[1] = spi >> 16;
    b->spi[2] = spi >> 8;
    b->spi[3] = spi;
    for (i = 0; i < n; i++) {
        struct kink_isakmp_esp e = only != NULL ? *only : pol->proposals[i];
        ret = kink_isakmp_esp_attrs(&e, &b->attrs[i], &why);
        if (ret) {
            krb5_set_error_message(D.ctx, ret, "proposal: %s", why);
            return ret;
        }
        b->xf[i].number = 1;
        b->xf[i].id = e.transform_id;
        b->xf[i].n_attrs = b->attrs[i].n;
        b->xf[i].attrs = b->attrs[i].attrs;
        b->prop[i].number = only != NULL ? number : (uint8_t)(i + 1);
        b->prop[i].protocol = KINK_PROTO_IPSEC_ESP;
        b->prop[i].spi_size = 4;
        b->prop[i].spi = b->spi;
        b->prop[i].n_transforms = 1;
        b->prop[i].transforms = &b->xf[i];
    }
    b->sa.doi = KINK_DOI_IPSEC;
    b->sa.situation = KINK_SIT_IDENTITY_ONLY;
    b->sa.n_proposals = n;
    b->sa.proposals = b->prop;
    return 0;
}

static uint32_t
spi_of(const struct kink_isakmp_proposal *pr)
{
    return ((uint32_t)pr->spi[0] << 24) | ((uint32_t)pr->spi[1] << 16) |
        ((uint32_t)pr->spi[2] << 8) | pr->spi[3];
}

/* The selector an ID payload pair describes; 0 or -1 (malformed). */
static int
id_to_prefix(const struct kink_isakmp_id *id, struct kink_conf_prefix *p)
{
    size_t alen;
    unsigned int i, bits;

    memset(p, 0, sizeof(*p));
    switch (id->id_type) {
    case KINK_ID_IPV4_ADDR:
        p->family = AF_INET; alen = 4; p->plen = 32; break;
    case KINK_ID_IPV6_ADDR:
        p->family = AF_INET6; alen = 16; p->plen = 128; break;
    case KINK_ID_IPV4_ADDR_SUBNET:
        p->family = AF_INET; alen = 4; break;
    case KINK_ID_IPV6_ADDR_SUBNET:
        p->family = AF_INET6; alen = 16; break;
    default:
        return -1;
    }
    memcpy(p->addr, id->data, alen);
    if (id->len == 2 * alen) {
        /* A contiguous mask. */
        const unsigned char *m = id->data + alen;
        int ended = 0;
        bits = 0;
        for (i = 0; i < alen * 8; i++) {
            int set = (m[i / 8] >> (7 - i % 8)) & 1;
            if (set && ended)
                return -1;
            if (set)
                bits++;
            else
                ended = 1;
        }
        p->plen = bits;
        for (i = bits; i < alen * 8; i++)
            p->addr[i / 8] &= ~(1u << (7 - i % 8));
    }
    return 0;
}

static void
prefix_to_id(const struct kink_conf_prefix *p, struct kink_isakmp_id *id,
             unsigned char *buf, uint8_t proto, uint16_t port)
{
    size_t alen = p->family == AF_INET6 ? 16 : 4, i;
    memset(id, 0, sizeof(*id));
    id->protocol = proto;
    id->port = port;
    memcpy(buf, p->addr, alen);
    if (p->plen == alen * 8) {
        id->id_type = alen == 4 ? KINK_ID_IPV4_ADDR : KINK_ID_IPV6_ADDR;
        id->len = alen;
    } else {
        id->id_type = alen == 4 ? KINK_ID_IPV4_ADDR_SUBNET :
            KINK_ID_IPV6_ADDR_SUBNET;
        memset(buf + alen, 0, alen);
        for (i = 0; i < p->plen; i++)
            buf[alen + i / 8] |= 1u << (7 - i % 8);
        id->len = 2 * alen;
    }
    id->data = buf;
}

static void
default_selector(const struct peer *p, struct kink_conf_selector *s)
{
    memset(s, 0, sizeof(*s));
    prefix_of(&p->conf->addr, &s->remote);
    prefix_of(&p->local, &s->local);
}

static int
selector_is_default(const struct peer *p, const struct kink_conf_selector *s)
{
    struct kink_conf_selector d;
    default_selector(p, &d);
    return memcmp(&d, s, sizeof(d)) == 0;
}

/* ------------------------------------------------------------------ */
/* initiator */

static void exch_free(struct exch *x);
static void exch_fail(struct exch *x, krb5_error_code ret, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));
static void exch_send(struct exch *x);
static void got_ticket(void *arg, krb5_error_code ret,
                       const krb5_creds *creds);

static void
ctl_result(unsigned long id, const char *fmt, ...)
{
    size_t i;
    va_list ap;
    if (id == 0)
        return;
    for (i = 0; i < sizeof(D.results) / sizeof(D.results[0]); i++) {
        if (D.results[i].id == id) {
            va_start(ap, fmt);
            vsnprintf(D.results[i].text, sizeof(D.results[i].text), fmt, ap);
            va_end(ap);
            D.results[i].done = 1;
            return;
        }
    }
}

/* kinkctl initiate PEER COUNT (the benchmark): COUNT negotiations one
 * after the other.  ctl_repeat returns the pairs still to do, counting
 * the one just made (0 for a plain initiate); the last one reports. */
static unsigned long
ctl_repeat(struct peer *p, const struct exch *x)
{
    size_t i;
    for (i = 0; x->ctl_id && i < sizeof(D.results) / sizeof(D.results[0]);
         i++) {
        if (D.results[i].id == x->ctl_id && D.results[i].total > 0) {
            if (D.results[i].remaining == 1) {
                struct timespec t1;
                double s;
                clock_gettime(CLOCK_MONOTONIC, &t1);
                s = (t1.tv_sec - D.results[i].t0.tv_sec) +
                    (t1.tv_nsec - D.results[i].t0.tv_nsec) / 1e9;
                ctl_result(x->ctl_id, "%lu SA pairs with %s in %.3f s: "
                           "%.1f pairs/s", D.results[i].total, p->name, s,
                           s > 0 ? D.results[i].total / s : 0.0);
            }
            return D.results[i].remaining;
        }
    }
    return 0;
}

static void
ctl_repeat_next(unsigned long id)
{
    size_t i;
    for (i = 0; i < sizeof(D.results) / sizeof(D.results[0]); i++) {
        if (D.results[i].id == id && D.results[i].remaining > 0)
            D.results[i].remaining--;
    }
}

static size_t
exchanges_pending(void)
{
    size_t i, n = 0;
    for (i = 0; i < D.n_peers; i++)
        n += D.peers[i].exch != NULL;
    return n;
}

static void
deferred_create_cb(verto_ctx *loop, verto_ev *ev)
{
    struct peer *p = verto_get_private(ev);
    (void)loop;
    if (!D.stopping && p->want_create && p->exch == NULL) {
        p->want_create = 0;
        start_exchange(p, KINK_MSG_CREATE, NULL, 0);
    }
}

static void
exch_free(struct exch *x)
{
    if (x == NULL)
        return;
    if (x->peer->want_create && !D.stopping) {
        /* An ACQUIRE came while this exchange ran: negotiate next, from
         * the loop (not from inside the handler that ends this one). */
        verto_ev *ev = verto_add_timeout(D.loop, VERTO_EV_FLAG_NONE,
                                         deferred_create_cb, 0);
        if (ev != NULL)
            verto_set_private(ev, x->peer, NULL);
    }
    if (x->peer->exch == x)
        x->peer->exch = NULL;
    if (x->timer != NULL)
        verto_del(x->timer);
    if (x->kreq != NULL)
        kink_krb_cancel(x->kreq);
    if (x->creds != NULL)
        krb5_free_creds(D.ctx, x->creds);
    if (x->ac != NULL)
        krb5_auth_con_free(D.ctx, x->ac);
    free(x->msg);
    kink_dh_free(x->dh);
    ks_zero(x->ni, sizeof(x->ni));
    free(x);
    if (D.stopping && exchanges_pending() == 0)
        verto_break(D.loop);
}

static void
exch_fail(struct exch *x, krb5_error_code ret, const char *fmt, ...)
{
    char buf[300];
    va_list ap;
    struct peer *p = x->peer;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (ret)
        log_krb5(LOG_ERR, ret, "%s with %s (%s): %s",
                          kink_msg_type_name(x->type), p->name,
                          p->conf->principal_name, buf);
    else
        ks_agent_log(LOG_ERR, "%s with %s (%s): %s",
                     kink_msg_type_name(x->type), p->name,
                     p->conf->principal_name, buf);
    peer_error(p, "%s: %s%s%s", kink_msg_type_name(x->type), buf,
               ret ? ": " : "", ret ? kmsg(ret) : "");
    p->n_failed++;
    if (p->sas == NULL)
        p->state = "failed";
    ctl_result(x->ctl_id, "error: %s", p->last_error);
    if (x->rekey_of != NULL)
        x->rekey_of->rekeying = 0;
    if (x->type == KINK_MSG_CREATE && x->spi_in != 0)
        kink_sa_release_spi(D.sa, (struct sockaddr *)&p->local,
                            (struct sockaddr *)&p->conf->addr, x->spi_in);
    exch_free(x);
}

static void
exch_timer_cb(verto_ctx *loop, verto_ev *ev)
{
    struct exch *x = verto_get_private(ev);
    (void)loop;
    x->timer = NULL;
    if (x->tries >= RETRANS_TRIES) {
        exch_fail(x, 0, "no reply after %u tries", x->tries);
        return;
    }
    exch_send(x);
}

static void
exch_send(struct exch *x)
{
    x->tries++;
    send_to_peer(x->peer, x->msg, x->msg_len);
    x->timer = verto_add_timeout(D.loop, VERTO_EV_FLAG_NONE, exch_timer_cb,
                                 (time_t)RETRANS_FIRST_MS << (x->tries - 1));
    if (x->timer != NULL)
        verto_set_private(x->timer, x, NULL);
}

/* Send x's new message (x->msg) and wait in state for its REPLY. */
static void
exch_send_first(struct exch *x, enum exch_state state)
{
    x->state = state;
    x->tries = 0;
    exch_send(x);
}

static void
send_gettgt(struct exch *x)
{
    struct kink_msg m;
    char *name = NULL;
    krb5_error_code ret;

    ret = krb5_unparse_name(D.ctx, x->peer->conf->principal, &name);
    if (ret) {
        exch_fail(x, ret, "GETTGT");
        return;
    }
    /* The codec writes PrincNameLength in front of the name. */
    memset(&m, 0, sizeof(m));
    m.type = KINK_MSG_GETTGT;
    m.xid = x->xid;
    add_payload(&m, KINK_TGT_REQ, 0, name, strlen(name));
    free(x->msg);
    x->msg = NULL;
    ret = finish_msg(x->peer, &m, NULL, &x->msg, &x->msg_len);
    krb5_free_unparsed_name(D.ctx, name);
    if (ret) {
        exch_fail(x, ret, "encoding GETTGT");
        return;
    }
    exch_send_first(x, EX_GETTGT);
}

static void
request_ticket(struct exch *x)
{
    struct peer *p = x->peer;
    krb5_error_code ret;
    int u2u = p->conf->gettgt == KINK_CONF_GETTGT_YES || p->need_u2u;

    if (u2u && p->tgt.length == 0) {
        send_gettgt(x);
        return;
    }
    x->state = EX_TICKET;
    ret = kink_krb_get_ticket(D.krb, p->conf->principal,
                              u2u ? &p->tgt : NULL, got_ticket, x, &x->kreq);
    if (ret)
        exch_fail(x, ret, "requesting a ticket");
}

/* Build the message of x (CREATE/DELETE/STATUS) with x->creds. */
static krb5_error_code
build_request(struct exch *x)
{
    struct peer *p = x->peer;
    krb5_keyblock *key = &x->creds->keyblock;
    krb5_data apreq = { 0 };
    struct kink_msg m;
    struct sa_build sb;
    struct kink_isakmp_payload qm[5];
    struct kink_isakmp_delete del;
    unsigned char spis[16 * 4];
    unsigned char idbuf[2][32];
    uint8_t *enc = NULL;
    size_t enc_len = 0, nqm = 0, i;
    krb5_error_code ret;

    if (x->ac != NULL)
        krb5_auth_con_free(D.ctx, x->ac);
    x->ac = NULL;
    /* A user-to-user ticket is in the peer's TGT session key: RFC 4120
     * 3.2.1 asks for USE-SESSION-KEY in its AP-REQ. */
    ret = krb5_mk_req_extended(D.ctx, &x->ac, AP_OPTS_MUTUAL_REQUIRED |
                               (x->creds->is_skey ? AP_OPTS_USE_SESSION_KEY :
                                0), NULL, x->creds, &apreq);
    if (ret)
        return ret;
    memset(&m, 0, sizeof(m));
    m.type = x->type;
    m.xid = x->xid;
    add_payload(&m, KINK_AP_REQ, D.epoch, apreq.data, apreq.length);

    if (x->type == KINK_MSG_CREATE) {
        const struct kink_conf_policy *pol = &p->conf->policy;
        if (x->spi_in == 0) {
            ret = kink_sa_alloc_spi(D.sa, (struct sockaddr *)&p->local,
                                    (struct sockaddr *)&p->conf->addr,
                                    0, &x->spi_in);
            if (ret)
                goto out;
            if (RAND_bytes(x->ni, sizeof(x->ni)) != 1) {
                ret = KRB5_CRYPTO_INTERNAL;
                goto out;
            }
            if (pol->group != 0) {
                /* PFS: one key pair for the exchange (every proposal
                 * names the policy's group). */
                x->ke_len = kink_dh_public_len(pol->group);
                ret = kink_dh_generate(D.ctx, pol->group, &x->dh);
                if (!ret)
                    ret = kink_dh_public(D.ctx, x->dh, x->ke, x->ke_len);
                if (ret)
                    goto out;
            }
        }
        ret = build_sa(&sb, pol, NULL, 0, x->spi_in);
        if (ret)
            goto out;
        memset(qm, 0, sizeof(qm));
        qm[nqm].type = KINK_ISAKMP_PL_SA;
        qm[nqm++].u.sa = &sb.sa;
        qm[nqm].type = KINK_ISAKMP_PL_NONCE;
        qm[nqm].u.nonce.data = x->ni;
        qm[nqm++].u.nonce.len = sizeof(x->ni);
        if (x->dh != NULL) {
            qm[nqm].type = KINK_ISAKMP_PL_KE;
            qm[nqm].u.ke.data = x->ke;
            qm[nqm++].u.ke.len = x->ke_len;
        }
        if (!selector_is_default(p, &x->sel)) {
            /* IDci (ours, the initiator's side) then IDcr (the peer's). */
            qm[nqm].type = KINK_ISAKMP_PL_ID;
            prefix_to_id(&x->sel.local, &qm[nqm++].u.id, idbuf[0],
                         x->sel.proto, 0);
            qm[nqm].type = KINK_ISAKMP_PL_ID;
            prefix_to_id(&x->sel.remote, &qm[nqm++].u.id, idbuf[1],
                         x->sel.proto, x->sel.port);
        }
    } else if (x->type == KINK_MSG_DELETE) {
        memset(&del, 0, sizeof(del));
        del.doi = KINK_DOI_IPSEC;
        del.protocol = KINK_PROTO_IPSEC_ESP;
        del.spi_size = 4;
        del.n_spis = x->n_del;
        for (i = 0; i < x->n_del; i++) {
            spis[4 * i] = x->del_spis[i] >> 24;
            spis[4 * i + 1] = x->del_spis[i] >> 16;
            spis[4 * i + 2] = x->del_spis[i] >> 8;
            spis[4 * i + 3] = x->del_spis[i];
        }
        del.spis = spis;
        memset(qm, 0, sizeof(qm));
        qm[nqm].type = KINK_ISAKMP_PL_D;
        qm[nqm++].u.del = del;
    }
    if (nqm > 0) {
        ret = add_encrypted_qm(&m, key, qm, nqm, &enc, &enc_len);
        if (ret)
            goto out;
    }
    free(x->msg);
    x->msg = NULL;
    ret = finish_msg(p, &m, key, &x->msg, &x->msg_len);
out:
    krb5_free_data_contents(D.ctx, &apreq);
    free(enc);
    return ret;
}

static int
no_service_key(krb5_error_code ret)
{
    return ret == KRB5KDC_ERR_MUST_USE_USER2USER ||
        ret == KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN ||
        ret == KRB5KDC_ERR_NULL_KEY || ret == KRB5KDC_ERR_ETYPE_NOSUPP ||
        ret == KRB5KDC_ERR_SERVICE_NOTYET || ret == KRB5KDC_ERR_POLICY;
}

static void
got_ticket(void *arg, krb5_error_code ret, const krb5_creds *creds)
{
    struct exch *x = arg;
    struct peer *p = x->peer;

    x->kreq = NULL;
    if (ret) {
        if (p->conf->gettgt == KINK_CONF_GETTGT_AUTO && !p->need_u2u &&
            no_service_key(ret)) {
            log_krb5(LOG_INFO, ret, "no service ticket for "
                              "%s; trying user-to-user (GETTGT)",
                              p->conf->principal_name);
            p->need_u2u = 1;
            request_ticket(x);
            return;
        }
        if (p->tgt.length > 0 && (p->need_u2u ||
                                  p->conf->gettgt == KINK_CONF_GETTGT_YES)) {
            /* The peer's TGT may have been renewed: ask again next time. */
            krb5_free_data_contents(D.ctx, &p->tgt);
        }
        exch_fail(x, ret, "getting a ticket for %s", p->conf->principal_name);
        return;
    }
    ret = krb5_copy_creds(D.ctx, creds, &x->creds);
    if (!ret)
        ret = build_request(x);
    if (ret) {
        exch_fail(x, ret, "building the request");
        return;
    }
    exch_send_first(x, EX_WAIT_REPLY);
}

static void
start_exchange(struct peer *p, uint8_t type, struct sa_rec *rekey,
               unsigned long ctl_id)
{
    struct exch *x;

    if (p->exch != NULL) {
        if (ctl_id)
            ctl_result(ctl_id, "error: an exchange with %s is in progress",
                       p->name);
        return;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL)
        return;
    x->peer = p;
    x->type = type;
    x->xid = D.next_xid++;
    x->rekey_of = rekey;
    x->ctl_id = ctl_id;
    if (rekey != NULL)
        x->sel = rekey->pair.sel;
    else
        default_selector(p, &x->sel);
    p->exch = x;
    p->state = type == KINK_MSG_CREATE ? "negotiating" : p->state;
    request_ticket(x);
}

static void
start_delete(struct peer *p, unsigned long ctl_id)
{
    struct exch *x;
    struct sa_rec *r;

    if (p->sas == NULL) {
        ctl_result(ctl_id, "no SAs with %s", p->name);
        return;
    }
    if (p->exch != NULL)
        exch_fail(p->exch, 0, "cancelled by DELETE");
    x = calloc(1, sizeof(*x));
    if (x == NULL)
        return;
    x->peer = p;
    x->type = KINK_MSG_DELETE;
    x->xid = D.next_xid++;
    x->ctl_id = ctl_id;
    for (r = p->sas; r != NULL && x->n_del < 16; r = r->next)
        x->del_spis[x->n_del++] = r->pair.in.spi;
    p->exch = x;
    /* Our side goes now: a peer that does not answer still loses them. */
    flush_peer(p, "DELETE sent");
    p->state = "down";
    request_ticket(x);
}

/* Verify a REPLY's AP_REP and checksum against exchange x.  Returns the
 * decoded ISAKMP chain when present (*have_qm). */
static krb5_error_code
verify_reply(struct exch *x, uint8_t *buf, size_t len,
             const struct kink_msg *m, uint8_t **plain, size_t *plain_len,
             struct kink_chain *inner)
{
    const struct kink_payload *ap = kink_chain_find(&m->chain, KINK_AP_REP);
    const struct kink_payload *enc;
    krb5_ap_rep_enc_part *rep = NULL;
    krb5_data d;
    struct kink_cksum_input in;
    krb5_error_code ret;
    const char *why;
    krb5_keyblock *key = &x->creds->keyblock;
    struct peer *p = x->peer;

    if (ap == NULL)
        return KRB5KRB_AP_ERR_MSG_TYPE;
    d.magic = KV5M_DATA;
    d.data = (char *)ap->data;
    d.length = ap->data_len;
    ret = krb5_rd_rep(D.ctx, x->ac, &d, &rep);
    if (ret)
        return ret;
    krb5_free_ap_rep_enc_part(D.ctx, rep);
    if (m->cksum_len == 0) {
        krb5_set_error_message(D.ctx, KRB5KRB_AP_ERR_BAD_INTEGRITY,
                               "the REPLY has no checksum");
        return KRB5KRB_AP_ERR_BAD_INTEGRITY;
    }
    ret = kink_msg_cksum_input(buf, len,
                               p->conf->cksum == KINK_CONF_CKSUM_RACOON2 ?
                               KINK_CKSUM_RACOON2 : KINK_CKSUM_RFC4430, &in);
    if (!ret)
        ret = kink_checksum_verify(D.ctx, key, in.iov, in.n);
    if (ret) {
        krb5_set_error_message(D.ctx, ret, "the REPLY's checksum is wrong");
        return ret;
    }
    if (p->epoch_known && p->epoch != ap->epoch) {
        ks_agent_log(LOG_NOTICE, "%s restarted (epoch %u -> %u): flushing "
                     "its SAs", p->name, p->epoch, ap->epoch);
        flush_peer(p, "peer restarted");
    }
    p->epoch = ap->epoch;
    p->epoch_known = 1;
    memset(inner, 0, sizeof(*inner));
    *plain = NULL;
    enc = kink_chain_find(&m->chain, KINK_ENCRYPT);
    if (enc != NULL) {
        ret = kink_decrypt(D.ctx, key, enc->data, enc->data_len, plain,
                           plain_len);
        if (ret)
            return ret;
        ret = kink_msg_decode_inner(*plain, *plain_len, inner, NULL, &why);
        if (ret) {
            krb5_set_error_message(D.ctx, ret, "KINK_ENCRYPT: %s", why);
            return ret;
        }
    }
    return 0;
}

static const struct kink_payload *
find_isakmp(const struct kink_msg *m, const struct kink_chain *inner)
{
    const struct kink_payload *pl = kink_chain_find(inner, KINK_ISAKMP);
    return pl != NULL ? pl : kink_chain_find(&m->chain, KINK_ISAKMP);
}

static void
send_ack(struct exch *x)
{
    struct kink_msg m;
    krb5_data apreq = { 0 };
    krb5_auth_context ac = NULL;
    uint8_t *buf = NULL;
    size_t len;
    krb5_error_code ret;

    ret = krb5_mk_req_extended(D.ctx, &ac, x->creds->is_skey ?
                               AP_OPTS_USE_SESSION_KEY : 0, NULL, x->creds,
                               &apreq);
    if (ret) {
        log_krb5(LOG_ERR, ret, "ACK to %s", x->peer->name);
        return;
    }
    memset(&m, 0, sizeof(m));
    m.type = KINK_MSG_ACK;
    m.xid = x->xid;
    add_payload(&m, KINK_AP_REQ, D.epoch, apreq.data, apreq.length);
    if (finish_msg(x->peer, &m, &x->creds->keyblock, &buf, &len) == 0) {
        send_to_peer(x->peer, buf, len);
        /* Kept: a responder that did not get it repeats its REPLY. */
        free(x->peer->ack_msg);
        x->peer->ack_msg = buf;
        x->peer->ack_len = len;
        x->peer->ack_xid = x->xid;
        buf = NULL;
    }
    free(buf);
    krb5_free_data_contents(D.ctx, &apreq);
    krb5_auth_con_free(D.ctx, ac);
}

static void
handle_create_reply(struct exch *x, const struct kink_msg *m,
                    const struct kink_payload *qmpl)
{
    struct peer *p = x->peer;
    struct kink_isakmp_chain *qm;
    const struct kink_isakmp_sa *sa = NULL;
    const struct kink_isakmp_data *nr = NULL, *ke = NULL;
    const struct kink_conf_policy *pol = &p->conf->policy;
    struct kink_isakmp_esp esp;
    struct kink_sa_pair pair;
    unsigned char gxy[KINK_DH_MAX_SECRET];
    size_t gxy_len = 0;
    const char *why;
    size_t i, chosen = pol->n_proposals;
    krb5_error_code ret;
    struct sa_rec *old = x->rekey_of;

    if (qmpl == NULL) {
        exch_fail(x, 0, "the REPLY carries no Quick Mode payloads");
        return;
    }
    qm = calloc(1, sizeof(*qm));
    if (qm == NULL)
        return;
    ret = kink_isakmp_decode(qmpl->data, qmpl->data_len, qmpl->inner_next,
                             qm, &why);
    if (ret) {
        exch_fail(x, 0, "malformed Quick Mode payloads: %s", why);
        goto out;
    }
    for (i = 0; i < qm->n_payloads; i++) {
        const struct kink_isakmp_payload *pl = &qm->payloads[i];
        if (pl->type == KINK_ISAKMP_PL_N) {
            exch_fail(x, 0, "refused by the peer (Notify %u%s)",
                      pl->u.notify.type,
                      pl->u.notify.type == NOTIFY_NO_PROPOSAL_CHOSEN ?
                      ", NO-PROPOSAL-CHOSEN" :
                      pl->u.notify.type == NOTIFY_INVALID_ID_INFORMATION ?
                      ", INVALID-ID-INFORMATION: selector not allowed" : "");
            goto out;
        }
        if (pl->type == KINK_ISAKMP_PL_SA && sa == NULL)
            sa = pl->u.sa;
        if (pl->type == KINK_ISAKMP_PL_NONCE && nr == NULL)
            nr = &pl->u.nonce;
        if (pl->type == KINK_ISAKMP_PL_KE && ke == NULL)
            ke = &pl->u.ke;
    }
    if (sa == NULL || sa->n_proposals != 1 ||
        sa->proposals[0].protocol != KINK_PROTO_IPSEC_ESP ||
        sa->proposals[0].spi_size != 4 ||
        sa->proposals[0].n_transforms != 1) {
        exch_fail(x, 0, "the REPLY's SA payload is not one ESP proposal");
        goto out;
    }
    ret = kink_isakmp_esp_view(&sa->proposals[0].transforms[0], &esp, &why);
    if (ret) {
        exch_fail(x, 0, "the REPLY's transform: %s", why);
        goto out;
    }
    for (i = 0; i < pol->n_proposals; i++) {
        if (esp_equal(&esp, &pol->proposals[i]))
            break;
    }
    chosen = i;
    if (chosen == pol->n_proposals) {
        exch_fail(x, 0, "the peer chose a transform we did not propose");
        goto out;
    }
    if (chosen != 0 && nr == NULL) {
        exch_fail(x, 0, "the peer chose proposal %zu without a Nonce",
                  chosen + 1);
        goto out;
    }
    if ((ke != NULL) != (x->dh != NULL)) {
        exch_fail(x, 0, "the REPLY %s a KE payload", ke != NULL ?
                  "carries an unexpected" : "lacks the (PFS)");
        goto out;
    }
    if (ke != NULL) {
        gxy_len = kink_dh_secret_len(kink_dh_group(x->dh));
        ret = kink_dh_derive(D.ctx, x->dh, ke->data, ke->len, gxy, gxy_len);
        if (ret) {
            exch_fail(x, ret, "the peer's KE");
            goto out;
        }
    }
    memset(&pair, 0, sizeof(pair));
    pair.local = p->local;
    pair.remote = p->conf->addr;
    pair.esp = pol->proposals[chosen];
    pair.sel = x->sel;
    pair.reqid = p->reqid;
    pair.hard_seconds = pol->lifetime;
    if (esp.life_seconds && esp.life_seconds < pair.hard_seconds)
        pair.hard_seconds = esp.life_seconds;
    pair.soft_seconds = pair.hard_seconds * 9 / 10;
    pair.hard_kbytes = pol->life_kbytes;
    pair.soft_kbytes = pol->soft_life_kbytes;
    pair.in.spi = x->spi_in;
    pair.out.spi = spi_of(&sa->proposals[0]);
    ret = derive_dir(p, &x->creds->keyblock, &pair.esp, &pair.in,
                     gxy_len ? gxy : NULL, gxy_len, x->ni, sizeof(x->ni),
                     nr ? nr->data : NULL, nr ? nr->len : 0);
    if (!ret)
        ret = derive_dir(p, &x->creds->keyblock, &pair.esp, &pair.out,
                         gxy_len ? gxy : NULL, gxy_len, x->ni, sizeof(x->ni),
                         nr ? nr->data : NULL, nr ? nr->len : 0);
    ks_zero(gxy, sizeof(gxy));
    if (ret) {
        exch_fail(x, ret, "deriving KEYMAT");
        goto out;
    }
    if (m->ackreq)
        send_ack(x);
    if (sa_install(p, &pair, 1) == NULL) {
        ks_zero(&pair, sizeof(pair));
        exch_fail(x, 0, "the kernel refused the SA pair");
        goto out;
    }
    ks_zero(&pair, sizeof(pair));
    x->spi_in = 0;          /* now owned by the SA */
    if (!ctl_repeat(p, x))
        ctl_result(x->ctl_id, "SA pair with %s: in=0x%08x out=0x%08x",
                   p->name, p->sas->pair.in.spi, p->sas->pair.out.spi);
    if (old != NULL) {
        /* Make-before-break: the new pair is in; tell the peer to drop
         * the old one and drop ours. */
        x->rekey_of = NULL;
        exch_free(x);
        x = NULL;
        {
            struct exch *d = calloc(1, sizeof(*d));
            if (d != NULL) {
                d->peer = p;
                d->type = KINK_MSG_DELETE;
                d->xid = D.next_xid++;
                d->del_spis[d->n_del++] = old->pair.in.spi;
                p->exch = d;
                request_ticket(d);
            }
        }
        sa_remove(old, "replaced by a rekey");
    } else {
        unsigned long id = x->ctl_id;
        int again = ctl_repeat(p, x) > 1;
        exch_free(x);
        if (again) {
            ctl_repeat_next(id);
            start_exchange(p, KINK_MSG_CREATE, NULL, id);
        }
    }
out:
    free(qm);
}

static void
handle_reply(struct peer *p, uint8_t *buf, size_t len, const struct kink_msg *m)
{
    struct exch *x = p->exch;
    const struct kink_payload *pl;
    struct kink_chain inner;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    krb5_error_code ret;

    if ((x == NULL || x->xid != m->xid) && m->ackreq &&
        p->ack_msg != NULL && m->xid == p->ack_xid) {
        ks_agent_log(LOG_DEBUG, "REPLY from %s for XID %u again: sending the "
                     "ACK again", p->name, m->xid);
        send_to_peer(p, p->ack_msg, p->ack_len);
        return;
    }
    if (x == NULL || x->xid != m->xid || x->state == EX_TICKET) {
        ks_agent_log(LOG_DEBUG, "REPLY from %s with XID %u matches no "
                     "exchange: dropped", p->name, m->xid);
        return;
    }
    if ((pl = kink_chain_find(&m->chain, KINK_ERROR)) != NULL &&
        pl->error_code != KINK_OK) {
        exch_fail(x, 0, "the peer answered %s",
                  kink_error_name(pl->error_code));
        return;
    }
    if (x->state == EX_GETTGT) {
        pl = kink_chain_find(&m->chain, KINK_TGT_REP);
        if (pl == NULL || pl->data_len == 0) {
            exch_fail(x, 0, "the GETTGT reply has no TGT");
            return;
        }
        krb5_free_data_contents(D.ctx, &p->tgt);
        p->tgt.data = malloc(pl->data_len);
        if (p->tgt.data == NULL)
            return;
        memcpy(p->tgt.data, pl->data, pl->data_len);
        p->tgt.length = pl->data_len;
        if (x->timer != NULL)
            verto_del(x->timer);
        x->timer = NULL;
        request_ticket(x);
        return;
    }
    if ((pl = kink_chain_find(&m->chain, KINK_KRB_ERROR)) != NULL) {
        krb5_data d = { KV5M_DATA, (unsigned int)pl->data_len,
                        (char *)pl->data };
        krb5_error *err = NULL;
        krb5_error_code code = KRB5KRB_ERR_GENERIC;
        if (krb5_rd_error(D.ctx, &d, &err) == 0) {
            code = (krb5_error_code)err->error + ERROR_TABLE_BASE_krb5;
            krb5_free_error(D.ctx, err);
        }
        /* A user-to-user ticket in a TGT the peer has renewed since. */
        if (p->tgt.length > 0)
            krb5_free_data_contents(D.ctx, &p->tgt);
        exch_fail(x, code, "the peer refused our AP-REQ");
        return;
    }
    ret = verify_reply(x, buf, len, m, &plain, &plain_len, &inner);
    if (ret) {
        D.n_refused++;
        exch_fail(x, ret, "refused REPLY");
        goto out;
    }
    if (x->timer != NULL)
        verto_del(x->timer);
    x->timer = NULL;
    p->last_heard = now();
    switch (x->type) {
    case KINK_MSG_CREATE:
        handle_create_reply(x, m, find_isakmp(m, &inner));
        break;
    case KINK_MSG_DELETE:
        ks_agent_log(LOG_INFO, "DELETE acknowledged by %s", p->name);
        ctl_result(x->ctl_id, "deleted the SAs with %s", p->name);
        exch_free(x);
        break;
    default:
        ks_agent_log(LOG_INFO, "STATUS: %s is alive (epoch %u)", p->name,
                     p->epoch);
        ctl_result(x->ctl_id, "%s is alive (epoch %u)", p->name, p->epoch);
        exch_free(x);
        break;
    }
out:
    if (plain != NULL)
        ks_zfree(plain, plain_len);
}

/* ------------------------------------------------------------------ */
/* responder */

static void
sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
       unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int n = 32;
    memset(out, 0, 32);
    if (c == NULL)
        return;
    if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(c, a, alen) == 1 &&
        (blen == 0 || EVP_DigestUpdate(c, b, blen) == 1))
        EVP_DigestFinal_ex(c, out, &n);
    EVP_MD_CTX_free(c);
}

static struct dup_slot *
dup_find(struct peer *p, uint32_t xid, const unsigned char hash[32])
{
    size_t i;
    time_t t = now();
    for (i = 0; i < DUP_SLOTS; i++) {
        struct dup_slot *s = &p->dup[i];
        if (s->used && s->xid == xid && t - s->at < DUP_KEEP &&
            memcmp(s->req_hash, hash, 32) == 0)
            return s;
    }
    return NULL;
}

static void
dup_store(struct peer *p, uint32_t xid, const unsigned char hash[32],
          const uint8_t *reply, size_t len)
{
    struct dup_slot *s = &p->dup[p->dup_next++ % DUP_SLOTS];
    free(s->reply);
    s->reply = malloc(len);
    if (s->reply == NULL) {
        s->used = 0;
        return;
    }
    memcpy(s->reply, reply, len);
    s->reply_len = len;
    s->xid = xid;
    memcpy(s->req_hash, hash, 32);
    s->at = now();
    s->used = 1;
}

static void
refuse(struct peer *p, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
refuse(struct peer *p, const char *what, const char *fmt, ...)
{
    char buf[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    D.n_refused++;
    ks_agent_log(LOG_WARNING, "refused %s from %s (%s): %s", what,
                 p != NULL ? p->name : "?",
                 p != NULL ? p->conf->principal_name : "unknown peer", buf);
    if (p != NULL)
        peer_error(p, "refused %s: %s", what, buf);
}

/* A responder's authenticated REPLY to a CREATE/DELETE/STATUS/ACK'd
 * request: AP_REP, optional encrypted Quick Mode payloads, checksum. */
static void
send_reply(struct peer *p, int sock, uint32_t xid, krb5_auth_context ac,
           const krb5_keyblock *key, const struct kink_isakmp_payload *qm,
           size_t nqm, int ackreq, const unsigned char req_hash[32])
{
    krb5_data aprep = { 0 };
    struct kink_msg m;
    uint8_t *buf = NULL, *enc = NULL;
    size_t len = 0, enc_len = 0;
    krb5_error_code ret;

    ret = krb5_mk_rep(D.ctx, ac, &aprep);
    if (ret)
        goto fail;
    memset(&m, 0, sizeof(m));
    m.type = KINK_MSG_REPLY;
    m.xid = xid;
    m.ackreq = ackreq;
    add_payload(&m, KINK_AP_REP, D.epoch, aprep.data, aprep.length);
    if (nqm > 0) {
        ret = add_encrypted_qm(&m, key, qm, nqm, &enc, &enc_len);
        if (ret)
            goto fail;
    }
    ret = finish_msg(p, &m, key, &buf, &len);
    if (ret)
        goto fail;
    if (sendto(sock, buf, len, 0, (const struct sockaddr *)&p->conf->addr,
               p->conf->addr_len) >= 0)
        D.n_msgs_out++;
    dup_store(p, xid, req_hash, buf, len);
    goto out;
fail:
    log_krb5(LOG_ERR, ret, "building the REPLY to %s",
                      p->name);
out:
    free(buf);
    free(enc);
    krb5_free_data_contents(D.ctx, &aprep);
}

static void
send_notify(struct peer *p, int sock, uint32_t xid, krb5_auth_context ac,
            const krb5_keyblock *key, uint16_t type,
            const unsigned char req_hash[32])
{
    struct kink_isakmp_payload n;
    memset(&n, 0, sizeof(n));
    n.type = KINK_ISAKMP_PL_N;
    n.u.notify.doi = KINK_DOI_IPSEC;
    n.u.notify.protocol = KINK_PROTO_IPSEC_ESP;
    n.u.notify.type = type;
    send_reply(p, sock, xid, ac, key, &n, 1, 0, req_hash);
}

static void
ack_timer_cb(verto_ctx *loop, verto_ev *ev)
{
    struct pending_ack *pa = verto_get_private(ev);
    struct peer *p = pa->peer;

    (void)loop;
    pa->timer = NULL;
    if (sendto(pa->sock, pa->reply, pa->reply_len, 0,
               (const struct sockaddr *)&p->conf->addr,
               p->conf->addr_len) >= 0)
        D.n_msgs_out++;
    if (++pa->tries < RETRANS_TRIES - 1) {
        pa->timer = verto_add_timeout(D.loop, VERTO_EV_FLAG_NONE,
                                      ack_timer_cb,
                                      (time_t)RETRANS_FIRST_MS << pa->tries);
        if (pa->timer != NULL)
            verto_set_private(pa->timer, pa, NULL);
    }
}

/* Keep the REPLY just sent for pa (from the duplicate cache) and repeat
 * it after 1, 2, 4 s until the ACK comes. */
static void
ack_wait_start(struct pending_ack *pa, const unsigned char hash[32])
{
    struct dup_slot *d = dup_find(pa->peer, pa->xid, hash);

    if (d == NULL || (pa->reply = malloc(d->reply_len)) == NULL)
        return;
    memcpy(pa->reply, d->reply, d->reply_len);
    pa->reply_len = d->reply_len;
    pa->timer = verto_add_timeout(D.loop, VERTO_EV_FLAG_NONE, ack_timer_cb,
                                  RETRANS_FIRST_MS);
    if (pa->timer != NULL)
        verto_set_private(pa->timer, pa, NULL);
}

static void
pending_ack_free(struct pending_ack *pa)
{
    if (pa->timer != NULL)
        verto_del(pa->timer);
    ks_zero(&pa->pair, sizeof(pa->pair));
    krb5_free_keyblock(D.ctx, pa->key);
    free(pa->reply);
    free(pa);
}

static struct pending_ack *
pending_ack_find(const struct peer *p, uint32_t xid)
{
    struct pending_ack *pa;
    for (pa = D.acks; pa != NULL; pa = pa->next) {
        if (pa->peer == p && pa->xid == xid)
            return pa;
    }
    return NULL;
}

/* Pick the first of the initiator's proposals that matches one of ours.
 * Returns its index in sa (and the matching policy index in *ours), or -1. */
static int
choose_proposal(const struct kink_isakmp_sa *sa,
                const struct kink_conf_policy *pol, size_t *ours,
                struct kink_isakmp_esp *esp_out)
{
    size_t i, j;
    for (i = 0; i < sa->n_proposals; i++) {
        const struct kink_isakmp_proposal *pr = &sa->proposals[i];
        struct kink_isakmp_esp esp;
        const char *why;
        if (pr->protocol != KINK_PROTO_IPSEC_ESP || pr->spi_size != 4 ||
            pr->n_transforms < 1)
            continue;
        /* Proposals sharing a number are AND-combined (e.g. ESP+AH): we
         * only do ESP alone. */
        if ((i > 0 && sa->proposals[i - 1].number == pr->number) ||
            (i + 1 < sa->n_proposals &&
             sa->proposals[i + 1].number == pr->number))
            continue;
        if (kink_isakmp_esp_view(&pr->transforms[0], &esp, &why) != 0)
            continue;
        for (j = 0; j < pol->n_proposals; j++) {
            if (esp_equal(&esp, &pol->proposals[j])) {
                *ours = j;
                *esp_out = esp;
                return (int)i;
            }
        }
    }
    return -1;
}

static void
handle_create(struct peer *p, int sock, const struct kink_msg *m,
              krb5_auth_context ac, const krb5_keyblock *key,
              const struct kink_payload *qmpl, const unsigned char hash[32])
{
    struct kink_isakmp_chain *qm = NULL;
    const struct kink_isakmp_sa *sa = NULL;
    const struct kink_isakmp_data *ni = NULL, *ke = NULL;
    const struct kink_isakmp_id *ids[2] = { NULL, NULL };
    struct kink_dh *dh = NULL;
    unsigned char ke_out[KINK_DH_MAX_PUBLIC], gxy[KINK_DH_MAX_SECRET];
    size_t gxy_len = 0;
    const struct kink_conf_policy *pol = &p->conf->policy;
    struct kink_isakmp_esp esp;
    struct kink_conf_selector sel;
    struct kink_sa_pair pair;
    struct sa_build sb;
    struct kink_isakmp_payload out[3];
    size_t nout = 1;
    unsigned char nr[NONCE_LEN];
    size_t i, ours = 0, nids = 0;
    int idx, optimistic, have_ke = 0;
    const char *why;
    char s[160];
    krb5_error_code ret;

    memset(&pair, 0, sizeof(pair));
    if (qmpl == NULL) {
        refuse(p, "CREATE", "no Quick Mode payloads");
        error_reply(p, sock, m->xid, KINK_PROTOERR);
        return;
    }
    if (qmpl->qm_maj != KINK_QMMAJ) {
        refuse(p, "CREATE", "Quick Mode version %u.%u", qmpl->qm_maj,
               qmpl->qm_min);
        error_reply(p, sock, m->xid, KINK_BADQMVERS);
        return;
    }
    qm = calloc(1, sizeof(*qm));
    if (qm == NULL)
        return;
    ret = kink_isakmp_decode(qmpl->data, qmpl->data_len, qmpl->inner_next,
                             qm, &why);
    if (ret) {
        refuse(p, "CREATE", "malformed Quick Mode payloads: %s", why);
        error_reply(p, sock, m->xid, KINK_PROTOERR);
        goto out;
    }
    for (i = 0; i < qm->n_payloads; i++) {
        const struct kink_isakmp_payload *pl = &qm->payloads[i];
        if (pl->type == KINK_ISAKMP_PL_SA && sa == NULL)
            sa = pl->u.sa;
        else if (pl->type == KINK_ISAKMP_PL_NONCE && ni == NULL)
            ni = &pl->u.nonce;
        else if (pl->type == KINK_ISAKMP_PL_ID && nids < 2)
            ids[nids++] = &pl->u.id;
        else if (pl->type == KINK_ISAKMP_PL_KE && ke == NULL) {
            have_ke = 1;
            ke = &pl->u.ke;
        }
    }
    if (sa == NULL || ni == NULL) {
        refuse(p, "CREATE", "the Quick Mode payloads lack %s",
               sa == NULL ? "an SA" : "a Nonce");
        error_reply(p, sock, m->xid, KINK_PROTOERR);
        goto out;
    }
    /* Selector: IDci is the initiator's (the peer's) side, IDcr ours. */
    if (nids == 1) {
        refuse(p, "CREATE", "one ID payload (IDci and IDcr go together)");
        send_notify(p, sock, m->xid, ac, key, NOTIFY_INVALID_ID_INFORMATION,
                    hash);
        goto out;
    }
    default_selector(p, &sel);
    if (nids == 2) {
        if (id_to_prefix(ids[0], &sel.remote) != 0 ||
            id_to_prefix(ids[1], &sel.local) != 0 ||
            ids[0]->protocol != ids[1]->protocol) {
            refuse(p, "CREATE", "unusable ID payloads");
            send_notify(p, sock, m->xid, ac, key,
                        NOTIFY_INVALID_ID_INFORMATION, hash);
            goto out;
        }
        sel.proto = ids[0]->protocol;
        sel.port = ids[0]->port;
    }
    if (!kink_conf_selector_allowed(p->conf, &sel)) {
        sel_str(&sel, s, sizeof(s));
        refuse(p, "CREATE", "selector %s is outside the peer's allowance", s);
        send_notify(p, sock, m->xid, ac, key, NOTIFY_INVALID_ID_INFORMATION,
                    hash);
        goto out;
    }
    idx = choose_proposal(sa, pol, &ours, &esp);
    if (idx < 0 || (have_ke != (esp.group != 0))) {
        refuse(p, "CREATE", "%s", idx < 0 ? "no acceptable proposal" :
               "PFS (KE payload) does not match the proposal");
        send_notify(p, sock, m->xid, ac, key, NOTIFY_NO_PROPOSAL_CHOSEN, hash);
        goto out;
    }
    if (esp.group != 0) {
        /* PFS: our key pair in the initiator's group, g^xy from its KE. */
        gxy_len = kink_dh_secret_len(esp.group);
        ret = kink_dh_generate(D.ctx, esp.group, &dh);
        if (!ret)
            ret = kink_dh_public(D.ctx, dh, ke_out,
                                 kink_dh_public_len(esp.group));
        if (!ret)
            ret = kink_dh_derive(D.ctx, dh, ke->data, ke->len, gxy, gxy_len);
        if (ret) {
            refuse(p, "CREATE", "KE: %s", kmsg(ret));
            send_notify(p, sock, m->xid, ac, key,
                        NOTIFY_INVALID_KEY_INFORMATION, hash);
            goto out;
        }
    }
    optimistic = idx == 0;
    pair.local = p->local;
    pair.remote = p->conf->addr;
    pair.esp = pol->proposals[ours];
    pair.sel = sel;
    pair.reqid = p->reqid;
    pair.hard_seconds = pol->lifetime;
    if (esp.life_seconds && esp.life_seconds < pair.hard_seconds)
        pair.hard_seconds = esp.life_seconds;
    pair.soft_seconds = pair.hard_seconds * 9 / 10;
    pair.hard_kbytes = pol->life_kbytes;
    pair.soft_kbytes = pol->soft_life_kbytes;
    pair.out.spi = spi_of(&sa->proposals[idx]);
    ret = kink_sa_alloc_spi(D.sa, (struct sockaddr *)&p->local,
                            (struct sockaddr *)&p->conf->addr, pair.reqid,
                            &pair.in.spi);
    if (ret) {
        log_krb5(LOG_ERR, ret, "allocating an SPI for %s",
                          p->name);
        error_reply(p, sock, m->xid, KINK_INTERR);
        goto out;
    }
    if (!optimistic && RAND_bytes(nr, sizeof(nr)) != 1) {
        ret = KRB5_CRYPTO_INTERNAL;
        goto release;
    }
    ret = derive_dir(p, key, &pair.esp, &pair.in, gxy_len ? gxy : NULL,
                     gxy_len, ni->data, ni->len, optimistic ? NULL : nr,
                     optimistic ? 0 : sizeof(nr));
    if (!ret)
        ret = derive_dir(p, key, &pair.esp, &pair.out, gxy_len ? gxy : NULL,
                         gxy_len, ni->data, ni->len, optimistic ? NULL : nr,
                         optimistic ? 0 : sizeof(nr));
    if (ret)
        goto release;
    ret = build_sa(&sb, pol, &esp, sa->proposals[idx].number, pair.in.spi);
    if (ret)
        goto release;
    memset(out, 0, sizeof(out));
    out[0].type = KINK_ISAKMP_PL_SA;
    out[0].u.sa = &sb.sa;
    if (!optimistic) {
        out[nout].type = KINK_ISAKMP_PL_NONCE;
        out[nout].u.nonce.data = nr;
        out[nout++].u.nonce.len = sizeof(nr);
    }
    if (dh != NULL) {
        out[nout].type = KINK_ISAKMP_PL_KE;
        out[nout].u.ke.data = ke_out;
        out[nout++].u.ke.len = kink_dh_public_len(esp.group);
    }
    if (optimistic) {
        if (sa_install(p, &pair, 0) == NULL) {
            error_reply(p, sock, m->xid, KINK_INTERR);
            goto out;
        }
        send_reply(p, sock, m->xid, ac, key, out, nout, 0, hash);
    } else {
        struct pending_ack *pa = calloc(1, sizeof(*pa));
        if (pa == NULL || krb5_copy_keyblock(D.ctx, key, &pa->key) != 0) {
            free(pa);
            ret = ENOMEM;
            goto release;
        }
        pa->peer = p;
        pa->xid = m->xid;
        pa->pair = pair;
        pa->until = now() + ACK_WAIT;
        pa->sock = sock;
        pa->next = D.acks;
        D.acks = pa;
        ks_agent_log(LOG_INFO, "CREATE from %s: chose proposal %d (not the "
                     "first): waiting for the ACK", p->name, idx + 1);
        send_reply(p, sock, m->xid, ac, key, out, nout, 1, hash);
        ack_wait_start(pa, hash);
    }
    goto out;
release:
    log_krb5(LOG_ERR, ret, "answering CREATE from %s",
                      p->name);
    kink_sa_release_spi(D.sa, (struct sockaddr *)&p->local,
                        (struct sockaddr *)&p->conf->addr, pair.in.spi);
    error_reply(p, sock, m->xid, KINK_INTERR);
out:
    ks_zero(&pair, sizeof(pair));
    ks_zero(nr, sizeof(nr));
    ks_zero(gxy, sizeof(gxy));
    kink_dh_free(dh);
    free(qm);
}

static void
handle_delete(struct peer *p, int sock, const struct kink_msg *m,
              krb5_auth_context ac, const krb5_keyblock *key,
              const struct kink_payload *qmpl, const unsigned char hash[32])
{
    struct kink_isakmp_chain *qm;
    const char *why;
    size_t i, j, n = 0;

    qm = calloc(1, sizeof(*qm));
    if (qm == NULL)
        return;
    if (qmpl == NULL || kink_isakmp_decode(qmpl->data, qmpl->data_len,
                                           qmpl->inner_next, qm, &why) != 0) {
        refuse(p, "DELETE", "no valid Delete payload");
        error_reply(p, sock, m->xid, KINK_PROTOERR);
        free(qm);
        return;
    }
    for (i = 0; i < qm->n_payloads; i++) {
        const struct kink_isakmp_delete *d = &qm->payloads[i].u.del;
        if (qm->payloads[i].type != KINK_ISAKMP_PL_D ||
            d->protocol != KINK_PROTO_IPSEC_ESP || d->spi_size != 4)
            continue;
        for (j = 0; j < d->n_spis; j++) {
            const unsigned char *b = d->spis + 4 * j;
            uint32_t spi = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
                ((uint32_t)b[2] << 8) | b[3];
            struct sa_rec *r;
            /* The peer names its inbound SPIs: our outbound ones. */
            for (r = p->sas; r != NULL; r = r->next) {
                if (r->pair.out.spi == spi) {
                    sa_remove(r, "DELETE from the peer");
                    n++;
                    break;
                }
            }
        }
    }
    ks_agent_log(LOG_INFO, "DELETE from %s: %zu SA pair(s) removed", p->name,
                 n);
    if (p->sas == NULL)
        p->state = "down";
    send_reply(p, sock, m->xid, ac, key, NULL, 0, 0, hash);
    free(qm);
}

static void
handle_ack(struct peer *p, const struct kink_msg *m,
           const krb5_keyblock *key)
{
    struct pending_ack **pp, *pa;
    for (pp = &D.acks; (pa = *pp) != NULL; pp = &pa->next) {
        if (pa->peer == p && pa->xid == m->xid)
            break;
    }
    if (pa == NULL) {
        ks_agent_log(LOG_DEBUG, "ACK from %s for XID %u matches nothing",
                     p->name, m->xid);
        return;
    }
    if (key->enctype != pa->key->enctype || key->length != pa->key->length ||
        ks_ct_memcmp(key->contents, pa->key->contents, key->length) != 0) {
        refuse(p, "ACK", "not in the session key of its CREATE");
        return;
    }
    *pp = pa->next;
    sa_install(p, &pa->pair, 0);
    pending_ack_free(pa);
}

static void
expire_acks(void)
{
    struct pending_ack **pp = &D.acks, *pa;
    time_t t = now();
    while ((pa = *pp) != NULL) {
        if (pa->until <= t) {
            *pp = pa->next;
            ks_agent_log(LOG_WARNING, "no ACK from %s for XID %u: dropping "
                         "the SA pair", pa->peer->name, pa->xid);
            kink_sa_release_spi(D.sa, (struct sockaddr *)&pa->peer->local,
                                (struct sockaddr *)&pa->peer->conf->addr,
                                pa->pair.in.spi);
            pending_ack_free(pa);
        } else {
            pp = &pa->next;
        }
    }
}

static void
handle_gettgt(struct peer *p, int sock, const struct kink_msg *m)
{
    const struct kink_payload *pl = kink_chain_find(&m->chain, KINK_TGT_REQ);
    krb5_principal want = NULL;
    krb5_data tgt = { 0 };
    struct kink_msg r;
    uint8_t *buf = NULL;
    size_t len, nl;
    char name[512];
    krb5_error_code ret;

    if (pl == NULL) {
        refuse(p, "GETTGT", "no KINK_TGT_REQ");
        error_reply(p, sock, m->xid, KINK_PROTOERR);
        return;
    }
    /* The codec has checked PrincNameLength: data is the name. */
    nl = pl->data_len;
    if (nl == 0 || nl >= sizeof(name) || memchr(pl->data, 0, nl) != NULL) {
        refuse(p, "GETTGT", "malformed principal name");
        error_reply(p, sock, m->xid, KINK_PROTOERR);
        return;
    }
    memcpy(name, pl->data, nl);
    name[nl] = '\0';
    if (krb5_parse_name(D.ctx, name, &want) != 0 ||
        !krb5_principal_compare(D.ctx, want, kink_krb_self(D.krb))) {
        refuse(p, "GETTGT", "asks for the TGT of %s, not ours", name);
        error_reply(p, sock, m->xid, KINK_PROTOERR);
        krb5_free_principal(D.ctx, want);
        return;
    }
    krb5_free_principal(D.ctx, want);
    ret = kink_krb_tgt_ticket(D.krb, &tgt);
    if (ret) {
        log_krb5(LOG_ERR, ret, "GETTGT from %s", p->name);
        error_reply(p, sock, m->xid, KINK_INTERR);
        return;
    }
    memset(&r, 0, sizeof(r));
    r.type = KINK_MSG_REPLY;
    r.xid = m->xid;
    add_payload(&r, KINK_TGT_REP, 0, tgt.data, tgt.length);
    if (finish_msg(p, &r, NULL, &buf, &len) == 0 &&
        sendto(sock, buf, len, 0, (const struct sockaddr *)&p->conf->addr,
               p->conf->addr_len) >= 0)
        D.n_msgs_out++;
    ks_agent_log(LOG_INFO, "GETTGT from %s: sent our TGT", p->name);
    free(buf);
    krb5_free_data_contents(D.ctx, &tgt);
}

/* CREATE, DELETE, STATUS, ACK: authenticate, then dispatch. */
static void
handle_request(struct peer *p, int sock, uint8_t *buf, size_t len,
               const struct kink_msg *m)
{
    const struct kink_payload *ap = kink_chain_find(&m->chain, KINK_AP_REQ);
    const struct kink_payload *enc;
    const char *what = kink_msg_type_name(m->type);
    krb5_auth_context ac = NULL;
    krb5_ticket *tkt = NULL;
    krb5_keyblock *key;
    krb5_data d;
    struct kink_cksum_input in;
    struct kink_chain inner;
    struct dup_slot *dup;
    unsigned char hash[32], rkey[32];
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    const char *why;
    char *client = NULL;
    krb5_error_code ret;

    sha256(buf, len, NULL, 0, hash);
    if (m->type != KINK_MSG_ACK && (dup = dup_find(p, m->xid, hash)) != NULL) {
        ks_agent_log(LOG_DEBUG, "retransmitted %s from %s (XID %u): sending "
                     "the same REPLY", what, p->name, m->xid);
        if (sendto(sock, dup->reply, dup->reply_len, 0,
                   (const struct sockaddr *)&p->conf->addr,
                   p->conf->addr_len) >= 0)
            D.n_msgs_out++;
        return;
    }
    if (m->type == KINK_MSG_ACK && pending_ack_find(p, m->xid) == NULL) {
        /* A repeated ACK for a pair already installed, or a stray one. */
        ks_agent_log(LOG_DEBUG, "ACK from %s for XID %u matches nothing",
                     p->name, m->xid);
        return;
    }
    if (ap == NULL) {
        refuse(p, what, "no KINK_AP_REQ");
        error_reply(p, sock, m->xid, KINK_PROTOERR);
        return;
    }
    d.magic = KV5M_DATA;
    d.data = (char *)ap->data;
    d.length = ap->data_len;
    ret = kink_krb_rd_req(D.krb, &d, &ac, &tkt);
    if (ret) {
        refuse(p, what, "AP-REQ: %s", kmsg(ret));
        if (m->type != KINK_MSG_ACK)
            reply_krb_error(p, sock, m->xid, ret);
        return;
    }
    client = princ_str(tkt->enc_part2->client);
    if (!krb5_principal_compare(D.ctx, tkt->enc_part2->client,
                                p->conf->principal)) {
        refuse(p, what, "authenticated as %s, but %s is configured for %s",
               client, p->conf->principal_name, p->name);
        if (m->type != KINK_MSG_ACK)
            reply_krb_error(p, sock, m->xid, KRB5KRB_AP_ERR_BADMATCH);
        goto out;
    }
    key = tkt->enc_part2->session;
    if (m->cksum_len == 0) {
        refuse(p, what, "no checksum");
        goto out;
    }
    ret = kink_msg_cksum_input(buf, len,
                               p->conf->cksum == KINK_CONF_CKSUM_RACOON2 ?
                               KINK_CKSUM_RACOON2 : KINK_CKSUM_RFC4430, &in);
    if (!ret)
        ret = kink_checksum_verify(D.ctx, key, in.iov, in.n);
    if (ret) {
        refuse(p, what, "bad checksum (the message was altered)");
        if (m->type != KINK_MSG_ACK)
            reply_krb_error(p, sock, m->xid, KRB5KRB_AP_ERR_BAD_INTEGRITY);
        goto out;
    }
    /* Replay cache: the AP-REQ (its authenticator is encrypted, so two
     * AP-REQs are equal only when replayed). */
    sha256((const uint8_t *)"kinkd-ap-req", 12, ap->data, ap->data_len, rkey);
    if (D.store != NULL) {
        time_t t = now();
        ret = ks_store_replay_check_and_insert(D.ctx, D.store, rkey,
                                               t + REPLAY_WINDOW, t);
        if (ret == KRB5KRB_AP_ERR_REPEAT) {
            refuse(p, what, "replayed AP-REQ (XID %u)", m->xid);
            if (m->type != KINK_MSG_ACK)
                reply_krb_error(p, sock, m->xid, KRB5KRB_AP_ERR_REPEAT);
            goto out;
        } else if (ret) {
            log_krb5(LOG_ERR, ret, "replay cache");
            if (m->type != KINK_MSG_ACK)
                error_reply(p, sock, m->xid, KINK_INTERR);
            goto out;
        }
    }
    p->last_heard = now();
    if (p->epoch_known && p->epoch != ap->epoch) {
        ks_agent_log(LOG_NOTICE, "%s restarted (epoch %u -> %u): flushing "
                     "its SAs", p->name, p->epoch, ap->epoch);
        flush_peer(p, "peer restarted");
    }
    p->epoch = ap->epoch;
    p->epoch_known = 1;
    memset(&inner, 0, sizeof(inner));
    enc = kink_chain_find(&m->chain, KINK_ENCRYPT);
    if (enc != NULL) {
        ret = kink_decrypt(D.ctx, key, enc->data, enc->data_len, &plain,
                           &plain_len);
        if (!ret)
            ret = kink_msg_decode_inner(plain, plain_len, &inner, NULL, &why);
        else
            why = "does not decrypt";
        if (ret) {
            refuse(p, what, "KINK_ENCRYPT: %s", why);
            error_reply(p, sock, m->xid, KINK_PROTOERR);
            goto out;
        }
    }
    switch (m->type) {
    case KINK_MSG_CREATE:
        handle_create(p, sock, m, ac, key, find_isakmp(m, &inner), hash);
        break;
    case KINK_MSG_DELETE:
        handle_delete(p, sock, m, ac, key, find_isakmp(m, &inner), hash);
        break;
    case KINK_MSG_STATUS:
        send_reply(p, sock, m->xid, ac, key, NULL, 0, 0, hash);
        break;
    case KINK_MSG_ACK:
        handle_ack(p, m, key);
        break;
    }
out:
    if (plain != NULL)
        ks_zfree(plain, plain_len);
    krb5_free_unparsed_name(D.ctx, client);
    krb5_free_ticket(D.ctx, tkt);
    krb5_auth_con_free(D.ctx, ac);
}

/* ------------------------------------------------------------------ */
/* input */

static struct peer *
find_peer(const struct sockaddr *sa)
{
    const struct kink_conf_peer *c = kink_conf_find_peer(D.cfg, sa);
    size_t i;
    if (c == NULL)
        return NULL;
    for (i = 0; i < D.n_peers; i++) {
        if (D.peers[i].conf == c)
            return &D.peers[i];
    }
    return NULL;
}

static void
handle_datagram(int sock, uint8_t *buf, size_t len,
                const struct sockaddr *from, socklen_t fromlen)
{
    struct kink_msg m;
    const char *why = NULL;
    char a[INET6_ADDRSTRLEN];
    struct peer *p;
    krb5_error_code ret;

    D.n_msgs_in++;
    p = find_peer(from);
    if (p == NULL) {
        addr_str(from, a, sizeof(a));
        D.n_refused++;
        ks_agent_log(LOG_WARNING, "refused a message from %s: not a "
                     "configured peer", a);
        return;
    }
    ret = kink_msg_decode(buf, len, &m, &why);
    if (ret) {
        refuse(p, "message", "malformed: %s", why ? why : "?");
        /* Answer only requests whose header could be read. */
        if (len >= KINK_HEADER_LEN && m.type != KINK_MSG_REPLY &&
            m.type != KINK_MSG_ACK && m.type >= KINK_MSG_CREATE &&
            m.type <= KINK_MSG_STATUS)
            reply_kink_error(p, sock, from, fromlen, m.xid, m.kink_error);
        return;
    }
    if (m.doi != KINK_DOI_IPSEC) {
        refuse(p, kink_msg_type_name(m.type), "DOI %u", m.doi);
        if (m.type != KINK_MSG_REPLY && m.type != KINK_MSG_ACK)
            reply_kink_error(p, sock, from, fromlen, m.xid, KINK_INVDOI);
        return;
    }
    switch (m.type) {
    case KINK_MSG_REPLY:
        handle_reply(p, buf, len, &m);
        break;
    case KINK_MSG_GETTGT:
        handle_gettgt(p, sock, &m);
        break;
    default:
        handle_request(p, sock, buf, len, &m);
        break;
    }
}

static void
sock_cb(verto_ctx *loop, verto_ev *ev)
{
    int fd = verto_get_fd(ev);
    uint8_t buf[KINK_MSG_MAX_LEN + 1];
    struct sockaddr_storage from;
    socklen_t fl;
    ssize_t n;
    int i;

    (void)loop;
    /* Drain a bounded batch so that one busy peer cannot starve timers. */
    for (i = 0; i < 64; i++) {
        fl = sizeof(from);
        n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
                     (struct sockaddr *)&from, &fl);
        if (n < 0)
            break;
        handle_datagram(fd, buf, (size_t)n, (struct sockaddr *)&from, fl);
    }
    expire_acks();
}

/* ------------------------------------------------------------------ */
/* SA backend events */

static void
sa_event(void *arg, const struct kink_sa_event *ev)
{
    struct peer *p;
    struct sa_rec *r;

    (void)arg;
    p = find_peer((const struct sockaddr *)&ev->remote);
    if (p == NULL) {
        char a[INET6_ADDRSTRLEN];
        addr_str((const struct sockaddr *)&ev->remote, a, sizeof(a));
        ks_agent_log(LOG_INFO, "kernel event for %s: not a configured peer",
                     a);
        return;
    }
    switch (ev->type) {
    case KINK_SA_EV_ACQUIRE:
        ks_agent_log(LOG_INFO, "ACQUIRE for %s: negotiating", p->name);
        if (p->exch == NULL)
            start_exchange(p, KINK_MSG_CREATE, NULL, 0);
        else if (p->exch->type != KINK_MSG_CREATE)
            p->want_create = 1;
        break;
    case KINK_SA_EV_SOFT_EXPIRE:
        for (r = p->sas; r != NULL; r = r->next) {
            if ((ev->inbound ? r->pair.in.spi : r->pair.out.spi) == ev->spi &&
                !r->rekeying) {
                if (!r->initiator) {
                    /* The kernel's soft limit is the same on both sides:
                     * the initiator rekeys, we only if it has not (a
                     * collision would make two new pairs). */
                    time_t later = now() + (r->pair.hard_seconds -
                                            r->pair.soft_seconds) / 2;
                    if (r->soft_at < later)
                        r->soft_at = later;
                    sa_schedule(r);
                    break;
                }
                r->rekeying = 1;
                start_exchange(p, KINK_MSG_CREATE, r, 0);
                break;
            }
        }
        break;
    case KINK_SA_EV_HARD_EXPIRE:
        for (r = p->sas; r != NULL; r = r->next) {
            if ((ev->inbound ? r->pair.in.spi : r->pair.out.spi) == ev->spi) {
                sa_remove(r, "hard lifetime expired in the kernel");
                break;
            }
        }
        break;
    }
}

static void
sa_ev_cb(verto_ctx *loop, verto_ev *ev)
{
    (void)loop;
    (void)ev;
    kink_sa_process_events(D.sa);
}

/* ------------------------------------------------------------------ */
/* control */

static struct peer *
ctl_peer(const char *s)
{
    struct sockaddr_storage ss;
    size_t i;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, s, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, s,
                       &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else {
        for (i = 0; i < D.n_peers; i++) {
            if (strcmp(D.peers[i].conf->principal_name, s) == 0)
                return &D.peers[i];
        }
        return NULL;
    }
    return find_peer((struct sockaddr *)&ss);
}

static unsigned long
ctl_new_result(void)
{
    size_t n = sizeof(D.results) / sizeof(D.results[0]);
    size_t slot = D.next_ctl_id % n;
    unsigned long id = ++D.next_ctl_id;
    D.results[slot].id = id;
    D.results[slot].done = 0;
    D.results[slot].text[0] = '\0';
    D.results[slot].total = D.results[slot].remaining = 0;
    return id;
}

static const char *
ctl_handler(void *arg, int argc, char **argv, FILE *out)
{
    static char err[200];
    struct peer *p;
    struct sa_rec *r;
    size_t i;
    time_t t = now();
    char e[48], s[160], *me;

    (void)arg;
    if (strcmp(argv[0], "status") == 0 && argc == 1) {
        size_t nsa = 0;
        for (i = 0; i < D.n_peers; i++)
            for (r = D.peers[i].sas; r != NULL; r = r->next)
                nsa++;
        me = princ_str(kink_krb_self(D.krb));
        fprintf(out, "identity: %s\n", D.cfg->identity_type ==
                KINK_CONF_IDENTITY_KEYTAB ? "keytab" : "ccache");
        fprintf(out, "principal: %s\n", me);
        free(me);
        fprintf(out, "backend: %s\n", kink_sa_name(D.sa));
        for (i = 0; i < D.cfg->n_listen; i++) {
            char a[INET6_ADDRSTRLEN];
            addr_str((struct sockaddr *)&D.cfg->listen[i], a, sizeof(a));
            fprintf(out, "listen: %s port %u\n", a, ntohs(
                        D.cfg->listen[i].ss_family == AF_INET6 ?
                        ((struct sockaddr_in6 *)&D.cfg->listen[i])->sin6_port :
                        ((struct sockaddr_in *)&D.cfg->listen[i])->sin_port));
        }
        fprintf(out, "epoch: %u\n", D.epoch);
        fprintf(out, "peers: %zu\n", D.n_peers);
        fprintf(out, "sa-pairs: %zu\n", nsa);
        fprintf(out, "tickets-cached: %zu\n", kink_krb_cache_size(D.krb));
        fprintf(out, "messages-in: %lu\nmessages-out: %lu\nrefused: %lu\n",
                D.n_msgs_in, D.n_msgs_out, D.n_refused);
        fprintf(out, "uptime: %lld s\n", (long long)(t - D.started));
        return NULL;
    }
    if (strcmp(argv[0], "peers") == 0 && argc == 1) {
        for (i = 0; i < D.n_peers; i++) {
            size_t n = 0;
            p = &D.peers[i];
            for (r = p->sas; r != NULL; r = r->next)
                n++;
            fprintf(out, "%s %s state=%s epoch=%u sas=%zu created=%lu "
                    "failed=%lu last=%llds%s%s%s\n", p->name,
                    p->conf->principal_name, p->state,
                    p->epoch_known ? p->epoch : 0, n, p->n_created,
                    p->n_failed, p->last_heard ?
                    (long long)(t - p->last_heard) : -1LL,
                    p->last_error[0] ? " error=\"" : "", p->last_error,
                    p->last_error[0] ? "\"" : "");
        }
        return NULL;
    }
    if (strcmp(argv[0], "sa") == 0 && argc == 1) {
        for (i = 0; i < D.n_peers; i++) {
            for (r = D.peers[i].sas; r != NULL; r = r->next) {
                sel_str(&r->pair.sel, s, sizeof(s));
                fprintf(out, "%s in=0x%08x out=0x%08x esp %s %s selector %s "
                        "expires-in %llds\n", D.peers[i].name,
                        r->pair.in.spi, r->pair.out.spi,
                        esp_name(&r->pair.esp, e, sizeof(e)),
                        r->pair.esp.encap_mode == KINK_ENCAP_TUNNEL ?
                        "tunnel" : "transport", s,
                        r->hard_at ? (long long)(r->hard_at - t) : -1LL);
            }
        }
        return NULL;
    }
    if ((strcmp(argv[0], "initiate") == 0 && (argc == 2 || argc == 3)) ||
        (strcmp(argv[0], "delete") == 0 && argc == 2)) {
        unsigned long id, count = 0;
        char *end;
        if (argc == 3) {
            count = strtoul(argv[2], &end, 10);
            if (*end != '\0' || count < 1 || count > 1000000)
                return "COUNT must be 1 to 1000000";
        }
        p = ctl_peer(argv[1]);
        if (p == NULL) {
            snprintf(err, sizeof(err), "no peer %s in %s", argv[1],
                     D.cfg->path);
            return err;
        }
        if (p->exch != NULL && argv[0][0] == 'i')
            return "an exchange with this peer is in progress";
        id = ctl_new_result();
        if (count > 0) {
            size_t k;
            for (k = 0; k < sizeof(D.results) / sizeof(D.results[0]); k++) {
                if (D.results[k].id == id) {
                    D.results[k].total = D.results[k].remaining = count;
                    clock_gettime(CLOCK_MONOTONIC, &D.results[k].t0);
                }
            }
        }
        if (argv[0][0] == 'i')
            start_exchange(p, KINK_MSG_CREATE, NULL, id);
        else
            start_delete(p, id);
        fprintf(out, "pending %lu\n", id);
        return NULL;
    }
    if (strcmp(argv[0], "result") == 0 && argc == 2) {
        unsigned long id = strtoul(argv[1], NULL, 10);
        for (i = 0; i < sizeof(D.results) / sizeof(D.results[0]); i++) {
            if (D.results[i].id == id && id != 0) {
                if (!D.results[i].done) {
                    fprintf(out, "pending %lu\n", id);
                    return NULL;
                }
                if (strncmp(D.results[i].text, "error: ", 7) == 0) {
                    snprintf(err, sizeof(err), "%s", D.results[i].text + 7);
                    return err;
                }
                fprintf(out, "%s\n", D.results[i].text);
                return NULL;
            }
        }
        return "no such request";
    }
    return "unknown command (status, peers, sa, initiate PEER, delete PEER)";
}

/* ------------------------------------------------------------------ */
/* start and stop */

static void
stop_cb(verto_ctx *loop, verto_ev *ev)
{
    (void)ev;
    ks_agent_log(LOG_INFO, "stopping");
    D.stopping = 1;
    verto_break(loop);
}

static void
housekeeping_cb(verto_ctx *loop, verto_ev *ev)
{
    (void)loop;
    (void)ev;
    expire_acks();
    if (D.store != NULL)
        ks_store_replay_purge(D.ctx, D.store, now(), NULL);
}

/* Our address towards the peer: what the kernel would pick. */
static int
local_towards(const struct kink_conf_peer *c, struct sockaddr_storage *out)
{
    int fd = socket(c->addr.ss_family, SOCK_DGRAM, 0);
    socklen_t l = sizeof(*out);
    size_t i;

    /* A listen address of the same family that is not the wildcard is
     * the one we send from. */
    for (i = 0; i < D.cfg->n_listen; i++) {
        const struct sockaddr_storage *ls = &D.cfg->listen[i];
        if (ls->ss_family != c->addr.ss_family)
            continue;
        if ((ls->ss_family == AF_INET &&
             ((const struct sockaddr_in *)ls)->sin_addr.s_addr != 0) ||
            (ls->ss_family == AF_INET6 &&
             !IN6_IS_ADDR_UNSPECIFIED(
                 &((const struct sockaddr_in6 *)ls)->sin6_addr))) {
            memcpy(out, ls, sizeof(*out));
            if (fd >= 0)
                close(fd);
            return 0;
        }
    }
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&c->addr, c->addr_len) < 0 ||
        getsockname(fd, (struct sockaddr *)out, &l) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int
open_sockets(void)
{
    size_t i;
    int one = 1;
    krb5_error_code ret;

    for (i = 0; i < D.cfg->n_listen; i++) {
        const struct sockaddr_storage *ls = &D.cfg->listen[i];
        char a[INET6_ADDRSTRLEN];
        int fd = socket(ls->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        addr_str((const struct sockaddr *)ls, a, sizeof(a));
        if (fd < 0) {
            fprintf(stderr, "%s: socket for %s: %s\n", PROG, a,
                    strerror(errno));
            return -1;
        }
        if (ls->ss_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *)ls, D.cfg->listen_len[i]) < 0) {
            fprintf(stderr, "%s: cannot listen on %s port %u: %s\n", PROG, a,
                    ntohs(ls->ss_family == AF_INET6 ?
                          ((const struct sockaddr_in6 *)ls)->sin6_port :
                          ((const struct sockaddr_in *)ls)->sin_port),
                    strerror(errno));
            close(fd);
            return -1;
        }
        /* Our own KINK messages must not be held by the host-to-host
         * policies we install for the peers. */
        ret = kink_sa_bypass_socket(D.sa, fd, ls->ss_family);
        if (ret) {
            fprintf(stderr, "%s: %s\n", PROG, kmsg(ret));
            close(fd);
            return -1;
        }
        D.socks[D.n_socks] = fd;
        D.sock_family[D.n_socks++] = ls->ss_family;
        if (verto_add_io(D.loop, VERTO_EV_FLAG_PERSIST | VERTO_EV_FLAG_IO_READ,
                         sock_cb, fd) == NULL) {
            fprintf(stderr, "%s: cannot watch the socket\n", PROG);
            return -1;
        }
    }
    return 0;
}

/* With the xfrm backend: host-to-host policies towards the peer whose
 * traffic makes the kernel send ACQUIRE (start a negotiation). */
static int
add_trap(struct peer *p)
{
    struct kink_conf_selector sel;
    krb5_error_code ret;

    if (strcmp(kink_sa_name(D.sa), "xfrm") != 0)
        return 0;
    default_selector(p, &sel);
    ret = kink_sa_add_trap(D.sa, (struct sockaddr *)&p->local,
                           (struct sockaddr *)&p->conf->addr, &sel, p->reqid,
                           p->conf->policy.encap_mode == KINK_ENCAP_TUNNEL);
    if (ret) {
        log_krb5(LOG_ERR, ret, "ACQUIRE policy for %s", p->name);
        return -1;
    }
    return 0;
}

static int
setup_peers(void)
{
    size_t i, j;

    D.n_peers = D.cfg->n_peers;
    D.peers = calloc(D.n_peers ? D.n_peers : 1, sizeof(*D.peers));
    if (D.peers == NULL)
        return -1;
    for (i = 0; i < D.n_peers; i++) {
        struct peer *p = &D.peers[i];
        p->conf = &D.cfg->peers[i];
        addr_str((const struct sockaddr *)&p->conf->addr, p->name,
                 sizeof(p->name));
        p->state = "idle";
        p->sock = -1;
        for (j = 0; j < D.n_socks; j++) {
            if (D.sock_family[j] == p->conf->addr.ss_family) {
                p->sock = D.socks[j];
                break;
            }
        }
        if (p->sock < 0) {
            fprintf(stderr, "%s: %s: peer %s: no listen address of its "
                    "family\n", PROG, D.cfg->path, p->name);
            return -1;
        }
        if (local_towards(p->conf, &p->local) != 0) {
            fprintf(stderr, "%s: peer %s: no route (%s)\n", PROG, p->name,
                    strerror(errno));
            return -1;
        }
        p->reqid = D.next_reqid++;
        if (add_trap(p) != 0)
            return -1;
    }
    return 0;
}

/* On shutdown: DELETE to every peer we have SAs with (our side goes at
 * once, see start_delete), waiting up to 3 s for the peers' REPLYs. */
static void
stop_wait_cb(verto_ctx *loop, verto_ev *ev)
{
    (void)ev;
    verto_break(loop);
}

static void
shutdown_peers(void)
{
    size_t i;
    for (i = 0; i < D.n_peers; i++) {
        struct peer *p = &D.peers[i];
        if (p->exch != NULL)
            exch_fail(p->exch, 0, "kinkd stopping");
    }
    for (i = 0; i < D.n_peers; i++) {
        if (D.peers[i].sas != NULL)
            start_delete(&D.peers[i], 0);
    }
    if (exchanges_pending() > 0 &&
        verto_add_timeout(D.loop, VERTO_EV_FLAG_NONE, stop_wait_cb,
                          3000) != NULL)
        verto_run(D.loop);
    for (i = 0; i < D.n_peers; i++) {
        struct peer *p = &D.peers[i];
        if (p->exch != NULL)
            exch_free(p->exch);
        flush_peer(p, "kinkd stopping");
    }
}

/*
 * A keytab or credential cache holds keys: refuse to start when the file
 * (FILE: or WRFILE: names, or a bare path) can be read or written by
 * others than its owner.  Other cache and keytab types (KEYRING:, KCM:,
 * MEMORY:) are not files and are not checked.
 */
static int
check_secret_file(const char *what, const char *name)
{
    struct stat st;
    const char *path = name;

    if (name == NULL)
        return 0;
    if (strncmp(name, "FILE:", 5) == 0)
        path = name + 5;
    else if (strncmp(name, "WRFILE:", 7) == 0)
        path = name + 7;
    else if (strchr(name, ':') != NULL && name[0] != '/')
        return 0;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: %s %s: %s\n", PROG, what, path, strerror(errno));
        return -1;
    }
    if (st.st_mode & 077) {
        fprintf(stderr, "%s: %s %s is accessible by others (mode %03o): it "
                "must be 0600\n", PROG, what, path,
                (unsigned int)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: %s [-c CONFIG] [-d] [-K] [-t]\n"
            "  -c CONFIG  configuration file (default %s)\n"
            "  -d         debug: log to stderr, with debug messages\n"
            "  -K         with backend none: log the SA keys (tests only)\n"
            "  -t         check the configuration and exit\n",
            PROG, KINK_CONF_DEFAULT_PATH);
}

int
main(int argc, char **argv)
{
    const char *path = KINK_CONF_DEFAULT_PATH;
    int c, debug = 0, check_only = 0, rc = 1;
    krb5_error_code ret;
    struct stat st;
    uint32_t r;

    while ((c = getopt(argc, argv, "c:dKth")) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'd': debug = 1; break;
        case 'K': D.show_keys = 1; break;
        case 't': check_only = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ks_agent_log_init(PROG, debug, debug);
    ret = krb5_init_context(&D.ctx);
    if (ret) {
        fprintf(stderr, "%s: cannot initialise Kerberos: %s\n", PROG,
                error_message(ret));
        return 1;
    }
    ret = kink_conf_load(D.ctx, path, &D.cfg);
    if (ret) {
        fprintf(stderr, "%s: %s\n", PROG, kmsg(ret));
        goto out;
    }
    if (check_only) {
        printf("%s: %s: OK (%zu peers)\n", PROG, path, D.cfg->n_peers);
        rc = 0;
        goto out;
    }
    if (D.show_keys && D.cfg->backend != KINK_CONF_BACKEND_NONE) {
        fprintf(stderr, "%s: -K (log keys) is only for backend none\n", PROG);
        goto out;
    }
    if (check_secret_file("identity keytab",
                          D.cfg->identity_type == KINK_CONF_IDENTITY_KEYTAB ?
                          D.cfg->keytab : NULL) != 0 ||
        check_secret_file("identity ccache",
                          D.cfg->identity_type == KINK_CONF_IDENTITY_CCACHE ?
                          D.cfg->ccache : NULL) != 0)
        goto out;
    if (stat(D.cfg->state_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: state_dir %s: %s\n", PROG, D.cfg->state_dir,
                errno ? strerror(errno) : "not a directory");
        goto out;
    }
    if (st.st_mode & 077) {
        fprintf(stderr, "%s: state_dir %s is accessible by others (mode "
                "%03o): it must be 0700\n", PROG, D.cfg->state_dir,
                (unsigned int)(st.st_mode & 0777));
        goto out;
    }
    D.loop = verto_default(NULL, VERTO_EV_TYPE_IO | VERTO_EV_TYPE_TIMEOUT |
                           VERTO_EV_TYPE_SIGNAL);
    if (D.loop == NULL) {
        fprintf(stderr, "%s: no libverto event loop\n", PROG);
        goto out;
    }
    D.started = now();
    D.epoch = (uint32_t)D.started;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        goto out;
    D.next_xid = r;
    D.next_reqid = 0x4b000000u | (r & 0xffff);
    ret = ks_store_open(D.ctx, D.cfg->state_dir, 0, &D.store);
    if (ret) {
        fprintf(stderr, "%s: replay cache in %s: %s\n", PROG,
                D.cfg->state_dir, kmsg(ret));
        goto out;
    }
    ret = kink_sa_open(D.ctx, D.cfg->backend, D.show_keys, sa_event, NULL,
                       &D.sa);
    if (ret) {
        fprintf(stderr, "%s: SA backend: %s\n", PROG,
                kmsg(ret));
        goto out;
    }
    if (kink_sa_event_fd(D.sa) >= 0 &&
        verto_add_io(D.loop, VERTO_EV_FLAG_PERSIST | VERTO_EV_FLAG_IO_READ,
                     sa_ev_cb, kink_sa_event_fd(D.sa)) == NULL)
        goto out;
    ret = kink_krb_open(D.ctx, D.loop, D.cfg, &D.krb);
    if (ret) {
        fprintf(stderr, "%s: identity: %s\n", PROG,
                kmsg(ret));
        goto out;
    }
    if (open_sockets() != 0 || setup_peers() != 0)
        goto out;
    ret = kink_ctl_open(D.ctx, D.loop, D.cfg->control_socket, ctl_handler,
                        NULL, &D.ctl);
    if (ret) {
        fprintf(stderr, "%s: %s\n", PROG,
                kmsg(ret));
        goto out;
    }
    verto_add_signal(D.loop, VERTO_EV_FLAG_PERSIST, stop_cb, SIGTERM);
    verto_add_signal(D.loop, VERTO_EV_FLAG_PERSIST, stop_cb, SIGINT);
    verto_add_timeout(D.loop, VERTO_EV_FLAG_PERSIST, housekeeping_cb, 5000);
    {
        char *me = princ_str(kink_krb_self(D.krb));
        ks_agent_log(LOG_INFO, "started: %s, backend %s, %zu peers, "
                     "epoch %u", me, kink_sa_name(D.sa), D.n_peers, D.epoch);
        free(me);
    }
    if (!debug)
        ks_agent_log_to_syslog();
    if (strcmp(kink_sa_name(D.sa), "xfrm") == 0) {
        /* Tell every peer our new epoch (a STATUS): a peer that still
         * holds SAs with a previous kinkd of ours (one killed without
         * its DELETEs) flushes them now instead of sending into them
         * until they expire. */
        size_t i;
        for (i = 0; i < D.n_peers; i++)
            start_exchange(&D.peers[i], KINK_MSG_STATUS, NULL, 0);
    }
    verto_run(D.loop);
    D.stopping = 1;
    shutdown_peers();
    rc = 0;
out:
    if (D.ctl != NULL)
        kink_ctl_close(D.ctl);
    if (D.sa != NULL)
        kink_sa_close(D.sa);
    if (D.krb != NULL)
        kink_krb_close(D.krb);
    if (D.store != NULL)
        ks_store_close(D.store);
    while (D.acks != NULL) {
        struct pending_ack *pa = D.acks;
        D.acks = pa->next;
        pending_ack_free(pa);
    }
    if (D.peers != NULL) {
        size_t i, j;
        for (i = 0; i < D.n_peers; i++) {
            krb5_free_data_contents(D.ctx, &D.peers[i].tgt);
            free(D.peers[i].ack_msg);
            for (j = 0; j < DUP_SLOTS; j++)
                free(D.peers[i].dup[j].reply);
        }
        free(D.peers);
    }
    if (D.cfg != NULL)
        kink_conf_free(D.ctx, D.cfg);
    if (D.loop != NULL)
        verto_free(D.loop);
    krb5_free_context(D.ctx);
    ks_agent_log_close();
    return rc;
}
