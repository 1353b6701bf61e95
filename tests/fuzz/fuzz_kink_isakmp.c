/*
 * libFuzzer target for the Quick Mode payload codec (kink/kink_isakmp.h).
 *
 * Input: byte 0 is the type of the first payload (InnerNextPload of the
 * KINK_ISAKMP header), the rest the payload chain.  What decodes must
 * re-encode to exactly the same bytes; every ESP transform that the typed
 * view accepts must rebuild (kink_isakmp_esp_attrs) into attributes that
 * view to the same values.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kink_isakmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void
check_esp(const struct kink_isakmp_transform *t)
{
    struct kink_isakmp_esp esp, again;
    struct kink_isakmp_esp_attrs built;
    struct kink_isakmp_transform t2;

    if (kink_isakmp_esp_view(t, &esp, NULL) != 0)
        return;
    if (kink_isakmp_esp_attrs(&esp, &built, NULL) != 0)
        abort();
    t2 = *t;
    t2.n_attrs = built.n;
    t2.attrs = built.attrs;
    if (kink_isakmp_esp_view(&t2, &again, NULL) != 0 ||
        memcmp(&esp, &again, sizeof(esp)) != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static struct kink_isakmp_chain ch;
    const struct kink_isakmp_sa *sa;
    const struct kink_isakmp_proposal *p;
    unsigned char *buf;
    const char *why = NULL;
    size_t i, j, k, len;
    uint8_t first;

    if (n < 1)
        return 0;
    if (kink_isakmp_decode(d + 1, n - 1, d[0], &ch, &why) != 0) {
        if (why == NULL)
            abort();
        return 0;
    }
    buf = malloc(n);
    if (buf == NULL)
        return 0;
    if (kink_isakmp_encode(ch.payloads, ch.n_payloads, buf, n - 1, &len,
                           &first, &why) != 0 ||
        len != n - 1 || first != d[0] || memcmp(buf, d + 1, len) != 0)
        abort();
    free(buf);
    for (i = 0; i < ch.n_payloads; i++) {
        if (ch.payloads[i].type != KINK_ISAKMP_PL_SA)
            continue;
        sa = ch.payloads[i].u.sa;
        for (j = 0; j < sa->n_proposals; j++) {
            p = &sa->proposals[j];
            if (p->protocol != KINK_PROTO_IPSEC_ESP)
                continue;
            for (k = 0; k < p->n_transforms; k++)
                check_esp(&p->transforms[k]);
        }
    }
    return 0;
}
