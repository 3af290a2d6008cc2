#include "report.h"
typedef int report_placeholder_t;
