#include "status.h"
typedef int status_placeholder_t;
