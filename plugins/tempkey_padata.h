/* Padata holding a tempkey message (KS_PA_TEMPKEY), shared by the KDC and
 * client sides of tempkey.so, and the refusal causes (as devreg's, see
 * lib/ks_preauth.h: a code MIT's KDC passes through plus a TempkeyError
 * e-data that the client module turns into its message). */
#ifndef TEMPKEY_PADATA_H
#define TEMPKEY_PADATA_H

#include <krb5/krb5.h>

#include "ks_iana.h"
#include "ks_preauth.h"
#include "ks_tempkey_asn1.h"

/* Encode msg as one KS_PA_TEMPKEY padata element into *pa_out. */
krb5_error_code tempkey_message_padata(const struct ks_tempkey_message *msg,
                                       krb5_pa_data **pa_out);

/* The same, as a one-element NULL-terminated padata list. */
krb5_error_code tempkey_message_padata_list(const struct ks_tempkey_message *m,
                                            krb5_pa_data ***list_out);

/* The tempkey causes (the code each travels with, its short name such as
 * "key-id-rollback") and the TempkeyError that carries one. */
extern const struct ks_preauth_causes tempkey_causes;

#endif
