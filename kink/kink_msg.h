#ifndef KINK_MSG_H
#define KINK_MSG_H
#endif
