/*
 * Unit tests of the shared store (lib/ks_store.h): opening (files created
 * 0600, refused permissions, symbolic links, a missing state_dir, a file
 * that is not a store), the staging and provisioned tables (every
 * operation, invalid arguments, persistence across processes and
 * reopening), corrupt records written straight into LMDB (an error naming
 * the record, never a crash), the replay table (insert, duplicate,
 * expired-then-reinsert, purge and its bound), a handle used after fork(),
 * four processes racing on the same replay keys, and a full map.
 *
 * The temporary-key tables (tempkeys, tempkey_meta in store.mdb): put and
 * get, key id rollback and the same id refused, invalid arguments, lists,
 * purging expired keys (the high-water mark stays) and a principal's keys
 * (it goes), corrupt records naming principal and key id, synced writes,
 * and store.mdb refused when readable by group or others.
 *
 * The replay tables live in their own environment, replay.mdb, committed
 * without a sync (MDB_NOSYNC): tests check that they are there and not in
 * store.mdb, that an entry is seen by a second handle and by another
 * live process, that it survives a writer killed with SIGKILL, and, by
 * counting the fsync()/fdatasync() calls LMDB makes (this program defines
 * both, so that they interpose on liblmdb's), that replay inserts are not
 * synced one by one while the durable tables are.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <check.h>
#include <krb5/krb5.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ks_store.h"
#include "unit_util.h"

#define T0 ((time_t)1767225600)
#define NCHILDREN 4
#define NRACEKEYS 200

static char *basedir, *tmpdir;

/* Calls of fsync() and fdatasync() in this process.  The definitions
 * below take the place of libc's for liblmdb (the executable's symbols
 * come first), count, and make the system call themselves. */
static volatile unsigned long nsyncs;

int
fsync(int fd)
{
    nsyncs++;
    return (int)syscall(SYS_fsync, fd);
}

int
fdatasync(int fd)
{
    nsyncs++;
    return (int)syscall(SYS_fdatasync, fd);
}
static krb5_context ctx;
static unsigned char ed_spki[128], ec_spki[128];
static size_t ed_spki_len, ec_spki_len;

/* One directory for the whole run, made and removed by the parent
 * process, so that a failing test leaves nothing behind. */
static void
setup_basedir(void)
{
    basedir = unit_mkdtemp(NULL);
}

/* Remove the run's directory and whatever failed tests left in it. */
static void
teardown_basedir(void)
{
    unit_rmtree(basedir);
    free(basedir);
}

/* DER SubjectPublicKeyInfo of a fresh key of type (and group) into buf. */
static size_t
make_spki(const char *type, const char *group, unsigned char *buf,
          size_t len)
{
    EVP_PKEY *pkey;
    unsigned char *der = NULL;
    int n;

    pkey = (group != NULL) ? EVP_PKEY_Q_keygen(NULL, NULL, type, group) :
        EVP_PKEY_Q_keygen(NULL, NULL, type);
    ck_assert_ptr_nonnull(pkey);
    n = i2d_PUBKEY(pkey, &der);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_le((size_t)n, len);
    memcpy(buf, der, n);
    OPENSSL_free(der);
    EVP_PKEY_free(pkey);
    return (size_t)n;
}

/* A private state_dir (mode 0700), a context and two public keys. */
static void
setup(void)
{
    tmpdir = unit_mkdtemp(basedir);
    ck_assert_int_eq(krb5_init_context(&ctx), 0);
    ed_spki_len = make_spki("ED25519", NULL, ed_spki, sizeof(ed_spki));
    ec_spki_len = make_spki("EC", "P-256", ec_spki, sizeof(ec_spki));
}

/* Free the context and remove the directory. */
static void
teardown(void)
{
    krb5_free_context(ctx);
    unit_rmtree(tmpdir);
    free(tmpdir);
}

/* Assert that the context's message for code contains want. */
static void
expect_msg(krb5_error_code code, const char *want)
{
    const char *msg = unit_errmsg(ctx, code);

    ck_assert_msg(strstr(msg, want) != NULL, "message '%s' lacks '%s'", msg,
                  want);
}

/* Open the store in tmpdir, asserting success. */
static struct ks_store *
open_ok(void)
{
    struct ks_store *st = NULL;
    krb5_error_code ret;

    ret = ks_store_open(ctx, tmpdir, 0, &st);
    ck_assert_msg(ret == 0, "ks_store_open: %s", unit_errmsg(ctx, ret));
    return st;
}

/* A staging entry for id with the Ed25519 key. */
static struct ks_stage_entry
entry_for(const char *id, const char *profile, time_t added)
{
    struct ks_stage_entry e;

    memset(&e, 0, sizeof(e));
    snprintf(e.id, sizeof(e.id), "%s", id);
    snprintf(e.profile, sizeof(e.profile), "%s", profile);
    e.spki = ed_spki;
    e.spki_len = ed_spki_len;
    e.added = added;
    return e;
}

/* A replay key made of byte b then i (big-endian). */
static void
replay_key(unsigned char key[KS_STORE_REPLAY_KEY_LEN], int b, unsigned int i)
{
    memset(key, b, KS_STORE_REPLAY_KEY_LEN);
    key[0] = (unsigned char)(i >> 8);
    key[1] = (unsigned char)i;
}

/* The file holding table db: replay.mdb for the replay tables. */
static const char *
file_of(const char *db)
{
    return strncmp(db, "replay", 6) == 0 ? KS_STORE_REPLAY_FILE :
        KS_STORE_FILE;
}

/* Write one record straight into table db of its store file in dir with
 * LMDB (no store handle may be open in this process). */
static void
raw_put(const char *dir, const char *db, const void *k, size_t klen,
        const void *v, size_t vlen)
{
    char *path = unit_path(dir, file_of(db));
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };

    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, KS_STORE_MAX_DBS), 0);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);
    ck_assert_int_eq(mdb_put(txn, dbi, &key, &val, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    free(path);
}

/* The number of entries of table db in file name of dir, read straight
 * with LMDB in a child process (this one may have the file open); -1 if
 * the table does not exist. */
static long
raw_entries(const char *dir, const char *name, const char *db)
{
    int fds[2], status;
    long n = -2;
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char *path = unit_path(dir, name);
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        MDB_stat ms;
        long count = -1;

        if (mdb_env_create(&env) != 0 ||
            mdb_env_set_maxdbs(env, KS_STORE_MAX_DBS) != 0 ||
            mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600) != 0 ||
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
            _exit(1);
        if (mdb_dbi_open(txn, db, 0, &dbi) == 0 &&
            mdb_stat(txn, dbi, &ms) == 0)
            count = (long)ms.ms_entries;
        if (write(fds[1], &count, sizeof(count)) != (ssize_t)sizeof(count))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &n, sizeof(n)), (ssize_t)sizeof(n));
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return n;
}

/* Encode a version-1 staging record into buf; return its length. */
static size_t
stage_record(unsigned char *buf, int version, const char *profile,
             const unsigned char *spki, size_t spki_len)
{
    size_t plen = strlen(profile), n = 0;
    int i;

    buf[n++] = (unsigned char)version;
    for (i = 7; i >= 0; i--)
        buf[n++] = (unsigned char)((uint64_t)T0 >> (8 * i));
    buf[n++] = (unsigned char)plen;
    memcpy(buf + n, profile, plen);
    n += plen;
    buf[n++] = (unsigned char)(spki_len >> 8);
    buf[n++] = (unsigned char)spki_len;
    memcpy(buf + n, spki, spki_len);
    return n + spki_len;
}

/* Wait for pid and assert that it exited with status 0. */
static void
expect_child_ok(pid_t pid)
{
    int status;

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %d", status);
}

/* --- opening ---------------------------------------------------------- */

