/*
 * kstateless stage add|del|list: the staging table of device public keys
 * (the "staging" table of the store in state_dir, see ks_store.h).
 *
 *   stage add ID --pubkey FILE [--profile NAME] [--replace]
 *   stage del ID
 *   stage list
 *
 * FILE holds a PEM public key ("PUBLIC KEY" or "RSA PUBLIC KEY") or a PEM
 * certificate, whose public key is taken; only the first PEM block counts.
 * Accepted keys: Ed25519, EC P-256, RSA of 2048 to 16384 bits.  A file
 * holding a private key is refused: private keys never go into the table.
 * list prints one line per device:
 *   ID TYPE SHA256-FINGERPRINT PROFILE ADDED
 * where TYPE is Ed25519, EC-P256 or RSA-BITS, the fingerprint is the
 * SHA-256 of the DER SubjectPublicKeyInfo in hex, PROFILE is "-" when
 * there is none and ADDED is a UTC time (YYYY-MM-DDTHH:MM:SSZ).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kstateless.h"
#include "ks_config.h"
#include "ks_names.h"
#include "ks_store.h"
#include "ks_util.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384      /* OpenSSL's limit for verification */

static const char stage_usage[] =
    "usage: kstateless stage add DEVICE-ID --pubkey FILE [--profile NAME] "
    "[--replace]\n"
    "       kstateless stage del DEVICE-ID\n"
    "       kstateless stage list\n";

/* Open the store of the realm's state_dir. */
static krb5_error_code
open_store(struct kst_ctx *kc, struct ks_store **out)
{
    struct ks_config *cfg = NULL;
    krb5_error_code ret;

    ret = ks_config_load(kc->kctx, kc->section, &cfg);
    if (!ret)
        ret = ks_store_open(kc->kctx, cfg->state_dir, 0, out);
    if (ret)
        kst_error(kc, ret, "");
    ks_config_free(cfg);
    return ret;
}

/* Describe pkey as "Ed25519", "EC-P256", "RSA-BITS" or, for refused keys,
 * their type (and curve or size) into buf; nonzero if it is accepted. */
static int
describe_key(EVP_PKEY *pkey, char *buf, size_t len)
{
    char group[40];
    int bits;

    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        snprintf(buf, len, "Ed25519");
        return 1;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1)
            snprintf(group, sizeof(group), "with explicit parameters");
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            snprintf(buf, len, "EC-P256");
            return 1;
        }
        snprintf(buf, len, "EC %s", group);
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        bits = EVP_PKEY_get_bits(pkey);
        snprintf(buf, len, "RSA-%d", bits);
        return bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS;
    }
    snprintf(buf, len, "%s", EVP_PKEY_get0_type_name(pkey) != NULL ?
             EVP_PKEY_get0_type_name(pkey) : "unknown");
    return 0;
}

/* Set buf to the type of the DER SubjectPublicKeyInfo spki ("invalid" if
 * OpenSSL cannot parse it). */
static void
describe_spki(const unsigned char *spki, size_t len, char *buf, size_t buflen)
{
    const unsigned char *p = spki;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);

    if (pkey == NULL) {
        ERR_clear_error();
        snprintf(buf, buflen, "invalid");
        return;
    }
    describe_key(pkey, buf, buflen);
    EVP_PKEY_free(pkey);
}

/* Hex SHA-256 of the len bytes at der into out (65 bytes). */
static void
fingerprint(const unsigned char *der, size_t len, char *out)
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != sizeof(md)) {
        snprintf(out, 65, "?");
        return;
    }
    ks_hex(md, sizeof(md), out);
}

/* Format t as YYYY-MM-DDTHH:MM:SSZ into buf. */
static void
format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "@%lld", (long long)t);
}

/* Read the public key of the first PEM block of path (a public key or a
 * certificate) into *out; print the cause and return nonzero on failure. */
