/* Indicators and feature rows: definitions in indicators.h. */
#include "indicators.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

int ind_sma(const double *x, size_t n, size_t k, double *ret_out)
{
	size_t i, j;

	if (k == 0 || (n > 0 && (!x || !ret_out)))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		double s = 0.0;

		if (i + 1 < k) {
			ret_out[i] = NAN;
			continue;
		}
		for (j = i + 1 - k; j <= i; j++)
			s += x[j];
		ret_out[i] = s / (double)k;
	}
	return 0;
}

int ind_volatility(const double *x, size_t n, size_t window, double *ret_out)
{
	size_t i, t;

	if (window < 2 || (n > 0 && (!x || !ret_out)))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		double mean = 0.0, ss = 0.0;

		if (i < window) {
			ret_out[i] = NAN;
			continue;
		}
		/* Two passes (mean, then squared deviations) for accuracy. */
		for (t = i + 1 - window; t <= i; t++)
			mean += x[t] / x[t - 1] - 1.0;
		mean /= (double)window;
		for (t = i + 1 - window; t <= i; t++) {
			double d = (x[t] / x[t - 1] - 1.0) - mean;

			ss += d * d;
		}
		ret_out[i] = sqrt(ss / (double)(window - 1)) * sqrt(252.0);
	}
	return 0;
}

int ind_rsi(const double *x, size_t n, size_t window, double *ret_out)
{
	size_t i, t;

	if (window == 0 || (n > 0 && (!x || !ret_out)))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		double g = 0.0, l = 0.0;

		if (i < window) {
			ret_out[i] = NAN;
			continue;
		}
		for (t = i + 1 - window; t <= i; t++) {
			double d = x[t] - x[t - 1];

			if (d > 0)
				g += d;
			else if (d < 0)
				l -= d;
		}
		g /= (double)window;
		l /= (double)window;
		if (l == 0.0)
			ret_out[i] = g > 0.0 ? 100.0 : 50.0;
		else
			ret_out[i] = 100.0 - 100.0 / (1.0 + g / l);
	}
	return 0;
}

int ind_ema(const double *x, size_t n, size_t span, double *ret_out)
{
	double a, e;
	size_t i;

	if (span == 0 || (n > 0 && (!x || !ret_out)))
		return -EINVAL;
	if (n == 0)
		return 0;
	a = 2.0 / ((double)span + 1.0);
	e = x[0];
	ret_out[0] = e;
	for (i = 1; i < n; i++) {
		e = a * x[i] + (1.0 - a) * e;
		ret_out[i] = e;
	}
	return 0;
}

int ind_macd(const double *x, size_t n, double *ret_out)
{
	double *slow;
	size_t i;
	int ret;

	if (n > 0 && (!x || !ret_out))
		return -EINVAL;
	if (n == 0)
		return 0;
	slow = malloc(n * sizeof(*slow));
	if (!slow)
		return -ENOMEM;
	ret = ind_ema(x, n, 12, ret_out);
	if (ret < 0)
		goto out;
	ret = ind_ema(x, n, 26, slow);
	if (ret < 0)
		goto out;
	for (i = 0; i < n; i++)
		ret_out[i] -= slow[i];
out:
	free(slow);
	return ret;
}

double ind_sanitize(double v)
{
	if (isnan(v))
		return 0.0;
	if (isinf(v))
		return v > 0 ? 1.0 : -1.0;
	return v;
}

/* Sanitises, then stores as float; a value beyond float's range counts as
 * infinite (so it becomes +-1 like the users' float32 code would give). */
static float to_feat(double v)
{
	v = ind_sanitize(v);
	if (v > FLT_MAX)
		return 1.0f;
	if (v < -FLT_MAX)
		return -1.0f;
	return (float)v;
}

int indicators_compute(const PriceSeries *p, const double *tau,
		       float **ret_feat, size_t *ret_rows)
{
	enum { T_VOL, T_SMA20, T_SMA50, T_SMA200, T_RSI, T_MACD, T_N };
	double *tmp = NULL;
	float *feat = NULL;
	size_t n, rows, i;
	int ret;

	if (!p || !ret_feat || !ret_rows || p->n <= IND_WARMUP || !p->close)
		return -EINVAL;
	n = p->n;
	rows = n - IND_WARMUP;
	tmp = malloc((size_t)T_N * n * sizeof(*tmp));
	feat = malloc(rows * IND_FEATURES * sizeof(*feat));
	if (!tmp || !feat) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = ind_volatility(p->close, n, IND_VOL_WINDOW, tmp + T_VOL * n)) < 0 ||
	    (ret = ind_sma(p->close, n, 20, tmp + T_SMA20 * n)) < 0 ||
	    (ret = ind_sma(p->close, n, 50, tmp + T_SMA50 * n)) < 0 ||
	    (ret = ind_sma(p->close, n, 200, tmp + T_SMA200 * n)) < 0 ||
	    (ret = ind_rsi(p->close, n, IND_RSI_WINDOW, tmp + T_RSI * n)) < 0 ||
	    (ret = ind_macd(p->close, n, tmp + T_MACD * n)) < 0)
		goto out;
	for (i = IND_WARMUP; i < n; i++) {
		float *row = feat + (i - IND_WARMUP) * IND_FEATURES;
		double c = p->close[i];
		double v = p->volume ? p->volume[i] : NAN;

		row[IND_F_CLOSE] = to_feat(c / 100.0);
		row[IND_F_VOLUME] = isnan(v) ? 0.0f : to_feat(v / 1e6);
		row[IND_F_VOL] = to_feat(tmp[T_VOL * n + i] * 100.0);
		row[IND_F_SMA20] = to_feat(tmp[T_SMA20 * n + i] / c);
		row[IND_F_SMA50] = to_feat(tmp[T_SMA50 * n + i] / c);
		row[IND_F_SMA200] = to_feat(tmp[T_SMA200 * n + i] / c);
		row[IND_F_RSI] = to_feat(tmp[T_RSI * n + i] / 100.0);
		row[IND_F_MACD] = to_feat(tmp[T_MACD * n + i]);
		row[IND_F_TAU] = tau ? to_feat(tau[i]) : 0.0f;
	}
	*ret_feat = feat;
	*ret_rows = rows;
	feat = NULL;
	ret = 0;
out:
	free(tmp);
	free(feat);
	return ret;
}
