#include "placement.h"
typedef int placement_placeholder_t;
