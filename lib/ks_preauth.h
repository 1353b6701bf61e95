#ifndef KS_PREAUTH_H
#define KS_PREAUTH_H
#endif
