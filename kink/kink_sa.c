/*
 * kinkd's SA backends: the interface of kink_sa.h, the checks every
 * backend relies on, and the none backend.
 *
 * Everything a backend is handed has been checked here first: the
 * addresses are IPv4 or IPv6 of one family (IPv4-mapped IPv6 addresses
 * are unmapped, since a dual-stack socket reports IPv4 peers that way and
 * the kernel wants IPv4 SAs for them), the keys have the lengths of the
 * transform, SPIs are >= 256 (RFC 4303 section 2.1 reserves 1-255).  So a
 * daemon bug shows up as the same refusal with the none backend in the
 * integration tests as with the kernel.
 *
 * The none backend installs nothing: it hands out SPIs from a counter and
 * logs what the kernel backend would install, in the format documented in
 * kink_sa.h (integration tests parse it).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "ks_agent.h"
#include "ks_util.h"
#include "kink_sa.h"

/* ---- helpers shared with the backends ---- */

void
kink_sa_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *a = NULL;

    if (sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (a == NULL || inet_ntop(sa->sa_family, a, buf, len) == NULL)
        snprintf(buf, len, "(address family %d)", (int)sa->sa_family);
}

static void
prefix_str(const struct kink_conf_prefix *p, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];

    if (p->family != AF_INET && p->family != AF_INET6) {
        snprintf(buf, len, "any");
        return;
    }
    if (inet_ntop(p->family, p->addr, a, sizeof(a)) == NULL)
        snprintf(a, sizeof(a), "?");
    snprintf(buf, len, "%s/%u", a, p->plen);
}

void
kink_sa_sel_str(const struct kink_conf_selector *sel, char *buf, size_t len)
{
    char r[INET6_ADDRSTRLEN + 8], l[INET6_ADDRSTRLEN + 8];
    int n;

    prefix_str(&sel->remote, r, sizeof(r));
    prefix_str(&sel->local, l, sizeof(l));
    n = snprintf(buf, len, "%s <-> %s", r, l);
    if (n > 0 && (size_t)n < len && sel->proto != 0)
        n += snprintf(buf + n, len - n, " proto %u", sel->proto);
    if (n > 0 && (size_t)n < len && sel->port != 0)
        snprintf(buf + n, len - n, " port %u", sel->port);
}

/* A host address as a full-length prefix. */
static void
host_prefix(const struct sockaddr *sa, struct kink_conf_prefix *out)
{
    memset(out, 0, sizeof(*out));
    out->family = sa->sa_family;
    if (sa->sa_family == AF_INET) {
        memcpy(out->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        out->plen = 32;
    } else {
        memcpy(out->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr,
               16);
        out->plen = 128;
    }
}

void
kink_sa_effective_sel(const struct sockaddr *local,
                      const struct sockaddr *remote,
                      const struct kink_conf_selector *sel, int tunnel,
                      struct kink_conf_selector *out)
{
    memset(out, 0, sizeof(*out));
    out->proto = sel->proto;
    out->port = sel->port;
    if (!tunnel) {
        host_prefix(remote, &out->remote);
        host_prefix(local, &out->local);
        return;
    }
    out->remote = sel->remote;
    out->local = sel->local;
    if (out->local.family != AF_INET && out->local.family != AF_INET6) {
        /* "Any local address": the whole space of the remote's family. */
        memset(&out->local, 0, sizeof(out->local));
        out->local.family = sel->remote.family;
    }
}

/* ---- argument checks ---- */

/* Copy sa into out, unmapping an IPv4-mapped IPv6 address; nonzero if sa
 * is not an IPv4 or IPv6 address. */
static int
norm_addr(const struct sockaddr *sa, struct sockaddr_storage *out)
{
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

    memset(out, 0, sizeof(*out));
    if (sa == NULL)
        return -1;
    if (sa->sa_family == AF_INET) {
        memcpy(out, sa, sizeof(struct sockaddr_in));
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return -1;
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)out;

        s4->sin_family = AF_INET;
        s4->sin_port = s6->sin6_port;
        memcpy(&s4->sin_addr, s6->sin6_addr.s6_addr + 12, 4);
        return 0;
    }
    memcpy(out, sa, sizeof(struct sockaddr_in6));
    return 0;
}

