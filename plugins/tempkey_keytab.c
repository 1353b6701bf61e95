/*
 * The server's keytab of temporary keys (see tempkey_keytab.h).
 *
 * Reads go through libkrb5's FILE keytab without a lock: writers never
 * modify the file in place, they rename a complete new one over it, so an
 * open keytab is always a whole old or a whole new one.
 *
 * A write (tk_keytab_update) takes the flock of "PATH.lock", reads every
 * entry, and writes the entries to keep plus the new ones through the
 * keytab API into "keytab" inside a fresh directory next to PATH
 * (mkdtemp: mode 0700, so nobody else can create, replace or open the
 * file while libkrb5 creates it; libkrb5 creates a keytab file 0600 and
 * cannot append to an empty file made by mkstemp).  The new file is
 * fsynced and renamed over PATH, the directory removed, and PATH's
 * directory fsynced.  The lock file stays: removing it would let a second
 * writer lock a new file while a first still holds the old one.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ks_iana.h"
#include "ks_util.h"
#include "ks_agent.h"
#include "tempkey_keytab.h"

/* --- shared helpers ----------------------------------------------------- */

krb5_error_code
tk_keytab_path(krb5_context ctx, const char *ktname, char **path_out)
{
    const char *path = ktname, *p;

    *path_out = NULL;
    if (strncmp(ktname, "FILE:", 5) == 0) {
        path = ktname + 5;
    } else if (strncmp(ktname, "WRFILE:", 7) == 0) {
        path = ktname + 7;
    } else {
        /* A residual type prefix is letters and digits before a colon. */
        for (p = ktname; isalnum((unsigned char)*p); p++)
            ;
        if (*p == ':' && p > ktname) {
            krb5_set_error_message(ctx, EINVAL, "keytab %s: only FILE: "
                                   "keytabs are supported (the keytab is "
                                   "replaced by renaming a new file over "
                                   "it)", ktname);
            return EINVAL;
        }
    }
    if (*path == '\0') {
        krb5_set_error_message(ctx, EINVAL, "keytab '%s': empty file name",
                               ktname);
        return EINVAL;
    }
    *path_out = strdup(path);
    return (*path_out == NULL) ? ENOMEM : 0;
}

krb5_error_code
tk_lock(krb5_context ctx, const char *path, int *fd_out)
{
    krb5_error_code ret;
    char *lockname = NULL;
    int fd;

    *fd_out = -1;
    if (asprintf(&lockname, "%s.lock", path) < 0)
        return ENOMEM;
    fd = open(lockname, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot open lock file %s: %s",
                               lockname, strerror(ret));
        free(lockname);
        return ret;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot lock %s: %s", lockname,
                               strerror(ret));
        close(fd);
        free(lockname);
        return ret;
    }
    free(lockname);
    *fd_out = fd;
    return 0;
}

void
tk_unlock(int fd)
{
    /* Closing the only descriptor of the open file drops the flock. */
    if (fd >= 0)
        close(fd);
}

/* --- reading ------------------------------------------------------------ */

static void
free_entries(krb5_context ctx, krb5_keytab_entry *entries, size_t count)
{
    size_t i;

    /* krb5_free_keytab_entry_contents zeroes the key. */
    for (i = 0; i < count; i++)
        krb5_free_keytab_entry_contents(ctx, &entries[i]);
    free(entries);
}

/*
 * Every entry of the keytab file at path into *entries_out (count in
 * *count_out; none when the file does not exist).
 */
