/*
 * KINK (RFC 4430) message and payload codec: see kink_msg.h for the wire
 * format.  Decoding reads untrusted datagrams through the bounds-checked
 * cursor of ks_util.h; encoding writes through a small bounded writer
 * whose first overflow sticks, so neither side does loose pointer
 * arithmetic.  The encoder refuses exactly what the decoder would refuse,
 * so that whatever it makes decodes again to the same structure.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ks_util.h"
#include "kink_msg.h"

/* Fail with a static reason and the KINK_ERROR code to answer. */
#define FAIL(reason) do { *why = (reason); goto fail; } while (0)

/* Octets of zero padding that bring off to a 4-octet boundary. */
static size_t
pad4(size_t off)
{
    return (4 - (off & 3)) & 3;
}

/* 1 when the n octets at p are all zero. */
static int
all_zero(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] != 0)
            return 0;
    }
    return 1;
}

/*
 * Decode the body of one payload of type (known) into pl.  Sets
 * *canonical to 0 when a reserved field is non-zero.
 */
static krb5_error_code
decode_body(uint8_t type, const uint8_t *body, size_t blen,
            struct kink_payload *pl, int *canonical, const char **why)
{
    struct ks_cursor c;
    uint16_t namelen, reserved;
    uint8_t ver;

    ks_cursor_init(&c, body, blen);
    memset(pl, 0, sizeof(*pl));
    pl->type = type;
    switch (type) {
    case KINK_AP_REQ:
    case KINK_AP_REP:
        if (!ks_cursor_u32(&c, &pl->epoch))
            FAIL("KINK_AP_REQ/AP_REP shorter than its EPOCH");
        break;
    case KINK_TGT_REQ:
        if (!ks_cursor_u16(&c, &namelen))
            FAIL("KINK_TGT_REQ shorter than its PrincName length");
        if (namelen != ks_cursor_left(&c))
            FAIL("KINK_TGT_REQ PrincName length does not match the payload");
        break;
    case KINK_ISAKMP:
        if (!ks_cursor_u8(&c, &pl->inner_next) || !ks_cursor_u8(&c, &ver) ||
            !ks_cursor_u16(&c, &reserved))
            FAIL("KINK_ISAKMP shorter than its header");
        pl->qm_maj = ver >> 4;
        pl->qm_min = ver & 0x0f;
        if (reserved != 0)
            *canonical = 0;
        break;
    case KINK_ERROR:
        if (!ks_cursor_u32(&c, &pl->error_code) || ks_cursor_left(&c) != 0)
            FAIL("KINK_ERROR is not 4 octets of ErrorCode");
        break;
    default:
        break;
    }
    pl->data_len = ks_cursor_left(&c);
    pl->data = (pl->data_len > 0) ? ks_cursor_bytes(&c, pl->data_len) : NULL;

    /* A Kerberos message, a principal name or a ciphertext is never
     * empty; the ISAKMP payloads are judged by kink_isakmp. */
    if (pl->data_len == 0 && type != KINK_ISAKMP && type != KINK_ERROR)
        FAIL("empty KINK payload");
    return 0;

fail:
    return EINVAL;
}

/*
 * Decode the payload chain in region (rlen octets, starting on a 4-octet
 * boundary) whose first payload has type next.  On success *end is the
 * offset just past the last payload, before its padding.
 */
