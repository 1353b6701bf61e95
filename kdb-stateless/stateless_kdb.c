/*
 * stateless.so: a read-only KDB module (DAL major 9) with no per-principal
 * key database.
 *
 * Entries are synthesized on lookup from the configuration (ks_config.h),
 * the realm secret (ks_secret.h) and the clock:
 *
 *   krbtgt/REALM, devreg/REALM and service-glob principals carry derived
 *   keys (ks_kdf.h) for every configured enctype and for kvnos
 *   current - previous .. current (ks_schedule.h; the next kvno goes only
 *   to keytabs, see stateless_entries.c).
 *
 *   device/ID principals have no keys, require preauthentication and may
 *   only be user-to-user servers.
 *
 *   Principals eligible for temporary keys (a service rule's, or a
 *   tempkey_services glob's) carry the keys registered through tempkey.so
 *   instead, from the store in state_dir (stateless_tempkey.h,
 *   stateless_entries.c).
 *
 * Everything else is "not found".  Keys are held in plaintext in key data;
 * there is no master key.  Modifications fail with KSTL_READ_ONLY, except
 * the registration of a temporary key (put_principal of the entry
 * described in lib/ks_tempkey.h).
 *
 * check_policy_tgs and check_policy_as hold devices registered
 * anonymously to unprovisioned_services until they are provisioned
 * (stateless_policy.h).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <krb5/krb5.h>
#include <kdb.h>

#include "ks_config.h"
#include "ks_err.h"
#include "ks_keycache.h"
#include "ks_names.h"
#include "ks_schedule.h"
#include "ks_secret.h"
#include "ks_util.h"
#include "stateless_entries.h"
#include "stateless_policy.h"
#include "stateless_tempkey.h"

/* Log through krb5kdc's (or kadmin.local's) logging when present. */
static void
ks_log(int prio, const char *fmt, ...)
{
    typedef krb5_error_code (*klog_fn)(int, const char *, ...);
    static klog_fn klog;
    static int looked;
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (!looked) {
        *(void **)&klog = dlsym(RTLD_DEFAULT, "krb5_klog_syslog");
        looked = 1;
    }
    if (klog != NULL)
        klog(prio, "%s", buf);
    else
        syslog(prio, "%s", buf);
}

static krb5_error_code
ks_init_library(void)
{
    add_error_table(&et_kstl_error_table);
    return 0;
}

static krb5_error_code
ks_fini_library(void)
{
    return 0;
}

static krb5_error_code
ks_init_module(krb5_context ctx, char *conf_section, char **db_args,
               int mode)
{
    struct ks_module *mod = NULL;
    krb5_error_code ret;

    if (db_args != NULL && db_args[0] != NULL) {
        krb5_set_error_message(ctx, EINVAL, "stateless: unsupported database "
                               "argument '%s'", db_args[0]);
        return EINVAL;
    }
    ret = ks_module_open(ctx, conf_section, &mod);
    if (ret)
        return ret;
    mod->serve_tempkeys = 1;
    ks_log(LOG_INFO, "stateless: realm %s secret check value %s "
           "(secret_file %s), current kvno %ld, key_period %lds",
           mod->realm, mod->secret->check_value, mod->cfg->secret_file,
           (long)ks_schedule_current(&mod->cfg->schedule, time(NULL)),
           (long)mod->cfg->schedule.period);
    ret = krb5_db_set_context(ctx, mod);
    if (ret)
        ks_module_close(mod);
    return ret;
}

static krb5_error_code
ks_fini_module(krb5_context ctx)
{
    struct ks_module *mod = NULL;

    if (krb5_db_get_context(ctx, (void **)&mod) == 0)
        ks_module_close(mod);
    krb5_db_set_context(ctx, NULL);
    return 0;
}

static struct ks_module *
get_module(krb5_context ctx)
{
    struct ks_module *mod = NULL;

    if (krb5_db_get_context(ctx, (void **)&mod) != 0)
        return NULL;
    return mod;
}

static krb5_error_code
ks_get_principal(krb5_context ctx, krb5_const_principal search_for,
                 unsigned int flags, krb5_db_entry **entry)
{
    struct ks_module *mod = get_module(ctx);

    *entry = NULL;
    if (mod == NULL)
        return KRB5_KDB_DBNOTINITED;
    return ks_entry_build(ctx, mod, search_for, flags, time(NULL), entry);
}

