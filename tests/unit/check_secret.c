/*
 * Unit tests of the realm secret file (lib/ks_secret.h): what
 * ks_secret_load() refuses (missing, not a regular file, group or other
 * permissions, too short, too long) with a message naming the cause, what
 * it accepts, and ks_secret_create() (64 bytes, mode 0600, never replaces).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>
#include <krb5/krb5.h>

#include "ks_secret.h"
#include "ks_kdf.h"
#include "ks_err.h"
#include "unit_util.h"

static char *basedir, *tmpdir;
static krb5_context ctx;
static unsigned char pattern[KS_SECRET_MAX + 1];

/* One directory for the whole run, made and removed by the parent process,
 * so that a failing test (whose teardown does not run) leaves nothing. */
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

/* A temporary directory, a context and the bytes secret files hold. */
static void
setup(void)
{
    size_t i;

    tmpdir = unit_mkdtemp(basedir);
    ck_assert_int_eq(krb5_init_context(&ctx), 0);
    for (i = 0; i < sizeof(pattern); i++)
        pattern[i] = (unsigned char)(i * 7 + 3);
}

/* Free the context and remove the directory. */
static void
teardown(void)
{
    krb5_free_context(ctx);
    unit_rmtree(tmpdir);
    free(tmpdir);
}

/* Expect ks_secret_load(path) to fail with KSTL_BAD_SECRET and a message
 * containing want and the path. */
static void
expect_refused(const char *path, const char *want)
{
    struct ks_secret *s = (struct ks_secret *)1;
    const char *msg;

    ck_assert_int_eq(ks_secret_load(ctx, path, &s), KSTL_BAD_SECRET);
    ck_assert_ptr_null(s);
    msg = unit_errmsg(ctx, KSTL_BAD_SECRET);
    ck_assert_msg(strstr(msg, want) != NULL, "message '%s' lacks '%s'", msg,
                  want);
    ck_assert_msg(strstr(msg, path) != NULL, "message '%s' lacks the path",
                  msg);
}

/* Write len pattern bytes with mode to name in tmpdir; return the path. */
static char *
secret_file(const char *name, size_t len, mode_t mode)
{
    char *path = unit_path(tmpdir, name);

    unit_write_file(path, pattern, len, mode);
    return path;
}

/* Expect a secret of len pattern bytes to load, with the right check
 * value. */
static void
expect_loaded(size_t len)
{
    struct ks_secret *s = NULL;
    char cv[KS_CHECK_VALUE_LEN + 1];
    char *path = secret_file("ok.secret", len, 0600);
    krb5_error_code ret;

    ret = ks_secret_load(ctx, path, &s);
    ck_assert_msg(ret == 0, "%zu bytes refused: %s", len,
                  unit_errmsg(ctx, ret));
    ck_assert_uint_eq(s->len, len);
    ck_assert_mem_eq(s->bytes, pattern, len);
    ck_assert_int_eq(ks_check_value(pattern, len, cv), 0);
    ck_assert_str_eq(s->check_value, cv);
    ks_secret_free(s);
    free(path);
}

START_TEST(test_missing)
{
    char *path = unit_path(tmpdir, "absent.secret");

    expect_refused(path, "No such file");
    expect_refused(path, "kstateless init");
    free(path);
}
END_TEST

START_TEST(test_too_short)
{
    char *path = secret_file("short.secret", 31, 0600);

    expect_refused(path, "holds 31 bytes");
    free(path);
    path = secret_file("empty.secret", 0, 0600);
    expect_refused(path, "holds 0 bytes");
    free(path);
}
END_TEST

START_TEST(test_too_long)
{
    char *path = secret_file("long.secret", KS_SECRET_MAX + 1, 0600);

    expect_refused(path, "bytes; it must hold 32 to 4096");
    free(path);
}
END_TEST

START_TEST(test_group_or_other_access)
{
    static const mode_t modes[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0644,
                                    0660, 0666, 0400 | 040 };
    char *path, want[64];
    size_t i;

    for (i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
        path = secret_file("weak.secret", 64, modes[i]);
        snprintf(want, sizeof(want), "(mode %03o); chmod 600", modes[i]);
        expect_refused(path, want);
        free(path);
    }
}
END_TEST

START_TEST(test_owner_only_modes)
{
    struct ks_secret *s = NULL;
    char *path = secret_file("ro.secret", 64, 0400);

    /* 0400 has no group or other bits: fine. */
    ck_assert_int_eq(ks_secret_load(ctx, path, &s), 0);
    ks_secret_free(s);
    free(path);
}
END_TEST

START_TEST(test_not_regular)
{
    char *dir = unit_path(tmpdir, "dir.secret");

    ck_assert_int_eq(mkdir(dir, 0700), 0);
    expect_refused(dir, "not a regular file");
    expect_refused("/dev/null", "not a regular file");
    free(dir);
}
END_TEST

START_TEST(test_fifo_refused)
{
    char *path = unit_path(tmpdir, "fifo.secret");

    /* Opening a FIFO for reading must not wait for a writer (the test
     * times out if it does). */
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    expect_refused(path, "not a regular file");
    free(path);
}
END_TEST

