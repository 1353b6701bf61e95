/* placeholder: being written */
#include "config.h"
#include "kink_keymat.h"
extern int kink_keymat_placeholder;
