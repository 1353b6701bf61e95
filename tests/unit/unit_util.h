/*
 * Helpers shared by the Check unit tests: temporary directories and files,
 * contexts built from an inline profile, and running a suite with Check's
 * usual summary.
 */
#ifndef UNIT_UTIL_H
#define UNIT_UTIL_H

#include <stddef.h>
#include <sys/types.h>
#include <check.h>
#include <krb5/krb5.h>

/* Create a fresh temporary directory in parent (NULL: $TMPDIR or /tmp)
 * and return its malloc'ed path; aborts on failure. */
char *unit_mkdtemp(const char *parent);

/* Remove dir and the regular files, symlinks and empty directories in it. */
void unit_rmtree(const char *dir);

/* Return a malloc'ed "dir/name". */
char *unit_path(const char *dir, const char *name);

/* Write len bytes to path (replacing it) and chmod it to mode. */
void unit_write_file(const char *path, const void *data, size_t len,
                     mode_t mode);

/* A krb5 context whose profile is exactly text (a krb5.conf), written to
 * dir/krb5.conf; the profile library rereads that file, so keep dir until
 * the context is freed.  Aborts on failure. */
krb5_context unit_context_from_profile(const char *dir, const char *text);

/* The context's error message for code, copied into a static buffer. */
const char *unit_errmsg(krb5_context ctx, krb5_error_code code);

/* Decode hex (no separators) into out, which has room for strlen(hex) / 2
 * bytes; returns the byte count.  Fails the test on a non-hex digit. */
size_t unit_unhex(const char *hex, unsigned char *out);

/* The same into a malloc'ed buffer (free it); *len_out is its length. */
unsigned char *unit_unhex_alloc(const char *hex, size_t *len_out);

/* Run every test of suite s and return the process exit status. */
int unit_run(Suite *s);

#endif
