/* placeholder: being written */
#include "config.h"
#include "kink_isakmp.h"
extern int kink_isakmp_placeholder;
