/*
 * XFRM netlink message building and parsing (see kink_xfrm_msg.h).
 *
 * Builders compute the exact message length first, check it against the
 * caller's capacity, zero the whole message (the kernel structs have
 * padding and reserved fields the kernel reads), then fill it.  Fixed
 * structs are assembled on the stack and copied in; key bytes go straight
 * from the caller's key into the buffer, so no scratch copy of a key
 * exists.
 *
 * The parser reads through a ks_cursor and copies every fixed struct out
 * with memcpy: netlink buffers from a fuzzer (or a short recv) need not
 * be aligned, and lengths are checked against what the cursor has left,
 * never taken on trust.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/xfrm.h>

#include "ks_util.h"
#include "kink_xfrm_msg.h"

#define ALGO_HDR_LEN sizeof(struct xfrm_algo)
#define ALGO_AUTH_HDR_LEN sizeof(struct xfrm_algo_auth)
#define ALGO_AEAD_HDR_LEN sizeof(struct xfrm_algo_aead)

static krb5_error_code
fail(const char **reason, const char *why)
{
    if (reason != NULL)
        *reason = why;
    return EINVAL;
}

/* Length of an attribute carrying n payload bytes, padding included. */
static size_t
attr_space(size_t n)
{
    return RTA_SPACE(n);
}

/* Start a message of total length len in buf (zeroed). */
static krb5_error_code
start_msg(unsigned char *buf, size_t cap, size_t len, uint16_t type,
          uint16_t flags, uint32_t seq, size_t *outlen)
{
    struct nlmsghdr h;

    if (buf == NULL || len > cap)
        return ENOSPC;
    memset(buf, 0, len);
    memset(&h, 0, sizeof(h));
    h.nlmsg_len = len;
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = seq;
    h.nlmsg_pid = 0;            /* the socket layer fills in ours */
    memcpy(buf, &h, sizeof(h));
    *outlen = len;
    return 0;
}

/* Write an attribute header at buf+off announcing n payload bytes; return
 * the offset of the payload.  The space was sized by attr_space. */
static size_t
put_attr_hdr(unsigned char *buf, size_t off, uint16_t type, size_t n)
{
    struct rtattr a;

    a.rta_len = RTA_LENGTH(n);
    a.rta_type = type;
    memcpy(buf + off, &a, sizeof(a));
    return off + RTA_LENGTH(0);
}

static int
family_ok(uint16_t family)
{
    return family == AF_INET || family == AF_INET6;
}

static krb5_error_code
fill_sel(struct xfrm_selector *out, const struct kink_xfrm_sel *sel,
         const char **reason)
{
    unsigned int maxlen;

    if (!family_ok(sel->family))
        return fail(reason, "selector family is not AF_INET or AF_INET6");
    maxlen = (sel->family == AF_INET) ? 32 : 128;
    if (sel->prefixlen_s > maxlen || sel->prefixlen_d > maxlen)
        return fail(reason, "selector prefix length too long for family");
    memset(out, 0, sizeof(*out));
    out->family = sel->family;
    out->saddr = sel->saddr;
    out->daddr = sel->daddr;
    out->prefixlen_s = sel->prefixlen_s;
    out->prefixlen_d = sel->prefixlen_d;
    out->proto = sel->proto;
    /* A port of 0 means any: mask 0, so the kernel ignores it. */
    out->sport = htons(sel->sport);
    out->sport_mask = sel->sport ? 0xffff : 0;
    out->dport = htons(sel->dport);
    out->dport_mask = sel->dport ? 0xffff : 0;
    return 0;
}

/* The kernel reads byte and packet limits literally (0 would expire at
 * once); "no limit" is XFRM_INF.  Seconds of 0 mean no timer. */
static void
fill_lft(struct xfrm_lifetime_cfg *lft, uint64_t soft_bytes,
         uint64_t hard_bytes, uint64_t soft_secs, uint64_t hard_secs)
{
    memset(lft, 0, sizeof(*lft));
    lft->soft_byte_limit = soft_bytes ? soft_bytes : XFRM_INF;
    lft->hard_byte_limit = hard_bytes ? hard_bytes : XFRM_INF;
    lft->soft_packet_limit = XFRM_INF;
    lft->hard_packet_limit = XFRM_INF;
    lft->soft_add_expires_seconds = soft_secs;
    lft->hard_add_expires_seconds = hard_secs;
}