/* Report read-only for every modifying operation. */
static krb5_error_code
read_only(krb5_context ctx, const char *what)
{
    krb5_set_error_message(ctx, KSTL_READ_ONLY, "stateless: cannot %s: the "
                           "stateless backend is read-only (keys derive from "
                           "the realm secret: add 'service =' globs to "
                           "kdc.conf and write keytabs with 'kstateless "
                           "keytab')", what);
    return KSTL_READ_ONLY;
}

/* Only the temporary keys tempkey.so hands over are stored
 * (lib/ks_tempkey.h); everything else stays read-only. */
static krb5_error_code
ks_put_principal(krb5_context ctx, krb5_db_entry *entry, char **db_args)
{
    struct ks_module *mod = get_module(ctx);

    if (mod == NULL)
        return KRB5_KDB_DBNOTINITED;
    if ((db_args != NULL && db_args[0] != NULL) ||
        !ks_tempkey_is_handover(entry))
        return read_only(ctx, "store a principal");
    return ks_tempkey_register(ctx, mod, entry, time(NULL));
}

static krb5_error_code
ks_delete_principal(krb5_context ctx, krb5_const_principal p)
{
    return read_only(ctx, "delete a principal");
}

static krb5_error_code
ks_rename_principal(krb5_context ctx, krb5_const_principal from,
                    krb5_const_principal to)
{
    return read_only(ctx, "rename a principal");
}

static krb5_error_code
ks_change_pwd(krb5_context ctx, krb5_keyblock *master_key,
              krb5_key_salt_tuple *ks_tuple, int ks_tuple_count, char *passwd,
              int new_kvno, krb5_boolean keepold, krb5_db_entry *db_entry)
{
    return read_only(ctx, "change keys");
}

static krb5_error_code
ks_create(krb5_context ctx, char *conf_section, char **db_args)
{
    krb5_set_error_message(ctx, KSTL_READ_ONLY, "stateless: there is no "
                           "database to create; run 'kstateless init' to "
                           "create the realm secret");
    return KSTL_READ_ONLY;
}

static krb5_error_code
ks_destroy(krb5_context ctx, char *conf_section, char **db_args)
{
    return read_only(ctx, "destroy the database");
}

static krb5_error_code
ks_lock(krb5_context ctx, int mode)
{
    return 0;
}

static krb5_error_code
ks_unlock(krb5_context ctx)
{
    return 0;
}

/* List the fixed principals (service globs cannot be enumerated). */
static krb5_error_code
ks_iterate(krb5_context ctx, char *match_entry,
           int (*func)(krb5_pointer, krb5_db_entry *), krb5_pointer arg,
           krb5_flags iterflags)
{
    struct ks_module *mod = get_module(ctx);
    static const char *const fixed[] = { "krbtgt", "devreg", NULL };
    krb5_principal p = NULL;
    krb5_db_entry *ent = NULL;
    krb5_error_code ret = 0;
    int i;

    if (mod == NULL)
        return KRB5_KDB_DBNOTINITED;
    for (i = 0; fixed[i] != NULL && ret == 0; i++) {
        ret = krb5_build_principal(ctx, &p, strlen(mod->realm), mod->realm,
                                   fixed[i], mod->realm, (char *)NULL);
        if (ret)
            break;
        ret = ks_entry_build(ctx, mod, p, 0, time(NULL), &ent);
        krb5_free_principal(ctx, p);
        if (ret)
            break;
        ret = (*func)(arg, ent);
        krb5_db_free_principal(ctx, ent);
    }
    return ret;
}

/* No master key: an empty aes256 keyblock, as MIT's test module does. */
static krb5_error_code
ks_fetch_master_key(krb5_context ctx, krb5_principal mname,
                    krb5_keyblock *key, krb5_kvno *kvno, char *db_args)
{
    memset(key, 0, sizeof(*key));
    key->magic = KV5M_KEYBLOCK;
    key->enctype = ENCTYPE_AES256_CTS_HMAC_SHA1_96;
    *kvno = 1;
    return 0;
}

static krb5_error_code
ks_fetch_master_key_list(krb5_context ctx, krb5_principal mname,
                         const krb5_keyblock *key,
                         krb5_keylist_node **mkeys_list)
{
    krb5_keylist_node *node;

    /* kadm5 needs a (here empty) master key list to reach put_principal,
     * which then reports the read-only backend. */
    node = calloc(1, sizeof(*node));
    if (node == NULL)
        return ENOMEM;
    node->kvno = 1;
    node->keyblock.magic = KV5M_KEYBLOCK;
    node->keyblock.enctype = ENCTYPE_AES256_CTS_HMAC_SHA1_96;
    *mkeys_list = node;
    return 0;
}

