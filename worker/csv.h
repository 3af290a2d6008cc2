#ifndef TV_CSV_H
#define TV_CSV_H
/* placeholder: being written */
#endif