krb5_error_code
kink_xfrm_build_allocspi(unsigned char *buf, size_t cap, uint32_t seq,
                         uint16_t family, const xfrm_address_t *saddr,
                         const xfrm_address_t *daddr, uint32_t reqid,
                         int tunnel, uint32_t min, uint32_t max,
                         size_t *outlen, const char **reason)
{
    struct xfrm_userspi_info spi;
    size_t len = NLMSG_LENGTH(sizeof(spi));
    krb5_error_code ret;

    *outlen = 0;
    if (!family_ok(family))
        return fail(reason, "address family is not AF_INET or AF_INET6");
    if (min < 256 || min > max)
        return fail(reason, "SPI range must satisfy 256 <= min <= max");
    ret = start_msg(buf, cap, len, XFRM_MSG_ALLOCSPI, NLM_F_REQUEST, seq,
                    outlen);
    if (ret)
        return ret;
    memset(&spi, 0, sizeof(spi));
    spi.info.id.daddr = *daddr;
    spi.info.id.proto = IPPROTO_ESP;
    spi.info.saddr = *saddr;
    spi.info.family = family;
    spi.info.reqid = reqid;
    spi.info.mode = tunnel ? XFRM_MODE_TUNNEL : XFRM_MODE_TRANSPORT;
    spi.info.sel.family = family;
    fill_lft(&spi.info.lft, 0, 0, 0, 0);
    spi.min = min;
    spi.max = max;
    memcpy(buf + NLMSG_HDRLEN, &spi, sizeof(spi));
    return 0;
}

/* Check the algorithm choice and key lengths of sa. */
static krb5_error_code
check_algs(const struct kink_xfrm_sa *sa, const char **reason)
{
    if (sa->enc_key == NULL)
        return fail(reason, "no encryption key");
    switch (sa->enc) {
    case KINK_XFRM_ENC_AES_CBC:
        if (sa->enc_key_len != 16 && sa->enc_key_len != 24 &&
            sa->enc_key_len != 32)
            return fail(reason, "AES-CBC key must be 16, 24 or 32 bytes");
        if (sa->auth_key == NULL)
            return fail(reason, "AES-CBC needs an integrity key");
        if (sa->auth == KINK_XFRM_AUTH_HMAC_SHA1_96) {
            if (sa->auth_key_len != 20)
                return fail(reason, "HMAC-SHA1 key must be 20 bytes");
        } else if (sa->auth == KINK_XFRM_AUTH_HMAC_SHA256_128) {
            if (sa->auth_key_len != 32)
                return fail(reason, "HMAC-SHA256 key must be 32 bytes");
        } else {
            return fail(reason, "AES-CBC needs an integrity algorithm");
        }
        return 0;
    case KINK_XFRM_ENC_AES_GCM16:
        if (sa->enc_key_len != 20 && sa->enc_key_len != 28 &&
            sa->enc_key_len != 36)
            return fail(reason, "AES-GCM key plus salt must be 20, 28 or "
                        "36 bytes");
        if (sa->auth != KINK_XFRM_AUTH_NONE)
            return fail(reason, "AES-GCM takes no separate integrity "
                        "algorithm");
        return 0;
    default:
        return fail(reason, "unknown encryption algorithm");
    }
}

