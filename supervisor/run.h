#ifndef TV_RUN_H
#define TV_RUN_H
/* placeholder: being written */
#endif
