#ifndef TV_PROTO_H
#define TV_PROTO_H
/* placeholder: being written */
#endif
