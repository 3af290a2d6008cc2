#ifndef TV_POLICY_H
#define TV_POLICY_H
/* placeholder: being written */
#endif
