/* The trading environment of WORKLOAD.md: one step per trading day,
 * long-or-flat, actions 0 SHORT (sell everything), 1 HOLD, 2 LONG (buy
 * floor(buy_fraction * cash / price) shares).
 *
 * Timing: the agent observes day t (its features and the portfolio at t's
 * close), acts at t's close price, and the step moves to day t + 1, where
 * the portfolio is valued at t + 1's close. The reward of that step is
 *   r = V(t+1)/V(t) - 1
 *       - vol_penalty * std(the last 19 returns)      once 20 returns exist
 *       - dd_penalty * drawdown                        when drawdown > dd_threshold
 *       - change_penalty                               when the action differs
 *                                                      from the previous one
 * with std the population standard deviation (numpy's default, as in the
 * original) and drawdown = (peak - V)/peak over the episode so far.
 * The whole state is plain data so a checkpoint can store it as is. */
#ifndef TV_ENV_H
#define TV_ENV_H

#include <stdint.h>

#include "common/config.h"

#define ENV_ACTIONS 3
#define ENV_SHORT 0
#define ENV_HOLD 1
#define ENV_LONG 2
#define ENV_HIST 20          /* returns kept for the volatility penalty */
#define ENV_STATE_DIM 11     /* 9 market features + value ratio + position */

typedef struct EnvParams {
	double initial_balance;
	double cost;
	double buy_fraction;
	double vol_penalty;
	double dd_penalty;
	double dd_threshold;
	double change_penalty;
} EnvParams;

typedef struct EnvState {
	int32_t t;           /* current day (index into the feature rows) */
	int32_t end;         /* last day of the episode (inclusive) */
	int32_t position;    /* 0 flat, 1 long */
	int32_t prev_action; /* -1 before the first step */
	int32_t n_ret;       /* returns seen (saturates at ENV_HIST in the ring) */
	int32_t ret_head;    /* next slot of the ring */
	int64_t trades;
	double cash;
	double shares;
	double value;
	double peak;
	double ret_hist[ENV_HIST];
} EnvState;

void env_params_from_config(EnvParams *p, const Config *cfg);

/* Starts an episode on days [start, end] (end > start). */
void env_reset(EnvState *e, const EnvParams *p, int start, int end, const double *close);

/* Writes the 11-value observation of the current day: the 9 market
 * features of row t, value / initial_balance, position. */
void env_observe(const EnvState *e, const EnvParams *p, const float *feat, float *out);

/* Takes action a at day t's close and moves to t + 1. Returns the reward;
 * *ret_done is 1 when t + 1 is the episode's last day. */
double env_step(EnvState *e, const EnvParams *p, const double *close, int a, int *ret_done);

#endif