/* Normalize the outer address pair; EINVAL with a message naming what. */
static krb5_error_code
norm_addrs(krb5_context ctx, const char *what, const struct sockaddr *local,
           const struct sockaddr *remote, struct sockaddr_storage *l,
           struct sockaddr_storage *r)
{
    if (norm_addr(local, l) != 0) {
        krb5_set_error_message(ctx, EINVAL, "%s: local address is not "
                               "IPv4 or IPv6", what);
        return EINVAL;
    }
    if (norm_addr(remote, r) != 0) {
        krb5_set_error_message(ctx, EINVAL, "%s: peer address is not "
                               "IPv4 or IPv6", what);
        return EINVAL;
    }
    if (l->ss_family != r->ss_family) {
        krb5_set_error_message(ctx, EINVAL, "%s: local and peer addresses "
                               "are of different families", what);
        return EINVAL;
    }
    return 0;
}

static int
prefix_ok(const struct kink_conf_prefix *p, int may_be_open)
{
    if (p->family == AF_INET)
        return p->plen <= 32;
    if (p->family == AF_INET6)
        return p->plen <= 128;
    return may_be_open && p->family == 0;
}

/* Check sel for a mode; NULL or the reason it is unusable. */
static const char *
sel_problem(const struct kink_conf_selector *sel, int family, int tunnel)
{
    if (!tunnel) {
        /* Transport: the hosts are the selector; a remote prefix, if
         * given, must at least be of the hosts' family. */
        if (sel->remote.family != 0 && sel->remote.family != family)
            return "transport mode selector is not of the peer "
                "address's family";
        if (sel->local.family != 0 && sel->local.family != family)
            return "transport mode selector is not of the local "
                "address's family";
        return NULL;
    }
    if (!prefix_ok(&sel->remote, 0))
        return "tunnel mode selector has no valid peer side prefix";
    if (!prefix_ok(&sel->local, 1))
        return "tunnel mode selector has an invalid local side prefix";
    if (sel->local.family != 0 && sel->local.family != sel->remote.family)
        return "selector sides are of different families";
    return NULL;
}

krb5_error_code
kink_sa_key_lengths(const struct kink_isakmp_esp *esp, size_t *enc_len,
                    size_t *auth_len)
{
    size_t enc;

    *enc_len = *auth_len = 0;
    if (esp->key_bits != 128 && esp->key_bits != 192 && esp->key_bits != 256)
        return EINVAL;
    enc = esp->key_bits / 8;
    switch (esp->transform_id) {
    case KINK_ESP_AES_CBC:
        if (esp->auth_alg == KINK_AUTH_HMAC_SHA1)
            *auth_len = 20;
        else if (esp->auth_alg == KINK_AUTH_HMAC_SHA2_256)
            *auth_len = 32;
        else
            return EINVAL;
        *enc_len = enc;
        return 0;
    case KINK_ESP_AES_GCM_16:
        /* RFC 4106 section 8.1: the key is followed by a 4-octet salt. */
        if (esp->auth_alg != 0)
            return EINVAL;
        *enc_len = enc + 4;
        return 0;
    default:
        return EINVAL;
    }
}

static void
esp_str(const struct kink_isakmp_esp *esp, char *buf, size_t len)
{
    if (esp->transform_id == KINK_ESP_AES_GCM_16)
        snprintf(buf, len, "aes%u-gcm16", esp->key_bits);
    else
        snprintf(buf, len, "aes%u-cbc/%s", esp->key_bits,
                 esp->auth_alg == KINK_AUTH_HMAC_SHA1 ? "hmac-sha1-96" :
                 "hmac-sha256-128");
}

