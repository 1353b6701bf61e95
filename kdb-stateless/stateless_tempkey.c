/*
 * Temporary server keys in the stateless backend (stateless_tempkey.h):
 * eligibility, wrapping in the store key, and registration.
 *
 * Registration is idempotent per key id: a server registers each key with
 * every KDC of the realm, and KDCs may share one state_dir, so the same
 * key id with the same keys may arrive at a store that already holds it.
 * That returns 0; the same key id with other keys, or a lower one, is a
 * rollback (KRB5_KDB_INUSE).  Two KDCs storing the same key id at once
 * race in ks_store_tempkey_put(); the loser finds the winner's record and
 * compares again.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ks_iana.h"
#include "ks_kdf.h"
#include "ks_tempkey.h"
#include "ks_util.h"
#include "stateless_tempkey.h"

/* First components of principals that never have temporary keys. */
static const char *const reserved_first[] = {
    "krbtgt", "devreg", "kadmin", "K", NULL
};

/* Nonzero if component i of p is the string s. */
static int
comp_is(krb5_const_principal p, int i, const char *s)
{
    size_t len = strlen(s);

    return p->data[i].length == len && memcmp(p->data[i].data, s, len) == 0;
}

enum ks_tempkey_match
ks_tempkey_match(krb5_context ctx, const struct ks_module *mod,
                 krb5_const_principal p, enum ks_kind kind)
{
    const struct ks_config *cfg = mod->cfg;
    char *name = NULL;
    size_t i;
    int found = 0;

    if (p == NULL || p->length < 2 ||
        p->realm.length != strlen(mod->realm) ||
        memcmp(p->realm.data, mod->realm, p->realm.length) != 0)
        return KS_TEMPKEY_NONE;
    /* ks_classify() already excludes the reserved names from service
     * rules; the other kinds are the realm's own principals. */
    if (kind == KS_KIND_SERVICE)
        return KS_TEMPKEY_SERVICE;
    if (kind != KS_KIND_NONE || cfg->ntempkey_services == 0)
        return KS_TEMPKEY_NONE;
    for (i = 0; reserved_first[i] != NULL; i++) {
        if (comp_is(p, 0, reserved_first[i]))
            return KS_TEMPKEY_NONE;
    }
    if (comp_is(p, 0, cfg->device_namespace))
        return KS_TEMPKEY_NONE;
    if (krb5_unparse_name_flags(ctx, p, KRB5_PRINCIPAL_UNPARSE_NO_REALM,
                                &name) != 0)
        return KS_TEMPKEY_NONE;
    for (i = 0; i < cfg->ntempkey_services && !found; i++)
        found = fnmatch(cfg->tempkey_services[i], name, FNM_PATHNAME) == 0;
    krb5_free_unparsed_name(ctx, name);
    return found ? KS_TEMPKEY_ONLY : KS_TEMPKEY_NONE;
}

/* Write v as n big-endian bytes at out; return out + n. */
static unsigned char *
put_be(unsigned char *out, uint64_t v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        out[n - 1 - i] = (unsigned char)(v >> (8 * i));
    return out + n;
}

/* Read an unsigned big-endian integer of n (1-8) bytes from c into *out;
 * 0 if fewer bytes are left. */
static int
get_be(struct ks_cursor *c, size_t n, uint64_t *out)
{
    const unsigned char *p = ks_cursor_bytes(c, n);
    uint64_t v = 0;
    size_t i;

    if (p == NULL)
        return 0;
    for (i = 0; i < n; i++)
        v = (v << 8) | p[i];
    *out = v;
    return 1;
}

void
ks_tempkey_keyblocks_free(krb5_context ctx, krb5_keyblock *keys, size_t n)
{
    size_t i;

    if (keys == NULL)
        return;
    for (i = 0; i < n; i++)
        krb5_free_keyblock_contents(ctx, &keys[i]);
    free(keys);
}

