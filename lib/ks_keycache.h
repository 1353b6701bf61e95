/*
 * A fixed-size cache of derived keys, so that a busy KDC does not run the
 * KDF for every lookup.  Direct-mapped by a hash of (name, enctype, kvno);
 * memory does not grow with the number of principals looked up.  Evicted
 * and freed keys are zeroed.  Not thread-safe (krb5kdc workers are
 * single-threaded processes).
 */
#ifndef KS_KEYCACHE_H
#define KS_KEYCACHE_H

#include <stddef.h>
#include <krb5/krb5.h>

#include "ks_secret.h"

#define KS_KEYCACHE_SLOTS 4096

struct ks_keycache;

krb5_error_code ks_keycache_new(size_t slots, struct ks_keycache **out);
void ks_keycache_free(struct ks_keycache *cache);

/* Derive (or find cached) the key of name for enctype and kvno into *out,
 * as ks_derive_principal_key() does.  cache may be NULL. */
krb5_error_code ks_keycache_derive(krb5_context ctx,
                                   struct ks_keycache *cache,
                                   const struct ks_secret *secret,
                                   const char *name, krb5_enctype enctype,
                                   krb5_kvno kvno, krb5_keyblock *out);

/* Hit and miss counters, for tests and benchmarks. */
void ks_keycache_stats(const struct ks_keycache *cache,
                       unsigned long *hits, unsigned long *misses);

#endif
