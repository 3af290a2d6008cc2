/* Unit tests of the CPU LSTM (worker/lstm.h): forward and backward against
 * an independent double-precision implementation and its central finite
 * differences, Adam (adam.h) on the LSTM's parameters against the formula,
 * a small training run on a noisy sine that must cut the validation
 * loss by far, and the LSTM training job's validation loss and kept
 * parameters recomputed from its contract. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "lstm.h"
#include "lstm_job.h"
#include "adam.h"
#include "check.h"
#include "tiny_train_data.h"

/* ---- the double reference: plain loops, written from the equations ---- */

static double sig(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/* Outputs out[b*T + t] of the model with parameters p (our layout). */
static void ref_forward(const double *p, int F, int H, int L, int T, int B, const double *x,
			double *out)
{
	double *hs = calloc((size_t)T * H, sizeof(double));   /* one sequence, one layer */
	double *in = calloc((size_t)T * (F > H ? F : H), sizeof(double));
	double *h = calloc((size_t)H, sizeof(double)), *c = calloc((size_t)H, sizeof(double));
	double *z = calloc(4 * (size_t)H, sizeof(double));

	for (int b = 0; b < B; b++) {
		size_t off = 0;
		int nin = F;

		for (int t = 0; t < T; t++)
			for (int k = 0; k < F; k++)
				in[(size_t)t * F + k] = x[((size_t)b * T + t) * F + k];
		for (int l = 0; l < L; l++) {
			const double *Wih = p + off, *Whh = Wih + 4 * H * nin;
			const double *bih = Whh + 4 * H * H, *bhh = bih + 4 * H;

			memset(h, 0, (size_t)H * sizeof(double));
			memset(c, 0, (size_t)H * sizeof(double));
			for (int t = 0; t < T; t++) {
				for (int r = 0; r < 4 * H; r++) {
					double s = bih[r] + bhh[r];

					for (int k = 0; k < nin; k++)
						s += Wih[(size_t)r * nin + k] * in[(size_t)t * nin + k];
					for (int k = 0; k < H; k++)
						s += Whh[(size_t)r * H + k] * h[k];
					z[r] = s;
				}
				for (int j = 0; j < H; j++) {
					double i = sig(z[j]), f = sig(z[H + j]), g = tanh(z[2 * H + j]),
					       o = sig(z[3 * H + j]);

					c[j] = f * c[j] + i * g;
					h[j] = o * tanh(c[j]);
					hs[(size_t)t * H + j] = h[j];
				}
			}
			off += (size_t)4 * H * nin + (size_t)4 * H * H + 8 * (size_t)H;
			nin = H;
			memcpy(in, hs, (size_t)T * H * sizeof(double));
		}
		for (int t = 0; t < T; t++) {
			double s = p[off + H];

			for (int j = 0; j < H; j++)
				s += p[off + j] * hs[(size_t)t * H + j];
			out[(size_t)b * T + t] = s;
		}
	}
	free(hs);
	free(in);
	free(h);
	free(c);
	free(z);
}

static double ref_mse(const double *p, int F, int H, int L, int T, int B, const double *x,
		      const double *y)
{
	double *out = malloc((size_t)B * T * sizeof(double)), s = 0;

	ref_forward(p, F, H, L, T, B, x, out);
	for (int k = 0; k < B * T; k++)
		s += (out[k] - y[k]) * (out[k] - y[k]);
	free(out);
	return s / (B * T);
}

static void test_shape(void)
{
	/* 4H*in + 4H*H + 8H per layer, then H + 1. */
	CHECK(lstm_param_count(9, 64, 2) == (size_t)(256 * 9 + 256 * 64 + 512) +
	      (256 * 64 + 256 * 64 + 512) + 65, "param count %zu", lstm_param_count(9, 64, 2));
	CHECK(lstm_offset(3, 4, 2, 1) == 16 * 3 + 16 * 4 + 32, "offset");
}

static void test_against_reference(int F, int H, int L, int T, int B)
{
	Lstm m;
	LstmWork w;
	Rng rng;
	size_t n;
	float *x = malloc((size_t)B * T * F * sizeof(float));
	float *y = malloc((size_t)B * T * sizeof(float));
	double *xd = malloc((size_t)B * T * F * sizeof(double));
	double *yd = malloc((size_t)B * T * sizeof(double));
	double *outd = malloc((size_t)B * T * sizeof(double));
	double *pd, max_out = 0, max_rel = 0, loss_f, loss_d;
	const float *out;

	rng_seed(&rng, 1234 + (uint64_t)F * 7 + (uint64_t)L);
	CHECK(lstm_init(&m, F, H, L, &rng) == 0, "init");
	CHECK(lstm_work_init(&w, &m, B + 2, T) == 0, "work");
	n = m.n_params;
	/* Larger weights than the default init, so that gates saturate a bit
	 * and every derivative term matters. */
	for (size_t i = 0; i < n; i++)
		m.params[i] = (float)(rng_normal(&rng) * 0.5);
	for (int k = 0; k < B * T * F; k++)
		x[k] = (float)rng_normal(&rng);
	for (int k = 0; k < B * T; k++)
		y[k] = (float)rng_normal(&rng);
	pd = malloc(n * sizeof(double));
	for (size_t i = 0; i < n; i++)
		pd[i] = m.params[i];
	for (int k = 0; k < B * T * F; k++)
		xd[k] = x[k];
	for (int k = 0; k < B * T; k++)
		yd[k] = y[k];

	out = lstm_forward(&m, NULL, &w, x, B);
	ref_forward(pd, F, H, L, T, B, xd, outd);
	for (int k = 0; k < B * T; k++)
		max_out = fmax(max_out, fabs(out[k] - outd[k]));
	CHECK(max_out < 2e-5, "forward F%d H%d L%d: max |float - double| = %g", F, H, L, max_out);

	loss_f = lstm_mse(&m, &w, y, 1);
	loss_d = ref_mse(pd, F, H, L, T, B, xd, yd);
	CHECK(fabs(loss_f - loss_d) < 1e-5 * fmax(1.0, loss_d), "loss %g vs %g", loss_f, loss_d);

	/* Every parameter's gradient against central differences in double. */
	for (size_t i = 0; i < n; i++) {
		double save = pd[i], eps = 1e-5, num, err;

		pd[i] = save + eps;
		num = ref_mse(pd, F, H, L, T, B, xd, yd);
		pd[i] = save - eps;
		num -= ref_mse(pd, F, H, L, T, B, xd, yd);
		pd[i] = save;
		num /= 2 * eps;
		err = fabs(m.grads[i] - num) / fmax(1e-3, fabs(num));
		if (err > max_rel)
			max_rel = err;
		if (err > 1e-3) {
			CHECK(0, "grad[%zu] F%d H%d L%d: analytic %.9g, numeric %.9g", i, F, H, L,
			      m.grads[i], num);
			break;
		}
	}
	printf("# F%d H%d L%d T%d B%d: %zu params, forward err %.2e, max grad rel err %.2e\n",
	       F, H, L, T, B, n, max_out, max_rel);

	/* lstm_backward from an explicit dout gives the same grads as lstm_mse. */
	{
		float *g1 = malloc(n * sizeof(float)), *dout = malloc((size_t)B * T * sizeof(float));
		int same = 1;

		memcpy(g1, m.grads, n * sizeof(float));
		lstm_forward(&m, NULL, &w, x, B);
		for (int k = 0; k < B * T; k++)
			dout[k] = (float)(2.0 * (w.out[k] - y[k]) / (B * T));
		lstm_backward(&m, &w, dout);
		for (size_t i = 0; i < n; i++)
			same &= g1[i] == m.grads[i];
		CHECK(same, "lstm_backward(dout) differs from lstm_mse's backward");
		free(g1);
		free(dout);
	}
	/* A sequence alone gives the same outputs as inside the batch. */
	{
		float one[64];
		double d = 0;

		memcpy(one, lstm_forward(&m, NULL, &w, x + (size_t)(B - 1) * T * F, 1), (size_t)T * sizeof(float));
		lstm_forward(&m, NULL, &w, x, B);
		for (int t = 0; t < T; t++)
			d = fmax(d, fabs(one[t] - w.out[(size_t)(B - 1) * T + t]));
		CHECK(d < 1e-6, "batch row differs from the single sequence by %g", d);
	}
	lstm_work_free(&w);
	lstm_free(&m);
	free(x);
	free(y);
	free(xd);
	free(yd);
	free(outd);
	free(pd);
}

static void test_init(void)
{
	Lstm a, b;
	Rng r1, r2;
	double bound = 1.0 / sqrt(16.0), mn = 1, mx = -1, mean = 0;
	int same = 1;

	rng_seed(&r1, 99);
	rng_seed(&r2, 99);
	CHECK(lstm_init(&a, 5, 16, 2, &r1) == 0 && lstm_init(&b, 5, 16, 2, &r2) == 0, "init");
	for (size_t i = 0; i < a.n_params; i++) {
		same &= a.params[i] == b.params[i];
		mn = fmin(mn, a.params[i]);
		mx = fmax(mx, a.params[i]);
		mean += a.params[i];
	}
	mean /= (double)a.n_params;
	CHECK(same, "same seed, other weights");
	CHECK(mn >= -bound && mx <= bound, "init outside U(-1/sqrt(H), 1/sqrt(H)): [%g, %g]", mn, mx);
	CHECK(mn < -0.9 * bound && mx > 0.9 * bound && fabs(mean) < 0.02,
	      "init does not fill the interval: [%g, %g], mean %g", mn, mx, mean);
	CHECK(lstm_init(&b, 0, 16, 2, &r2) == -EINVAL, "bad shape accepted");
	lstm_free(&a);
	lstm_free(&b);
	lstm_free(NULL);
	lstm_work_free(NULL);
}

/* Adam of adam.h on the LSTM's parameters: the first two steps against the
 * bias-corrected formula computed here in double. */
static void test_adam(void)
{
	Lstm m;
	LstmWork w;
	Adam opt;
	Rng rng;
	float x[2 * 4 * 3], y[2 * 4];
	double *p0, *m1, *v1, maxerr = 0;
	const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8;

	rng_seed(&rng, 5);
	CHECK(lstm_init(&m, 3, 6, 2, &rng) == 0, "init");
	CHECK(lstm_work_init(&w, &m, 2, 4) == 0, "work");
	CHECK(adam_init(&opt, m.n_params, (float)lr, (float)b1, (float)b2, (float)eps) == 0, "adam");
	for (size_t k = 0; k < sizeof(x) / sizeof(x[0]); k++)
		x[k] = (float)rng_normal(&rng);
	for (size_t k = 0; k < sizeof(y) / sizeof(y[0]); k++)
		y[k] = (float)rng_normal(&rng);
	p0 = malloc(m.n_params * sizeof(double));
	m1 = calloc(m.n_params, sizeof(double));
	v1 = calloc(m.n_params, sizeof(double));
	for (int step = 1; step <= 2; step++) {
		for (size_t i = 0; i < m.n_params; i++)
			p0[i] = m.params[i];
		lstm_forward(&m, NULL, &w, x, 2);
		lstm_mse(&m, &w, y, 1);
		adam_step(&opt, m.params, m.grads);
		for (size_t i = 0; i < m.n_params; i++) {
			double g = m.grads[i], mh, vh, want;

			m1[i] = b1 * m1[i] + (1 - b1) * g;
			v1[i] = b2 * v1[i] + (1 - b2) * g * g;
			mh = m1[i] / (1 - pow(b1, step));
			vh = v1[i] / (1 - pow(b2, step));
			want = p0[i] - lr * mh / (sqrt(vh) + eps);
			maxerr = fmax(maxerr, fabs(want - m.params[i]));
		}
	}
	CHECK(opt.t == 2, "adam t %lld", (long long)opt.t);
	CHECK(maxerr < 1e-6, "Adam on LSTM params: max error %g", maxerr);
	free(p0);
	free(m1);
	free(v1);
	adam_free(&opt);
	lstm_work_free(&w);
	lstm_free(&m);
}

/* A noisy sine: windows of 20 steps, input the value, target the next
 * value. The validation loss (held-out windows at the end) must fall to a
 * small share of the untrained model's. */
static void test_training(void)
{
	enum { N = 600, T = 20, BATCH = 16, EPOCHS = 40 };
	Lstm m;
	LstmWork w;
	Adam opt;
	Rng rng;
	float series[N + 1];
	int n_win = N - T, n_val = n_win / 4, n_train = n_win - n_val;
	float *xb = malloc((size_t)BATCH * T * sizeof(float)), *yb = malloc((size_t)BATCH * T * sizeof(float));
	int *perm = malloc((size_t)n_train * sizeof(int));
	double val0 = 0, val = 0;

	rng_seed(&rng, 77);
	for (int i = 0; i <= N; i++)
		series[i] = (float)(sin(0.21 * i) + 0.5 * sin(0.05 * i + 1.0) + 0.05 * rng_normal(&rng));
	CHECK(lstm_init(&m, 1, 16, 2, &rng) == 0, "init");
	CHECK(lstm_work_init(&w, &m, BATCH, T) == 0, "work");
	CHECK(adam_init(&opt, m.n_params, 1e-2f, 0.9f, 0.999f, 1e-8f) == 0, "adam");

	for (int epoch = 0; epoch <= EPOCHS; epoch++) {
		double vsum = 0;
		int vcount = 0;

		/* Validation first: epoch 0 measures the untrained model. */
		for (int s = n_train; s < n_win; s += BATCH) {
			int nb = n_win - s < BATCH ? n_win - s : BATCH;

			for (int b = 0; b < nb; b++)
				for (int t = 0; t < T; t++) {
					xb[b * T + t] = series[s + b + t];
					yb[b * T + t] = series[s + b + t + 1];
				}
			lstm_forward(&m, NULL, &w, xb, nb);
			vsum += lstm_mse(&m, &w, yb, 0) * nb;
			vcount += nb;
		}
		val = vsum / vcount;
		if (epoch == 0)
			val0 = val;
		if (epoch == EPOCHS)
			break;
		for (int i = 0; i < n_train; i++)
			perm[i] = i;
		for (int i = n_train - 1; i > 0; i--) {
			int j = (int)rng_below(&rng, (uint64_t)i + 1), tmp = perm[i];

			perm[i] = perm[j];
			perm[j] = tmp;
		}
		for (int s = 0; s < n_train; s += BATCH) {
			int nb = n_train - s < BATCH ? n_train - s : BATCH;

			for (int b = 0; b < nb; b++)
				for (int t = 0; t < T; t++) {
					xb[b * T + t] = series[perm[s + b] + t];
					yb[b * T + t] = series[perm[s + b] + t + 1];
				}
			lstm_forward(&m, NULL, &w, xb, nb);
			lstm_mse(&m, &w, yb, 1);
			adam_step(&opt, m.params, m.grads);
		}
	}
	printf("# sine: validation MSE %.5f untrained -> %.5f after %d epochs\n", val0, val, EPOCHS);
	CHECK(val < 0.05 * val0, "validation loss only %g -> %g", val0, val);
	CHECK(val < 0.02, "validation MSE %g: the noise floor is 0.0025", val);
	free(xb);
	free(yb);
	free(perm);
	adam_free(&opt);
	lstm_work_free(&w);
	lstm_free(&m);
}

/* ---- lstm_job: the validation loss and the kept model, from the contract ---- */

/* The contract of lstm_job.h, written again here: chunk c's inputs
 * standardised with its own means and population deviations, windows
 * k = 0..N-1 (N = chunk_length - W) over chunk days k..k+W-1, the target
 * at each step 100 x the next day's return, the last max(1, N/4) windows
 * held out; the loss is the mean squared error over those windows and
 * their steps. norm_out gets the 2 x LSTM_JOB_INPUTS numbers. */
static double ref_job_val_loss(const TrainData *d, int c, int W, const float *params, int H,
			       int L, double *norm_out)
{
	enum { F = LSTM_JOB_INPUTS };
	int CL = d->chunk_length, s = c * CL, N = CL - W, n_val = N / 4 > 1 ? N / 4 : 1;
	size_t np = lstm_param_count(F, H, L);
	double *v = malloc((size_t)CL * F * sizeof(double)), *x, *y, *p, loss;

	x = malloc((size_t)n_val * W * F * sizeof(double));
	y = malloc((size_t)n_val * W * sizeof(double));
	p = malloc(np * sizeof(double));
	for (int i = 0; i < CL; i++) {
		int r = s + i;

		for (int k = 0; k < IND_FEATURES; k++)
			v[(size_t)i * F + k] = d->feat[(size_t)r * IND_FEATURES + k];
		v[(size_t)i * F + IND_FEATURES] = r > 0 ? d->close[r] / d->close[r - 1] - 1 : 0;
	}
	for (int k = 0; k < F; k++) {
		double m = 0, q = 0;

		for (int i = 0; i < CL; i++)
			m += v[(size_t)i * F + k];
		m /= CL;
		for (int i = 0; i < CL; i++)
			q += (v[(size_t)i * F + k] - m) * (v[(size_t)i * F + k] - m);
		q = sqrt(q / CL);
		norm_out[k] = m;
		norm_out[F + k] = q < 1e-6 ? 1 : q;
	}
	for (int b = 0; b < n_val; b++) {
		int k0 = N - n_val + b;

		for (int t = 0; t < W; t++) {
			int i = k0 + t;

			for (int k = 0; k < F; k++)
				x[((size_t)b * W + t) * F + k] =
					(v[(size_t)i * F + k] - norm_out[k]) / norm_out[F + k];
			y[(size_t)b * W + t] = 100 * (d->close[s + i + 1] / d->close[s + i] - 1);
		}
	}
	for (size_t i = 0; i < np; i++)
		p[i] = params[i];
	loss = ref_mse(p, F, H, L, W, n_val, x, y);
	free(v);
	free(x);
	free(y);
	free(p);
	return loss;
}

typedef struct JobSeen {
	int epochs;
	int chunk[64];
	double val[64], ref[64];   /* ref: < 0 when the chunk had just finished */
} JobSeen;

static int seen_epoch(void *ctx, LstmJob *j, double train_loss, double val_loss)
{
	JobSeen *s = ctx;
	double norm[2 * LSTM_JOB_INPUTS];
	int e = s->epochs++;

	(void)train_loss;
	if (e >= 64)
		return -ENOSPC;
	s->val[e] = val_loss;
	s->ref[e] = -1;
	s->chunk[e] = j->net_ready ? j->pos.chunk : j->pos.chunk - 1;
	/* The parameters of the epoch just validated are still in net unless
	 * the chunk ended (then only the kept ones survive, checked below). */
	if (j->net_ready)
		s->ref[e] = ref_job_val_loss(j->data, j->pos.chunk, j->window, j->net.params,
					     j->hidden, j->layers, norm);
	return 0;
}

static int close_rel(double a, double b, double tol)
{
	return fabs(a - b) <= tol * (fabs(b) > 1e-12 ? fabs(b) : 1e-12);
}

/* Every epoch's reported validation loss is the recomputed one, and each
 * chunk's model is the parameters of its lowest validation loss (with its
 * own norm), not the last epoch's. A high learning rate makes the loss go
 * up and down, so "best" and "last" differ in at least one chunk. */
static void test_job_validation(void)
{
	Config cfg;
	TrainData td;
	LstmJob j;
	JobSeen seen = { 0 };
	LstmHooks hooks = { .ctx = &seen, .epoch = seen_epoch };
	char err[512];
	int best_not_last = 0;

	tiny_train_data(&cfg, &td, "tiny.csv");
	CHECK(config_set(&cfg, "rewts.lstm_epochs=8", err, sizeof(err)) == 0, "%s", err);
	CHECK(config_set(&cfg, "rewts.lstm_learning_rate=0.05", err, sizeof(err)) == 0, "%s", err);
	CHECK(config_set(&cfg, "rewts.lstm_patience=0", err, sizeof(err)) == 0, "%s", err);
	CHECK(lstm_job_init(&j, &cfg, &td, err, sizeof(err)) == 0, "lstm_job_init: %s", err);
	CHECK(lstm_job_run(&j, &hooks) == 0, "lstm_job_run");
	CHECK(seen.epochs == td.n_chunks * 8, "%d epochs for %d chunks", seen.epochs, td.n_chunks);
	for (int e = 0; e < seen.epochs; e++)
		if (seen.ref[e] >= 0)
			CHECK(close_rel(seen.val[e], seen.ref[e], 1e-4),
			      "chunk %d epoch %d: reported validation loss %.9g, recomputed %.9g",
			      seen.chunk[e], e % 8 + 1, seen.val[e], seen.ref[e]);
	for (int c = 0; c < td.n_chunks; c++) {
		size_t np = lstm_param_count(LSTM_JOB_INPUTS, cfg.lstm_hidden, cfg.lstm_layers);
		const float *model = j.chunk_models[c];
		double norm[2 * LSTM_JOB_INPUTS], best = INFINITY, kept;
		int last = 0;

		CHECK(model != NULL, "chunk %d has no model", c);
		if (!model)
			continue;
		for (int e = 0; e < seen.epochs; e++)
			if (seen.chunk[e] == c) {
				best = seen.val[e] < best ? seen.val[e] : best;
				last = e;
			}
		kept = ref_job_val_loss(&td, c, cfg.lstm_window, model, cfg.lstm_hidden,
					cfg.lstm_layers, norm);
		CHECK(close_rel(kept, best, 1e-4),
		      "chunk %d: the kept model's validation loss is %.9g, the best epoch's %.9g", c,
		      kept, best);
		for (int k = 0; k < 2 * LSTM_JOB_INPUTS; k++)
			CHECK(close_rel(model[np + k], norm[k], 1e-5), "chunk %d norm[%d] %.9g, expected %.9g",
			      c, k, model[np + k], norm[k]);
		if (seen.val[last] > best)
			best_not_last = 1;
	}
	CHECK(best_not_last, "no chunk's last epoch was worse than its best: the test needs one");
	lstm_job_free(&j);
	train_data_free(&td);
}

int main(void)
{
	test_shape();
	test_init();
	test_against_reference(3, 4, 1, 5, 3);
	test_against_reference(3, 5, 2, 6, 4);
	test_against_reference(2, 3, 3, 4, 2);
	test_adam();
	test_training();
	test_job_validation();
	return check_done("lstm");
}
