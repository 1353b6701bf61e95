/* placeholder: being written */
#include "config.h"
#include "kink_xfrm_msg.h"
extern int kink_xfrm_msg_placeholder;