static krb5_error_code
read_entries(krb5_context ctx, const char *path,
             krb5_keytab_entry **entries_out, size_t *count_out)
{
    krb5_keytab kt = NULL;
    krb5_kt_cursor cursor;
    krb5_keytab_entry entry, *entries = NULL, *grown;
    size_t count = 0, alloc = 0;
    krb5_error_code ret;
    krb5_boolean iterating = FALSE;
    struct stat st;
    char *name = NULL;

    *entries_out = NULL;
    *count_out = 0;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot read keytab %s: %s", path,
                               strerror(ret));
        return ret;
    }
    if (asprintf(&name, "FILE:%s", path) < 0)
        return ENOMEM;
    ret = krb5_kt_resolve(ctx, name, &kt);
    if (ret)
        goto cleanup;
    ret = krb5_kt_start_seq_get(ctx, kt, &cursor);
    if (ret == ENOENT) {
        /* Removed since the stat: no keytab. */
        ret = 0;
        goto cleanup;
    }
    if (ret)
        goto cleanup;
    iterating = TRUE;
    for (;;) {
        ret = krb5_kt_next_entry(ctx, kt, &entry, &cursor);
        if (ret == KRB5_KT_END) {
            ret = 0;
            break;
        }
        if (ret)
            goto cleanup;
        if (count == alloc) {
            alloc = alloc ? 2 * alloc : 8;
            grown = realloc(entries, alloc * sizeof(*entries));
            if (grown == NULL) {
                krb5_free_keytab_entry_contents(ctx, &entry);
                ret = ENOMEM;
                goto cleanup;
            }
            entries = grown;
        }
        entries[count++] = entry;
    }
    *entries_out = entries;
    *count_out = count;
    entries = NULL;
    count = 0;

cleanup:
    if (iterating)
        krb5_kt_end_seq_get(ctx, kt, &cursor);
    if (kt != NULL)
        krb5_kt_close(ctx, kt);
    if (ret && ret != ENOMEM)
        krb5_prepend_error_message(ctx, ret, "cannot read keytab %s", path);
    free_entries(ctx, entries, count);
    free(name);
    return ret;
}

/* read_entries() of keytab ktname. */
static krb5_error_code
read_keytab(krb5_context ctx, const char *ktname,
            krb5_keytab_entry **entries_out, size_t *count_out)
{
    krb5_error_code ret;
    char *path = NULL;

    ret = tk_keytab_path(ctx, ktname, &path);
    if (!ret)
        ret = read_entries(ctx, path, entries_out, count_out);
    free(path);
    return ret;
}

static char *
princ_name(krb5_context ctx, krb5_const_principal princ)
{
    char *name = NULL;

    if (krb5_unparse_name(ctx, princ, &name) != 0)
        return NULL;
    return name;
}

krb5_error_code
tk_keytab_next_id(krb5_context ctx, const char *ktname,
                  krb5_const_principal princ, uint32_t *next_out)
{
    krb5_keytab_entry *entries = NULL;
    size_t count = 0, i;
    uint32_t high = 0;
    krb5_error_code ret;
    char *name;

    *next_out = 0;
    ret = read_keytab(ctx, ktname, &entries, &count);
    if (ret)
        return ret;
    for (i = 0; i < count; i++) {
        if (krb5_principal_compare(ctx, entries[i].principal, princ) &&
            entries[i].vno > high)
            high = entries[i].vno;
    }
    free_entries(ctx, entries, count);
    if (high >= KS_TEMPKEY_ID_MAX) {
        name = princ_name(ctx, princ);
        krb5_set_error_message(ctx, EOVERFLOW, "keytab %s: key ids of %s "
                               "exhausted (key id %u is the highest a "
                               "temporary key can have)", ktname,
                               name != NULL ? name : "the principal",
                               (unsigned int)KS_TEMPKEY_ID_MAX);
        krb5_free_unparsed_name(ctx, name);
        return EOVERFLOW;
    }
    *next_out = high + 1;
    return 0;
}

void
tk_keys_free(krb5_keyblock *keys, size_t count)
{
    size_t i;

    if (keys == NULL)
        return;
    for (i = 0; i < count; i++)
        ks_zfree(keys[i].contents, keys[i].length);
    free(keys);
}

