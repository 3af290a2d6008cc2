#include "env.h"

#include <math.h>
#include <string.h>

#include "indicators.h"

void env_params_from_config(EnvParams *p, const Config *cfg)
{
	p->initial_balance = cfg->initial_balance;
	p->cost = cfg->transaction_cost;
	p->buy_fraction = cfg->buy_fraction;
	p->vol_penalty = cfg->vol_penalty;
	p->dd_penalty = cfg->dd_penalty;
	p->dd_threshold = cfg->dd_threshold;
	p->change_penalty = cfg->change_penalty;
}

void env_reset(EnvState *e, const EnvParams *p, int start, int end, const double *close)
{
	(void)close;
	memset(e, 0, sizeof(*e));
	e->t = start;
	e->end = end;
	e->prev_action = -1;
	e->cash = p->initial_balance;
	e->value = p->initial_balance;
	e->peak = p->initial_balance;
}

void env_observe(const EnvState *e, const EnvParams *p, const float *feat, float *out)
{
	memcpy(out, feat + (size_t)e->t * IND_FEATURES, IND_FEATURES * sizeof(float));
	out[IND_FEATURES] = (float)(e->value / p->initial_balance);
	out[IND_FEATURES + 1] = (float)e->position;
}

/* Population standard deviation of the last 19 returns in the ring. */
static double recent_std(const EnvState *e)
{
	double x[ENV_HIST - 1], mean = 0, var = 0;
	int k = ENV_HIST - 1;

	for (int i = 0; i < k; i++) {
		int slot = (e->ret_head - 1 - i + 2 * ENV_HIST) % ENV_HIST;

		x[i] = e->ret_hist[slot];
		mean += x[i];
	}
	mean /= k;
	for (int i = 0; i < k; i++)
		var += (x[i] - mean) * (x[i] - mean);
	return sqrt(var / k);
}

double env_step(EnvState *e, const EnvParams *p, const double *close, int a, int *ret_done)
{
	double price = close[e->t];
	double before = e->value;
	double reward;

	if (a == ENV_LONG && e->position == 0) {
		double shares = floor(p->buy_fraction * e->cash / price);

		if (shares > 0) {
			e->cash -= shares * price * (1.0 + p->cost);
			e->shares = shares;
			e->position = 1;
			e->trades++;
		}
	} else if (a == ENV_SHORT && e->position == 1) {
		e->cash += e->shares * price * (1.0 - p->cost);
		e->shares = 0;
		e->position = 0;
		e->trades++;
	}
	e->t++;
	e->value = e->cash + e->shares * close[e->t];
	reward = before > 0 ? e->value / before - 1.0 : 0.0;

	e->ret_hist[e->ret_head] = reward;
	e->ret_head = (e->ret_head + 1) % ENV_HIST;
	if (e->n_ret < ENV_HIST)
		e->n_ret++;
	if (e->value > e->peak)
		e->peak = e->value;

	{
		double simple = reward;
		double dd = e->peak > 0 ? (e->peak - e->value) / e->peak : 0.0;

		reward = simple;
		if (e->n_ret >= ENV_HIST)
			reward -= p->vol_penalty * recent_std(e);
		if (dd > p->dd_threshold)
			reward -= p->dd_penalty * dd;
		if (e->prev_action >= 0 && a != e->prev_action)
			reward -= p->change_penalty;
	}
	e->prev_action = a;
	*ret_done = e->t >= e->end;
	return reward;
}
