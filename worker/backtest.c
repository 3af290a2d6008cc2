#include "backtest.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "indicators.h"
#include "mlp.h"
#include "qp.h"

static void model_view(Mlp *m, float *params, const int *sizes, int n_layers)
{
	memset(m, 0, sizeof(*m));
	m->n_layers = n_layers;
	for (int l = 0; l <= n_layers; l++)
		m->sizes[l] = sizes[l];
	for (int l = 0; l < n_layers; l++)
		m->n_params += (size_t)sizes[l + 1] * (size_t)(sizes[l] + 1);
	m->params = params;
}

void backtest_metrics(Backtest *bt, const TrainData *d, int64_t trades)
{
	Metrics *mt = &bt->m;
	int n = bt->n_values - 1;
	double mean = 0, var = 0, peak = bt->values[0], mdd = 0;
	int wins = 0;

	for (int k = 1; k <= n; k++) {
		double r = bt->values[k] / bt->values[k - 1] - 1.0;

		mean += r;
		wins += r > 0;
	}
	mean = n > 0 ? mean / n : 0;
	for (int k = 1; k <= n; k++) {
		double r = bt->values[k] / bt->values[k - 1] - 1.0;

		var += (r - mean) * (r - mean);
	}
	var = n > 1 ? var / (n - 1) : 0;
	for (int k = 0; k <= n; k++) {
		if (bt->values[k] > peak)
			peak = bt->values[k];
		if ((peak - bt->values[k]) / peak > mdd)
			mdd = (peak - bt->values[k]) / peak;
	}
	mt->total_return = bt->values[n] / bt->values[0] - 1.0;
	mt->sharpe = var > 0 ? sqrt(252.0) * mean / sqrt(var) : 0.0;
	mt->volatility = sqrt(var) * sqrt(252.0);
	mt->max_drawdown = mdd;
	mt->win_rate = n > 0 ? (double)wins / n : 0.0;
	mt->trades = trades;
	mt->test_days = n;
	mt->buy_hold_return = d->close[d->n_rows - 1] / d->close[d->test_start] - 1.0;
}

/* The ReWTS refit at decision day t: the QP on the lookback days of the
 * forecasts fc against the realised next-day returns; writes w and
 * appends it to bt's weight history. P and y are scratch. */
static void backtest_refit(const Config *cfg, const TrainData *d, const double *fc, int first,
		    int span, int M, int t, double *P, double *y, double *w, Backtest *bt)
{
	int lo = t - cfg->lookback_length;
	int n = 0;

	if (lo < first)
		lo = first;
	for (int dd = lo; dd < t; dd++, n++) {
		for (int m = 0; m < M; m++)
			P[(size_t)n * M + m] = fc[(size_t)m * span + (dd - first)];
		y[n] = d->close[dd + 1] / d->close[dd] - 1.0;
	}
	if (n > 0) {
		QpInfo info;

		/* M <= QP_MAX_M (train_data_init). A solution that fails
		 * its KKT check (scale-free violation above 1e-6; the solver
		 * reaches < 1e-7 on its tests) or any other failure gives
		 * uniform weights, as ReWTS prescribes. */
		if (qp_simplex_lsq(P, y, n, M, w, &info) < 0 || !(info.kkt <= 1e-6)) {
			for (int m = 0; m < M; m++)
				w[m] = 1.0 / M;
			bt->qp_fallbacks++;
		}
	}
	bt->fit_date[bt->n_fits] = d->date[t];
	memcpy(bt->weights + (size_t)bt->n_fits * M, w, (size_t)M * sizeof(double));
	bt->n_fits++;
}

/* Day first of the forecast span: the lookback before the first test day
 * (and its next-day return), clipped at day 0. */
int backtest_first_day(const Config *cfg, const TrainData *d)
{
	int first = d->test_start - cfg->lookback_length - 1;

	return first < 0 ? 0 : first;
}

