#include "run.h"
typedef int run_placeholder_t;