START_TEST(test_open_creates_private_files)
{
    struct ks_store *st;
    char *data = unit_path(tmpdir, "store.mdb");
    char *lock = unit_path(tmpdir, "store.mdb-lock");
    struct stat sb;
    mode_t old = umask(0);

    st = open_ok();
    umask(old);
    ck_assert_str_eq(ks_store_path(st), data);
    ck_assert_int_eq(lstat(data, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(lstat(lock, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    ks_store_close(st);
    ks_store_close(NULL);
    free(data);
    free(lock);
}
END_TEST

/* replay.mdb is made by the first replay call (kstateless, which opens
 * the store for the staging and provisioned tables only, never makes it),
 * with private files too. */
START_TEST(test_replay_file_created_on_first_use)
{
    struct ks_store *st;
    char *data = unit_path(tmpdir, "replay.mdb");
    char *lock = unit_path(tmpdir, "replay.mdb-lock");
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    struct stat sb;
    mode_t old = umask(0);

    st = open_ok();
    ck_assert_str_eq(ks_store_replay_path(st), data);
    ck_assert_int_eq(ks_store_provision_add(ctx, st, "p1", T0), 0);
    ck_assert_int_eq(lstat(data, &sb), -1);
    ck_assert_int_eq(lstat(lock, &sb), -1);
    replay_key(k, 0x12, 1);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0), 0);
    umask(old);
    ck_assert_int_eq(lstat(data, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(lstat(lock, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    ks_store_close(st);
    free(data);
    free(lock);
}
END_TEST

START_TEST(test_open_missing_state_dir)
{
    struct ks_store *st = (struct ks_store *)1;
    char *dir = unit_path(tmpdir, "nonexistent");

    ck_assert_int_eq(ks_store_open(ctx, dir, 0, &st), ENOENT);
    ck_assert_ptr_null(st);
    expect_msg(ENOENT, dir);
    expect_msg(ENOENT, "kstateless init");
    free(dir);
}
END_TEST

START_TEST(test_open_refuses_writable_state_dir)
{
    struct ks_store *st = NULL;

    ck_assert_int_eq(chmod(tmpdir, 0770), 0);
    ck_assert_int_eq(ks_store_open(ctx, tmpdir, 0, &st), EPERM);
    expect_msg(EPERM, "state_dir");
    expect_msg(EPERM, "chmod 700");
    ck_assert_int_eq(chmod(tmpdir, 0700), 0);
}
END_TEST

/* A store file made without kstateless, then given mode, is refused
 * (fresh process) with a message naming it. */
static void
expect_mode_refused(const char *name, mode_t mode)
{
    struct ks_store *st = NULL;
    char *path = unit_path(tmpdir, name);
    unsigned char v = 0;
    char msg[80];

    raw_put(tmpdir, "provisioned", "x", 1, &v, 1);
    ck_assert_int_eq(chmod(path, mode), 0);
    ck_assert_int_eq(ks_store_open(ctx, tmpdir, 0, &st), EPERM);
    ck_assert_ptr_null(st);
    expect_msg(EPERM, path);
    expect_msg(EPERM, "writable by group or others");
    snprintf(msg, sizeof(msg), "(mode %03o); chmod 600 it", (unsigned)mode);
    expect_msg(EPERM, msg);
    ck_assert_int_eq(chmod(path, 0600), 0);
    free(path);
}

START_TEST(test_open_refuses_group_writable_file)
{
    expect_mode_refused("store.mdb", 0620);
}
END_TEST

START_TEST(test_open_refuses_world_writable_file)
{
    expect_mode_refused("store.mdb", 0602);
}
END_TEST

START_TEST(test_open_refuses_group_writable_lock)
{
    expect_mode_refused("store.mdb-lock", 0660);
}
END_TEST

/* A replay file made writable by group or others is refused at the
 * first replay call of a process, with a message naming it; the durable
 * tables stay usable. */
static void
expect_replay_mode_refused(const char *name, mode_t mode)
{
    struct ks_store *st = NULL;
    char *path = unit_path(tmpdir, name);
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    time_t since;
    char msg[80];

    replay_key(k, 0x13, 1);
    raw_put(tmpdir, "replay", k, sizeof(k), "", 0);
    ck_assert_int_eq(chmod(path, mode), 0);
    st = open_ok();
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0), EPERM);
    expect_msg(EPERM, path);
    expect_msg(EPERM, "writable by group or others");
    snprintf(msg, sizeof(msg), "(mode %03o); chmod 600 it", (unsigned)mode);
    expect_msg(EPERM, msg);
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0, NULL), EPERM);
    ck_assert_int_eq(ks_store_provision_get(ctx, st, "x", &since),
                     KRB5_KDB_NOENTRY);
    ks_store_close(st);
    ck_assert_int_eq(chmod(path, 0600), 0);
    free(path);
}

START_TEST(test_replay_refuses_group_writable_file)
{
    expect_replay_mode_refused("replay.mdb", 0620);
}
END_TEST

START_TEST(test_replay_refuses_world_writable_lock)
{
    expect_replay_mode_refused("replay.mdb-lock", 0606);
}
END_TEST

START_TEST(test_replay_refuses_symlink)
{
    struct ks_store *st = open_ok();
    char *target = unit_path(tmpdir, "elsewhere.mdb");
    char *path = unit_path(tmpdir, "replay.mdb");
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];

    unit_write_file(target, "", 0, 0600);
    ck_assert_int_eq(symlink(target, path), 0);
    replay_key(k, 0x14, 1);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0), EPERM);
    expect_msg(EPERM, "symbolic link");
    ks_store_close(st);
    free(target);
    free(path);
}
END_TEST

/* A damaged replay.mdb (what a power loss can leave, see ks_store.h) is
 * refused with a message saying what it holds and what to do. */
START_TEST(test_replay_refuses_damaged_file)
{
    struct ks_store *st;
    char *path = unit_path(tmpdir, "replay.mdb");
    unsigned char junk[16384], k[KS_STORE_REPLAY_KEY_LEN];
    krb5_error_code ret;
    size_t i;

    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    unit_write_file(path, junk, sizeof(junk), 0600);
    st = open_ok();
    replay_key(k, 0x15, 1);
    ret = ks_store_replay_check_and_insert(ctx, st, k, T0 + 60, T0);
    ck_assert_int_eq(ret, KRB5_KDB_DB_CORRUPT);
    expect_msg(ret, path);
    expect_msg(ret, "replay cache");
    expect_msg(ret, "remove it");
    ks_store_close(st);
    free(path);
}
END_TEST

START_TEST(test_reopen_refuses_file_made_writable)
{
    struct ks_store *st = open_ok();
    char *path = unit_path(tmpdir, "store.mdb");

    ks_store_close(st);
    st = NULL;
    ck_assert_int_eq(chmod(path, 0660), 0);
    ck_assert_int_eq(ks_store_open(ctx, tmpdir, 0, &st), EPERM);
    expect_msg(EPERM, "writable by group or others");
    ck_assert_int_eq(chmod(path, 0600), 0);
    st = open_ok();
    ks_store_close(st);
    free(path);
}
END_TEST

/* store.mdb holds wrapped temporary keys: it and its lock file are
 * refused when readable by group or others, with the file, its mode and
 * the fix in the message.  replay.mdb holds no keys and stays allowed. */
static void
expect_read_refused(const char *name, mode_t mode)
{
    struct ks_store *st = NULL;
    char *path = unit_path(tmpdir, name);
    char msg[96];

    st = open_ok();
    ks_store_close(st);
    st = NULL;
    ck_assert_int_eq(chmod(path, mode), 0);
    ck_assert_int_eq(ks_store_open(ctx, tmpdir, 0, &st), EPERM);
    ck_assert_ptr_null(st);
    expect_msg(EPERM, path);
    snprintf(msg, sizeof(msg), "is readable by group or others (mode %03o) "
             "but holds temporary server keys; chmod 600 it",
             (unsigned)mode);
    expect_msg(EPERM, msg);
    ck_assert_int_eq(chmod(path, 0600), 0);
    free(path);
}

START_TEST(test_open_refuses_group_readable_file)
{
    expect_read_refused("store.mdb", 0640);
}
END_TEST

START_TEST(test_open_refuses_world_readable_file)
{
    expect_read_refused("store.mdb", 0604);
}
END_TEST

START_TEST(test_open_refuses_readable_lock)
{
    expect_read_refused("store.mdb-lock", 0644);
}
END_TEST

START_TEST(test_replay_file_may_be_readable)
{
    struct ks_store *st = open_ok();
    char *path = unit_path(tmpdir, "replay.mdb");
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];

    replay_key(k, 0x31, 1);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0), 0);
    ks_store_close(st);
    ck_assert_int_eq(chmod(path, 0640), 0);
    /* A new handle checks the files again before it uses them. */
    st = open_ok();
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0),
                     KRB5KRB_AP_ERR_REPEAT);
    ks_store_close(st);
    free(path);
}
END_TEST

START_TEST(test_open_refuses_symlink)
{
    struct ks_store *st = NULL;
    char *target = unit_path(tmpdir, "elsewhere.mdb");
    char *path = unit_path(tmpdir, "store.mdb");

    unit_write_file(target, "", 0, 0600);
    ck_assert_int_eq(symlink(target, path), 0);
    ck_assert_int_eq(ks_store_open(ctx, tmpdir, 0, &st), EPERM);
    expect_msg(EPERM, "symbolic link");
    free(target);
    free(path);
}
END_TEST

START_TEST(test_open_refuses_non_store_file)
{
    struct ks_store *st = NULL;
    char *path = unit_path(tmpdir, "store.mdb");
    unsigned char junk[16384];
    krb5_error_code ret;
    size_t i, sizes[] = { 1, 100, sizeof(junk) };

    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    for (i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
        unit_write_file(path, junk, sizes[i], 0600);
        ret = ks_store_open(ctx, tmpdir, 0, &st);
        ck_assert_msg(ret != 0, "a %zu-byte junk file opened", sizes[i]);
        ck_assert_ptr_null(st);
        expect_msg(ret, path);
    }
    free(path);
}
END_TEST

/* --- staging ---------------------------------------------------------- */

