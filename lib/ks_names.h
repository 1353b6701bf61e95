/*
 * What a principal name means to the stateless backend.
 *
 *   krbtgt/REALM@REALM          realm TGS key, derived
 *   devreg/REALM@REALM          registration service key, derived
 *   NS/ID@REALM                 device (NS = device_namespace), keyless
 *   a name matching a service = glob   service key, derived
 *   K/M@REALM                   keyless placeholder that kadm5 requires
 *
 * Device ids are 1 to KS_DEVICE_ID_MAX characters from [A-Za-z0-9._:-],
 * starting with a letter or digit.  Names whose first component is krbtgt,
 * devreg, kadmin, K (K/M) or the device namespace never match a service
 * glob.  Globs match the name without realm with fnmatch(3) and
 * FNM_PATHNAME, so '*' does not cross a '/'.
 */
#ifndef KS_NAMES_H
#define KS_NAMES_H

#include <stddef.h>
#include <krb5/krb5.h>

#include "ks_config.h"

#define KS_DEVICE_ID_MAX 64

enum ks_kind {
    KS_KIND_NONE = 0,
    KS_KIND_KRBTGT,
    KS_KIND_DEVREG,
    KS_KIND_SERVICE,
    KS_KIND_DEVICE,
    KS_KIND_MASTER,             /* K/M: keyless, only for kadm5 */
};

/* Nonzero if the len bytes at id form a valid device id. */
int ks_device_id_valid(const char *id, size_t len);

/* Classify principal p of realm; for KS_KIND_SERVICE set *rule_out (if not
 * NULL) to the first matching rule. */
enum ks_kind ks_classify(krb5_context ctx, const struct ks_config *cfg,
                         const char *realm, krb5_const_principal p,
                         const struct ks_service_rule **rule_out);

/* Human name of a kind, for messages. */
const char *ks_kind_name(enum ks_kind kind);

#endif
