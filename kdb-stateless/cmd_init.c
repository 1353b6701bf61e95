/* kstateless init: create the realm secret and the state directory. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kstateless.h"
#include "ks_config.h"
#include "ks_secret.h"

/* mkdir -p with mode 0700 for the last component. */
static int
make_dirs(const char *path)
{
    char *copy, *p;
    int ok = 1;

    copy = strdup(path);
    if (copy == NULL)
        return 0;
    for (p = copy + 1; ok && *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST)
            ok = 0;
        *p = '/';
    }
    if (ok && mkdir(copy, 0700) != 0 && errno != EEXIST)
        ok = 0;
    free(copy);
    return ok;
}

int
kst_cmd_init(struct kst_ctx *kc, int argc, char **argv)
{
    struct ks_config *cfg = NULL;
    struct ks_secret *secret = NULL;
    krb5_error_code ret;
    int status = 1;

    if (argc != 1) {
        fprintf(stderr, "usage: kstateless init\n");
        return 2;
    }
    ret = ks_config_load(kc->kctx, kc->section, &cfg);
    if (ret) {
        kst_error(kc, ret, "");
        return 1;
    }
    if (!make_dirs(cfg->state_dir)) {
        kst_error(kc, 0, "cannot create state_dir %s: %s", cfg->state_dir,
                  strerror(errno));
        goto cleanup;
    }
    ret = ks_secret_create(kc->kctx, cfg->secret_file);
    if (ret) {
        kst_error(kc, ret, "");
        goto cleanup;
    }
    ret = ks_secret_load(kc->kctx, cfg->secret_file, &secret);
    if (ret) {
        kst_error(kc, ret, "");
        goto cleanup;
    }
    printf("Created realm secret %s for %s (check value %s)\n",
           cfg->secret_file, kc->realm, secret->check_value);
    printf("State directory %s\n", cfg->state_dir);
    printf("Copy the secret file (mode 0600) to every KDC of the realm.\n");
    status = 0;

cleanup:
    ks_secret_free(secret);
    ks_config_free(cfg);
    return status;
}