static krb5_error_code
decode_chain(const uint8_t *region, size_t rlen, uint8_t next, int inner,
             struct kink_chain *chain, size_t *end, int *canonical,
             const char **why)
{
    struct ks_cursor c;
    const uint8_t *hdr, *body, *pad;
    unsigned int seen = 0;
    size_t off = 0, plen, npad;
    int after_encrypt = 0;

    chain->n = 0;
    while (next != KINK_DONE) {
        if (chain->n == KINK_MSG_MAX_PAYLOADS)
            FAIL("too many KINK payloads");
        if (after_encrypt)
            FAIL("KINK_ENCRYPT is not the last payload");
        if (next > KINK_PAYLOAD_TYPE_MAX)
            FAIL("unknown KINK payload type");
        if (inner && (next == KINK_AP_REQ || next == KINK_AP_REP ||
                      next == KINK_ENCRYPT))
            FAIL("KINK_AP_REQ, KINK_AP_REP or KINK_ENCRYPT inside "
                 "KINK_ENCRYPT");
        if (seen & (1u << next))
            FAIL("duplicate KINK payload");
        seen |= 1u << next;

        ks_cursor_init(&c, region + off, rlen - off);
        hdr = ks_cursor_bytes(&c, KINK_PAYLOAD_HEADER_LEN);
        if (hdr == NULL)
            FAIL("truncated KINK payload header");
        plen = ((size_t)hdr[2] << 8) | hdr[3];
        if (plen < KINK_PAYLOAD_HEADER_LEN)
            FAIL("KINK payload length smaller than its header");
        body = ks_cursor_bytes(&c, plen - KINK_PAYLOAD_HEADER_LEN);
        if (body == NULL)
            FAIL("KINK payload length overruns the message");
        if (hdr[1] != 0)
            *canonical = 0;
        if (decode_body(next, body, plen - KINK_PAYLOAD_HEADER_LEN,
                        &chain->p[chain->n], canonical, why) != 0)
            goto fail;
        chain->n++;
        after_encrypt = (next == KINK_ENCRYPT);
        off += plen;
        next = hdr[0];

        /* The next payload starts on a 4-octet boundary. */
        if (next != KINK_DONE) {
            npad = pad4(off);
            pad = ks_cursor_bytes(&c, npad);
            if (pad == NULL)
                FAIL("truncated padding after a KINK payload");
            if (!all_zero(pad, npad))
                *canonical = 0;
            off += npad;
        }
    }
    *end = off;
    return 0;

fail:
    return EINVAL;
}

krb5_error_code
kink_msg_decode(const uint8_t *buf, size_t len, struct kink_msg *out,
                const char **why)
{
    struct ks_cursor c;
    const char *dummy;
    uint8_t ver = 0, next = 0, flags = 0;
    uint16_t length = 0, cksum_len = 0;
    size_t chain_len, end, rest;

    if (why == NULL)
        why = &dummy;
    memset(out, 0, sizeof(*out));
    out->kink_error = KINK_PROTOERR;
    out->canonical = 1;

    ks_cursor_init(&c, buf, len);
    if (len < KINK_HEADER_LEN)
        FAIL("message shorter than the KINK header");
    (void)ks_cursor_u8(&c, &out->type);
    (void)ks_cursor_u8(&c, &ver);
    (void)ks_cursor_u16(&c, &length);
    (void)ks_cursor_u32(&c, &out->doi);
    (void)ks_cursor_u32(&c, &out->xid);
    (void)ks_cursor_u8(&c, &next);
    (void)ks_cursor_u8(&c, &flags);
    (void)ks_cursor_u16(&c, &cksum_len);

    /* The version first: another major version may mean another layout. */
    out->mjver = ver >> 4;
    if (out->mjver != KINK_MJVER) {
        out->kink_error = KINK_INVMAJ;
        FAIL("unsupported KINK major version");
    }
    if ((ver & 0x0f) != 0 || (flags & ~KINK_FLAG_ACKREQ) != 0)
        out->canonical = 0;
    out->ackreq = (flags & KINK_FLAG_ACKREQ) != 0;
    if (out->type < KINK_MSG_CREATE || out->type > KINK_MSG_STATUS)
        FAIL("unknown KINK message type");

    /* Section 4 allows octets after Length; they are not the message. */
    if (length < KINK_HEADER_LEN)
        FAIL("KINK Length smaller than the header");
    if (length > len)
        FAIL("KINK Length exceeds the datagram");
    if (length < len)
        out->canonical = 0;
    out->len = length;
    if (cksum_len > length - KINK_HEADER_LEN)
        FAIL("KINK CksumLen exceeds the message");
    out->cksum_len = cksum_len;
    out->cksum_off = length - cksum_len;
    out->cksum = (cksum_len > 0) ? buf + out->cksum_off : NULL;
    if (cksum_len > 0 && (out->cksum_off & 3) != 0)
        FAIL("KINK checksum does not start on a 4-octet boundary");

    chain_len = out->cksum_off - KINK_HEADER_LEN;
    if (decode_chain(buf + KINK_HEADER_LEN, chain_len, next, 0, &out->chain,
                     &end, &out->canonical, why) != 0)
        goto fail;

    /* Only the last payload's padding may follow the chain.  Without a
     * checksum an unpadded end is accepted (racoon2 sends it). */
    rest = chain_len - end;
    if (rest == pad4(end)) {
        if (!all_zero(buf + KINK_HEADER_LEN + end, rest))
            out->canonical = 0;
    } else if (rest == 0 && cksum_len == 0) {
        out->canonical = 0;
    } else {
        FAIL("data after the last KINK payload");
    }
    out->kink_error = KINK_OK;
    return 0;

fail:
    return EINVAL;
}