static int
read_public_key(struct kst_ctx *kc, const char *path, EVP_PKEY **out)
{
    BIO *bio;
    X509 *cert = NULL;
    EVP_PKEY *pkey = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    const unsigned char *p;
    long len = 0;

    *out = NULL;
    bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        kst_error(kc, 0, "cannot read public key file %s: %s", path,
                  strerror(errno ? errno : EIO));
        ERR_clear_error();
        return 1;
    }
    if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) {
        kst_error(kc, 0, "%s holds no PEM public key or certificate "
                  "(expected -----BEGIN PUBLIC KEY----- or -----BEGIN "
                  "CERTIFICATE-----)", path);
        goto cleanup;
    }
    p = data;
    if (strstr(name, "PRIVATE KEY") != NULL) {
        kst_error(kc, 0, "%s holds a private key; give its public key "
                  "(openssl pkey -in %s -pubout) or a certificate: private "
                  "keys never go into the staging table", path, path);
    } else if (strcmp(name, "PUBLIC KEY") == 0) {
        pkey = d2i_PUBKEY(NULL, &p, len);
    } else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
        pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);
    } else if (strcmp(name, "CERTIFICATE") == 0 ||
               strcmp(name, "X509 CERTIFICATE") == 0) {
        cert = d2i_X509(NULL, &p, len);
        if (cert != NULL)
            pkey = X509_get_pubkey(cert);
    } else {
        kst_error(kc, 0, "%s holds a PEM '%s' block; expected a public key "
                  "or a certificate", path, name);
        goto cleanup;
    }
    if (pkey == NULL && strstr(name, "PRIVATE KEY") == NULL) {
        kst_error(kc, 0, "%s: cannot decode the PEM '%s' block (damaged, "
                  "or a key type OpenSSL does not know)", path, name);
    }

cleanup:
    ERR_clear_error();
    X509_free(cert);
    BIO_free(bio);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    *out = pkey;
    return pkey == NULL;
}

/* Print an "invalid device id" error for id; nonzero if it is invalid. */
static int
bad_device_id(struct kst_ctx *kc, const char *id)
{
    if (ks_device_id_valid(id, strlen(id)))
        return 0;
    kst_error(kc, 0, "invalid device id '%s' (1 to %d characters from "
              "[A-Za-z0-9._:-], starting with a letter or digit)", id,
              KS_DEVICE_ID_MAX);
    return 1;
}

/* stage add ID --pubkey FILE [--profile NAME] [--replace] */
static int
stage_add(struct kst_ctx *kc, int argc, char **argv)
{
    static const struct option opts[] = {
        { "pubkey", required_argument, NULL, 'k' },
        { "profile", required_argument, NULL, 'p' },
        { "replace", no_argument, NULL, 'R' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct ks_stage_entry entry, old;
    struct ks_store *store = NULL;
    EVP_PKEY *pkey = NULL;
    unsigned char *der = NULL;
    const char *keyfile = NULL, *profile = "", *id;
    char type[64], fp[65];
    krb5_error_code ret;
    int c, replace = 0, existed = 0, derlen, status = 1;

    memset(&entry, 0, sizeof(entry));
    optind = 0;                 /* reinitialise: allow options after ID */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            keyfile = optarg;
            break;
        case 'p':
            profile = optarg;
            break;
        case 'R':
            replace = 1;
            break;
        case 'h':
            fputs(stage_usage, stdout);
            return 0;
        default:
            fputs(stage_usage, stderr);
            return 2;
        }
    }
    if (keyfile == NULL || optind != argc - 1) {
        fputs(stage_usage, stderr);
        return 2;
    }
    id = argv[optind];
    if (bad_device_id(kc, id))
        return 1;
    /* A profile becomes an auth indicator: it must not pass for one the
     * KDC gives (devreg-staged, devreg-provisioned, ...). */
    if (strncmp(profile, "devreg-", 7) == 0) {
        kst_error(kc, 0, "profile name '%s' is reserved: names beginning "
                  "with 'devreg-' are the KDC's own auth indicators",
                  profile);
        return 1;
    }
    if (*profile != '\0' && !ks_store_profile_valid(profile)) {
        kst_error(kc, 0, "invalid profile name '%s' (1 to %d characters "
                  "from [A-Za-z0-9._-])", profile, KS_STORE_PROFILE_MAX);
        return 1;
    }
    if (read_public_key(kc, keyfile, &pkey) != 0)
        return 1;
    if (!describe_key(pkey, type, sizeof(type))) {
        kst_error(kc, 0, "the key in %s is %s; staged keys must be Ed25519, "
                  "EC P-256 or RSA of %d to %d bits", keyfile, type,
                  RSA_MIN_BITS, RSA_MAX_BITS);
        goto cleanup;
    }
    derlen = i2d_PUBKEY(pkey, &der);
    if (derlen <= 0 || derlen > KS_STORE_SPKI_MAX) {
        kst_error(kc, 0, "cannot encode the public key of %s", keyfile);
        goto cleanup;
    }
    if (open_store(kc, &store) != 0)
        goto cleanup;

    snprintf(entry.id, sizeof(entry.id), "%s", id);
    snprintf(entry.profile, sizeof(entry.profile), "%s", profile);
    entry.spki = der;
    entry.spki_len = (size_t)derlen;
    entry.added = time(NULL);
    /* Only for the message: whether --replace replaces anything. */
    if (replace && ks_store_stage_get(kc->kctx, store, id, &old) == 0) {
        existed = 1;
        ks_stage_entry_free_contents(&old);
    }
    ret = ks_store_stage_put(kc->kctx, store, &entry, replace);
    if (ret == KRB5_KDB_INUSE) {
        kst_error(kc, 0, "device '%s' is already staged; give --replace to "
                  "replace its key", id);
        goto cleanup;
    }
    if (ret) {
        kst_error(kc, ret, "");
        goto cleanup;
    }
    fingerprint(der, (size_t)derlen, fp);
    printf("%s device %s: %s key, SHA-256 fingerprint %s%s%s\n",
           existed ? "Replaced the staged key of" : "Staged", id, type, fp,
           *profile ? ", profile " : "", profile);
    status = 0;

cleanup:
    ks_store_close(store);
    OPENSSL_free(der);
    EVP_PKEY_free(pkey);
    return status;
}

