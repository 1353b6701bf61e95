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

/*
 * A bounds-checked reader over untrusted bytes: every read checks what is
 * left first, and a failed read leaves the cursor where it was.
 */
struct ks_cursor {
    const unsigned char *p;
    size_t left;
};

void ks_cursor_init(struct ks_cursor *c, const void *p, size_t len);

/* Bytes left to read. */
size_t ks_cursor_left(const struct ks_cursor *c);

/* Read one byte, or a big-endian 16-bit value; return 0 if too few bytes
 * are left. */
int ks_cursor_u8(struct ks_cursor *c, uint8_t *out);
int ks_cursor_u16(struct ks_cursor *c, uint16_t *out);

/* Read a big-endian 32-bit value; return 0 if fewer than 4 bytes are left. */
int ks_cursor_u32(struct ks_cursor *c, uint32_t *out);

/* Take the next n bytes: a pointer to them, or NULL if fewer are left. */
const unsigned char *ks_cursor_bytes(struct ks_cursor *c, size_t n);

/* Trim leading and trailing white space of s in place; return the start
 * (configuration lines of the agents and kinkd). */
char *ks_trim(char *s);

#endif
