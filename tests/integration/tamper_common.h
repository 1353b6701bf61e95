#ifndef TAMPER_COMMON_H
#define TAMPER_COMMON_H
#endif