krb5_error_code
kink_xfrm_build_newsa(unsigned char *buf, size_t cap, uint32_t seq,
                      const struct kink_xfrm_sa *sa, size_t *outlen,
                      const char **reason)
{
    struct xfrm_usersa_info info;
    size_t len, off;
    krb5_error_code ret;
    uint16_t type, flags;

    *outlen = 0;
    if (!family_ok(sa->family))
        return fail(reason, "SA family is not AF_INET or AF_INET6");
    ret = check_algs(sa, reason);
    if (ret)
        return ret;
    if (sa->hard_bytes && sa->soft_bytes > sa->hard_bytes)
        return fail(reason, "soft byte lifetime beyond the hard one");
    if (sa->hard_seconds && sa->soft_seconds > sa->hard_seconds)
        return fail(reason, "soft lifetime beyond the hard one");
    memset(&info, 0, sizeof(info));
    ret = fill_sel(&info.sel, &sa->sel, reason);
    if (ret)
        return ret;

    len = NLMSG_SPACE(sizeof(info));
    if (sa->enc == KINK_XFRM_ENC_AES_GCM16) {
        len += attr_space(ALGO_AEAD_HDR_LEN + sa->enc_key_len);
    } else {
        len += attr_space(ALGO_HDR_LEN + sa->enc_key_len);
        len += attr_space(ALGO_AUTH_HDR_LEN + sa->auth_key_len);
    }
    type = sa->update ? XFRM_MSG_UPDSA : XFRM_MSG_NEWSA;
    flags = NLM_F_REQUEST | NLM_F_ACK;
    if (!sa->update)
        flags |= NLM_F_CREATE | NLM_F_EXCL;
    ret = start_msg(buf, cap, len, type, flags, seq, outlen);
    if (ret)
        return ret;

    info.id.daddr = sa->daddr;
    info.id.spi = htonl(sa->spi);
    info.id.proto = IPPROTO_ESP;
    info.saddr = sa->saddr;
    fill_lft(&info.lft, sa->soft_bytes, sa->hard_bytes, sa->soft_seconds,
             sa->hard_seconds);
    info.reqid = sa->reqid;
    info.family = sa->family;
    info.mode = sa->tunnel ? XFRM_MODE_TUNNEL : XFRM_MODE_TRANSPORT;
    info.replay_window = sa->replay_window;
    memcpy(buf + NLMSG_HDRLEN, &info, sizeof(info));
    off = NLMSG_SPACE(sizeof(info));

    if (sa->enc == KINK_XFRM_ENC_AES_GCM16) {
        struct xfrm_algo_aead a;

        memset(&a, 0, sizeof(a));
        strncpy(a.alg_name, "rfc4106(gcm(aes))", sizeof(a.alg_name) - 1);
        a.alg_key_len = sa->enc_key_len * 8;     /* bits, salt included */
        a.alg_icv_len = 128;
        off = put_attr_hdr(buf, off, XFRMA_ALG_AEAD,
                           ALGO_AEAD_HDR_LEN + sa->enc_key_len);
        memcpy(buf + off, &a, ALGO_AEAD_HDR_LEN);
        memcpy(buf + off + ALGO_AEAD_HDR_LEN, sa->enc_key, sa->enc_key_len);
    } else {
        struct xfrm_algo e;
        struct xfrm_algo_auth au;
        size_t next;

        memset(&e, 0, sizeof(e));
        strncpy(e.alg_name, "cbc(aes)", sizeof(e.alg_name) - 1);
        e.alg_key_len = sa->enc_key_len * 8;
        next = off + attr_space(ALGO_HDR_LEN + sa->enc_key_len);
        off = put_attr_hdr(buf, off, XFRMA_ALG_CRYPT,
                           ALGO_HDR_LEN + sa->enc_key_len);
        memcpy(buf + off, &e, ALGO_HDR_LEN);
        memcpy(buf + off + ALGO_HDR_LEN, sa->enc_key, sa->enc_key_len);

        memset(&au, 0, sizeof(au));
        if (sa->auth == KINK_XFRM_AUTH_HMAC_SHA1_96) {
            strncpy(au.alg_name, "hmac(sha1)", sizeof(au.alg_name) - 1);
            au.alg_trunc_len = 96;
        } else {
            strncpy(au.alg_name, "hmac(sha256)", sizeof(au.alg_name) - 1);
            au.alg_trunc_len = 128;     /* RFC 4868, not the old 96 */
        }
        au.alg_key_len = sa->auth_key_len * 8;
        off = put_attr_hdr(buf, next, XFRMA_ALG_AUTH_TRUNC,
                           ALGO_AUTH_HDR_LEN + sa->auth_key_len);
        memcpy(buf + off, &au, ALGO_AUTH_HDR_LEN);
        memcpy(buf + off + ALGO_AUTH_HDR_LEN, sa->auth_key,
               sa->auth_key_len);
    }
    return 0;
}

