/*
 * Fuzz target: the KINK message codec (kink/kink_msg.h), which reads every
 * datagram kinkd receives before anything is authenticated.
 *
 * Besides memory errors, the target aborts when the codec breaks its
 * contract: what decodes must encode again, the encoding must decode to
 * the same message, and when the decoder calls the input canonical the
 * encoding (with the checksum octets copied in) must be the input
 * itself.  The same input is also tried as the plaintext of a
 * KINK_ENCRYPT payload (a peer holding the session key chooses it), and
 * the checksum input ranges are checked to lie inside the message.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <krb5/krb5.h>

#include "kink_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same_payload(const struct kink_payload *a, const struct kink_payload *b)
{
    if (a->type != b->type || a->epoch != b->epoch ||
        a->error_code != b->error_code || a->inner_next != b->inner_next ||
        a->qm_maj != b->qm_maj || a->qm_min != b->qm_min ||
        a->data_len != b->data_len ||
        (a->data_len > 0 && memcmp(a->data, b->data, a->data_len) != 0))
        abort();
}

static void
same_chain(const struct kink_chain *a, const struct kink_chain *b)
{
    size_t i;

    if (a->n != b->n || a->n > KINK_MSG_MAX_PAYLOADS)
        abort();
    for (i = 0; i < a->n; i++)
        same_payload(&a->p[i], &b->p[i]);
}

/* Every payload's data lies inside [base, base + len). */
static void
inside(const struct kink_chain *c, const uint8_t *base, size_t len)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        if (c->p[i].data_len == 0)
            continue;
        if (c->p[i].data < base || c->p[i].data_len > len ||
            (size_t)(c->p[i].data - base) > len - c->p[i].data_len)
            abort();
    }
}

static void
fuzz_message(const uint8_t *data, size_t size)
{
    struct kink_msg m, again;
    struct kink_cksum_input ci;
    uint8_t *buf, *copy;
    size_t len, off, i, total;
    int mode;

    if (kink_msg_decode(data, size, &m, NULL) != 0)
        return;
    if (m.len > size || m.len < KINK_HEADER_LEN ||
        m.cksum_off + m.cksum_len != m.len || m.kink_error != KINK_OK)
        abort();
    if (m.cksum_len > 0 && m.cksum != data + m.cksum_off)
        abort();
    inside(&m.chain, data, m.cksum_off);

    if (kink_msg_encode(&m, m.cksum_len, &buf, &len, &off) != 0)
        abort();
    if (off != len - m.cksum_len)
        abort();
    if (m.cksum_len > 0 &&
        kink_msg_set_cksum(buf, len, m.cksum, m.cksum_len) != 0)
        abort();
    if (kink_msg_decode(buf, len, &again, NULL) != 0 || !again.canonical ||
        again.type != m.type || again.xid != m.xid || again.doi != m.doi ||
        again.ackreq != m.ackreq || again.cksum_len != m.cksum_len)
        abort();
    same_chain(&m.chain, &again.chain);
    if (m.canonical && (len != size || memcmp(buf, data, size) != 0))
        abort();

    /* The checksum input covers [0, cksum_off) and the Cksum field. */
    if (m.cksum_len > 0) {
        for (mode = KINK_CKSUM_RFC4430; mode <= KINK_CKSUM_RACOON2; mode++) {
            if (kink_msg_cksum_input(buf, len, (enum kink_cksum_mode)mode,
                                     &ci) != 0)
                abort();
            total = 0;
            for (i = 0; i + 1 < ci.n; i++)
                total += ci.iov[i].data.length;
            if (total != off || ci.iov[ci.n - 1].data.data != (char *)buf + off ||
                ci.iov[ci.n - 1].data.length != m.cksum_len)
                abort();
        }
    }
    free(buf);

    /* The decoder must not depend on octets past Length. */
    copy = malloc(m.len);
    if (copy == NULL)
        abort();
    memcpy(copy, data, m.len);
    if (kink_msg_decode(copy, m.len, &again, NULL) != 0)
        abort();
    same_chain(&m.chain, &again.chain);
    free(copy);
}

static void
fuzz_inner(const uint8_t *data, size_t size)
{
    struct kink_chain c, again;
    uint8_t *buf;
    size_t len;
    int canonical = 0, canon2 = 0;

    if (kink_msg_decode_inner(data, size, &c, &canonical, NULL) != 0)
        return;
    inside(&c, data, size);
    if (kink_msg_encode_inner(&c, &buf, &len) != 0)
        abort();
    if (kink_msg_decode_inner(buf, len, &again, &canon2, NULL) != 0 ||
        !canon2)
        abort();
    same_chain(&c, &again);
    if (canonical && (len != size || memcmp(buf, data, size) != 0))
        abort();
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_message(data, size);
    fuzz_inner(data, size);
    return 0;
}
