/* placeholder: being written */
#include "config.h"
extern int ks_placeholder_tempkey_state;