START_TEST(test_stage_put_get_del_list)
{
    struct ks_store *st = open_ok();
    struct ks_stage_entry e, got, *list;
    size_t n;

    e = entry_for("d1", "gold", T0);
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), 0);
    e = entry_for("d2", "", T0 + 5);
    e.spki = ec_spki;
    e.spki_len = ec_spki_len;
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), 0);

    ck_assert_int_eq(ks_store_stage_get(ctx, st, "d1", &got), 0);
    ck_assert_str_eq(got.id, "d1");
    ck_assert_str_eq(got.profile, "gold");
    ck_assert_int_eq(got.added, T0);
    ck_assert_uint_eq(got.spki_len, ed_spki_len);
    ck_assert_mem_eq(got.spki, ed_spki, ed_spki_len);
    ks_stage_entry_free_contents(&got);
    ck_assert_int_eq(ks_store_stage_get(ctx, st, "d2", &got), 0);
    ck_assert_str_eq(got.profile, "");
    ck_assert_int_eq(got.added, T0 + 5);
    ck_assert_mem_eq(got.spki, ec_spki, ec_spki_len);
    ks_stage_entry_free_contents(&got);

    /* No silent replacement; replacement on request. */
    e = entry_for("d1", "silver", T0 + 9);
    e.spki = ec_spki;
    e.spki_len = ec_spki_len;
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), KRB5_KDB_INUSE);
    expect_msg(KRB5_KDB_INUSE, "'d1' is already staged");
    ck_assert_int_eq(ks_store_stage_get(ctx, st, "d1", &got), 0);
    ck_assert_str_eq(got.profile, "gold");
    ck_assert_mem_eq(got.spki, ed_spki, ed_spki_len);
    ks_stage_entry_free_contents(&got);
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 1), 0);
    ck_assert_int_eq(ks_store_stage_get(ctx, st, "d1", &got), 0);
    ck_assert_str_eq(got.profile, "silver");
    ck_assert_int_eq(got.added, T0 + 9);
    ck_assert_mem_eq(got.spki, ec_spki, ec_spki_len);
    ks_stage_entry_free_contents(&got);

    ck_assert_int_eq(ks_store_stage_list(ctx, st, &list, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].id, "d1");
    ck_assert_str_eq(list[1].id, "d2");
    ck_assert_str_eq(list[0].profile, "silver");
    ck_assert_mem_eq(list[1].spki, ec_spki, ec_spki_len);
    ks_stage_list_free(list, n);

    ck_assert_int_eq(ks_store_stage_del(ctx, st, "d1"), 0);
    ck_assert_int_eq(ks_store_stage_get(ctx, st, "d1", &got),
                     KRB5_KDB_NOENTRY);
    expect_msg(KRB5_KDB_NOENTRY, "'d1' is not staged");
    ck_assert_ptr_null(got.spki);
    ck_assert_int_eq(ks_store_stage_del(ctx, st, "d1"), KRB5_KDB_NOENTRY);
    ck_assert_int_eq(ks_store_stage_list(ctx, st, &list, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, "d2");
    ks_stage_list_free(list, n);
    ck_assert_int_eq(ks_store_stage_del(ctx, st, "d2"), 0);
    ck_assert_int_eq(ks_store_stage_list(ctx, st, &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(list);
    ks_store_close(st);
}
END_TEST

START_TEST(test_stage_refuses_invalid_arguments)
{
    struct ks_store *st = open_ok();
    struct ks_stage_entry e, got, *list;
    unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
    unsigned char longer[sizeof(ed_spki) + 1];
    char id64[65], profile32[34];
    size_t n;

    e = entry_for("a/b", "", T0);
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), EINVAL);
    expect_msg(EINVAL, "invalid device id 'a/b'");
    e = entry_for("", "", T0);
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), EINVAL);
    e = entry_for(".x", "", T0);
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), EINVAL);
    e = entry_for("d1", "bad!", T0);
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), EINVAL);
    expect_msg(EINVAL, "invalid profile name 'bad!'");
    e = entry_for("d1", "", T0);
    e.spki_len = 0;
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), EINVAL);
    e.spki = junk;
    e.spki_len = sizeof(junk);
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), EINVAL);
    expect_msg(EINVAL, "not a DER SubjectPublicKeyInfo");
    memcpy(longer, ed_spki, ed_spki_len);
    longer[ed_spki_len] = 0;
    e.spki = longer;
    e.spki_len = ed_spki_len + 1;
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), EINVAL);
    e.spki_len = ed_spki_len - 1;
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), EINVAL);
    ck_assert_int_eq(ks_store_stage_get(ctx, st, "x y", &got), EINVAL);
    ck_assert_int_eq(ks_store_stage_del(ctx, st, "x y"), EINVAL);
    ck_assert_int_eq(ks_store_stage_list(ctx, st, &list, &n), 0);
    ck_assert_uint_eq(n, 0);

    /* The limits themselves are accepted; one more is not. */
    memset(id64, 'a', 64);
    id64[64] = '\0';
    memset(profile32, 'p', 32);
    profile32[32] = '\0';
    e = entry_for(id64, profile32, T0);
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), 0);
    ck_assert_int_eq(ks_store_stage_get(ctx, st, id64, &got), 0);
    ck_assert_str_eq(got.profile, profile32);
    ks_stage_entry_free_contents(&got);
    ck_assert(ks_store_profile_valid("a.b_c-D9"));
    ck_assert(!ks_store_profile_valid(""));
    ck_assert(!ks_store_profile_valid("a b"));
    ck_assert(!ks_store_profile_valid("a/b"));
    strcat(profile32, "p");
    ck_assert(!ks_store_profile_valid(profile32));
    ks_store_close(st);
}
END_TEST

/* --- provisioned ------------------------------------------------------ */

START_TEST(test_provision_add_get_del_list)
{
    struct ks_store *st = open_ok();
    struct ks_provision_entry *list;
    time_t since;
    size_t n;

    ck_assert_int_eq(ks_store_provision_get(ctx, st, "p1", &since),
                     KRB5_KDB_NOENTRY);
    expect_msg(KRB5_KDB_NOENTRY, "'p1' is not provisioned");
    ck_assert_int_eq(ks_store_provision_add(ctx, st, "p2", T0 + 2), 0);
    ck_assert_int_eq(ks_store_provision_add(ctx, st, "p1", T0 + 1), 0);
    ck_assert_int_eq(ks_store_provision_add(ctx, st, "p1", T0 + 50),
                     KRB5_KDB_INUSE);
    expect_msg(KRB5_KDB_INUSE, "'p1' is already provisioned");
    ck_assert_int_eq(ks_store_provision_get(ctx, st, "p1", &since), 0);
    ck_assert_int_eq(since, T0 + 1);
    ck_assert_int_eq(ks_store_provision_add(ctx, st, "bad id", T0), EINVAL);

    ck_assert_int_eq(ks_store_provision_list(ctx, st, &list, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].id, "p1");
    ck_assert_int_eq(list[0].since, T0 + 1);
    ck_assert_str_eq(list[1].id, "p2");
    ck_assert_int_eq(list[1].since, T0 + 2);
    free(list);

    ck_assert_int_eq(ks_store_provision_del(ctx, st, "p1"), 0);
    ck_assert_int_eq(ks_store_provision_del(ctx, st, "p1"), KRB5_KDB_NOENTRY);
    ck_assert_int_eq(ks_store_provision_get(ctx, st, "p1", &since),
                     KRB5_KDB_NOENTRY);
    ck_assert_int_eq(ks_store_provision_list(ctx, st, &list, &n), 0);
    ck_assert_uint_eq(n, 1);
    free(list);
    /* The staging table is separate. */
    ck_assert_int_eq(ks_store_stage_del(ctx, st, "p2"), KRB5_KDB_NOENTRY);
    ks_store_close(st);
}
END_TEST

/* --- persistence ------------------------------------------------------ */

START_TEST(test_persistence_across_processes_and_reopen)
{
    struct ks_store *st;
    struct ks_stage_entry e, got;
    unsigned char key[KS_STORE_REPLAY_KEY_LEN];
    time_t since;
    pid_t pid;
    int pass;

    replay_key(key, 0x11, 1);
    /* A writer process that exits; this process has opened nothing. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int bad = 0;

        e = entry_for("d1", "gold", T0);
        bad |= ks_store_open(ctx, tmpdir, 0, &st) != 0;
        bad |= ks_store_stage_put(ctx, st, &e, 0) != 0;
        bad |= ks_store_provision_add(ctx, st, "p1", T0 + 3) != 0;
        bad |= ks_store_replay_check_and_insert(ctx, st, key, T0 + 600,
                                                T0) != 0;
        _exit(bad);
    }
    expect_child_ok(pid);

    for (pass = 0; pass < 2; pass++) {
        st = open_ok();
        ck_assert_int_eq(ks_store_stage_get(ctx, st, "d1", &got), 0);
        ck_assert_str_eq(got.profile, "gold");
        ck_assert_mem_eq(got.spki, ed_spki, ed_spki_len);
        ks_stage_entry_free_contents(&got);
        ck_assert_int_eq(ks_store_provision_get(ctx, st, "p1", &since), 0);
        ck_assert_int_eq(since, T0 + 3);
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, key,
                                                          T0 + 600, T0 + 1),
                         KRB5KRB_AP_ERR_REPEAT);
        ks_store_close(st);
    }
}
END_TEST

/* --- corrupt records -------------------------------------------------- */

START_TEST(test_corrupt_stage_records)
{
    struct ks_store *st;
    struct ks_stage_entry got, *list;
    unsigned char buf[512];
    char id[16], longprofile[201];
    size_t n, len, i, ncases;
    const char *why[16], *reasons[16];
    int c = 0;

    /* A well-formed record written the same way: the control. */
    len = stage_record(buf, 1, "gold", ed_spki, ed_spki_len);
    raw_put(tmpdir, "staging", "ok", 2, buf, len);

#define CASE(text, reason) do {                                         \
        snprintf(id, sizeof(id), "bad%d", c);                           \
        why[c] = text;                                                  \
        reasons[c++] = reason;                                          \
        raw_put(tmpdir, "staging", id, strlen(id), buf, len);           \
    } while (0)
    len = 0;
    CASE("empty value", "truncated");
    len = stage_record(buf, 2, "gold", ed_spki, ed_spki_len);
    CASE("unknown version", "unknown record version");
    len = 5;
    CASE("truncated in the time", "truncated");
    len = stage_record(buf, 1, "gold", ed_spki, ed_spki_len) - 1;
    CASE("truncated in the key", "truncated");
    len = stage_record(buf, 1, "gold", ed_spki, ed_spki_len);
    buf[len++] = 0;
    CASE("trailing byte", "trailing bytes");
    len = stage_record(buf, 1, "gold", ed_spki, ed_spki_len);
    buf[10] = '!';
    CASE("bad profile character", "invalid profile name");
    len = stage_record(buf, 1, "abcdefghijklmnopqrstuvwxyz0123456", ed_spki,
                       ed_spki_len);
    CASE("profile of 33 bytes", "profile too long");
    memset(longprofile, 'p', 200);
    longprofile[200] = '\0';
    len = stage_record(buf, 1, longprofile, ed_spki, ed_spki_len);
    CASE("well-formed profile of 200 bytes", "profile too long");
    len = stage_record(buf, 1, "gold", ed_spki, ed_spki_len);
    buf[9] = 200;
    CASE("profile length beyond the end", "truncated");
    len = stage_record(buf, 1, "", ed_spki, 0);
    CASE("empty key", "not one DER SEQUENCE");
    len = stage_record(buf, 1, "", ed_spki, ed_spki_len);
    buf[10] = 0x7f;
    CASE("key length beyond the end", "truncated");
    len = stage_record(buf, 1, "", ed_spki, ed_spki_len);
    buf[12] = 0x04;
    CASE("key is not a SEQUENCE", "not one DER SEQUENCE");
    len = stage_record(buf, 1, "", ed_spki, ed_spki_len);
    buf[13] += 1;
    CASE("key DER length mismatch", "not one DER SEQUENCE");
#undef CASE
    ncases = (size_t)c;

    st = open_ok();
    ck_assert_int_eq(ks_store_stage_get(ctx, st, "ok", &got), 0);
    ck_assert_str_eq(got.profile, "gold");
    ck_assert_int_eq(got.added, T0);
    ck_assert_mem_eq(got.spki, ed_spki, ed_spki_len);
    ks_stage_entry_free_contents(&got);
    for (i = 0; i < ncases; i++) {
        snprintf(id, sizeof(id), "bad%zu", i);
        ck_assert_msg(ks_store_stage_get(ctx, st, id, &got) ==
                      KRB5_KDB_DB_CORRUPT, "case %s", why[i]);
        ck_assert_ptr_null(got.spki);
        ck_assert_msg(strstr(unit_errmsg(ctx, KRB5_KDB_DB_CORRUPT),
                             reasons[i]) != NULL, "case %s: '%s' lacks '%s'",
                      why[i], unit_errmsg(ctx, KRB5_KDB_DB_CORRUPT),
                      reasons[i]);
        expect_msg(KRB5_KDB_DB_CORRUPT, "corrupt staging record");
        expect_msg(KRB5_KDB_DB_CORRUPT, id);
        expect_msg(KRB5_KDB_DB_CORRUPT, ks_store_path(st));
    }
    ck_assert_int_eq(ks_store_stage_list(ctx, st, &list, &n),
                     KRB5_KDB_DB_CORRUPT);
    ck_assert_ptr_null(list);
    ck_assert_uint_eq(n, 0);
    /* A corrupt record can be removed; then the table lists again. */
    for (i = 0; i < ncases; i++) {
        snprintf(id, sizeof(id), "bad%zu", i);
        ck_assert_int_eq(ks_store_stage_del(ctx, st, id), 0);
    }
    ck_assert_int_eq(ks_store_stage_list(ctx, st, &list, &n), 0);
    ck_assert_uint_eq(n, 1);
    ks_stage_list_free(list, n);
    ks_store_close(st);
}
END_TEST

