#ifndef KINK_XFRM_MSG_H
#define KINK_XFRM_MSG_H
#endif