START_TEST(test_symlink_refused)
{
    char *target = secret_file("target.secret", 64, 0600);
    char *link_path = unit_path(tmpdir, "link.secret");

    ck_assert_int_eq(symlink(target, link_path), 0);
    expect_refused(link_path, "is a symbolic link");
    free(target);
    free(link_path);
}
END_TEST

START_TEST(test_accepted_sizes)
{
    expect_loaded(32);
    expect_loaded(64);
    expect_loaded(KS_SECRET_MAX);
}
END_TEST

START_TEST(test_create)
{
    char *path = unit_path(tmpdir, "new.secret");
    struct ks_secret *s = NULL;
    struct stat st;
    char cv[KS_CHECK_VALUE_LEN + 1];
    unsigned char before[KS_SECRET_NEW];
    FILE *f;

    umask(022);
    ck_assert_int_eq(ks_secret_create(ctx, path), 0);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(st.st_size, 64);
    ck_assert_int_eq(st.st_nlink, 1);   /* the temporary link is gone */

    ck_assert_int_eq(ks_secret_load(ctx, path, &s), 0);
    ck_assert_uint_eq(s->len, KS_SECRET_NEW);
    ck_assert_int_eq(ks_check_value(s->bytes, s->len, cv), 0);
    ck_assert_str_eq(s->check_value, cv);
    memcpy(before, s->bytes, sizeof(before));
    ks_secret_free(s);

    /* Never replaces: EEXIST, file unchanged. */
    ck_assert_int_eq(ks_secret_create(ctx, path), EEXIST);
    ck_assert_msg(strstr(unit_errmsg(ctx, EEXIST), "already exists") != NULL,
                  "message: %s", unit_errmsg(ctx, EEXIST));
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    {
        unsigned char now[KS_SECRET_NEW + 1];

        ck_assert_uint_eq(fread(now, 1, sizeof(now), f), KS_SECRET_NEW);
        ck_assert_mem_eq(now, before, KS_SECRET_NEW);
    }
    fclose(f);
    free(path);
}
END_TEST

START_TEST(test_create_refuses_existing_file)
{
    char *path = secret_file("old.secret", 5, 0644);
    struct stat st;

    ck_assert_int_eq(ks_secret_create(ctx, path), EEXIST);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 5);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    free(path);
}
END_TEST

START_TEST(test_create_refuses_dangling_symlink)
{
    char *link_path = unit_path(tmpdir, "dangling.secret");
    char *target = unit_path(tmpdir, "elsewhere");

    /* link() does not follow a dangling symlink either. */
    ck_assert_int_eq(symlink(target, link_path), 0);
    ck_assert_int_ne(ks_secret_create(ctx, link_path), 0);
    ck_assert_int_ne(access(target, F_OK), 0);
    free(link_path);
    free(target);
}
END_TEST

START_TEST(test_create_two_differ)
{
    char *a = unit_path(tmpdir, "a.secret"), *b = unit_path(tmpdir, "b.secret");
    struct ks_secret *sa = NULL, *sb = NULL;

    ck_assert_int_eq(ks_secret_create(ctx, a), 0);
    ck_assert_int_eq(ks_secret_create(ctx, b), 0);
    ck_assert_int_eq(ks_secret_load(ctx, a, &sa), 0);
    ck_assert_int_eq(ks_secret_load(ctx, b, &sb), 0);
    ck_assert_mem_ne(sa->bytes, sb->bytes, KS_SECRET_NEW);
    ck_assert_str_ne(sa->check_value, sb->check_value);
    ks_secret_free(sa);
    ks_secret_free(sb);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_create_missing_directory)
{
    char *path = unit_path(tmpdir, "no/such/dir/x.secret");

    ck_assert_int_eq(ks_secret_create(ctx, path), ENOENT);
    ck_assert_msg(strstr(unit_errmsg(ctx, ENOENT), "no/such/dir") != NULL,
                  "message: %s", unit_errmsg(ctx, ENOENT));
    free(path);
}
END_TEST

/* Every secret test, grouped by concern. */
static Suite *
secret_suite(void)
{
    Suite *s = suite_create("secret");
    TCase *tc;

    tc = tcase_create("load");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_missing);
    tcase_add_test(tc, test_too_short);
    tcase_add_test(tc, test_too_long);
    tcase_add_test(tc, test_group_or_other_access);
    tcase_add_test(tc, test_owner_only_modes);
    tcase_add_test(tc, test_not_regular);
    tcase_add_test(tc, test_fifo_refused);
    tcase_add_test(tc, test_symlink_refused);
    tcase_add_test(tc, test_accepted_sizes);
    suite_add_tcase(s, tc);

    tc = tcase_create("create");
    tcase_add_unchecked_fixture(tc, setup_basedir, teardown_basedir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_create_refuses_existing_file);
    tcase_add_test(tc, test_create_refuses_dangling_symlink);
    tcase_add_test(tc, test_create_two_differ);
    tcase_add_test(tc, test_create_missing_directory);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(secret_suite());
}
