#ifndef TV_REPORT_H
#define TV_REPORT_H
/* placeholder: being written */
#endif
