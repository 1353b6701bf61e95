/*
 * kstateless provision: the table of provisioned devices (the
 * "provisioned" table of the store in state_dir, see ks_store.h), devices
 * allowed past the restricted profile of anonymous registration.
 *
 *   provision ID            mark ID provisioned (again: a note, status 0)
 *   provision --remove ID   remove it
 *   provision --list        one line per device: ID SINCE (UTC time)
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kstateless.h"
#include "ks_config.h"
#include "ks_names.h"
#include "ks_store.h"

static const char provision_usage[] =
    "usage: kstateless provision DEVICE-ID\n"
    "       kstateless provision --remove DEVICE-ID\n"
    "       kstateless provision --list\n";

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

/* Format t as YYYY-MM-DDTHH:MM:SSZ into buf. */
static void
format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "@%lld", (long long)t);
}

/* Mark id provisioned; already provisioned is not an error. */
static int
provision_add(struct kst_ctx *kc, struct ks_store *store, const char *id)
{
    krb5_error_code ret;
    time_t since;
    char date[32];

    ret = ks_store_provision_add(kc->kctx, store, id, time(NULL));
    if (ret == KRB5_KDB_INUSE &&
        ks_store_provision_get(kc->kctx, store, id, &since) == 0) {
        format_time(since, date, sizeof(date));
        printf("Device %s is already provisioned (since %s)\n", id, date);
        return 0;
    }
    if (ret) {
        kst_error(kc, ret, "");
        return 1;
    }
    printf("Provisioned device %s\n", id);
    return 0;
}

/* Remove id from the provisioned table. */
static int
provision_remove(struct kst_ctx *kc, struct ks_store *store, const char *id)
{
    krb5_error_code ret;

    ret = ks_store_provision_del(kc->kctx, store, id);
    if (ret) {
        kst_error(kc, ret, "");
        return 1;
    }
    printf("Removed device %s from the provisioned table\n", id);
    return 0;
}

/* Print every provisioned device. */
static int
provision_list(struct kst_ctx *kc, struct ks_store *store)
{
    struct ks_provision_entry *list = NULL;
    size_t n = 0, i;
    krb5_error_code ret;
    char date[32];

    ret = ks_store_provision_list(kc->kctx, store, &list, &n);
    if (ret) {
        kst_error(kc, ret, "");
        return 1;
    }
    for (i = 0; i < n; i++) {
        format_time(list[i].since, date, sizeof(date));
        printf("%s %s\n", list[i].id, date);
    }
    free(list);
    return 0;
}

int
kst_cmd_provision(struct kst_ctx *kc, int argc, char **argv)
{
    static const struct option opts[] = {
        { "remove", no_argument, NULL, 'R' },
        { "list", no_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct ks_store *store = NULL;
    const char *id = NULL;
    int c, remove = 0, list = 0, status;

    optind = 0;                 /* reinitialise: allow options after ID */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'R':
            remove = 1;
            break;
        case 'l':
            list = 1;
            break;
        case 'h':
            fputs(provision_usage, stdout);
            return 0;
        default:
            fputs(provision_usage, stderr);
            return 2;
        }
    }
    if ((list && (remove || optind != argc)) ||
        (!list && optind != argc - 1)) {
        fputs(provision_usage, stderr);
        return 2;
    }
    if (!list) {
        id = argv[optind];
        if (!ks_device_id_valid(id, strlen(id))) {
            kst_error(kc, 0, "invalid device id '%s' (1 to %d characters "
                      "from [A-Za-z0-9._:-], starting with a letter or "
                      "digit)", id, KS_DEVICE_ID_MAX);
            return 1;
        }
    }
    if (open_store(kc, &store) != 0)
        return 1;
    if (list)
        status = provision_list(kc, store);
    else if (remove)
        status = provision_remove(kc, store, id);
    else
        status = provision_add(kc, store, id);
    ks_store_close(store);
    return status;
}
