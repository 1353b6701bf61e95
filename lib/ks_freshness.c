/* Freshness token framing; see ks_freshness.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ks_freshness.h"
#include "ks_util.h"

krb5_error_code
ks_freshness_token_parse(const unsigned char *p, size_t len,
                         struct ks_freshness_token *out)
{
    struct ks_cursor c;
    uint32_t kvno, enctype;

    memset(out, 0, sizeof(*out));
    ks_cursor_init(&c, p, len);
    if (!ks_cursor_u32(&c, &kvno) || !ks_cursor_u32(&c, &enctype))
        return EINVAL;
    out->ciphertext_len = ks_cursor_left(&c);
    out->ciphertext = ks_cursor_bytes(&c, out->ciphertext_len);
    if (kvno == 0 || out->ciphertext == NULL || out->ciphertext_len == 0 ||
        out->ciphertext_len > KS_FRESHNESS_MAX_CIPHERTEXT) {
        memset(out, 0, sizeof(*out));
        return EINVAL;
    }
    out->kvno = kvno;
    out->enctype = (krb5_enctype)(int32_t)enctype;
    return 0;
}

krb5_error_code
ks_freshness_token_build(krb5_kvno kvno, krb5_enctype enctype,
                         const unsigned char *ciphertext,
                         size_t ciphertext_len, krb5_data *out)
{
    unsigned char *buf;
    uint32_t e = (uint32_t)enctype;

    memset(out, 0, sizeof(*out));
    if (kvno == 0 || ciphertext_len == 0 ||
        ciphertext_len > KS_FRESHNESS_MAX_CIPHERTEXT)
        return EINVAL;
    buf = malloc(KS_FRESHNESS_HEADER_LEN + ciphertext_len);
    if (buf == NULL)
        return ENOMEM;
    buf[0] = kvno >> 24;
    buf[1] = kvno >> 16;
    buf[2] = kvno >> 8;
    buf[3] = kvno;
    buf[4] = e >> 24;
    buf[5] = e >> 16;
    buf[6] = e >> 8;
    buf[7] = e;
    memcpy(buf + KS_FRESHNESS_HEADER_LEN, ciphertext, ciphertext_len);
    out->magic = KV5M_DATA;
    out->data = (char *)buf;
    out->length = KS_FRESHNESS_HEADER_LEN + ciphertext_len;
    return 0;
}
