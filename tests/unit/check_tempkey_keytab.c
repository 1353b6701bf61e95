/*
 * Unit tests of the server's keytab of temporary keys and its state file
 * (plugins/tempkey_keytab.h, plugins/tempkey_state.h): the next key id
 * (empty, other principals, exhaustion), updates (add, drop, keep other
 * principals, refuse a key id already present, an empty result, mode
 * 0600, no temporary files left, a reader of the old file unaffected),
 * the key ids and keys read back, the keytab names accepted, and the
 * state file (record, merge of a second acceptance, remove, malformed
 * lines named by line number); writers in several processes at once
 * lose nothing (the flock).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <check.h>
#include <krb5/krb5.h>

#include "tempkey_keytab.h"
#include "tempkey_state.h"
#include "unit_util.h"

#define PRINC "host/web.example.test@EXAMPLE.TEST"
#define OTHER "HTTP/web.example.test@EXAMPLE.TEST"
#define NCHILDREN 4

static char *dir, *ktpath, *ktname, *statepath;
static krb5_context ctx;
static krb5_principal princ, other;

static void
setup(void)
{
    dir = unit_mkdtemp(NULL);
    ctx = unit_context_from_profile(dir, "[libdefaults]\n"
                                    "    default_realm = EXAMPLE.TEST\n");
    ktpath = unit_path(dir, "server.keytab");
    ck_assert_int_ge(asprintf(&ktname, "FILE:%s", ktpath), 0);
    ck_assert_int_ge(asprintf(&statepath, "%s.tempkey", ktpath), 0);
    ck_assert_int_eq(krb5_parse_name(ctx, PRINC, &princ), 0);
    ck_assert_int_eq(krb5_parse_name(ctx, OTHER, &other), 0);
}

static void
teardown(void)
{
    krb5_free_principal(ctx, princ);
    krb5_free_principal(ctx, other);
    krb5_free_context(ctx);
    unit_rmtree(dir);
    free(dir);
    free(ktpath);
    free(ktname);
    free(statepath);
}

/* A key of enctype whose bytes are all fill (not secret: a test key). */
static krb5_keyblock
make_key(krb5_enctype enctype, unsigned char fill, unsigned char *buf)
{
    krb5_keyblock k;

    memset(&k, 0, sizeof(k));
    k.magic = KV5M_KEYBLOCK;
    k.enctype = enctype;
    k.length = (enctype == ENCTYPE_AES128_CTS_HMAC_SHA1_96) ? 16 : 32;
    memset(buf, fill, k.length);
    k.contents = buf;
    return k;
}

/* Add key id id of p with an aes256 and an aes128 key filled with fill. */
static void
add_id(krb5_const_principal p, uint32_t id, unsigned char fill)
{
    unsigned char b1[32], b2[32];
    krb5_keyblock keys[2];

    keys[0] = make_key(ENCTYPE_AES256_CTS_HMAC_SHA1_96, fill, b1);
    keys[1] = make_key(ENCTYPE_AES128_CTS_HMAC_SHA1_96, fill + 1, b2);
    ck_assert_int_eq(tk_keytab_update(ctx, ktname, p, keys, 2, id, NULL, 0),
                     0);
}

/* The key ids of p, as "1,2,3". */
static const char *
ids_of(krb5_const_principal p)
{
    static char buf[256];
    uint32_t *ids = NULL;
    size_t n = 0, i, off = 0;

    ck_assert_int_eq(tk_keytab_ids(ctx, ktname, p, &ids, &n), 0);
    buf[0] = '\0';
    for (i = 0; i < n; i++)
        off += snprintf(buf + off, sizeof(buf) - off, "%s%u", i ? "," : "",
                        (unsigned int)ids[i]);
    free(ids);
    return buf;
}

