#ifndef TV_INDICATORS_H
#define TV_INDICATORS_H
/* placeholder: being written */
#endif
