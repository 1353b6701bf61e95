/* placeholder: being written */
#include "config.h"
extern int ks_agent_placeholder;
