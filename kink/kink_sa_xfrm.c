/*
 * The xfrm SA backend: the Linux kernel through XFRM netlink (kink_sa.h).
 *
 * Two sockets.  Requests go over one, synchronously: each carries a fresh
 * sequence number and waits for the kernel's answer with that number (an
 * ACK, an error, or for ALLOCSPI the new larval SA), skipping anything
 * else; a receive timeout of 1 s means a broken kernel cannot hang the
 * daemon.  The other socket is subscribed to the ACQUIRE and EXPIRE
 * groups, non-blocking, and is what the daemon watches.
 *
 * The backend remembers what it installed: SAs by destination and SPI
 * (with their direction, so an EXPIRE can say which way the SA went) and
 * policies by selector and direction (with the selector the daemon asked
 * for, so an ACQUIRE reports that selector rather than the one-flow
 * selector the kernel puts in it).  That list is what kink_sa_close
 * removes, what tells kink_sa_add that the policies of a rekeyed pair
 * are already there, and what filters events: EXPIREs of SAs someone else
 * installed (another keying daemon, ip xfrm) are not ours to handle.
 *
 * Policies: the outbound one (and inbound, and in tunnel mode forward)
 * with one required ESP template, no cleartext fallback.  Linux prefers
 * the lowest priority value; ours start at 10000, so an administrator's
 * bypass policies (below 10000) win, and more specific selectors get
 * lower values than broader ones.
 *
 * Keys pass through the request buffer only, zeroed after sending; replies
 * are received with NETLINK_CAP_ACK so that error messages do not echo
 * the request (and its keys) back, and the receive buffer is zeroed too.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>

#include "ks_agent.h"
#include "ks_util.h"
#include "kink_sa.h"
#include "kink_xfrm_msg.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define REQ_TIMEOUT_MS      1000
#define MSG_BUF             2048        /* one request */
#define RCV_BUF             16384       /* one datagram from the kernel */
#define EVENTS_PER_CALL     64          /* datagrams per process_events */
#define POLICY_PRIO_BASE    10000

/* An SA we installed, or an SPI we reserved (larval). */
struct xsa {
    struct xsa *next;
    uint16_t family;
    xfrm_address_t daddr, saddr;
    uint32_t spi;
    int inbound;
    int larval;
};

/* A policy we installed. */
struct xpol {
    struct xpol *next;
    struct kink_xfrm_sel sel;           /* with dir: the kernel's key */
    uint8_t dir;
    uint32_t reqid;
    int tunnel;
    int trap;                           /* installed by add_trap */
    struct sockaddr_storage local, remote;
    struct kink_conf_selector csel;     /* as the daemon gave it */
};

struct xstate {
    int req_fd, ev_fd;
    uint32_t seq;
    struct xsa *sas;
    struct xpol *pols;
    unsigned char rbuf[RCV_BUF];        /* request answers */
    unsigned char evbuf[RCV_BUF];       /* events: a callback may make
                                         * requests while one is read */
};

/* ---- addresses and selectors ---- */

static void
to_xaddr(const struct sockaddr *sa, uint16_t *family, xfrm_address_t *out)
{
    memset(out, 0, sizeof(*out));
    *family = sa->sa_family;
    if (sa->sa_family == AF_INET)
        memcpy(&out->a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else
        memcpy(out->a6, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

static void
from_xaddr(uint16_t family, const xfrm_address_t *a,
           struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)out;

        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, &a->a4, 4);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;

        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, a->a6, 16);
    }
}

static void
xaddr_str(uint16_t family, const xfrm_address_t *a, char *buf, size_t len)
{
    struct sockaddr_storage ss;

    from_xaddr(family, a, &ss);
    kink_sa_addr_str((struct sockaddr *)&ss, buf, len);
}

static int
xaddr_is_zero(const xfrm_address_t *a)
{
    static const xfrm_address_t zero;

    return memcmp(a, &zero, sizeof(zero)) == 0;
}

static void
prefix_to_xaddr(const struct kink_conf_prefix *p, xfrm_address_t *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out, p->addr, p->family == AF_INET ? 4 : 16);
}

/*
 * The kernel selector of an effective selector for a direction: outbound
 * traffic goes from our side to the peer's (whose port is the
 * destination port), inbound and forwarded traffic the other way.
 */
static void
xsel_of(const struct kink_conf_selector *eff, uint8_t dir,
        struct kink_xfrm_sel *out)
{
    const struct kink_conf_prefix *src, *dst;

    memset(out, 0, sizeof(*out));
    out->family = eff->remote.family;
    out->proto = eff->proto;
    if (dir == XFRM_POLICY_OUT) {
        src = &eff->local;
        dst = &eff->remote;
        out->dport = eff->port;
    } else {
        src = &eff->remote;
        dst = &eff->local;
        out->sport = eff->port;
    }
    prefix_to_xaddr(src, &out->saddr);
    prefix_to_xaddr(dst, &out->daddr);
    out->prefixlen_s = src->plen;
    out->prefixlen_d = dst->plen;
}

static int
xsel_equal(const struct kink_xfrm_sel *a, const struct kink_xfrm_sel *b)
{
    return a->family == b->family && a->prefixlen_s == b->prefixlen_s &&
        a->prefixlen_d == b->prefixlen_d && a->proto == b->proto &&
        a->sport == b->sport && a->dport == b->dport &&
        memcmp(&a->saddr, &b->saddr, sizeof(a->saddr)) == 0 &&
        memcmp(&a->daddr, &b->daddr, sizeof(a->daddr)) == 0;
}

/* Nonzero if addr lies in the prefix pfx/plen of family. */
static int
in_prefix(uint16_t family, const xfrm_address_t *addr,
          const xfrm_address_t *pfx, unsigned int plen)
{
    const unsigned char *a = (const unsigned char *)addr;
    const unsigned char *p = (const unsigned char *)pfx;
    unsigned int max = family == AF_INET ? 32 : 128, full, rest;

    if (plen > max)
        return 0;
    full = plen / 8;
    rest = plen % 8;
    if (memcmp(a, p, full) != 0)
        return 0;
    if (rest && ((a[full] ^ p[full]) & (0xff << (8 - rest)) & 0xff))
        return 0;
    return 1;
}

