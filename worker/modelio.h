#ifndef TV_MODELIO_H
#define TV_MODELIO_H
/* placeholder: being written */
#endif