krb5_error_code
kink_xfrm_build_delsa(unsigned char *buf, size_t cap, uint32_t seq,
                      uint16_t family, const xfrm_address_t *daddr,
                      uint32_t spi, size_t *outlen, const char **reason)
{
    struct xfrm_usersa_id id;
    krb5_error_code ret;

    *outlen = 0;
    if (!family_ok(family))
        return fail(reason, "address family is not AF_INET or AF_INET6");
    ret = start_msg(buf, cap, NLMSG_LENGTH(sizeof(id)), XFRM_MSG_DELSA,
                    NLM_F_REQUEST | NLM_F_ACK, seq, outlen);
    if (ret)
        return ret;
    memset(&id, 0, sizeof(id));
    id.daddr = *daddr;
    id.spi = htonl(spi);
    id.family = family;
    id.proto = IPPROTO_ESP;
    memcpy(buf + NLMSG_HDRLEN, &id, sizeof(id));
    return 0;
}

krb5_error_code
kink_xfrm_build_newpolicy(unsigned char *buf, size_t cap, uint32_t seq,
                          const struct kink_xfrm_policy *pol, size_t *outlen,
                          const char **reason)
{
    struct xfrm_userpolicy_info p;
    struct xfrm_user_tmpl t;
    size_t len, off;
    uint16_t tfam;
    krb5_error_code ret;

    *outlen = 0;
    memset(&p, 0, sizeof(p));
    ret = fill_sel(&p.sel, &pol->sel, reason);
    if (ret)
        return ret;
    if (pol->dir > XFRM_POLICY_FWD)
        return fail(reason, "policy direction is not in, out or fwd");
    tfam = pol->tmpl_family ? pol->tmpl_family : pol->sel.family;
    if (!family_ok(tfam))
        return fail(reason, "template family is not AF_INET or AF_INET6");
    if (!pol->tunnel && tfam != pol->sel.family)
        return fail(reason, "transport mode template family differs from "
                    "the selector's");

    len = NLMSG_SPACE(sizeof(p)) + attr_space(sizeof(t));
    ret = start_msg(buf, cap, len, XFRM_MSG_NEWPOLICY,
                    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                    seq, outlen);
    if (ret)
        return ret;
    fill_lft(&p.lft, 0, 0, 0, 0);
    p.priority = pol->priority;
    p.dir = pol->dir;
    p.action = XFRM_POLICY_ALLOW;
    p.share = XFRM_SHARE_ANY;
    memcpy(buf + NLMSG_HDRLEN, &p, sizeof(p));
    off = NLMSG_SPACE(sizeof(p));

    memset(&t, 0, sizeof(t));
    t.id.daddr = pol->tmpl_daddr;
    t.id.proto = IPPROTO_ESP;
    t.family = tfam;
    t.saddr = pol->tmpl_saddr;
    t.reqid = pol->reqid;
    t.mode = pol->tunnel ? XFRM_MODE_TUNNEL : XFRM_MODE_TRANSPORT;
    t.optional = 0;             /* required: no cleartext fallback */
    t.aalgos = t.ealgos = t.calgos = ~0U;
    off = put_attr_hdr(buf, off, XFRMA_TMPL, sizeof(t));
    memcpy(buf + off, &t, sizeof(t));
    return 0;
}

krb5_error_code
kink_xfrm_build_delpolicy(unsigned char *buf, size_t cap, uint32_t seq,
                          const struct kink_xfrm_sel *sel, uint8_t dir,
                          size_t *outlen, const char **reason)
{
    struct xfrm_userpolicy_id id;
    krb5_error_code ret;

    *outlen = 0;
    memset(&id, 0, sizeof(id));
    ret = fill_sel(&id.sel, sel, reason);
    if (ret)
        return ret;
    if (dir > XFRM_POLICY_FWD)
        return fail(reason, "policy direction is not in, out or fwd");
    ret = start_msg(buf, cap, NLMSG_LENGTH(sizeof(id)), XFRM_MSG_DELPOLICY,
                    NLM_F_REQUEST | NLM_F_ACK, seq, outlen);
    if (ret)
        return ret;
    id.dir = dir;
    memcpy(buf + NLMSG_HDRLEN, &id, sizeof(id));
    return 0;
}

/* ---- parsing ---- */