START_TEST(test_corrupt_stage_key)
{
    struct ks_store *st;
    struct ks_stage_entry *list;
    unsigned char buf[512];
    size_t len, n;

    len = stage_record(buf, 1, "", ed_spki, ed_spki_len);
    raw_put(tmpdir, "staging", "a/b", 3, buf, len);
    st = open_ok();
    ck_assert_int_eq(ks_store_stage_list(ctx, st, &list, &n),
                     KRB5_KDB_DB_CORRUPT);
    expect_msg(KRB5_KDB_DB_CORRUPT, "invalid device id key");
    ks_store_close(st);
}
END_TEST

START_TEST(test_corrupt_provisioned_and_replay_records)
{
    struct ks_store *st;
    struct ks_provision_entry *list;
    unsigned char rec[10] = { 1, 0, 0, 0, 0, 0x69, 0x55, 0xb9, 0x00, 0xff };
    unsigned char v2[9] = { 2, 0, 0, 0, 0, 0x69, 0x55, 0xb9, 0x00 };
    unsigned char key[KS_STORE_REPLAY_KEY_LEN], other[KS_STORE_REPLAY_KEY_LEN];
    unsigned char shortkey[3] = { 0, 0, 0 };
    time_t since;
    size_t n, removed;

    raw_put(tmpdir, "provisioned", "short", 5, rec, 8);
    raw_put(tmpdir, "provisioned", "long", 4, rec, 10);
    raw_put(tmpdir, "provisioned", "newer", 5, v2, 9);
    raw_put(tmpdir, "provisioned", "ok", 2, rec, 9);
    replay_key(key, 0x22, 1);
    replay_key(other, 0x22, 2);
    raw_put(tmpdir, "replay", key, sizeof(key), rec, 5);
    st = open_ok();
    ck_assert_int_eq(ks_store_provision_get(ctx, st, "ok", &since), 0);
    ck_assert_int_eq(since, 0x6955b900);
    ck_assert_int_eq(ks_store_provision_get(ctx, st, "short", &since),
                     KRB5_KDB_DB_CORRUPT);
    expect_msg(KRB5_KDB_DB_CORRUPT, "corrupt provisioned record for device "
               "'short'");
    expect_msg(KRB5_KDB_DB_CORRUPT, "truncated");
    ck_assert_int_eq(ks_store_provision_get(ctx, st, "long", &since),
                     KRB5_KDB_DB_CORRUPT);
    expect_msg(KRB5_KDB_DB_CORRUPT, "trailing bytes");
    ck_assert_int_eq(ks_store_provision_get(ctx, st, "newer", &since),
                     KRB5_KDB_DB_CORRUPT);
    expect_msg(KRB5_KDB_DB_CORRUPT, "version");
    ck_assert_int_eq(ks_store_provision_list(ctx, st, &list, &n),
                     KRB5_KDB_DB_CORRUPT);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, key, T0 + 60,
                                                      T0),
                     KRB5_KDB_DB_CORRUPT);
    expect_msg(KRB5_KDB_DB_CORRUPT, "corrupt replay record: truncated");
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, other,
                                                      T0 + 60, T0), 0);
    ks_store_close(st);

    /* A malformed expiry index entry sorts first and stops a purge. */
    unit_rmtree(tmpdir);
    ck_assert_int_eq(mkdir(tmpdir, 0700), 0);
    raw_put(tmpdir, "replay_expiry", shortkey, sizeof(shortkey), "", 0);
    st = open_ok();
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0, &removed),
                     KRB5_KDB_DB_CORRUPT);
    expect_msg(KRB5_KDB_DB_CORRUPT, "replay_expiry");
    ks_store_close(st);
}
END_TEST

/* --- replay ----------------------------------------------------------- */

START_TEST(test_replay_insert_duplicate_expired)
{
    struct ks_store *st = open_ok();
    unsigned char k1[KS_STORE_REPLAY_KEY_LEN], k2[KS_STORE_REPLAY_KEY_LEN];
    unsigned char filler[KS_STORE_REPLAY_KEY_LEN];
    unsigned int i;
    size_t removed;

    replay_key(k1, 0x33, 1);
    replay_key(k2, 0x33, 2);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k1, T0 + 300,
                                                      T0), 0);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k1, T0 + 300,
                                                      T0 + 10),
                     KRB5KRB_AP_ERR_REPEAT);
    expect_msg(KRB5KRB_AP_ERR_REPEAT, "replayed authenticator");
    /* A later expiry does not make a duplicate new. */
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k1, T0 + 900,
                                                      T0 + 299),
                     KRB5KRB_AP_ERR_REPEAT);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k2, T0 + 400,
                                                      T0), 0);
    /* Expired entries that the purge done by an insert removes first. */
    for (i = 0; i < KS_STORE_PURGE_ON_INSERT; i++) {
        replay_key(filler, 0x34, i);
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, filler,
                                                          T0 + 100, T0), 0);
    }
    /* At its expiry the entry is gone: the key is accepted again, and is
     * then a duplicate until the new expiry. */
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k1, T0 + 700,
                                                      T0 + 300), 0);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k1, T0 + 700,
                                                      T0 + 301),
                     KRB5KRB_AP_ERR_REPEAT);
    /* The replaced entry's old index entry went with it: nothing is left
     * to purge at the old expiry; then k2, then k1, at theirs. */
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 300, &removed), 0);
    ck_assert_uint_eq(removed, 0);
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 400, &removed), 0);
    ck_assert_uint_eq(removed, 1);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k1, T0 + 700,
                                                      T0 + 402),
                     KRB5KRB_AP_ERR_REPEAT);
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 700, &removed), 0);
    ck_assert_uint_eq(removed, 1);
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 9999, &removed), 0);
    ck_assert_uint_eq(removed, 0);
    /* An expiry not after now is a caller error. */
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k2, T0, T0),
                     EINVAL);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k2, T0 - 1,
                                                      T0), EINVAL);
    ks_store_close(st);
}
END_TEST

START_TEST(test_replay_purge)
{
    struct ks_store *st = open_ok();
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    size_t removed = 99;
    unsigned int i;

    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0, &removed), 0);
    ck_assert_uint_eq(removed, 0);
    for (i = 1; i <= 10; i++) {
        replay_key(k, 0x44, i);
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + i,
                                                          T0), 0);
    }
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 5, &removed), 0);
    ck_assert_uint_eq(removed, 5);
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 5, NULL), 0);
    /* Seen from an earlier "now", purged keys are new again and the
     * others still duplicates. */
    for (i = 1; i <= 10; i++) {
        replay_key(k, 0x44, i);
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k,
                                                          T0 + 100, T0),
                         i <= 5 ? 0 : KRB5KRB_AP_ERR_REPEAT);
    }
    ks_store_close(st);
}
END_TEST

START_TEST(test_replay_purge_is_bounded)
{
    struct ks_store *st = open_ok();
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    size_t removed;
    unsigned int i, extra = 10;

    for (i = 0; i < KS_STORE_PURGE_BATCH + extra; i++) {
        replay_key(k, 0x55, i);
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 1,
                                                          T0), 0);
    }
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 1, &removed), 0);
    ck_assert_uint_eq(removed, KS_STORE_PURGE_BATCH);
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 1, &removed), 0);
    ck_assert_uint_eq(removed, extra);
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 1, &removed), 0);
    ck_assert_uint_eq(removed, 0);
    ks_store_close(st);
}
END_TEST

START_TEST(test_replay_insert_purges_some)
{
    struct ks_store *st = open_ok();
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    size_t removed;
    unsigned int i;

    for (i = 0; i < 10; i++) {
        replay_key(k, 0x66, i);
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 1,
                                                          T0), 0);
    }
    replay_key(k, 0x67, 0);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 100,
                                                      T0 + 2), 0);
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 2, &removed), 0);
    ck_assert_uint_eq(removed, 10 - KS_STORE_PURGE_ON_INSERT);
    ks_store_close(st);
}
END_TEST

