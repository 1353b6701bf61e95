/*
 * kstateless keytab -k KEYTAB PRINCIPAL...: write the current and next
 * kvno of every enctype of derived service principals to a keytab.
 *
 * The keytab is replaced atomically: existing entries are copied with the
 * new ones into a temporary file in the same directory, which is then
 * renamed over KEYTAB (the file a symbolic link points to) with the old
 * file's owner, group and group-read bit.  Old entries of the
 * principals being written are dropped when they are being rewritten or
 * when their kvno is no longer served by the KDC (older than
 * current - previous), so that a keytab refreshed from cron does not keep
 * retired keys forever.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kstateless.h"
#include "ks_err.h"
#include "ks_schedule.h"

struct kt_key {
    krb5_principal princ;
    krb5_kvno kvno;
    krb5_keyblock key;
};

struct kt_set {
    struct kt_key *keys;
    size_t n;
    krb5_kvno oldest;           /* oldest kvno the KDC still serves */
};

static void
kt_set_free(krb5_context ctx, struct kt_set *set)
{
    size_t i;

    for (i = 0; i < set->n; i++) {
        krb5_free_principal(ctx, set->keys[i].princ);
        krb5_free_keyblock_contents(ctx, &set->keys[i].key);
    }
    free(set->keys);
    memset(set, 0, sizeof(*set));
}

/* Append the keys of one derived service principal at kvnos cur, cur+1. */
static krb5_error_code
collect_keys(struct kst_ctx *kc, struct ks_module *mod, const char *arg,
             struct kt_set *set, krb5_kvno *cur_out)
{
    krb5_principal p = NULL;
    krb5_db_entry *ent = NULL;
    krb5_keyblock kb;
    struct kt_key *nk;
    enum ks_kind kind;
    krb5_error_code ret;
    krb5_kvno cur;
    int64_t first, last;
    time_t now = time(NULL);
    int i;

