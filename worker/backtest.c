#include "backtest.h"
typedef int backtest_placeholder_t;
