#ifndef TV_NN_H
#define TV_NN_H
/* placeholder: being written */
#endif
