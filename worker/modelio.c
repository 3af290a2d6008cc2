#include "modelio.h"
typedef int modelio_placeholder_t;
