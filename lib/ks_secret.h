/*
 * The realm secret: a file of random bytes (64 when made by kstateless
 * init, at least KS_SECRET_MIN), mode 0600, from which every realm and
 * service key derives.
 */
#ifndef KS_SECRET_H
#define KS_SECRET_H

#include <stddef.h>
#include <krb5/krb5.h>

#include "ks_kdf.h"

#define KS_SECRET_MIN 32
#define KS_SECRET_NEW 64
#define KS_SECRET_MAX 4096

struct ks_secret {
    unsigned char *bytes;
    size_t len;
    char check_value[KS_CHECK_VALUE_LEN + 1];
};

/* Load and check the secret file at path.  Refuses (KSTL_BAD_SECRET, with a
 * message naming the cause and the fix) a missing file, one that is not a
 * regular file, one readable or writable by group or others, and one
 * shorter than KS_SECRET_MIN bytes. */
krb5_error_code ks_secret_load(krb5_context ctx, const char *path,
                               struct ks_secret **out);

/* Create a new secret of KS_SECRET_NEW random bytes at path, mode 0600,
 * atomically, never replacing an existing file (EEXIST with a message). */
krb5_error_code ks_secret_create(krb5_context ctx, const char *path);

/* Zero and free. */
void ks_secret_free(struct ks_secret *secret);

#endif
