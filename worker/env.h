#ifndef TV_ENV_H
#define TV_ENV_H
/* placeholder: being written */
#endif
