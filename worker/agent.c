#include "agent.h"
typedef int agent_placeholder_t;
