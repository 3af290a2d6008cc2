/* Behaviours a user relies on, asserted by value (issue 14): the backtest
 * metrics against numbers computed independently with numpy on a fixture,
 * test_days of a split that is not a whole number, the weights' refit
 * cadence, the epsilon schedule after k episodes and epsilon-greedy
 * itself, buffer_size == batch_size, and the LSTM's early
 * stopping (patience counted exactly, the best validation epoch's
 * parameters kept, not the last epoch's). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "backtest.h"
#include "common/config.h"
#include "common/rng.h"
#include "indicators.h"
#include "lstm_job.h"
#include "train.h"
#include "check.h"

#define NEAR(got, want) (fabs((got) - (want)) <= 1e-12 * (1 + fabs(want)))

/* A synthetic series of n days (features uniform, closes near 100: noise,
 * or a learnable wave plus noise) cut by train_data_init under cfg. */
static void synthetic_wave(TrainData *d, const Config *cfg, int n, uint64_t seed, int wave)
{
	float *feat = malloc((size_t)n * IND_FEATURES * sizeof(float));
	double *close = malloc((size_t)n * sizeof(double));
	int32_t *date = malloc((size_t)n * sizeof(int32_t));
	char err[512];
	Rng rng;

	rng_seed(&rng, seed);
	for (int i = 0; i < n; i++) {
		close[i] = wave ? 100 + 5 * sin(i / 3.0) + 0.5 * rng_uniform(&rng)
			     : 100 + 5 * rng_uniform(&rng);
		date[i] = 20000101 + i;
		for (int k = 0; k < IND_FEATURES; k++)
			feat[(size_t)i * IND_FEATURES + k] = (float)rng_uniform(&rng);
	}
	if (train_data_init(d, cfg, "synthetic.csv", feat, close, date, n, err, sizeof(err)) < 0) {
		printf("FAIL synthetic data: %s\n", err);
		exit(1);
	}
}

static void synthetic(TrainData *d, const Config *cfg, int n, uint64_t seed)
{
	synthetic_wave(d, cfg, n, seed, 0);
}

/* Expected values from numpy (python3, numpy 1.24):
 *   v = np.array([10000, 10100, 10100, 9999, 10200, 10200, 9800, 10300.5])
 *   r = v[1:] / v[:-1] - 1
 *   v[-1] / v[0] - 1                              -> 0.03004999999999991
 *   np.sqrt(252) * r.mean() / r.std(ddof=1)       -> 2.6161932864644544
 *   r.std(ddof=1) * np.sqrt(252)                  -> 0.4397530931212542
 *   peak = np.maximum.accumulate(v); ((peak - v) / peak).max() -> 0.0392156862745098
 *   (r > 0).mean()  (the two flat days are not wins) -> 0.42857142857142855
 *   c = [50, 51, 52, 53, 54, 55, 56, 57, 60, 58, 61.5]; c[-1] / c[8] - 1 -> 0.02499999999999991 */
static void metrics(void)
{
	double v[] = { 10000, 10100, 10100, 9999, 10200, 10200, 9800, 10300.5 };
	double c[] = { 50, 51, 52, 53, 54, 55, 56, 57, 60, 58, 61.5 };
	TrainData d = { .n_rows = 11, .test_start = 8, .close = c };
	Backtest bt = { .n_values = 8, .values = v };
	const Metrics *m = &bt.m;

	backtest_metrics(&bt, &d, 5);
	CHECK(NEAR(m->total_return, 0.03004999999999991), "total_return %.17g", m->total_return);
	CHECK(NEAR(m->sharpe, 2.6161932864644544), "sharpe %.17g", m->sharpe);
	CHECK(NEAR(m->volatility, 0.4397530931212542), "volatility %.17g", m->volatility);
	CHECK(NEAR(m->max_drawdown, 0.0392156862745098), "max_drawdown %.17g", m->max_drawdown);
	CHECK(NEAR(m->win_rate, 0.42857142857142855), "win_rate %.17g (a flat day is no win)",
	      m->win_rate);
	CHECK(NEAR(m->buy_hold_return, 0.02499999999999991), "buy_hold %.17g (from the first test day)",
	      m->buy_hold_return);
	CHECK(m->test_days == 7 && m->trades == 5, "test_days %lld trades %lld",
	      (long long)m->test_days, (long long)m->trades);

	/* The deepest drawdown, measured from its peak: 10% (100 -> 90), not
	 * the later 9.5% (100 -> 90.5), which is 10.5% of its trough.
	 *   v = np.array([100, 90, 100, 90.5]); peak = np.maximum.accumulate(v)
	 *   ((peak - v) / peak).max()                 -> 0.1 */
	double v2[] = { 100, 90, 100, 90.5 };
	Backtest bt2 = { .n_values = 4, .values = v2 };
	backtest_metrics(&bt2, &d, 0);
	CHECK(NEAR(bt2.m.max_drawdown, 0.1), "max_drawdown %.17g (the deepest from its peak)",
	      bt2.m.max_drawdown);
}

