/*
 * The IKEv1 Quick Mode payloads inside KINK_ISAKMP (RFC 4430 section
 * 4.2.5; formats of RFC 2408 section 3, values of RFC 2407 section 4).
 *
 * The decoder reads untrusted bytes through struct ks_cursor only: every
 * length field is checked against what is left of the enclosing item (the
 * chain, the SA, the proposal, the transform) before anything is read, so
 * a nested length can never reach past its parent.  The encoder applies
 * the same rules to its input, so whatever it writes decodes again.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ks_util.h"
#include "kink_isakmp.h"

/* ---- reading ---------------------------------------------------------- */

#define FAIL(msg) do { *why = (msg); return EINVAL; } while (0)

/*
 * Read one generic payload header (RFC 2408 section 3.2) from c, and give
 * the payload body in *body; c moves past the whole payload.
 */
static krb5_error_code
rd_generic(struct ks_cursor *c, uint8_t *next, struct ks_cursor *body,
           const unsigned char **raw, size_t *raw_len, const char **why)
{
    const unsigned char *start = c->p;
    uint8_t reserved;
    uint16_t plen;
    size_t blen;

    if (!ks_cursor_u8(c, next) || !ks_cursor_u8(c, &reserved) || !ks_cursor_u16(c, &plen))
        FAIL("truncated ISAKMP payload header");
    /* RFC 2408 section 3.2: RESERVED is zero; refusing other values keeps
     * re-encoding exact. */
    if (reserved != 0)
        FAIL("nonzero RESERVED in ISAKMP payload header");
    if (plen < KINK_ISAKMP_GENERIC_HDR_LEN)
        FAIL("ISAKMP payload length shorter than its header");
    blen = (size_t)plen - KINK_ISAKMP_GENERIC_HDR_LEN;
    if (blen > ks_cursor_left(c))
        FAIL("ISAKMP payload length overruns its container");
    ks_cursor_init(body, ks_cursor_bytes(c, blen), blen);
    if (raw != NULL) {
        *raw = start;
        *raw_len = plen;
    }
    return 0;
}

/* The SPI size a protocol requires, or -1 when any size up to the bound
 * is acceptable (RFC 2407 section 4.6.1: 4 bytes for AH and ESP). */
static int
required_spi_size(uint8_t protocol)
{
    return (protocol == KINK_PROTO_IPSEC_AH ||
            protocol == KINK_PROTO_IPSEC_ESP) ? 4 : -1;
}

static krb5_error_code
dec_transform(struct kink_isakmp_chain *ch, struct ks_cursor *c,
              struct kink_isakmp_transform *t, const char **why)
{
    uint16_t reserved2, word, val;
    struct kink_isakmp_attr *a;

    if (!ks_cursor_u8(c, &t->number) || !ks_cursor_u8(c, &t->id) || !ks_cursor_u16(c, &reserved2))
        FAIL("truncated Transform payload");
    if (reserved2 != 0)
        FAIL("nonzero RESERVED2 in Transform payload");
    t->n_attrs = 0;
    t->attrs = &ch->attr_pool[ch->n_attr];
    while (ks_cursor_left(c) > 0) {
        if (t->n_attrs == KINK_ISAKMP_MAX_ATTRS)
            FAIL("too many attributes in a transform");
        if (ch->n_attr == KINK_ISAKMP_POOL_ATTRS)
            FAIL("too many attributes in the ISAKMP chain");
        if (!ks_cursor_u16(c, &word) || !ks_cursor_u16(c, &val))
            FAIL("truncated SA attribute");
        a = &ch->attr_pool[ch->n_attr];
        memset(a, 0, sizeof(*a));
        a->type = word & ~KINK_ATTR_AF_TV;
        if (word & KINK_ATTR_AF_TV) {
            a->tv = 1;
            a->basic = val;
        } else {
            /* A TLV value must lie within the transform. */
            if (val == 0)
                FAIL("zero-length TLV attribute");
            a->value = ks_cursor_bytes(c, val);
            if (a->value == NULL)
                FAIL("TLV attribute overruns its transform");
            a->len = val;
        }
        ch->n_attr++;
        t->n_attrs++;
    }
    return 0;
}

