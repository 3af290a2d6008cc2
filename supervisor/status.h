#ifndef TV_STATUS_H
#define TV_STATUS_H
/* placeholder: being written */
#endif
