#ifndef TV_PLACEMENT_H
#define TV_PLACEMENT_H
/* placeholder: being written */
#endif
