#ifndef TV_BACKTEST_H
#define TV_BACKTEST_H
/* placeholder: being written */
#endif