static krb5_error_code
dec_proposal(struct kink_isakmp_chain *ch, struct ks_cursor *c,
             struct kink_isakmp_proposal *p, const char **why)
{
    struct kink_isakmp_transform *t;
    struct ks_cursor body;
    krb5_error_code ret;
    uint8_t ntrans, next;
    size_t i;
    int req;

    if (!ks_cursor_u8(c, &p->number) || !ks_cursor_u8(c, &p->protocol) ||
        !ks_cursor_u8(c, &p->spi_size) || !ks_cursor_u8(c, &ntrans))
        FAIL("truncated Proposal payload");
    if (p->spi_size > KINK_ISAKMP_MAX_SPI)
        FAIL("Proposal SPI too long");
    req = required_spi_size(p->protocol);
    if (req >= 0 && p->spi_size != req)
        FAIL("AH or ESP Proposal SPI is not 4 bytes");
    p->spi = ks_cursor_bytes(c, p->spi_size);
    if (p->spi == NULL)
        FAIL("truncated Proposal SPI");
    if (ntrans == 0)
        FAIL("Proposal without transforms");
    if (ntrans > KINK_ISAKMP_MAX_TRANSFORMS)
        FAIL("too many transforms in a proposal");
    if (ch->n_xform + ntrans > KINK_ISAKMP_POOL_TRANSFORMS)
        FAIL("too many transforms in the ISAKMP chain");
    p->transforms = &ch->xform_pool[ch->n_xform];
    p->n_transforms = 0;
    for (i = 0; i < ntrans; i++) {
        ret = rd_generic(c, &next, &body, NULL, NULL, why);
        if (ret)
            return ret;
        /* The chain of transforms must end exactly at # of Transforms. */
        if (next != (i + 1 < ntrans ? KINK_ISAKMP_PL_T : KINK_ISAKMP_PL_NONE))
            FAIL("Transform chain disagrees with the number of transforms");
        t = &ch->xform_pool[ch->n_xform];
        ret = dec_transform(ch, &body, t, why);
        if (ret)
            return ret;
        ch->n_xform++;
        p->n_transforms++;
    }
    if (ks_cursor_left(c) != 0)
        FAIL("bytes after the last transform of a proposal");
    return 0;
}

static krb5_error_code
dec_sa(struct kink_isakmp_chain *ch, struct ks_cursor *c,
       const struct kink_isakmp_sa **out, const char **why)
{
    struct kink_isakmp_sa *sa;
    struct kink_isakmp_proposal *p;
    struct ks_cursor body;
    krb5_error_code ret;
    uint8_t next = KINK_ISAKMP_PL_P;

    if (ch->n_sa == KINK_ISAKMP_MAX_SA)
        FAIL("too many SA payloads in the ISAKMP chain");
    sa = &ch->sa_pool[ch->n_sa];
    if (!ks_cursor_u32(c, &sa->doi) || !ks_cursor_u32(c, &sa->situation))
        FAIL("truncated SA payload");
    if (sa->doi != KINK_DOI_IPSEC)
        FAIL("SA DOI is not IPsec");
    /* Other situations carry labels (RFC 2407 section 4.6.1) KINK has no
     * use for. */
    if (sa->situation != KINK_SIT_IDENTITY_ONLY)
        FAIL("SA situation is not SIT_IDENTITY_ONLY");
    if (ks_cursor_left(c) == 0)
        FAIL("SA payload without proposals");
    sa->n_proposals = 0;
    sa->proposals = &ch->prop_pool[ch->n_prop];
    while (next == KINK_ISAKMP_PL_P) {
        if (sa->n_proposals == KINK_ISAKMP_MAX_PROPOSALS)
            FAIL("too many proposals in an SA");
        if (ch->n_prop == KINK_ISAKMP_POOL_PROPOSALS)
            FAIL("too many proposals in the ISAKMP chain");
        ret = rd_generic(c, &next, &body, NULL, NULL, why);
        if (ret)
            return ret;
        if (next != KINK_ISAKMP_PL_P && next != KINK_ISAKMP_PL_NONE)
            FAIL("Proposal followed by a payload other than a Proposal");
        p = &ch->prop_pool[ch->n_prop];
        ret = dec_proposal(ch, &body, p, why);
        if (ret)
            return ret;
        /* RFC 2408 section 3.5: numbers increase; equal numbers form one
         * combined (AND) proposal. */
        if (sa->n_proposals > 0 && p->number < p[-1].number)
            FAIL("Proposal numbers decrease");
        ch->n_prop++;
        sa->n_proposals++;
    }
    if (ks_cursor_left(c) != 0)
        FAIL("bytes after the last proposal of an SA");
    ch->n_sa++;
    *out = sa;
    return 0;
}

