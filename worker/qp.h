#ifndef TV_QP_H
#define TV_QP_H
/* placeholder: being written */
#endif