/* The names in dir, sorted, as "a b c". */
static const char *
dir_listing(void)
{
    static char buf[1024];
    struct dirent **names;
    size_t off = 0;
    int n, i;

    n = scandir(dir, &names, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") != 0 &&
            strcmp(names[i]->d_name, "..") != 0)
            off += snprintf(buf + off, sizeof(buf) - off, "%s%s",
                            off ? " " : "", names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return buf;
}

START_TEST(test_next_id)
{
    uint32_t next = 99;
    krb5_error_code ret;

    /* No keytab at all. */
    ck_assert_int_eq(tk_keytab_next_id(ctx, ktname, princ, &next), 0);
    ck_assert_uint_eq(next, 1);
    add_id(princ, 1, 0x11);
    ck_assert_int_eq(tk_keytab_next_id(ctx, ktname, princ, &next), 0);
    ck_assert_uint_eq(next, 2);
    /* Another principal's higher kvno does not count. */
    add_id(other, 40, 0x22);
    ck_assert_int_eq(tk_keytab_next_id(ctx, ktname, princ, &next), 0);
    ck_assert_uint_eq(next, 2);
    /* Any enctype counts, gaps do not matter: one more than the highest. */
    add_id(princ, 7, 0x33);
    ck_assert_int_eq(tk_keytab_next_id(ctx, ktname, princ, &next), 0);
    ck_assert_uint_eq(next, 8);
    ck_assert_int_eq(tk_keytab_next_id(ctx, ktname, other, &next), 0);
    ck_assert_uint_eq(next, 41);
    /* 65535 is the last key id: no next one. */
    add_id(princ, 65535, 0x44);
    ret = tk_keytab_next_id(ctx, ktname, princ, &next);
    ck_assert_int_eq(ret, EOVERFLOW);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "exhausted"));
}
END_TEST