/* The ID data length for an ID type, or 0 for types KINK does not use. */
static size_t
id_data_len(uint8_t id_type)
{
    switch (id_type) {
    case KINK_ID_IPV4_ADDR:         return 4;
    case KINK_ID_IPV4_ADDR_SUBNET:  return 8;
    case KINK_ID_IPV6_ADDR:         return 16;
    case KINK_ID_IPV6_ADDR_SUBNET:  return 32;
    default:                        return 0;
    }
}

static krb5_error_code
dec_id(struct ks_cursor *c, struct kink_isakmp_id *id, const char **why)
{
    size_t want;

    if (!ks_cursor_u8(c, &id->id_type) || !ks_cursor_u8(c, &id->protocol) ||
        !ks_cursor_u16(c, &id->port))
        FAIL("truncated Identification payload");
    want = id_data_len(id->id_type);
    if (want == 0)
        FAIL("unsupported Identification type");
    if (ks_cursor_left(c) != want)
        FAIL("Identification data length does not match its type");
    id->len = want;
    id->data = ks_cursor_bytes(c, want);
    return 0;
}

static krb5_error_code
dec_notify(struct ks_cursor *c, struct kink_isakmp_notify *n,
           const char **why)
{
    if (!ks_cursor_u32(c, &n->doi) || !ks_cursor_u8(c, &n->protocol) ||
        !ks_cursor_u8(c, &n->spi_size) || !ks_cursor_u16(c, &n->type))
        FAIL("truncated Notify payload");
    if (n->doi != KINK_DOI_ISAKMP && n->doi != KINK_DOI_IPSEC)
        FAIL("Notify DOI is neither ISAKMP nor IPsec");
    if (n->spi_size > KINK_ISAKMP_MAX_SPI)
        FAIL("Notify SPI too long");
    n->spi = ks_cursor_bytes(c, n->spi_size);
    if (n->spi == NULL)
        FAIL("truncated Notify SPI");
    n->data_len = ks_cursor_left(c);
    n->data = ks_cursor_bytes(c, n->data_len);
    return 0;
}

static krb5_error_code
dec_delete(struct ks_cursor *c, struct kink_isakmp_delete *d,
           const char **why)
{
    int req;

    if (!ks_cursor_u32(c, &d->doi) || !ks_cursor_u8(c, &d->protocol) ||
        !ks_cursor_u8(c, &d->spi_size) || !ks_cursor_u16(c, &d->n_spis))
        FAIL("truncated Delete payload");
    if (d->doi != KINK_DOI_ISAKMP && d->doi != KINK_DOI_IPSEC)
        FAIL("Delete DOI is neither ISAKMP nor IPsec");
    if (d->spi_size == 0 || d->spi_size > KINK_ISAKMP_MAX_SPI)
        FAIL("Delete SPI size out of range");
    req = required_spi_size(d->protocol);
    if (req >= 0 && d->spi_size != req)
        FAIL("AH or ESP Delete SPI is not 4 bytes");
    if (d->n_spis == 0)
        FAIL("Delete payload without SPIs");
    if (ks_cursor_left(c) != (size_t)d->n_spis * d->spi_size)
        FAIL("Delete SPI count disagrees with its length");
    d->spis = ks_cursor_bytes(c, ks_cursor_left(c));
    return 0;
}

krb5_error_code
kink_isakmp_decode(const unsigned char *buf, size_t len, uint8_t first_type,
                   struct kink_isakmp_chain *out, const char **reason)
{
    const char *dummy, **why = (reason != NULL) ? reason : &dummy;
    struct kink_isakmp_payload *pl;
    struct ks_cursor c, body;
    krb5_error_code ret = 0;
    uint8_t type = first_type, next;

