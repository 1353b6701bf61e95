/* Small helpers shared by every part of krb5-stateless. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
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

void
ks_cursor_init(struct ks_cursor *c, const void *p, size_t len)
{
    c->p = p;
    c->left = (p == NULL) ? 0 : len;
}

size_t
ks_cursor_left(const struct ks_cursor *c)
{
    return c->left;
}

int
ks_cursor_u8(struct ks_cursor *c, uint8_t *out)
{
    if (c->left < 1)
        return 0;
    *out = c->p[0];
    c->p++;
    c->left--;
    return 1;
}

int
ks_cursor_u16(struct ks_cursor *c, uint16_t *out)
{
    if (c->left < 2)
        return 0;
    *out = (uint16_t)((c->p[0] << 8) | c->p[1]);
    c->p += 2;
    c->left -= 2;
    return 1;
}

int
ks_cursor_u32(struct ks_cursor *c, uint32_t *out)
{
    if (c->left < 4)
        return 0;
    *out = ((uint32_t)c->p[0] << 24) | ((uint32_t)c->p[1] << 16) |
        ((uint32_t)c->p[2] << 8) | c->p[3];
    c->p += 4;
    c->left -= 4;
    return 1;
}

const unsigned char *
ks_cursor_bytes(struct ks_cursor *c, size_t n)
{
    const unsigned char *p = c->p;

    if (n > c->left)
        return NULL;
    c->p += n;
    c->left -= n;
    return p;
}

char *
ks_trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}