krb5_error_code
kink_msg_decode_inner(const uint8_t *plain, size_t len,
                      struct kink_chain *out, int *canonical,
                      const char **why)
{
    const char *dummy;
    int canon = 1;
    size_t end, rest;

    if (why == NULL)
        why = &dummy;
    memset(out, 0, sizeof(*out));
    if (len < 4)
        FAIL("KINK_ENCRYPT plaintext shorter than its header");
    if (!all_zero(plain + 1, 3))
        canon = 0;
    if (decode_chain(plain + 4, len - 4, plain[0], 1, out, &end, &canon,
                     why) != 0)
        goto fail;

    /* After the chain: its padding, or any run of zero octets that a
     * cipher's block padding left. */
    rest = len - 4 - end;
    if (!all_zero(plain + 4 + end, rest))
        FAIL("data after the last payload inside KINK_ENCRYPT");
    if (rest != pad4(end))
        canon = 0;
    if (canonical != NULL)
        *canonical = canon;
    return 0;

fail:
    memset(out, 0, sizeof(*out));
    return EINVAL;
}

/* A bounded output buffer; the first overflow sticks. */
struct writer {
    uint8_t *p;
    size_t len, cap;
    int overflow;
};

static void
put_bytes(struct writer *w, const void *src, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    if (n > 0 && src != NULL)
        memcpy(w->p + w->len, src, n);
    else if (n > 0)
        memset(w->p + w->len, 0, n);
    w->len += n;
}

static void
put_u8(struct writer *w, uint8_t v)
{
    put_bytes(w, &v, 1);
}

static void
put_u16(struct writer *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

    put_bytes(w, b, 2);
}

static void
put_u32(struct writer *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 8), (uint8_t)v };

    put_bytes(w, b, 4);
}

/* Octets of a payload's body (without the generic header), or 0 when
 * the payload could not be decoded again. */
static size_t
body_len(const struct kink_payload *pl)
{
    switch (pl->type) {
    case KINK_AP_REQ:
    case KINK_AP_REP:
        return (pl->data_len > 0) ? 4 + pl->data_len : 0;
    case KINK_TGT_REQ:
        return (pl->data_len > 0 && pl->data_len <= 0xffff) ?
            2 + pl->data_len : 0;
    case KINK_KRB_ERROR:
    case KINK_TGT_REP:
    case KINK_ENCRYPT:
        return pl->data_len;
    case KINK_ISAKMP:
        return (pl->qm_maj <= 15 && pl->qm_min <= 15) ? 4 + pl->data_len : 0;
    case KINK_ERROR:
        return 4;
    default:
        return 0;
    }
}

/*
 * Check chain against the decoder's rules and return the octets it takes
 * with every payload padded, or 0 on a violation (an empty chain takes 0
 * octets too: *ok tells them apart).
 */
static size_t
chain_size(const struct kink_chain *chain, int inner, int *ok)
{
    unsigned int seen = 0;
    size_t i, total = 0, blen;
    uint8_t t;

    *ok = 0;
    if (chain->n > KINK_MSG_MAX_PAYLOADS)
        return 0;
    for (i = 0; i < chain->n; i++) {
        t = chain->p[i].type;
        if (t == KINK_DONE || t > KINK_PAYLOAD_TYPE_MAX || (seen & (1u << t)))
            return 0;
        if (inner && (t == KINK_AP_REQ || t == KINK_AP_REP ||
                      t == KINK_ENCRYPT))
            return 0;
        if (t == KINK_ENCRYPT && i + 1 != chain->n)
            return 0;
        seen |= 1u << t;
        blen = body_len(&chain->p[i]);
        if (blen == 0 || blen > 0xffff - KINK_PAYLOAD_HEADER_LEN)
            return 0;
        total += KINK_PAYLOAD_HEADER_LEN + blen;
        total += pad4(total);
        if (total > KINK_MSG_MAX_LEN)
            return 0;
    }
    *ok = 1;
    return total;
}

