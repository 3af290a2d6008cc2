#include "train.h"
typedef int train_placeholder_t;
