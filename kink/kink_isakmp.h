#ifndef KINK_ISAKMP_H
#define KINK_ISAKMP_H
#endif