/* --- processes -------------------------------------------------------- */

/* Nonzero if /proc/locks shows a POSIX lock of process pid on the file
 * with inode ino (LMDB's lock of its lock file). */
static int
holds_posix_lock(pid_t pid, ino_t ino)
{
    FILE *f = fopen("/proc/locks", "r");
    char line[256], tail[32];
    unsigned long long inode;
    int lpid, found = 0;
    unsigned int maj, min;

    ck_assert_ptr_nonnull(f);
    snprintf(tail, sizeof(tail), "%llu", (unsigned long long)ino);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, " POSIX ") == NULL)
            continue;
        if (sscanf(strstr(line, " POSIX ") + 7, "%*s %*s %d %x:%x:%llu",
                   &lpid, &maj, &min, &inode) == 4 &&
            lpid == pid && inode == (unsigned long long)ino)
            found = 1;
    }
    fclose(f);
    return found;
}

START_TEST(test_handle_used_after_fork)
{
    struct ks_store *st = open_ok();
    unsigned char k1[KS_STORE_REPLAY_KEY_LEN], k2[KS_STORE_REPLAY_KEY_LEN];
    char *lock = unit_path(tmpdir, "store.mdb-lock");
    char *rlock = unit_path(tmpdir, "replay.mdb-lock");
    int ready[2], done[2];
    struct stat sb, rsb;
    time_t since;
    pid_t pid;
    char c;

    replay_key(k1, 0x77, 1);
    replay_key(k2, 0x77, 2);
    ck_assert_int_eq(ks_store_provision_add(ctx, st, "p1", T0), 0);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k1, T0 + 60,
                                                      T0), 0);
    ck_assert_int_eq(stat(lock, &sb), 0);
    ck_assert_int_eq(stat(rlock, &rsb), 0);
    ck_assert_msg(holds_posix_lock(getpid(), sb.st_ino),
                  "the opening process holds no lock on store.mdb-lock");
    ck_assert_msg(holds_posix_lock(getpid(), rsb.st_ino),
                  "the opening process holds no lock on replay.mdb-lock");
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The inherited handle, in a new process. */
        int bad = 0;

        bad |= ks_store_replay_check_and_insert(ctx, st, k1, T0 + 60, T0) !=
            KRB5KRB_AP_ERR_REPEAT;
        bad |= ks_store_replay_check_and_insert(ctx, st, k2, T0 + 60, T0) != 0;
        bad |= ks_store_provision_get(ctx, st, "p1", &since) != 0;
        bad |= ks_store_provision_add(ctx, st, "p2", T0) != 0;
        /* Stay alive while the parent looks at our locks. */
        if (write(ready[1], "r", 1) != 1 || read(done[0], &c, 1) < 0)
            bad = 1;
        ks_store_close(st);
        _exit(bad);
    }
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    /* Record locks are not inherited: a child using the parent's LMDB
     * environments would hold none, and a process opening the store later
     * could take it for unused and reset its lock table. */
    ck_assert_msg(holds_posix_lock(pid, rsb.st_ino),
                  "the child using the handle holds no lock on "
                  "replay.mdb-lock: it did not open replay.mdb again");
    ck_assert_msg(holds_posix_lock(pid, sb.st_ino),
                  "the child using the handle holds no lock on "
                  "store.mdb-lock: it did not open store.mdb again");
    ck_assert_int_eq(write(done[1], "d", 1), 1);
    expect_child_ok(pid);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k2, T0 + 60,
                                                      T0),
                     KRB5KRB_AP_ERR_REPEAT);
    ck_assert_int_eq(ks_store_provision_get(ctx, st, "p2", &since), 0);
    ck_assert_msg(holds_posix_lock(getpid(), rsb.st_ino),
                  "the parent lost its lock on replay.mdb-lock when the "
                  "child closed the handle");
    ks_store_close(st);
    free(lock);
    free(rlock);
}
END_TEST

/* The replay tables are in replay.mdb, not in store.mdb, and a purge
 * removes expired entries and their index entries from it. */
START_TEST(test_replay_tables_in_own_file)
{
    struct ks_store *st = open_ok();
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    size_t removed;
    unsigned int i;

    for (i = 0; i < 6; i++) {
        replay_key(k, 0x16, i);
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k,
                                                          T0 + 10 + i, T0),
                         0);
    }
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_REPLAY_FILE, "replay"), 6);
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_REPLAY_FILE,
                                 "replay_expiry"), 6);
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_FILE, "replay"), -1);
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_FILE, "replay_expiry"), -1);
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_FILE, "staging"), 0);
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_REPLAY_FILE, "staging"),
                     -1);
    ck_assert_int_eq(ks_store_replay_purge(ctx, st, T0 + 12, &removed), 0);
    ck_assert_uint_eq(removed, 3);
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_REPLAY_FILE, "replay"), 3);
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_REPLAY_FILE,
                                 "replay_expiry"), 3);
    /* An insert purges on the side, in the same file. */
    replay_key(k, 0x17, 0);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 100,
                                                      T0 + 50), 0);
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_REPLAY_FILE, "replay"), 1);
    ck_assert_int_eq(raw_entries(tmpdir, KS_STORE_REPLAY_FILE,
                                 "replay_expiry"), 1);
    ks_store_close(st);
}
END_TEST

/* Entries recorded through one handle are replays for a second handle of
 * this process and for a process that opened the store on its own while
 * this one has it open, both ways. */
START_TEST(test_replay_shared_between_handles_and_processes)
{
    struct ks_store *st = open_ok(), *st2 = open_ok();
    unsigned char k1[KS_STORE_REPLAY_KEY_LEN], k2[KS_STORE_REPLAY_KEY_LEN];
    int go[2], back[2];
    pid_t pid;
    char c;

    replay_key(k1, 0x18, 1);
    replay_key(k2, 0x18, 2);
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(back), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct ks_store *cst = NULL;
        int bad = 0;

        /* A fresh handle: this child never uses the inherited ones. */
        bad |= ks_store_open(ctx, tmpdir, 0, &cst) != 0;
        if (read(go[0], &c, 1) != 1)
            _exit(5);
        bad |= ks_store_replay_check_and_insert(ctx, cst, k1, T0 + 60,
                                                T0) != KRB5KRB_AP_ERR_REPEAT;
        bad |= ks_store_replay_check_and_insert(ctx, cst, k2, T0 + 60,
                                                T0) != 0;
        if (write(back[1], "b", 1) != 1)
            bad = 1;
        _exit(bad);
    }
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k1, T0 + 60,
                                                      T0), 0);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st2, k1, T0 + 60,
                                                      T0),
                     KRB5KRB_AP_ERR_REPEAT);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    ck_assert_int_eq(read(back[0], &c, 1), 1);
    expect_child_ok(pid);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st2, k2, T0 + 60,
                                                      T0),
                     KRB5KRB_AP_ERR_REPEAT);
    ks_store_close(st2);
    ks_store_close(st);
}
END_TEST

/* A writer killed with SIGKILL right after its insert, without closing
 * (so without the sync of ks_store_close()): the entry was committed to
 * the page cache and is a replay for the next process, as for a KDC
 * restarted after kill -9. */
START_TEST(test_replay_survives_kill9_and_reopen)
{
    struct ks_store *st;
    unsigned char k[KS_STORE_REPLAY_KEY_LEN], k0[KS_STORE_REPLAY_KEY_LEN];
    int fds[2], status, pass;
    pid_t pid;
    char c;

    replay_key(k0, 0x19, 0);
    replay_key(k, 0x19, 1);
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        st = NULL;
        /* Not the first insert of this process, which syncs. */
        if (ks_store_open(ctx, tmpdir, 0, &st) != 0 ||
            ks_store_replay_check_and_insert(ctx, st, k0, T0 + 600,
                                             T0) != 0 ||
            ks_store_replay_check_and_insert(ctx, st, k, T0 + 600, T0) != 0)
            _exit(1);
        if (write(fds[1], "w", 1) != 1)
            _exit(1);
        pause();
        _exit(2);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (pass = 0; pass < 2; pass++) {
        st = open_ok();
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k,
                                                          T0 + 600, T0 + 1),
                         KRB5KRB_AP_ERR_REPEAT);
        ks_store_close(st);
    }
}
END_TEST

/* Replay inserts are committed without a sync each: a burst of them costs
 * LMDB no fsync()/fdatasync() beyond one per KS_STORE_REPLAY_SYNC_SECS
 * (and the first of the process), while every provisioned-table write
 * is synced.  An insert after the interval syncs, and so does closing a
 * handle that wrote. */
START_TEST(test_replay_not_synced_per_insert)
{
    struct ks_store *st = open_ok();
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    struct timespec t0, t1, pause_ts = { KS_STORE_REPLAY_SYNC_SECS,
                                         50 * 1000 * 1000 };
    unsigned long before, first;
    double elapsed;
    char id[16];
    unsigned int i;

    before = nsyncs;
    for (i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "p%u", i);
        ck_assert_int_eq(ks_store_provision_add(ctx, st, id, T0), 0);
    }
    ck_assert_msg(nsyncs - before >= 10, "10 provisioned-table writes made "
                  "%lu syncs: the interposition does not count LMDB's "
                  "(or store.mdb is no longer synced)", nsyncs - before);

    replay_key(k, 0x1a, 0);
    before = nsyncs;
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0), 0);
    first = nsyncs - before;
    ck_assert_uint_ge(first, 1);
    before = nsyncs;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 1; i <= 200; i++) {
        replay_key(k, 0x1a, i);
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k,
                                                          T0 + 60, T0), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    elapsed = (double)(t1.tv_sec - t0.tv_sec) +
        (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(nsyncs - before <=
                  first * (1 + (unsigned long)(elapsed /
                                               KS_STORE_REPLAY_SYNC_SECS)),
                  "200 replay inserts in %.3f s made %lu syncs", elapsed,
                  nsyncs - before);

    /* After the interval, the next insert syncs. */
    nanosleep(&pause_ts, NULL);
    before = nsyncs;
    replay_key(k, 0x1b, 0);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0), 0);
    ck_assert_uint_ge(nsyncs - before, 1);
    replay_key(k, 0x1b, 1);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0), 0);
    before = nsyncs;
    ks_store_close(st);
    ck_assert_uint_ge(nsyncs - before, 1);
}
END_TEST