krb5_error_code
ks_tempkey_wrap(krb5_context ctx, const krb5_keyblock *store_key,
                const char *principal, uint32_t key_id, time_t expiry,
                const krb5_keyblock *keys, size_t nkeys,
                unsigned char **blob_out, size_t *len_out)
{
    unsigned char *plain = NULL, *p, *blob = NULL;
    size_t plen = strlen(principal), len, enclen, i;
    krb5_data in;
    krb5_enc_data out;
    krb5_error_code ret;

    *blob_out = NULL;
    *len_out = 0;
    if (plen > 65535 || nkeys == 0 || nkeys > 255 || key_id > 65535)
        return EINVAL;
    len = 1 + 2 + plen + 2 + 8 + 1;
    for (i = 0; i < nkeys; i++) {
        if (keys[i].length > 65535)
            return EINVAL;
        len += 4 + 2 + keys[i].length;
    }
    plain = malloc(len);
    if (plain == NULL)
        return ENOMEM;
    p = plain;
    *p++ = KS_TEMPKEY_WRAP_VERSION;
    p = put_be(p, plen, 2);
    memcpy(p, principal, plen);
    p += plen;
    p = put_be(p, key_id, 2);
    p = put_be(p, (uint64_t)(int64_t)expiry, 8);
    *p++ = (unsigned char)nkeys;
    for (i = 0; i < nkeys; i++) {
        p = put_be(p, (uint32_t)keys[i].enctype, 4);
        p = put_be(p, keys[i].length, 2);
        memcpy(p, keys[i].contents, keys[i].length);
        p += keys[i].length;
    }

    ret = krb5_c_encrypt_length(ctx, store_key->enctype, len, &enclen);
    if (ret)
        goto cleanup;
    blob = malloc(enclen);
    if (blob == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    in.magic = KV5M_DATA;
    in.data = (char *)plain;
    in.length = len;
    memset(&out, 0, sizeof(out));
    out.ciphertext.data = (char *)blob;
    out.ciphertext.length = enclen;
    ret = krb5_c_encrypt(ctx, store_key, KS_KEYUSAGE_TEMPKEY_STORE, NULL,
                         &in, &out);
    if (ret)
        goto cleanup;
    *blob_out = blob;
    *len_out = out.ciphertext.length;
    blob = NULL;

cleanup:
    ks_zfree(plain, len);
    free(blob);
    return ret;
}

/* Parse the wrapped plaintext of principal's rec into keys; NULL on
 * success, else what is wrong. */
static const char *
parse_plaintext(krb5_context ctx, const unsigned char *plain, size_t len,
                const char *principal, const struct ks_tempkey_record *rec,
                krb5_keyblock **keys_out, size_t *nkeys_out)
{
    struct ks_cursor c;
    krb5_keyblock *keys = NULL;
    const unsigned char *name, *bytes;
    uint64_t version, nlen, id, expiry, n, et, klen;
    size_t i, keybytes, keylength;

    ks_cursor_init(&c, plain, len);
    if (!get_be(&c, 1, &version))
        return "truncated";
    if (version != KS_TEMPKEY_WRAP_VERSION)
        return "unknown wrapping version (written by a newer release?)";
    if (!get_be(&c, 2, &nlen) || (name = ks_cursor_bytes(&c, nlen)) == NULL ||
        !get_be(&c, 2, &id) || !get_be(&c, 8, &expiry) || !get_be(&c, 1, &n))
        return "truncated";
    /* The binding: wrapped for this very record. */
    if (nlen != strlen(principal) || memcmp(name, principal, nlen) != 0)
        return "wrapped for another principal (record moved?)";
    if (id != rec->key_id)
        return "wrapped for another key id (record moved?)";
    if ((time_t)(int64_t)expiry != rec->expiry)
        return "wrapped with another expiry (record altered?)";
    if (n == 0)
        return "no keys";
    keys = calloc(n, sizeof(*keys));
    if (keys == NULL)
        return "out of memory";
    for (i = 0; i < n; i++) {
        if (!get_be(&c, 4, &et) || !get_be(&c, 2, &klen) ||
            (bytes = ks_cursor_bytes(&c, klen)) == NULL)
            goto truncated;
        if (!krb5_c_valid_enctype((krb5_enctype)(int32_t)et) ||
            krb5_c_keylengths(ctx, (krb5_enctype)(int32_t)et, &keybytes,
                              &keylength) != 0 || klen != keylength) {
            ks_tempkey_keyblocks_free(ctx, keys, i);
            return "a key of an unknown enctype or the wrong length";
        }
        keys[i].magic = KV5M_KEYBLOCK;
        keys[i].enctype = (krb5_enctype)(int32_t)et;
        keys[i].length = (unsigned int)klen;
        keys[i].contents = malloc(klen);
        if (keys[i].contents == NULL) {
            ks_tempkey_keyblocks_free(ctx, keys, i);
            return "out of memory";
        }
        memcpy(keys[i].contents, bytes, klen);
    }
    if (ks_cursor_left(&c) != 0) {
        ks_tempkey_keyblocks_free(ctx, keys, n);
        return "trailing bytes";
    }
    *keys_out = keys;
    *nkeys_out = n;
    return NULL;

truncated:
    ks_tempkey_keyblocks_free(ctx, keys, i);
    return "truncated";
}

krb5_error_code
ks_tempkey_unwrap(krb5_context ctx, const krb5_keyblock *store_key,
                  const char *principal, const struct ks_tempkey_record *rec,
                  krb5_keyblock **keys_out, size_t *nkeys_out)
{
    krb5_enc_data in;
    krb5_data out;
    krb5_error_code ret;
    const char *why, *msg;
    unsigned char *plain;
    size_t plainlen = rec->blob_len;

    *keys_out = NULL;
    *nkeys_out = 0;
    plain = malloc(plainlen ? plainlen : 1);
    if (plain == NULL)
        return ENOMEM;
    memset(&in, 0, sizeof(in));
    in.magic = KV5M_ENC_DATA;
    in.enctype = store_key->enctype;
    in.ciphertext.data = (char *)rec->blob;
    in.ciphertext.length = rec->blob_len;
    out.magic = KV5M_DATA;
    out.data = (char *)plain;
    out.length = plainlen;
    ret = krb5_c_decrypt(ctx, store_key, KS_KEYUSAGE_TEMPKEY_STORE, NULL,
                         &in, &out);
    if (ret) {
        msg = krb5_get_error_message(ctx, ret);
        krb5_set_error_message(ctx, KRB5_KDB_DB_CORRUPT, "stateless: cannot "
                               "unwrap the temporary keys of %s key id %lu "
                               "(%s): the realm secret changed since they "
                               "were registered, or the record was altered; "
                               "register a new key, or remove them with "
                               "'kstateless tempkeys purge %s'", principal,
                               (unsigned long)rec->key_id, msg, principal);
        krb5_free_error_message(ctx, msg);
        ret = KRB5_KDB_DB_CORRUPT;
        goto cleanup;
    }
    why = parse_plaintext(ctx, plain, out.length, principal, rec, keys_out,
                          nkeys_out);
    if (why != NULL) {
        ret = KRB5_KDB_DB_CORRUPT;
        krb5_set_error_message(ctx, ret, "stateless: corrupt temporary keys "
                               "of %s key id %lu: %s (remove them with "
                               "'kstateless tempkeys purge %s')", principal,
                               (unsigned long)rec->key_id, why, principal);
    }

cleanup:
    ks_zfree(plain, plainlen ? plainlen : 1);
    return ret;
}

int
ks_tempkey_is_handover(const krb5_db_entry *entry)
{
    return entry != NULL && entry->n_tl_data == 1 && entry->tl_data != NULL &&
        entry->tl_data->tl_data_next == NULL &&
        entry->tl_data->tl_data_type == KS_TL_TEMPKEY;
}

krb5_error_code
ks_module_store(krb5_context ctx, struct ks_module *mod,
                struct ks_store **out)
{
    krb5_error_code ret;

    *out = NULL;
    if (mod->store == NULL) {
        ret = ks_store_open(ctx, mod->cfg->state_dir, 0, &mod->store);
        if (ret)
            return ret;
    }
    *out = mod->store;
    return 0;
}

krb5_error_code
ks_module_store_key(krb5_context ctx, struct ks_module *mod,
                    const krb5_keyblock **out)
{
    krb5_error_code ret;

    *out = NULL;
    if (mod->store_key.length == 0) {
        ret = ks_derive_tempkey_store_key(ctx, mod->secret->bytes,
                                          mod->secret->len, mod->realm,
                                          &mod->store_key);
        if (ret)
            return ret;
    }
    *out = &mod->store_key;
    return 0;
}

/* Seconds on the monotonic clock (the caller's "now" may be anything). */
static double
mono_seconds(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
ks_tempkey_purge_lazily(krb5_context ctx, struct ks_module *mod, time_t now)
{
    struct ks_store *store;
    double t = mono_seconds();

    if (mod->last_tempkey_purge > 0 &&
        t - mod->last_tempkey_purge < KS_TEMPKEY_PURGE_INTERVAL)
        return;
    mod->last_tempkey_purge = t;
    if (ks_module_store(ctx, mod, &store) == 0 &&
        ks_store_tempkey_purge(ctx, store, NULL, now, NULL) == 0)
        return;
    /* A lookup does not fail for this; leave no stale message behind. */
    krb5_clear_error_message(ctx);
}

/* Nonzero if enctype is one of the realm's. */
static int
realm_enctype(const struct ks_module *mod, krb5_enctype enctype)
{
    size_t i;

    for (i = 0; i < mod->nenctypes; i++) {
        if (mod->enctypes[i] == enctype)
            return 1;
    }
    return 0;
}

/*
 * Check the keys of the hand-over entry of principal name and collect
 * those of the realm's enctypes into keys (pointing into the entry; not
 * copied), *nkeys_out of them, and the key id into *key_id_out.  EINVAL
 * with a message for a bad key id, a duplicate enctype, a key of the
 * wrong length or no usable key.
 */
static krb5_error_code
collect_keys(krb5_context ctx, const struct ks_module *mod, const char *name,
             const krb5_db_entry *entry, krb5_keyblock *keys,
             size_t *nkeys_out, uint32_t *key_id_out)
{
    const krb5_key_data *kd;
    krb5_enctype et;
    size_t keybytes, keylength, n = 0, j;
    char etname[64];
    int i;

    *nkeys_out = 0;
    *key_id_out = 0;
    if (entry->n_key_data < 1 || entry->key_data == NULL) {
        krb5_set_error_message(ctx, EINVAL, "stateless: the temporary key "
                               "of %s holds no keys", name);
        return EINVAL;
    }
    for (i = 0; i < entry->n_key_data; i++) {
        kd = &entry->key_data[i];
        if (kd->key_data_kvno != entry->key_data[0].key_data_kvno ||
            kd->key_data_kvno < KS_TEMPKEY_ID_MIN) {
            krb5_set_error_message(ctx, EINVAL, "stateless: the temporary "
                                   "key of %s has key id %u (all keys must "
                                   "carry one key id, %d to %d)", name,
                                   (unsigned)kd->key_data_kvno,
                                   KS_TEMPKEY_ID_MIN, KS_TEMPKEY_ID_MAX);
            return EINVAL;
        }
        if (kd->key_data_ver != 1 || kd->key_data_contents[0] == NULL) {
            krb5_set_error_message(ctx, EINVAL, "stateless: the temporary "
                                   "key of %s is not in plaintext key data "
                                   "form (ks_tempkey_key_data())", name);
            return EINVAL;
        }
        et = kd->key_data_type[0];
        if (!realm_enctype(mod, et))
            continue;           /* an enctype the realm does not use */
        for (j = 0; j < n; j++) {
            if (keys[j].enctype == et)
                break;
        }
        if (krb5_enctype_to_name(et, 0, etname, sizeof(etname)) != 0)
            snprintf(etname, sizeof(etname), "%d", (int)et);
        if (j < n) {
            krb5_set_error_message(ctx, EINVAL, "stateless: the temporary "
                                   "key of %s has two %s keys", name,
                                   etname);
            return EINVAL;
        }
        if (krb5_c_keylengths(ctx, et, &keybytes, &keylength) != 0 ||
            kd->key_data_length[0] != keylength) {
            krb5_set_error_message(ctx, EINVAL, "stateless: the %s key of "
                                   "the temporary key of %s has %u bytes, "
                                   "not %zu", etname, name,
                                   (unsigned)kd->key_data_length[0],
                                   keylength);
            return EINVAL;
        }
        keys[n].magic = KV5M_KEYBLOCK;
        keys[n].enctype = et;
        keys[n].length = kd->key_data_length[0];
        keys[n].contents = kd->key_data_contents[0];
        n++;
    }
    if (n == 0) {
        krb5_set_error_message(ctx, EINVAL, "stateless: the temporary key "
                               "of %s has no key of an enctype of realm %s "
                               "(its supported_enctypes)", name, mod->realm);
        return EINVAL;
    }
    *nkeys_out = n;
    *key_id_out = entry->key_data[0].key_data_kvno;
    return 0;
}

/* Nonzero if the keys a (na) and b (nb) are the same set: same enctypes,
 * equal bytes (compared in constant time). */
static int
same_keys(const krb5_keyblock *a, size_t na, const krb5_keyblock *b,
          size_t nb)
{
    size_t i, j;
    int diff = 0;

    if (na != nb)
        return 0;
    for (i = 0; i < na; i++) {
        for (j = 0; j < nb; j++) {
            if (b[j].enctype == a[i].enctype)
                break;
        }
        if (j == nb || b[j].length != a[i].length)
            return 0;
        diff |= ks_ct_memcmp(a[i].contents, b[j].contents, a[i].length);
    }
    return diff == 0;
}

/*
 * Set *same to 1 if the store holds key id for name as its highest key id
 * with exactly the keys given (a registration repeated at a KDC sharing
 * the store), else 0.
 */
static krb5_error_code
already_stored(krb5_context ctx, struct ks_module *mod,
               struct ks_store *store, const char *name, uint32_t key_id,
               const krb5_keyblock *keys, size_t nkeys, time_t now,
               int *same)
{
    struct ks_tempkey_record *recs = NULL;
    const krb5_keyblock *store_key;
    krb5_keyblock *stored = NULL;
    krb5_error_code ret;
    size_t n = 0, nstored = 0, i;
    uint32_t max_id;

    *same = 0;
    ret = ks_store_tempkey_get(ctx, store, name, now, &recs, &n, &max_id,
                               NULL, NULL);
    if (ret == KRB5_KDB_NOENTRY)
        return 0;
    if (ret)
        return ret;
    if (max_id != key_id)
        goto cleanup;
    for (i = 0; i < n && recs[i].key_id != key_id; i++);
    if (i == n)
        goto cleanup;           /* expired: a new key id is needed */
    ret = ks_module_store_key(ctx, mod, &store_key);
    if (!ret)
        ret = ks_tempkey_unwrap(ctx, store_key, name, &recs[i], &stored,
                                &nstored);
    if (!ret)
        *same = same_keys(keys, nkeys, stored, nstored);

cleanup:
    ks_tempkey_keyblocks_free(ctx, stored, nstored);
    ks_tempkey_records_free(recs, n);
    return ret;
}

krb5_error_code
ks_tempkey_register(krb5_context ctx, struct ks_module *mod,
                    const krb5_db_entry *entry, time_t now)
{
    struct ks_tempkey_record rec;
    struct ks_store *store;
    const krb5_keyblock *store_key;
    krb5_keyblock *keys = NULL;
    krb5_error_code ret;
    enum ks_kind kind;
    unsigned char *blob = NULL;
    size_t nkeys = 0, blob_len = 0;
    uint32_t key_id;
    time_t expiry;
    char *name = NULL;
    int same;

    ret = krb5_unparse_name(ctx, entry->princ, &name);
    if (ret)
        return ret;
    kind = ks_classify(ctx, mod->cfg, mod->realm, entry->princ, NULL);
    if (ks_tempkey_match(ctx, mod, entry->princ, kind) == KS_TEMPKEY_NONE) {
        ret = KRB5_KDB_NOENTRY;
        if (kind == KS_KIND_NONE || kind == KS_KIND_SERVICE) {
            krb5_set_error_message(ctx, ret, "stateless: %s cannot have "
                                   "temporary keys: it matches no "
                                   "tempkey_services glob (nor a service "
                                   "rule, for names of two or more "
                                   "components) of [dbmodules] %s", name,
                                   mod->cfg->section);
        } else {
            krb5_set_error_message(ctx, ret, "stateless: %s cannot have "
                                   "temporary keys: it is a %s", name,
                                   ks_kind_name(kind));
        }
        goto cleanup;
    }
    if (entry->tl_data->tl_data_length != KS_TL_TEMPKEY_LEN) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "stateless: the temporary key of "
                               "%s carries a %u-byte expiry, not %d bytes",
                               name, (unsigned)entry->tl_data->tl_data_length,
                               KS_TL_TEMPKEY_LEN);
        goto cleanup;
    }
    expiry = ks_tempkey_tl_decode(entry->tl_data->tl_data_contents);
    if (expiry <= now) {
        ret = EINVAL;
        krb5_set_error_message(ctx, ret, "stateless: the temporary key of "
                               "%s expires at %lld, not after now (%lld)",
                               name, (long long)expiry, (long long)now);
        goto cleanup;
    }
    keys = calloc(entry->n_key_data > 0 ? entry->n_key_data : 1,
                  sizeof(*keys));
    if (keys == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    ret = collect_keys(ctx, mod, name, entry, keys, &nkeys, &key_id);
    if (ret)
        goto cleanup;
    ret = ks_module_store(ctx, mod, &store);
    if (!ret)
        ret = ks_module_store_key(ctx, mod, &store_key);
    if (!ret)
        ret = already_stored(ctx, mod, store, name, key_id, keys, nkeys, now,
                             &same);
    if (ret || same)
        goto cleanup;

    ret = ks_tempkey_wrap(ctx, store_key, name, key_id, expiry, keys, nkeys,
                          &blob, &blob_len);
    if (ret)
        goto cleanup;
    memset(&rec, 0, sizeof(rec));
    rec.key_id = key_id;
    rec.registered = now;
    rec.expiry = expiry;
    rec.blob = blob;
    rec.blob_len = blob_len;
    ret = ks_store_tempkey_put(ctx, store, name, &rec, now);
    if (ret == KRB5_KDB_INUSE) {
        /* Another KDC sharing the store may just have stored this very
         * key; if it did not, the store's message names both key ids. */
        const char *msg = krb5_get_error_message(ctx, ret);
        krb5_error_code ret2;

        ret2 = already_stored(ctx, mod, store, name, key_id, keys, nkeys,
                              now, &same);
        if (ret2 == 0 && same) {
            krb5_clear_error_message(ctx);
            ret = 0;
        } else if (ret2 == 0) {
            krb5_set_error_message(ctx, ret, "%s", msg);
        } else {
            ret = ret2;
        }
        krb5_free_error_message(ctx, msg);
    }

cleanup:
    /* keys point into the entry: only the array is ours. */
    free(keys);
    free(blob);
    krb5_free_unparsed_name(ctx, name);
    return ret;
}