/* Nonzero if the one-flow selector f (from an ACQUIRE) lies within the
 * policy selector s. */
static int
xsel_contains(const struct kink_xfrm_sel *s, const struct kink_xfrm_sel *f)
{
    if (s->family != f->family)
        return 0;
    if (s->proto != 0 && s->proto != f->proto)
        return 0;
    if (s->sport != 0 && s->sport != f->sport)
        return 0;
    if (s->dport != 0 && s->dport != f->dport)
        return 0;
    return in_prefix(s->family, &f->saddr, &s->saddr, s->prefixlen_s) &&
        in_prefix(s->family, &f->daddr, &s->daddr, s->prefixlen_d);
}

/* Lower is preferred: unspecified address bits, then an open protocol,
 * then an open port, each push a selector behind narrower ones. */
static uint32_t
policy_priority(const struct kink_xfrm_sel *s)
{
    unsigned int max = s->family == AF_INET ? 32 : 128;

    return POLICY_PRIO_BASE + 4 * ((max - s->prefixlen_s) +
                                   (max - s->prefixlen_d)) +
        (s->proto ? 0 : 2) + (s->sport || s->dport ? 0 : 1);
}

static const char *
dir_name(uint8_t dir)
{
    return dir == XFRM_POLICY_OUT ? "out" : dir == XFRM_POLICY_IN ? "in" :
        "fwd";
}

static void
xsel_str(const struct kink_xfrm_sel *s, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

    xaddr_str(s->family, &s->saddr, a, sizeof(a));
    xaddr_str(s->family, &s->daddr, b, sizeof(b));
    snprintf(buf, len, "%s/%u -> %s/%u", a, s->prefixlen_s, b,
             s->prefixlen_d);
}

/* ---- netlink requests ---- */

/* The kernel's extended-ACK message of the NLMSG_ERROR at msg (len bytes,
 * already delimited by the parser), sanitized, or "" if there is none. */
static void
extack_msg(const unsigned char *msg, size_t len, char *out, size_t outlen)
{
    struct nlmsghdr h;
    struct nlmsgerr e;
    struct ks_cursor c;
    size_t skip, i;

    out[0] = '\0';
    if (len < NLMSG_HDRLEN + sizeof(e))
        return;
    memcpy(&h, msg, sizeof(h));
    if (!(h.nlmsg_flags & NLM_F_ACK_TLVS) || h.nlmsg_len > len)
        return;
    memcpy(&e, msg + NLMSG_HDRLEN, sizeof(e));
    skip = NLMSG_HDRLEN + sizeof(e);
    if (!(h.nlmsg_flags & NLM_F_CAPPED)) {
        /* The whole request is echoed: skip its payload too. */
        if (e.msg.nlmsg_len < NLMSG_HDRLEN)
            return;
        skip += NLMSG_ALIGN(e.msg.nlmsg_len - NLMSG_HDRLEN);
    }
    if (skip > h.nlmsg_len)
        return;
    ks_cursor_init(&c, msg + skip, h.nlmsg_len - skip);
    while (ks_cursor_left(&c) >= sizeof(struct nlattr)) {
        struct nlattr a;
        const unsigned char *p = ks_cursor_bytes(&c, sizeof(a));
        const unsigned char *d;
        size_t dlen, pad;

        memcpy(&a, p, sizeof(a));
        if (a.nla_len < sizeof(a))
            return;
        dlen = a.nla_len - sizeof(a);
        d = ks_cursor_bytes(&c, dlen);
        if (d == NULL)
            return;
        /* The last attribute's padding may be cut off. */
        pad = (size_t)NLA_ALIGN(a.nla_len) - a.nla_len;
        if (pad > ks_cursor_left(&c))
            pad = ks_cursor_left(&c);
        (void)ks_cursor_bytes(&c, pad);
        if ((a.nla_type & NLA_TYPE_MASK) != NLMSGERR_ATTR_MSG)
            continue;
        for (i = 0; i < dlen && i + 1 < outlen && d[i] != '\0'; i++)
            out[i] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '?';
        out[i] = '\0';
        return;
    }
}

