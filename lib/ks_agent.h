#ifndef KS_AGENT_H
#define KS_AGENT_H
#endif