/* Child of the race: wait for the start signal on go, try every key in
 * order, write one byte per key to out ('1' won, '0' replay, 'E' error). */
static void
race_child(int go, int out, int reverse)
{
    struct ks_store *st = NULL;
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    char results[NRACEKEYS], c;
    krb5_error_code ret;
    unsigned int i, key;

    if (ks_store_open(ctx, tmpdir, 0, &st) != 0)
        _exit(3);
    if (read(go, &c, 1) < 0)    /* returns when the parent closes it */
        _exit(5);
    for (i = 0; i < NRACEKEYS; i++) {
        key = reverse ? NRACEKEYS - 1 - i : i;
        replay_key(k, 0x88, key);
        ret = ks_store_replay_check_and_insert(ctx, st, k, T0 + 600, T0);
        results[key] = (ret == 0) ? '1' :
            (ret == KRB5KRB_AP_ERR_REPEAT) ? '0' : 'E';
    }
    if (write(out, results, sizeof(results)) != (ssize_t)sizeof(results))
        _exit(4);
    _exit(0);
}

START_TEST(test_four_processes_race_on_replay_keys)
{
    struct ks_store *st = open_ok();
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    char results[NCHILDREN][NRACEKEYS];
    int go[2], out[NCHILDREN][2], wins[NRACEKEYS] = { 0 };
    pid_t pids[NCHILDREN];
    ssize_t got, r;
    int i, j;

    ck_assert_int_eq(pipe(go), 0);
    for (i = 0; i < NCHILDREN; i++) {
        ck_assert_int_eq(pipe(out[i]), 0);
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            close(go[1]);
            close(out[i][0]);
            /* Two children go forwards, two backwards: they meet. */
            race_child(go[0], out[i][1], i % 2);
        }
        close(out[i][1]);
    }
    close(go[0]);
    close(go[1]);               /* start */
    for (i = 0; i < NCHILDREN; i++) {
        for (got = 0; got < NRACEKEYS; got += r) {
            r = read(out[i][0], results[i] + got, NRACEKEYS - got);
            ck_assert_msg(r > 0, "child %d reported %zd bytes", i, got);
        }
        close(out[i][0]);
        expect_child_ok(pids[i]);
    }
    for (i = 0; i < NCHILDREN; i++) {
        for (j = 0; j < NRACEKEYS; j++) {
            ck_assert_msg(results[i][j] != 'E', "child %d key %d: error", i,
                          j);
            wins[j] += results[i][j] == '1';
        }
    }
    for (j = 0; j < NRACEKEYS; j++)
        ck_assert_msg(wins[j] == 1, "key %d won %d times", j, wins[j]);
    for (j = 0; j < NRACEKEYS; j++) {
        replay_key(k, 0x88, j);
        ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k,
                                                          T0 + 600, T0),
                         KRB5KRB_AP_ERR_REPEAT);
    }
    ks_store_close(st);
}
END_TEST

/* --- a full map ------------------------------------------------------- */

START_TEST(test_map_full)
{
    struct ks_store *st = NULL;
    unsigned char k[KS_STORE_REPLAY_KEY_LEN];
    struct ks_stage_entry e, got;
    krb5_error_code ret = 0;
    unsigned int i;

    ck_assert_int_eq(ks_store_open(ctx, tmpdir, 64 * 1024, &st), 0);
    e = entry_for("d1", "", T0);
    ck_assert_int_eq(ks_store_stage_put(ctx, st, &e, 0), 0);
    for (i = 0; i < 100000 && ret == 0; i++) {
        replay_key(k, 0x99, i);
        ret = ks_store_replay_check_and_insert(ctx, st, k, T0 + 60, T0);
    }
    ck_assert_int_eq(ret, ENOSPC);
    ck_assert_uint_gt(i, 10);
    expect_msg(ENOSPC, "replay cache");
    expect_msg(ENOSPC, "is full");
    expect_msg(ENOSPC, ks_store_replay_path(st));
    /* Committed data stay readable, and a failed write left no half. */
    ck_assert_int_eq(ks_store_stage_get(ctx, st, "d1", &got), 0);
    ks_stage_entry_free_contents(&got);
    replay_key(k, 0x99, 0);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0 + 1),
                     KRB5KRB_AP_ERR_REPEAT);
    replay_key(k, 0x99, i - 1);
    ck_assert_int_eq(ks_store_replay_check_and_insert(ctx, st, k, T0 + 60,
                                                      T0 + 1), ENOSPC);
    ks_store_close(st);
}
END_TEST

/* --- temporary keys -------------------------------------------------- */

#define PA "HTTP/a.example.test@EXAMPLE.TEST"
#define PB "HTTP/b.example.test@EXAMPLE.TEST"

/* A record for key id with expiry, whose blob is 40 bytes of id's low
 * byte (the store never looks inside). */
static struct ks_tempkey_record
tk_rec(uint32_t id, time_t expiry, unsigned char *blob)
{
    struct ks_tempkey_record r;

    memset(blob, (int)(id & 0xff), 40);
    memset(&r, 0, sizeof(r));
    r.key_id = id;
    r.registered = T0;
    r.expiry = expiry;
    r.blob = blob;
    r.blob_len = 40;
    return r;
}

/* LMDB's key size limit (a build constant, 511 by default). */
static int
lmdb_max_key_size(void)
{
    MDB_env *env;
    int n;

    ck_assert_int_eq(mdb_env_create(&env), 0);
    n = mdb_env_get_maxkeysize(env);
    mdb_env_close(env);
    ck_assert_int_gt(n, 3);
    return n;
}

/* Store key id for principal with expiry, asserting success. */
static void
tk_put_ok(struct ks_store *st, const char *principal, uint32_t id,
          time_t expiry, time_t now)
{
    unsigned char blob[40];
    struct ks_tempkey_record r = tk_rec(id, expiry, blob);
    krb5_error_code ret;

    ret = ks_store_tempkey_put(ctx, st, principal, &r, now);
    ck_assert_msg(ret == 0, "put %s %u: %s", principal, (unsigned)id,
                  unit_errmsg(ctx, ret));
}

/* The tempkeys key of (principal, id) into buf; return its length. */
static size_t
tk_key(unsigned char *buf, const char *principal, unsigned int id)
{
    size_t plen = strlen(principal);

    memcpy(buf, principal, plen);
    buf[plen] = 0;
    buf[plen + 1] = (unsigned char)(id >> 8);
    buf[plen + 2] = (unsigned char)id;
    return plen + 3;
}

/* A version-1 tempkeys value with expiry and a blen-byte blob into buf
 * (blob bytes 0x5a); return its length. */
static size_t
tk_value(unsigned char *buf, time_t expiry, size_t blen)
{
    size_t n = 0;
    int i;

    buf[n++] = 1;
    for (i = 7; i >= 0; i--)
        buf[n++] = (unsigned char)((uint64_t)T0 >> (8 * i));
    for (i = 7; i >= 0; i--)
        buf[n++] = (unsigned char)((uint64_t)expiry >> (8 * i));
    buf[n++] = (unsigned char)(blen >> 8);
    buf[n++] = (unsigned char)blen;
    memset(buf + n, 0x5a, blen);
    return n + blen;
}

/* A version-1 tempkey_meta value into buf (11 bytes). */
static size_t
tk_meta(unsigned char *buf, unsigned int max_id, time_t last_expiry)
{
    int i;

    buf[0] = 1;
    buf[1] = (unsigned char)(max_id >> 8);
    buf[2] = (unsigned char)max_id;
    for (i = 7; i >= 0; i--)
        buf[3 + (7 - i)] = (unsigned char)((uint64_t)last_expiry >> (8 * i));
    return 11;
}

