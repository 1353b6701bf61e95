/* placeholder: being written */
#include "config.h"
#include "kink_conf.h"
extern int kink_conf_placeholder;