    ret = krb5_parse_name(kc->kctx, arg, &p);
    if (ret) {
        kst_error(kc, ret, "cannot parse principal '%s'", arg);
        return ret;
    }
    kind = ks_classify(kc->kctx, mod->cfg, mod->realm, p, NULL);
    if (kind != KS_KIND_SERVICE) {
        ret = KSTL_NOT_SERVICE;
        if (kind == KS_KIND_NONE) {
            kst_error(kc, 0, "%s matches no service pattern in [dbmodules] "
                      "%s (add a 'service =' glob for it)", arg,
                      mod->cfg->section);
        } else {
            kst_error(kc, 0, "%s is a %s; only derived service principals "
                      "get keytabs (%s)", arg, ks_kind_name(kind),
                      kind == KS_KIND_DEVICE ? "devices have no keys" :
                      "realm keys never leave the KDC");
        }
        goto cleanup;
    }
    ret = ks_entry_build(kc->kctx, mod, p, KRB5_KDB_FLAG_CLIENT, now, &ent);
    if (ret) {
        kst_error(kc, ret, "deriving keys for %s", arg);
        goto cleanup;
    }
    cur = (krb5_kvno)ks_schedule_current(&mod->cfg->schedule, now);
    ks_schedule_range(&mod->cfg->schedule, now,
                      ks_entry_max_life(mod, KS_KIND_SERVICE), mod->clockskew,
                      &first, &last);
    set->oldest = (krb5_kvno)first;
    for (i = 0; i < ent->n_key_data; i++) {
        krb5_key_data *kd = &ent->key_data[i];

        if (kd->key_data_kvno != cur && kd->key_data_kvno != cur + 1)
            continue;
        /* Key data hold plaintext keys (see stateless_kdb.c). */
        kb.magic = KV5M_KEYBLOCK;
        kb.enctype = kd->key_data_type[0];
        kb.length = kd->key_data_length[0];
        kb.contents = malloc(kb.length);
        if (kb.contents == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        memcpy(kb.contents, kd->key_data_contents[0], kb.length);
        nk = realloc(set->keys, (set->n + 1) * sizeof(*nk));
        if (nk == NULL) {
            krb5_free_keyblock_contents(kc->kctx, &kb);
            ret = ENOMEM;
            goto cleanup;
        }
        set->keys = nk;
        nk = &set->keys[set->n];
        nk->kvno = kd->key_data_kvno;
        nk->key = kb;
        ret = krb5_copy_principal(kc->kctx, p, &nk->princ);
        if (ret) {
            krb5_free_keyblock_contents(kc->kctx, &kb);
            goto cleanup;
        }
        set->n++;
    }
    *cur_out = cur;

cleanup:
    krb5_db_free_principal(kc->kctx, ent);
    krb5_free_principal(kc->kctx, p);
    return ret;
}

/* Nonzero if old entry e is rewritten by set or is a retired key of one
 * of set's principals. */
static int
is_replaced(krb5_context ctx, const struct kt_set *set,
            const krb5_keytab_entry *e)
{
    size_t i;

    for (i = 0; i < set->n; i++) {
        if (!krb5_principal_compare(ctx, set->keys[i].princ, e->principal))
            continue;
        if (e->vno < set->oldest)
            return 1;
        if (set->keys[i].kvno == e->vno &&
            set->keys[i].key.enctype == e->key.enctype)
            return 1;
    }
    return 0;
}

/* Copy the entries of the keytab at path (if it exists) into out. */
static krb5_error_code
copy_old_entries(krb5_context ctx, const char *path, const struct kt_set *set,
                 krb5_keytab out)
{
    krb5_keytab old = NULL;
    krb5_kt_cursor cur;
    krb5_keytab_entry e;
    krb5_error_code ret;
    char *name = NULL;

    if (access(path, F_OK) != 0)
        return 0;
    if (asprintf(&name, "FILE:%s", path) < 0)
        return ENOMEM;
    ret = krb5_kt_resolve(ctx, name, &old);
    free(name);
    if (ret)
        return ret;
    ret = krb5_kt_start_seq_get(ctx, old, &cur);
    if (ret)
        goto cleanup;
    while ((ret = krb5_kt_next_entry(ctx, old, &e, &cur)) == 0) {
        if (!is_replaced(ctx, set, &e))
            ret = krb5_kt_add_entry(ctx, out, &e);
        krb5_free_keytab_entry_contents(ctx, &e);
        if (ret)
            break;
    }
    krb5_kt_end_seq_get(ctx, old, &cur);
    if (ret == KRB5_KT_END)
        ret = 0;

cleanup:
    krb5_kt_close(ctx, old);
    return ret;
}

/* Write set (plus surviving old entries) to path atomically. */
static krb5_error_code
write_keytab(struct kst_ctx *kc, const char *path, const struct kt_set *set)
{
    krb5_keytab kt = NULL;
    krb5_keytab_entry e;
    krb5_error_code ret;
    char *tmp = NULL, *name = NULL;
    struct stat st;
    mode_t mode;
    size_t i;
    int fd;

    if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
        return ENOMEM;
    fd = mkstemp(tmp);
    if (fd < 0) {
        ret = errno;
        kst_error(kc, 0, "cannot create a temporary keytab next to %s: %s",
                  path, strerror(ret));
        free(tmp);
        return ret;
    }
    /* An empty file is not a keytab; let libkrb5 write the header. */
    fchmod(fd, 0600);
    close(fd);
    unlink(tmp);
    if (asprintf(&name, "FILE:%s", tmp) < 0) {
        ret = ENOMEM;
        goto cleanup;
    }
    ret = krb5_kt_resolve(kc->kctx, name, &kt);
    if (ret)
        goto cleanup;
    ret = copy_old_entries(kc->kctx, path, set, kt);
    if (ret) {
        kst_error(kc, ret, "reading existing keytab %s", path);
        goto cleanup;
    }
    for (i = 0; i < set->n; i++) {
        memset(&e, 0, sizeof(e));
        e.principal = set->keys[i].princ;
        e.vno = set->keys[i].kvno;
        e.key = set->keys[i].key;
        e.timestamp = time(NULL);
        ret = krb5_kt_add_entry(kc->kctx, kt, &e);
        if (ret) {
            kst_error(kc, ret, "writing keytab");
            goto cleanup;
        }
    }
    krb5_kt_close(kc->kctx, kt);
    kt = NULL;
    /* Keep an existing keytab's owner, group and group-read bit (never
     * any access for others); a new keytab is 0600. */
    mode = 0600;
    if (stat(path, &st) == 0) {
        mode = st.st_mode & 0640;
        if (chown(tmp, st.st_uid, st.st_gid) != 0) {
            ret = errno;
            kst_error(kc, 0, "cannot keep the owner of %s: %s", path,
                      strerror(ret));
            goto cleanup;
        }
    }
    chmod(tmp, mode | 0600);
    if (rename(tmp, path) != 0) {
        ret = errno;
        kst_error(kc, 0, "cannot replace %s: %s", path, strerror(ret));
        goto cleanup;
    }

cleanup:
    if (kt != NULL)
        krb5_kt_close(kc->kctx, kt);
    if (ret)
        unlink(tmp);
    free(name);
    free(tmp);
    return ret;
}

int
kst_cmd_keytab(struct kst_ctx *kc, int argc, char **argv)
{
    struct ks_module *mod = NULL;
    struct kt_set set = { 0 };
    const char *path = NULL;
    krb5_error_code ret;
    krb5_kvno cur = 0;
    char *real = NULL;
    int c, i, status = 1;

    optind = 1;
    while ((c = getopt(argc, argv, "k:h")) != -1) {
        switch (c) {
        case 'k':
            path = optarg;
            break;
        case 'h':
            printf("usage: kstateless keytab -k KEYTAB PRINCIPAL...\n");
            return 0;
        default:
            fprintf(stderr, "usage: kstateless keytab -k KEYTAB "
                    "PRINCIPAL...\n");
            return 2;
        }
    }
    if (path == NULL || optind >= argc) {
        fprintf(stderr, "usage: kstateless keytab -k KEYTAB PRINCIPAL...\n");
        return 2;
    }
    if (strncmp(path, "FILE:", 5) == 0)
        path += 5;
    else if (strncmp(path, "WRFILE:", 7) == 0)
        path += 7;
    /* Replace the file a symbolic link points to, not the link. */
    real = realpath(path, NULL);
    if (real != NULL)
        path = real;

    ret = ks_module_open(kc->kctx, kc->section, &mod);
    if (ret) {
        kst_error(kc, ret, "");
        return 1;
    }
    for (i = optind; i < argc; i++) {
        if (collect_keys(kc, mod, argv[i], &set, &cur) != 0)
            goto cleanup;
    }
    if (write_keytab(kc, path, &set) != 0)
        goto cleanup;
    for (i = optind; i < argc; i++) {
        printf("Wrote keys of %s, kvno %u (current) and %u (next), %zu "
               "enctypes, to %s\n", argv[i], cur, cur + 1, mod->nenctypes,
               path);
    }
    status = 0;

cleanup:
    kt_set_free(kc->kctx, &set);
    ks_module_close(mod);
    free(real);
    return status;
}
