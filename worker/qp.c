#include "qp.h"
typedef int qp_placeholder_t;