static krb5_error_code
read_sel(struct kink_xfrm_sel *out, const struct xfrm_selector *s,
         const char **reason)
{
    unsigned int maxlen;

    /* The kernel reports AF_UNSPEC selectors for "any"; keep them. */
    if (s->family != AF_UNSPEC && !family_ok(s->family))
        return fail(reason, "selector family unknown");
    maxlen = (s->family == AF_INET) ? 32 : 128;
    if (s->prefixlen_s > maxlen || s->prefixlen_d > maxlen)
        return fail(reason, "selector prefix length too long");
    memset(out, 0, sizeof(*out));
    out->family = s->family;
    out->saddr = s->saddr;
    out->daddr = s->daddr;
    out->prefixlen_s = s->prefixlen_s;
    out->prefixlen_d = s->prefixlen_d;
    out->proto = s->proto;
    out->sport = ntohs(s->sport);
    out->dport = ntohs(s->dport);
    return 0;
}

/* Copy the fixed struct of n bytes at the start of body into out and
 * leave *attrs over the attributes that follow it (at NLMSG_ALIGN(n)). */
static krb5_error_code
take_fixed(struct ks_cursor *body, void *out, size_t n,
           struct ks_cursor *attrs, const char **reason)
{
    const unsigned char *p = ks_cursor_bytes(body, n);
    size_t pad = NLMSG_ALIGN(n) - n;

    if (p == NULL)
        return fail(reason, "message body shorter than its struct");
    memcpy(out, p, n);
    /* A body ending inside the alignment padding has no attributes. */
    if (ks_cursor_bytes(body, pad < ks_cursor_left(body) ? pad :
                        ks_cursor_left(body)) == NULL)
        return fail(reason, "internal cursor error");
    *attrs = *body;
    return 0;
}

/* Walk the attributes, refusing any that overrun; count XFRMA_TMPL
 * entries and keep the first one in *tmpl (if tmpl is not NULL). */
static krb5_error_code
walk_attrs(struct ks_cursor *c, unsigned int *ntmpl,
           struct xfrm_user_tmpl *tmpl, const char **reason)
{
    while (ks_cursor_left(c) > 0) {
        struct rtattr a;
        const unsigned char *p = ks_cursor_bytes(c, sizeof(a));
        const unsigned char *data;
        size_t dlen, pad;

        if (p == NULL)
            return fail(reason, "truncated attribute header");
        memcpy(&a, p, sizeof(a));
        if (a.rta_len < sizeof(a))
            return fail(reason, "attribute length below its header");
        dlen = a.rta_len - sizeof(a);
        data = ks_cursor_bytes(c, dlen);
        if (data == NULL)
            return fail(reason, "attribute length runs past the message");
        /* The last attribute's padding may be cut off by nlmsg_len. */
        pad = RTA_ALIGN(a.rta_len) - a.rta_len;
        if (pad > ks_cursor_left(c))
            pad = ks_cursor_left(c);
        (void)ks_cursor_bytes(c, pad);
        /* Netlink type bits 14/15 are the nested/byte-order flags. */
        if ((a.rta_type & NLA_TYPE_MASK) == XFRMA_TMPL && ntmpl != NULL) {
            size_t k;

            if (dlen % sizeof(struct xfrm_user_tmpl) != 0)
                return fail(reason, "XFRMA_TMPL is not a whole number of "
                            "templates");
            for (k = 0; k < dlen / sizeof(struct xfrm_user_tmpl); k++) {
                if (*ntmpl == 0 && tmpl != NULL)
                    memcpy(tmpl, data, sizeof(*tmpl));
                (*ntmpl)++;
            }
        }
    }
    return 0;
}

/* Fill the SA fields of ev from an xfrm_usersa_info. */
static krb5_error_code
read_sa(struct kink_xfrm_event *ev, const struct xfrm_usersa_info *info,
        const char **reason)
{
    if (!family_ok(info->family))
        return fail(reason, "SA family is not AF_INET or AF_INET6");
    ev->family = info->family;
    ev->saddr = info->saddr;
    ev->daddr = info->id.daddr;
    ev->spi = ntohl(info->id.spi);
    ev->proto = info->id.proto;
    ev->mode = info->mode;
    ev->reqid = info->reqid;
    return read_sel(&ev->sel, &info->sel, reason);
}

