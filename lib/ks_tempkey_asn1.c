/* placeholder: being written */
#include "config.h"
extern int ks_placeholder_ks_tempkey_asn1;
