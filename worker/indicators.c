#include "indicators.h"
typedef int indicators_placeholder_t;