krb5_error_code
tk_keytab_get_keys(krb5_context ctx, const char *ktname,
                   krb5_const_principal princ, uint32_t key_id,
                   krb5_keyblock **keys_out, size_t *count_out)
{
    krb5_keytab_entry *entries = NULL;
    krb5_keyblock *keys = NULL;
    size_t count = 0, nkeys = 0, i;
    krb5_error_code ret;
    const krb5_keyblock *k;
    char *name;

    *keys_out = NULL;
    *count_out = 0;
    ret = read_keytab(ctx, ktname, &entries, &count);
    if (ret)
        return ret;
    keys = calloc(count > 0 ? count : 1, sizeof(*keys));
    if (keys == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    for (i = 0; i < count; i++) {
        if (entries[i].vno != key_id ||
            !krb5_principal_compare(ctx, entries[i].principal, princ))
            continue;
        k = &entries[i].key;
        keys[nkeys].magic = KV5M_KEYBLOCK;
        keys[nkeys].enctype = k->enctype;
        keys[nkeys].contents = malloc(k->length > 0 ? k->length : 1);
        if (keys[nkeys].contents == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        memcpy(keys[nkeys].contents, k->contents, k->length);
        keys[nkeys].length = k->length;
        nkeys++;
    }
    if (nkeys == 0) {
        name = princ_name(ctx, princ);
        ret = KRB5_KT_NOTFOUND;
        krb5_set_error_message(ctx, ret, "keytab %s has no key id %u of %s",
                               ktname, (unsigned int)key_id,
                               name != NULL ? name : "the principal");
        krb5_free_unparsed_name(ctx, name);
        goto cleanup;
    }
    *keys_out = keys;
    *count_out = nkeys;
    keys = NULL;

cleanup:
    tk_keys_free(keys, nkeys);
    free_entries(ctx, entries, count);
    return ret;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

krb5_error_code
tk_keytab_ids(krb5_context ctx, const char *ktname,
              krb5_const_principal princ, uint32_t **ids_out,
              size_t *count_out)
{
    krb5_keytab_entry *entries = NULL;
    size_t count = 0, n = 0, i, j;
    uint32_t *ids;
    krb5_error_code ret;

    *ids_out = NULL;
    *count_out = 0;
    ret = read_keytab(ctx, ktname, &entries, &count);
    if (ret)
        return ret;
    ids = calloc(count > 0 ? count : 1, sizeof(*ids));
    if (ids == NULL) {
        free_entries(ctx, entries, count);
        return ENOMEM;
    }
    for (i = 0; i < count; i++) {
        if (krb5_principal_compare(ctx, entries[i].principal, princ))
            ids[n++] = entries[i].vno;
    }
    free_entries(ctx, entries, count);
    qsort(ids, n, sizeof(*ids), cmp_u32);
    /* One per kvno: a key id has an entry per enctype. */
    for (i = j = 0; i < n; i++) {
        if (j == 0 || ids[j - 1] != ids[i])
            ids[j++] = ids[i];
    }
    *ids_out = ids;
    *count_out = j;
    return 0;
}

/* --- writing ------------------------------------------------------------ */

static krb5_boolean
in_ids(uint32_t id, const uint32_t *ids, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (ids[i] == id)
            return TRUE;
    }
    return FALSE;
}

/*
 * Make the keytab at tmpfile (not existing yet) exist with no entries:
 * libkrb5 creates a FILE keytab on its first added entry, so add a
 * placeholder and remove it again (which leaves a zeroed hole that every
 * reader skips).  Only the keytab API writes keytab bytes.
 */
static krb5_error_code
create_empty(krb5_context ctx, krb5_keytab kt, krb5_const_principal princ)
{
    unsigned char zero[32];
    krb5_keytab_entry e;
    krb5_error_code ret;

    memset(zero, 0, sizeof(zero));
    memset(&e, 0, sizeof(e));
    e.magic = KV5M_KEYTAB_ENTRY;
    e.principal = (krb5_principal)princ;
    e.vno = 0;                  /* never a key id */
    e.key.magic = KV5M_KEYBLOCK;
    e.key.enctype = ENCTYPE_AES256_CTS_HMAC_SHA1_96;
    e.key.length = sizeof(zero);
    e.key.contents = zero;
    ret = krb5_kt_add_entry(ctx, kt, &e);
    if (!ret)
        ret = krb5_kt_remove_entry(ctx, kt, &e);
    return ret;
}

/* fsync the file at path by name (libkrb5 opened and closed it). */
static krb5_error_code
sync_file(krb5_context ctx, const char *path)
{
    krb5_error_code ret = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot flush new keytab %s: %s",
                               path, strerror(ret));
    }
    if (fd >= 0)
        close(fd);
    return ret;
}

