#include "features.h"
typedef int features_placeholder_t;
