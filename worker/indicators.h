/* Technical indicators and the per-day feature rows of the agent's state,
 * exactly as defined in docs/training-job.md "Features" (the users' Python code),
 * so that results compare:
 *
 * - volatility[i] = sample standard deviation (n-1) of the 20 simple
 *   returns r[i-19..i], r[t] = close[t]/close[t-1] - 1, times sqrt(252).
 *   Defined from i = 20 (pandas pct_change().rolling(20).std()).
 * - SMA_k[i] = mean of close[i-k+1..i]; defined from i = k-1.
 * - RSI[i] = 100 - 100/(1 + G/L), G and L the plain means of the gains
 *   max(d,0) and losses max(-d,0) of the 14 differences d[t] =
 *   close[t]-close[t-1], t = i-13..i (not Wilder's smoothing); defined from
 *   i = 14. L = 0 and G > 0 gives 100; G = L = 0 (a flat window) is
 *   defined as 50 (pandas would give NaN, which their code turned into 0;
 *   50 = "neither up nor down" is what the value means).
 * - MACD[i] = EMA12[i] - EMA26[i], EMA_s[0] = close[0],
 *   EMA_s[t] = a*close[t] + (1-a)*EMA_s[t-1], a = 2/(s+1) (pandas
 *   ewm(span=s, adjust=False)); defined from i = 0.
 *
 * Warm-up: rows before SMA200 exists are DROPPED. The first feature row is
 * day IND_WARMUP (= 199, the first day with 200 closes); feature row r
 * belongs to price day r + IND_WARMUP.
 *
 * All computation is in double, each window summed afresh (no running
 * sums), so values do not drift over long series. Nothing here prints. */
#ifndef TV_INDICATORS_H
#define TV_INDICATORS_H

#include <stddef.h>

#include "csv.h"

/* Features per row, in this order:
 * close/100, volume/1e6, volatility*100, SMA20/close, SMA50/close,
 * SMA200/close, RSI/100, MACD, tau. (The environment appends portfolio
 * value and position to make the agent's 11 inputs.) */
#define IND_FEATURES 9
#define IND_WARMUP 199

enum {
	IND_F_CLOSE = 0,
	IND_F_VOLUME,
	IND_F_VOL,
	IND_F_SMA20,
	IND_F_SMA50,
	IND_F_SMA200,
	IND_F_RSI,
	IND_F_MACD,
	IND_F_TAU,
};

#define IND_VOL_WINDOW 20
#define IND_RSI_WINDOW 14

/* Primitives over x[0..n-1]; each writes n values to ret_out (caller
 * allocated), NaN where the indicator is not yet defined (see above).
 * Return 0, or -EINVAL for k == 0, NULL arrays with n > 0, or (volatility)
 * a window < 2. Inputs are not checked for finiteness: a NaN/inf in a
 * window gives a non-finite value there (indicators_compute sanitises). */
int ind_sma(const double *x, size_t n, size_t k, double *ret_out);
/* Sample std of the last `window` simple returns x sqrt(252); defined from
 * i = window. */
int ind_volatility(const double *x, size_t n, size_t window, double *ret_out);
/* Plain-mean RSI over `window` differences, on the 0..100 scale. */
int ind_rsi(const double *x, size_t n, size_t window, double *ret_out);
/* EMA with alpha = 2/(span+1) started at x[0]. */
int ind_ema(const double *x, size_t n, size_t span, double *ret_out);
/* EMA12 - EMA26. */
int ind_macd(const double *x, size_t n, double *ret_out);

/* Maps a feature value as the users' code does: NaN -> 0, +inf -> 1,
 * -inf -> -1, finite values unchanged. */
double ind_sanitize(double v);

/* Computes the feature rows for days IND_WARMUP .. p->n - 1.
 * tau: p->n strategy values (signals_align) or NULL for all zeros.
 * Missing volume (NaN, or no volume column) gives 0. Every value passes
 * through ind_sanitize, then is stored as float.
 * On success *ret_feat is a malloc'd ((p->n - IND_WARMUP) x IND_FEATURES)
 * row-major array the caller frees with free(), *ret_rows its row count.
 * Returns 0; -EINVAL when p->n <= IND_WARMUP (too short to have one row)
 * or p is NULL; -ENOMEM. */
int indicators_compute(const PriceSeries *p, const double *tau,
		       float **ret_feat, size_t *ret_rows);

#endif
