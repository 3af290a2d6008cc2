#ifndef TV_TRAIN_H
#define TV_TRAIN_H
/* placeholder: being written */
#endif
