#ifndef TV_AGENT_H
#define TV_AGENT_H
/* placeholder: being written */
#endif
