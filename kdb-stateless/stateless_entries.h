/*
 * The state of the stateless backend for one realm, and the synthesis of
 * KDB entries from it.  Shared by stateless.so and kstateless.
 */
#ifndef STATELESS_ENTRIES_H
#define STATELESS_ENTRIES_H

#include <stdint.h>
#include <time.h>
#include <krb5/krb5.h>
#include <kdb.h>

#include "ks_config.h"
#include "ks_keycache.h"
#include "ks_names.h"
#include "ks_secret.h"
#include "ks_store.h"

struct ks_module {
    char *realm;
    struct ks_config *cfg;
    struct ks_secret *secret;
    krb5_enctype *enctypes;     /* 0-terminated */
    size_t nenctypes;
    int64_t clockskew;
    struct ks_keycache *cache;
    krb5_principal mod_princ;   /* shown as last modifier by kadmin */
    /* Temporary keys (stateless_tempkey.h).  Only the KDB module serves
     * them: kstateless keytab writes derived keys. */
    int serve_tempkeys;
    struct ks_store *store;     /* state_dir's store, opened on first use */
    krb5_keyblock store_key;    /* derived on first use (length 0 before) */
    double last_tempkey_purge;  /* monotonic seconds; 0: never */
};

/* Load configuration, enctypes and secret for ctx's default realm from
 * [dbmodules] section; check the kvno range.  Errors carry a message. */
krb5_error_code ks_module_open(krb5_context ctx, const char *section,
                               struct ks_module **out);

void ks_module_close(struct ks_module *mod);

/* The ticket life cap of a derived principal of kind. */
int64_t ks_entry_max_life(const struct ks_module *mod, enum ks_kind kind);

/* Synthesize the entry for p at time now, or KRB5_KDB_NOENTRY.  flags are
 * get_principal's: with KRB5_KDB_FLAG_CLIENT a derived service also gets
 * its next kvno (see stateless_entries.c).  With mod->serve_tempkeys,
 * principals eligible for temporary keys get those registered in the
 * store instead (see stateless_entries.c). */
krb5_error_code ks_entry_build(krb5_context ctx, struct ks_module *mod,
                               krb5_const_principal p, unsigned int flags,
                               time_t now, krb5_db_entry **entry_out);

#endif