    memset(out, 0, sizeof(*out));
    *why = NULL;
    ks_cursor_init(&c, buf, len);
    if (type == KINK_ISAKMP_PL_NONE)
        FAIL("no ISAKMP payloads");
    while (type != KINK_ISAKMP_PL_NONE) {
        if (out->n_payloads == KINK_ISAKMP_MAX_PAYLOADS)
            FAIL("too many ISAKMP payloads");
        switch (type) {
        case KINK_ISAKMP_PL_SA: case KINK_ISAKMP_PL_KE:
        case KINK_ISAKMP_PL_ID: case KINK_ISAKMP_PL_NONCE:
        case KINK_ISAKMP_PL_N: case KINK_ISAKMP_PL_D:
            break;
        default:
            /* HASH, SIG, CERT and the rest have no place in KINK (RFC
             * 4430 section 4.2.5 carries Quick Mode without HASH). */
            FAIL("unsupported ISAKMP payload type");
        }
        pl = &out->payloads[out->n_payloads];
        ret = rd_generic(&c, &next, &body, &pl->raw, &pl->raw_len, why);
        if (ret)
            return ret;
        pl->type = type;
        switch (type) {
        case KINK_ISAKMP_PL_SA:
            ret = dec_sa(out, &body, &pl->u.sa, why);
            break;
        case KINK_ISAKMP_PL_KE:
            if (ks_cursor_left(&body) == 0)
                FAIL("empty KE payload");
            pl->u.ke.len = ks_cursor_left(&body);
            pl->u.ke.data = ks_cursor_bytes(&body, pl->u.ke.len);
            break;
        case KINK_ISAKMP_PL_NONCE:
            if (ks_cursor_left(&body) < KINK_NONCE_MIN)
                FAIL("Nonce shorter than 8 bytes");
            if (ks_cursor_left(&body) > KINK_NONCE_MAX)
                FAIL("Nonce longer than 256 bytes");
            pl->u.nonce.len = ks_cursor_left(&body);
            pl->u.nonce.data = ks_cursor_bytes(&body, pl->u.nonce.len);
            break;
        case KINK_ISAKMP_PL_ID:
            ret = dec_id(&body, &pl->u.id, why);
            break;
        case KINK_ISAKMP_PL_N:
            ret = dec_notify(&body, &pl->u.notify, why);
            break;
        case KINK_ISAKMP_PL_D:
            ret = dec_delete(&body, &pl->u.del, why);
            break;
        }
        if (ret)
            return ret;
        out->n_payloads++;
        type = next;
    }
    if (ks_cursor_left(&c) != 0)
        FAIL("bytes after the last ISAKMP payload");
    return 0;
}

/* ---- writing ---------------------------------------------------------- */

/* A bounded writer: counts every byte, stores those that fit. */
struct wbuf {
    unsigned char *buf;
    size_t cap;
    size_t len;
};

static void
wr_bytes(struct wbuf *w, const void *p, size_t n)
{
    if (w->buf != NULL && n > 0 && w->len <= w->cap && n <= w->cap - w->len)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void
wr_u8(struct wbuf *w, uint8_t v)
{
    wr_bytes(w, &v, 1);
}

static void
wr_u16(struct wbuf *w, uint16_t v)
{
    unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

    wr_bytes(w, b, 2);
}

static void
wr_u32(struct wbuf *w, uint32_t v)
{
    unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };

    wr_bytes(w, b, 4);
}

/* Start a generic header at the current position; returns where. */
static size_t
wr_hdr_start(struct wbuf *w, uint8_t next)
{
    size_t at = w->len;

    wr_u8(w, next);
    wr_u8(w, 0);
    wr_u16(w, 0);               /* patched by wr_hdr_end */
    return at;
}

static krb5_error_code
wr_hdr_end(struct wbuf *w, size_t at, const char **why)
{
    size_t plen = w->len - at;

    if (plen > 0xffff)
        FAIL("ISAKMP payload longer than 65535 bytes");
    if (w->buf != NULL && at + 4 <= w->cap) {
        w->buf[at + 2] = (unsigned char)(plen >> 8);
        w->buf[at + 3] = (unsigned char)plen;
    }
    return 0;
}

/* Running totals, checked against the decoder's pools. */
struct wcount {
    size_t sa, prop, xform, attr;
};

