#include "proto.h"
typedef int proto_placeholder_t;
