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

#endif