static krb5_error_code
enc_transform(struct wbuf *w, struct wcount *cnt,
              const struct kink_isakmp_transform *t, uint8_t next,
              const char **why)
{
    const struct kink_isakmp_attr *a;
    size_t at, i;

    if (t->n_attrs > KINK_ISAKMP_MAX_ATTRS)
        FAIL("too many attributes in a transform");
    if (t->n_attrs > 0 && t->attrs == NULL)
        FAIL("transform attributes missing");
    cnt->attr += t->n_attrs;
    if (cnt->attr > KINK_ISAKMP_POOL_ATTRS)
        FAIL("too many attributes in the ISAKMP chain");
    at = wr_hdr_start(w, next);
    wr_u8(w, t->number);
    wr_u8(w, t->id);
    wr_u16(w, 0);
    for (i = 0; i < t->n_attrs; i++) {
        a = &t->attrs[i];
        if (a->type & KINK_ATTR_AF_TV)
            FAIL("SA attribute type exceeds 15 bits");
        if (a->tv) {
            wr_u16(w, a->type | KINK_ATTR_AF_TV);
            wr_u16(w, a->basic);
        } else {
            if (a->len == 0 || a->len > 0xffff || a->value == NULL)
                FAIL("TLV attribute length out of range");
            wr_u16(w, a->type);
            wr_u16(w, (uint16_t)a->len);
            wr_bytes(w, a->value, a->len);
        }
    }
    return wr_hdr_end(w, at, why);
}

static krb5_error_code
enc_proposal(struct wbuf *w, struct wcount *cnt,
             const struct kink_isakmp_proposal *p, uint8_t next,
             const char **why)
{
    krb5_error_code ret;
    size_t at, i;
    int req;

    if (p->spi_size > KINK_ISAKMP_MAX_SPI)
        FAIL("Proposal SPI too long");
    req = required_spi_size(p->protocol);
    if (req >= 0 && p->spi_size != req)
        FAIL("AH or ESP Proposal SPI is not 4 bytes");
    if (p->spi_size > 0 && p->spi == NULL)
        FAIL("Proposal SPI missing");
    if (p->n_transforms == 0 || p->transforms == NULL)
        FAIL("Proposal without transforms");
    if (p->n_transforms > KINK_ISAKMP_MAX_TRANSFORMS)
        FAIL("too many transforms in a proposal");
    cnt->xform += p->n_transforms;
    if (cnt->xform > KINK_ISAKMP_POOL_TRANSFORMS)
        FAIL("too many transforms in the ISAKMP chain");
    at = wr_hdr_start(w, next);
    wr_u8(w, p->number);
    wr_u8(w, p->protocol);
    wr_u8(w, p->spi_size);
    wr_u8(w, (uint8_t)p->n_transforms);
    wr_bytes(w, p->spi, p->spi_size);
    for (i = 0; i < p->n_transforms; i++) {
        ret = enc_transform(w, cnt, &p->transforms[i],
                            i + 1 < p->n_transforms ? KINK_ISAKMP_PL_T :
                            KINK_ISAKMP_PL_NONE, why);
        if (ret)
            return ret;
    }
    return wr_hdr_end(w, at, why);
}

static krb5_error_code
enc_sa(struct wbuf *w, struct wcount *cnt, const struct kink_isakmp_sa *sa,
       const char **why)
{
    krb5_error_code ret;
    size_t i;

    if (sa == NULL)
        FAIL("SA payload missing");
    if (++cnt->sa > KINK_ISAKMP_MAX_SA)
        FAIL("too many SA payloads in the ISAKMP chain");
    if (sa->doi != KINK_DOI_IPSEC)
        FAIL("SA DOI is not IPsec");
    if (sa->situation != KINK_SIT_IDENTITY_ONLY)
        FAIL("SA situation is not SIT_IDENTITY_ONLY");
    if (sa->n_proposals == 0 || sa->proposals == NULL)
        FAIL("SA payload without proposals");
    if (sa->n_proposals > KINK_ISAKMP_MAX_PROPOSALS)
        FAIL("too many proposals in an SA");
    cnt->prop += sa->n_proposals;
    if (cnt->prop > KINK_ISAKMP_POOL_PROPOSALS)
        FAIL("too many proposals in the ISAKMP chain");
    wr_u32(w, sa->doi);
    wr_u32(w, sa->situation);
    for (i = 0; i < sa->n_proposals; i++) {
        if (i > 0 && sa->proposals[i].number < sa->proposals[i - 1].number)
            FAIL("Proposal numbers decrease");
        ret = enc_proposal(w, cnt, &sa->proposals[i],
                           i + 1 < sa->n_proposals ? KINK_ISAKMP_PL_P :
                           KINK_ISAKMP_PL_NONE, why);
        if (ret)
            return ret;
    }
    return 0;
}

