#include "config.h"
typedef int config_placeholder_t;
