#include "nn.h"
typedef int nn_placeholder_t;