int backtest_trade(const Config *cfg, const TrainData *d, const double *fc, int first,
		   BacktestDecide decide, void *ctx, Backtest *ret)
{
	int M = d->n_chunks;
	int span = d->n_rows - first;
	int test_steps = d->n_rows - 1 - d->test_start;
	int max_fits = test_steps / cfg->fit_weights_every + 1;
	EnvParams envp;
	EnvState env;
	double *P = NULL, *y = NULL, *w = NULL;
	Backtest bt;
	int r = -ENOMEM;

	memset(&bt, 0, sizeof(bt));
	env_params_from_config(&envp, cfg);
	P = malloc((size_t)cfg->lookback_length * (size_t)M * sizeof(double));
	y = malloc((size_t)cfg->lookback_length * sizeof(double));
	w = malloc((size_t)M * sizeof(double));
	bt.fit_date = malloc((size_t)max_fits * sizeof(int32_t));
	bt.weights = malloc((size_t)max_fits * (size_t)M * sizeof(double));
	bt.values = malloc((size_t)(test_steps + 1) * sizeof(double));
	if (!P || !y || !w || !bt.fit_date || !bt.weights || !bt.values)
		goto out;

	for (int m = 0; m < M; m++)
		w[m] = 1.0 / M;
	env_reset(&env, &envp, d->test_start, d->n_rows - 1, d->close);
	bt.values[0] = env.value;
	for (int t = d->test_start, k = 0; t < d->n_rows - 1; t++, k++) {
		int a, done;

		if (k % cfg->fit_weights_every == 0)
			backtest_refit(cfg, d, fc, first, span, M, t, P, y, w, &bt);
		a = decide(ctx, &env, &envp, t, w);
		bt.m.actions[a]++;
		env_step(&env, &envp, d->close, a, &done);
		bt.values[k + 1] = env.value;
	}
	bt.n_values = test_steps + 1;
	bt.n_models = M;
	backtest_metrics(&bt, d, env.trades);
	*ret = bt;
	memset(&bt, 0, sizeof(bt));
	r = 0;
out:
	backtest_free(&bt);
	free(P);
	free(y);
	free(w);
	return r;
}

/* The DDQN ensemble's decision: the argmax of the weighted Q-values of the
 * chunk models on the environment's observation. */
typedef struct DqnEnsemble {
	const TrainData *d;
	Mlp *models;
	MlpWork *work;
	int M;
} DqnEnsemble;

static int dqn_decide(void *ctx, const EnvState *env, const EnvParams *envp, int t,
		      const double *w)
{
	DqnEnsemble *e = ctx;
	float s[ENV_STATE_DIM];
	float qe[ENV_ACTIONS] = { 0 };

	(void)t;
	env_observe(env, envp, e->d->feat, s);
	for (int m = 0; m < e->M; m++) {
		const float *qm = mlp_forward(&e->models[m], e->work, s, 1);

		for (int j = 0; j < ENV_ACTIONS; j++)
			qe[j] += (float)(w[m] * qm[j]);
	}
	return agent_argmax(qe, ENV_ACTIONS);
}

int backtest_run(const Config *cfg, const TrainData *d, float *const *chunk_params,
		 const int *sizes, int n_layers, Backtest *ret)
{
	int M = d->n_chunks;
	int first = backtest_first_day(cfg, d);
	int span = d->n_rows - first;
	Mlp *models = NULL;
	MlpWork work;
	DqnEnsemble ens;
	float *x = NULL;
	double *fc = NULL;
	int r = -ENOMEM;

	memset(&work, 0, sizeof(work));
	models = calloc((size_t)M, sizeof(*models));
	x = malloc((size_t)span * ENV_STATE_DIM * sizeof(float));
	fc = malloc((size_t)M * (size_t)span * sizeof(double));
	if (!models || !x || !fc)
		goto out;
	for (int m = 0; m < M; m++)
		model_view(&models[m], chunk_params[m], sizes, n_layers);
	r = mlp_work_init(&work, &models[0], span);
	if (r < 0)
		goto out;
	r = -ENOMEM;

	/* Shadow positions: Q for both possible positions on every day, then
	 * a sequential pass (HOLD keeps the previous position). */
	for (int k = 0; k < span; k++) {
		memcpy(x + (size_t)k * ENV_STATE_DIM, d->feat + (size_t)(first + k) * IND_FEATURES,
		       IND_FEATURES * sizeof(float));
		x[(size_t)k * ENV_STATE_DIM + IND_FEATURES] = 1.0f;
	}
	for (int m = 0; m < M; m++) {
		float *q0, *q1;
		int p = 0;

		q0 = malloc((size_t)span * ENV_ACTIONS * sizeof(float));
		q1 = malloc((size_t)span * ENV_ACTIONS * sizeof(float));
		if (!q0 || !q1) {
			free(q0);
			free(q1);
			goto out;
		}
		for (int k = 0; k < span; k++)
			x[(size_t)k * ENV_STATE_DIM + IND_FEATURES + 1] = 0.0f;
		memcpy(q0, mlp_forward(&models[m], &work, x, span), (size_t)span * ENV_ACTIONS * sizeof(float));
		for (int k = 0; k < span; k++)
			x[(size_t)k * ENV_STATE_DIM + IND_FEATURES + 1] = 1.0f;
		memcpy(q1, mlp_forward(&models[m], &work, x, span), (size_t)span * ENV_ACTIONS * sizeof(float));
		for (int k = 0; k < span; k++) {
			int a = agent_argmax((p ? q1 : q0) + (size_t)k * ENV_ACTIONS, ENV_ACTIONS);

			if (a == ENV_LONG)
				p = 1;
			else if (a == ENV_SHORT)
				p = 0;
			if (first + k + 1 < d->n_rows) {
				double rr = d->close[first + k + 1] / d->close[first + k] - 1.0;

				fc[(size_t)m * span + k] = (2.0 * p - 1.0) * fabs(rr);
			} else {
				fc[(size_t)m * span + k] = 0.0;
			}
		}
		free(q0);
		free(q1);
	}
	ens.d = d;
	ens.models = models;
	ens.work = &work;
	ens.M = M;
	r = backtest_trade(cfg, d, fc, first, dqn_decide, &ens, ret);
out:
	mlp_work_free(&work);
	free(models);
	free(x);
	free(fc);
	return r;
}