/* Key data hold plaintext keys. */
static krb5_error_code
ks_decrypt_key_data(krb5_context ctx, const krb5_keyblock *mkey,
                    const krb5_key_data *kd, krb5_keyblock *dbkey,
                    krb5_keysalt *keysalt)
{
    memset(dbkey, 0, sizeof(*dbkey));
    dbkey->magic = KV5M_KEYBLOCK;
    dbkey->enctype = kd->key_data_type[0];
    dbkey->length = kd->key_data_length[0];
    dbkey->contents = malloc(dbkey->length ? dbkey->length : 1);
    if (dbkey->contents == NULL)
        return ENOMEM;
    memcpy(dbkey->contents, kd->key_data_contents[0], dbkey->length);
    if (keysalt != NULL) {
        keysalt->type = KRB5_KDB_SALTTYPE_NORMAL;
        keysalt->data.magic = KV5M_DATA;
        keysalt->data.length = 0;
        keysalt->data.data = NULL;
    }
    return 0;
}

/* Store plaintext too, so that kadmin operations reach put_principal and
 * report the read-only backend rather than a crypto error. */
static krb5_error_code
ks_encrypt_key_data(krb5_context ctx, const krb5_keyblock *mkey,
                    const krb5_keyblock *dbkey, const krb5_keysalt *keysalt,
                    int keyver, krb5_key_data *kd)
{
    memset(kd, 0, sizeof(*kd));
    kd->key_data_ver = 1;
    kd->key_data_kvno = keyver;
    kd->key_data_type[0] = dbkey->enctype;
    kd->key_data_length[0] = dbkey->length;
    kd->key_data_contents[0] = malloc(dbkey->length ? dbkey->length : 1);
    if (kd->key_data_contents[0] == NULL)
        return ENOMEM;
    memcpy(kd->key_data_contents[0], dbkey->contents, dbkey->length);
    return 0;
}

/* Restricted profile of anonymous devices, on TGS requests: ticket is the
 * header ticket, which the KDC has decrypted (enc_part2) by now. */
static krb5_error_code
ks_check_policy_tgs(krb5_context ctx, krb5_kdc_req *request,
                    krb5_db_entry *server, krb5_ticket *ticket,
                    const char **status, krb5_pa_data ***e_data)
{
    struct ks_module *mod = get_module(ctx);

    if (mod == NULL)
        return KRB5_KDB_DBNOTINITED;
    return ks_policy_check_tgs(ctx, mod->cfg, mod->realm, server->princ,
                               ticket, status);
}

/* On AS requests the client's indicators are not known yet (they come
 * from preauthentication), so devices may only ask for the TGS, the
 * registration service and unprovisioned_services. */
static krb5_error_code
ks_check_policy_as(krb5_context ctx, krb5_kdc_req *request,
                   krb5_db_entry *client, krb5_db_entry *server,
                   krb5_timestamp kdc_time, const char **status,
                   krb5_pa_data ***e_data)
{
    struct ks_module *mod = get_module(ctx);

    if (mod == NULL)
        return KRB5_KDB_DBNOTINITED;
    if (client == NULL || server == NULL)
        return 0;
    return ks_policy_check_as(ctx, mod->cfg, mod->realm, client->princ,
                              server->princ, status);
}

kdb_vftabl kdb_function_table = {
    .maj_ver = KRB5_KDB_DAL_MAJOR_VERSION,
    .min_ver = 0,
    .init_library = ks_init_library,
    .fini_library = ks_fini_library,
    .init_module = ks_init_module,
    .fini_module = ks_fini_module,
    .create = ks_create,
    .destroy = ks_destroy,
    .lock = ks_lock,
    .unlock = ks_unlock,
    .get_principal = ks_get_principal,
    .put_principal = ks_put_principal,
    .delete_principal = ks_delete_principal,
    .rename_principal = ks_rename_principal,
    .iterate = ks_iterate,
    .fetch_master_key = ks_fetch_master_key,
    .fetch_master_key_list = ks_fetch_master_key_list,
    .change_pwd = ks_change_pwd,
    .decrypt_key_data = ks_decrypt_key_data,
    .encrypt_key_data = ks_encrypt_key_data,
    .check_policy_as = ks_check_policy_as,
    .check_policy_tgs = ks_check_policy_tgs,
};