START_TEST(test_tempkey_put_get)
{
    struct ks_store *st = open_ok();
    struct ks_tempkey_record *recs = (void *)1;
    unsigned char expect[40];
    size_t n = 99, expired = 99;
    uint32_t max_id = 0;
    time_t last = 0;
    pid_t pid;

    tk_put_ok(st, PA, 1, T0 + 7200, T0);
    tk_put_ok(st, PA, 2, T0 + 3600, T0 + 10);
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PA, T0 + 20, &recs, &n,
                                          &max_id, &last, &expired), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(expired, 0);
    ck_assert_uint_eq(max_id, 2);
    /* The latest expiry ever stored, not that of the highest id. */
    ck_assert_int_eq(last, T0 + 7200);
    ck_assert_uint_eq(recs[0].key_id, 1);
    ck_assert_uint_eq(recs[1].key_id, 2);
    ck_assert_int_eq(recs[0].registered, T0);
    ck_assert_int_eq(recs[0].expiry, T0 + 7200);
    ck_assert_int_eq(recs[1].expiry, T0 + 3600);
    ck_assert_uint_eq(recs[1].blob_len, 40);
    memset(expect, 2, sizeof(expect));
    ck_assert_mem_eq(recs[1].blob, expect, 40);
    ks_tempkey_records_free(recs, n);

    /* NULL outputs are fine. */
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PA, T0, &recs, &n, NULL,
                                          NULL, NULL), 0);
    ks_tempkey_records_free(recs, n);

    /* Never registered: NOENTRY, outputs cleared. */
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PB, T0, &recs, &n,
                                          &max_id, &last, &expired),
                     KRB5_KDB_NOENTRY);
    ck_assert_ptr_null(recs);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(max_id, 0);
    expect_msg(KRB5_KDB_NOENTRY, PB);
    /* A name that extends another is another principal. */
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PA "X", T0, &recs, &n,
                                          NULL, NULL, NULL),
                     KRB5_KDB_NOENTRY);
    ks_store_close(st);

    /* Another process sees the records. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int bad;

        st = NULL;
        bad = ks_store_open(ctx, tmpdir, 0, &st) != 0 ||
            ks_store_tempkey_get(ctx, st, PA, T0, &recs, &n, NULL, NULL,
                                 NULL) != 0 || n != 2;
        _exit(bad);
    }
    expect_child_ok(pid);
}
END_TEST

START_TEST(test_tempkey_rollback_refused)
{
    struct ks_store *st = open_ok();
    struct ks_tempkey_record r, *recs;
    unsigned char blob[40];
    size_t n;

    tk_put_ok(st, PA, 5, T0 + 100, T0);
    r = tk_rec(3, T0 + 100, blob);
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0),
                     KRB5_KDB_INUSE);
    expect_msg(KRB5_KDB_INUSE, "key id 3 is not above the highest "
               "registered key id 5 of " PA);
    /* The same id again is refused at the store (the backend decides
     * whether it is the same registration). */
    r = tk_rec(5, T0 + 100, blob);
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0),
                     KRB5_KDB_INUSE);
    expect_msg(KRB5_KDB_INUSE, "key id 5 is not above");
    /* Refused writes changed nothing. */
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PA, T0, &recs, &n, NULL,
                                          NULL, NULL), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(recs[0].key_id, 5);
    ck_assert_uint_eq(recs[0].blob[0], 5);
    ks_tempkey_records_free(recs, n);
    /* Other principals have their own ids. */
    tk_put_ok(st, PB, 1, T0 + 100, T0);
    tk_put_ok(st, PA, 6, T0 + 100, T0);
    tk_put_ok(st, PA, 65535, T0 + 100, T0);
    r = tk_rec(65535, T0 + 100, blob);
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0),
                     KRB5_KDB_INUSE);
    ks_store_close(st);
}
END_TEST

START_TEST(test_tempkey_put_refuses_invalid_arguments)
{
    struct ks_store *st = open_ok();
    struct ks_tempkey_record r, *recs;
    unsigned char blob[KS_STORE_TEMPKEY_BLOB_MAX + 1];
    char *longname;
    size_t n;
    int maxkey;

    memset(blob, 1, sizeof(blob));
    r = tk_rec(0, T0 + 100, blob);
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0), EINVAL);
    expect_msg(EINVAL, "out of range");
    r.key_id = 65536;
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0), EINVAL);
    expect_msg(EINVAL, "out of range");

    /* Expiry now or in the past. */
    r = tk_rec(1, T0, blob);
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0), EINVAL);
    expect_msg(EINVAL, "expires at 2026-01-01T00:00:00Z, not later than "
               "now (2026-01-01T00:00:00Z)");
    r.expiry = T0 - 3600;
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0), EINVAL);
    expect_msg(EINVAL, "not later than now");

    /* Empty and oversized blobs. */
    r = tk_rec(1, T0 + 100, blob);
    r.blob_len = 0;
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0), EINVAL);
    r.blob_len = KS_STORE_TEMPKEY_BLOB_MAX + 1;
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0), EINVAL);
    expect_msg(EINVAL, "1 to 4096 allowed");
    r.blob = NULL;
    r.blob_len = 10;
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0), EINVAL);
    r = tk_rec(1, T0 + 100, blob);
    r.blob_len = KS_STORE_TEMPKEY_BLOB_MAX;
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PB, &r, T0), 0);

    /* Principal names: empty, or too long for an LMDB key. */
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, "", &r, T0), EINVAL);
    longname = malloc(KS_STORE_PRINCIPAL_MAX + 2);
    ck_assert_ptr_nonnull(longname);
    memset(longname, 'x', KS_STORE_PRINCIPAL_MAX + 1);
    longname[KS_STORE_PRINCIPAL_MAX + 1] = '\0';
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, longname, &r, T0),
                     EINVAL);
    expect_msg(EINVAL, "cannot have temporary keys");
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, longname, T0, &recs, &n,
                                          NULL, NULL, NULL), EINVAL);
    /* The longest name that fits a key (NUL and key id: 3 more bytes)
     * works. */
    maxkey = lmdb_max_key_size();
    ck_assert_int_lt(maxkey, KS_STORE_PRINCIPAL_MAX);
    longname[maxkey - 3] = '\0';
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, longname, &r, T0), 0);
    longname[maxkey - 3] = 'x';
    longname[maxkey - 2] = '\0';
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, longname, &r, T0),
                     EINVAL);
    free(longname);

    /* Nothing of the refused writes is stored. */
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PA, T0, &recs, &n, NULL,
                                          NULL, NULL), KRB5_KDB_NOENTRY);
    ks_store_close(st);
}
END_TEST

START_TEST(test_tempkey_list)
{
    struct ks_store *st = open_ok();
    struct ks_tempkey_info *list = (void *)1;
    size_t n = 99;

    ck_assert_int_eq(ks_store_tempkey_list(ctx, st, NULL, &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    ks_tempkey_info_free(list, n);

    tk_put_ok(st, PB, 7, T0 + 50, T0);
    tk_put_ok(st, PA, 1, T0 + 10, T0);
    tk_put_ok(st, PA, 300, T0 + 100, T0);
    tk_put_ok(st, PA "X", 2, T0 + 100, T0);
    ck_assert_int_eq(ks_store_tempkey_list(ctx, st, NULL, &list, &n), 0);
    ck_assert_uint_eq(n, 4);
    /* Principal order, then key id order (300 after 1, not before). */
    ck_assert_str_eq(list[0].principal, PA);
    ck_assert_uint_eq(list[0].key_id, 1);
    ck_assert_int_eq(list[0].registered, T0);
    ck_assert_int_eq(list[0].expiry, T0 + 10);
    ck_assert_str_eq(list[1].principal, PA);
    ck_assert_uint_eq(list[1].key_id, 300);
    ck_assert_str_eq(list[2].principal, PA "X");
    ck_assert_str_eq(list[3].principal, PB);
    ck_assert_uint_eq(list[3].key_id, 7);
    ks_tempkey_info_free(list, n);

    /* Expired records are listed too; a principal's list is its own. */
    ck_assert_int_eq(ks_store_tempkey_list(ctx, st, PA, &list, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(list[0].key_id, 1);
    ck_assert_uint_eq(list[1].key_id, 300);
    ks_tempkey_info_free(list, n);
    ck_assert_int_eq(ks_store_tempkey_list(ctx, st, "nobody@EXAMPLE.TEST",
                                           &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    ks_tempkey_info_free(list, n);
    ks_store_close(st);
}
END_TEST

START_TEST(test_tempkey_purge_expired_keeps_meta)
{
    struct ks_store *st = open_ok();
    struct ks_tempkey_record r, *recs;
    struct ks_tempkey_info *list;
    unsigned char blob[40];
    unsigned long before;
    size_t n, expired, removed = 99;
    uint32_t max_id;
    time_t last;

    tk_put_ok(st, PA, 1, T0 + 10, T0);
    tk_put_ok(st, PA, 2, T0 + 100, T0);
    tk_put_ok(st, PB, 1, T0 + 20, T0);

    /* Nothing expired: nothing removed, and no synced commit. */
    before = nsyncs;
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, NULL, T0 + 5, &removed),
                     0);
    ck_assert_uint_eq(removed, 0);
    ck_assert_uint_eq(nsyncs, before);

    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PA, T0 + 50, &recs, &n,
                                          NULL, NULL, &expired), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(recs[0].key_id, 2);
    ck_assert_uint_eq(expired, 1);
    ks_tempkey_records_free(recs, n);

    /* Expiry equal to now is expired. */
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, NULL, T0 + 20,
                                            &removed), 0);
    ck_assert_uint_eq(removed, 2);
    ck_assert_int_eq(ks_store_tempkey_list(ctx, st, NULL, &list, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].principal, PA);
    ck_assert_uint_eq(list[0].key_id, 2);
    ks_tempkey_info_free(list, n);

    /* Everything expired: no records, but the meta remain... */
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, NULL, T0 + 200,
                                            &removed), 0);
    ck_assert_uint_eq(removed, 1);
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PB, T0 + 200, &recs, &n,
                                          &max_id, &last, &expired), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(recs);
    ck_assert_uint_eq(expired, 0);
    ck_assert_uint_eq(max_id, 1);
    ck_assert_int_eq(last, T0 + 20);
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PA, T0 + 200, &recs, &n,
                                          &max_id, &last, NULL), 0);
    ck_assert_uint_eq(max_id, 2);
    ck_assert_int_eq(last, T0 + 100);
    /* ... so key ids still cannot go back. */
    r = tk_rec(2, T0 + 300, blob);
    ck_assert_int_eq(ks_store_tempkey_put(ctx, st, PA, &r, T0 + 200),
                     KRB5_KDB_INUSE);
    tk_put_ok(st, PA, 3, T0 + 300, T0 + 200);
    ks_store_close(st);
}
END_TEST

