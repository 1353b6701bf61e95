/*
 * The shared run-time store (see ks_store.h): two LMDB environments, each
 * in one file (MDB_NOSUBDIR; LMDB adds NAME-lock): STATE_DIR/store.mdb,
 * synced, with the staging and provisioned tables, and
 * STATE_DIR/replay.mdb, MDB_NOSYNC, with the replay tables.
 *
 * Record formats (all integers big-endian; every value begins with a
 * format version byte, 1 in this release; a reader refuses any other
 * version, any length outside the limits below, and trailing bytes):
 *
 *   store.mdb
 *   staging       key:   device id (1-64 bytes, ks_device_id_valid())
 *                 value: u8  version (1)
 *                        s64 time added (seconds since the epoch)
 *                        u8  profile length P (0 = no profile, else 1-32)
 *                        P   profile ([A-Za-z0-9._-])
 *                        u16 SPKI length L (1-KS_STORE_SPKI_MAX)
 *                        L   DER SubjectPublicKeyInfo (one DER SEQUENCE
 *                            of exactly L bytes; fully parsed when written)
 *   provisioned   key:   device id
 *                 value: u8 version (1), s64 time provisioned
 *   tempkeys      key:   principal (unparsed, with realm; 1 to
 *                        KS_STORE_PRINCIPAL_MAX bytes, no NUL) || 0x00
 *                        || u16 key id (KS_TEMPKEY_ID_MIN-MAX)
 *                 value: u8  version (1)
 *                        s64 time registered
 *                        s64 expiry
 *                        u16 blob length B (1-KS_STORE_TEMPKEY_BLOB_MAX)
 *                        B   blob (the wrapped keys; opaque here)
 *   tempkey_meta  key:   principal
 *                 value: u8 version (1), u16 highest key id ever stored,
 *                        s64 latest expiry ever stored
 *   replay.mdb
 *   replay        key:   32 bytes (SHA-256 of an authenticator)
 *                 value: u8 version (1), s64 expiry
 *   replay_expiry key:   u64 expiry || the 32-byte replay key
 *                 value: empty
 *
 * The NUL after the principal (which holds none) ends it, so the records
 * of one principal are exactly the keys with prefix "principal NUL", and
 * the big-endian key id sorts them in key id order.  LMDB's key size
 * limit (mdb_env_get_maxkeysize(), 511 bytes by default) caps the
 * principals the tempkeys table can hold below KS_STORE_PRINCIPAL_MAX: a
 * longer name is refused with EINVAL.  A record whose key id is above the
 * principal's tempkey_meta, or a record without tempkey_meta, is corrupt:
 * every write keeps them consistent in one transaction.
 *
 * replay_expiry sorts the replay entries by expiry (LMDB compares keys as
 * byte strings, so big-endian times sort in time order), so that a purge
 * walks only expired entries.  Every replay entry has exactly one index
 * entry, written and deleted in the same transaction.
 *
 * Records are decoded with a cursor whose first error sticks (struct
 * rec_input) and checked once at the end: the bytes read back are never
 * trusted, and a corrupt record yields KRB5_KDB_DB_CORRUPT.
 *
 * Environments: LMDB allows one environment per file per process.  This
 * file keeps the environments it opened in a per-process list and never
 * closes them before exit (closing a file descriptor would drop the
 * process's POSIX record locks on the lock file, which another
 * environment of the same process may rely on); ks_store_open() of a store
 * already open in this process reuses its environments.  After fork() the
 * inherited environments are abandoned, not closed, and a handle opens
 * each file again in the child on first use.
 *
 * replay.mdb is MDB_NOSYNC (MDB_NOMETASYNC is implied: LMDB then writes
 * the meta page through the ordinary descriptor too, unsynced).  A
 * process flushes it with mdb_env_sync() on its first replay write, then
 * on the first write that finds its last flush KS_STORE_REPLAY_SYNC_SECS
 * old (the monotonic clock), and in ks_store_close().  Which environment a
 * call needs is explicit (main_ready(), replay_ready()), so that
 * kstateless, which never looks at replay entries, never creates
 * replay.mdb.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lmdb.h>
#include <openssl/x509.h>

#include "ks_iana.h"
#include "ks_store.h"
#include "ks_util.h"

#define REC_VERSION 1
#define TIME_REC_LEN 9                  /* version + s64 */
#define INDEX_KEY_LEN (8 + KS_STORE_REPLAY_KEY_LEN)
#define TEMPKEY_ID_LEN 2
#define TEMPKEY_KEY_MAX (KS_STORE_PRINCIPAL_MAX + 1 + TEMPKEY_ID_LEN)
#define TEMPKEY_REC_FIXED (1 + 8 + 8 + 2)
#define TEMPKEY_META_LEN (1 + 2 + 8)

/* The two environments of a store. */
enum store_kind { STORE_MAIN, STORE_REPLAY };

/* An LMDB environment opened by this process, with its databases. */
struct store_env {
    struct store_env *next;
    pid_t pid;                  /* the process that opened it */
    dev_t dev;                  /* identity of the data file */
    ino_t ino;
    MDB_env *env;
    MDB_dbi staging, provisioned;       /* STORE_MAIN */
    MDB_dbi tempkeys, tempkey_meta;     /* STORE_MAIN */
    MDB_dbi replay, replay_expiry;      /* STORE_REPLAY */
    double last_sync;           /* STORE_REPLAY: monotonic time, 0: never */
    int dirty;                  /* STORE_REPLAY: commits since last sync */
};

/* One of a handle's files, and its environment in this process. */
struct store_file {
    enum store_kind kind;
    char *path;                 /* dir/store.mdb or dir/replay.mdb */
    char *lock_path;            /* path-lock */
    size_t map_size;
    struct store_env *se;       /* NULL until opened in this process */
};

struct ks_store {
    char *dir;
    struct store_file main;     /* store.mdb: staging, provisioned,
                                 * tempkeys, tempkey_meta */
    struct store_file rep;      /* replay.mdb: replay, replay_expiry */
};

/* Environments opened by this process (and, after fork, its parents'). */
static struct store_env *open_envs;

/* A cursor over a record's bytes; the first error sticks. */
struct rec_input {
    const unsigned char *p;
    size_t len;
    int bad;
};

static void
in_init(struct rec_input *in, const void *p, size_t len)
{
    in->p = p;
    in->len = len;
    in->bad = 0;
}

/* Consume n bytes and return a pointer to them, or NULL (and stick). */
static const unsigned char *
in_bytes(struct rec_input *in, size_t n)
{
    const unsigned char *p;

    if (in->bad || in->len < n) {
        in->bad = 1;
        return NULL;
    }
    p = in->p;
    in->p += n;
    in->len -= n;
    return p;
}

