#include "store.h"
typedef int store_placeholder_t;
