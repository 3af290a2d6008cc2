#ifndef TV_FEATURES_H
#define TV_FEATURES_H
/* placeholder: being written */
#endif
