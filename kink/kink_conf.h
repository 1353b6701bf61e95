#ifndef KINK_CONF_H
#define KINK_CONF_H
#endif
