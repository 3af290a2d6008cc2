#include "env.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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
	e->prev_action = ENV_HOLD;
	e->cash = p->initial_balance;
	e->value = p->initial_balance;
	e->peak = 0;
}

void env_observe(const EnvState *e, const EnvParams *p, const float *feat, float *out)
{
	memcpy(out, feat + (size_t)e->t * IND_FEATURES, IND_FEATURES * sizeof(float));
	out[IND_FEATURES] = (float)(e->value / p->initial_balance);
	out[IND_FEATURES + 1] = (float)e->position;
}

/* Population standard deviation of the last 19 returns in the ring (the
 * returns of the steps before the current one). */
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
	double simple, reward;

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
	simple = before > 0 ? e->value / before - 1.0 : 0.0;

	/* n_ret past returns r_1..r_{t-1} (saturating at ENV_HIST); the
	 * past values are V_1..V_{t-1}, never V_0 (env.h). */
	reward = simple;
	if (e->n_ret >= ENV_HIST)
		reward -= p->vol_penalty * recent_std(e);
	if (e->n_ret >= 1 && e->peak > 0) {
		double dd = (e->peak - e->value) / e->peak;

		if (dd > p->dd_threshold)
			reward -= p->dd_penalty * dd;
	}
	if (a != e->prev_action)
		reward -= p->change_penalty;

	e->ret_hist[e->ret_head] = simple;
	e->ret_head = (e->ret_head + 1) % ENV_HIST;
	if (e->n_ret == 0 || e->value > e->peak)
		e->peak = e->value;
	if (e->n_ret < ENV_HIST)
		e->n_ret++;
	e->prev_action = a;
	*ret_done = e->t >= e->end;
	return reward;
}

void env_pack(Enc *e, const EnvState *s)
{
	enc_map(e, 12);
	enc_key(e, "t"); enc_int(e, s->t);
	enc_key(e, "end"); enc_int(e, s->end);
	enc_key(e, "position"); enc_int(e, s->position);
	enc_key(e, "prev_action"); enc_int(e, s->prev_action);
	enc_key(e, "n_ret"); enc_int(e, s->n_ret);
	enc_key(e, "ret_head"); enc_int(e, s->ret_head);
	enc_key(e, "trades"); enc_int(e, s->trades);
	enc_key(e, "cash"); enc_double(e, s->cash);
	enc_key(e, "shares"); enc_double(e, s->shares);
	enc_key(e, "value"); enc_double(e, s->value);
	enc_key(e, "peak"); enc_double(e, s->peak);
	enc_key(e, "ret_hist");
	enc_array(e, ENV_HIST);
	for (int i = 0; i < ENV_HIST; i++)
		enc_double(e, s->ret_hist[i]);
}

/* An int32 field of m in [lo, hi]. */
static int32_t int_in(const Dec *m, const char *key, int64_t lo, int64_t hi)
{
	int64_t v = dec_int(m, key);

	if (!dec_failed(m) && (v < lo || v > hi)) {
		char why[96];

		snprintf(why, sizeof(why), "out of range [%lld, %lld]", (long long)lo, (long long)hi);
		dec_invalid(m, key, why);
	}
	return (int32_t)v;
}

int env_unpack(const Dec *map, EnvState *s)
{
	Dec h;
	long n;

	memset(s, 0, sizeof(*s));
	if (dec_as_map(map) < 0)
		return -EINVAL;
	s->t = int_in(map, "t", 0, INT32_MAX);
	s->end = int_in(map, "end", s->t, INT32_MAX);
	s->position = int_in(map, "position", 0, 1);
	s->prev_action = int_in(map, "prev_action", 0, ENV_ACTIONS - 1);
	s->n_ret = int_in(map, "n_ret", 0, ENV_HIST);
	s->ret_head = int_in(map, "ret_head", 0, ENV_HIST - 1);
	s->trades = dec_int(map, "trades");
	s->cash = dec_double(map, "cash");
	s->shares = dec_double(map, "shares");
	s->value = dec_double(map, "value");
	s->peak = dec_double(map, "peak");
	h = dec_array(map, "ret_hist", &n);
	if (n >= 0 && n != ENV_HIST)
		dec_invalid(&h, NULL, "has the wrong length");
	for (int i = 0; i < ENV_HIST && n == ENV_HIST; i++) {
		Dec v = dec_at(&h, (size_t)i);

		s->ret_hist[i] = dec_as_double(&v);
	}
	return dec_failed(map) ? -EINVAL : 0;
}
