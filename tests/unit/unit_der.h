/*
 * A small, independent DER writer for the Check tests of the codecs: the
 * expected encodings and the malformed ones are built with these, not
 * with the encoders under test.  Every function returns a byte string the
 * caller owns; the ones taking byte strings consume them.
 */
#ifndef UNIT_DER_H
#define UNIT_DER_H

#include <stddef.h>
#include <stdint.h>

struct bytes {
    unsigned char *p;
    size_t n;
};

/* n bytes at p, copied. */
struct bytes raw(const void *p, size_t n);
/* n copies of byte c. */
struct bytes fill(unsigned char c, size_t n);
/* The concatenation of count byte strings (consumed). */
struct bytes cat(int count, ...);
/* DER tag-length-value with content c (consumed). */
struct bytes der_tlv(unsigned char tag, struct bytes c);
/* DER INTEGER v: minimal two's complement. */
struct bytes der_int(int64_t v);
/* [n] EXPLICIT c. */
struct bytes ctx_tag(int n, struct bytes c);

#endif