static int
is_tunnel(const struct kink_isakmp_esp *esp)
{
    return esp->encap_mode == KINK_ENCAP_TUNNEL;
}

/* Check a pair; EINVAL with a message naming the peer and the cause. */
static krb5_error_code
check_pair(krb5_context ctx, const struct kink_sa_pair *p)
{
    char peer[INET6_ADDRSTRLEN];
    const char *why = NULL;
    size_t enc, auth;

    kink_sa_addr_str((const struct sockaddr *)&p->remote, peer,
                     sizeof(peer));
    if (kink_sa_key_lengths(&p->esp, &enc, &auth) != 0)
        why = "unsupported ESP transform";
    else if (p->esp.encap_mode != KINK_ENCAP_TRANSPORT &&
             p->esp.encap_mode != KINK_ENCAP_TUNNEL)
        why = "encapsulation mode is neither transport nor tunnel";
    else if (p->in.enc_key_len != enc || p->out.enc_key_len != enc)
        why = "encryption key length does not match the transform";
    else if (p->in.auth_key_len != auth || p->out.auth_key_len != auth)
        why = "integrity key length does not match the transform";
    else if (p->in.spi < 256 || p->out.spi < 256)
        why = "SPI below 256 (reserved)";
    else if (p->hard_seconds && p->soft_seconds > p->hard_seconds)
        why = "soft lifetime beyond the hard one";
    else if (p->hard_kbytes && p->soft_kbytes > p->hard_kbytes)
        why = "soft byte lifetime beyond the hard one";
    else
        why = sel_problem(&p->sel, p->remote.ss_family,
                          is_tunnel(&p->esp));
    if (why == NULL)
        return 0;
    krb5_set_error_message(ctx, EINVAL, "SA pair with %s: %s", peer, why);
    return EINVAL;
}

/* "PEER: in SPI 0x..., out SPI 0x..., esp ..., MODE, selector SEL, LIFE"
 * (kink_sa.h documents it). */
static void
describe_pair(const struct kink_sa_pair *p, char *buf, size_t len)
{
    char peer[INET6_ADDRSTRLEN], esp[48], sel[200], life[128];
    struct kink_conf_selector eff;
    int n;

    kink_sa_addr_str((const struct sockaddr *)&p->remote, peer,
                     sizeof(peer));
    esp_str(&p->esp, esp, sizeof(esp));
    kink_sa_effective_sel((const struct sockaddr *)&p->local,
                          (const struct sockaddr *)&p->remote, &p->sel,
                          is_tunnel(&p->esp), &eff);
    kink_sa_sel_str(&eff, sel, sizeof(sel));
    if (p->hard_seconds)
        n = snprintf(life, sizeof(life), "lifetime %" PRIu32 " s (soft %"
                     PRIu32 " s)", p->hard_seconds, p->soft_seconds);
    else
        n = snprintf(life, sizeof(life), "lifetime none");
    if (p->hard_kbytes && n > 0 && (size_t)n < sizeof(life))
        snprintf(life + n, sizeof(life) - n, ", %" PRIu64 " KiB (soft %"
                 PRIu64 " KiB)", p->hard_kbytes, p->soft_kbytes);
    snprintf(buf, len, "%s: in SPI 0x%08" PRIx32 ", out SPI 0x%08" PRIx32
             ", esp %s, %s, selector %s, %s", peer, p->in.spi, p->out.spi,
             esp, is_tunnel(&p->esp) ? "tunnel" : "transport", sel, life);
}

/* ---- the interface ---- */

static const struct kink_sa_ops none_ops;