/* 333 usable days, test_fraction 0.3: 99.9 test days round to 100 (not
 * down to 99), so the test period starts at day 233 and has 99 daily
 * returns. */
static void split(void)
{
	Config cfg;
	TrainData d;

	config_defaults(&cfg);
	cfg.chunk_length = 100;
	synthetic(&d, &cfg, 333, 1);
	CHECK(d.test_start == 233 && d.train_rows == 233 && d.n_chunks == 2,
	      "split: test_start %d train_rows %d chunks %d", d.test_start, d.train_rows, d.n_chunks);
	CHECK(d.n_rows - 1 - d.test_start == 99, "test days %d", d.n_rows - 1 - d.test_start);
	train_data_free(&d);
}

/* The refit cadence of backtest_trade: the first refit is on the first
 * test day (its decision already uses fitted weights, not the uniform
 * start), then every fit_weights_every test days. Model 0 forecasts each
 * return exactly and model 1 its opposite, so every least-squares fit on
 * the simplex is w = (1, 0) with zero residual. */
typedef struct RefitSeen {
	int decisions, first_t;
	double first_w[2], worst;   /* worst: max |w - (1, 0)| over all decisions */
} RefitSeen;

static int refit_decide(void *ctx, const EnvState *env, const EnvParams *envp, int t,
			const double *w)
{
	RefitSeen *s = ctx;
	double dev = fabs(w[0] - 1) > fabs(w[1]) ? fabs(w[0] - 1) : fabs(w[1]);

	(void)env;
	(void)envp;
	if (s->decisions++ == 0) {
		s->first_t = t;
		s->first_w[0] = w[0];
		s->first_w[1] = w[1];
	}
	if (dev > s->worst)
		s->worst = dev;
	return ENV_HOLD;
}

static void refits(void)
{
	Config cfg;
	TrainData d;
	Backtest bt;
	RefitSeen seen = { 0 };
	int first, span, steps, N;
	double *fc;

	config_defaults(&cfg);
	cfg.chunk_length = 100;
	cfg.fit_weights_every = N = 20;
	synthetic(&d, &cfg, 333, 3);
	first = backtest_first_day(&cfg, &d);
	span = d.n_rows - first;
	steps = d.n_rows - 1 - d.test_start;
	fc = calloc(2 * (size_t)span, sizeof(double));
	for (int k = 0; k + first + 1 < d.n_rows; k++) {
		fc[k] = d.close[first + k + 1] / d.close[first + k] - 1;
		fc[span + k] = -fc[k];
	}
	CHECK(d.n_chunks == 2 && steps == 99, "fixture: %d chunks, %d test steps", d.n_chunks, steps);
	if (backtest_trade(&cfg, &d, fc, first, refit_decide, &seen, &bt) < 0) {
		CHECK_FAILED("backtest_trade");
		free(fc);
		train_data_free(&d);
		return;
	}
	CHECK(seen.decisions == steps && seen.first_t == d.test_start, "%d decisions, first on row %d",
	      seen.decisions, seen.first_t);
	CHECK(fabs(seen.first_w[0] - 1) < 1e-9 && fabs(seen.first_w[1]) < 1e-9,
	      "the first test day decided with w = (%g, %g), not the fitted (1, 0)", seen.first_w[0],
	      seen.first_w[1]);
	CHECK(seen.worst < 1e-9, "a decision used weights %g away from the fitted (1, 0)", seen.worst);
	CHECK(bt.n_fits == (steps + N - 1) / N, "%d refits for %d test days every %d", bt.n_fits, steps, N);
	for (int f = 0; f < bt.n_fits; f++)
		CHECK(bt.fit_date[f] == d.date[d.test_start + f * N], "refit %d dated %d, want %d (day %d)",
		      f, bt.fit_date[f], d.date[d.test_start + f * N], f * N);
	CHECK(bt.qp_fallbacks == 0, "%d refits fell back to uniform weights", bt.qp_fallbacks);
	backtest_free(&bt);
	free(fc);
	train_data_free(&d);
}