static krb5_error_code
enc_body(struct wbuf *w, struct wcount *cnt,
         const struct kink_isakmp_payload *pl, const char **why)
{
    const struct kink_isakmp_id *id;
    const struct kink_isakmp_notify *n;
    const struct kink_isakmp_delete *d;
    int req;

    switch (pl->type) {
    case KINK_ISAKMP_PL_SA:
        return enc_sa(w, cnt, pl->u.sa, why);
    case KINK_ISAKMP_PL_KE:
        if (pl->u.ke.len == 0 || pl->u.ke.data == NULL)
            FAIL("empty KE payload");
        wr_bytes(w, pl->u.ke.data, pl->u.ke.len);
        return 0;
    case KINK_ISAKMP_PL_NONCE:
        if (pl->u.nonce.len < KINK_NONCE_MIN || pl->u.nonce.data == NULL)
            FAIL("Nonce shorter than 8 bytes");
        if (pl->u.nonce.len > KINK_NONCE_MAX)
            FAIL("Nonce longer than 256 bytes");
        wr_bytes(w, pl->u.nonce.data, pl->u.nonce.len);
        return 0;
    case KINK_ISAKMP_PL_ID:
        id = &pl->u.id;
        if (id_data_len(id->id_type) == 0)
            FAIL("unsupported Identification type");
        if (id->len != id_data_len(id->id_type) || id->data == NULL)
            FAIL("Identification data length does not match its type");
        wr_u8(w, id->id_type);
        wr_u8(w, id->protocol);
        wr_u16(w, id->port);
        wr_bytes(w, id->data, id->len);
        return 0;
    case KINK_ISAKMP_PL_N:
        n = &pl->u.notify;
        if (n->doi != KINK_DOI_ISAKMP && n->doi != KINK_DOI_IPSEC)
            FAIL("Notify DOI is neither ISAKMP nor IPsec");
        if (n->spi_size > KINK_ISAKMP_MAX_SPI)
            FAIL("Notify SPI too long");
        if ((n->spi_size > 0 && n->spi == NULL) ||
            (n->data_len > 0 && n->data == NULL))
            FAIL("Notify SPI or data missing");
        wr_u32(w, n->doi);
        wr_u8(w, n->protocol);
        wr_u8(w, n->spi_size);
        wr_u16(w, n->type);
        wr_bytes(w, n->spi, n->spi_size);
        wr_bytes(w, n->data, n->data_len);
        return 0;
    case KINK_ISAKMP_PL_D:
        d = &pl->u.del;
        if (d->doi != KINK_DOI_ISAKMP && d->doi != KINK_DOI_IPSEC)
            FAIL("Delete DOI is neither ISAKMP nor IPsec");
        if (d->spi_size == 0 || d->spi_size > KINK_ISAKMP_MAX_SPI)
            FAIL("Delete SPI size out of range");
        req = required_spi_size(d->protocol);
        if (req >= 0 && d->spi_size != req)
            FAIL("AH or ESP Delete SPI is not 4 bytes");
        if (d->n_spis == 0 || d->spis == NULL)
            FAIL("Delete payload without SPIs");
        wr_u32(w, d->doi);
        wr_u8(w, d->protocol);
        wr_u8(w, d->spi_size);
        wr_u16(w, d->n_spis);
        wr_bytes(w, d->spis, (size_t)d->n_spis * d->spi_size);
        return 0;
    default:
        FAIL("unsupported ISAKMP payload type");
    }
}

krb5_error_code
kink_isakmp_encode(const struct kink_isakmp_payload *pl, size_t n,
                   unsigned char *buf, size_t cap, size_t *len_out,
                   uint8_t *first_type_out, const char **reason)
{
    const char *dummy, **why = (reason != NULL) ? reason : &dummy;
    struct wbuf w = { buf, (buf == NULL) ? 0 : cap, 0 };
    struct wcount cnt = { 0, 0, 0, 0 };
    krb5_error_code ret;
    size_t i, at;

    *why = NULL;
    if (len_out != NULL)
        *len_out = 0;
    if (n == 0 || pl == NULL)
        FAIL("no ISAKMP payloads");
    if (n > KINK_ISAKMP_MAX_PAYLOADS)
        FAIL("too many ISAKMP payloads");
    for (i = 0; i < n; i++) {
        at = wr_hdr_start(&w, i + 1 < n ? pl[i + 1].type :
                          KINK_ISAKMP_PL_NONE);
        ret = enc_body(&w, &cnt, &pl[i], why);
        if (ret)
            return ret;
        ret = wr_hdr_end(&w, at, why);
        if (ret)
            return ret;
    }
    if (len_out != NULL)
        *len_out = w.len;
    if (first_type_out != NULL)
        *first_type_out = pl[0].type;
    if (w.len > w.cap) {
        *why = "output buffer too small";
        return ENOSPC;
    }
    return 0;
}

