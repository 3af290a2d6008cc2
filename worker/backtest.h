/* The strictly out-of-sample backtest of a trained ensemble (docs/training-job.md).
 *
 * Test days are [test_start, n_rows - 1]; nothing trained on them. The
 * ensemble trades them in the same environment as training. Every
 * fit_weights_every test days the ReWTS weights are refitted on the
 * lookback_length days before the decision day.
 *
 * The forecast in the QP: each chunk model m has an implied position on
 * each day d (its "shadow" position: LONG -> 1, SHORT -> 0, HOLD keeps the
 * previous one, judged on day d's market features with value ratio 1 and
 * its own shadow position). Its forecast of the next-day return is
 *   f_m(d) = (2 pos_m(d) - 1) * |r(d+1)|,  r(d+1) = close(d+1)/close(d) - 1,
 * i.e. the model's direction call carrying the realised magnitude, and y(d)
 * = r(d+1). Minimising ||P w - y||^2 then puts weight on the models whose
 * calls were right on the days that moved most: on a return's scale, unlike
 * the original's max Q-value. All of it uses only days before the decision
 * day (d + 1 <= t). */
#ifndef TV_BACKTEST_H
#define TV_BACKTEST_H

#include <stdint.h>

#include "codec.h"
#include "common/config.h"
#include "env.h"
#include "traindata.h"

typedef struct Metrics {
	double total_return;     /* V_T / V_0 - 1 */
	double sharpe;           /* sqrt(252) mean(r) / std(r), std with n - 1; 0 when std is 0 */
	double max_drawdown;     /* max (peak - V) / peak */
	double volatility;       /* std(r) sqrt(252) */
	double win_rate;         /* share of days with r > 0 */
	double buy_hold_return;  /* close(last) / close(test_start) - 1 */
	int64_t trades;
	int64_t test_days;       /* daily returns in the test period */
	int64_t actions[ENV_ACTIONS];
} Metrics;

typedef struct Backtest {
	Metrics m;
	int32_t n_models;
	int32_t n_fits;
	int32_t *fit_date;       /* n_fits dates (yyyymmdd) of the decision day */
	double *weights;         /* n_fits x n_models */
	int32_t qp_fallbacks;    /* refits that fell back to uniform weights (KKT check failed) */
	int32_t n_values;
	double *values;          /* portfolio value on each test day (n_values = test_days + 1) */
} Backtest;

/* Runs the backtest with the chunk models' online weights (layer sizes and
 * the parameter layout of mlp.h). Returns 0 or -ENOMEM. */
int backtest_run(const Config *cfg, const TrainData *d, float *const *chunk_params,
		 const int *sizes, int n_layers, Backtest *ret);
void backtest_free(Backtest *bt);

/* The ensemble's action on test day t (ENV_SHORT/HOLD/LONG), given the
 * environment before the step and the current ReWTS weights w. */
typedef int (*BacktestDecide)(void *ctx, const EnvState *env, const EnvParams *envp, int t,
			      const double *w);

/* First day of the forecast span: test_start - lookback_length - 1,
 * clipped at 0. */
int backtest_first_day(const Config *cfg, const TrainData *d);

/* The test period, traded once for either model kind: fc holds each
 * chunk model's forecast of r(d+1) (M rows of n_rows - first days from
 * day first). Every fit_weights_every test days the weights are refitted
 * by the QP on the lookback days [max(first, t - lookback_length), t)
 * before the decision day t (uniform when the QP fails its KKT check);
 * decide picks the action, the environment steps, and the metrics below
 * are filled. Returns 0 or -ENOMEM. */
int backtest_trade(const Config *cfg, const TrainData *d, const double *fc, int first,
		   BacktestDecide decide, void *ctx, Backtest *ret);

/* Fills bt->m from bt->values (the portfolio value on each test day) and
 * the environment's trade count: the metric definitions above, shared by
 * both model kinds. */
void backtest_metrics(Backtest *bt, const TrainData *d, int64_t trades);

/* A model file's record of the backtest (codec.h): BACKTEST_PACK_ENTRIES
 * entries of the enclosing map, weight_history ([date, weights] per
 * refit), metrics and equity (the value on each test day, float64 LE).
 * unpack_metrics reads the metrics map back, all finite, counts
 * non-negative, naming a bad field. */
#define BACKTEST_PACK_ENTRIES 3
void backtest_pack(Enc *e, const Backtest *bt);
int backtest_unpack_metrics(const Dec *root, Metrics *ret);

#endif
