/* The trading environment (docs/training-job.md): one step per trading
 * day, long-or-flat, actions 0 SHORT (sell everything), 1 HOLD, 2 LONG
 * (buy floor(buy_fraction * cash / price) shares).
 *
 * Timing: the agent observes day t (its features and the portfolio at t's
 * close), acts at t's close price, and the step moves to day t + 1, where
 * the portfolio is valued at t + 1's close. With V_0 the initial balance
 * and V_t the value after step t (t = 1, 2, ...), the "past values" of
 * step t are V_1..V_{t-1} (never V_0, never V_t), and the reward is the
 * users' original's:
 *   r_t = V_t/V_{t-1} - 1
 *       - vol_penalty * std(r_{t-19}..r_{t-1})   from t = 21 (20 past values;
 *                                                 the current return is not in it)
 *       - dd_penalty * dd                         when dd > dd_threshold, with
 *                                                 dd = (peak - V_t)/peak, peak =
 *                                                 max(V_1..V_{t-1}), from t = 2
 *       - change_penalty                          when the action differs from
 *                                                 the previous one (HOLD before
 *                                                 step 1)
 * with std the population standard deviation (numpy's default).
 * The whole state is plain data so a checkpoint can store it as is. */
#ifndef TV_ENV_H
#define TV_ENV_H

#include <stdint.h>

#include "codec.h"
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
	int32_t prev_action; /* ENV_HOLD before the first step */
	int32_t n_ret;       /* returns seen (saturates at ENV_HIST in the ring) */
	int32_t ret_head;    /* next slot of the ring */
	int64_t trades;
	double cash;
	double shares;
	double value;
	double peak;         /* max of the past values (0 before the first step) */
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

/* The state as one map (codec.h), every field under its own name. Unpack
 * refuses a missing or mistyped field, a non-finite number and counters
 * out of range (naming the field); the caller checks t and end against
 * its data. */
void env_pack(Enc *e, const EnvState *s);
int env_unpack(const Dec *map, EnvState *s);

#endif
