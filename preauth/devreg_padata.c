/* Padata holding a devreg message, for both sides of devreg.so. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "devreg_padata.h"

/* Encode msg as a padata element. */
krb5_error_code
devreg_message_padata(const struct ks_devreg_message *msg, krb5_pa_data **pa_out)
{
    krb5_pa_data *pa;
    unsigned char *der = NULL;
    size_t len = 0;
    krb5_error_code ret;

    *pa_out = NULL;
    ret = ks_devreg_message_encode(msg, &der, &len);
    if (ret)
        return ret;
    pa = calloc(1, sizeof(*pa));
    if (pa == NULL) {
        free(der);
        return ENOMEM;
    }
    pa->magic = KV5M_PA_DATA;
    pa->pa_type = KS_PA_DEVREG;
    pa->contents = der;
    pa->length = len;
    *pa_out = pa;
    return 0;
}