/* Write chain (already checked by chain_size) with padding after every
 * payload; offsets are aligned because w starts aligned. */
static void
put_chain(struct writer *w, const struct kink_chain *chain)
{
    const struct kink_payload *pl;
    size_t i, blen;

    for (i = 0; i < chain->n; i++) {
        pl = &chain->p[i];
        blen = body_len(pl);
        put_u8(w, (i + 1 < chain->n) ? chain->p[i + 1].type : KINK_DONE);
        put_u8(w, 0);
        put_u16(w, (uint16_t)(KINK_PAYLOAD_HEADER_LEN + blen));
        switch (pl->type) {
        case KINK_AP_REQ:
        case KINK_AP_REP:
            put_u32(w, pl->epoch);
            break;
        case KINK_TGT_REQ:
            put_u16(w, (uint16_t)pl->data_len);
            break;
        case KINK_ISAKMP:
            put_u8(w, pl->inner_next);
            put_u8(w, (uint8_t)((pl->qm_maj << 4) | pl->qm_min));
            put_u16(w, 0);
            break;
        case KINK_ERROR:
            put_u32(w, pl->error_code);
            break;
        default:
            break;
        }
        if (pl->type != KINK_ERROR)
            put_bytes(w, pl->data, pl->data_len);
        put_bytes(w, NULL, pad4(w->len));
    }
}

krb5_error_code
kink_msg_encode(const struct kink_msg *msg, size_t cksum_len,
                uint8_t **out_buf, size_t *out_len, size_t *cksum_off)
{
    struct writer w = { NULL, 0, 0, 0 };
    size_t csize, total;
    int ok;

    *out_buf = NULL;
    *out_len = 0;
    *cksum_off = 0;
    if (msg->type < KINK_MSG_CREATE || msg->type > KINK_MSG_STATUS)
        return EINVAL;
    csize = chain_size(&msg->chain, 0, &ok);
    if (!ok || cksum_len > KINK_MSG_MAX_LEN)
        return EINVAL;
    total = KINK_HEADER_LEN + csize + cksum_len;
    if (total > KINK_MSG_MAX_LEN)
        return EINVAL;

    w.p = calloc(1, total);
    if (w.p == NULL)
        return ENOMEM;
    w.cap = total;
    put_u8(&w, msg->type);
    put_u8(&w, KINK_MJVER << 4);
    put_u16(&w, (uint16_t)total);
    put_u32(&w, msg->doi);
    put_u32(&w, msg->xid);
    put_u8(&w, (msg->chain.n > 0) ? msg->chain.p[0].type : KINK_DONE);
    put_u8(&w, msg->ackreq ? KINK_FLAG_ACKREQ : 0);
    put_u16(&w, (uint16_t)cksum_len);
    put_chain(&w, &msg->chain);
    put_bytes(&w, NULL, cksum_len);
    if (w.overflow || w.len != total) {
        free(w.p);
        return EINVAL;
    }
    *out_buf = w.p;
    *out_len = total;
    *cksum_off = total - cksum_len;
    return 0;
}

krb5_error_code
kink_msg_encode_inner(const struct kink_chain *chain, uint8_t **out_buf,
                      size_t *out_len)
{
    struct writer w = { NULL, 0, 0, 0 };
    size_t total;
    int ok;

    *out_buf = NULL;
    *out_len = 0;
    total = 4 + chain_size(chain, 1, &ok);
    if (!ok || total > KINK_MSG_MAX_LEN)
        return EINVAL;
    w.p = calloc(1, total);
    if (w.p == NULL)
        return ENOMEM;
    w.cap = total;
    put_u8(&w, (chain->n > 0) ? chain->p[0].type : KINK_DONE);
    put_bytes(&w, NULL, 3);
    put_chain(&w, chain);
    if (w.overflow || w.len != total) {
        free(w.p);
        return EINVAL;
    }
    *out_buf = w.p;
    *out_len = total;
    return 0;
}

/* A krb5_data over n octets at p (krb5.h has no public constructor). */
static krb5_data
data_of(uint8_t *p, size_t n)
{
    krb5_data d;

    d.magic = KV5M_DATA;
    d.length = (unsigned int)n;
    d.data = (char *)p;
    return d;
}