/* stage del ID */
static int
stage_del(struct kst_ctx *kc, int argc, char **argv)
{
    struct ks_store *store = NULL;
    krb5_error_code ret;
    int status = 1;

    if (argc != 2) {
        fputs(stage_usage, stderr);
        return 2;
    }
    if (bad_device_id(kc, argv[1]))
        return 1;
    if (open_store(kc, &store) != 0)
        return 1;
    ret = ks_store_stage_del(kc->kctx, store, argv[1]);
    if (ret) {
        kst_error(kc, ret, "");
        goto cleanup;
    }
    printf("Removed device %s from the staging table\n", argv[1]);
    status = 0;

cleanup:
    ks_store_close(store);
    return status;
}

/* stage list */
static int
stage_list(struct kst_ctx *kc, int argc, char **argv)
{
    struct ks_store *store = NULL;
    struct ks_stage_entry *list = NULL;
    size_t n = 0, i;
    krb5_error_code ret;
    char type[64], fp[65], date[32];

    if (argc != 1) {
        fputs(stage_usage, stderr);
        return 2;
    }
    if (open_store(kc, &store) != 0)
        return 1;
    ret = ks_store_stage_list(kc->kctx, store, &list, &n);
    ks_store_close(store);
    if (ret) {
        kst_error(kc, ret, "");
        return 1;
    }
    for (i = 0; i < n; i++) {
        describe_spki(list[i].spki, list[i].spki_len, type, sizeof(type));
        fingerprint(list[i].spki, list[i].spki_len, fp);
        format_time(list[i].added, date, sizeof(date));
        printf("%s %s %s %s %s\n", list[i].id, type, fp,
               *list[i].profile ? list[i].profile : "-", date);
    }
    ks_stage_list_free(list, n);
    return 0;
}

/* Nonzero if argv holds exactly one argument after the command and it is
 * -h or --help. */
static int
wants_help(int argc, char **argv)
{
    return argc == 2 && (strcmp(argv[1], "-h") == 0 ||
                         strcmp(argv[1], "--help") == 0);
}

int
kst_cmd_stage(struct kst_ctx *kc, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "add") != 0 &&
        wants_help(argc - 1, argv + 1)) {
        fputs(stage_usage, stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return stage_add(kc, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "del") == 0)
        return stage_del(kc, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return stage_list(kc, argc - 1, argv + 1);
    if (wants_help(argc, argv)) {
        fputs(stage_usage, stdout);
        return 0;
    }
    if (argc >= 2)
        fprintf(stderr, "kstateless: unknown stage command '%s'\n", argv[1]);
    fputs(stage_usage, stderr);
    return 2;
}
