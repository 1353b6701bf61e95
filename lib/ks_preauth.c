/* placeholder: being written */
#include "config.h"
extern int ks_preauth_placeholder;
