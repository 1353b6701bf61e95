/*
 * The state file of registered temporary keys (see tempkey_state.h).
 *
 * Readers open the file without a lock: writers replace it by rename(2),
 * never in place.  A change (record, remove) takes the flock of
 * "STATE.lock", reads the file, and writes the result to a mkstemp(3)
 * file next to it (mode 0600), which is fsynced and renamed over STATE;
 * then the directory is fsynced.  Entries are written sorted by principal
 * and key id so that the file reads well and diffs stay small.  The file
 * holds no key material.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_iana.h"
#include "tempkey_keytab.h"
#include "ks_agent.h"
#include "tempkey_state.h"

#define STATE_SUFFIX ".tempkey"
#define FIELD_SEPS " \t"

static krb5_error_code
state_path(krb5_context ctx, const char *ktname, char **out)
{
    krb5_error_code ret;
    char *path = NULL;

    *out = NULL;
    ret = tk_keytab_path(ctx, ktname, &path);
    if (ret)
        return ret;
    if (asprintf(out, "%s" STATE_SUFFIX, path) < 0) {
        *out = NULL;
        ret = ENOMEM;
    }
    free(path);
    return ret;
}

void
tk_state_free(struct tk_state_entry *entries, size_t count)
{
    size_t i;

    if (entries == NULL)
        return;
    for (i = 0; i < count; i++)
        free(entries[i].principal);
    free(entries);
}

/* A decimal number of digits only (no sign, no blanks) up to max. */
static int
parse_number(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (max - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* A principal name the one-line format can hold: no white space, no
 * control characters. */
static krb5_boolean
principal_ok(const char *p)
{
    if (p == NULL || *p == '\0')
        return FALSE;
    for (; *p != '\0'; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return FALSE;
    }
    return TRUE;
}

/* Parse one line (newline removed) into *e; a static reason on error. */
static const char *
parse_line(char *line, struct tk_state_entry *e)
{
    static const char *const names[] = {
        "invalid principal", "invalid key id", "invalid registration time",
        "invalid expiry", "invalid renew-by time"
    };
    char *fields[6], *save = NULL, *tok;
    uint64_t v[4];
    size_t n = 0, i;

    memset(e, 0, sizeof(*e));
    for (tok = strtok_r(line, FIELD_SEPS, &save); tok != NULL;
         tok = strtok_r(NULL, FIELD_SEPS, &save)) {
        if (n == 5)
            return "more than 5 fields";
        fields[n++] = tok;
    }
    if (n < 5)
        return "fewer than 5 fields";
    if (!principal_ok(fields[0]))
        return "invalid principal";
    for (i = 0; i < 4; i++) {
        if (parse_number(fields[i + 1], i == 0 ? KS_TEMPKEY_ID_MAX :
                         (uint64_t)INT64_MAX, &v[i]) != 0)
            return names[i + 1];
    }
    if (v[0] < KS_TEMPKEY_ID_MIN)
        return names[1];
    e->principal = strdup(fields[0]);
    if (e->principal == NULL)
        return "out of memory";
    e->key_id = (uint32_t)v[0];
    e->registered = (time_t)v[1];
    e->expiry = (time_t)v[2];
    e->renew_by = (time_t)v[3];
    return NULL;
}

/* Read the state file at path (no entries when it does not exist). */
static krb5_error_code
load_file(krb5_context ctx, const char *path, struct tk_state_entry **out,
          size_t *count_out)
{
    struct tk_state_entry *entries = NULL, *grown, e;
    size_t count = 0, alloc = 0, cap = 0;
    unsigned int lineno = 0;
    krb5_error_code ret = 0;
    const char *why;
    char *line = NULL;
    ssize_t len;
    FILE *f;

    *out = NULL;
    *count_out = 0;
    f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot open tempkey state file "
                               "%s: %s", path, strerror(ret));
        return ret;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if ((size_t)len != strlen(line)) {
            why = "NUL byte in line";
            goto bad_line;
        }
        /* An empty line (an editor's last newline, say) says nothing. */
        if (len == 0)
            continue;
        why = parse_line(line, &e);
        if (why != NULL)
            goto bad_line;
        if (count == alloc) {
            alloc = alloc ? 2 * alloc : 8;
            grown = realloc(entries, alloc * sizeof(*entries));
            if (grown == NULL) {
                free(e.principal);
                ret = ENOMEM;
                goto cleanup;
            }
            entries = grown;
        }
        entries[count++] = e;
    }
    if (ferror(f)) {
        ret = errno ? errno : EIO;
        krb5_set_error_message(ctx, ret, "cannot read tempkey state file "
                               "%s: %s", path, strerror(ret));
        goto cleanup;
    }
    *out = entries;
    *count_out = count;
    entries = NULL;
    count = 0;
    goto cleanup;

bad_line:
    ret = (strcmp(why, "out of memory") == 0) ? ENOMEM : EINVAL;
    krb5_set_error_message(ctx, ret, "tempkey state file %s line %u: %s "
                           "(expected 'PRINCIPAL KEY_ID REGISTERED EXPIRY "
                           "RENEW_BY')", path, lineno, why);

cleanup:
    fclose(f);
    free(line);
    tk_state_free(entries, count);
    return ret;
}

krb5_error_code
tk_state_load(krb5_context ctx, const char *ktname,
              struct tk_state_entry **out, size_t *count_out)
{
    krb5_error_code ret;
    char *path = NULL;

    *out = NULL;
    *count_out = 0;
    ret = state_path(ctx, ktname, &path);
    if (!ret)
        ret = load_file(ctx, path, out, count_out);
    free(path);
    return ret;
}

