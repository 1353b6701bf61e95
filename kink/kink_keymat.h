#ifndef KINK_KEYMAT_H
#define KINK_KEYMAT_H
#endif
