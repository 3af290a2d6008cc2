#include "policy.h"
typedef int policy_placeholder_t;