krb5_error_code
kink_isakmp_encode_alloc(const struct kink_isakmp_payload *pl, size_t n,
                         krb5_data *out, uint8_t *first_type_out,
                         const char **reason)
{
    krb5_error_code ret;
    unsigned char *buf;
    size_t len;

    out->magic = KV5M_DATA;
    out->length = 0;
    out->data = NULL;
    ret = kink_isakmp_encode(pl, n, NULL, 0, &len, first_type_out, reason);
    if (ret != 0 && ret != ENOSPC)
        return ret;
    buf = malloc(len);
    if (buf == NULL)
        return ENOMEM;
    ret = kink_isakmp_encode(pl, n, buf, len, &len, first_type_out, reason);
    if (ret) {
        free(buf);
        return ret;
    }
    out->data = (char *)buf;
    out->length = len;
    return 0;
}

/* ---- typed ESP view ---------------------------------------------------- */

krb5_error_code
kink_isakmp_attr_uint(const struct kink_isakmp_attr *a, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (a->tv) {
        *out = a->basic;
        return 0;
    }
    if (a->len == 0 || a->len > 8 || a->value == NULL)
        return EINVAL;
    for (i = 0; i < a->len; i++)
        v = (v << 8) | a->value[i];
    *out = v;
    return 0;
}

static int
aes_key_bits_ok(uint64_t bits)
{
    return bits == 128 || bits == 192 || bits == 256;
}

krb5_error_code
kink_isakmp_esp_view(const struct kink_isakmp_transform *t,
                     struct kink_isakmp_esp *out, const char **reason)
{
    const char *dummy, **why = (reason != NULL) ? reason : &dummy;
    const struct kink_isakmp_attr *a;
    unsigned int seen = 0;
    uint16_t life_type = 0;     /* the type the next duration applies to */
    uint64_t v;
    size_t i;

    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (t->id != KINK_ESP_AES_CBC && t->id != KINK_ESP_AES_GCM_16)
        FAIL("unsupported ESP transform");
    out->transform_id = t->id;
    for (i = 0; i < t->n_attrs; i++) {
        a = &t->attrs[i];
        if (kink_isakmp_attr_uint(a, &v) != 0)
            FAIL("SA attribute value too long");
        /* RFC 2409 appendix A: basic attributes are never sent in TLV
         * form; life durations may be either. */
        if (!a->tv && a->type != KINK_ATTR_SA_LIFE_DURATION)
            FAIL("basic SA attribute in TLV form");
        if (a->type != KINK_ATTR_SA_LIFE_TYPE &&
            a->type != KINK_ATTR_SA_LIFE_DURATION) {
            if (a->type < 16 && (seen & (1u << a->type)))
                FAIL("duplicate SA attribute");
            if (a->type < 16)
                seen |= 1u << a->type;
        }
        switch (a->type) {
        case KINK_ATTR_SA_LIFE_TYPE:
            if (life_type != 0)
                FAIL("SA Life Type without a duration");
            if (v != KINK_LIFE_SECONDS && v != KINK_LIFE_KILOBYTES)
                FAIL("unsupported SA Life Type");
            if ((v == KINK_LIFE_SECONDS && out->life_seconds != 0) ||
                (v == KINK_LIFE_KILOBYTES && out->life_kbytes != 0))
                FAIL("duplicate SA Life Type");
            life_type = (uint16_t)v;
            break;
        case KINK_ATTR_SA_LIFE_DURATION:
            /* RFC 2407 section 4.5: the duration follows its type. */
            if (life_type == 0)
                FAIL("SA Life Duration without a Life Type");
            if (v == 0 || v > UINT32_MAX)
                FAIL("SA Life Duration out of range");
            if (life_type == KINK_LIFE_SECONDS)
                out->life_seconds = (uint32_t)v;
            else
                out->life_kbytes = (uint32_t)v;
            life_type = 0;
            break;
        case KINK_ATTR_ENCAP_MODE:
            if (v != KINK_ENCAP_TUNNEL && v != KINK_ENCAP_TRANSPORT)
                FAIL("unsupported Encapsulation Mode");
            out->encap_mode = (uint16_t)v;
            break;
        case KINK_ATTR_AUTH_ALG:
            if (v != KINK_AUTH_HMAC_SHA1 && v != KINK_AUTH_HMAC_SHA2_256)
                FAIL("unsupported Authentication Algorithm");
            out->auth_alg = (uint16_t)v;
            break;
        case KINK_ATTR_KEY_LENGTH:
            if (!aes_key_bits_ok(v))
                FAIL("unsupported AES Key Length");
            out->key_bits = (uint16_t)v;
            break;
        case KINK_ATTR_GROUP_DESC:
            if (v != KINK_GROUP_MODP_2048 && v != KINK_GROUP_ECP_256)
                FAIL("unsupported Group Description");
            out->group = (uint16_t)v;
            break;
        default:
            FAIL("unsupported SA attribute");
        }
    }
    if (life_type != 0)
        FAIL("SA Life Type without a duration");
    /* RFC 3602 section 5.3 and RFC 4106 section 8.1: AES needs its key
     * length; GCM carries no separate authentication algorithm, CBC must
     * have one. */
    if (out->key_bits == 0)
        FAIL("AES transform without Key Length");
    if (t->id == KINK_ESP_AES_GCM_16 && out->auth_alg != 0)
        FAIL("AES-GCM transform with an Authentication Algorithm");
    if (t->id == KINK_ESP_AES_CBC && out->auth_alg == 0)
        FAIL("AES-CBC transform without an Authentication Algorithm");
    return 0;
}