/* Epsilon-greedy: with probability epsilon a uniform random action, else
 * the greedy one. 3000 draws per epsilon, one probe state (fixed seeds: a
 * count outside the bounds below, about 4 standard deviations wide, is a
 * wrong rule, not chance). */
static void exploration(void)
{
	enum { DRAWS = 3000 };
	static const double eps[] = { 0, 0.25, 1 };
	Config cfg;
	Agent ag;
	Rng rng, init;
	float probe[ENV_STATE_DIM];
	int greedy;

	config_defaults(&cfg);
	rng_seed(&init, 5);
	if (agent_init(&ag, &cfg, &init) < 0) {
		CHECK_FAILED("agent_init");
		return;
	}
	for (int k = 0; k < ENV_STATE_DIM; k++)
		probe[k] = (float)rng_normal(&init);
	greedy = agent_act(&ag, &init, probe, 0);
	for (size_t e = 0; e < sizeof(eps) / sizeof(eps[0]); e++) {
		int count[ENV_ACTIONS] = { 0 }, off = 0;

		ag.epsilon = eps[e];
		rng_seed(&rng, 100 + e);
		for (int i = 0; i < DRAWS; i++) {
			int a = agent_act(&ag, &rng, probe, 1);

			count[a]++;
			off += a != greedy;
		}
		/* Not greedy: epsilon x 2/3 of the draws (a random pick can hit
		 * the greedy action); each action, at epsilon 1, a third. */
		double want = eps[e] * 2.0 / 3.0 * DRAWS, sd = sqrt(want * (1 - want / DRAWS));
		CHECK(fabs(off - want) <= 4 * sd + 0.5, "epsilon %g: %d of %d actions not greedy, want %.0f",
		      eps[e], off, DRAWS, want);
		if (eps[e] == 1)
			for (int a = 0; a < ENV_ACTIONS; a++)
				CHECK(fabs(count[a] - DRAWS / 3.0) <= 4 * sqrt(DRAWS * 2.0 / 9.0),
				      "epsilon 1: action %d drawn %d times of %d", a, count[a], DRAWS);
	}
	/* explore = 0 is greedy whatever epsilon says. */
	ag.epsilon = 1;
	for (int i = 0; i < 100; i++)
		if (agent_act(&ag, &rng, probe, 0) != greedy) {
			CHECK_FAILED("explore = 0 at epsilon 1 gave a non-greedy action");
			break;
		}
	agent_free(&ag);
}

/* Epsilon after k finished episodes is max(epsilon_min, start * decay^k). */
static int eps_k;
static double eps_seen[8];

static int eps_hook(void *ctx, Trainer *tr)
{
	(void)ctx;
	if (eps_k < 8)
		eps_seen[eps_k++] = tr->last_epsilon;
	return 0;
}