START_TEST(test_update_add_drop)
{
    uint32_t drop[2];
    struct stat st;

    add_id(princ, 1, 0x10);
    add_id(princ, 2, 0x20);
    add_id(other, 1, 0x30);
    ck_assert_str_eq(ids_of(princ), "1,2");
    ck_assert_str_eq(ids_of(other), "1");

    /* Dropping princ's key id 1 keeps the other principal's key id 1. */
    drop[0] = 1;
    ck_assert_int_eq(tk_keytab_update(ctx, ktname, princ, NULL, 0, 0, drop,
                                      1), 0);
    ck_assert_str_eq(ids_of(princ), "2");
    ck_assert_str_eq(ids_of(other), "1");

    /* Add and drop in one update (a rotation's prune plus a new key). */
    {
        unsigned char b[32];
        krb5_keyblock k = make_key(ENCTYPE_AES256_CTS_HMAC_SHA1_96, 0x50, b);

        drop[0] = 2;
        ck_assert_int_eq(tk_keytab_update(ctx, ktname, princ, &k, 1, 3,
                                          drop, 1), 0);
    }
    ck_assert_str_eq(ids_of(princ), "3");
    ck_assert_str_eq(ids_of(other), "1");

    /* Dropping a key id that is not there changes nothing. */
    drop[0] = 9;
    ck_assert_int_eq(tk_keytab_update(ctx, ktname, princ, NULL, 0, 0, drop,
                                      1), 0);
    ck_assert_str_eq(ids_of(princ), "3");

    /* Mode 0600, and only the keytab and its lock file are left. */
    ck_assert_int_eq(stat(ktpath, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_str_eq(dir_listing(),
                     "krb5.conf server.keytab server.keytab.lock");

    /* Dropping every key leaves a valid, empty keytab. */
    drop[0] = 1;
    ck_assert_int_eq(tk_keytab_update(ctx, ktname, other, NULL, 0, 0, drop,
                                      1), 0);
    drop[0] = 3;
    ck_assert_int_eq(tk_keytab_update(ctx, ktname, princ, NULL, 0, 0, drop,
                                      1), 0);
    ck_assert_int_eq(stat(ktpath, &st), 0);
    ck_assert_str_eq(ids_of(princ), "");
    ck_assert_str_eq(ids_of(other), "");
}
END_TEST

START_TEST(test_update_creates_empty_keytab)
{
    krb5_keytab kt;
    krb5_kt_cursor cur;
    krb5_keytab_entry e;

    /* No keys to add, none to drop, no keytab: an empty keytab appears,
     * and libkrb5 reads it as one with no entries. */
    ck_assert_int_eq(tk_keytab_update(ctx, ktname, princ, NULL, 0, 0, NULL,
                                      0), 0);
    ck_assert_int_eq(access(ktpath, F_OK), 0);
    ck_assert_int_eq(krb5_kt_resolve(ctx, ktname, &kt), 0);
    ck_assert_int_eq(krb5_kt_start_seq_get(ctx, kt, &cur), 0);
    ck_assert_int_eq(krb5_kt_next_entry(ctx, kt, &e, &cur), KRB5_KT_END);
    krb5_kt_end_seq_get(ctx, kt, &cur);
    krb5_kt_close(ctx, kt);
}
END_TEST

START_TEST(test_update_refuses_existing_id)
{
    unsigned char b[32];
    krb5_keyblock k = make_key(ENCTYPE_AES256_CTS_HMAC_SHA1_96, 0x77, b);
    krb5_keyblock *keys = NULL;
    size_t n = 0;
    uint32_t drop = 4;
    krb5_error_code ret;

    add_id(princ, 4, 0x10);
    ret = tk_keytab_update(ctx, ktname, princ, &k, 1, 4, NULL, 0);
    ck_assert_int_eq(ret, EEXIST);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "key id 4"));
    /* The keytab still holds the first key id 4, both enctypes. */
    ck_assert_int_eq(tk_keytab_get_keys(ctx, ktname, princ, 4, &keys, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(keys[0].contents[0], 0x10);
    tk_keys_free(keys, n);
    /* Replacing it explicitly (drop and add in one update) works. */
    ck_assert_int_eq(tk_keytab_update(ctx, ktname, princ, &k, 1, 4, &drop,
                                      1), 0);
    ck_assert_int_eq(tk_keytab_get_keys(ctx, ktname, princ, 4, &keys, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(keys[0].contents[0], 0x77);
    tk_keys_free(keys, n);
    /* Key ids outside 1-65535 are refused. */
    ck_assert_int_eq(tk_keytab_update(ctx, ktname, princ, &k, 1, 0, NULL, 0),
                     EINVAL);
    ck_assert_int_eq(tk_keytab_update(ctx, ktname, princ, &k, 1, 65536,
                                      NULL, 0), EINVAL);
}
END_TEST

START_TEST(test_update_is_atomic_for_readers)
{
    unsigned char before[4096], again[4096];
    ssize_t n1, n2;
    struct stat st1, st2;
    int fd;

    add_id(princ, 1, 0x10);
    fd = open(ktpath, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    n1 = read(fd, before, sizeof(before));
    ck_assert_int_gt(n1, 0);
    ck_assert_int_eq(fstat(fd, &st1), 0);
    add_id(princ, 2, 0x20);
    /* The open file is the old keytab, unchanged: the new one was renamed
     * over the name, not written into the file. */
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    n2 = read(fd, again, sizeof(again));
    ck_assert_int_eq(n2, n1);
    ck_assert_mem_eq(again, before, (size_t)n1);
    ck_assert_int_eq(stat(ktpath, &st2), 0);
    ck_assert_uint_ne(st1.st_ino, st2.st_ino);
    close(fd);
    ck_assert_str_eq(ids_of(princ), "1,2");
}
END_TEST

START_TEST(test_ids_and_get_keys)
{
    krb5_keyblock *keys = NULL;
    size_t n = 0, i;
    krb5_error_code ret;
    uint32_t *ids = NULL;

    /* No keytab: no ids. */
    ck_assert_int_eq(tk_keytab_ids(ctx, ktname, princ, &ids, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(ids);

    add_id(princ, 3, 0x30);
    add_id(princ, 1, 0x10);
    add_id(other, 2, 0x20);
    add_id(princ, 2, 0xa0);
    /* Ascending, each once although each has two enctypes. */
    ck_assert_str_eq(ids_of(princ), "1,2,3");
    ck_assert_str_eq(ids_of(other), "2");

    ck_assert_int_eq(tk_keytab_get_keys(ctx, ktname, princ, 2, &keys, &n), 0);
    ck_assert_uint_eq(n, 2);
    for (i = 0; i < n; i++) {
        if (keys[i].enctype == ENCTYPE_AES256_CTS_HMAC_SHA1_96) {
            ck_assert_uint_eq(keys[i].length, 32);
            ck_assert_uint_eq(keys[i].contents[0], 0xa0);
            ck_assert_uint_eq(keys[i].contents[31], 0xa0);
        } else {
            ck_assert_int_eq(keys[i].enctype,
                             ENCTYPE_AES128_CTS_HMAC_SHA1_96);
            ck_assert_uint_eq(keys[i].length, 16);
            ck_assert_uint_eq(keys[i].contents[15], 0xa1);
        }
    }
    tk_keys_free(keys, n);

    /* Another principal's key id 2 is not princ's; key id 9 is nobody's. */
    ck_assert_int_eq(tk_keytab_get_keys(ctx, ktname, other, 2, &keys, &n), 0);
    ck_assert_uint_eq(keys[0].contents[0] & 0xfe, 0x20);
    tk_keys_free(keys, n);
    ret = tk_keytab_get_keys(ctx, ktname, princ, 9, &keys, &n);
    ck_assert_int_eq(ret, KRB5_KT_NOTFOUND);
    ck_assert_ptr_null(keys);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "key id 9"));
}
END_TEST

START_TEST(test_keytab_names)
{
    char *wr = NULL, *path = NULL;
    uint32_t next = 0;
    krb5_error_code ret;

    ck_assert_int_ge(asprintf(&wr, "WRFILE:%s", ktpath), 0);
    add_id(princ, 5, 0x10);
    /* FILE:, WRFILE: and a plain path name the same file. */
    ck_assert_int_eq(tk_keytab_next_id(ctx, wr, princ, &next), 0);
    ck_assert_uint_eq(next, 6);
    ck_assert_int_eq(tk_keytab_next_id(ctx, ktpath, princ, &next), 0);
    ck_assert_uint_eq(next, 6);
    ck_assert_int_eq(tk_keytab_path(ctx, wr, &path), 0);
    ck_assert_str_eq(path, ktpath);
    free(path);
    /* Keytabs that cannot be renamed over are refused by name. */
    ret = tk_keytab_next_id(ctx, "MEMORY:tk", princ, &next);
    ck_assert_int_eq(ret, EINVAL);
    ck_assert_ptr_nonnull(strstr(unit_errmsg(ctx, ret), "MEMORY:tk"));
    ck_assert_int_eq(tk_keytab_path(ctx, "FILE:", &path), EINVAL);
    free(wr);
}
END_TEST

/* --- state file --------------------------------------------------------- */

static struct tk_state_entry
entry(const char *p, uint32_t id, time_t reg, time_t exp, time_t renew)
{
    struct tk_state_entry e;

    e.principal = (char *)p;
    e.key_id = id;
    e.registered = reg;
    e.expiry = exp;
    e.renew_by = renew;
    return e;
}

/* The entry of (p, id) in the state file; fails the test when absent. */
static struct tk_state_entry
find(const char *p, uint32_t id)
{
    struct tk_state_entry *es = NULL, found;
    size_t n = 0, i;
    int hits = 0;

    ck_assert_int_eq(tk_state_load(ctx, ktname, &es, &n), 0);
    memset(&found, 0, sizeof(found));
    for (i = 0; i < n; i++) {
        if (strcmp(es[i].principal, p) == 0 && es[i].key_id == id) {
            found = es[i];
            hits++;
        }
    }
    tk_state_free(es, n);
    ck_assert_int_eq(hits, 1);
    found.principal = NULL;
    return found;
}

static size_t
state_count(void)
{
    struct tk_state_entry *es = NULL;
    size_t n = 0;

    ck_assert_int_eq(tk_state_load(ctx, ktname, &es, &n), 0);
    tk_state_free(es, n);
    return n;
}

START_TEST(test_state_record_and_load)
{
    struct tk_state_entry e;
    struct stat st;
    char buf[256];
    FILE *f;

    /* No state file: no entries. */
    ck_assert_uint_eq(state_count(), 0);
    e = entry(PRINC, 1, 1000, 87400, 44200);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    e = entry(OTHER, 1, 1100, 2000, 0);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    e = entry(PRINC, 2, 50000, 136400, 93200);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    ck_assert_uint_eq(state_count(), 3);
    e = find(PRINC, 1);
    ck_assert_int_eq(e.registered, 1000);
    ck_assert_int_eq(e.expiry, 87400);
    ck_assert_int_eq(e.renew_by, 44200);
    e = find(OTHER, 1);
    ck_assert_int_eq(e.expiry, 2000);
    ck_assert_int_eq(e.renew_by, 0);

    /* The documented line format, mode 0600, no temporary files left. */
    ck_assert_int_eq(stat(statepath, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    f = fopen(statepath, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
    ck_assert_str_eq(buf, OTHER " 1 1100 2000 0\n");
    ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
    ck_assert_str_eq(buf, PRINC " 1 1000 87400 44200\n");
    fclose(f);
    ck_assert_str_eq(dir_listing(), "krb5.conf server.keytab.tempkey "
                     "server.keytab.tempkey.lock");

    /* Names the format cannot hold are refused. */
    e = entry("host/a b@EXAMPLE.TEST", 1, 1, 2, 0);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), EINVAL);
    e = entry(PRINC, 0, 1, 2, 0);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), EINVAL);
    ck_assert_uint_eq(state_count(), 3);
}
END_TEST

START_TEST(test_state_record_keeps_earlier_renew_by)
{
    struct tk_state_entry e;

    e = entry(PRINC, 5, 1000, 90000, 40000);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    /* A second KDC accepts the same key and wishes a later renewal: the
     * earlier wish stays. */
    e = entry(PRINC, 5, 1010, 90010, 45000);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    e = find(PRINC, 5);
    ck_assert_int_eq(e.renew_by, 40000);
    /* The key counts as registered since the first acceptance and stays
     * until the last expiry. */
    ck_assert_int_eq(e.registered, 1000);
    ck_assert_int_eq(e.expiry, 90010);
    /* A third KDC wishes an earlier renewal: that one wins. */
    e = entry(PRINC, 5, 1020, 80000, 30000);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    e = find(PRINC, 5);
    ck_assert_int_eq(e.renew_by, 30000);
    ck_assert_int_eq(e.expiry, 90010);
    /* No wish (0) does not erase one. */
    e = entry(PRINC, 5, 1030, 80000, 0);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    e = find(PRINC, 5);
    ck_assert_int_eq(e.renew_by, 30000);
    ck_assert_uint_eq(state_count(), 1);
}
END_TEST

START_TEST(test_state_remove)
{
    struct tk_state_entry e;
    uint32_t ids[2] = { 1, 3 };

    /* Removing from a missing file is nothing, and creates no file. */
    ck_assert_int_eq(tk_state_remove(ctx, ktname, PRINC, ids, 2), 0);
    ck_assert_int_ne(access(statepath, F_OK), 0);

    e = entry(PRINC, 1, 1, 100, 50);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    e = entry(PRINC, 2, 2, 200, 100);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    e = entry(PRINC, 3, 3, 300, 150);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    e = entry(OTHER, 1, 4, 400, 200);
    ck_assert_int_eq(tk_state_record(ctx, ktname, &e), 0);
    ck_assert_int_eq(tk_state_remove(ctx, ktname, PRINC, ids, 2), 0);
    ck_assert_uint_eq(state_count(), 2);
    e = find(PRINC, 2);
    ck_assert_int_eq(e.expiry, 200);
    /* The other principal's key id 1 stays. */
    e = find(OTHER, 1);
    ck_assert_int_eq(e.expiry, 400);
}
END_TEST

/* Load a state file whose content is text; return the error. */
static krb5_error_code
load_text(const char *text)
{
    struct tk_state_entry *es = NULL;
    size_t n = 0;
    krb5_error_code ret;

    unit_write_file(statepath, text, strlen(text), 0600);
    ret = tk_state_load(ctx, ktname, &es, &n);
    tk_state_free(es, n);
    return ret;
}

START_TEST(test_state_malformed_lines)
{
    static const char *const bad[] = {
        PRINC " 1 2 3\n",                       /* 4 fields */
        PRINC " 1 2 3 4 5\n",                   /* 6 fields */
        PRINC " x 2 3 4\n",                     /* key id not a number */
        PRINC " 0 2 3 4\n",                     /* key id 0 */
        PRINC " 65536 2 3 4\n",                 /* key id beyond 16 bits */
        PRINC " 1 -2 3 4\n",                    /* negative time */
        PRINC " 1 2 3x 4\n",                    /* trailing garbage */
        PRINC " 1 2 3 99999999999999999999\n",  /* overflow */
        "   \n",                                /* blanks only */
    };
    const char *msg;
    char text[512];
    size_t i;
    krb5_error_code ret;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* A good first line, then the bad one: the message names line 2
         * and the file. */
        snprintf(text, sizeof(text), OTHER " 1 2 3 4\n%s", bad[i]);
        ret = load_text(text);
        ck_assert_msg(ret == EINVAL, "line '%s' gave %d", bad[i], (int)ret);
        msg = unit_errmsg(ctx, ret);
        ck_assert_msg(strstr(msg, statepath) != NULL, "%s", msg);
        ck_assert_msg(strstr(msg, "line 2:") != NULL, "%s", msg);
    }
    /* Well-formed lines, tabs and an empty last line are fine. */
    ck_assert_int_eq(load_text(PRINC "\t7 10 20 15\n\n"), 0);
    ck_assert_int_eq(find(PRINC, 7).renew_by, 15);
    /* A record into a malformed file refuses rather than losing lines. */
    unit_write_file(statepath, "garbage\n", 8, 0600);
    {
        struct tk_state_entry e = entry(PRINC, 1, 1, 2, 0);

        ck_assert_int_eq(tk_state_record(ctx, ktname, &e), EINVAL);
    }
}
END_TEST

/* NCHILDREN processes each add their own key id and state entry at the
 * same time: with the flock none is lost. */
START_TEST(test_concurrent_writers)
{
    pid_t pids[NCHILDREN];
    int i, status, j;
    struct tk_state_entry e;

    for (i = 0; i < NCHILDREN; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            unsigned char b[32];
            krb5_keyblock k;
            int rc = 0;

            for (j = 0; j < 5; j++) {
                k = make_key(ENCTYPE_AES256_CTS_HMAC_SHA1_96,
                             (unsigned char)i, b);
                e = entry(PRINC, (uint32_t)(10 * (i + 1) + j), i, 100, 50);
                if (tk_keytab_update(ctx, ktname, princ, &k, 1, e.key_id,
                                     NULL, 0) != 0 ||
                    tk_state_record(ctx, ktname, &e) != 0)
                    rc = 1;
            }
            _exit(rc);
        }
    }
    for (i = 0; i < NCHILDREN; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    ck_assert_uint_eq(state_count(), NCHILDREN * 5);
    ck_assert_str_eq(ids_of(princ), "10,11,12,13,14,20,21,22,23,24,30,31,"
                     "32,33,34,40,41,42,43,44");
}
END_TEST

static Suite *
tempkey_keytab_suite(void)
{
    Suite *s = suite_create("tempkey_keytab");
    TCase *tc;

    tc = tcase_create("keytab");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_next_id);
    tcase_add_test(tc, test_update_add_drop);
    tcase_add_test(tc, test_update_creates_empty_keytab);
    tcase_add_test(tc, test_update_refuses_existing_id);
    tcase_add_test(tc, test_update_is_atomic_for_readers);
    tcase_add_test(tc, test_ids_and_get_keys);
    tcase_add_test(tc, test_keytab_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_state_record_and_load);
    tcase_add_test(tc, test_state_record_keeps_earlier_renew_by);
    tcase_add_test(tc, test_state_remove);
    tcase_add_test(tc, test_state_malformed_lines);
    tcase_add_test(tc, test_concurrent_writers);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return unit_run(tempkey_keytab_suite());
}