krb5_error_code
kink_sa_open(krb5_context ctx, enum kink_conf_backend type, int show_keys,
             kink_sa_event_fn fn, void *arg, struct kink_sa_backend **out)
{
    struct kink_sa_backend *be;
    krb5_error_code ret;

    *out = NULL;
    be = calloc(1, sizeof(*be));
    if (be == NULL)
        return ENOMEM;
    be->ctx = ctx;
    be->show_keys = show_keys;
    be->fn = fn;
    be->arg = arg;
    switch (type) {
    case KINK_CONF_BACKEND_XFRM:
        be->ops = &kink_sa_xfrm_ops;
        break;
    case KINK_CONF_BACKEND_NONE:
        be->ops = &none_ops;
        break;
    default:
        free(be);
        krb5_set_error_message(ctx, EINVAL, "unknown SA backend %d",
                               (int)type);
        return EINVAL;
    }
    ret = be->ops->open(be);
    if (ret) {
        free(be);
        return ret;
    }
    *out = be;
    return 0;
}

void
kink_sa_close(struct kink_sa_backend *be)
{
    if (be == NULL)
        return;
    be->ops->close(be);
    free(be);
}

const char *
kink_sa_name(const struct kink_sa_backend *be)
{
    return be->ops->name;
}

int
kink_sa_event_fd(const struct kink_sa_backend *be)
{
    return be->ops->event_fd(be);
}

void
kink_sa_process_events(struct kink_sa_backend *be)
{
    be->ops->process_events(be);
}

krb5_error_code
kink_sa_alloc_spi(struct kink_sa_backend *be, const struct sockaddr *local,
                  const struct sockaddr *remote, uint32_t reqid,
                  uint32_t *spi_out)
{
    struct sockaddr_storage l, r;
    krb5_error_code ret;

    *spi_out = 0;
    ret = norm_addrs(be->ctx, "SPI allocation", local, remote, &l, &r);
    if (ret)
        return ret;
    return be->ops->alloc_spi(be, (struct sockaddr *)&l,
                              (struct sockaddr *)&r, reqid, spi_out);
}

krb5_error_code
kink_sa_add(struct kink_sa_backend *be, const struct kink_sa_pair *pair)
{
    struct kink_sa_pair p;
    char desc[KINK_SA_DESC_MAX];
    krb5_error_code ret;

    /* A copy with normalized addresses; it holds the keys, so it is
     * zeroed before returning. */
    p = *pair;
    ret = norm_addrs(be->ctx, "SA pair", (const struct sockaddr *)
                     &pair->local, (const struct sockaddr *)&pair->remote,
                     &p.local, &p.remote);
    if (!ret)
        ret = check_pair(be->ctx, &p);
    if (!ret) {
        describe_pair(&p, desc, sizeof(desc));
        ret = be->ops->add(be, &p, desc);
    }
    ks_zero(&p, sizeof(p));
    return ret;
}

krb5_error_code
kink_sa_delete(struct kink_sa_backend *be, const struct kink_sa_pair *pair,
               int policies)
{
    struct kink_sa_pair p;
    char desc[KINK_SA_DESC_MAX], sel[200];
    struct kink_conf_selector eff;
    krb5_error_code ret;
    char peer[INET6_ADDRSTRLEN];

    /* Only addresses, SPIs, mode and selector matter here: keys need not
     * be filled in, so the pair is not checked as kink_sa_add does. */
    memset(&p, 0, sizeof(p));
    ret = norm_addrs(be->ctx, "SA deletion", (const struct sockaddr *)
                     &pair->local, (const struct sockaddr *)&pair->remote,
                     &p.local, &p.remote);
    if (ret)
        return ret;
    p.esp = pair->esp;
    p.sel = pair->sel;
    p.reqid = pair->reqid;
    p.in.spi = pair->in.spi;
    p.out.spi = pair->out.spi;
    if (policies) {
        const char *why = sel_problem(&p.sel, p.remote.ss_family,
                                      is_tunnel(&p.esp));

        if (why != NULL) {
            kink_sa_addr_str((struct sockaddr *)&p.remote, peer,
                             sizeof(peer));
            krb5_set_error_message(be->ctx, EINVAL, "SA pair with %s: %s",
                                   peer, why);
            return EINVAL;
        }
    }
    kink_sa_addr_str((struct sockaddr *)&p.remote, peer, sizeof(peer));
    if (policies) {
        kink_sa_effective_sel((struct sockaddr *)&p.local,
                              (struct sockaddr *)&p.remote, &p.sel,
                              is_tunnel(&p.esp), &eff);
        kink_sa_sel_str(&eff, sel, sizeof(sel));
        snprintf(desc, sizeof(desc), "%s: in SPI 0x%08" PRIx32 ", out SPI "
                 "0x%08" PRIx32 ", and the policies of selector %s", peer,
                 p.in.spi, p.out.spi, sel);
    } else {
        snprintf(desc, sizeof(desc), "%s: in SPI 0x%08" PRIx32 ", out SPI "
                 "0x%08" PRIx32, peer, p.in.spi, p.out.spi);
    }
    return be->ops->del(be, &p, policies, desc);
}

