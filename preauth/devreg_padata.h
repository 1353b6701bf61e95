/* Padata holding a devreg message (KS_PA_DEVREG), shared by the KDC and
 * client sides of devreg.so. */
#ifndef DEVREG_PADATA_H
#define DEVREG_PADATA_H

#include <krb5/krb5.h>

#include "ks_asn1.h"
#include "ks_iana.h"
#include "ks_preauth.h"

/* Encode msg as one KS_PA_DEVREG padata element into *pa_out. */
krb5_error_code devreg_message_padata(const struct ks_devreg_message *msg,
                                      krb5_pa_data **pa_out);

/* The same, as a one-element NULL-terminated padata list. */
krb5_error_code devreg_message_padata_list(const struct ks_devreg_message *msg,
                                           krb5_pa_data ***list_out);

/*
 * Refusals (see ks_preauth.h).  MIT's KDC passes only some kdcpreauth
 * error codes to the client (PREAUTH_FAILED for the rest, with its e-data
 * replaced by the list of preauth hints), so each devreg cause
 * (KS_DEVREG_E_*) goes out with a code from that list and a DevregError
 * e-data naming the cause; the client module turns the e-data into its
 * error message.
 */

/* The devreg causes (the code each travels with, its short name such as
 * "stale-freshness-token") and the DevregError that carries one. */
extern const struct ks_preauth_causes devreg_causes;

#endif
