/* Padata holding a devreg message (KS_PA_DEVREG), shared by the KDC and
 * client sides of devreg.so. */
#ifndef DEVREG_PADATA_H
#define DEVREG_PADATA_H

#include <krb5/krb5.h>

#include "ks_asn1.h"
#include "ks_iana.h"

/* Encode msg as one KS_PA_DEVREG padata element into *pa_out. */
krb5_error_code devreg_message_padata(const struct ks_devreg_message *msg,
                                      krb5_pa_data **pa_out);

/*
 * Refusals.  MIT's KDC passes only some kdcpreauth error codes to the
 * client (PREAUTH_FAILED for the rest, with its e-data replaced by the
 * list of preauth hints), so each devreg cause (KS_DEVREG_E_*) goes out
 * with a code from that list and a DevregError e-data naming the cause;
 * the client module turns the e-data into its error message.
 */

/* The code a refusal with devreg cause code travels with. */
krb5_error_code devreg_wire_code(int32_t code);

/* A short name of cause code ("stale-freshness-token"), or NULL. */
const char *devreg_cause_name(int32_t code);

/* Make the e-data list (one KS_PA_DEVREG padata holding a DevregError with
 * code and text) for a refusal. */
krb5_error_code devreg_error_edata(int32_t code, const char *text,
                                   krb5_pa_data ***edata_out);

#endif
