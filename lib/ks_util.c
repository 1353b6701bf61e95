/* Small helpers shared by every part of krb5-stateless. */
#include "config.h"

#include <stdlib.h>
#include <openssl/crypto.h>

#include "ks_util.h"

void
ks_zero(void *p, size_t len)
{
    if (p != NULL && len > 0)
        OPENSSL_cleanse(p, len);
}

void
ks_zfree(void *p, size_t len)
{
    ks_zero(p, len);
    free(p);
}

int
ks_ct_memcmp(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len);
}

void
ks_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}