/* Consume an unsigned big-endian integer of n (1-8) bytes. */
static uint64_t
in_uint(struct rec_input *in, size_t n)
{
    const unsigned char *p = in_bytes(in, n);
    uint64_t v = 0;
    size_t i;

    if (p == NULL)
        return 0;
    for (i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Write v as n big-endian bytes at out; return out + n. */
static unsigned char *
put_uint(unsigned char *out, uint64_t v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        out[n - 1 - i] = (unsigned char)(v >> (8 * i));
    return out + n;
}

/* Nonzero if the len bytes at p are exactly one DER SEQUENCE (tag and
 * definite length; the contents are not examined). */
static int
der_is_one_sequence(const unsigned char *p, size_t len)
{
    struct rec_input in;
    uint64_t clen;
    unsigned int first, nlen;

    in_init(&in, p, len);
    if (in_uint(&in, 1) != 0x30)
        return 0;
    first = (unsigned int)in_uint(&in, 1);
    if (first < 0x80) {
        clen = first;
    } else {
        nlen = first & 0x7f;
        if (nlen == 0 || nlen > 4)
            return 0;
        clen = in_uint(&in, nlen);
    }
    return !in.bad && in.len == clen;
}

/* Nonzero if the der_len bytes at der are one DER SubjectPublicKeyInfo
 * that OpenSSL can use. */
static int
spki_parses(const unsigned char *der, size_t der_len)
{
    const unsigned char *p = der;
    EVP_PKEY *pkey;
    int ok;

    if (der_len == 0 || der_len > KS_STORE_SPKI_MAX ||
        !der_is_one_sequence(der, der_len))
        return 0;
    pkey = d2i_PUBKEY(NULL, &p, (long)der_len);
    ok = pkey != NULL && p == der + der_len;
    EVP_PKEY_free(pkey);
    return ok;
}

/* Nonzero if the len bytes at id form a valid device id. */
static int
id_valid(const char *id, size_t len)
{
    return len >= 1 && len <= KS_DEVICE_ID_MAX && ks_device_id_valid(id, len);
}

int
ks_store_profile_valid(const char *profile)
{
    size_t len = strlen(profile), i;

    if (len < 1 || len > KS_STORE_PROFILE_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        char c = profile[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Set a message for LMDB result rc on file f (while doing what) and return
 * the matching krb5_error_code. */
static krb5_error_code
lmdb_error(krb5_context ctx, const struct store_file *f, int rc,
           const char *what)
{
    krb5_error_code ret;

    if (rc == MDB_MAP_FULL) {
        MDB_envinfo info;
        size_t size = f->map_size;
        int mib;

        if (f->se != NULL && mdb_env_info(f->se->env, &info) == 0)
            size = info.me_mapsize;
        mib = size >= ((size_t)1 << 20);

        if (f->kind == STORE_REPLAY) {
            /* Entries live for the clock skew: only a login rate beyond
             * what the map holds for that long fills it. */
            krb5_set_error_message(ctx, ENOSPC, "replay cache %s is full "
                                   "(its map size is %zu %s) while %s; "
                                   "expired entries are purged "
                                   "automatically, so more logins arrived "
                                   "within the clock skew than it holds",
                                   f->path, size >> (mib ? 20 : 10),
                                   mib ? "MiB" : "KiB", what);
        } else {
            krb5_set_error_message(ctx, ENOSPC, "store %s is full (its map "
                                   "size is %zu %s) while %s; remove "
                                   "devices no longer needed with "
                                   "'kstateless stage del' and expired "
                                   "temporary keys with 'kstateless "
                                   "tempkeys purge'", f->path,
                                   size >> (mib ? 20 : 10),
                                   mib ? "MiB" : "KiB", what);
        }
        return ENOSPC;
    }
    if (rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_PAGE_NOTFOUND ||
        rc == MDB_VERSION_MISMATCH) {
        ret = KRB5_KDB_DB_CORRUPT;
        if (f->kind == STORE_REPLAY) {
            /* Possible after a power loss (MDB_NOSYNC, see ks_store.h).
             * Removing it forgets the logins of the last clock skew: safe
             * once that long has passed since the KDC stopped. */
            krb5_set_error_message(ctx, ret, "replay cache %s is damaged or "
                                   "not a krb5-stateless replay cache (%s: "
                                   "%s); it holds only the replay entries "
                                   "of recent device logins: stop the KDC, "
                                   "wait for the clock skew to pass, and "
                                   "remove it and %s-lock", f->path, what,
                                   mdb_strerror(rc), f->path);
        } else {
            krb5_set_error_message(ctx, ret, "store %s is damaged or not a "
                                   "krb5-stateless store (%s: %s); restore "
                                   "it from a backup or move it away to "
                                   "start an empty one", f->path, what,
                                   mdb_strerror(rc));
        }
        return ret;
    }
    ret = (rc > 0) ? rc : EIO;
    krb5_set_error_message(ctx, ret, "store %s: %s: %s", f->path, what,
                           mdb_strerror(rc));
    return ret;
}

/* Set a message for a corrupt record of table in file f (for device id,
 * or NULL) and return KRB5_KDB_DB_CORRUPT. */
static krb5_error_code
corrupt_record(krb5_context ctx, const struct store_file *f,
               const char *table, const char *id, const char *why)
{
    if (id != NULL) {
        krb5_set_error_message(ctx, KRB5_KDB_DB_CORRUPT, "store %s: corrupt "
                               "%s record for device '%s': %s (remove it "
                               "and add it again)", f->path, table, id, why);
    } else {
        krb5_set_error_message(ctx, KRB5_KDB_DB_CORRUPT, "store %s: corrupt "
                               "%s record: %s", f->path, table, why);
    }
    return KRB5_KDB_DB_CORRUPT;
}

/* Refuse state_dir unless it is a directory not writable by group or
 * others. */
static krb5_error_code
check_dir(krb5_context ctx, const struct ks_store *st)
{
    struct stat sb;

    if (stat(st->dir, &sb) != 0) {
        krb5_error_code ret = errno;

        krb5_set_error_message(ctx, ret, "cannot use state_dir %s: %s%s",
                               st->dir, strerror(ret), ret == ENOENT ?
                               " (create it with 'kstateless init')" : "");
        return ret;
    }
    if (!S_ISDIR(sb.st_mode)) {
        krb5_set_error_message(ctx, ENOTDIR, "state_dir %s is not a "
                               "directory", st->dir);
        return ENOTDIR;
    }
    if (sb.st_mode & 022) {
        krb5_set_error_message(ctx, EPERM, "state_dir %s is writable by "
                               "group or others (mode %03o); chmod 700 it",
                               st->dir, (unsigned)(sb.st_mode & 0777));
        return EPERM;
    }
    return 0;
}

/* Refuse the store file path (if sb is not NULL, its fstat) when it is a
 * symbolic link, not a regular file, or writable by group or others; if
 * private is set (store.mdb and its lock, which hold or guard wrapped
 * temporary keys), also when it is readable by group or others. */
static krb5_error_code
check_file(krb5_context ctx, const char *path, const struct stat *sb,
           int private)
{
    struct stat own;

    if (sb == NULL) {
        if (lstat(path, &own) != 0)
            return 0;           /* LMDB creates it */
        sb = &own;
    }
    if (S_ISLNK(sb->st_mode)) {
        krb5_set_error_message(ctx, EPERM, "store file %s is a symbolic "
                               "link; state_dir must hold the file itself",
                               path);
        return EPERM;
    }
    if (!S_ISREG(sb->st_mode)) {
        krb5_set_error_message(ctx, EPERM, "store file %s is not a regular "
                               "file", path);
        return EPERM;
    }
    if (sb->st_mode & 022) {
        krb5_set_error_message(ctx, EPERM, "store file %s is writable by "
                               "group or others (mode %03o); chmod 600 it",
                               path, (unsigned)(sb->st_mode & 0777));
        return EPERM;
    }
    /* Wrapped keys are still keys: an offline copy of the file plus a
     * later leak of the realm secret would reveal them. */
    if (private && (sb->st_mode & 044)) {
        krb5_set_error_message(ctx, EPERM, "store file %s is readable by "
                               "group or others (mode %03o) but holds "
                               "temporary server keys; chmod 600 it", path,
                               (unsigned)(sb->st_mode & 0777));
        return EPERM;
    }
    return 0;
}

/* Begin a transaction on f, adopting a map grown by another process. */
static int
txn_begin(struct store_file *f, unsigned int flags, MDB_txn **txn)
{
    int rc;

    rc = mdb_txn_begin(f->se->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(f->se->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(f->se->env, NULL, flags, txn);
    }
    return rc;
}

/* Open (creating) the named tables of kind f->kind in env se. */
static int
open_tables(struct store_file *f, struct store_env *se)
{
    MDB_txn *txn = NULL;
    int rc;

    rc = txn_begin(f, 0, &txn);
    if (rc)
        return rc;
    if (f->kind == STORE_MAIN) {
        rc = mdb_dbi_open(txn, "staging", MDB_CREATE, &se->staging);
        if (rc == 0) {
            rc = mdb_dbi_open(txn, "provisioned", MDB_CREATE,
                              &se->provisioned);
        }
        if (rc == 0)
            rc = mdb_dbi_open(txn, "tempkeys", MDB_CREATE, &se->tempkeys);
        if (rc == 0) {
            rc = mdb_dbi_open(txn, "tempkey_meta", MDB_CREATE,
                              &se->tempkey_meta);
        }
    } else {
        rc = mdb_dbi_open(txn, "replay", MDB_CREATE, &se->replay);
        if (rc == 0) {
            rc = mdb_dbi_open(txn, "replay_expiry", MDB_CREATE,
                              &se->replay_expiry);
        }
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/* Open the environment of f in this process, or find the one already
 * open, and set f->se. */
static krb5_error_code
env_open(krb5_context ctx, const struct ks_store *st, struct store_file *f)
{
    struct store_env *se = NULL;
    MDB_env *env = NULL;
    struct stat sb;
    krb5_error_code ret;
    pid_t pid = getpid();
    unsigned int flags = MDB_NOSUBDIR | MDB_NOTLS;
    int rc, fd, dead;
    const char *what;

    f->se = NULL;
    ret = check_dir(ctx, st);
    if (!ret)
        ret = check_file(ctx, f->path, NULL, f->kind == STORE_MAIN);
    if (!ret)
        ret = check_file(ctx, f->lock_path, NULL, f->kind == STORE_MAIN);
    if (ret)
        return ret;
    if (stat(f->path, &sb) == 0) {
        for (se = open_envs; se != NULL; se = se->next) {
            if (se->pid == pid && se->dev == sb.st_dev &&
                se->ino == sb.st_ino) {
                f->se = se;
                return 0;
            }
        }
    }

    /* The replay cache trades durability across a power loss for a commit
     * without fsync (see ks_store.h). */
    if (f->kind == STORE_REPLAY)
        flags |= MDB_NOSYNC;
    what = "creating the LMDB environment";
    rc = mdb_env_create(&env);
    if (rc == 0) {
        what = "setting the map size";
        rc = mdb_env_set_mapsize(env, f->map_size);
    }
    if (rc == 0) {
        what = "setting the number of tables";
        rc = mdb_env_set_maxdbs(env, KS_STORE_MAX_DBS);
    }
    if (rc == 0) {
        what = "opening";
        rc = mdb_env_open(env, f->path, flags, 0600);
    }
    if (rc) {
        ret = lmdb_error(ctx, f, rc, what);
        goto cleanup;
    }
    /* The file LMDB opened, whatever happened since the checks above. */
    if (mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &sb) != 0) {
        ret = lmdb_error(ctx, f, EIO, "checking the file");
        goto cleanup;
    }
    ret = check_file(ctx, f->path, &sb, f->kind == STORE_MAIN);
    if (ret)
        goto cleanup;
    /* Free the reader slots of processes that died in a transaction. */
    (void)mdb_reader_check(env, &dead);

    se = calloc(1, sizeof(*se));
    if (se == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    se->env = env;
    f->se = se;
    rc = open_tables(f, se);
    if (rc) {
        ret = lmdb_error(ctx, f, rc, "opening its tables");
        goto cleanup;
    }
    se->pid = pid;
    se->dev = sb.st_dev;
    se->ino = sb.st_ino;
    se->next = open_envs;
    open_envs = se;
    se = NULL;
    env = NULL;

cleanup:
    if (ret) {
        /* Not yet shared with any other handle: safe to close. */
        if (env != NULL)
            mdb_env_close(env);
        free(se);
        f->se = NULL;
    }
    return ret;
}

/* Make f usable in this process: open its environment on first use and
 * again after a fork(). */
static krb5_error_code
file_ready(krb5_context ctx, struct ks_store *st, struct store_file *f)
{
    if (f->se != NULL && f->se->pid == getpid())
        return 0;
    return env_open(ctx, st, f);
}

/* store.mdb, ready in this process. */
static krb5_error_code
main_ready(krb5_context ctx, struct ks_store *st)
{
    return file_ready(ctx, st, &st->main);
}

/* replay.mdb, ready in this process. */
static krb5_error_code
replay_ready(krb5_context ctx, struct ks_store *st)
{
    return file_ready(ctx, st, &st->rep);
}

/* Seconds on the monotonic clock (immune to clock steps, unlike the
 * caller's "now", which tests also set freely). */
static double
mono_seconds(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Flush replay.mdb's committed transactions to disk if there are any and
 * force is set, this process never flushed, or its last flush is
 * KS_STORE_REPLAY_SYNC_SECS old. */
static void
replay_sync(struct store_env *se, int force)
{
    double t;

    if (!se->dirty)
        return;
    t = mono_seconds();
    if (!force && se->last_sync > 0 &&
        t - se->last_sync < KS_STORE_REPLAY_SYNC_SECS)
        return;
    /* A failure affects only durability across a power loss (the entry is
     * committed and seen by every process); the next interval retries. */
    if (mdb_env_sync(se->env, 1) == 0)
        se->dirty = 0;
    se->last_sync = t;
}

/* Set f's paths (dir/name and dir/name-lock) and map size. */
static krb5_error_code
file_init(struct store_file *f, enum store_kind kind, const char *dir,
          const char *name, size_t map_size)
{
    f->kind = kind;
    f->map_size = map_size;
    if (asprintf(&f->path, "%s/%s", dir, name) < 0) {
        f->path = NULL;
        return ENOMEM;
    }
    if (asprintf(&f->lock_path, "%s-lock", f->path) < 0) {
        f->lock_path = NULL;
        return ENOMEM;
    }
    return 0;
}

/* map_size rounded up to whole pages. */
static size_t
page_round(size_t map_size)
{
    long page = sysconf(_SC_PAGESIZE);

    if (page <= 0)
        page = 4096;
    return (map_size + (size_t)page - 1) / (size_t)page * (size_t)page;
}

krb5_error_code
ks_store_open(krb5_context ctx, const char *state_dir, size_t map_size,
              struct ks_store **out)
{
    struct ks_store *st;
    krb5_error_code ret;

    *out = NULL;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return ENOMEM;
    st->dir = strdup(state_dir);
    if (st->dir == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    ret = file_init(&st->main, STORE_MAIN, state_dir, KS_STORE_FILE,
                    page_round(map_size ? map_size :
                               KS_STORE_DEFAULT_MAP_SIZE));
    if (ret)
        goto cleanup;
    ret = file_init(&st->rep, STORE_REPLAY, state_dir, KS_STORE_REPLAY_FILE,
                    page_round(map_size ? map_size :
                               KS_STORE_REPLAY_MAP_SIZE));
    if (ret)
        goto cleanup;
    ret = env_open(ctx, st, &st->main);
    if (ret)
        goto cleanup;
    *out = st;
    st = NULL;

cleanup:
    ks_store_close(st);
    return ret;
}

void
ks_store_close(struct ks_store *store)
{
    /* The environments stay open in open_envs (see the top comment); a
     * clean shutdown leaves the replay entries on disk. */
    if (store == NULL)
        return;
    if (store->rep.se != NULL && store->rep.se->pid == getpid())
        replay_sync(store->rep.se, 1);
    free(store->dir);
    free(store->main.path);
    free(store->main.lock_path);
    free(store->rep.path);
    free(store->rep.lock_path);
    free(store);
}

const char *
ks_store_path(const struct ks_store *store)
{
    return store->main.path;
}

const char *
ks_store_replay_path(const struct ks_store *store)
{
    return store->rep.path;
}

/* Check the device id argument id; EINVAL with a message if invalid. */
static krb5_error_code
check_id_arg(krb5_context ctx, const char *id)
{
    if (id_valid(id, strlen(id)))
        return 0;
    krb5_set_error_message(ctx, EINVAL, "invalid device id '%s' (1 to %d "
                           "characters from [A-Za-z0-9._:-], starting with "
                           "a letter or digit)", id, KS_DEVICE_ID_MAX);
    return EINVAL;
}

/* Decode a staging record (key k, value v) into *out; NULL on success,
 * else what is wrong. */
static const char *
decode_stage(const MDB_val *k, const MDB_val *v, struct ks_stage_entry *out)
{
    struct rec_input in;
    const unsigned char *profile, *spki;
    uint64_t version, added, plen, slen;

    memset(out, 0, sizeof(*out));
    if (!id_valid(k->mv_data, k->mv_size))
        return "invalid device id key";
    memcpy(out->id, k->mv_data, k->mv_size);
    in_init(&in, v->mv_data, v->mv_size);
    version = in_uint(&in, 1);
    added = in_uint(&in, 8);
    plen = in_uint(&in, 1);
    profile = in_bytes(&in, plen);
    slen = in_uint(&in, 2);
    spki = in_bytes(&in, slen);
    if (in.bad)
        return "truncated";
    if (version != REC_VERSION)
        return "unknown record version (written by a newer release?)";
    if (in.len != 0)
        return "trailing bytes";
    if (plen > KS_STORE_PROFILE_MAX)
        return "profile too long";
    memcpy(out->profile, profile, plen);
    if (plen > 0 && !ks_store_profile_valid(out->profile))
        return "invalid profile name";
    if (slen == 0 || slen > KS_STORE_SPKI_MAX ||
        !der_is_one_sequence(spki, slen))
        return "public key is not one DER SEQUENCE";
    out->spki = malloc(slen);
    if (out->spki == NULL)
        return "out of memory";
    memcpy(out->spki, spki, slen);
    out->spki_len = slen;
    out->added = (time_t)(int64_t)added;
    return NULL;
}

/* Decode a version + s64 time record into *out; NULL on success. */
static const char *
decode_time(const MDB_val *v, time_t *out)
{
    struct rec_input in;
    uint64_t version, t;

    in_init(&in, v->mv_data, v->mv_size);
    version = in_uint(&in, 1);
    t = in_uint(&in, 8);
    if (in.bad)
        return "truncated";
    if (version != REC_VERSION)
        return "unknown record version (written by a newer release?)";
    if (in.len != 0)
        return "trailing bytes";
    *out = (time_t)(int64_t)t;
    return NULL;
}

/* Encode a version + s64 time record into buf. */
static void
encode_time(unsigned char buf[TIME_REC_LEN], time_t t)
{
    buf[0] = REC_VERSION;
    put_uint(buf + 1, (uint64_t)(int64_t)t, 8);
}

void
ks_stage_entry_free_contents(struct ks_stage_entry *entry)
{
    if (entry == NULL)
        return;
    free(entry->spki);
    entry->spki = NULL;
    entry->spki_len = 0;
}

void
ks_stage_list_free(struct ks_stage_entry *entries, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++)
        ks_stage_entry_free_contents(&entries[i]);
    free(entries);
}

krb5_error_code
ks_store_stage_put(krb5_context ctx, struct ks_store *store,
                   const struct ks_stage_entry *entry, int replace)
{
    unsigned char *buf = NULL, *p;
    size_t plen = strlen(entry->profile), len;
    MDB_txn *txn = NULL;
    MDB_val k, v;
    krb5_error_code ret;
    int rc;

    ret = check_id_arg(ctx, entry->id);
    if (ret)
        return ret;
    if (plen > 0 && !ks_store_profile_valid(entry->profile)) {
        krb5_set_error_message(ctx, EINVAL, "invalid profile name '%s' (1 "
                               "to %d characters from [A-Za-z0-9._-])",
                               entry->profile, KS_STORE_PROFILE_MAX);
        return EINVAL;
    }
    if (!spki_parses(entry->spki, entry->spki_len)) {
        krb5_set_error_message(ctx, EINVAL, "the public key of device '%s' "
                               "is not a DER SubjectPublicKeyInfo of at most "
                               "%d bytes", entry->id, KS_STORE_SPKI_MAX);
        return EINVAL;
    }
    ret = main_ready(ctx, store);
    if (ret)
        return ret;

    len = 1 + 8 + 1 + plen + 2 + entry->spki_len;
    buf = malloc(len);
    if (buf == NULL)
        return ENOMEM;
    p = buf;
    *p++ = REC_VERSION;
    p = put_uint(p, (uint64_t)(int64_t)entry->added, 8);
    *p++ = (unsigned char)plen;
    memcpy(p, entry->profile, plen);
    p += plen;
    p = put_uint(p, entry->spki_len, 2);
    memcpy(p, entry->spki, entry->spki_len);

    k.mv_data = (void *)entry->id;
    k.mv_size = strlen(entry->id);
    v.mv_data = buf;
    v.mv_size = len;
    rc = txn_begin(&store->main, 0, &txn);
    if (rc == 0) {
        rc = mdb_put(txn, store->main.se->staging, &k, &v,
                     replace ? 0 : MDB_NOOVERWRITE);
    }
    if (rc == MDB_KEYEXIST) {
        ret = KRB5_KDB_INUSE;
        krb5_set_error_message(ctx, ret, "device '%s' is already staged in "
                               "store %s", entry->id, store->main.path);
        goto cleanup;
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc)
        ret = lmdb_error(ctx, &store->main, rc, "writing a staging record");

cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    free(buf);
    return ret;
}

krb5_error_code
ks_store_stage_get(krb5_context ctx, struct ks_store *store, const char *id,
                   struct ks_stage_entry *out)
{
    struct ks_stage_entry e;
    MDB_txn *txn = NULL;
    MDB_val k, v;
    krb5_error_code ret;
    const char *why;
    int rc;

    memset(out, 0, sizeof(*out));
    ret = check_id_arg(ctx, id);
    if (!ret)
        ret = main_ready(ctx, store);
    if (ret)
        return ret;
    k.mv_data = (void *)id;
    k.mv_size = strlen(id);
    rc = txn_begin(&store->main, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_get(txn, store->main.se->staging, &k, &v);
    if (rc == MDB_NOTFOUND) {
        ret = KRB5_KDB_NOENTRY;
        krb5_set_error_message(ctx, ret, "device '%s' is not staged", id);
        goto cleanup;
    }
    if (rc) {
        ret = lmdb_error(ctx, &store->main, rc, "reading a staging record");
        goto cleanup;
    }
    why = decode_stage(&k, &v, &e);
    if (why != NULL) {
        ks_stage_entry_free_contents(&e);
        ret = corrupt_record(ctx, &store->main, "staging", id, why);
        goto cleanup;
    }
    *out = e;

cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return ret;
}

/* Delete id from table dbi (named table, for messages). */
static krb5_error_code
del_id(krb5_context ctx, struct ks_store *store, MDB_dbi dbi,
       const char *table, const char *absent, const char *id)
{
    MDB_txn *txn = NULL;
    MDB_val k;
    krb5_error_code ret = 0;
    int rc;

    k.mv_data = (void *)id;
    k.mv_size = strlen(id);
    rc = txn_begin(&store->main, 0, &txn);
    if (rc == 0)
        rc = mdb_del(txn, dbi, &k, NULL);
    if (rc == MDB_NOTFOUND) {
        ret = KRB5_KDB_NOENTRY;
        krb5_set_error_message(ctx, ret, "device '%s' is not %s", id, absent);
        goto cleanup;
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc)
        ret = lmdb_error(ctx, &store->main, rc, table);

cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return ret;
}

krb5_error_code
ks_store_stage_del(krb5_context ctx, struct ks_store *store, const char *id)
{
    krb5_error_code ret;

    ret = check_id_arg(ctx, id);
    if (!ret)
        ret = main_ready(ctx, store);
    if (ret)
        return ret;
    return del_id(ctx, store, store->main.se->staging,
                  "deleting a staging record", "staged", id);
}

krb5_error_code
ks_store_stage_list(krb5_context ctx, struct ks_store *store,
                    struct ks_stage_entry **out, size_t *count_out)
{
    struct ks_stage_entry *list = NULL, *nl, e;
    size_t n = 0;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    krb5_error_code ret;
    const char *why;
    char idbuf[KS_DEVICE_ID_MAX + 1];
    int rc;

    *out = NULL;
    *count_out = 0;
    ret = main_ready(ctx, store);
    if (ret)
        return ret;
    rc = txn_begin(&store->main, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, store->main.se->staging, &cur);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        why = decode_stage(&k, &v, &e);
        if (why != NULL) {
            ks_stage_entry_free_contents(&e);
            snprintf(idbuf, sizeof(idbuf), "%.*s",
                     (int)(k.mv_size < KS_DEVICE_ID_MAX ? k.mv_size :
                           KS_DEVICE_ID_MAX), (const char *)k.mv_data);
            ret = corrupt_record(ctx, &store->main, "staging",
                                 id_valid(k.mv_data, k.mv_size) ? idbuf :
                                 NULL, why);
            goto cleanup;
        }
        nl = realloc(list, (n + 1) * sizeof(*list));
        if (nl == NULL) {
            ks_stage_entry_free_contents(&e);
            ret = ENOMEM;
            goto cleanup;
        }
        list = nl;
        list[n++] = e;
    }
    if (rc != MDB_NOTFOUND) {
        ret = lmdb_error(ctx, &store->main, rc, "listing the staging table");
        goto cleanup;
    }
    *out = list;
    *count_out = n;
    list = NULL;
    n = 0;

cleanup:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    ks_stage_list_free(list, n);
    return ret;
}

krb5_error_code
ks_store_provision_add(krb5_context ctx, struct ks_store *store,
                       const char *id, time_t when)
{
    unsigned char buf[TIME_REC_LEN];
    MDB_txn *txn = NULL;
    MDB_val k, v;
    krb5_error_code ret;
    int rc;

    ret = check_id_arg(ctx, id);
    if (!ret)
        ret = main_ready(ctx, store);
    if (ret)
        return ret;
    encode_time(buf, when);
    k.mv_data = (void *)id;
    k.mv_size = strlen(id);
    v.mv_data = buf;
    v.mv_size = sizeof(buf);
    rc = txn_begin(&store->main, 0, &txn);
    if (rc == 0)
        rc = mdb_put(txn, store->main.se->provisioned, &k, &v,
                     MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        ret = KRB5_KDB_INUSE;
        krb5_set_error_message(ctx, ret, "device '%s' is already "
                               "provisioned", id);
        goto cleanup;
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc) {
        ret = lmdb_error(ctx, &store->main, rc,
                         "writing a provisioned record");
    }

cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return ret;
}

krb5_error_code
ks_store_provision_get(krb5_context ctx, struct ks_store *store,
                       const char *id, time_t *since_out)
{
    MDB_txn *txn = NULL;
    MDB_val k, v;
    krb5_error_code ret;
    const char *why;
    time_t since;
    int rc;

    *since_out = 0;
    ret = check_id_arg(ctx, id);
    if (!ret)
        ret = main_ready(ctx, store);
    if (ret)
        return ret;
    k.mv_data = (void *)id;
    k.mv_size = strlen(id);
    rc = txn_begin(&store->main, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_get(txn, store->main.se->provisioned, &k, &v);
    if (rc == MDB_NOTFOUND) {
        ret = KRB5_KDB_NOENTRY;
        krb5_set_error_message(ctx, ret, "device '%s' is not provisioned",
                               id);
        goto cleanup;
    }
    if (rc) {
        ret = lmdb_error(ctx, &store->main, rc,
                         "reading a provisioned record");
        goto cleanup;
    }
    why = decode_time(&v, &since);
    if (why != NULL) {
        ret = corrupt_record(ctx, &store->main, "provisioned", id, why);
        goto cleanup;
    }
    *since_out = since;

cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return ret;
}

krb5_error_code
ks_store_provision_del(krb5_context ctx, struct ks_store *store,
                       const char *id)
{
    krb5_error_code ret;

    ret = check_id_arg(ctx, id);
    if (!ret)
        ret = main_ready(ctx, store);
    if (ret)
        return ret;
    return del_id(ctx, store, store->main.se->provisioned,
                  "deleting a provisioned record", "provisioned", id);
}

krb5_error_code
ks_store_provision_list(krb5_context ctx, struct ks_store *store,
                        struct ks_provision_entry **out, size_t *count_out)
{
    struct ks_provision_entry *list = NULL, *nl;
    size_t n = 0;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    krb5_error_code ret;
    const char *why;
    time_t since;
    int rc;

    *out = NULL;
    *count_out = 0;
    ret = main_ready(ctx, store);
    if (ret)
        return ret;
    rc = txn_begin(&store->main, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, store->main.se->provisioned, &cur);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!id_valid(k.mv_data, k.mv_size)) {
            ret = corrupt_record(ctx, &store->main, "provisioned", NULL,
                                 "invalid device id key");
            goto cleanup;
        }
        nl = realloc(list, (n + 1) * sizeof(*list));
        if (nl == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        list = nl;
        memset(&list[n], 0, sizeof(list[n]));
        memcpy(list[n].id, k.mv_data, k.mv_size);
        why = decode_time(&v, &since);
        if (why != NULL) {
            ret = corrupt_record(ctx, &store->main, "provisioned",
                                 list[n].id, why);
            goto cleanup;
        }
        list[n++].since = since;
    }
    if (rc != MDB_NOTFOUND) {
        ret = lmdb_error(ctx, &store->main, rc,
                         "listing the provisioned table");
        goto cleanup;
    }
    *out = list;
    *count_out = n;
    list = NULL;

cleanup:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    free(list);
    return ret;
}

/* Write the replay_expiry key of (expiry, key) into out. */
static void
index_key(unsigned char out[INDEX_KEY_LEN], time_t expiry,
          const unsigned char *key)
{
    put_uint(out, (uint64_t)(int64_t)expiry, 8);
    memcpy(out + 8, key, KS_STORE_REPLAY_KEY_LEN);
}

/* In txn, remove up to max replay entries whose expiry is not later than
 * now, oldest first; add the number removed to *removed. */
static krb5_error_code
purge_expired(krb5_context ctx, struct ks_store *st, MDB_txn *txn, time_t now,
              size_t max, size_t *removed)
{
    struct store_env *se = st->rep.se;
    MDB_cursor *cur = NULL;
    MDB_val ik, iv, rk, rv;
    struct rec_input in;
    krb5_error_code ret = 0;
    const unsigned char *key;
    unsigned char keycopy[KS_STORE_REPLAY_KEY_LEN];
    const char *why;
    time_t expiry, recorded;
    int rc;

    rc = mdb_cursor_open(txn, se->replay_expiry, &cur);
    while (rc == 0 && *removed < max) {
        rc = mdb_cursor_get(cur, &ik, &iv, MDB_FIRST);
        if (rc)
            break;
        in_init(&in, ik.mv_data, ik.mv_size);
        expiry = (time_t)(int64_t)in_uint(&in, 8);
        key = in_bytes(&in, KS_STORE_REPLAY_KEY_LEN);
        if (in.bad || in.len != 0 || iv.mv_size != 0) {
            ret = corrupt_record(ctx, &st->rep, "replay_expiry", NULL,
                                 "wrong length");
            goto cleanup;
        }
        if (expiry > now)
            break;
        /* A copy: the index page may change under the deletions below. */
        memcpy(keycopy, key, sizeof(keycopy));
        rk.mv_data = keycopy;
        rk.mv_size = KS_STORE_REPLAY_KEY_LEN;
        rc = mdb_get(txn, se->replay, &rk, &rv);
        if (rc == 0) {
            why = decode_time(&rv, &recorded);
            if (why != NULL) {
                ret = corrupt_record(ctx, &st->rep, "replay", NULL, why);
                goto cleanup;
            }
            /* Only the entry this index entry describes. */
            if (recorded == expiry)
                rc = mdb_del(txn, se->replay, &rk, NULL);
        } else if (rc == MDB_NOTFOUND) {
            rc = 0;
        }
        if (rc == 0)
            rc = mdb_cursor_del(cur, 0);
        if (rc == 0)
            (*removed)++;
    }
    if (rc && rc != MDB_NOTFOUND)
        ret = lmdb_error(ctx, &st->rep, rc, "purging expired replay entries");

cleanup:
    if (cur != NULL)
        mdb_cursor_close(cur);
    return ret;
}

krb5_error_code
ks_store_replay_check_and_insert(krb5_context ctx, struct ks_store *store,
                                 const unsigned char
                                 key[KS_STORE_REPLAY_KEY_LEN],
                                 time_t expiry, time_t now)
{
    unsigned char rec[TIME_REC_LEN], ik[INDEX_KEY_LEN];
    MDB_txn *txn = NULL;
    MDB_val k, v, ikv, empty = { 0, NULL };
    krb5_error_code ret;
    const char *why;
    time_t recorded;
    size_t purged = 0;
    int rc;

    if (expiry <= now || expiry <= 0) {
        krb5_set_error_message(ctx, EINVAL, "replay entry expiry %jd is not "
                               "later than now (%jd)", (intmax_t)expiry,
                               (intmax_t)now);
        return EINVAL;
    }
    ret = replay_ready(ctx, store);
    if (ret)
        return ret;
    k.mv_data = (void *)key;
    k.mv_size = KS_STORE_REPLAY_KEY_LEN;
    rc = txn_begin(&store->rep, 0, &txn);
    if (rc)
        goto lmdb_fail;
    rc = mdb_get(txn, store->rep.se->replay, &k, &v);
    if (rc == 0) {
        why = decode_time(&v, &recorded);
        if (why != NULL) {
            ret = corrupt_record(ctx, &store->rep, "replay", NULL, why);
            goto cleanup;
        }
        if (recorded > now) {
            ret = KRB5KRB_AP_ERR_REPEAT;
            krb5_set_error_message(ctx, ret, "replayed authenticator "
                                   "(recorded in store %s until %jd)",
                                   store->rep.path, (intmax_t)recorded);
            goto cleanup;
        }
        /* Expired: replace it, and its index entry. */
        index_key(ik, recorded, key);
        ikv.mv_data = ik;
        ikv.mv_size = sizeof(ik);
        rc = mdb_del(txn, store->rep.se->replay_expiry, &ikv, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    if (rc)
        goto lmdb_fail;
    encode_time(rec, expiry);
    v.mv_data = rec;
    v.mv_size = sizeof(rec);
    rc = mdb_put(txn, store->rep.se->replay, &k, &v, 0);
    if (rc)
        goto lmdb_fail;
    index_key(ik, expiry, key);
    ikv.mv_data = ik;
    ikv.mv_size = sizeof(ik);
    rc = mdb_put(txn, store->rep.se->replay_expiry, &ikv, &empty, 0);
    if (rc)
        goto lmdb_fail;
    ret = purge_expired(ctx, store, txn, now, KS_STORE_PURGE_ON_INSERT,
                        &purged);
    if (ret)
        goto cleanup;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto lmdb_fail;
    /* Committed without a sync; bound what a power loss can take. */
    store->rep.se->dirty = 1;
    replay_sync(store->rep.se, 0);
    goto cleanup;

lmdb_fail:
    ret = lmdb_error(ctx, &store->rep, rc, "recording a replay entry");
cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return ret;
}

krb5_error_code
ks_store_replay_purge(krb5_context ctx, struct ks_store *store, time_t now,
                      size_t *removed_out)
{
    MDB_txn *txn = NULL;
    krb5_error_code ret;
    size_t removed = 0;
    int rc, dead;

    if (removed_out != NULL)
        *removed_out = 0;
    ret = replay_ready(ctx, store);
    if (ret)
        return ret;
    /* Readers of dead processes would pin old pages: free their slots. */
    (void)mdb_reader_check(store->rep.se->env, &dead);
    rc = txn_begin(&store->rep, 0, &txn);
    if (rc) {
        return lmdb_error(ctx, &store->rep, rc,
                          "purging expired replay entries");
    }
    ret = purge_expired(ctx, store, txn, now, KS_STORE_PURGE_BATCH, &removed);
    if (ret) {
        mdb_txn_abort(txn);
        return ret;
    }
    rc = mdb_txn_commit(txn);
    if (rc) {
        return lmdb_error(ctx, &store->rep, rc,
                          "purging expired replay entries");
    }
    store->rep.se->dirty = 1;
    replay_sync(store->rep.se, 0);
    if (removed_out != NULL)
        *removed_out = removed;
    return 0;
}

/* --- temporary keys ----------------------------------------------------- */

/* Read an unsigned big-endian integer of n (1-8) bytes from c into *out;
 * 0 (and nothing consumed) if fewer bytes are left. */
static int
cursor_uint(struct ks_cursor *c, size_t n, uint64_t *out)
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

/* Format t as UTC ISO-8601 into buf, for messages. */
static const char *
utc_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "@%jd", (intmax_t)t);
    return buf;
}

/* Set a message for a corrupt tempkeys (key_id > 0) or tempkey_meta
 * record of the principal (plen bytes, or NULL when its key does not
 * even name one) and return KRB5_KDB_DB_CORRUPT. */
static krb5_error_code
corrupt_tempkey(krb5_context ctx, const struct store_file *f,
                const char *principal, size_t plen, uint32_t key_id,
                const char *why)
{
    int n = (int)(plen > KS_STORE_PRINCIPAL_MAX ? KS_STORE_PRINCIPAL_MAX :
                  plen);

    if (principal == NULL) {
        krb5_set_error_message(ctx, KRB5_KDB_DB_CORRUPT, "store %s: corrupt "
                               "tempkeys record: %s", f->path, why);
    } else if (key_id > 0) {
        krb5_set_error_message(ctx, KRB5_KDB_DB_CORRUPT, "store %s: corrupt "
                               "tempkeys record for principal '%.*s' key id "
                               "%lu: %s (remove the principal's temporary "
                               "keys with 'kstateless tempkeys purge %.*s')",
                               f->path, n, principal, (unsigned long)key_id,
                               why, n, principal);
    } else {
        krb5_set_error_message(ctx, KRB5_KDB_DB_CORRUPT, "store %s: corrupt "
                               "tempkey_meta record for principal '%.*s': "
                               "%s (remove the principal's temporary keys "
                               "with 'kstateless tempkeys purge %.*s')",
                               f->path, n, principal, why, n, principal);
    }
    return KRB5_KDB_DB_CORRUPT;
}

/* Check the principal argument (store.mdb ready) and build the tempkeys
 * key prefix "principal NUL" into prefix (TEMPKEY_KEY_MAX bytes);
 * *plen_out gets the principal's length.  EINVAL with a message if the
 * name is empty or too long for a key. */
static krb5_error_code
tempkey_prefix(krb5_context ctx, struct ks_store *st, const char *principal,
               unsigned char *prefix, size_t *plen_out)
{
    size_t plen = strlen(principal), max = KS_STORE_PRINCIPAL_MAX;
    int keymax = mdb_env_get_maxkeysize(st->main.se->env);

    if (keymax > 0 && (size_t)keymax - 1 - TEMPKEY_ID_LEN < max)
        max = (size_t)keymax - 1 - TEMPKEY_ID_LEN;
    if (plen == 0 || plen > max) {
        krb5_set_error_message(ctx, EINVAL, "principal name '%.60s%s' cannot "
                               "have temporary keys: its length %zu is not "
                               "1 to %zu bytes", principal,
                               plen > 60 ? "..." : "", plen, max);
        return EINVAL;
    }
    memcpy(prefix, principal, plen);
    prefix[plen] = 0;
    *plen_out = plen;
    return 0;
}

/* Split tempkeys key k into its principal (*principal_out, *plen_out, not
 * NUL-terminated) and key id; NULL on success, else what is wrong (with
 * *principal_out NULL when the key names no principal). */
static const char *
parse_tempkey_key(const MDB_val *k, const char **principal_out,
                  size_t *plen_out, uint32_t *key_id_out)
{
    const unsigned char *p = k->mv_data;
    size_t plen;
    uint32_t id;

    *principal_out = NULL;
    *plen_out = 0;
    *key_id_out = 0;
    if (k->mv_size < 1 + 1 + TEMPKEY_ID_LEN)
        return "key too short";
    plen = k->mv_size - 1 - TEMPKEY_ID_LEN;
    if (plen > KS_STORE_PRINCIPAL_MAX || p[plen] != 0 ||
        memchr(p, 0, plen) != NULL)
        return "invalid key (not principal NUL key-id)";
    *principal_out = (const char *)p;
    *plen_out = plen;
    id = ((uint32_t)p[plen + 1] << 8) | p[plen + 2];
    *key_id_out = id;
    if (id < KS_TEMPKEY_ID_MIN || id > KS_TEMPKEY_ID_MAX)
        return "key id out of range";
    return NULL;
}

/* Decode the tempkeys value v into *out (blob pointing into v, not
 * copied); NULL on success, else what is wrong. */
static const char *
decode_tempkey(const MDB_val *v, struct ks_tempkey_record *out)
{
    struct ks_cursor c;
    uint64_t version, registered, expiry, blen;
    const unsigned char *blob;

    ks_cursor_init(&c, v->mv_data, v->mv_size);
    if (!cursor_uint(&c, 1, &version))
        return "truncated";
    if (version != REC_VERSION)
        return "unknown record version (written by a newer release?)";
    if (!cursor_uint(&c, 8, &registered) || !cursor_uint(&c, 8, &expiry) ||
        !cursor_uint(&c, 2, &blen))
        return "truncated";
    blob = ks_cursor_bytes(&c, blen);
    if (blob == NULL)
        return "truncated";
    if (ks_cursor_left(&c) != 0)
        return "trailing bytes";
    if (blen == 0 || blen > KS_STORE_TEMPKEY_BLOB_MAX)
        return "wrapped key length out of range";
    out->registered = (time_t)(int64_t)registered;
    out->expiry = (time_t)(int64_t)expiry;
    out->blob = (unsigned char *)blob;
    out->blob_len = blen;
    return NULL;
}

/* Decode the tempkey_meta value v; NULL on success, else what is wrong. */
static const char *
decode_tempkey_meta(const MDB_val *v, uint32_t *max_id, time_t *last_expiry)
{
    struct ks_cursor c;
    uint64_t version, id, expiry;

    ks_cursor_init(&c, v->mv_data, v->mv_size);
    if (!cursor_uint(&c, 1, &version))
        return "truncated";
    if (version != REC_VERSION)
        return "unknown record version (written by a newer release?)";
    if (!cursor_uint(&c, 2, &id) || !cursor_uint(&c, 8, &expiry))
        return "truncated";
    if (ks_cursor_left(&c) != 0)
        return "trailing bytes";
    if (id < KS_TEMPKEY_ID_MIN || id > KS_TEMPKEY_ID_MAX)
        return "highest key id out of range";
    *max_id = (uint32_t)id;
    *last_expiry = (time_t)(int64_t)expiry;
    return NULL;
}

/* Read the tempkey_meta of principal (plen bytes) in txn: 0, MDB_NOTFOUND
 * (as an LMDB result in *rc, ret 0), or a corrupt-record error. */
static krb5_error_code
get_tempkey_meta(krb5_context ctx, struct ks_store *st, MDB_txn *txn,
                 const char *principal, size_t plen, int *rc,
                 uint32_t *max_id, time_t *last_expiry)
{
    MDB_val k, v;
    const char *why;

    *max_id = 0;
    *last_expiry = 0;
    k.mv_data = (void *)principal;
    k.mv_size = plen;
    *rc = mdb_get(txn, st->main.se->tempkey_meta, &k, &v);
    if (*rc)
        return 0;
    why = decode_tempkey_meta(&v, max_id, last_expiry);
    if (why != NULL)
        return corrupt_tempkey(ctx, &st->main, principal, plen, 0, why);
    return 0;
}

/*
 * In write transaction txn, delete the tempkeys records whose key begins
 * with prefix (prefix_len bytes; 0: every record): all of them if all is
 * set (even corrupt ones: a principal's records can always be removed),
 * else those that expired at now.  Add the number removed to *removed.
 */
static krb5_error_code
tempkey_sweep(krb5_context ctx, struct ks_store *st, MDB_txn *txn,
              const unsigned char *prefix, size_t prefix_len, int all,
              time_t now, size_t *removed)
{
    struct ks_tempkey_record rec;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    krb5_error_code ret = 0;
    const char *why, *principal;
    size_t plen;
    uint32_t key_id;
    int rc;

    rc = mdb_cursor_open(txn, st->main.se->tempkeys, &cur);
    if (rc == 0) {
        k.mv_data = (void *)prefix;
        k.mv_size = prefix_len;
        rc = mdb_cursor_get(cur, &k, &v, prefix_len ? MDB_SET_RANGE :
                            MDB_FIRST);
    }
    while (rc == 0) {
        if (prefix_len > 0 && (k.mv_size < prefix_len ||
                               memcmp(k.mv_data, prefix, prefix_len) != 0))
            break;
        if (!all) {
            why = parse_tempkey_key(&k, &principal, &plen, &key_id);
            if (why == NULL)
                why = decode_tempkey(&v, &rec);
            if (why != NULL) {
                ret = corrupt_tempkey(ctx, &st->main, principal, plen,
                                      key_id, why);
                goto cleanup;
            }
            if (rec.expiry > now) {
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                continue;
            }
        }
        /* After a delete the cursor rests on the next record, which
         * MDB_NEXT then returns. */
        rc = mdb_cursor_del(cur, 0);
        if (rc)
            break;
        (*removed)++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND)
        ret = lmdb_error(ctx, &st->main, rc, "removing temporary keys");

cleanup:
    if (cur != NULL)
        mdb_cursor_close(cur);
    return ret;
}

krb5_error_code
ks_store_tempkey_put(krb5_context ctx, struct ks_store *store,
                     const char *principal,
                     const struct ks_tempkey_record *rec, time_t now)
{
    unsigned char key[TEMPKEY_KEY_MAX], meta[TEMPKEY_META_LEN], *buf = NULL;
    unsigned char *p;
    char when[32], at[32];
    MDB_txn *txn = NULL;
    MDB_val k, v;
    krb5_error_code ret;
    size_t plen, len, removed = 0;
    uint32_t max_id;
    time_t last_expiry;
    int rc;

    if (rec->key_id < KS_TEMPKEY_ID_MIN || rec->key_id > KS_TEMPKEY_ID_MAX) {
        krb5_set_error_message(ctx, EINVAL, "temporary key id %lu of %s is "
                               "out of range (%d to %d)",
                               (unsigned long)rec->key_id, principal,
                               KS_TEMPKEY_ID_MIN, KS_TEMPKEY_ID_MAX);
        return EINVAL;
    }
    if (rec->expiry <= now) {
        krb5_set_error_message(ctx, EINVAL, "temporary key id %lu of %s "
                               "expires at %s, not later than now (%s)",
                               (unsigned long)rec->key_id, principal,
                               utc_time(rec->expiry, when, sizeof(when)),
                               utc_time(now, at, sizeof(at)));
        return EINVAL;
    }
    if (rec->blob == NULL || rec->blob_len == 0 ||
        rec->blob_len > KS_STORE_TEMPKEY_BLOB_MAX) {
        krb5_set_error_message(ctx, EINVAL, "wrapped temporary key id %lu of "
                               "%s has %zu bytes (1 to %d allowed)",
                               (unsigned long)rec->key_id, principal,
                               rec->blob == NULL ? (size_t)0 : rec->blob_len,
                               KS_STORE_TEMPKEY_BLOB_MAX);
        return EINVAL;
    }
    ret = main_ready(ctx, store);
    if (!ret)
        ret = tempkey_prefix(ctx, store, principal, key, &plen);
    if (ret)
        return ret;

    len = TEMPKEY_REC_FIXED + rec->blob_len;
    buf = malloc(len);
    if (buf == NULL)
        return ENOMEM;
    p = buf;
    *p++ = REC_VERSION;
    p = put_uint(p, (uint64_t)(int64_t)rec->registered, 8);
    p = put_uint(p, (uint64_t)(int64_t)rec->expiry, 8);
    p = put_uint(p, rec->blob_len, 2);
    memcpy(p, rec->blob, rec->blob_len);

    rc = txn_begin(&store->main, 0, &txn);
    if (rc)
        goto lmdb_fail;
    ret = get_tempkey_meta(ctx, store, txn, principal, plen, &rc, &max_id,
                           &last_expiry);
    if (ret)
        goto cleanup;
    if (rc == MDB_NOTFOUND)
        rc = 0;
    else if (rc)
        goto lmdb_fail;
    if (rec->key_id <= max_id) {
        ret = KRB5_KDB_INUSE;
        krb5_set_error_message(ctx, ret, "key id %lu is not above the "
                               "highest registered key id %lu of %s",
                               (unsigned long)rec->key_id,
                               (unsigned long)max_id, principal);
        goto cleanup;
    }
    /* The principal's expired records go now: the KDC never serves them
     * and the new id keeps the high-water mark. */
    ret = tempkey_sweep(ctx, store, txn, key, plen + 1, 0, now, &removed);
    if (ret)
        goto cleanup;

    put_uint(key + plen + 1, rec->key_id, TEMPKEY_ID_LEN);
    k.mv_data = key;
    k.mv_size = plen + 1 + TEMPKEY_ID_LEN;
    v.mv_data = buf;
    v.mv_size = len;
    rc = mdb_put(txn, store->main.se->tempkeys, &k, &v, 0);
    if (rc)
        goto lmdb_fail;

    meta[0] = REC_VERSION;
    put_uint(meta + 1, rec->key_id, 2);
    if (rec->expiry > last_expiry)
        last_expiry = rec->expiry;
    put_uint(meta + 3, (uint64_t)(int64_t)last_expiry, 8);
    k.mv_data = (void *)principal;
    k.mv_size = plen;
    v.mv_data = meta;
    v.mv_size = sizeof(meta);
    rc = mdb_put(txn, store->main.se->tempkey_meta, &k, &v, 0);
    if (rc)
        goto lmdb_fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto lmdb_fail;
    goto cleanup;

lmdb_fail:
    ret = lmdb_error(ctx, &store->main, rc, "storing a temporary key");
cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    ks_zfree(buf, len);
    return ret;
}

void
ks_tempkey_records_free(struct ks_tempkey_record *recs, size_t count)
{
    size_t i;

    if (recs == NULL)
        return;
    for (i = 0; i < count; i++)
        ks_zfree(recs[i].blob, recs[i].blob_len);
    free(recs);
}

krb5_error_code
ks_store_tempkey_get(krb5_context ctx, struct ks_store *store,
                     const char *principal, time_t now,
                     struct ks_tempkey_record **recs_out, size_t *count_out,
                     uint32_t *max_id_out, time_t *last_expiry_out,
                     size_t *expired_out)
{
    unsigned char prefix[TEMPKEY_KEY_MAX];
    struct ks_tempkey_record *recs = NULL, *nr, rec;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    krb5_error_code ret;
    const char *why, *kp;
    size_t plen, kplen, n = 0, expired = 0;
    uint32_t max_id, key_id;
    time_t last_expiry;
    int rc;

    *recs_out = NULL;
    *count_out = 0;
    if (max_id_out != NULL)
        *max_id_out = 0;
    if (last_expiry_out != NULL)
        *last_expiry_out = 0;
    if (expired_out != NULL)
        *expired_out = 0;
    ret = main_ready(ctx, store);
    if (!ret)
        ret = tempkey_prefix(ctx, store, principal, prefix, &plen);
    if (ret)
        return ret;

    rc = txn_begin(&store->main, MDB_RDONLY, &txn);
    if (rc)
        goto lmdb_fail;
    ret = get_tempkey_meta(ctx, store, txn, principal, plen, &rc, &max_id,
                           &last_expiry);
    if (ret)
        goto cleanup;
    if (rc == MDB_NOTFOUND) {
        ret = KRB5_KDB_NOENTRY;
        krb5_set_error_message(ctx, ret, "%s never registered temporary "
                               "keys", principal);
        goto cleanup;
    }
    if (rc)
        goto lmdb_fail;

    rc = mdb_cursor_open(txn, store->main.se->tempkeys, &cur);
    if (rc == 0) {
        k.mv_data = prefix;
        k.mv_size = plen + 1;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen + 1 || memcmp(k.mv_data, prefix, plen + 1) != 0)
            break;
        why = parse_tempkey_key(&k, &kp, &kplen, &key_id);
        if (why == NULL)
            why = decode_tempkey(&v, &rec);
        if (why == NULL && key_id > max_id)
            why = "key id above the principal's highest registered key id";
        if (why != NULL) {
            ret = corrupt_tempkey(ctx, &store->main, principal, plen,
                                  key_id, why);
            goto cleanup;
        }
        if (rec.expiry <= now) {
            expired++;
            continue;
        }
        nr = realloc(recs, (n + 1) * sizeof(*recs));
        if (nr == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        recs = nr;
        recs[n].key_id = key_id;
        recs[n].registered = rec.registered;
        recs[n].expiry = rec.expiry;
        recs[n].blob_len = rec.blob_len;
        /* A copy: the map's pages are valid only within the transaction. */
        recs[n].blob = malloc(rec.blob_len);
        if (recs[n].blob == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        memcpy(recs[n].blob, rec.blob, rec.blob_len);
        n++;
    }
    if (rc && rc != MDB_NOTFOUND)
        goto lmdb_fail;
    *recs_out = recs;
    *count_out = n;
    if (max_id_out != NULL)
        *max_id_out = max_id;
    if (last_expiry_out != NULL)
        *last_expiry_out = last_expiry;
    if (expired_out != NULL)
        *expired_out = expired;
    recs = NULL;
    n = 0;
    goto cleanup;

lmdb_fail:
    ret = lmdb_error(ctx, &store->main, rc, "reading temporary keys");
cleanup:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    ks_tempkey_records_free(recs, n);
    return ret;
}

void
ks_tempkey_info_free(struct ks_tempkey_info *infos, size_t count)
{
    size_t i;

    if (infos == NULL)
        return;
    for (i = 0; i < count; i++)
        free(infos[i].principal);
    free(infos);
}

krb5_error_code
ks_store_tempkey_list(krb5_context ctx, struct ks_store *store,
                      const char *principal, struct ks_tempkey_info **out,
                      size_t *count_out)
{
    unsigned char prefix[TEMPKEY_KEY_MAX];
    struct ks_tempkey_info *list = NULL, *nl;
    struct ks_tempkey_record rec;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    krb5_error_code ret;
    const char *why, *kp;
    size_t plen = 0, kplen, n = 0, prefix_len = 0;
    uint32_t key_id;
    int rc;

    *out = NULL;
    *count_out = 0;
    ret = main_ready(ctx, store);
    if (!ret && principal != NULL) {
        ret = tempkey_prefix(ctx, store, principal, prefix, &plen);
        prefix_len = plen + 1;
    }
    if (ret)
        return ret;
    rc = txn_begin(&store->main, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, store->main.se->tempkeys, &cur);
    if (rc == 0) {
        k.mv_data = prefix;
        k.mv_size = prefix_len;
        rc = mdb_cursor_get(cur, &k, &v, prefix_len ? MDB_SET_RANGE :
                            MDB_FIRST);
    }
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < prefix_len || memcmp(k.mv_data, prefix, prefix_len))
            break;
        why = parse_tempkey_key(&k, &kp, &kplen, &key_id);
        if (why == NULL)
            why = decode_tempkey(&v, &rec);
        if (why != NULL) {
            ret = corrupt_tempkey(ctx, &store->main, kp, kplen, key_id, why);
            goto cleanup;
        }
        nl = realloc(list, (n + 1) * sizeof(*list));
        if (nl == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        list = nl;
        list[n].principal = strndup(kp, kplen);
        if (list[n].principal == NULL) {
            ret = ENOMEM;
            goto cleanup;
        }
        list[n].key_id = key_id;
        list[n].registered = rec.registered;
        list[n].expiry = rec.expiry;
        n++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        ret = lmdb_error(ctx, &store->main, rc, "listing temporary keys");
        goto cleanup;
    }
    *out = list;
    *count_out = n;
    list = NULL;
    n = 0;

cleanup:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    ks_tempkey_info_free(list, n);
    return ret;
}

krb5_error_code
ks_store_tempkey_purge(krb5_context ctx, struct ks_store *store,
                       const char *principal, time_t now,
                       size_t *removed_out)
{
    unsigned char prefix[TEMPKEY_KEY_MAX];
    MDB_txn *txn = NULL;
    MDB_val k;
    krb5_error_code ret;
    size_t plen = 0, removed = 0;
    int rc, had_meta = 0;

    if (removed_out != NULL)
        *removed_out = 0;
    ret = main_ready(ctx, store);
    if (!ret && principal != NULL)
        ret = tempkey_prefix(ctx, store, principal, prefix, &plen);
    if (ret)
        return ret;
    rc = txn_begin(&store->main, 0, &txn);
    if (rc)
        goto lmdb_fail;
    if (principal == NULL) {
        ret = tempkey_sweep(ctx, store, txn, NULL, 0, 0, now, &removed);
    } else {
        ret = tempkey_sweep(ctx, store, txn, prefix, plen + 1, 1, now,
                            &removed);
        if (!ret) {
            k.mv_data = (void *)principal;
            k.mv_size = plen;
            rc = mdb_del(txn, store->main.se->tempkey_meta, &k, NULL);
            if (rc == 0)
                had_meta = 1;
            else if (rc != MDB_NOTFOUND)
                goto lmdb_fail;
        }
    }
    if (ret)
        goto cleanup;
    if (principal != NULL && removed == 0 && !had_meta) {
        ret = KRB5_KDB_NOENTRY;
        krb5_set_error_message(ctx, ret, "%s has no temporary keys in store "
                               "%s", principal, store->main.path);
        goto cleanup;
    }
    if (removed == 0 && !had_meta)
        goto cleanup;           /* nothing changed: no commit, no sync */
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto lmdb_fail;
    if (removed_out != NULL)
        *removed_out = removed;
    goto cleanup;

lmdb_fail:
    ret = lmdb_error(ctx, &store->main, rc, "purging temporary keys");
cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return ret;
}
