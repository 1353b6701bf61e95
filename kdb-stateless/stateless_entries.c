/* Synthesis of KDB entries from the realm secret; see stateless_kdb.c. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stateless_entries.h"
#include "stateless_tempkey.h"
#include "ks_err.h"
#include "ks_schedule.h"
#include "ks_util.h"

#define KS_MAX_RENEWABLE (7 * 86400)

void
ks_module_close(struct ks_module *mod)
{
    if (mod == NULL)
        return;
    free(mod->realm);
    ks_config_free(mod->cfg);
    ks_secret_free(mod->secret);
    free(mod->enctypes);
    ks_keycache_free(mod->cache);
    krb5_free_principal(NULL, mod->mod_princ);
    ks_store_close(mod->store);
    krb5_free_keyblock_contents(NULL, &mod->store_key);
    free(mod);
}

krb5_error_code
ks_module_open(krb5_context ctx, const char *section, struct ks_module **out)
{
    struct ks_module *mod;
    krb5_error_code ret;
    int64_t limit;
    char when[64];
    time_t lt;
    struct tm tm;

    *out = NULL;
    mod = calloc(1, sizeof(*mod));
    if (mod == NULL)
        return ENOMEM;
    ret = krb5_get_default_realm(ctx, &mod->realm);
    if (ret)
        goto cleanup;
    ret = ks_config_load(ctx, section, &mod->cfg);
    if (ret)
        goto cleanup;
    ret = ks_config_enctypes(ctx, mod->realm, &mod->enctypes,
                             &mod->nenctypes);
    if (ret)
        goto cleanup;
    ret = ks_schedule_check_overflow(&mod->cfg->schedule, time(NULL),
                                     KS_OVERFLOW_HORIZON, &limit);
    if (ret) {
        lt = (time_t)limit;
        gmtime_r(&lt, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
        krb5_set_error_message(ctx, ret, "stateless: key_period %lds from "
                               "key_epoch %lld reaches kvno %d on %s, within "
                               "10 years (kvnos are 16 bits); use a longer "
                               "key_period or a later key_epoch",
                               (long)mod->cfg->schedule.period,
                               (long long)mod->cfg->schedule.epoch,
                               KS_KVNO_MAX, when);
        goto cleanup;
    }
    ret = ks_secret_load(ctx, mod->cfg->secret_file, &mod->secret);
    if (ret)
        goto cleanup;
    ret = ks_keycache_new(KS_KEYCACHE_SLOTS, &mod->cache);
    if (ret)
        goto cleanup;
    mod->clockskew = ks_config_clockskew(ctx);
    ret = krb5_build_principal(ctx, &mod->mod_princ, strlen(mod->realm),
                               mod->realm, "krb5-stateless", (char *)NULL);
    if (ret)
        goto cleanup;
    *out = mod;
    mod = NULL;

cleanup:
    ks_module_close(mod);
    return ret;
}

int64_t
ks_entry_max_life(const struct ks_module *mod, enum ks_kind kind)
{
    switch (kind) {
    case KS_KIND_DEVREG:
        return mod->cfg->registration_max_life;
    case KS_KIND_DEVICE:
        return mod->cfg->device_max_life;
    default:
        return mod->cfg->schedule.period / 2;
    }
}

/* Store a keyblock as plaintext key data with a normal salt. */
static krb5_error_code
set_key_data(krb5_key_data *kd, krb5_kvno kvno, const krb5_keyblock *kb)
{
    memset(kd, 0, sizeof(*kd));
    kd->key_data_ver = 2;
    kd->key_data_kvno = kvno;
    kd->key_data_type[0] = kb->enctype;
    kd->key_data_length[0] = kb->length;
    kd->key_data_contents[0] = malloc(kb->length);
    if (kd->key_data_contents[0] == NULL)
        return ENOMEM;
    memcpy(kd->key_data_contents[0], kb->contents, kb->length);
    kd->key_data_type[1] = KRB5_KDB_SALTTYPE_NORMAL;
    return 0;
}

