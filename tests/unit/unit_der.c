/* The Check tests' DER writer; see unit_der.h. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "unit_der.h"

/* n bytes at p, copied. */
struct bytes
raw(const void *p, size_t n)
{
    struct bytes b;

    b.p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b.p);
    if (n > 0)
        memcpy(b.p, p, n);
    b.n = n;
    return b;
}

/* n copies of byte c. */
struct bytes
fill(unsigned char c, size_t n)
{
    struct bytes b;

    b.p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b.p);
    memset(b.p, c, n);
    b.n = n;
    return b;
}

/* The concatenation of count byte strings (consumed). */
struct bytes
cat(int count, ...)
{
    struct bytes out = raw("", 0), b;
    va_list ap;
    int i;

    va_start(ap, count);
    for (i = 0; i < count; i++) {
        b = va_arg(ap, struct bytes);
        out.p = realloc(out.p, out.n + b.n + 1);
        ck_assert_ptr_nonnull(out.p);
        if (b.n > 0)
            memcpy(out.p + out.n, b.p, b.n);
        out.n += b.n;
        free(b.p);
    }
    va_end(ap);
    return out;
}

/* DER tag-length-value with content c (consumed). */
struct bytes
der_tlv(unsigned char tag, struct bytes c)
{
    unsigned char hdr[6];
    size_t h = 0;

    hdr[h++] = tag;
    if (c.n < 0x80) {
        hdr[h++] = (unsigned char)c.n;
    } else if (c.n < 0x100) {
        hdr[h++] = 0x81;
        hdr[h++] = (unsigned char)c.n;
    } else if (c.n < 0x10000) {
        hdr[h++] = 0x82;
        hdr[h++] = (unsigned char)(c.n >> 8);
        hdr[h++] = (unsigned char)c.n;
    } else {
        hdr[h++] = 0x83;
        hdr[h++] = (unsigned char)(c.n >> 16);
        hdr[h++] = (unsigned char)(c.n >> 8);
        hdr[h++] = (unsigned char)c.n;
    }
    return cat(2, raw(hdr, h), c);
}

/* DER INTEGER v: minimal two's complement. */
struct bytes
der_int(int64_t v)
{
    unsigned char b[8];
    uint64_t u = (uint64_t)v;
    size_t start = 0;
    int i;

    for (i = 7; i >= 0; i--, u >>= 8)
        b[i] = (unsigned char)(u & 0xff);
    while (start < 7 &&
           ((b[start] == 0x00 && !(b[start + 1] & 0x80)) ||
            (b[start] == 0xff && (b[start + 1] & 0x80))))
        start++;
    return der_tlv(0x02, raw(b + start, 8 - start));
}

/* [n] EXPLICIT c. */
struct bytes
ctx_tag(int n, struct bytes c)
{
    return der_tlv((unsigned char)(0xa0 + n), c);
}
