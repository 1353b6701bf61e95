/* placeholder: being written */
#include "config.h"
#include "kink_msg.h"
extern int kink_msg_placeholder;
