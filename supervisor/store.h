#ifndef TV_STORE_H
#define TV_STORE_H
/* placeholder: being written */
#endif
