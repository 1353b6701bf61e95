/* Loading and creating the realm secret file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "ks_secret.h"
#include "ks_err.h"
#include "ks_util.h"

void
ks_secret_free(struct ks_secret *secret)
{
    if (secret == NULL)
        return;
    ks_zfree(secret->bytes, secret->len);
    ks_zfree(secret, sizeof(*secret));
}

krb5_error_code
ks_secret_load(krb5_context ctx, const char *path, struct ks_secret **out)
{
    struct ks_secret *secret = NULL;
    unsigned char *buf = NULL;
    struct stat st;
    size_t len = 0;
    ssize_t n;
    krb5_error_code ret;
    int fd;

    *out = NULL;
    /* O_NONBLOCK: a FIFO must not block the KDC; it is refused below. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP) {
        ret = KSTL_BAD_SECRET;
        krb5_set_error_message(ctx, ret, "stateless: secret_file %s is a "
                               "symbolic link; point secret_file at the file "
                               "itself", path);
        return ret;
    }
    if (fd < 0) {
        ret = KSTL_BAD_SECRET;
        krb5_set_error_message(ctx, ret, "stateless: cannot open secret_file "
                               "%s: %s%s", path, strerror(errno),
                               errno == ENOENT ? " (create it with "
                               "'kstateless init', or copy it from another "
                               "KDC of the realm)" : "");
        return ret;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ret = KSTL_BAD_SECRET;
        krb5_set_error_message(ctx, ret, "stateless: secret_file %s is not a "
                               "regular file", path);
        goto cleanup;
    }
    if ((st.st_mode & 077) != 0) {
        ret = KSTL_BAD_SECRET;
        krb5_set_error_message(ctx, ret, "stateless: secret_file %s is "
                               "accessible by group or others (mode %03o); "
                               "chmod 600 it", path,
                               (unsigned)(st.st_mode & 0777));
        goto cleanup;
    }
    buf = malloc(KS_SECRET_MAX + 1);
    if (buf == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    while (len <= KS_SECRET_MAX) {
        n = read(fd, buf + len, KS_SECRET_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret = KSTL_BAD_SECRET;
            krb5_set_error_message(ctx, ret, "stateless: reading secret_file "
                                   "%s: %s", path, strerror(errno));
            goto cleanup;
        }
        if (n == 0)
            break;
        len += n;
    }
    if (len < KS_SECRET_MIN || len > KS_SECRET_MAX) {
        ret = KSTL_BAD_SECRET;
        krb5_set_error_message(ctx, ret, "stateless: secret_file %s holds %zu "
                               "bytes; it must hold %d to %d (make a new one "
                               "with 'kstateless init')", path, len,
                               KS_SECRET_MIN, KS_SECRET_MAX);
        goto cleanup;
    }
    secret = calloc(1, sizeof(*secret));
    if (secret == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    secret->bytes = malloc(len);
    if (secret->bytes == NULL) {
        ret = ENOMEM;
        goto cleanup;
    }
    memcpy(secret->bytes, buf, len);
    secret->len = len;
    ret = ks_check_value(secret->bytes, secret->len, secret->check_value);
    if (ret)
        goto cleanup;
    *out = secret;
    secret = NULL;

cleanup:
    ks_zfree(buf, KS_SECRET_MAX + 1);
    ks_secret_free(secret);
    close(fd);
    return ret;
}

krb5_error_code
ks_secret_create(krb5_context ctx, const char *path)
{
    unsigned char bytes[KS_SECRET_NEW];
    char *tmp = NULL, *dircopy = NULL;
    krb5_error_code ret = 0;
    int fd = -1;

    if (access(path, F_OK) == 0) {
        krb5_set_error_message(ctx, EEXIST, "secret_file %s already exists; "
                               "not replacing it (every KDC of the realm "
                               "must keep the same secret)", path);
        return EEXIST;
    }
    if (RAND_priv_bytes(bytes, sizeof(bytes)) != 1) {
        krb5_set_error_message(ctx, KSTL_BAD_SECRET, "the OS random number "
                               "generator failed");
        return KSTL_BAD_SECRET;
    }
    if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
        tmp = NULL;
        ret = ENOMEM;
        goto cleanup;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        ret = errno;
        dircopy = strdup(path);
        krb5_set_error_message(ctx, ret, "cannot create a file in %s: %s",
                               dircopy ? dirname(dircopy) : path,
                               strerror(ret));
        free(tmp);
        tmp = NULL;
        goto cleanup;
    }
    if (fchmod(fd, 0600) != 0 ||
        write(fd, bytes, sizeof(bytes)) != (ssize_t)sizeof(bytes) ||
        fsync(fd) != 0) {
        ret = errno ? errno : EIO;
        krb5_set_error_message(ctx, ret, "writing %s: %s", tmp,
                               strerror(ret));
        goto cleanup;
    }
    /* link() refuses to replace an existing file: atomic, never clobbers. */
    if (link(tmp, path) != 0) {
        ret = errno;
        if (ret == EEXIST) {
            krb5_set_error_message(ctx, ret, "secret_file %s already exists; "
                                   "not replacing it", path);
        } else {
            krb5_set_error_message(ctx, ret, "creating %s: %s", path,
                                   strerror(ret));
        }
        goto cleanup;
    }
    /* Make the new name durable too. */
    dircopy = strdup(path);
    if (dircopy != NULL) {
        int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }

cleanup:
    ks_zero(bytes, sizeof(bytes));
    if (fd >= 0)
        close(fd);
    if (tmp != NULL) {
        unlink(tmp);
        free(tmp);
    }
    free(dircopy);
    return ret;
}