krb5_error_code
tk_keytab_update(krb5_context ctx, const char *ktname,
                 krb5_const_principal princ, const krb5_keyblock *add,
                 size_t nadd, uint32_t add_id, const uint32_t *drop_ids,
                 size_t ndrop)
{
    krb5_keytab_entry *entries = NULL, e;
    size_t count = 0, i, written = 0;
    krb5_keytab kt = NULL;
    krb5_error_code ret;
    char *path = NULL, *tmpdir = NULL, *tmpfile = NULL, *tmpname = NULL;
    char *name = NULL;
    int lockfd = -1;
    krb5_boolean made_dir = FALSE;

    if (nadd > 0 && (add_id < KS_TEMPKEY_ID_MIN ||
                     add_id > KS_TEMPKEY_ID_MAX)) {
        krb5_set_error_message(ctx, EINVAL, "keytab %s: key id %u is out of "
                               "range (%u-%u)", ktname,
                               (unsigned int)add_id,
                               (unsigned int)KS_TEMPKEY_ID_MIN,
                               (unsigned int)KS_TEMPKEY_ID_MAX);
        return EINVAL;
    }
    ret = tk_keytab_path(ctx, ktname, &path);
    if (ret)
        return ret;
    ret = tk_lock(ctx, path, &lockfd);
    if (ret)
        goto cleanup;
    ret = read_entries(ctx, path, &entries, &count);
    if (ret)
        goto cleanup;

    if (nadd > 0 && !in_ids(add_id, drop_ids, ndrop)) {
        for (i = 0; i < count; i++) {
            if (entries[i].vno == add_id &&
                krb5_principal_compare(ctx, entries[i].principal, princ)) {
                name = princ_name(ctx, princ);
                ret = EEXIST;
                krb5_set_error_message(ctx, ret, "keytab %s already holds "
                                       "key id %u of %s", ktname,
                                       (unsigned int)add_id,
                                       name != NULL ? name :
                                       "the principal");
                goto cleanup;
            }
        }
    }

    if (asprintf(&tmpdir, "%s.XXXXXX", path) < 0) {
        tmpdir = NULL;
        ret = ENOMEM;
        goto cleanup;
    }
    if (mkdtemp(tmpdir) == NULL) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot create a temporary "
                               "directory next to keytab %s: %s", path,
                               strerror(ret));
        goto cleanup;
    }
    made_dir = TRUE;
    if (asprintf(&tmpfile, "%s/keytab", tmpdir) < 0) {
        tmpfile = NULL;
        ret = ENOMEM;
        goto cleanup;
    }
    if (asprintf(&tmpname, "FILE:%s", tmpfile) < 0) {
        tmpname = NULL;
        ret = ENOMEM;
        goto cleanup;
    }
    ret = krb5_kt_resolve(ctx, tmpname, &kt);
    if (ret)
        goto cleanup;

    for (i = 0; i < count; i++) {
        if (in_ids(entries[i].vno, drop_ids, ndrop) &&
            krb5_principal_compare(ctx, entries[i].principal, princ))
            continue;
        ret = krb5_kt_add_entry(ctx, kt, &entries[i]);
        if (ret)
            goto write_failed;
        written++;
    }
    for (i = 0; i < nadd; i++) {
        memset(&e, 0, sizeof(e));
        e.magic = KV5M_KEYTAB_ENTRY;
        e.principal = (krb5_principal)princ;
        e.timestamp = (krb5_timestamp)time(NULL);
        e.vno = add_id;
        e.key = add[i];
        ret = krb5_kt_add_entry(ctx, kt, &e);
        if (ret)
            goto write_failed;
        written++;
    }
    if (written == 0) {
        ret = create_empty(ctx, kt, princ);
        if (ret)
            goto write_failed;
    }
    ret = krb5_kt_close(ctx, kt);
    kt = NULL;
    if (ret)
        goto write_failed;

    ret = sync_file(ctx, tmpfile);
    if (ret)
        goto cleanup;
    if (rename(tmpfile, path) != 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot rename %s to %s: %s",
                               tmpfile, path, strerror(ret));
        goto cleanup;
    }
    /* The new keytab is in place; make that durable. */
    ks_agent_sync_dir(path);
    goto cleanup;

write_failed:
    krb5_prepend_error_message(ctx, ret, "cannot write new keytab %s",
                               tmpfile);

cleanup:
    if (kt != NULL)
        krb5_kt_close(ctx, kt);
    if (made_dir) {
        if (tmpfile != NULL)
            (void)unlink(tmpfile);
        (void)rmdir(tmpdir);
    }
    tk_unlock(lockfd);
    free_entries(ctx, entries, count);
    krb5_free_unparsed_name(ctx, name);
    free(tmpname);
    free(tmpfile);
    free(tmpdir);
    free(path);
    return ret;
}