void
kink_sa_release_spi(struct kink_sa_backend *be, const struct sockaddr *local,
                    const struct sockaddr *remote, uint32_t spi)
{
    struct sockaddr_storage l, r;

    if (norm_addrs(be->ctx, "SPI release", local, remote, &l, &r) != 0) {
        ks_agent_log_krb5(be->ctx, LOG_ERR, EINVAL, "cannot release SPI");
        return;
    }
    be->ops->release_spi(be, (struct sockaddr *)&l, (struct sockaddr *)&r,
                         spi);
}

krb5_error_code
kink_sa_add_trap(struct kink_sa_backend *be, const struct sockaddr *local,
                 const struct sockaddr *remote,
                 const struct kink_conf_selector *sel, uint32_t reqid,
                 int tunnel)
{
    struct sockaddr_storage l, r;
    struct kink_conf_selector eff;
    char desc[KINK_SA_DESC_MAX], s[200], peer[INET6_ADDRSTRLEN];
    const char *why;
    krb5_error_code ret;

    ret = norm_addrs(be->ctx, "trap policy", local, remote, &l, &r);
    if (ret)
        return ret;
    why = sel_problem(sel, r.ss_family, tunnel);
    if (why != NULL) {
        kink_sa_addr_str((struct sockaddr *)&r, peer, sizeof(peer));
        krb5_set_error_message(be->ctx, EINVAL, "trap policy for %s: %s",
                               peer, why);
        return EINVAL;
    }
    kink_sa_effective_sel((struct sockaddr *)&l, (struct sockaddr *)&r, sel,
                          tunnel, &eff);
    kink_sa_sel_str(&eff, s, sizeof(s));
    snprintf(desc, sizeof(desc), "selector %s (reqid %" PRIu32 ", %s)", s,
             reqid, tunnel ? "tunnel" : "transport");
    return be->ops->add_trap(be, (struct sockaddr *)&l,
                             (struct sockaddr *)&r, sel, reqid, tunnel,
                             desc);
}

krb5_error_code
kink_sa_bypass_socket(struct kink_sa_backend *be, int fd, int family)
{
    if (family != AF_INET && family != AF_INET6) {
        krb5_set_error_message(be->ctx, EINVAL, "cannot exempt a socket of "
                               "family %d from IPsec policies", family);
        return EINVAL;
    }
    return be->ops->bypass_socket(be, fd, family);
}

/* ---- the none backend ---- */

struct none_state {
    uint32_t next_spi;
};

static krb5_error_code
none_open(struct kink_sa_backend *be)
{
    struct none_state *st;
    unsigned char rnd[4];
    krb5_data d;
    krb5_error_code ret;
    uint32_t v;

    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return ENOMEM;
    /* A random start, so that two daemons (or two runs of one) do not
     * hand out the same SPIs and a test cannot pass by coincidence. */
    d.data = (char *)rnd;
    d.length = sizeof(rnd);
    ret = krb5_c_random_make_octets(be->ctx, &d);
    if (ret) {
        free(st);
        return ret;
    }
    v = (uint32_t)rnd[0] << 24 | (uint32_t)rnd[1] << 16 |
        (uint32_t)rnd[2] << 8 | rnd[3];
    /* Far enough below 2^32 that a daemon never wraps in practice. */
    st->next_spi = 256 + v % 0x7fffff00U;
    be->state = st;
    return 0;
}