/*
 * Give ent derived keys for the kvnos served at now: the previous ones the
 * schedule requires and the current one.  The KDC treats the highest kvno
 * of an entry as current (libkdb5 sorts key data by descending kvno and the
 * KDC labels tickets with the first), so the next kvno is not served: it
 * exists only in keytabs.  The exception is a derived service looked up as
 * an AS client: MIT's kinit -k decrypts the AS reply with the highest kvno
 * in its keytab, which for a keytab written by kstateless during the
 * current period is the next kvno, so that kvno is added and the reply is
 * encrypted in it.
 */
static krb5_error_code
add_derived_keys(krb5_context ctx, struct ks_module *mod,
                 krb5_db_entry *ent, enum ks_kind kind, unsigned int flags,
                 time_t now)
{
    krb5_keyblock kb;
    krb5_error_code ret;
    int64_t first, last, kvno, since;
    char *name = NULL;
    size_t i, n;

    ks_schedule_range(&mod->cfg->schedule, now, ks_entry_max_life(mod, kind),
                      mod->clockskew, &first, &last);
    if (!(kind == KS_KIND_SERVICE && (flags & KRB5_KDB_FLAG_CLIENT)))
        last--;
    if (last > KS_KVNO_MAX)
        return KSTL_KVNO_OVERFLOW;
    ret = krb5_unparse_name(ctx, ent->princ, &name);
    if (ret)
        return ret;
    n = (size_t)(last - first + 1) * mod->nenctypes;
    ent->key_data = calloc(n, sizeof(*ent->key_data));
    if (ent->key_data == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    for (kvno = last; kvno >= first; kvno--) {
        for (i = 0; i < mod->nenctypes; i++) {
            ret = ks_keycache_derive(ctx, mod->cache, mod->secret, name,
                                     mod->enctypes[i], (krb5_kvno)kvno, &kb);
            if (ret)
                goto cleanup;
            ret = set_key_data(&ent->key_data[ent->n_key_data], kvno, &kb);
            krb5_free_keyblock_contents(ctx, &kb);
            if (ret)
                goto cleanup;
            ent->n_key_data++;
        }
    }
    /* kadm5_get_principal() needs modification data; show when the
     * current keys took effect. */
    since = ks_schedule_start(&mod->cfg->schedule,
                              ks_schedule_current(&mod->cfg->schedule, now));
    if (since < mod->cfg->schedule.epoch)
        since = mod->cfg->schedule.epoch;
    ret = krb5_dbe_update_mod_princ_data(ctx, ent, (krb5_timestamp)since,
                                         mod->mod_princ);
    if (!ret)
        ret = krb5_dbe_update_last_pwd_change(ctx, ent,
                                              (krb5_timestamp)since);

cleanup:
    krb5_free_unparsed_name(ctx, name);
    return ret;
}

/* A new entry for p, without keys or attributes. */
static krb5_error_code
new_entry(krb5_context ctx, krb5_const_principal p, krb5_db_entry **out)
{
    krb5_db_entry *ent;
    krb5_error_code ret;

    *out = NULL;
    ent = calloc(1, sizeof(*ent));
    if (ent == NULL)
        return ENOMEM;
    ent->magic = KRB5_KDB_MAGIC_NUMBER;
    ent->len = KRB5_KDB_V1_BASE_LENGTH;
    ret = krb5_copy_principal(ctx, p, &ent->princ);
    if (ret) {
        free(ent);
        return ret;
    }
    *out = ent;
    return 0;
}

/* Give ent the keys of the unexpired records recs (ascending key id),
 * highest key id first, each key id as its kvno. */
static krb5_error_code
add_tempkeys(krb5_context ctx, struct ks_module *mod, krb5_db_entry *ent,
             const char *name, const struct ks_tempkey_record *recs,
             size_t n)
{
    const krb5_keyblock *store_key;
    krb5_keyblock *keys = NULL;
    krb5_key_data *kd;
    krb5_error_code ret;
    size_t nkeys = 0, i, j;

    ret = ks_module_store_key(ctx, mod, &store_key);
    if (ret)
        return ret;
    for (i = n; i-- > 0;) {
        ret = ks_tempkey_unwrap(ctx, store_key, name, &recs[i], &keys,
                                &nkeys);
        if (ret)
            return ret;
        kd = realloc(ent->key_data,
                     (ent->n_key_data + nkeys) * sizeof(*kd));
        if (kd == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        ent->key_data = kd;
        for (j = 0; j < nkeys; j++) {
            ret = set_key_data(&ent->key_data[ent->n_key_data],
                               recs[i].key_id, &keys[j]);
            if (ret)
                goto cleanup;
            ent->n_key_data++;
        }
        ks_tempkey_keyblocks_free(ctx, keys, nkeys);
        keys = NULL;
        nkeys = 0;
    }

cleanup:
    ks_tempkey_keyblocks_free(ctx, keys, nkeys);
    return ret;
}

/*
 * The entry of p, eligible for temporary keys (match), from the store:
 *
 *   never registered     a service rule's principal: *entry_out NULL and
 *                        0 (the caller derives its keys); a
 *                        tempkey_services principal: a keyless client
 *                        entry (so that it can register) or, as a server,
 *                        KRB5_KDB_NOENTRY
 *   unexpired keys       every unexpired key id as a kvno; tickets never
 *                        outlive the highest key id's expiry
 *   all keys expired     a keyless client entry (to register again) or,
 *                        as a server, a keyless entry that expired with
 *                        the last key, so the KDC names the cause
 *
 * A store that does not exist (no state_dir) holds no keys; any other
 * store failure fails the lookup (a registered key must not silently give
 * way to derived keys).  Expired records seen here are purged on the side
 * (ks_tempkey_purge_lazily()).
 */
static krb5_error_code
tempkey_entry(krb5_context ctx, struct ks_module *mod, krb5_const_principal p,
              enum ks_tempkey_match match,
              const struct ks_service_rule *rule, unsigned int flags,
              time_t now, krb5_db_entry **entry_out)
{
    struct ks_tempkey_record *recs = NULL;
    struct ks_store *store;
    krb5_db_entry *ent = NULL;
    krb5_error_code ret;
    char *name = NULL;
    size_t n = 0, expired = 0, i;
    uint32_t max_id;
    time_t last_expiry, life;
    int client = (flags & KRB5_KDB_FLAG_CLIENT) != 0;

    *entry_out = NULL;
    ret = krb5_unparse_name(ctx, p, &name);
    if (ret)
        return ret;
    ret = ks_module_store(ctx, mod, &store);
    if (!ret) {
        ret = ks_store_tempkey_get(ctx, store, name, now, &recs, &n, &max_id,
                                   &last_expiry, &expired);
    }
    /* No store (state_dir missing), never registered, or a name too long
     * for the store (EINVAL): no temporary keys. */
    if (ret == ENOENT || ret == KRB5_KDB_NOENTRY || ret == EINVAL) {
        if (match == KS_TEMPKEY_SERVICE) {
            ret = 0;            /* derived keys */
            goto cleanup;
        }
        if (!client) {
            ret = KRB5_KDB_NOENTRY;
            krb5_set_error_message(ctx, ret, "stateless: %s has no "
                                   "temporary key registered", name);
            goto cleanup;
        }
        ret = 0;
        n = 0;
        last_expiry = 0;
    }
    if (ret)
        goto cleanup;
    if (expired > 0)
        ks_tempkey_purge_lazily(ctx, mod, now);

    ret = new_entry(ctx, p, &ent);
    if (ret)
        goto cleanup;
    /* Postdated tickets could start after the key expires.  Preauth is
     * required of the server when it logs in (as a client); on a server
     * lookup MIT's TGS would read the same flag as "the client's TGT must
     * carry the pre-authent flag" (NO PREAUTH), which derived services'
     * TGTs (kinit -k) do not. */
    ent->attributes = KRB5_KDB_DISALLOW_POSTDATED;
    if (client)
        ent->attributes |= KRB5_KDB_REQUIRES_PRE_AUTH;
    ent->max_life = (krb5_deltat)ks_entry_max_life(mod, KS_KIND_SERVICE);
    ent->max_renewable_life = KS_MAX_RENEWABLE;
    if (n > 0) {
        ret = add_tempkeys(ctx, mod, ent, name, recs, n);
        if (ret)
            goto cleanup;
        life = recs[n - 1].expiry - now;
        if (life < 1)
            life = 1;
        if (life > INT32_MAX)
            life = INT32_MAX;
        ent->max_life = ent->max_renewable_life = (krb5_deltat)life;
        ret = krb5_dbe_update_mod_princ_data(ctx, ent,
                                             (krb5_timestamp)
                                             recs[n - 1].registered,
                                             mod->mod_princ);
        if (!ret)
            ret = krb5_dbe_update_last_pwd_change(ctx, ent,
                                                  (krb5_timestamp)
                                                  recs[n - 1].registered);
    } else {
        if (!client && last_expiry > 0)
            ent->expiration = (krb5_timestamp)last_expiry;
        ret = krb5_dbe_update_mod_princ_data(ctx, ent, 0, mod->mod_princ);
    }
    for (i = 0; ret == 0 && rule != NULL && i < rule->nattrs; i++) {
        ret = krb5_dbe_set_string(ctx, ent, rule->attr_names[i],
                                  rule->attr_values[i]);
    }
    if (ret)
        goto cleanup;
    *entry_out = ent;
    ent = NULL;

cleanup:
    krb5_db_free_principal(ctx, ent);
    ks_tempkey_records_free(recs, n);
    krb5_free_unparsed_name(ctx, name);
    return ret;
}

krb5_error_code
ks_entry_build(krb5_context ctx, struct ks_module *mod,
               krb5_const_principal p, unsigned int flags, time_t now,
               krb5_db_entry **entry_out)
{
    const struct ks_service_rule *rule = NULL;
    krb5_actkvno_node act;
    krb5_db_entry *ent;
    enum ks_kind kind;
    enum ks_tempkey_match match;
    krb5_error_code ret;
    size_t i;

    *entry_out = NULL;
    kind = ks_classify(ctx, mod->cfg, mod->realm, p, &rule);
    /* Only eligible principals cost a store lookup (one read
     * transaction); krbtgt, devreg and devices never do. */
    if (mod->serve_tempkeys && kind != KS_KIND_KRBTGT &&
        kind != KS_KIND_DEVREG && kind != KS_KIND_DEVICE) {
        match = ks_tempkey_match(ctx, mod, p, kind);
        if (match != KS_TEMPKEY_NONE) {
            ret = tempkey_entry(ctx, mod, p, match, rule, flags, now,
                                entry_out);
            if (ret || *entry_out != NULL)
                return ret;
        }
    }
    if (kind == KS_KIND_NONE)
        return KRB5_KDB_NOENTRY;

    ret = new_entry(ctx, p, &ent);
    if (ret)
        return ret;
    ent->max_life = (krb5_deltat)ks_entry_max_life(mod, kind);
    ent->max_renewable_life = KS_MAX_RENEWABLE;

    switch (kind) {
    case KS_KIND_DEVICE:
        ent->attributes = KRB5_KDB_REQUIRES_PRE_AUTH | KRB5_KDB_DISALLOW_SVR;
        ent->max_renewable_life = ent->max_life;
        ret = krb5_dbe_update_mod_princ_data(ctx, ent, 0, mod->mod_princ);
        break;
    case KS_KIND_MASTER:
        /* No master key exists; kadm5 only needs an active-kvno record so
         * that modifications reach put_principal and report read-only. */
        ent->attributes = KRB5_KDB_DISALLOW_ALL_TIX;
        act.next = NULL;
        act.act_kvno = 1;
        act.act_time = 0;
        ret = krb5_dbe_update_actkvno(ctx, ent, &act);
        if (!ret)
            ret = krb5_dbe_update_mod_princ_data(ctx, ent, 0, mod->mod_princ);
        break;
    case KS_KIND_DEVREG:
        /* Registration tickets come from AS exchanges only. */
        ent->attributes = KRB5_KDB_DISALLOW_TGT_BASED;
        ent->max_renewable_life = 0;
        ret = add_derived_keys(ctx, mod, ent, kind, flags, now);
        break;
    case KS_KIND_SERVICE:
        ret = add_derived_keys(ctx, mod, ent, kind, flags, now);
        for (i = 0; ret == 0 && i < rule->nattrs; i++) {
            ret = krb5_dbe_set_string(ctx, ent, rule->attr_names[i],
                                      rule->attr_values[i]);
        }
        break;
    default:
        ret = add_derived_keys(ctx, mod, ent, kind, flags, now);
        break;
    }
    if (ret)
        goto fail;
    *entry_out = ent;
    return 0;

fail:
    krb5_db_free_principal(ctx, ent);
    return ret;
}
