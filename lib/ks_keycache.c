/* A bounded cache of derived keys; see ks_keycache.h. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks_keycache.h"
#include "ks_kdf.h"
#include "ks_util.h"

#define KS_CACHE_NAME_MAX 256
#define KS_CACHE_KEY_MAX 64

struct ks_keycache_slot {
    int used;
    krb5_enctype enctype;
    krb5_kvno kvno;
    size_t namelen;
    char name[KS_CACHE_NAME_MAX];
    unsigned int keylen;
    unsigned char key[KS_CACHE_KEY_MAX];
};

struct ks_keycache {
    size_t nslots;
    struct ks_keycache_slot *slots;
    unsigned long hits, misses;
};

krb5_error_code
ks_keycache_new(size_t slots, struct ks_keycache **out)
{
    struct ks_keycache *cache;

    *out = NULL;
    cache = calloc(1, sizeof(*cache));
    if (cache == NULL)
        return ENOMEM;
    cache->nslots = slots ? slots : KS_KEYCACHE_SLOTS;
    cache->slots = calloc(cache->nslots, sizeof(*cache->slots));
    if (cache->slots == NULL) {
        free(cache);
        return ENOMEM;
    }
    *out = cache;
    return 0;
}

void
ks_keycache_free(struct ks_keycache *cache)
{
    if (cache == NULL)
        return;
    ks_zfree(cache->slots, cache->nslots * sizeof(*cache->slots));
    free(cache);
}

/* FNV-1a over the name, enctype and kvno. */
static uint64_t
slot_hash(const char *name, size_t len, krb5_enctype enctype, krb5_kvno kvno)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 1099511628211ULL;
    }
    h ^= (uint32_t)enctype;
    h *= 1099511628211ULL;
    h ^= kvno;
    h *= 1099511628211ULL;
    return h;
}

/* Copy a cached key into a new keyblock. */
static krb5_error_code
copy_out(const struct ks_keycache_slot *s, krb5_keyblock *out)
{
    out->magic = KV5M_KEYBLOCK;
    out->enctype = s->enctype;
    out->length = s->keylen;
    out->contents = malloc(s->keylen);
    if (out->contents == NULL)
        return ENOMEM;
    memcpy(out->contents, s->key, s->keylen);
    return 0;
}

krb5_error_code
ks_keycache_derive(krb5_context ctx, struct ks_keycache *cache,
                   const struct ks_secret *secret, const char *name,
                   krb5_enctype enctype, krb5_kvno kvno, krb5_keyblock *out)
{
    struct ks_keycache_slot *s;
    size_t namelen = strlen(name);
    krb5_error_code ret;

    memset(out, 0, sizeof(*out));
    if (cache == NULL || namelen >= KS_CACHE_NAME_MAX) {
        return ks_derive_principal_key(ctx, secret->bytes, secret->len, name,
                                       enctype, kvno, out);
    }
    s = &cache->slots[slot_hash(name, namelen, enctype, kvno) %
                      cache->nslots];
    if (s->used && s->enctype == enctype && s->kvno == kvno &&
        s->namelen == namelen && memcmp(s->name, name, namelen) == 0) {
        cache->hits++;
        return copy_out(s, out);
    }
    cache->misses++;
    ret = ks_derive_principal_key(ctx, secret->bytes, secret->len, name,
                                  enctype, kvno, out);
    if (ret || out->length > KS_CACHE_KEY_MAX)
        return ret;
    ks_zero(s, sizeof(*s));
    s->used = 1;
    s->enctype = enctype;
    s->kvno = kvno;
    s->namelen = namelen;
    memcpy(s->name, name, namelen);
    s->keylen = out->length;
    memcpy(s->key, out->contents, out->length);
    return 0;
}

void
ks_keycache_stats(const struct ks_keycache *cache, unsigned long *hits,
                  unsigned long *misses)
{
    *hits = cache ? cache->hits : 0;
    *misses = cache ? cache->misses : 0;
}