static void
none_close(struct kink_sa_backend *be)
{
    free(be->state);
    be->state = NULL;
}

static int
none_event_fd(const struct kink_sa_backend *be)
{
    (void)be;
    return -1;
}

static void
none_process_events(struct kink_sa_backend *be)
{
    (void)be;
}

static krb5_error_code
none_alloc_spi(struct kink_sa_backend *be, const struct sockaddr *local,
               const struct sockaddr *remote, uint32_t reqid,
               uint32_t *spi_out)
{
    struct none_state *st = be->state;
    char peer[INET6_ADDRSTRLEN];

    (void)local;
    *spi_out = st->next_spi++;
    if (st->next_spi < 256)
        st->next_spi = 256;
    kink_sa_addr_str(remote, peer, sizeof(peer));
    ks_agent_log(LOG_DEBUG, "none: reserved SPI 0x%08" PRIx32 " for SAs "
                 "from %s (reqid %" PRIu32 ")", *spi_out, peer, reqid);
    return 0;
}

/* Log one direction's keys: "none: DIR SPI 0x... keys enc HEX auth HEX",
 * the hex zeroed afterwards. */
static void
none_log_keys(const char *dir, const struct kink_sa_dir *d)
{
    char enc[2 * KINK_SA_MAX_KEY + 1], auth[2 * KINK_SA_MAX_KEY + 1];

    ks_hex(d->enc_key, d->enc_key_len, enc);
    if (d->auth_key_len > 0)
        ks_hex(d->auth_key, d->auth_key_len, auth);
    else
        snprintf(auth, sizeof(auth), "-");
    ks_agent_log(LOG_INFO, "none: %s SPI 0x%08" PRIx32 " keys enc %s auth "
                 "%s", dir, d->spi, enc, auth);
    ks_zero(enc, sizeof(enc));
    ks_zero(auth, sizeof(auth));
}

static krb5_error_code
none_add(struct kink_sa_backend *be, const struct kink_sa_pair *pair,
         const char *desc)
{
    ks_agent_log(LOG_INFO, "none: would install SA pair with %s", desc);
    if (be->show_keys) {
        none_log_keys("in", &pair->in);
        none_log_keys("out", &pair->out);
    }
    return 0;
}

static krb5_error_code
none_del(struct kink_sa_backend *be, const struct kink_sa_pair *pair,
         int policies, const char *desc)
{
    (void)be;
    (void)pair;
    (void)policies;
    ks_agent_log(LOG_INFO, "none: would delete SA pair with %s", desc);
    return 0;
}

static void
none_release_spi(struct kink_sa_backend *be, const struct sockaddr *local,
                 const struct sockaddr *remote, uint32_t spi)
{
    (void)be;
    (void)local;
    (void)remote;
    ks_agent_log(LOG_DEBUG, "none: released SPI 0x%08" PRIx32, spi);
}

static krb5_error_code
none_add_trap(struct kink_sa_backend *be, const struct sockaddr *local,
              const struct sockaddr *remote,
              const struct kink_conf_selector *sel, uint32_t reqid,
              int tunnel, const char *desc)
{
    (void)be;
    (void)local;
    (void)remote;
    (void)sel;
    (void)reqid;
    (void)tunnel;
    ks_agent_log(LOG_INFO, "none: would install trap policies for %s", desc);
    return 0;
}

static krb5_error_code
none_bypass_socket(struct kink_sa_backend *be, int fd, int family)
{
    (void)be;
    (void)fd;
    (void)family;
    return 0;
}

static const struct kink_sa_ops none_ops = {
    "none", none_open, none_close, none_event_fd, none_process_events,
    none_alloc_spi, none_add, none_del, none_release_spi, none_add_trap,
    none_bypass_socket
};
