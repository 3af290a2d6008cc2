#include "env.h"
typedef int env_placeholder_t;