/* Read Length and CksumLen of the message in buf and check that the
 * checksum lies inside it. */
static krb5_error_code
cksum_bounds(const uint8_t *buf, size_t len, size_t *cksum_off,
             size_t *cksum_len)
{
    size_t length, clen;

    if (buf == NULL || len < KINK_HEADER_LEN)
        return EINVAL;
    length = ((size_t)buf[2] << 8) | buf[3];
    clen = ((size_t)buf[14] << 8) | buf[15];
    if (length > len || length < KINK_HEADER_LEN || clen == 0 ||
        clen > length - KINK_HEADER_LEN)
        return EINVAL;
    *cksum_off = length - clen;
    *cksum_len = clen;
    return 0;
}

krb5_error_code
kink_msg_cksum_input(uint8_t *buf, size_t len, enum kink_cksum_mode mode,
                     struct kink_cksum_input *out)
{
    size_t off, clen, i = 0;

    memset(out, 0, sizeof(*out));
    if (cksum_bounds(buf, len, &off, &clen) != 0)
        return EINVAL;
    if (mode == KINK_CKSUM_RFC4430) {
        out->iov[i].flags = KRB5_CRYPTO_TYPE_DATA;
        out->iov[i].data = data_of(buf, off);
        i++;
    } else if (mode == KINK_CKSUM_RACOON2) {
        /* The header as racoon2 checksums it: Length without the
         * checksum, CksumLen 0. */
        memcpy(out->hdr, buf, KINK_HEADER_LEN);
        out->hdr[2] = (uint8_t)(off >> 8);
        out->hdr[3] = (uint8_t)off;
        out->hdr[14] = out->hdr[15] = 0;
        out->iov[i].flags = KRB5_CRYPTO_TYPE_DATA;
        out->iov[i].data = data_of(out->hdr, KINK_HEADER_LEN);
        i++;
        out->iov[i].flags = KRB5_CRYPTO_TYPE_DATA;
        out->iov[i].data = data_of(buf + KINK_HEADER_LEN,
                                     off - KINK_HEADER_LEN);
        i++;
    } else {
        return EINVAL;
    }
    out->iov[i].flags = KRB5_CRYPTO_TYPE_CHECKSUM;
    out->iov[i].data = data_of(buf + off, clen);
    out->n = i + 1;
    return 0;
}

krb5_error_code
kink_msg_set_cksum(uint8_t *buf, size_t len, const uint8_t *ck,
                   size_t ck_len)
{
    size_t off, clen;

    if (cksum_bounds(buf, len, &off, &clen) != 0 || ck_len != clen)
        return EINVAL;
    memcpy(buf + off, ck, clen);
    return 0;
}

const struct kink_payload *
kink_chain_find(const struct kink_chain *chain, uint8_t type)
{
    size_t i;

    for (i = 0; i < chain->n && i < KINK_MSG_MAX_PAYLOADS; i++) {
        if (chain->p[i].type == type)
            return &chain->p[i];
    }
    return NULL;
}

const char *
kink_msg_type_name(uint8_t type)
{
    static const char *const names[] = {
        "RESERVED", "CREATE", "DELETE", "REPLY", "GETTGT", "ACK", "STATUS"
    };

    return (type < sizeof(names) / sizeof(*names)) ? names[type] : "unknown";
}

const char *
kink_payload_type_name(uint8_t type)
{
    static const char *const names[] = {
        "KINK_DONE", "KINK_AP_REQ", "KINK_AP_REP", "KINK_KRB_ERROR",
        "KINK_TGT_REQ", "KINK_TGT_REP", "KINK_ISAKMP", "KINK_ENCRYPT",
        "KINK_ERROR"
    };

    return (type < sizeof(names) / sizeof(*names)) ? names[type] : "unknown";
}

const char *
kink_error_name(uint32_t code)
{
    static const char *const names[] = {
        "KINK_OK", "KINK_PROTOERR", "KINK_INVDOI", "KINK_INVMAJ",
        "KINK_INVMIN", "KINK_INTERR", "KINK_BADQMVERS"
    };

    return (code < sizeof(names) / sizeof(*names)) ? names[code] : "unknown";
}