static void
put_tv(struct kink_isakmp_esp_attrs *o, uint16_t type, uint16_t val)
{
    struct kink_isakmp_attr *a = &o->attrs[o->n++];

    memset(a, 0, sizeof(*a));
    a->type = type;
    a->tv = 1;
    a->basic = val;
}

static void
put_life(struct kink_isakmp_esp_attrs *o, uint16_t life_type, uint32_t v,
         unsigned char *store)
{
    struct kink_isakmp_attr *a;

    put_tv(o, KINK_ATTR_SA_LIFE_TYPE, life_type);
    store[0] = (unsigned char)(v >> 24);
    store[1] = (unsigned char)(v >> 16);
    store[2] = (unsigned char)(v >> 8);
    store[3] = (unsigned char)v;
    a = &o->attrs[o->n++];
    memset(a, 0, sizeof(*a));
    a->type = KINK_ATTR_SA_LIFE_DURATION;
    a->value = store;
    a->len = 4;
}

krb5_error_code
kink_isakmp_esp_attrs(const struct kink_isakmp_esp *esp,
                      struct kink_isakmp_esp_attrs *out, const char **reason)
{
    struct kink_isakmp_transform t;
    struct kink_isakmp_esp check;

    memset(out, 0, sizeof(*out));
    if (esp->life_seconds != 0)
        put_life(out, KINK_LIFE_SECONDS, esp->life_seconds, out->life[0]);
    if (esp->life_kbytes != 0)
        put_life(out, KINK_LIFE_KILOBYTES, esp->life_kbytes, out->life[1]);
    if (esp->encap_mode != 0)
        put_tv(out, KINK_ATTR_ENCAP_MODE, esp->encap_mode);
    if (esp->auth_alg != 0)
        put_tv(out, KINK_ATTR_AUTH_ALG, esp->auth_alg);
    if (esp->key_bits != 0)
        put_tv(out, KINK_ATTR_KEY_LENGTH, esp->key_bits);
    if (esp->group != 0)
        put_tv(out, KINK_ATTR_GROUP_DESC, esp->group);
    /* Check by reading it back, so the builder never outgrows the view. */
    t.number = 0;
    t.id = esp->transform_id;
    t.n_attrs = out->n;
    t.attrs = out->attrs;
    return kink_isakmp_esp_view(&t, &check, reason);
}
