/* Padata holding a tempkey message (KS_PA_TEMPKEY), shared by the KDC and
 * client sides of tempkey.so, and the refusal causes (as devreg's, see
 * preauth/devreg_padata.h: a code MIT's KDC passes through plus a
 * TempkeyError e-data that the client module turns into its message). */
#ifndef TEMPKEY_PADATA_H
#define TEMPKEY_PADATA_H

#include <krb5/krb5.h>

#include "ks_iana.h"
#include "ks_tempkey_asn1.h"

/* Encode msg as one KS_PA_TEMPKEY padata element into *pa_out. */
krb5_error_code tempkey_message_padata(const struct ks_tempkey_message *msg,
                                       krb5_pa_data **pa_out);

/* The same, as a one-element NULL-terminated padata list. */
krb5_error_code tempkey_message_padata_list(const struct ks_tempkey_message *m,
                                            krb5_pa_data ***list_out);

/* The code a refusal with tempkey cause code travels with. */
krb5_error_code tempkey_wire_code(int32_t code);

/* A short name of cause code ("key-id-rollback"), or NULL. */
const char *tempkey_cause_name(int32_t code);

/* Make the e-data list (one KS_PA_TEMPKEY padata holding a TempkeyError
 * with code and text, text cut to 256 bytes) for a refusal. */
krb5_error_code tempkey_error_edata(int32_t code, const char *text,
                                    krb5_pa_data ***edata_out);

#endif
