/* Helpers shared by the Check unit tests; see unit_util.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <profile.h>

#include "unit_util.h"

/* Stop the test program: the environment, not the code under test, broke. */
static void
fatal(const char *what)
{
    fprintf(stderr, "unit test setup: %s: %s\n", what, strerror(errno));
    abort();
}

char *
unit_mkdtemp(const char *parent)
{
    const char *tmp = (parent != NULL) ? parent : getenv("TMPDIR");
    char *dir;

    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    if (asprintf(&dir, "%s/ks-unit.XXXXXX", tmp) < 0)
        fatal("asprintf");
    if (mkdtemp(dir) == NULL)
        fatal(dir);
    return dir;
}

void
unit_rmtree(const char *dir)
{
    DIR *d;
    struct dirent *e;
    char *p;
    struct stat st;

    d = opendir(dir);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = unit_path(dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            unit_rmtree(p);
        else
            unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

char *
unit_path(const char *dir, const char *name)
{
    char *p;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        fatal("asprintf");
    return p;
}

void
unit_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        fatal(path);
    if (len > 0 && write(fd, data, len) != (ssize_t)len)
        fatal(path);
    if (fchmod(fd, mode) != 0 || close(fd) != 0)
        fatal(path);
}

krb5_context
unit_context_from_profile(const char *dir, const char *text)
{
    char *path;
    profile_t profile;
    krb5_context ctx;

    path = unit_path(dir, "krb5.conf");
    unit_write_file(path, text, strlen(text), 0600);
    if (profile_init_path(path, &profile) != 0)
        fatal("profile_init_path");
    if (krb5_init_context_profile(profile, 0, &ctx) != 0)
        fatal("krb5_init_context_profile");
    profile_release(profile);
    free(path);
    return ctx;
}

const char *
unit_errmsg(krb5_context ctx, krb5_error_code code)
{
    static char buf[1024];
    const char *msg;

    msg = krb5_get_error_message(ctx, code);
    snprintf(buf, sizeof(buf), "%s", msg);
    krb5_free_error_message(ctx, msg);
    return buf;
}

int
unit_run(Suite *s)
{
    SRunner *sr;
    int failed;

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

size_t
unit_unhex(const char *hex, unsigned char *out)
{
    size_t i, n = strlen(hex) / 2;
    unsigned int b;

    for (i = 0; i < n; i++) {
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (unsigned char)b;
    }
    return n;
}

unsigned char *
unit_unhex_alloc(const char *hex, size_t *len_out)
{
    size_t n = strlen(hex) / 2;
    unsigned char *out = malloc(n ? n : 1);

    ck_assert_ptr_nonnull(out);
    *len_out = unit_unhex(hex, out);
    return out;
}
