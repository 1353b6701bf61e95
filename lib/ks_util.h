/* Small helpers shared by every part of krb5-stateless. */
#ifndef KS_UTIL_H
#define KS_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Zero len bytes at p in a way the compiler cannot elide. */
void ks_zero(void *p, size_t len);

/* Zero and free a buffer holding secret material. */
void ks_zfree(void *p, size_t len);

/* Constant-time comparison: 0 when the len bytes at a and b are equal. */
int ks_ct_memcmp(const void *a, const void *b, size_t len);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void ks_hex(const unsigned char *in, size_t len, char *out);

#endif