void backtest_free(Backtest *bt)
{
	if (!bt)
		return;
	free(bt->fit_date);
	free(bt->weights);
	free(bt->values);
	memset(bt, 0, sizeof(*bt));
}

void backtest_pack(Enc *e, const Backtest *bt)
{
	const Metrics *m = &bt->m;

	enc_key(e, "weight_history");
	enc_array(e, (size_t)bt->n_fits);
	for (int f = 0; f < bt->n_fits; f++) {
		enc_array(e, 2);
		enc_int(e, bt->fit_date[f]);
		enc_array(e, (size_t)bt->n_models);
		for (int j = 0; j < bt->n_models; j++)
			enc_double(e, bt->weights[(size_t)f * bt->n_models + j]);
	}
	enc_key(e, "metrics");
	enc_map(e, 9);
	enc_key(e, "total_return"); enc_double(e, m->total_return);
	enc_key(e, "sharpe"); enc_double(e, m->sharpe);
	enc_key(e, "max_drawdown"); enc_double(e, m->max_drawdown);
	enc_key(e, "volatility"); enc_double(e, m->volatility);
	enc_key(e, "win_rate"); enc_double(e, m->win_rate);
	enc_key(e, "buy_hold_return"); enc_double(e, m->buy_hold_return);
	enc_key(e, "trades"); enc_int(e, m->trades);
	enc_key(e, "test_days"); enc_int(e, m->test_days);
	enc_key(e, "actions");
	enc_array(e, ENV_ACTIONS);
	for (int a = 0; a < ENV_ACTIONS; a++)
		enc_int(e, m->actions[a]);
	enc_key(e, "equity");
	enc_bin(e, bt->values, (size_t)bt->n_values * sizeof(double));
}

int backtest_unpack_metrics(const Dec *root, Metrics *ret)
{
	Dec m = dec_map(root, "metrics"), acts;
	Metrics k;
	long n;

	memset(&k, 0, sizeof(k));
	k.total_return = dec_double(&m, "total_return");
	k.sharpe = dec_double(&m, "sharpe");
	k.max_drawdown = dec_double(&m, "max_drawdown");
	k.volatility = dec_double(&m, "volatility");
	k.win_rate = dec_double(&m, "win_rate");
	k.buy_hold_return = dec_double(&m, "buy_hold_return");
	k.trades = dec_int(&m, "trades");
	k.test_days = dec_int(&m, "test_days");
	acts = dec_array(&m, "actions", &n);
	if (n >= 0 && n != ENV_ACTIONS)
		dec_invalid(&acts, NULL, "does not hold one count per action");
	for (int a = 0; a < ENV_ACTIONS && n == ENV_ACTIONS; a++) {
		Dec v = dec_at(&acts, (size_t)a);

		k.actions[a] = dec_as_int(&v);
	}
	if (dec_failed(root))
		return -EINVAL;
	if (k.trades < 0)
		return dec_invalid(&m, "trades", "is negative");
	if (k.test_days < 0)
		return dec_invalid(&m, "test_days", "is negative");
	for (int a = 0; a < ENV_ACTIONS; a++)
		if (k.actions[a] < 0)
			return dec_invalid(&m, "actions", "holds a negative count");
	*ret = k;
	return 0;
}
