/* kstateless check-value: print the realm secret's fingerprint. */
#include "config.h"

#include <stdio.h>

#include "kstateless.h"

int
kst_cmd_check_value(struct kst_ctx *kc, int argc, char **argv)
{
    struct ks_module *mod = NULL;
    krb5_error_code ret;

    if (argc != 1) {
        fprintf(stderr, "usage: kstateless check-value\n");
        return 2;
    }
    /* Opening the whole module also validates the configuration. */
    ret = ks_module_open(kc->kctx, kc->section, &mod);
    if (ret) {
        kst_error(kc, ret, "");
        return 1;
    }
    printf("%s\n", mod->secret->check_value);
    ks_module_close(mod);
    return 0;
}