static long
ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000L +
        (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/*
 * Send the request msg[0..len) (whose sequence number is seq) and wait for
 * its answer.  Return 0 on an ACK or (with reply) the NEWSA answer, the
 * kernel's positive errno (its extended-ACK text in kmsg), ETIMEDOUT when
 * nothing came within REQ_TIMEOUT_MS, or a local errno.
 */
static int
request(struct xstate *st, const unsigned char *msg, size_t len,
        uint32_t seq, struct kink_xfrm_event *reply, char *kmsg,
        size_t kmsglen)
{
    struct sockaddr_nl kernel, from;
    struct timespec t0;
    int result = -1;

    kmsg[0] = '\0';
    memset(&kernel, 0, sizeof(kernel));
    kernel.nl_family = AF_NETLINK;
    while (sendto(st->req_fd, msg, len, 0, (struct sockaddr *)&kernel,
                  sizeof(kernel)) < 0) {
        if (errno != EINTR)
            return errno;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (result < 0) {
        socklen_t flen = sizeof(from);
        ssize_t n;
        size_t off = 0;

        if (ms_since(&t0) >= REQ_TIMEOUT_MS) {
            result = ETIMEDOUT;
            break;
        }
        n = recvfrom(st->req_fd, st->rbuf, sizeof(st->rbuf), 0,
                     (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno == EINTR || errno == ENOBUFS)
                continue;
            result = (errno == EAGAIN || errno == EWOULDBLOCK) ?
                ETIMEDOUT : errno;
            break;
        }
        if (flen < sizeof(from) || from.nl_pid != 0)
            continue;               /* not from the kernel */
        while (off < (size_t)n && result < 0) {
            struct kink_xfrm_event ev;
            const char *why = NULL;
            size_t used;

            if (kink_xfrm_parse(st->rbuf + off, n - off, &ev, &used,
                                &why) != 0) {
                ks_agent_log(LOG_WARNING, "xfrm: malformed netlink reply "
                             "skipped: %s", why);
                break;
            }
            if (ev.seq == seq && ev.type == KINK_XFRM_EV_ERROR) {
                result = ev.error;
                if (ev.error)
                    extack_msg(st->rbuf + off, used, kmsg, kmsglen);
            } else if (ev.seq == seq && ev.type == KINK_XFRM_EV_SA &&
                       reply != NULL) {
                *reply = ev;
                result = 0;
            }
            off += used;
            if (used == 0)
                break;
        }
    }
    /* An error reply may echo (part of) the request: no keys left over. */
    ks_zero(st->rbuf, sizeof(st->rbuf));
    return result;
}

static const char *
hint(int err)
{
    switch (err) {
    case EPROTONOSUPPORT:
        return "no ESP support in this kernel?";
    case ENOSYS:
        return "ESP algorithm not available in this kernel, or no ESP "
            "support?";
    case EPERM:
    case EACCES:
        return "kinkd needs CAP_NET_ADMIN";
    case ETIMEDOUT:
        return "no answer from the kernel within 1 s";
    default:
        return NULL;
    }
}

/* Set a message "WHAT: strerror (kernel text; hint)" for err on ctx. */
static krb5_error_code
req_error(krb5_context ctx, int err, const char *kmsg, const char *what)
{
    const char *h = hint(err);
    int k = kmsg != NULL && kmsg[0] != '\0';

    if (k || h != NULL)
        krb5_set_error_message(ctx, err, "%s: %s (%s%s%s)", what,
                               strerror(err), k ? kmsg : "",
                               k && h != NULL ? "; " : "",
                               h != NULL ? h : "");
    else
        krb5_set_error_message(ctx, err, "%s: %s", what, strerror(err));
    return err;
}

/* ---- bookkeeping ---- */

static struct xsa *
find_sa(struct xstate *st, uint16_t family, const xfrm_address_t *daddr,
        uint32_t spi)
{
    struct xsa *s;

    for (s = st->sas; s != NULL; s = s->next) {
        if (s->family == family && s->spi == spi &&
            memcmp(&s->daddr, daddr, sizeof(*daddr)) == 0)
            return s;
    }
    return NULL;
}

static void
forget_sa(struct xstate *st, uint16_t family, const xfrm_address_t *daddr,
          uint32_t spi)
{
    struct xsa **pp, *s;

    for (pp = &st->sas; (s = *pp) != NULL; pp = &s->next) {
        if (s->family == family && s->spi == spi &&
            memcmp(&s->daddr, daddr, sizeof(*daddr)) == 0) {
            *pp = s->next;
            free(s);
            return;
        }
    }
}

/* Record an SA (or update the larval record of its SPI). */
static krb5_error_code
remember_sa(struct xstate *st, uint16_t family, const xfrm_address_t *saddr,
            const xfrm_address_t *daddr, uint32_t spi, int inbound,
            int larval)
{
    struct xsa *s = find_sa(st, family, daddr, spi);

    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return ENOMEM;
        s->next = st->sas;
        st->sas = s;
    }
    s->family = family;
    s->saddr = *saddr;
    s->daddr = *daddr;
    s->spi = spi;
    s->inbound = inbound;
    s->larval = larval;
    return 0;
}

static struct xpol *
find_pol(struct xstate *st, const struct kink_xfrm_sel *sel, uint8_t dir)
{
    struct xpol *p;

    for (p = st->pols; p != NULL; p = p->next) {
        if (p->dir == dir && xsel_equal(&p->sel, sel))
            return p;
    }
    return NULL;
}

static void
forget_pol(struct xstate *st, const struct xpol *target)
{
    struct xpol **pp, *p;

    for (pp = &st->pols; (p = *pp) != NULL; pp = &p->next) {
        if (p == target) {
            *pp = p->next;
            free(p);
            return;
        }
    }
}

/* ---- kernel operations ---- */

/* Keep the message of ret across cleanup that may set others. */
static void
cleanup_keep_msg(struct kink_sa_backend *be, krb5_error_code ret,
                 char *buf, size_t len)
{
    const char *m = krb5_get_error_message(be->ctx, ret);

    snprintf(buf, len, "%s", m);
    krb5_free_error_message(be->ctx, m);
}

/* DELSA; ESRCH (already gone) counts as success.  0 or an errno, with a
 * message on ctx. */
static int
del_sa(struct kink_sa_backend *be, uint16_t family,
       const xfrm_address_t *daddr, uint32_t spi)
{
    struct xstate *st = be->state;
    unsigned char msg[MSG_BUF];
    char kmsg[128], a[INET6_ADDRSTRLEN], what[160];
    const char *why = NULL;
    size_t len;
    uint32_t seq = ++st->seq;
    int err;

    xaddr_str(family, daddr, a, sizeof(a));
    snprintf(what, sizeof(what), "XFRM_MSG_DELSA for SPI 0x%08" PRIx32
             " to %s", spi, a);
    err = kink_xfrm_build_delsa(msg, sizeof(msg), seq, family, daddr, spi,
                                &len, &why);
    if (err) {
        krb5_set_error_message(be->ctx, err, "%s: %s", what,
                               why ? why : strerror(err));
        return err;
    }
    err = request(st, msg, len, seq, NULL, kmsg, sizeof(kmsg));
    if (err == ESRCH || err == ENOENT)
        err = 0;
    forget_sa(st, family, daddr, spi);
    if (err)
        return req_error(be->ctx, err, kmsg, what);
    return 0;
}

/* DELPOLICY of a recorded policy; ENOENT counts as success.  The record
 * is dropped either way (the kernel is the one to ask again). */
static int
del_pol(struct kink_sa_backend *be, struct xpol *p)
{
    struct xstate *st = be->state;
    unsigned char msg[MSG_BUF];
    char kmsg[128], s[128], what[200];
    const char *why = NULL;
    size_t len;
    uint32_t seq = ++st->seq;
    int err;

    xsel_str(&p->sel, s, sizeof(s));
    snprintf(what, sizeof(what), "XFRM_MSG_DELPOLICY %s %s", s,
             dir_name(p->dir));
    err = kink_xfrm_build_delpolicy(msg, sizeof(msg), seq, &p->sel, p->dir,
                                    &len, &why);
    if (!err) {
        err = request(st, msg, len, seq, NULL, kmsg, sizeof(kmsg));
        if (err == ENOENT || err == ESRCH)
            err = 0;
        if (err)
            req_error(be->ctx, err, kmsg, what);
    } else {
        krb5_set_error_message(be->ctx, err, "%s: %s", what,
                               why ? why : strerror(err));
    }
    forget_pol(st, p);
    return err;
}

/*
 * Install the policy (sel, dir) with a template local -> remote (or the
 * reverse for in/fwd) and record it; *added says whether a new one was
 * installed (0: ours already, same reqid).  EEXIST when we have one with
 * another reqid.  A policy with this selector that someone else left in
 * the kernel (a kinkd that crashed) is replaced by ours.
 */
static krb5_error_code
add_pol(struct kink_sa_backend *be, const struct kink_xfrm_sel *sel,
        uint8_t dir, const struct sockaddr *local,
        const struct sockaddr *remote, uint32_t reqid, int tunnel, int trap,
        const struct kink_conf_selector *csel, struct xpol **added)
{
    struct xstate *st = be->state;
    struct kink_xfrm_policy pol;
    struct xpol *p;
    unsigned char msg[MSG_BUF];
    char kmsg[128], s[128], what[200];
    const char *why = NULL;
    struct nlmsghdr h;
    uint16_t family;
    size_t len;
    uint32_t seq;
    int err;

    *added = NULL;
    xsel_str(sel, s, sizeof(s));
    snprintf(what, sizeof(what), "XFRM_MSG_NEWPOLICY %s %s", s,
             dir_name(dir));
    p = find_pol(st, sel, dir);
    if (p != NULL) {
        if (p->reqid == reqid)
            return 0;
        krb5_set_error_message(be->ctx, EEXIST, "%s: kinkd has this policy "
                               "with reqid %" PRIu32 ", not %" PRIu32,
                               what, p->reqid, reqid);
        return EEXIST;
    }
    memset(&pol, 0, sizeof(pol));
    pol.sel = *sel;
    pol.dir = dir;
    pol.priority = policy_priority(sel);
    if (dir == XFRM_POLICY_OUT) {
        to_xaddr(local, &family, &pol.tmpl_saddr);
        to_xaddr(remote, &family, &pol.tmpl_daddr);
    } else {
        to_xaddr(remote, &family, &pol.tmpl_saddr);
        to_xaddr(local, &family, &pol.tmpl_daddr);
    }
    pol.tmpl_family = family;
    pol.reqid = reqid;
    pol.tunnel = tunnel;
    /* The record first: a policy in the kernel that kinkd does not know
     * about would outlive it. */
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return ENOMEM;
    seq = ++st->seq;
    err = kink_xfrm_build_newpolicy(msg, sizeof(msg), seq, &pol, &len, &why);
    if (err) {
        free(p);
        krb5_set_error_message(be->ctx, err, "%s: %s", what,
                               why ? why : strerror(err));
        return err;
    }
    err = request(st, msg, len, seq, NULL, kmsg, sizeof(kmsg));
    if (err == EEXIST) {
        /* Same message as an update: XFRM_MSG_UPDPOLICY, not exclusive. */
        memcpy(&h, msg, sizeof(h));
        h.nlmsg_type = XFRM_MSG_UPDPOLICY;
        h.nlmsg_flags &= ~NLM_F_EXCL;
        h.nlmsg_seq = seq = ++st->seq;
        memcpy(msg, &h, sizeof(h));
        err = request(st, msg, len, seq, NULL, kmsg, sizeof(kmsg));
        if (!err)
            ks_agent_log(LOG_NOTICE, "xfrm: replaced a policy %s %s that "
                         "kinkd had not installed (left over?)", s,
                         dir_name(dir));
    }
    if (err) {
        free(p);
        return req_error(be->ctx, err, kmsg, what);
    }
    p->sel = *sel;
    p->dir = dir;
    p->reqid = reqid;
    p->tunnel = tunnel;
    p->trap = trap;
    memcpy(&p->local, local, local->sa_family == AF_INET ?
           sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    memcpy(&p->remote, remote, remote->sa_family == AF_INET ?
           sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    p->csel = *csel;
    p->next = st->pols;
    st->pols = p;
    *added = p;
    return 0;
}

/* Install the out, in and (tunnel) fwd policies that are missing; on
 * failure remove the ones this call added.  added[] gets them. */
static krb5_error_code
add_pols(struct kink_sa_backend *be, const struct sockaddr *local,
         const struct sockaddr *remote, const struct kink_conf_selector *sel,
         uint32_t reqid, int tunnel, int trap, struct xpol *added[3],
         int *n_added)
{
    static const uint8_t dirs[3] = {
        XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD
    };
    struct kink_conf_selector eff;
    struct kink_xfrm_sel xs;
    krb5_error_code ret = 0;
    int i, n = tunnel ? 3 : 2;

    *n_added = 0;
    kink_sa_effective_sel(local, remote, sel, tunnel, &eff);
    for (i = 0; i < n && !ret; i++) {
        struct xpol *p = NULL;

        xsel_of(&eff, dirs[i], &xs);
        ret = add_pol(be, &xs, dirs[i], local, remote, reqid, tunnel, trap,
                      sel, &p);
        if (!ret && p != NULL)
            added[(*n_added)++] = p;
    }
    if (ret && *n_added > 0) {
        char keep[512];

        /* Keep the failure's message over those of the cleanup. */
        cleanup_keep_msg(be, ret, keep, sizeof(keep));
        while (*n_added > 0)
            (void)del_pol(be, added[--*n_added]);
        krb5_set_error_message(be->ctx, ret, "%s", keep);
    }
    return ret;
}

/* ---- the ops ---- */

static krb5_error_code
open_error(krb5_context ctx, int err, const char *what)
{
    const char *h;

    if (err == EPROTONOSUPPORT || err == EAFNOSUPPORT)
        h = "no XFRM netlink in this kernel (CONFIG_XFRM_USER, module "
            "xfrm_user)?";
    else if (err == EPERM || err == EACCES)
        h = "kinkd needs CAP_NET_ADMIN";
    else
        h = NULL;
    krb5_set_error_message(ctx, err, "xfrm backend: %s: %s%s%s%s", what,
                           strerror(err), h ? " (" : "", h ? h : "",
                           h ? ")" : "");
    return err;
}

static krb5_error_code
xfrm_open(struct kink_sa_backend *be)
{
    struct xstate *st;
    struct sockaddr_nl sa;
    struct timeval tv;
    int one = 1, err, rcvbuf = 1 << 20;

    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return ENOMEM;
    st->req_fd = st->ev_fd = -1;
    st->req_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_XFRM);
    if (st->req_fd < 0) {
        err = open_error(be->ctx, errno, "cannot open a NETLINK_XFRM "
                         "socket");
        goto fail;
    }
    memset(&sa, 0, sizeof(sa));
    sa.nl_family = AF_NETLINK;
    if (bind(st->req_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        err = open_error(be->ctx, errno, "cannot bind the XFRM request "
                         "socket");
        goto fail;
    }
    tv.tv_sec = REQ_TIMEOUT_MS / 1000;
    tv.tv_usec = (REQ_TIMEOUT_MS % 1000) * 1000;
    if (setsockopt(st->req_fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
                   sizeof(tv)) < 0) {
        err = open_error(be->ctx, errno, "cannot set a receive timeout");
        goto fail;
    }
    /* Best effort: errors without the request echoed (keys), with the
     * kernel's explanation. */
    (void)setsockopt(st->req_fd, SOL_NETLINK, NETLINK_CAP_ACK, &one,
                     sizeof(one));
    (void)setsockopt(st->req_fd, SOL_NETLINK, NETLINK_EXT_ACK, &one,
                     sizeof(one));

    st->ev_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                       NETLINK_XFRM);
    if (st->ev_fd < 0) {
        err = open_error(be->ctx, errno, "cannot open a NETLINK_XFRM "
                         "socket");
        goto fail;
    }
    /* A burst of ACQUIREs (many flows starting at once) should not be
     * lost; the kernel caps this at net.core.rmem_max. */
    (void)setsockopt(st->ev_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
                     sizeof(rcvbuf));
    memset(&sa, 0, sizeof(sa));
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = XFRMGRP_ACQUIRE | XFRMGRP_EXPIRE;
    if (bind(st->ev_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        err = open_error(be->ctx, errno, "cannot subscribe to XFRM "
                         "ACQUIRE and EXPIRE events");
        goto fail;
    }
    st->seq = 1;
    be->state = st;
    return 0;

fail:
    if (st->req_fd >= 0)
        close(st->req_fd);
    if (st->ev_fd >= 0)
        close(st->ev_fd);
    free(st);
    return err;
}

static void
xfrm_close(struct kink_sa_backend *be)
{
    struct xstate *st = be->state;
    unsigned int nsa = 0, npol = 0, nfail = 0;

    if (st == NULL)
        return;
    /* SAs first: until the policies go, traffic is held, not sent in
     * the clear. */
    while (st->sas != NULL) {
        struct xsa *s = st->sas;
        int err = del_sa(be, s->family, &s->daddr, s->spi);

        /* del_sa forgets the SA in any case, so this loop ends. */
        if (err == 0) {
            nsa++;
        } else {
            nfail++;
            ks_agent_log_krb5(be->ctx, LOG_ERR, err, "xfrm: at close");
        }
    }
    while (st->pols != NULL) {
        int err = del_pol(be, st->pols);

        if (err == 0) {
            npol++;
        } else {
            nfail++;
            ks_agent_log_krb5(be->ctx, LOG_ERR, err, "xfrm: at close");
        }
    }
    if (nsa || npol || nfail)
        ks_agent_log(LOG_INFO, "xfrm: removed %u SAs and %u policies at "
                     "close%s", nsa, npol, nfail ? " (some failed)" : "");
    close(st->req_fd);
    close(st->ev_fd);
    ks_zero(st->rbuf, sizeof(st->rbuf));
    ks_zero(st->evbuf, sizeof(st->evbuf));
    free(st);
    be->state = NULL;
}

static int
xfrm_event_fd(const struct kink_sa_backend *be)
{
    const struct xstate *st = be->state;

    return st->ev_fd;
}

static krb5_error_code
xfrm_alloc_spi(struct kink_sa_backend *be, const struct sockaddr *local,
               const struct sockaddr *remote, uint32_t reqid,
               uint32_t *spi_out)
{
    struct xstate *st = be->state;
    struct kink_xfrm_event reply;
    xfrm_address_t la, ra;
    unsigned char msg[MSG_BUF];
    char kmsg[128], peer[INET6_ADDRSTRLEN], what[160];
    const char *why = NULL;
    uint16_t family;
    uint32_t seq = ++st->seq;
    size_t len;
    int err;

    to_xaddr(local, &family, &la);
    to_xaddr(remote, &family, &ra);
    kink_sa_addr_str(remote, peer, sizeof(peer));
    snprintf(what, sizeof(what), "XFRM_MSG_ALLOCSPI for SAs from %s", peer);
    /* Inbound: from the peer (saddr) to us (daddr). */
    err = kink_xfrm_build_allocspi(msg, sizeof(msg), seq, family, &ra, &la,
                                   reqid, 0, 256, 0xffffffffU, &len, &why);
    if (err) {
        krb5_set_error_message(be->ctx, err, "%s: %s", what,
                               why ? why : strerror(err));
        return err;
    }
    memset(&reply, 0, sizeof(reply));
    err = request(st, msg, len, seq, &reply, kmsg, sizeof(kmsg));
    if (err)
        return req_error(be->ctx, err, kmsg, what);
    if (reply.spi < 256 || reply.family != family) {
        krb5_set_error_message(be->ctx, EPROTO, "%s: the kernel answered "
                               "with SPI 0x%08" PRIx32, what, reply.spi);
        return EPROTO;
    }
    err = remember_sa(st, family, &ra, &la, reply.spi, 1, 1);
    if (err) {
        (void)del_sa(be, family, &la, reply.spi);
        return ENOMEM;
    }
    ks_agent_log(LOG_DEBUG, "xfrm: reserved SPI 0x%08" PRIx32 " for SAs "
                 "from %s (reqid %" PRIu32 ")", reply.spi, peer, reqid);
    *spi_out = reply.spi;
    return 0;
}

static enum kink_xfrm_enc
xenc(const struct kink_isakmp_esp *esp)
{
    return esp->transform_id == KINK_ESP_AES_GCM_16 ?
        KINK_XFRM_ENC_AES_GCM16 : KINK_XFRM_ENC_AES_CBC;
}

static enum kink_xfrm_auth
xauth(const struct kink_isakmp_esp *esp)
{
    if (esp->transform_id == KINK_ESP_AES_GCM_16)
        return KINK_XFRM_AUTH_NONE;
    return esp->auth_alg == KINK_AUTH_HMAC_SHA1 ?
        KINK_XFRM_AUTH_HMAC_SHA1_96 : KINK_XFRM_AUTH_HMAC_SHA256_128;
}

/* NEWSA (or UPDSA over our larval SPI, NEWSA if it is gone) for one
 * direction of pair.  *ours: whether the SPI is now ours to remove when
 * the pair fails (installed here, or our larval one), even on failure. */
static krb5_error_code
add_one_sa(struct kink_sa_backend *be, const struct kink_sa_pair *pair,
           const struct kink_conf_selector *eff, int inbound, int *ours)
{
    struct xstate *st = be->state;
    const struct kink_sa_dir *d = inbound ? &pair->in : &pair->out;
    const struct sockaddr *src, *dst;
    struct kink_xfrm_sa sa;
    struct xsa *rec;
    unsigned char msg[MSG_BUF];
    char kmsg[128], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], what[200];
    const char *why = NULL;
    size_t len;
    uint32_t seq;
    int err;

    src = (const struct sockaddr *)(inbound ? &pair->remote : &pair->local);
    dst = (const struct sockaddr *)(inbound ? &pair->local : &pair->remote);
    memset(&sa, 0, sizeof(sa));
    to_xaddr(src, &sa.family, &sa.saddr);
    to_xaddr(dst, &sa.family, &sa.daddr);
    sa.spi = d->spi;
    sa.reqid = pair->reqid;
    sa.tunnel = pair->esp.encap_mode == KINK_ENCAP_TUNNEL;
    /* 64-packet window for inbound replay protection (RFC 4303 3.4.3);
     * outbound SAs do not check. */
    sa.replay_window = inbound ? 64 : 0;
    xsel_of(eff, inbound ? XFRM_POLICY_IN : XFRM_POLICY_OUT, &sa.sel);
    sa.soft_seconds = pair->soft_seconds;
    sa.hard_seconds = pair->hard_seconds;
    sa.soft_bytes = pair->soft_kbytes * 1024;
    sa.hard_bytes = pair->hard_kbytes * 1024;
    sa.enc = xenc(&pair->esp);
    sa.enc_key = d->enc_key;
    sa.enc_key_len = d->enc_key_len;
    sa.auth = xauth(&pair->esp);
    sa.auth_key = d->auth_key_len ? d->auth_key : NULL;
    sa.auth_key_len = d->auth_key_len;
    rec = find_sa(st, sa.family, &sa.daddr, sa.spi);
    /* The inbound SPI normally came from ALLOCSPI: a larval SA to fill. */
    sa.update = inbound && rec != NULL && rec->larval;
    /* Anything else with this SPI (a daemon bug, another keying daemon)
     * is not ours: NEWSA fails with EEXIST and it is left alone. */
    *ours = sa.update;

    kink_sa_addr_str(src, a, sizeof(a));
    kink_sa_addr_str(dst, b, sizeof(b));
    for (;;) {
        snprintf(what, sizeof(what), "%s for SPI 0x%08" PRIx32 " from %s "
                 "to %s", sa.update ? "XFRM_MSG_UPDSA" : "XFRM_MSG_NEWSA",
                 sa.spi, a, b);
        seq = ++st->seq;
        err = kink_xfrm_build_newsa(msg, sizeof(msg), seq, &sa, &len, &why);
        if (err) {
            ks_zero(msg, sizeof(msg));
            krb5_set_error_message(be->ctx, err, "%s: %s", what,
                                   why ? why : strerror(err));
            return err;
        }
        err = request(st, msg, len, seq, NULL, kmsg, sizeof(kmsg));
        ks_zero(msg, sizeof(msg));
        /* The larval SA expired (the kernel's acquire timeout, 30 s by
         * default) while the exchange went on: create it afresh. */
        if (err == ESRCH && sa.update) {
            sa.update = 0;
            continue;
        }
        break;
    }
    if (err)
        return req_error(be->ctx, err, kmsg, what);
    *ours = 1;
    if (remember_sa(st, sa.family, &sa.saddr, &sa.daddr, sa.spi, inbound,
                    0) != 0) {
        (void)del_sa(be, sa.family, &sa.daddr, sa.spi);
        krb5_set_error_message(be->ctx, ENOMEM, "%s: out of memory", what);
        return ENOMEM;
    }
    return 0;
}

static krb5_error_code
xfrm_add(struct kink_sa_backend *be, const struct kink_sa_pair *pair,
         const char *desc)
{
    struct kink_conf_selector eff;
    const struct sockaddr *local = (const struct sockaddr *)&pair->local;
    const struct sockaddr *remote = (const struct sockaddr *)&pair->remote;
    int tunnel = pair->esp.encap_mode == KINK_ENCAP_TUNNEL;
    struct xpol *added[3];
    int n_added = 0, in_ours = 0, out_ours = 0;
    xfrm_address_t la, ra;
    uint16_t family;
    char keep[512];
    krb5_error_code ret;

    to_xaddr(local, &family, &la);
    to_xaddr(remote, &family, &ra);
    kink_sa_effective_sel(local, remote, &pair->sel, tunnel, &eff);
    ret = add_one_sa(be, pair, &eff, 1, &in_ours);
    if (ret)
        goto fail;
    ret = add_one_sa(be, pair, &eff, 0, &out_ours);
    if (ret)
        goto fail;
    /* A rekey finds its policies in place: make-before-break. */
    ret = add_pols(be, local, remote, &pair->sel, pair->reqid, tunnel, 0,
                   added, &n_added);
    if (ret)
        goto fail;
    ks_agent_log(LOG_INFO, "xfrm: installed SA pair with %s", desc);
    return 0;

fail:
    /* Nothing of the pair stays, not even the larval inbound SPI; what
     * was not ours stays. */
    cleanup_keep_msg(be, ret, keep, sizeof(keep));
    if (in_ours)
        (void)del_sa(be, family, &la, pair->in.spi);
    if (out_ours)
        (void)del_sa(be, family, &ra, pair->out.spi);
    krb5_set_error_message(be->ctx, ret, "%s", keep);
    return ret;
}

static krb5_error_code
xfrm_del(struct kink_sa_backend *be, const struct kink_sa_pair *pair,
         int policies, const char *desc)
{
    static const uint8_t dirs[3] = {
        XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD
    };
    struct xstate *st = be->state;
    const struct sockaddr *local = (const struct sockaddr *)&pair->local;
    const struct sockaddr *remote = (const struct sockaddr *)&pair->remote;
    int tunnel = pair->esp.encap_mode == KINK_ENCAP_TUNNEL;
    xfrm_address_t la, ra;
    uint16_t family;
    krb5_error_code ret = 0, r;
    char keep[512] = "";
    int i;

    to_xaddr(local, &family, &la);
    to_xaddr(remote, &family, &ra);
    if (pair->in.spi != 0) {
        r = del_sa(be, family, &la, pair->in.spi);
        if (r && !ret) {
            ret = r;
            cleanup_keep_msg(be, r, keep, sizeof(keep));
        }
    }
    if (pair->out.spi != 0) {
        r = del_sa(be, family, &ra, pair->out.spi);
        if (r && !ret) {
            ret = r;
            cleanup_keep_msg(be, r, keep, sizeof(keep));
        }
    }
    if (policies) {
        struct kink_conf_selector eff;
        struct kink_xfrm_sel xs;

        kink_sa_effective_sel(local, remote, &pair->sel, tunnel, &eff);
        for (i = 0; i < 3; i++) {
            struct xpol *p;

            xsel_of(&eff, dirs[i], &xs);
            p = find_pol(st, &xs, dirs[i]);
            if (p == NULL)
                continue;       /* not ours, or not in this mode */
            r = del_pol(be, p);
            if (r && !ret) {
                ret = r;
                cleanup_keep_msg(be, r, keep, sizeof(keep));
            }
        }
    }
    if (ret) {
        krb5_set_error_message(be->ctx, ret, "%s", keep);
        return ret;
    }
    ks_agent_log(LOG_INFO, "xfrm: deleted SA pair with %s", desc);
    return 0;
}

static void
xfrm_release_spi(struct kink_sa_backend *be, const struct sockaddr *local,
                 const struct sockaddr *remote, uint32_t spi)
{
    xfrm_address_t la;
    uint16_t family;
    int err;

    (void)remote;
    to_xaddr(local, &family, &la);
    err = del_sa(be, family, &la, spi);
    if (err)
        ks_agent_log_krb5(be->ctx, LOG_WARNING, err,
                          "xfrm: cannot release an SPI");
    else
        ks_agent_log(LOG_DEBUG, "xfrm: released SPI 0x%08" PRIx32, spi);
}

static krb5_error_code
xfrm_add_trap(struct kink_sa_backend *be, const struct sockaddr *local,
              const struct sockaddr *remote,
              const struct kink_conf_selector *sel, uint32_t reqid,
              int tunnel, const char *desc)
{
    struct xpol *added[3];
    int n_added;
    krb5_error_code ret;

    ret = add_pols(be, local, remote, sel, reqid, tunnel, 1, added,
                   &n_added);
    if (ret)
        return ret;
    ks_agent_log(LOG_INFO, "xfrm: installed trap policies for %s", desc);
    return 0;
}

static krb5_error_code
xfrm_bypass_socket(struct kink_sa_backend *be, int fd, int family)
{
    struct xfrm_userpolicy_info pol;
    int level = family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    int opt = family == AF_INET ? IP_XFRM_POLICY : IPV6_XFRM_POLICY;
    uint8_t dir;

    for (dir = XFRM_POLICY_IN; dir <= XFRM_POLICY_OUT; dir++) {
        memset(&pol, 0, sizeof(pol));
        pol.sel.family = family;
        pol.dir = dir;
        pol.action = XFRM_POLICY_ALLOW;
        pol.lft.soft_byte_limit = pol.lft.hard_byte_limit = XFRM_INF;
        pol.lft.soft_packet_limit = pol.lft.hard_packet_limit = XFRM_INF;
        if (setsockopt(fd, level, opt, &pol, sizeof(pol)) < 0) {
            int err = errno;

            krb5_set_error_message(be->ctx, err, "cannot exempt the KINK "
                                   "socket from IPsec policies (%s): %s%s",
                                   dir == XFRM_POLICY_IN ? "in" : "out",
                                   strerror(err), err == EPERM ?
                                   " (kinkd needs CAP_NET_ADMIN)" : "");
            return err;
        }
    }
    return 0;
}

/* ---- events ---- */

static void
prefix_of(uint16_t family, const xfrm_address_t *a, unsigned int plen,
          struct kink_conf_prefix *out)
{
    memset(out, 0, sizeof(*out));
    out->family = family;
    memcpy(out->addr, a, family == AF_INET ? 4 : 16);
    out->plen = plen;
}

static void
on_acquire(struct kink_sa_backend *be, const struct kink_xfrm_event *x)
{
    struct xstate *st = be->state;
    struct kink_sa_event ev;
    struct xpol *p;
    char a[INET6_ADDRSTRLEN];

    if (x->proto != IPPROTO_ESP)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.type = KINK_SA_EV_ACQUIRE;
    for (p = st->pols; p != NULL; p = p->next) {
        if (p->dir == XFRM_POLICY_OUT &&
            (x->reqid == 0 || x->reqid == p->reqid) &&
            xsel_contains(&p->sel, &x->sel))
            break;
    }
    if (p != NULL) {
        ev.sel = p->csel;
        ev.local = p->local;
        ev.remote = p->remote;
    } else {
        /* Not one of ours (ip xfrm, say): the flow is all we know. */
        if (x->sel.family != AF_INET && x->sel.family != AF_INET6)
            return;
        prefix_of(x->sel.family, &x->sel.daddr, x->sel.prefixlen_d,
                  &ev.sel.remote);
        prefix_of(x->sel.family, &x->sel.saddr, x->sel.prefixlen_s,
                  &ev.sel.local);
        ev.sel.proto = x->sel.proto;
        ev.sel.port = x->sel.dport;
        from_xaddr(x->family, &x->saddr, &ev.local);
        from_xaddr(x->family, &x->daddr, &ev.remote);
    }
    /* The kernel's resolved template endpoints win when it has them. */
    if (!xaddr_is_zero(&x->daddr) && !xaddr_is_zero(&x->saddr)) {
        from_xaddr(x->family, &x->saddr, &ev.local);
        from_xaddr(x->family, &x->daddr, &ev.remote);
    }
    kink_sa_addr_str((struct sockaddr *)&ev.remote, a, sizeof(a));
    ks_agent_log(LOG_DEBUG, "xfrm: ACQUIRE for traffic to %s (reqid %"
                 PRIu32 "%s)", a, x->reqid, p ? "" : ", not our policy");
    if (be->fn != NULL)
        be->fn(be->arg, &ev);
}

static void
on_expire(struct kink_sa_backend *be, const struct kink_xfrm_event *x)
{
    struct xstate *st = be->state;
    struct kink_sa_event ev;
    struct xsa *s;
    const struct kink_xfrm_sel *xs = &x->sel;
    uint16_t sf;

    if (x->proto != IPPROTO_ESP || x->spi == 0)
        return;                 /* the kernel's own larval states */
    s = find_sa(st, x->family, &x->daddr, x->spi);
    if (s == NULL) {
        ks_agent_log(LOG_DEBUG, "xfrm: EXPIRE of SPI 0x%08" PRIx32 " that "
                     "kinkd did not install: ignored", x->spi);
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.type = x->hard ? KINK_SA_EV_HARD_EXPIRE : KINK_SA_EV_SOFT_EXPIRE;
    ev.spi = x->spi;
    ev.inbound = s->inbound;
    sf = (xs->family == AF_INET || xs->family == AF_INET6) ? xs->family :
        x->family;
    if (s->inbound) {
        from_xaddr(x->family, &x->daddr, &ev.local);
        from_xaddr(x->family, &x->saddr, &ev.remote);
        prefix_of(sf, &xs->saddr, xs->prefixlen_s, &ev.sel.remote);
        prefix_of(sf, &xs->daddr, xs->prefixlen_d, &ev.sel.local);
        ev.sel.port = xs->sport;
    } else {
        from_xaddr(x->family, &x->saddr, &ev.local);
        from_xaddr(x->family, &x->daddr, &ev.remote);
        prefix_of(sf, &xs->daddr, xs->prefixlen_d, &ev.sel.remote);
        prefix_of(sf, &xs->saddr, xs->prefixlen_s, &ev.sel.local);
        ev.sel.port = xs->dport;
    }
    ev.sel.proto = xs->proto;
    /* A hard expiry removed the SA: nothing left for close to delete. */
    if (x->hard)
        forget_sa(st, x->family, &x->daddr, x->spi);
    ks_agent_log(LOG_DEBUG, "xfrm: %s EXPIRE of SPI 0x%08" PRIx32,
                 x->hard ? "hard" : "soft", x->spi);
    if (be->fn != NULL)
        be->fn(be->arg, &ev);
}

static void
xfrm_process_events(struct kink_sa_backend *be)
{
    struct xstate *st = be->state;
    int round;

    /* A bounded number per call: the fd stays readable, and the loop
     * comes back after serving everything else. */
    for (round = 0; round < EVENTS_PER_CALL; round++) {
        struct sockaddr_nl from;
        socklen_t flen = sizeof(from);
        ssize_t n;
        size_t off = 0;

        n = recvfrom(st->ev_fd, st->evbuf, sizeof(st->evbuf), MSG_DONTWAIT,
                     (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOBUFS) {
                ks_agent_log(LOG_WARNING, "xfrm: XFRM events were lost "
                             "(socket buffer overrun)");
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                ks_agent_log(LOG_ERR, "xfrm: reading XFRM events: %s",
                             strerror(errno));
            break;
        }
        if (flen < sizeof(from) || from.nl_pid != 0)
            continue;
        while (off < (size_t)n) {
            struct kink_xfrm_event x;
            const char *why = NULL;
            size_t used;

            if (kink_xfrm_parse(st->evbuf + off, n - off, &x, &used,
                                &why) != 0) {
                ks_agent_log(LOG_WARNING, "xfrm: malformed XFRM event "
                             "skipped: %s", why);
                break;
            }
            if (x.type == KINK_XFRM_EV_ACQUIRE)
                on_acquire(be, &x);
            else if (x.type == KINK_XFRM_EV_EXPIRE)
                on_expire(be, &x);
            if (used == 0)
                break;
            off += used;
        }
    }
}

const struct kink_sa_ops kink_sa_xfrm_ops = {
    "xfrm", xfrm_open, xfrm_close, xfrm_event_fd, xfrm_process_events,
    xfrm_alloc_spi, xfrm_add, xfrm_del, xfrm_release_spi, xfrm_add_trap,
    xfrm_bypass_socket
};
