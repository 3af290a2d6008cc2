#include "csv.h"
typedef int csv_placeholder_t;
