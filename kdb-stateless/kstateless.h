/* kstateless: administration of the stateless KDB backend.  One file per
 * subcommand; kstateless.c dispatches. */
#ifndef KSTATELESS_H
#define KSTATELESS_H

#include <krb5/krb5.h>

#include "stateless_entries.h"

struct kst_ctx {
    krb5_context kctx;          /* reads kdc.conf and krb5.conf */
    char *realm;
    char *section;              /* [dbmodules] subsection of the realm */
};

/* Print "kstateless: MSG: <krb5 message for code>" to stderr. */
void kst_error(struct kst_ctx *kc, krb5_error_code code, const char *fmt,
               ...) __attribute__((format(printf, 3, 4)));

int kst_cmd_init(struct kst_ctx *kc, int argc, char **argv);
int kst_cmd_check_value(struct kst_ctx *kc, int argc, char **argv);
int kst_cmd_keytab(struct kst_ctx *kc, int argc, char **argv);
int kst_cmd_stage(struct kst_ctx *kc, int argc, char **argv);
int kst_cmd_provision(struct kst_ctx *kc, int argc, char **argv);
int kst_cmd_tempkeys(struct kst_ctx *kc, int argc, char **argv);

#endif