static void epsilon(void)
{
	Config cfg;
	TrainData d;
	Trainer tr;
	TrainHooks h = { .episode = eps_hook };
	char err[512];

	config_defaults(&cfg);
	cfg.chunk_length = 60;
	cfg.episodes_per_chunk = 5;
	cfg.hidden[0] = 4;
	cfg.n_hidden = 1;
	cfg.batch_size = 8;
	cfg.buffer_size = 8; /* == batch_size: allowed */
	cfg.epsilon_start = 0.8;
	cfg.epsilon_decay = 0.5;
	cfg.epsilon_min = 0.1;
	CHECK(config_validate(&cfg, err, sizeof(err)) == 0, "buffer_size == batch_size refused: %s", err);
	synthetic(&d, &cfg, 90, 2);
	if (trainer_init(&tr, &cfg, &d) < 0 || trainer_run(&tr, &h) != 0) {
		CHECK_FAILED("epsilon: training");
		return;
	}
	for (int k = 1; k <= 5; k++) {
		double want = fmax(0.1, 0.8 * pow(0.5, k));

		CHECK(eps_k >= k && NEAR(eps_seen[k - 1], want), "epsilon after %d episodes %.17g, want %.17g",
		      k, eps_k >= k ? eps_seen[k - 1] : -1, want);
	}
	trainer_free(&tr);
	train_data_free(&d);
}

/* Early stopping: the epoch hook sees every epoch's validation loss; a
 * copy of the parameters is taken after every epoch that did not finish
 * the chunk. The chunk must stop exactly lstm_patience epochs after its
 * best one, and its model must hold that epoch's parameters. */
typedef struct EarlyCtx {
	int epochs;
	double val[256];
	float *params[256];
	size_t n;
} EarlyCtx;

static int early_hook(void *vctx, LstmJob *j, double tl, double vl)
{
	EarlyCtx *c = vctx;

	(void)tl;
	if (c->epochs >= 256 || (j->pos.chunk > 1 || (j->pos.chunk == 1 && j->net_ready)))
		return 0;
	c->val[c->epochs] = vl;
	if (j->net_ready) {
		c->params[c->epochs] = malloc(j->n_params * sizeof(float));
		memcpy(c->params[c->epochs], j->net.params, j->n_params * sizeof(float));
	}
	c->n = j->n_params;
	c->epochs++;
	return j->pos.chunk >= 1 ? 1 : 0;
}

static void early_stopping(void)
{
	Config cfg;
	TrainData d;
	LstmJob j;
	LstmHooks h;
	EarlyCtx c;
	char err[512];
	int best = 0, r;

	memset(&c, 0, sizeof(c));
	config_defaults(&cfg);
	cfg.chunk_length = 120;
	cfg.lstm_hidden = 4;
	cfg.lstm_layers = 1;
	cfg.lstm_window = 10;
	cfg.lstm_epochs = 200;
	cfg.lstm_patience = 3;
	cfg.lstm_learning_rate = 0.03;
	cfg.batch_size = 16;
	synthetic_wave(&d, &cfg, 300, 3, 1);
	memset(&h, 0, sizeof(h));
	h.ctx = &c;
	h.epoch = early_hook;
	if (lstm_job_init(&j, &cfg, &d, err, sizeof(err)) < 0) {
		CHECK_FAILED("lstm init: %s", err);
		return;
	}
	r = lstm_job_run(&j, &h);
	CHECK(r == 1 && j.chunk_models[0], "lstm run %d", r);
	for (int e = 1; e < c.epochs; e++)
		if (c.val[e] < c.val[best])
			best = e;
	CHECK(c.epochs < 200, "patience never stopped chunk 0 (%d epochs)", c.epochs);
	printf("early stopping: chunk 0 best at epoch %d, stopped after epoch %d\n", best + 1,
	       c.epochs);
	CHECK(c.epochs == best + 1 + 3, "chunk 0 ran %d epochs, best epoch %d, patience 3", c.epochs,
	      best + 1);
	CHECK(c.params[best] && j.chunk_models[0] &&
	      memcmp(j.chunk_models[0], c.params[best], c.n * sizeof(float)) == 0,
	      "the chunk model is not epoch %d's parameters", best + 1);
	CHECK(c.epochs - 1 != best && c.params[c.epochs - 2] &&
	      memcmp(j.chunk_models[0], c.params[c.epochs - 2], c.n * sizeof(float)) != 0,
	      "the chunk model equals a later epoch's parameters");
	for (int e = 0; e < 256; e++)
		free(c.params[e]);
	lstm_job_free(&j);
	train_data_free(&d);
}

int main(void)
{
	metrics();
	split();
	refits();
	epsilon();
	exploration();
	early_stopping();
	return check_done("backtest");
}