static int
cmp_entry(const void *a, const void *b)
{
    const struct tk_state_entry *x = a, *y = b;
    int c = strcmp(x->principal, y->principal);

    if (c != 0)
        return c;
    return (x->key_id > y->key_id) - (x->key_id < y->key_id);
}

/* Replace the file at path with entries (sorted in place), atomically. */
static krb5_error_code
write_file(krb5_context ctx, const char *path,
           struct tk_state_entry *entries, size_t count)
{
    krb5_error_code ret = 0;
    char *tmp = NULL;
    FILE *f = NULL;
    size_t i;
    int fd;

    if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
        return ENOMEM;
    fd = mkstemp(tmp);
    if (fd < 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot create a temporary file "
                               "next to tempkey state file %s: %s", path,
                               strerror(ret));
        free(tmp);
        return ret;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        ret = errno;
        close(fd);
        goto failed;
    }
    qsort(entries, count, sizeof(*entries), cmp_entry);
    for (i = 0; i < count; i++) {
        fprintf(f, "%s %u %lld %lld %lld\n", entries[i].principal,
                (unsigned int)entries[i].key_id,
                (long long)entries[i].registered,
                (long long)entries[i].expiry,
                (long long)entries[i].renew_by);
    }
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
        ret = errno ? errno : EIO;
        fclose(f);
        goto failed;
    }
    if (fclose(f) != 0) {
        ret = errno;
        goto failed;
    }
    if (rename(tmp, path) != 0) {
        ret = errno;
        krb5_set_error_message(ctx, ret, "cannot rename %s to %s: %s", tmp,
                               path, strerror(ret));
        unlink(tmp);
        free(tmp);
        return ret;
    }
    ks_agent_sync_dir(path);
    free(tmp);
    return 0;

failed:
    krb5_set_error_message(ctx, ret, "cannot write tempkey state file %s: "
                           "%s", tmp, strerror(ret));
    unlink(tmp);
    free(tmp);
    return ret;
}

static krb5_error_code
check_entry(krb5_context ctx, const char *path, const struct tk_state_entry *e)
{
    if (!principal_ok(e->principal)) {
        krb5_set_error_message(ctx, EINVAL, "tempkey state file %s: "
                               "principal '%s' is empty or holds white "
                               "space or control characters", path,
                               e->principal != NULL ? e->principal : "");
        return EINVAL;
    }
    if (e->key_id < KS_TEMPKEY_ID_MIN || e->key_id > KS_TEMPKEY_ID_MAX ||
        e->registered < 0 || e->expiry < 0 || e->renew_by < 0) {
        krb5_set_error_message(ctx, EINVAL, "tempkey state file %s: key id "
                               "%u of %s: key id out of range or negative "
                               "time", path, (unsigned int)e->key_id,
                               e->principal);
        return EINVAL;
    }
    return 0;
}

krb5_error_code
tk_state_record(krb5_context ctx, const char *ktname,
                const struct tk_state_entry *e)
{
    struct tk_state_entry *entries = NULL, *grown, *old = NULL;
    size_t count = 0, i;
    krb5_error_code ret;
    char *path = NULL;
    int lockfd = -1;

    ret = state_path(ctx, ktname, &path);
    if (ret)
        return ret;
    ret = check_entry(ctx, path, e);
    if (ret)
        goto cleanup;
    ret = tk_lock(ctx, path, &lockfd);
    if (ret)
        goto cleanup;
    ret = load_file(ctx, path, &entries, &count);
    if (ret)
        goto cleanup;
    for (i = 0; i < count; i++) {
        if (entries[i].key_id == e->key_id &&
            strcmp(entries[i].principal, e->principal) == 0)
            old = &entries[i];
    }
    if (old != NULL) {
        /* Another KDC accepted the same key: the key is registered since
         * the first acceptance, must stay in the keytab until the last
         * expiry, and must be replaced by the earliest wish of any KDC. */
        if (e->registered < old->registered)
            old->registered = e->registered;
        if (e->expiry > old->expiry)
            old->expiry = e->expiry;
        old->renew_by = ks_agent_earliest(old->renew_by, e->renew_by);
    } else {
        grown = realloc(entries, (count + 1) * sizeof(*entries));
        if (grown == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        entries = grown;
        entries[count] = *e;
        entries[count].principal = strdup(e->principal);
        if (entries[count].principal == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        count++;
    }
    ret = write_file(ctx, path, entries, count);

cleanup:
    tk_unlock(lockfd);
    tk_state_free(entries, count);
    free(path);
    return ret;
}

krb5_error_code
tk_state_remove(krb5_context ctx, const char *ktname, const char *principal,
                const uint32_t *ids, size_t nids)
{
    struct tk_state_entry *entries = NULL;
    size_t count = 0, i, j, k;
    krb5_error_code ret;
    krb5_boolean drop;
    char *path = NULL;
    int lockfd = -1;

    ret = state_path(ctx, ktname, &path);
    if (ret)
        return ret;
    ret = tk_lock(ctx, path, &lockfd);
    if (ret)
        goto cleanup;
    ret = load_file(ctx, path, &entries, &count);
    if (ret)
        goto cleanup;
    for (i = j = 0; i < count; i++) {
        drop = FALSE;
        if (strcmp(entries[i].principal, principal) == 0) {
            for (k = 0; k < nids && !drop; k++)
                drop = (entries[i].key_id == ids[k]);
        }
        if (drop)
            free(entries[i].principal);
        else
            entries[j++] = entries[i];
    }
    /* Nothing removed: leave the file (or its absence) alone. */
    if (j != count) {
        count = j;
        ret = write_file(ctx, path, entries, count);
    }

cleanup:
    tk_unlock(lockfd);
    tk_state_free(entries, count);
    free(path);
    return ret;
}