/* A put removes the principal's expired records (only its own). */
START_TEST(test_tempkey_put_removes_expired)
{
    struct ks_store *st = open_ok();
    struct ks_tempkey_info *list;
    size_t n;

    tk_put_ok(st, PA, 1, T0 + 10, T0);
    tk_put_ok(st, PA, 2, T0 + 30, T0);
    tk_put_ok(st, PB, 1, T0 + 10, T0);
    tk_put_ok(st, PA, 3, T0 + 100, T0 + 20);
    ck_assert_int_eq(ks_store_tempkey_list(ctx, st, NULL, &list, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(list[0].key_id, 2);
    ck_assert_uint_eq(list[1].key_id, 3);
    ck_assert_str_eq(list[2].principal, PB);
    ks_tempkey_info_free(list, n);
    ks_store_close(st);
}
END_TEST

START_TEST(test_tempkey_purge_principal_drops_meta)
{
    struct ks_store *st = open_ok();
    struct ks_tempkey_record *recs;
    size_t n, removed = 99;

    tk_put_ok(st, PA, 4, T0 + 10, T0);
    tk_put_ok(st, PA, 5, T0 + 100, T0);
    tk_put_ok(st, PB, 9, T0 + 100, T0);
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, PA, T0, &removed), 0);
    ck_assert_uint_eq(removed, 2);
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PA, T0, &recs, &n, NULL,
                                          NULL, NULL), KRB5_KDB_NOENTRY);
    /* Key ids start over. */
    tk_put_ok(st, PA, 1, T0 + 100, T0);
    /* The other principal is untouched. */
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PB, T0, &recs, &n, NULL,
                                          NULL, NULL), 0);
    ck_assert_uint_eq(n, 1);
    ks_tempkey_records_free(recs, n);

    /* Meta without records (all purged as expired) is purged too. */
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, NULL, T0 + 500, NULL),
                     0);
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, PB, T0 + 500,
                                            &removed), 0);
    ck_assert_uint_eq(removed, 0);
    ck_assert_int_eq(ks_store_tempkey_get(ctx, st, PB, T0, &recs, &n, NULL,
                                          NULL, NULL), KRB5_KDB_NOENTRY);
    /* Nothing at all: NOENTRY naming the principal. */
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, PB, T0, &removed),
                     KRB5_KDB_NOENTRY);
    expect_msg(KRB5_KDB_NOENTRY, PB " has no temporary keys");
    ks_store_close(st);
}
END_TEST

START_TEST(test_tempkey_corrupt_records)
{
    static const struct {
        const char *principal;
        unsigned int id;
        int kind;               /* value: see below */
        const char *reason;
    } cases[] = {
        { "c0@R", 1, 0, "truncated" },          /* empty value */
        { "c1@R", 1, 1, "unknown record version" },
        { "c2@R", 1, 2, "truncated" },          /* blob cut short */
        { "c3@R", 1, 3, "trailing bytes" },
        { "c4@R", 1, 4, "wrapped key length out of range" },
        { "c5@R", 0, 5, "key id out of range" },
        { "c6@R", 3, 5, "above the principal's highest" },
        { "c7@R", 1, 6, "corrupt tempkey_meta record" },
    };
    struct ks_store *st;
    struct ks_tempkey_record *recs;
    struct ks_tempkey_info *list;
    unsigned char k[64], v[128], m[16];
    char want[96];
    size_t i, klen, vlen = 0, n, removed;

    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        klen = tk_key(k, cases[i].principal, cases[i].id);
        switch (cases[i].kind) {
        case 0:
            vlen = 0;
            break;
        case 1:
            vlen = tk_value(v, T0 + 100, 8);
            v[0] = 2;
            break;
        case 2:
            vlen = tk_value(v, T0 + 100, 8) - 1;
            break;
        case 3:
            vlen = tk_value(v, T0 + 100, 8);
            v[vlen++] = 0;
            break;
        case 4:
            vlen = tk_value(v, T0 + 100, 0);
            break;
        case 5:
        case 6:
            vlen = tk_value(v, T0 + 100, 8);
            break;
        }
        raw_put(tmpdir, "tempkeys", k, klen, v, vlen);
        raw_put(tmpdir, "tempkey_meta", cases[i].principal,
                strlen(cases[i].principal), m,
                cases[i].kind == 6 ? 5 : tk_meta(m, 2, T0 + 100));
    }
    /* A key that names no principal (no NUL before the id). */
    raw_put(tmpdir, "tempkeys", "zz@R12", 6, v, tk_value(v, T0 + 100, 8));

    st = open_ok();
    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        ck_assert_msg(ks_store_tempkey_get(ctx, st, cases[i].principal, T0,
                                           &recs, &n, NULL, NULL, NULL) ==
                      KRB5_KDB_DB_CORRUPT, "case %zu", i);
        ck_assert_ptr_null(recs);
        expect_msg(KRB5_KDB_DB_CORRUPT, cases[i].reason);
        expect_msg(KRB5_KDB_DB_CORRUPT, ks_store_path(st));
        snprintf(want, sizeof(want), "principal '%s'", cases[i].principal);
        expect_msg(KRB5_KDB_DB_CORRUPT, want);
        if (cases[i].kind != 6 && cases[i].id > 0) {
            snprintf(want, sizeof(want), "'%s' key id %u:",
                     cases[i].principal, cases[i].id);
            expect_msg(KRB5_KDB_DB_CORRUPT, want);
        }
        snprintf(want, sizeof(want), "kstateless tempkeys purge %s",
                 cases[i].principal);
        expect_msg(KRB5_KDB_DB_CORRUPT, want);
    }
    ck_assert_int_eq(ks_store_tempkey_list(ctx, st, NULL, &list, &n),
                     KRB5_KDB_DB_CORRUPT);
    ck_assert_ptr_null(list);
    ck_assert_int_eq(ks_store_tempkey_list(ctx, st, "zz@R12", &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, NULL, T0 + 500, NULL),
                     KRB5_KDB_DB_CORRUPT);
    /* Purging a principal removes even its corrupt records. */
    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, cases[i].principal,
                                                T0, &removed), 0);
        ck_assert_uint_eq(removed, 1);
        ck_assert_int_eq(ks_store_tempkey_get(ctx, st, cases[i].principal,
                                              T0, &recs, &n, NULL, NULL,
                                              NULL), KRB5_KDB_NOENTRY);
    }
    /* The key naming no principal is reported as such. */
    ck_assert_int_eq(ks_store_tempkey_list(ctx, st, NULL, &list, &n),
                     KRB5_KDB_DB_CORRUPT);
    expect_msg(KRB5_KDB_DB_CORRUPT, "corrupt tempkeys record: invalid key");
    ks_store_close(st);
}
END_TEST

/* Every temporary-key write is synced before it returns, as the staging
 * table's: a registered key survives a power loss. */
START_TEST(test_tempkey_writes_synced)
{
    struct ks_store *st = open_ok();
    unsigned long before;

    before = nsyncs;
    tk_put_ok(st, PA, 1, T0 + 10, T0);
    ck_assert_uint_ge(nsyncs - before, 1);
    before = nsyncs;
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, NULL, T0 + 10, NULL),
                     0);
    ck_assert_uint_ge(nsyncs - before, 1);
    before = nsyncs;
    ck_assert_int_eq(ks_store_tempkey_purge(ctx, st, PA, T0 + 10, NULL), 0);
    ck_assert_uint_ge(nsyncs - before, 1);
    ks_store_close(st);
}
END_TEST

/* Every store test, grouped by concern. */
static Suite *
store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;

    tc = tcase_create("open");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_open_creates_private_files);
    tcase_add_test(tc, test_open_missing_state_dir);
    tcase_add_test(tc, test_open_refuses_writable_state_dir);
    tcase_add_test(tc, test_open_refuses_group_writable_file);
    tcase_add_test(tc, test_open_refuses_world_writable_file);
    tcase_add_test(tc, test_open_refuses_group_writable_lock);
    tcase_add_test(tc, test_reopen_refuses_file_made_writable);
    tcase_add_test(tc, test_open_refuses_symlink);
    tcase_add_test(tc, test_open_refuses_non_store_file);
    tcase_add_test(tc, test_replay_file_created_on_first_use);
    tcase_add_test(tc, test_replay_refuses_group_writable_file);
    tcase_add_test(tc, test_replay_refuses_world_writable_lock);
    tcase_add_test(tc, test_replay_refuses_symlink);
    tcase_add_test(tc, test_replay_refuses_damaged_file);
    tcase_add_test(tc, test_open_refuses_group_readable_file);
    tcase_add_test(tc, test_open_refuses_world_readable_file);
    tcase_add_test(tc, test_open_refuses_readable_lock);
    tcase_add_test(tc, test_replay_file_may_be_readable);
    suite_add_tcase(s, tc);

    tc = tcase_create("tables");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stage_put_get_del_list);
    tcase_add_test(tc, test_stage_refuses_invalid_arguments);
    tcase_add_test(tc, test_provision_add_get_del_list);
    tcase_add_test(tc, test_persistence_across_processes_and_reopen);
    suite_add_tcase(s, tc);

    tc = tcase_create("corrupt");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_corrupt_stage_records);
    tcase_add_test(tc, test_corrupt_stage_key);
    tcase_add_test(tc, test_corrupt_provisioned_and_replay_records);
    suite_add_tcase(s, tc);

    tc = tcase_create("tempkeys");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tempkey_put_get);
    tcase_add_test(tc, test_tempkey_rollback_refused);
    tcase_add_test(tc, test_tempkey_put_refuses_invalid_arguments);
    tcase_add_test(tc, test_tempkey_list);
    tcase_add_test(tc, test_tempkey_purge_expired_keeps_meta);
    tcase_add_test(tc, test_tempkey_put_removes_expired);
    tcase_add_test(tc, test_tempkey_purge_principal_drops_meta);
    tcase_add_test(tc, test_tempkey_corrupt_records);
    tcase_add_test(tc, test_tempkey_writes_synced);
    suite_add_tcase(s, tc);

    tc = tcase_create("replay");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_replay_insert_duplicate_expired);
    tcase_add_test(tc, test_replay_purge);
    tcase_add_test(tc, test_replay_purge_is_bounded);
    tcase_add_test(tc, test_replay_insert_purges_some);
    tcase_add_test(tc, test_handle_used_after_fork);
    tcase_add_test(tc, test_replay_tables_in_own_file);
    tcase_add_test(tc, test_replay_shared_between_handles_and_processes);
    tcase_add_test(tc, test_replay_survives_kill9_and_reopen);
    tcase_add_test(tc, test_replay_not_synced_per_insert);
    tcase_add_test(tc, test_four_processes_race_on_replay_keys);
    tcase_add_test(tc, test_map_full);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(store_suite());
}