krb5_error_code
kink_xfrm_parse(const unsigned char *buf, size_t len,
                struct kink_xfrm_event *ev, size_t *consumed,
                const char **reason)
{
    struct ks_cursor c, body, attrs;
    struct nlmsghdr h;
    const unsigned char *p;
    size_t blen, next;
    krb5_error_code ret;

    memset(ev, 0, sizeof(*ev));
    *consumed = 0;
    ks_cursor_init(&c, buf, len);
    p = ks_cursor_bytes(&c, sizeof(h));
    if (p == NULL)
        return fail(reason, "truncated netlink header");
    memcpy(&h, p, sizeof(h));
    if (h.nlmsg_len < sizeof(h))
        return fail(reason, "nlmsg_len below the header size");
    blen = h.nlmsg_len - sizeof(h);
    p = ks_cursor_bytes(&c, blen);
    if (p == NULL)
        return fail(reason, "nlmsg_len runs past the buffer");
    ks_cursor_init(&body, p, blen);
    next = NLMSG_ALIGN((size_t)h.nlmsg_len);
    if (next > len || next < h.nlmsg_len)
        next = len;             /* the last message's padding may be cut */

    ev->nlmsg_type = h.nlmsg_type;
    ev->nlmsg_flags = h.nlmsg_flags;
    ev->seq = h.nlmsg_seq;

    switch (h.nlmsg_type) {
    case NLMSG_ERROR: {
        struct nlmsgerr e;

        p = ks_cursor_bytes(&body, sizeof(e));
        if (p == NULL)
            return fail(reason, "truncated NLMSG_ERROR");
        memcpy(&e, p, sizeof(e));
        if (e.error > 0 || e.error < -4095)
            return fail(reason, "NLMSG_ERROR code is not a negated errno");
        ev->type = KINK_XFRM_EV_ERROR;
        ev->error = -e.error;
        /* Match replies on the request's own header. */
        ev->seq = e.msg.nlmsg_seq;
        break;
    }
    case XFRM_MSG_NEWSA: {
        struct xfrm_usersa_info info;

        ret = take_fixed(&body, &info, sizeof(info), &attrs, reason);
        if (!ret)
            ret = walk_attrs(&attrs, NULL, NULL, reason);
        if (!ret)
            ret = read_sa(ev, &info, reason);
        if (ret)
            return ret;
        ev->type = KINK_XFRM_EV_SA;
        break;
    }
    case XFRM_MSG_EXPIRE: {
        struct xfrm_user_expire x;

        ret = take_fixed(&body, &x, sizeof(x), &attrs, reason);
        if (!ret)
            ret = walk_attrs(&attrs, NULL, NULL, reason);
        if (!ret)
            ret = read_sa(ev, &x.state, reason);
        if (ret)
            return ret;
        ev->hard = x.hard ? 1 : 0;
        ev->type = KINK_XFRM_EV_EXPIRE;
        break;
    }
    case XFRM_MSG_ACQUIRE: {
        struct xfrm_user_acquire a;
        struct xfrm_user_tmpl t;

        memset(&t, 0, sizeof(t));
        ret = take_fixed(&body, &a, sizeof(a), &attrs, reason);
        if (!ret)
            ret = walk_attrs(&attrs, &ev->ntmpl, &t, reason);
        if (ret)
            return ret;
        ret = read_sel(&ev->sel, &a.sel, reason);
        if (ret)
            return ret;
        /* The SA's endpoints: id.daddr/saddr, of the template's family
         * (the selector's when the kernel sent no template). */
        ev->family = ev->ntmpl ? t.family : a.sel.family;
        if (!family_ok(ev->family))
            return fail(reason, "ACQUIRE template family unknown");
        ev->daddr = a.id.daddr;
        ev->saddr = a.saddr;
        ev->spi = ntohl(a.id.spi);
        ev->proto = a.id.proto;
        ev->mode = ev->ntmpl ? t.mode : 0;
        ev->reqid = ev->ntmpl ? t.reqid : 0;
        ev->dir = a.policy.dir;
        ev->policy_index = a.policy.index;
        ev->acq_seq = a.seq;
        ev->type = KINK_XFRM_EV_ACQUIRE;
        break;
    }
    default:
        ev->type = KINK_XFRM_EV_IGNORED;
        break;
    }
    *consumed = next;
    return 0;
}
